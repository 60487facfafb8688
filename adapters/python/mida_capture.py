"""mida_capture - record the provenance of Python functions with mida.

A decorator and two context managers over libmida's capture API (the C
functions mida_task_begin / _used / _generated / _end, see
src/mida_capture.h and docs/capture.md), called through ctypes.  Python
only turns values into JSON text; the C side builds the task records, takes
the telemetry, maps the records to PROV-O and sends them to the integrator
(`mida serve`) from a background thread.

    from mida_capture import capture, task, workflow

    @capture(workflow_id="hpo-07", outputs=["model", "loss"])
    def train(dataset, lr=0.01):
        ...
        return "/models/m.pt", 0.137

    with task(activity_id="evaluate") as t:
        t.used("model", "/models/m.pt")
        t.generated("accuracy", 0.91)

Nothing here raises into the program it observes: when libmida cannot be
loaded or a call fails, a warning is logged (logger "mida.capture") and the
program goes on; only the program's own exceptions propagate, after being
recorded.

Environment:
  MIDA_LIB               path of libmida.so (else build/libmida.so of this
                         repository, else the system's libmida)
  MIDA_ENDPOINT          the integrator (default tcp://127.0.0.1:7879);
                         MIDA_SPOOL_DIR, MIDA_CURVE_*, MIDA_LOG_LEVEL are read
                         by the emitter itself
  MIDA_CLOSE_TIMEOUT_MS  how long the exit waits for acknowledgements
                         (default 10000); what is left is spooled
  MIDA_CAPTURE_FILE      append the records to this file (JSON lines, for
                         `mida ingest`) instead of sending them
  MIDA_CAPTURE           "off" or "0": capture nothing
  MIDA_WORKFLOW_ID, MIDA_WORKFLOW_NAME, MIDA_CAMPAIGN_ID
                         defaults for tasks outside a workflow() block

Standard library only (Python 3.8+).
"""

import atexit
import contextvars
import ctypes
import ctypes.util
import datetime
import functools
import hashlib
import inspect
import json
import logging
import os
import platform
import reprlib
import sys
import threading
import traceback
import uuid

__all__ = [
    "capture",
    "task",
    "workflow",
    "Task",
    "Workflow",
    "configure",
    "flush",
    "close",
    "sample_telemetry",
    "available",
    "emit",
    "to_json",
]

log = logging.getLogger("mida.capture")

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(os.path.dirname(_HERE))

MAX_VALUE_BYTES = 64 * 1024  # JSON text per value; larger values are summarised
MAX_REPR = 256               # characters of repr() in a summary
MAX_STDERR = 4096            # bytes of traceback kept (what the mapper keeps)
MAX_LIST_ITEMS = 256         # array-likes (numpy) up to this size are kept whole
MAX_DIGEST_BYTES = 64 << 20  # buffers (bytes, numpy arrays) up to this size get a digest

_FINAL = {"FINISHED", "ERROR"}


class _EmitterOpts(ctypes.Structure):
    """mida_emitter_opts_t of src/mida_emitter.h, field for field."""

    _fields_ = [
        ("endpoint", ctypes.c_char_p),
        ("batch_records", ctypes.c_size_t),
        ("batch_age_ms", ctypes.c_uint),
        ("max_buffered_bytes", ctypes.c_size_t),
        ("block_ms", ctypes.c_uint),
        ("ack_timeout_ms", ctypes.c_uint),
        ("spool_after_ms", ctypes.c_uint),
        ("spool_dir", ctypes.c_char_p),
        ("no_deflate", ctypes.c_bool),
        ("max_payload", ctypes.c_size_t),
        ("curve_server_key", ctypes.c_char_p),
        ("curve_public_key", ctypes.c_char_p),
        ("curve_secret_key", ctypes.c_char_p),
    ]


_EMITTER_OPTS = {name for name, _ in _EmitterOpts._fields_}

# ---------------------------------------------------------------------------
# process-wide state: the library and one emitter per process


class _State:
    def __init__(self):
        self.lock = threading.RLock()
        self.lib = None
        self.libc = None
        self.lib_tried = False
        self.em = None          # c_void_p of this process's emitter
        self.em_pid = None
        self.em_failed_pid = None
        self.options = {}       # configure(): emitter options and more
        self.file_fd = None
        self.file_pid = None
        self.warned = set()
        self.default_workflow = None
        self.has_emitter = False


