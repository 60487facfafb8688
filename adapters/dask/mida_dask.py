"""mida_dask - the provenance of a Dask workflow, with two added lines.

    from mida_dask import register
    register(client, workflow_name="hpo", campaign_id="cmp-1")

registers a scheduler plugin and a worker plugin on the client's cluster
(workers that join later get the worker plugin too).  From then on every
task is a task record (docs/records.md) sent to mida's integrator:

  scheduler plugin  SUBMITTED when a graph arrives (dependencies, the time),
                    ERROR when a task errs for good (exception text and
                    traceback; tasks not run because a dependency failed say
                    which), a "dask:retried" tag when a failed attempt is
                    retried, cancelled tasks; the workflow run itself
                    (RUNNING at registration, FINISHED when the scheduler
                    closes or Registration.close() is called)
  worker plugin     RUNNING when a task starts executing: the call's
                    arguments bound to the function's parameter names, the
                    values the worker passes after dependencies are
                    resolved; FINISHED with the result, start and end times
                    (the compute interval Dask measured, scheduler clock),
                    telemetry, worker address and host

Values go through mida_capture.to_json: JSON values as they are, others
summarised (type, repr, len, shape, dtype, digest), never pickled; absolute
paths and URIs become data references, which is how a Dask workflow that
reads files another workflow wrote is linked to it.

On Dask's own threads a plugin does a few dictionary reads and appends one
tuple to a queue; a daemon thread per process builds the records and hands
them to libmida (mida_capture.emit), whose emitter maps them to PROV-O and
sends them from its C thread.  Nothing here raises into Dask: what fails is
counted (stats()) and logged once (logger "mida.dask"), and the record goes
out with the fields that could be read.

What this module reads of distributed's internals is in _Internals, checked
at registration: an unsupported version is named in the error.

Settings, first found wins: register()'s arguments; Dask's configuration
(mida.workflow-name, mida.workflow-id, mida.campaign-id, mida.endpoint - in a
YAML file under ~/.config/dask/ or DASK_MIDA__WORKFLOW_NAME=...); the
environment (MIDA_WORKFLOW_NAME, MIDA_WORKFLOW_ID, MIDA_CAMPAIGN_ID,
MIDA_ENDPOINT, read where each plugin runs).  See adapters/dask/README.md.
"""

import collections
import functools
import getpass
import inspect
import logging
import os
import queue
import socket
import sys
import threading
import time
import uuid

try:
    import mida_capture
except ImportError:  # this repository's layout: adapters/python beside adapters/dask
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                    "python"))
    import mida_capture

__all__ = ["register", "Registration", "SchedulerPlugin", "WorkerPlugin", "UnsupportedVersion",
           "stats", "PLUGIN_NAME"]

log = logging.getLogger("mida.dask")

PLUGIN_NAME = "mida"
ADAPTER_ID = "mida-dask"
MAX_BACKLOG = 50000     # events queued; beyond, values are not recorded (counted)
TELEMETRY_REUSE_S = 0.01  # tasks within this interval share one telemetry sample
HOLD_S = 0.2           # a task's RUNNING record waits this long for its end (one record)
WORKER_CLOSE_MS = 2000  # a closing worker waits this long for acknowledgements


class UnsupportedVersion(RuntimeError):
    """distributed's internals are not the ones this module knows."""


# ---------------------------------------------------------------------------
# the one place that knows distributed's internals