_st = _State()


def _after_fork_in_child():
    # the lock may have been held by another thread of the parent
    _st.lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _warn(key, message, *args):
    """Logs a warning the first time `key` is seen, later ones at debug."""
    if key in _st.warned:
        log.debug(message, *args)
    else:
        _st.warned.add(key)
        log.warning(message, *args)


def _b(text):
    return None if text is None else str(text).encode("utf-8", "surrogateescape")


def _enabled():
    return os.environ.get("MIDA_CAPTURE", "").lower() not in ("off", "0", "no", "false")


def _library_path():
    path = _st.options.get("library") or os.environ.get("MIDA_LIB")
    if path:
        return path
    built = os.path.join(_REPO, "build", "libmida.so")
    if os.path.exists(built):
        return built
    return ctypes.util.find_library("mida")


def _declare(lib):
    c = ctypes
    vp, cp, sz, i = c.c_void_p, c.c_char_p, c.c_size_t, c.c_int
    protos = {
        "mida_task_begin": (vp, [vp, cp, cp, cp, cp, cp, sz]),
        "mida_task_set": (i, [vp, cp, cp]),
        "mida_task_used": (i, [vp, cp, cp]),
        "mida_task_generated": (i, [vp, cp, cp]),
        "mida_task_send": (i, [vp]),
        "mida_task_record": (i, [vp, cp, cp, c.POINTER(vp)]),
        "mida_task_end": (i, [c.POINTER(vp), cp, cp]),
        "mida_capture_destroy": (None, [c.POINTER(vp)]),
        "mida_capture_errmsg": (cp, [vp]),
        "mida_strerror": (cp, [i]),
        "mida_telemetry_sample": (i, [c.POINTER(vp)]),
    }
    optional = {
        "mida_emitter_new": (vp, [vp, c.POINTER(_EmitterOpts), cp, sz]),
        "mida_emitter_send": (i, [vp, cp, sz]),
        "mida_emitter_flush": (i, [vp, c.c_uint]),
        "mida_emitter_close": (i, [c.POINTER(vp), c.c_uint]),
    }
    missing = []
    for table, required in ((protos, True), (optional, False)):
        for name, (res, args) in table.items():
            try:
                fn = getattr(lib, name)
            except AttributeError:
                if required:
                    raise
                missing.append(name)
                continue
            fn.restype = res
            fn.argtypes = args
    return not missing  # has the emitter


def _lib():
    """libmida, loaded on first use; None (warned once) when unavailable."""
    if _st.lib is not None or _st.lib_tried:
        return _st.lib
    with _st.lock:
        if _st.lib is not None or _st.lib_tried:
            return _st.lib
        _st.lib_tried = True
        path = _library_path()
        if not path:
            _warn("lib", "mida_capture: libmida not found (set MIDA_LIB); nothing is captured")
            return None
        try:
            lib = ctypes.CDLL(path)
            _st.has_emitter = _declare(lib)
            libc = ctypes.CDLL(None)
            libc.free.restype = None
            libc.free.argtypes = [ctypes.c_void_p]
        except (OSError, AttributeError) as e:
            _warn("lib", "mida_capture: cannot use %s: %s; nothing is captured", path, e)
            return None
        _st.libc = libc
        _st.lib = lib
        return lib


def available():
    """True when libmida is loaded and capture is on."""
    return _enabled() and _lib() is not None


def _strerror(rc):
    lib = _st.lib
    return lib.mida_strerror(rc).decode() if lib else str(rc)


def _take_string(ptr):
    """A malloc'd C string as str, freed."""
    if not ptr.value:
        return None
    try:
        return ctypes.string_at(ptr.value).decode("utf-8")
    finally:
        _st.libc.free(ptr)


def configure(**options):
    """Sets options before (or between) captures.

    Emitter options, as in mida_emitter_opts_t: endpoint, spool_dir,
    batch_records, batch_age_ms, max_buffered_bytes, block_ms, ack_timeout_ms,
    spool_after_ms, no_deflate, max_payload, curve_server_key,
    curve_public_key, curve_secret_key.  Others: close_timeout_ms,
    record_file (write JSON lines instead of sending), library (path of
    libmida.so; only before the first capture).  An emitter already running
    is closed (its records flushed) and the next capture starts a new one.
    Unknown options are ignored with a warning (nothing here raises).
    """
    with _st.lock:
        unknown = set(options) - _EMITTER_OPTS - {"close_timeout_ms", "record_file", "library"}
        if unknown:
            log.warning("mida_capture.configure: unknown option(s) ignored: %s",
                        ", ".join(sorted(unknown)))
        _st.options.update({k: v for k, v in options.items() if k not in unknown})
        if _st.em is not None and _st.em_pid == os.getpid():
            close()
        _st.em_failed_pid = None


def _record_file():
    return _st.options.get("record_file") or os.environ.get("MIDA_CAPTURE_FILE")


def _close_timeout_ms():
    value = _st.options.get("close_timeout_ms")
    if value is None:
        try:
            value = int(os.environ.get("MIDA_CLOSE_TIMEOUT_MS", "10000"))
        except ValueError:
            value = 10000
    return max(0, int(value))


def _emitter():
    """This process's emitter (c_void_p), created on first use; None when it
    cannot be made (warned).  A child made by fork() does not own its
    parent's emitter (the sending thread did not follow): it makes its own."""
    pid = os.getpid()
    with _st.lock:
        if _st.em is not None and _st.em_pid == pid:
            return _st.em
        if _st.em_failed_pid == pid:
            return None
        lib = _lib()
        if lib is None:
            return None
        if not _st.has_emitter:
            _warn("emitter-missing", "mida_capture: this libmida has no emitter; nothing is sent")
            _st.em_failed_pid = pid
            return None
        opts = _EmitterOpts()
        keep = []  # the bytes objects must outlive the call
        for name, _ in _EmitterOpts._fields_:
            value = _st.options.get(name)
            if value is None and name == "endpoint":
                value = os.environ.get("MIDA_ENDPOINT") or None
            if value is None:
                continue
            if isinstance(value, str):
                value = _b(value)
                keep.append(value)
            setattr(opts, name, value)
        err = ctypes.create_string_buffer(512)
        em = lib.mida_emitter_new(None, ctypes.byref(opts), err, len(err))
        if not em:
            _warn("emitter", "mida_capture: no emitter: %s; nothing is sent",
                  err.value.decode("utf-8", "replace"))
            _st.em_failed_pid = pid
            return None
        _st.em = ctypes.c_void_p(em)
        _st.em_pid = pid
        return _st.em


def flush(timeout_ms=10000):
    """Waits until what was captured so far is acknowledged, at most
    timeout_ms.  True when everything was."""
    with _st.lock:
        em = _st.em if _st.em_pid == os.getpid() else None
        if em is None:
            return True
        return _st.lib.mida_emitter_flush(em, int(timeout_ms)) == 0


def close(timeout_ms=None):
    """Flushes and closes this process's emitter (done at exit).  Records
    not acknowledged within the timeout are spooled, and sent by the next
    emitter that uses the same spool directory.  True when all were
    acknowledged."""
    with _st.lock:
        if _st.em is None or _st.em_pid != os.getpid():
            _st.em = None
            return True
        if timeout_ms is None:
            timeout_ms = _close_timeout_ms()
        em = _st.em
        _st.em = None
        rc = _st.lib.mida_emitter_close(ctypes.byref(em), int(timeout_ms))
        if rc == -12:  # MIDA_EAGAIN: spooled, and the emitter said where
            log.info("mida_capture: records not acknowledged within %d ms were spooled",
                     timeout_ms)
        elif rc:
            _warn("close", "mida_capture: closing the emitter: %s", _strerror(rc))
        return rc == 0


def _at_exit():
    try:
        close()
    except Exception as e:  # pragma: no cover - interpreter shutting down
        log.debug("mida_capture: at exit: %s", e)


atexit.register(_at_exit)


def _write_record(path, line):
    pid = os.getpid()
    with _st.lock:
        if _st.file_fd is None or _st.file_pid != pid:
            _st.file_fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            _st.file_pid = pid
        # one write per line: O_APPEND keeps lines of concurrent writers whole
        os.write(_st.file_fd, (line + "\n").encode("utf-8"))