class _Internals:
    """What the plugins read beyond the public plugin API, for distributed
    2022.6 to 2023.x (checked on 2022.12.1): worker.state.tasks (TaskState:
    run_spec, dependencies, startstops, nbytes, type, exception_text,
    traceback_text), worker.data (a dict or a SpillBuffer with .fast),
    worker.scheduler_delay, distributed.worker._deserialize and
    utils_comm.pack_data (what Worker.execute does to a run_spec), and the
    scheduler's tasks[key].exception_blame.  distributed 2024 turned run_spec
    into a Task object: refused here rather than misread."""

    LOW, HIGH = (2022, 6), (2024, 1)

    def __init__(self):
        import dask
        import distributed
        from dask.utils import key_split
        self.version = distributed.__version__
        self.dask_version = dask.__version__
        self.key_split = key_split
        problems = []
        try:
            parts = tuple(int(p) for p in self.version.split(".")[:2])
        except ValueError:
            parts = None
        if parts is None or not (self.LOW <= parts < self.HIGH):
            problems.append("version %s is outside %d.%d to %d.%d" % (
                self.version, *self.LOW, self.HIGH[0], self.HIGH[1] - 1))
        try:
            from distributed.worker import _deserialize, execute_task
            from distributed.utils_comm import pack_data
            from distributed.worker_state_machine import WorkerState
            from dask.core import istask
            self._deserialize, self._execute_task = _deserialize, execute_task
            self._pack_data, self._istask = pack_data, istask
            if "tasks" not in getattr(WorkerState, "__annotations__", {}):
                problems.append("WorkerState has no tasks")
        except ImportError as e:
            problems.append(str(e))
        self.problems = problems

    def check(self):
        if self.problems:
            raise UnsupportedVersion(
                "mida_dask supports distributed %d.%d to %d.%d (tested with 2022.12.1); this "
                "is distributed %s: %s" % (*self.LOW, self.HIGH[0], self.HIGH[1] - 1,
                                           self.version, "; ".join(self.problems)))

    # worker side -----------------------------------------------------------

    @staticmethod
    def worker_tasks(worker):
        return worker.state.tasks

    @staticmethod
    def worker_memory(worker):
        """The in-memory part of the worker's data (a spilled value is not
        read back from disk)."""
        data = worker.data
        return getattr(data, "fast", data)

    @staticmethod
    def clock_offset(worker):
        return getattr(worker, "scheduler_delay", 0) or 0

    @staticmethod
    def start_inputs(ts, memory, values):
        """At the start of a task: (run_spec, {dependency key: value in
        memory}, [dependency keys]); the first two None unless `values`.
        On the worker's event loop: attribute and dictionary reads only."""
        keys = []
        inputs = {} if values else None
        for dts in ts.dependencies:
            k = dts.key
            keys.append(k)
            if values and k in memory:
                inputs[k] = memory[k]
        return (ts.run_spec if values else None), inputs, keys

    def call(self, run_spec, data):
        """(function, args, kwargs) as Worker.execute passes them: the
        run_spec deserialised and dependency keys replaced by their values
        (taken from `data`, the inputs kept at the start).  A task given as
        a tuple (dask collections) is opened one level."""
        function, args, kwargs = self._deserialize(*run_spec)
        args = self._pack_data(args, data, key_types=(bytes, str))
        kwargs = self._pack_data(kwargs, data, key_types=(bytes, str))
        if function is self._execute_task and len(args) == 1 and self._istask(args[0]):
            task = args[0]
            function, args, kwargs = task[0], tuple(task[1:]), {}
        return function, args, kwargs

    @staticmethod
    def compute_interval(ts):
        """(start, stop) of the last compute in the task's startstops
        (scheduler clock), or None."""
        for ss in reversed(ts.startstops or ()):
            if ss.get("action") == "compute":
                return ss.get("start"), ss.get("stop")
        return None

    @staticmethod
    def error_text(ts):
        return getattr(ts, "exception_text", None), getattr(ts, "traceback_text", None)

    # scheduler side --------------------------------------------------------

    @staticmethod
    def blame(scheduler, key):
        """The key whose failure made `key` err, or None."""
        ts = scheduler.tasks.get(key)
        culprit = getattr(ts, "exception_blame", None) if ts is not None else None
        return getattr(culprit, "key", None)



@functools.lru_cache(maxsize=None)
def _internals():
    """The _Internals of this process (made once)."""
    return _Internals()


# ---------------------------------------------------------------------------
# the sending thread (one per process)


def _now():
    return time.time()


class _Sender:
    """Events from the plugins wait in a queue (appending is the only work
    on Dask's threads); a daemon thread takes them in batches, asks each
    plugin to turn its events into records and emits them."""

    def __init__(self):
        self.queue = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.thread = None
        self.pid = None
        self.stats = collections.Counter()
        self._telemetry = (0.0, None)

    def ensure(self):
        pid = os.getpid()
        if self.thread is not None and self.pid == pid and self.thread.is_alive():
            return
        with self.lock:
            if self.thread is not None and self.pid == pid and self.thread.is_alive():
                return
            if self.pid != pid:
                self.queue = queue.SimpleQueue()  # a fork's copy: its events are the parent's
            self.pid = pid
            self.thread = threading.Thread(target=self._run, name="mida-dask-sender", daemon=True)
            self.thread.start()

    def backlog(self):
        return self.queue.qsize()

    def put(self, event):
        self.queue.put(event)

    def drain(self, timeout=30.0):
        """Waits until every event queued before the call is emitted."""
        if self.thread is None or not self.thread.is_alive():
            return True
        done = threading.Event()
        self.queue.put((None, done))
        return done.wait(timeout)

    def telemetry(self):
        """A telemetry sample (dict), shared by the tasks of one
        TELEMETRY_REUSE_S interval."""
        t, sample = self._telemetry
        now = time.monotonic()
        if sample is None or now - t > TELEMETRY_REUSE_S:
            try:
                sample = mida_capture.sample_telemetry()
            except Exception:
                sample = None
                self.stats["telemetry_failed"] += 1
            self._telemetry = (now, sample)
        return sample

    def emit(self, record):
        if mida_capture.emit(record):
            self.stats["records_sent"] += 1
        else:
            self.stats["records_not_sent"] += 1

    def _run(self):
        holders = set()  # plugins holding records back (see WorkerPlugin._release)
        while True:
            try:
                batch = [self.queue.get(timeout=HOLD_S / 2 if holders else None)]
                while len(batch) < 4096:
                    batch.append(self.queue.get_nowait())
            except queue.Empty:
                pass
            by_owner = {}
            waiters = []
            for event in batch:
                if event[0] is None:
                    waiters.append(event[1])
                else:
                    by_owner.setdefault(event[0], []).append(event)
            for owner, events in by_owner.items():
                try:
                    owner._process(events, self)
                except Exception as e:  # a plugin bug must not stop the thread
                    self.stats["batches_failed"] += 1
                    _warn("process", "mida_dask: %d events not recorded: %r", len(events), e)
            for owner in holders | set(by_owner):
                release = getattr(owner, "_release", None)
                try:
                    if release is not None and release(self, bool(waiters)):
                        holders.add(owner)
                    else:
                        holders.discard(owner)
                except Exception as e:
                    holders.discard(owner)
                    _warn("release", "mida_dask: held records not sent: %r", e)
            for done in waiters:
                done.set()


_sender = _Sender()
_warned = set()


def _warn(key, message, *args):
    if key in _warned:
        log.debug(message, *args)
    else:
        _warned.add(key)
        log.warning(message, *args)


def _user():
    try:
        return getpass.getuser()
    except Exception:
        return None


def _error_text(exception_text, traceback_text):
    """The traceback then the exception (its repr: type and message), the
    last bytes the mapper keeps."""
    if traceback_text:
        traceback_text = "Traceback (most recent call last):\n" + traceback_text.rstrip("\n")
    text = "\n".join(t for t in (traceback_text, exception_text) if t).rstrip()
    return mida_capture._tail(text) or None


def _function_name(function):
    name = getattr(function, "__qualname__", None) or getattr(function, "__name__", None)
    if name is None:  # functools.partial and other callables
        inner = getattr(function, "func", None)
        return _function_name(inner) if inner is not None else type(function).__name__
    mod = getattr(function, "__module__", None)
    return "%s.%s" % (mod, name) if mod and mod != "builtins" else name


_signatures = {}


def _bind(function, args, kwargs):
    """The call's arguments by parameter name (mida_capture's rule: defaults
    applied, **kwargs spread, *args as a list); unnamed when the function
    has no signature."""
    try:
        sig = _signatures.get(function)
        if sig is None:
            sig = inspect.signature(function)
            if len(_signatures) < 4096:
                _signatures[function] = sig
    except (TypeError, ValueError):
        sig = None
    return mida_capture._bind(sig, args, kwargs)


# ---------------------------------------------------------------------------
# settings


def _setting(given, config_key, env_key):
    if given is not None:
        return str(given)
    try:
        import dask.config
        value = dask.config.get("mida." + config_key, None)
    except Exception:
        value = None
    if value is not None:
        return str(value)
    return os.environ.get(env_key) if env_key else None