def sample_telemetry():
    """A telemetry sample (dict with the keys of docs/records.md
    "Telemetry"), or None when libmida is unavailable."""
    lib = _lib()
    if lib is None:
        return None
    out = ctypes.c_void_p()
    if lib.mida_telemetry_sample(ctypes.byref(out)):
        return None
    return json.loads(_take_string(out))


# ---------------------------------------------------------------------------
# values


_repr = reprlib.Repr()
_repr.maxstring = MAX_REPR
_repr.maxother = MAX_REPR
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 16


def _type_name(value):
    t = type(value)
    mod = getattr(t, "__module__", "builtins")
    return t.__qualname__ if mod == "builtins" else "%s.%s" % (mod, t.__qualname__)


def _summary(value, json_text=None):
    """What is recorded for a value that is not JSON (or, given its JSON
    text, one too large): type, repr, len, shape, dtype, a digest."""
    json_bytes = None if json_text is None else len(json_text)
    out = {"type": _type_name(value)}
    try:
        text = _repr.repr(value)
    except Exception:  # a broken __repr__ is not our business
        text = "<unrepresentable>"
    out["repr"] = text[:MAX_REPR]
    try:
        out["len"] = len(value)
    except Exception:
        pass
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) and all(isinstance(n, int) for n in shape):
        out["shape"] = list(shape)
    dtype = getattr(value, "dtype", None)
    if dtype is not None and not callable(dtype):
        out["dtype"] = str(dtype)
    if json_bytes is not None:
        out["json_bytes"] = json_bytes
    digest = _digest(value, json_text)
    if digest:
        out["digest"] = digest
    return out


def _digest(value, json_text=None):
    """"sha256:<hex>" of a value's bytes: its buffer (bytes, numpy arrays:
    the data as laid out in memory, up to MAX_DIGEST_BYTES), else the JSON
    text it was summarised from; None when neither is at hand."""
    try:
        if isinstance(value, str):
            data = value.encode("utf-8", "surrogateescape")
        else:
            data = memoryview(value)
            if not data.c_contiguous:
                return None
            data = data.cast("B")
        if len(data) <= MAX_DIGEST_BYTES:
            return "sha256:" + hashlib.sha256(data).hexdigest()
        return None
    except (TypeError, ValueError, BufferError):
        pass
    if json_text is not None:
        return "sha256:" + hashlib.sha256(json_text.encode("utf-8", "surrogateescape")).hexdigest()
    return None


def _default(o):
    """json.dumps hook for what JSON has no type for."""
    if isinstance(o, os.PathLike):
        path = os.fspath(o)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        return os.path.abspath(path)  # a path is a data reference; relative ones link nothing
    if isinstance(o, (set, frozenset)):
        try:
            return sorted(o)
        except TypeError:
            return list(o)
    if isinstance(o, (datetime.datetime, datetime.date, datetime.time)):
        return o.isoformat()
    if getattr(o, "shape", None) == () and callable(getattr(o, "item", None)):
        try:
            return o.item()  # a numpy scalar
        except Exception:
            pass
    size = getattr(o, "size", None)
    if isinstance(size, int) and size <= MAX_LIST_ITEMS and callable(getattr(o, "tolist", None)):
        try:
            return o.tolist()  # a small array
        except Exception:
            pass
    return _summary(o)


def _to_json(value):
    """JSON text for a value: the value itself when it is JSON, else (or
    when it is larger than MAX_VALUE_BYTES) a summary."""
    try:
        text = json.dumps(value, default=_default, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, OverflowError, RecursionError):
        return json.dumps(_summary(value))
    if len(text) > MAX_VALUE_BYTES:
        return json.dumps(_summary(value, json_text=text))
    return text


def to_json(value):
    """The JSON text mida records for a Python value: the value itself when
    it is JSON and at most MAX_VALUE_BYTES, else a summary {"type", "repr",
    "len", "shape", "dtype", "json_bytes", "digest"}; os.PathLike values
    become absolute paths (data references).  Never raises."""
    try:
        return _to_json(value)
    except Exception:
        return json.dumps({"type": "unknown", "repr": "<unrepresentable>"})


_RECORD_VALUES = ("used", "generated")