class _Common:
    """What every record of a workflow run carries."""

    def __init__(self, workflow_id, workflow_name, campaign_id, endpoint, values, telemetry):
        self.workflow_id = workflow_id
        self.workflow_name = workflow_name
        self.campaign_id = campaign_id
        self.endpoint = endpoint
        self.values = values
        self.telemetry = telemetry

    def setup_process(self):
        """Per process: the emitter's endpoint, the sending thread, the
        constant fields."""
        if self.endpoint:
            opts = mida_capture._st.options
            if opts.get("endpoint") != self.endpoint:
                mida_capture.configure(endpoint=self.endpoint)
        _sender.ensure()
        internals = _internals()
        self._base = {
            "workflow_id": self.workflow_id,
            "workflow_name": self.workflow_name,
            "campaign_id": self.campaign_id,
            "engine": "dask",
            "engine_version": internals.version,
            "adapter_id": ADAPTER_ID,
            "user": _user(),
        }
        self._base = {k: v for k, v in self._base.items() if v is not None}
        self._hostname = socket.gethostname()
        return internals

    def record(self, key, **fields):
        rec = dict(self._base)
        rec["task_id"] = key
        rec.update(fields)
        return rec


# ---------------------------------------------------------------------------
# the scheduler plugin

try:
    from distributed.diagnostics.plugin import SchedulerPlugin as _DaskSchedulerPlugin
    from distributed.diagnostics.plugin import WorkerPlugin as _DaskWorkerPlugin
except ImportError:  # distributed missing: register() says so
    _DaskSchedulerPlugin = _DaskWorkerPlugin = object

_SUBMIT, _ERRED, _BLAMED, _RETRIED, _CANCELLED, _WORKFLOW = range(6)


class SchedulerPlugin(_DaskSchedulerPlugin):
    """Submissions, final errors, retries, cancellations and the workflow
    run itself, seen from the scheduler."""

    name = PLUGIN_NAME

    def __init__(self, common):
        self.common = common
        self.scheduler = None
        self.ended = set()  # keys that reached memory or erred, until forgotten
        self.interrupted = set()  # keys taken off a worker (failed attempt, lost worker)
        self.closed = False

    async def start(self, scheduler):
        try:
            self.scheduler = scheduler
            self.internals = self.common.setup_process()
            _sender.put((self, _WORKFLOW, _now(), "RUNNING"))
        except Exception as e:
            _warn("sched-start", "mida_dask: scheduler plugin not started: %r", e)

    def update_graph(self, scheduler, keys=None, restrictions=None, tasks=None,
                     dependencies=None, **kwargs):
        try:
            _sender.put((self, _SUBMIT, _now(), list(tasks if tasks is not None else keys or ()),
                         dependencies or {}))
        except Exception:
            _sender.stats["events_failed"] += 1

    def transition(self, key, start, finish, *args, **kwargs):
        try:
            if finish == "erred":
                if start == "processing":
                    _sender.put((self, _ERRED, key, _now(), kwargs.get("exception_text"),
                                 kwargs.get("traceback_text"), kwargs.get("worker")))
                else:
                    _sender.put((self, _BLAMED, key, _now(),
                                 self.internals.blame(self.scheduler, key)))
                self.ended.add(key)
            elif start == "processing":
                # a retry is processing > released > waiting (two calls)
                if finish == "memory":
                    self.ended.add(key)
                    self.interrupted.discard(key)
                elif finish in ("released", "waiting"):
                    self.interrupted.add(key)
            elif start == "released" and key in self.interrupted:
                if finish == "waiting":
                    self.interrupted.discard(key)
                    _sender.put((self, _RETRIED, key, _now()))
            if finish == "forgotten":
                self.interrupted.discard(key)
                if key in self.ended:
                    self.ended.discard(key)
                else:
                    _sender.put((self, _CANCELLED, key, _now(), start))
        except Exception:
            _sender.stats["events_failed"] += 1

    async def close(self):
        # the workers have closed: what they spooled is on this host's spool
        # directory, and this process's emitter takes it over before closing
        self.end_workflow("FINISHED")
        _sender.drain(30)
        mida_capture.close()

    def end_workflow(self, status):
        if not self.closed:
            self.closed = True
            _sender.put((self, _WORKFLOW, _now(), status))

    def _process(self, events, sender):
        """Runs on the sending thread."""
        common = self.common
        key_split = self.internals.key_split
        for ev in events:
            kind = ev[1]
            try:
                if kind == _SUBMIT:
                    _, _, t, keys, deps = ev
                    for key in keys:
                        k = str(key)
                        rec = common.record(k, activity_id=key_split(key), status="SUBMITTED",
                                            submitted_at=t)
                        d = deps.get(key)
                        if d:
                            rec["dependencies"] = [str(x) for x in d]
                        sender.emit(rec)
                elif kind == _ERRED:
                    _, _, key, t, exc, tb, worker = ev
                    # the times come from the worker's record (its own clock)
                    sender.emit(common.record(str(key), activity_id=key_split(key),
                                              status="erred", stderr=_error_text(exc, tb),
                                              environment_id=worker))
                elif kind == _BLAMED:
                    _, _, key, t, culprit = ev
                    why = "not run: its dependency %s failed" % culprit if culprit else \
                        "not run: a dependency failed"
                    sender.emit(common.record(str(key), activity_id=key_split(key),
                                              status="erred", stderr=why))
                elif kind == _RETRIED:
                    _, _, key, t = ev
                    sender.emit(common.record(str(key), activity_id=key_split(key),
                                              tags=["dask:retried"]))
                elif kind == _CANCELLED:
                    _, _, key, t, start = ev
                    sender.emit(common.record(str(key), activity_id=key_split(key),
                                              status="cancelled", ended_at=t,
                                              stderr="cancelled (forgotten while %s)" % start))
                elif kind == _WORKFLOW:
                    _, _, t, status = ev
                    rec = dict(common._base)
                    rec["status"] = status
                    rec["started_at" if status == "RUNNING" else "ended_at"] = t
                    rec["hostname"] = common._hostname
                    meta = {"scheduler": self.scheduler.address}
                    if status != "RUNNING":
                        meta["mida_dask"] = dict(sender.stats)
                    if meta:
                        rec["custom_metadata"] = meta
                    sender.emit(rec)
            except Exception as e:
                sender.stats["records_failed"] += 1
                _warn("sched-process", "mida_dask: a scheduler event not recorded: %r", e)


# ---------------------------------------------------------------------------
# the worker plugin

_START, _END, _ERROR, _LOST = range(4)


class WorkerPlugin(_DaskWorkerPlugin):
    """Each task's execution, seen from the worker that runs it."""

    name = PLUGIN_NAME

    def __init__(self, common):
        self.common = common
        self.worker = None
        self.ok = False

    def setup(self, worker):
        try:
            self.worker = worker
            internals = self.common.setup_process()
            self.internals = internals
            self.address = worker.address
            self.worker_name = str(worker.name)
            self.hostname = self.common._hostname
            self.tasks = internals.worker_tasks(worker)
            self.memory = internals.worker_memory(worker)
            self.function = {}  # key -> function name, from start to end
            self.held = {}      # key -> (event time, RUNNING record), see _process
            self.horizon = 0.0  # the time of the latest event taken
            self.values = self.common.values and not internals.problems
            if internals.problems:
                _warn("worker-version", "mida_dask: on worker %s: %s; arguments are not "
                      "recorded", self.address, "; ".join(internals.problems))
            self.ok = True
        except Exception as e:
            _warn("worker-setup", "mida_dask: worker plugin not set up: %r", e)

    def teardown(self, worker):
        # The nanny kills a worker that takes more than a few seconds to
        # close: what is not acknowledged within WORKER_CLOSE_MS is spooled
        # (and sent by the next emitter of this host, the scheduler's on a
        # LocalCluster).
        try:
            _sender.drain(WORKER_CLOSE_MS / 2000)
            mida_capture.close(min(WORKER_CLOSE_MS, mida_capture._close_timeout_ms()))
            if _sender.stats.get("records_not_sent") or _sender.stats.get("records_failed"):
                log.warning("mida_dask: worker %s: %s", self.address, dict(_sender.stats))
        except Exception as e:
            _warn("worker-teardown", "mida_dask: teardown: %r", e)

    def transition(self, key, start, finish, **kwargs):
        # On the worker's event loop: dictionary reads and one queue append.
        if not self.ok:
            return
        try:
            if finish == "executing":
                ts = self.tasks.get(key)
                if ts is None:
                    return
                values = self.values
                if values and _sender.queue.qsize() >= MAX_BACKLOG:
                    values = False
                    _sender.stats["values_skipped_backlog"] += 1
                spec, inputs, deps = self.internals.start_inputs(ts, self.memory, values)
                _sender.put((self, _START, key, _now(), spec, inputs, deps))
            elif start == "executing":
                ts = self.tasks.get(key)
                if finish == "memory":
                    value = None
                    if self.values and _sender.queue.qsize() < MAX_BACKLOG:
                        value = self.memory.get(key, _MISSING)
                    else:
                        value = _MISSING
                    _sender.put((self, _END, key, _now(), value,
                                 self.internals.compute_interval(ts) if ts is not None else None,
                                 getattr(ts, "nbytes", None), getattr(ts, "type", None)))
                elif finish == "error":
                    exc, tb = self.internals.error_text(ts) if ts is not None else (None, None)
                    _sender.put((self, _ERROR, key, _now(), exc, tb,
                                 self.internals.compute_interval(ts) if ts is not None else None))
                elif finish != "long-running":
                    _sender.put((self, _LOST, key, _now(), finish))
        except Exception:
            _sender.stats["events_failed"] += 1

    def _process(self, events, sender):
        """Runs on the sending thread.  A task's RUNNING record is held
        back HOLD_S: a task that ends by then is sent as one record (most
        of the cost of capture is per record: mapping, sending, applying)."""
        held = self.held
        if events:
            self.horizon = max(self.horizon, events[-1][3])
        for ev in events:
            kind, key = ev[1], ev[2]
            try:
                if kind == _START:
                    held[key] = (ev[3], self._start_record(ev, sender))
                elif kind == _END:
                    entry = held.pop(key, None)
                    rec = entry[1] if entry is not None else self.common.record(
                        str(key), activity_id=self.internals.key_split(key))
                    rec.update(self._end_record(ev, sender))
                    sender.emit(rec)
                elif kind == _ERROR:
                    entry = held.pop(key, None)
                    if entry is not None:
                        sender.emit(entry[1])
                    _, _, key, t, exc, tb, interval = ev
                    rec = self.common.record(str(key), activity_id=self.internals.key_split(key),
                                             hostname=self.hostname,
                                             environment_id=self.address,
                                             stderr=_error_text(exc, tb))
                    if interval:
                        rec["started_at"], rec["ended_at"] = self._local(*interval)
                    else:
                        rec["ended_at"] = t
                    if self.common.telemetry:
                        rec["telemetry_at_end"] = sender.telemetry()
                    self.function.pop(key, None)
                    sender.emit(rec)
                elif kind == _LOST:
                    entry = held.pop(key, None)
                    if entry is not None:
                        sender.emit(entry[1])
                    self.function.pop(key, None)
            except Exception as e:
                sender.stats["records_failed"] += 1
                _warn("worker-process", "mida_dask: task %s not recorded: %r", key, e)

    def _release(self, sender, everything):
        """Sends the RUNNING records of tasks started HOLD_S before the
        latest event taken (before now when none waits: a thread behind
        Dask does not split records), all of them when asked to drain; True
        while some are still held."""
        held = self.held
        if everything:
            due = list(held)
        else:
            horizon = self.horizon if sender.backlog() else _now()
            due = [k for k, (t, _) in held.items() if horizon - t >= HOLD_S]
        for key in due:
            sender.emit(held.pop(key)[1])
        return bool(held)

    def _local(self, start, stop):
        """A compute interval from Dask (shifted to the scheduler's clock by
        the worker's estimate of the offset, which is noisy: 0.25 s seen on
        one host) back to this host's clock, like every other time mida
        records."""
        offset = self.internals.clock_offset(self.worker)
        return (None if start is None else start - offset,
                None if stop is None else stop - offset)

    def _meta(self, key, extra=None):
        meta = {"worker": self.address, "worker_name": self.worker_name}
        fn = self.function.get(key)
        if fn:
            meta["function"] = fn
        if extra:
            meta.update(extra)
        return meta

    def _start_record(self, ev, sender):
        _, _, key, t, spec, inputs, deps = ev
        internals = self.internals
        rec = self.common.record(str(key), activity_id=internals.key_split(key),
                                 status="executing", hostname=self.hostname,
                                 environment_id=self.address, started_at=t)
        if deps:
            rec["dependencies"] = [str(d) for d in deps]
        if spec is not None:
            try:
                function, args, kwargs = internals.call(spec, inputs or {})
                self.function[key] = _function_name(function)
                rec["used"] = dict(_bind(function, args, kwargs))
            except Exception as e:
                sender.stats["used_failed"] += 1
                _warn("used", "mida_dask: arguments of %s not recorded: %r", key, e)
        if self.common.telemetry:
            rec["telemetry_at_start"] = sender.telemetry()
        rec["custom_metadata"] = self._meta(key)
        return rec

    def _end_record(self, ev, sender):
        _, _, key, t, value, interval, nbytes, typename = ev
        rec = {"status": "memory", "hostname": self.hostname, "environment_id": self.address,
               "ended_at": t}
        if interval:
            rec["started_at"], rec["ended_at"] = self._local(*interval)
        if value is not _MISSING:
            rec["generated"] = {"return": value}
        if self.common.telemetry:
            rec["telemetry_at_end"] = sender.telemetry()
        extra = {}
        if nbytes is not None:
            extra["nbytes"] = nbytes
        if typename is not None:
            extra["type"] = str(typename)
        rec["custom_metadata"] = self._meta(key, extra)
        self.function.pop(key, None)
        return rec