def _record_text(record):
    """One JSON line for a record dict: used/generated values each through
    to_json (bounded, summarised), the other fields as JSON."""
    parts = []
    for name, field in record.items():
        if field is None:
            continue
        if name in _RECORD_VALUES and isinstance(field, dict):
            text = "{%s}" % ",".join("%s:%s" % (json.dumps(str(k)), to_json(v))
                                     for k, v in field.items())
        else:
            text = json.dumps(field, default=_default, allow_nan=False, separators=(",", ":"))
        parts.append("%s:%s" % (json.dumps(name), text))
    return "{%s}" % ",".join(parts)


def emit(record):
    """Sends one task record as it stands (a dict with the fields of
    docs/records.md; `used`/`generated` map names to any Python values,
    encoded as to_json does) through this process's emitter, or appends it
    to the record file when one is configured.  For adapters that build
    their own records (the Dask plugin); programs use capture/task.  The
    call only encodes the record and queues it: mapping and sending happen
    on the emitter's thread.  True when the record was accepted; False
    (with a warning the first time) when it could not be encoded, capture
    is off or unavailable, or the emitter's buffers were full.  Never
    raises."""
    if not _enabled():
        return False
    try:
        text = _record_text(record)
    except (TypeError, ValueError, OverflowError, RecursionError) as e:
        _warn("emit-encode", "mida_capture: record of task %s not encodable: %s",
              record.get("task_id") if isinstance(record, dict) else "?", e)
        return False
    try:
        path = _record_file()
        if path:
            _write_record(path, text)
            return True
        em = _emitter()
        if em is None:
            return False
        data = text.encode("utf-8", "surrogateescape")
        rc = _st.lib.mida_emitter_send(em, data, len(data))
        if rc:
            _warn("emit:%d" % rc, "mida_capture: record not sent: %s", _strerror(rc))
            return False
        return True
    except Exception as e:
        _warn("emit-exc", "mida_capture: record not sent: %s", e)
        return False


# ---------------------------------------------------------------------------
# defaults and nesting

_current_task = contextvars.ContextVar("mida_capture_task", default=None)
_current_workflow = contextvars.ContextVar("mida_capture_workflow", default=None)


def _script_name():
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv else "")
    name = os.path.splitext(os.path.basename(path or ""))[0]
    return name if name and not name.startswith("-") else "python"  # python -c: "-c"


def _process_workflow():
    """The workflow run of tasks outside any workflow() block and without
    MIDA_WORKFLOW_ID: one per process."""
    with _st.lock:
        if _st.default_workflow is None or _st.default_workflow[0] != os.getpid():
            wid = "%s-%s" % (_script_name(), uuid.uuid4().hex[:12])
            _st.default_workflow = (os.getpid(), wid)
        return _st.default_workflow[1]


def _resolve(workflow_id, workflow_name, campaign_id):
    """(workflow_id, workflow_name, campaign_id): the arguments, else the
    enclosing task's (a workflow() block starts afresh), else the enclosing
    workflow(), else the environment, else this process's run."""
    wf = _current_task.get() or _current_workflow.get()
    if workflow_id is None and wf is not None:
        workflow_id = wf.workflow_id
        workflow_name = workflow_name or wf.workflow_name
        campaign_id = campaign_id or wf.campaign_id
    if workflow_id is None:
        workflow_id = os.environ.get("MIDA_WORKFLOW_ID")
        if workflow_id is None:
            workflow_id = _process_workflow()
            workflow_name = workflow_name or os.environ.get("MIDA_WORKFLOW_NAME") or _script_name()
    workflow_name = workflow_name or os.environ.get("MIDA_WORKFLOW_NAME")
    campaign_id = campaign_id or os.environ.get("MIDA_CAMPAIGN_ID")
    return str(workflow_id), workflow_name, campaign_id


# ---------------------------------------------------------------------------
# one capture (a mida_capture_t)


class _Capture:
    """Owns one mida_capture_t.  Every method swallows its own errors."""

    def __init__(self, workflow_id, task_id, activity_id, fields):
        self.handle = None
        self.file = None
        if not _enabled():
            return
        lib = _lib()
        if lib is None:
            return
        self.file = _record_file()
        em = None if self.file else _emitter()
        # The agents (engine, adapter) go in with begin: its RUNNING record
        # names them already (see mida_task_begin).
        base = {"engine": "python", "engine_version": platform.python_version(),
                "adapter_id": "mida-capture-python"}
        extra = {k: v for k, v in fields.items() if v is not None}
        err = ctypes.create_string_buffer(512)

        def begin(given):
            text = "{%s}" % ",".join("%s:%s" % (json.dumps(str(k)), _to_json(v))
                                     for k, v in given.items())
            return lib.mida_task_begin(em, _b(workflow_id), _b(task_id), _b(activity_id),
                                       _b(text), err, len(err))

        h = begin(dict(base, **extra))
        if not h and extra:
            # a bad field: start without them, then set them one by one so
            # that only the bad one is lost (and named in a warning)
            h = begin(base)
            if h:
                self.handle = ctypes.c_void_p(h)
                for name, value in extra.items():
                    self.set(name, value)
        if not h:
            why = err.value.decode("utf-8", "replace")
            _warn("begin:" + why, "mida_capture: task %s not captured: %s", task_id, why)
            return
        self.handle = ctypes.c_void_p(h)
        if self.file:
            self._write(None, None)

    def _errmsg(self):
        msg = _st.lib.mida_capture_errmsg(self.handle)
        return msg.decode("utf-8", "replace") if msg else ""

    def set(self, field, value):
        if self.handle is None:
            return
        try:
            text = None if value is None else _to_json(value)
            rc = _st.lib.mida_task_set(self.handle, _b(field), _b(text))
            if rc:
                _warn("set:" + field, "mida_capture: field %s not recorded: %s", field,
                      self._errmsg())
        except Exception as e:
            _warn("set-exc", "mida_capture: field %s not recorded: %s", field, e)

    def value(self, kind, name, value):
        if self.handle is None:
            return
        try:
            fn = _st.lib.mida_task_used if kind == "used" else _st.lib.mida_task_generated
            name = str(name)
            rc = fn(self.handle, _b(name), _b(_to_json(value)))
            if rc:
                # the C side is stricter than json.dumps (lone surrogates,
                # integers past 64 bits): record a summary instead
                first = self._errmsg()
                rc = fn(self.handle, _b(name), _b(json.dumps(_summary(value))))
                if rc:
                    _warn("value:" + kind, "mida_capture: %s %r not recorded: %s", kind, name,
                          self._errmsg() or first)
        except Exception as e:
            _warn("value-exc", "mida_capture: %s %r not recorded: %s", kind, name, e)

    def send(self):
        """A progress update: the record so far, status RUNNING."""
        if self.handle is None:
            return
        try:
            if self.file:
                self._write(None, None)
                return
            rc = _st.lib.mida_task_send(self.handle)
            if rc:
                _warn("send:%d" % rc, "mida_capture: update not sent: %s", self._errmsg())
        except Exception as e:
            _warn("send-exc", "mida_capture: update not sent: %s", e)

    def _write(self, status, message):
        out = ctypes.c_void_p()
        rc = _st.lib.mida_task_record(self.handle, _b(status), _b(message), ctypes.byref(out))
        if rc:
            _warn("record", "mida_capture: no record: %s", self._errmsg())
            return
        _write_record(self.file, _take_string(out))

    def end(self, status, message=None):
        if self.handle is None:
            return
        try:
            if self.file:
                self._write(status, message)
            rc = _st.lib.mida_task_end(ctypes.byref(self.handle), _b(status), _b(message))
            if rc:
                _warn("end:%d" % rc, "mida_capture: task record not sent: %s", _strerror(rc))
        except Exception as e:
            _warn("end-exc", "mida_capture: task end not recorded: %s", e)
        finally:
            self.handle = None

    def __del__(self):
        # a capture never ended (a with-block left by os._exit, say): free it
        h = getattr(self, "handle", None)
        if h is not None and _st.lib is not None:
            try:
                _st.lib.mida_capture_destroy(ctypes.byref(h))
            except Exception:
                pass


def _tail(text):
    """The last MAX_STDERR bytes of an error text (what the mapper keeps)."""
    data = text.encode("utf-8", "replace")
    if len(data) > MAX_STDERR:
        text = data[-MAX_STDERR:].decode("utf-8", "ignore")
    return text