_MISSING = object()


# ---------------------------------------------------------------------------
# registration


class Registration:
    """What register() did: the ids the records carry, and a way to end the
    workflow run before the cluster closes."""

    def __init__(self, client, common):
        self.client = client
        self.workflow_id = common.workflow_id
        self.workflow_name = common.workflow_name
        self.campaign_id = common.campaign_id

    def close(self, status="FINISHED", timeout=10.0):
        """Marks the workflow run ended (FINISHED or ERROR) and waits until
        every process has handed its records to its emitter and the
        emitters have had them acknowledged (`timeout` seconds at most per
        process; the workers wait together).  Returns stats().  The plugins
        stay: tasks run later are still recorded."""
        try:
            self.client.run_on_scheduler(_end_on_scheduler, status)
        except Exception as e:
            _warn("close", "mida_dask: workflow end not recorded: %r", e)
        return stats(self.client, timeout)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close("FINISHED" if exc is None else "ERROR")
        return False


def _flush_here(timeout=10.0):
    _sender.drain(timeout)
    mida_capture.flush(int(timeout * 1000))
    return dict(_sender.stats)


def _end_on_scheduler(status, dask_scheduler=None):
    plugin = dask_scheduler.plugins.get(PLUGIN_NAME)
    if isinstance(plugin, SchedulerPlugin):
        plugin.end_workflow(status)