def _error_text(exc):
    """The traceback's last MAX_STDERR bytes: the exception's type and
    message end it."""
    return _tail("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip())


# ---------------------------------------------------------------------------
# the public objects


class Task:
    """One task, as a context manager: `with task(...) as t:`.

    On entry the task starts (RUNNING is sent); t.used / t.generated /
    t.set record values and fields; on exit it ends FINISHED, or ERROR with
    the exception's traceback when the block raised (the exception goes on).
    Nested tasks get the enclosing task as parent_task_id.
    """

    def __init__(self, workflow_id=None, activity_id=None, task_id=None, workflow_name=None,
                 campaign_id=None, **fields):
        self.workflow_id, self.workflow_name, self.campaign_id = _resolve(
            workflow_id, workflow_name, campaign_id)
        self.activity_id = activity_id
        self.task_id = str(task_id) if task_id is not None else "%s-%s" % (
            activity_id or "task", uuid.uuid4())
        self.fields = fields
        self._cap = None
        self._token = None

    def start(self):
        if self._cap is not None:
            return self
        parent = _current_task.get()
        fields = {"workflow_name": self.workflow_name, "campaign_id": self.campaign_id}
        if parent is not None and parent.workflow_id == self.workflow_id:
            fields["parent_task_id"] = parent.task_id
        fields.update(self.fields)
        self._cap = _Capture(self.workflow_id, self.task_id, self.activity_id, fields)
        return self

    def used(self, name, value):
        """Records a value the task used (a path: a data reference)."""
        if self._cap is not None:
            self._cap.value("used", name, value)

    def generated(self, name, value):
        """Records a value the task generated (a path: a data reference)."""
        if self._cap is not None:
            self._cap.value("generated", name, value)

    def set(self, field, value):
        """Sets a record field: tags, custom_metadata, dependencies, ..."""
        if self._cap is not None:
            self._cap.set(field, value)

    def update(self):
        """Sends the record as it stands (RUNNING): the values recorded so
        far become visible before the task ends."""
        if self._cap is not None:
            self._cap.send()

    def end(self, status="FINISHED", message=None):
        if self._cap is not None:
            self._cap.end(status, message)
            self._cap = None

    def __enter__(self):
        self.start()
        self._token = _current_task.set(self)
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._token is not None:
            try:
                _current_task.reset(self._token)
            except ValueError:  # left in another context: nothing to restore
                pass
            self._token = None
        if exc is None or (isinstance(exc, SystemExit) and exc.code in (None, 0)):
            self.end("FINISHED")
        else:
            self.end("ERROR", _error_text(exc))
        return False


def task(workflow_id=None, activity_id=None, task_id=None, **fields):
    """A Task for a with-block (see Task)."""
    return Task(workflow_id=workflow_id, activity_id=activity_id, task_id=task_id, **fields)


class Workflow:
    """A workflow run, as a context manager: tasks inside it (decorated
    functions, task() blocks) belong to it unless they name another.  With
    record=True (the default) the run itself is recorded too: RUNNING on
    entry, FINISHED or ERROR on exit, with its own telemetry."""

    def __init__(self, workflow_id=None, workflow_name=None, campaign_id=None, record=True,
                 **fields):
        if workflow_id is None:
            workflow_id = "%s-%s" % (workflow_name or _script_name(), uuid.uuid4().hex[:12])
        self.workflow_id = str(workflow_id)
        self.workflow_name = workflow_name
        self.campaign_id = campaign_id or os.environ.get("MIDA_CAMPAIGN_ID")
        self.record = record
        self.fields = fields
        self._cap = None
        self._token = None
        self._task_token = None

    def __enter__(self):
        if self.record:
            fields = {"workflow_name": self.workflow_name, "campaign_id": self.campaign_id}
            fields.update(self.fields)
            self._cap = _Capture(self.workflow_id, None, None, fields)
        self._token = _current_workflow.set(self)
        self._task_token = _current_task.set(None)  # its tasks have no parent outside it
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._token is not None:
            try:
                _current_task.reset(self._task_token)
                _current_workflow.reset(self._token)
            except ValueError:
                pass
            self._token = None
        if self._cap is not None:
            if exc is None or (isinstance(exc, SystemExit) and exc.code in (None, 0)):
                self._cap.end("FINISHED")
            else:
                self._cap.end("ERROR", _error_text(exc))
            self._cap = None
        return False


def workflow(workflow_id=None, workflow_name=None, campaign_id=None, record=True, **fields):
    """A Workflow for a with-block (see Workflow)."""
    return Workflow(workflow_id, workflow_name, campaign_id, record, **fields)


def _activity_of(func):
    mod = getattr(func, "__module__", None) or ""
    if mod == "__main__":
        mod = _script_name()
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", "function")
    return "%s.%s" % (mod, name) if mod else name


def _bind(sig, args, kwargs):
    """[(name, value)] of a call's arguments, defaults included; **kwargs
    are spread into their own names; a leading self/cls is left out."""
    if sig is None:
        return [("args", list(args))] + list(kwargs.items())
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError:  # the call itself will fail and say why
        return [("args", list(args))] + list(kwargs.items())
    bound.apply_defaults()
    out = []
    params = list(sig.parameters.values())
    for i, (name, value) in enumerate(bound.arguments.items()):
        p = sig.parameters[name]
        if i == 0 and name in ("self", "cls") and params and params[0].name == name:
            continue
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            out.extend(value.items())
        elif p.kind is inspect.Parameter.VAR_POSITIONAL:
            out.append((name, list(value)))
        else:
            out.append((name, value))
    return out


def _record_result(t, result, outputs):
    """The return value as generated values: under the names in `outputs`
    (one name, or one per item of a returned tuple/list), else each key of
    a dict with string keys, else "return"."""
    if isinstance(outputs, str):
        t.generated(outputs, result)
    elif outputs is not None:
        names = list(outputs)
        if isinstance(result, (tuple, list)) and len(result) == len(names):
            for name, value in zip(names, result):
                t.generated(name, value)
        else:
            t.generated("return", result)
    elif isinstance(result, dict) and result and all(isinstance(k, str) for k in result):
        for name, value in result.items():
            t.generated(name, value)
    elif result is not None:
        t.generated("return", result)


def capture(func=None, *, workflow_id=None, activity_id=None, workflow_name=None,
            campaign_id=None, outputs=None, **fields):
    """Decorator: each call of the function is a task.

    The call's arguments (bound to the signature, defaults included) are
    its used values, the return value its generated ones (see `outputs`),
    an exception makes it ERROR (with the traceback) and propagates.
    Values that are not JSON are summarised ({"type", "repr", ...});
    os.PathLike values become absolute paths, i.e. data references.
    Works on plain and async functions; use as @capture or @capture(...).
    Extra keyword arguments are record fields (tags=[...], ...).
    """

    def wrap(fn):
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):
            sig = None
        activity = activity_id or _activity_of(fn)
        short = getattr(fn, "__name__", "task")

        def begin(args, kwargs):
            try:
                t = Task(workflow_id=workflow_id, activity_id=activity,
                         task_id="%s-%s" % (short, uuid.uuid4()), workflow_name=workflow_name,
                         campaign_id=campaign_id, **fields)
                t.start()
                for name, value in _bind(sig, args, kwargs):
                    t.used(name, value)
                return t
            except Exception as e:
                _warn("decorator", "mida_capture: call of %s not captured: %s", short, e)
                return None

        def finish(t, result):
            try:
                _record_result(t, result, outputs)
                t.end("FINISHED")
            except Exception as e:
                _warn("decorator-end", "mida_capture: end of %s not captured: %s", short, e)

        def fail(t, exc):
            try:
                if isinstance(exc, SystemExit) and exc.code in (None, 0):
                    t.end("FINISHED")
                else:
                    t.end("ERROR", _error_text(exc))
            except Exception as e:
                _warn("decorator-end", "mida_capture: end of %s not captured: %s", short, e)

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args, **kwargs):
                if not _enabled():
                    return await fn(*args, **kwargs)
                t = begin(args, kwargs)
                if t is None:
                    return await fn(*args, **kwargs)
                token = _current_task.set(t)
                try:
                    result = await fn(*args, **kwargs)
                except BaseException as exc:
                    _current_task.reset(token)
                    fail(t, exc)
                    raise
                _current_task.reset(token)
                finish(t, result)
                return result

            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if not _enabled():
                return fn(*args, **kwargs)
            t = begin(args, kwargs)
            if t is None:
                return fn(*args, **kwargs)
            token = _current_task.set(t)
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                _current_task.reset(token)
                fail(t, exc)
                raise
            _current_task.reset(token)
            finish(t, result)
            return result

        return wrapper

    if isinstance(func, str) and workflow_id is None:
        workflow_id, func = func, None  # @capture("wf-id")
    if func is not None:
        return wrap(func)
    return wrap