def stats(client, timeout=10.0):
    """{"scheduler": counters, "<worker address>": counters}: records sent,
    not sent (buffers full, capture off), fields that could not be read.
    Drains each process's queue first, so the counts are complete for the
    tasks run so far."""
    out = {}
    try:
        out.update(client.run(_flush_here, timeout))
        out["scheduler"] = client.run_on_scheduler(_flush_here, timeout)
    except Exception as e:
        _warn("stats", "mida_dask: stats not read: %r", e)
    return out


def register(client, workflow_name=None, campaign_id=None, workflow_id=None, endpoint=None,
             values=True, telemetry=True, strict=False):
    """Records every task the client's cluster runs from now on.

    workflow_name, campaign_id, workflow_id: the workflow run's ids (see the
    module's docstring for defaults); workflow_id defaults to
    "<workflow_name>-<12 hex digits>", new at each call.  endpoint: the
    integrator (else MIDA_ENDPOINT where each plugin runs, else
    tcp://127.0.0.1:7879).  values=False records no argument or result
    values (lifecycle, times, dependencies only); telemetry=False takes no
    telemetry samples.

    Returns a Registration (its workflow_id names the run in the store).  A
    distributed version whose internals differ from the known ones is named
    in an error: logged, and None returned, or UnsupportedVersion raised
    when strict=True.  Registering again replaces the plugins (one workflow
    run at a time per cluster).
    """
    try:
        internals = _internals()
        internals.check()
    except (UnsupportedVersion, ImportError) as e:
        if strict:
            raise UnsupportedVersion(str(e)) from e
        log.error("mida_dask: not registered: %s", e)
        return None
    name = _setting(workflow_name, "workflow-name", "MIDA_WORKFLOW_NAME") or "dask"
    wid = _setting(workflow_id, "workflow-id", "MIDA_WORKFLOW_ID") or \
        "%s-%s" % (name, uuid.uuid4().hex[:12])
    common = _Common(wid, name, _setting(campaign_id, "campaign-id", "MIDA_CAMPAIGN_ID"),
                     _setting(endpoint, "endpoint", None), bool(values),
                     bool(telemetry))
    # the scheduler first: its SUBMITTED records come before workers start
    client.register_scheduler_plugin(SchedulerPlugin(common), name=PLUGIN_NAME)
    client.register_worker_plugin(WorkerPlugin(common), name=PLUGIN_NAME)
    log.info("mida_dask: recording workflow run %s (campaign %s)", wid, common.campaign_id)
    return Registration(client, common)
