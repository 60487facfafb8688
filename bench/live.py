#!/usr/bin/python3
"""live.py - the live-capture benchmarks (issue 3 item 9; bench/README.md,
section "Live capture").  Builds nothing.

  bench/live.py [--build DIR] [--runs N] [--only PHASES] [sizes...]

Phases (all by default, in this order within each run):
  calls       cost of mida_emitter_send on the caller's thread
              (bench/emit_call calls): a burst of --calls-n records, a
              paced run (--paced-n at --paced-rate/s), and a burst into a
              small buffer (--small-n into --small-mb MiB: EAGAIN drops)
  capture     the C capture API per task (bench/emit_call capture), with
              an emitter and without one
  throughput  --tp-tasks tasks (2 records each) with `mida emit`, 1 and 4
              emitter processes, `mida serve` with and without --no-fsync:
              tasks/s and triples/s to the last ack and to applied
  freshness   emit -> visible (bench/freshness probe), idle and under a
              background load of --bg-rate records/s, batch age 50 and 5 ms

Every measurement gets a fresh `mida serve` on a fresh store in one temp
directory (removed at exit, on error, INT and TERM); `mida serve` is ended
with SIGKILL (the store is thrown away, so its stop-time snapshot would only
cost time).  Runs are interleaved: run 1 of every configuration, then run 2,
and so on, so that a burst of outside load spreads over configurations.

For each configuration the summary gives the median over the runs and
[min-max].  Raw results: --json FILE.  Progress goes to stderr, the
Markdown summary to stdout.

Environment: MIDA_BUILD (the build directory; default build-bench, then
build), PYTHON (for gen_campaign.py; default /usr/bin/python3), TMPDIR.
Needs python3-zmq for the status polls of `throughput` (falls back to
`mida status --json` processes without it).
"""
import argparse
import json
import os
import re
import resource
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")
PROCS = []          # every process started, killed at exit if still running
TMP = None


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


# ---- processes and /proc --------------------------------------------------

def start(args, env, **kw):
    p = subprocess.Popen(args, env=env, **kw)
    PROCS.append(p)
    return p


def cleanup():
    for p in PROCS:
        if p.poll() is None:
            try:
                p.kill()
                p.wait(timeout=30)
            except Exception:
                pass
    if TMP and os.path.isdir(TMP):
        shutil.rmtree(TMP, ignore_errors=True)


def on_signal(sig, frame):
    raise SystemExit(128 + sig)


def cpu_busy_ticks():
    """Busy ticks of the whole machine (all CPUs) from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    return v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)


def thread_ticks(pid):
    """{tid: (comm, utime+stime ticks)} for the threads of pid."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                s = f.read()
        except OSError:
            continue
        comm = s[s.index("(") + 1:s.rindex(")")]
        rest = s[s.rindex(")") + 2:].split()
        out[int(tid)] = (comm, int(rest[11]) + int(rest[12]))
    return out


def split_threads(pid, ticks):
    """Groups a process's thread ticks: main, ZeroMQ, other threads (s)."""
    g = {"main": 0.0, "zmq": 0.0, "other": 0.0}
    for tid, (comm, t) in ticks.items():
        key = "main" if tid == pid else "zmq" if comm.startswith("ZMQ") else "other"
        g[key] += t / CLK_TCK
    return g


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def self_cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class CpuWindow:
    """CPU used in a window: by the whole machine, by this script's reaped
    children, by this script, and by processes still running that we name
    (their /proc ticks)."""

    def __init__(self, live_pids=()):
        self.t = time.monotonic()
        self.busy = cpu_busy_ticks()
        self.children = children_cpu()
        self.me = self_cpu()
        self.live = {pid: sum(t for _, t in thread_ticks(pid).values()) for pid in live_pids}
        self.load = os.getloadavg()[0]

    def close(self, live_pids=()):
        wall = time.monotonic() - self.t
        busy = (cpu_busy_ticks() - self.busy) / CLK_TCK
        ours = (children_cpu() - self.children) + (self_cpu() - self.me)
        for pid in live_pids:
            now = sum(t for _, t in thread_ticks(pid).values())
            ours += (now - self.live.get(pid, 0)) / CLK_TCK
        return {"wall_s": wall, "machine_cpu_s": busy, "our_cpu_s": ours,
                "children_cpu_s": children_cpu() - self.children,
                "other_cores": max(0.0, busy - ours) / wall if wall > 0 else 0.0,
                "load_at_start": self.load}


# ---- mida serve and STATUS --------------------------------------------------

class Serve:
    def __init__(self, mida, name, env, *extra):
        self.store = os.path.join(TMP, name + "-store")
        self.logf = open(os.path.join(TMP, name + "-serve.log"), "w+")
        self.p = start([mida, "serve", "--store", self.store, "--http", "127.0.0.1:0", "--listen", "tcp://127.0.0.1:0",
                        *extra], env, stdout=subprocess.PIPE, stderr=self.logf, text=True)
        self.http = self.p.stdout.readline().strip()
        self.endpoint = self.p.stdout.readline().strip()
        if not self.endpoint:
            raise RuntimeError("mida serve printed no endpoint: " + self.log_text())
        self.pid = self.p.pid

    def log_text(self):
        self.logf.flush()
        with open(self.logf.name) as f:
            return f.read()

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self.logf.close()
        shutil.rmtree(self.store, ignore_errors=True)


try:
    import zmq
except ImportError:
    zmq = None


class Status:
    """STATUS requests on one kept-open DEALER (or `mida status` processes
    when python3-zmq is missing).  Use from one thread."""

    def __init__(self, mida, endpoint, env):
        self.mida, self.endpoint, self.env = mida, endpoint, env
        if zmq:
            self.ctx = zmq.Context()
            self.s = self.ctx.socket(zmq.DEALER)
            self.s.setsockopt(zmq.LINGER, 0)
            self.s.connect(endpoint)
            self.frame = (b"MIDA" + bytes([1, 0x08]) + struct.pack(">H", 48) + os.urandom(16) +
                          struct.pack(">QIII", 0, 0, 0, 0) + b"\0" * 4)

    def get(self, timeout=10.0):
        if not zmq:
            r = subprocess.run([self.mida, "status", "--to", self.endpoint, "--json"],
                               capture_output=True, text=True, env=self.env, timeout=timeout + 5)
            return json.loads(r.stdout) if r.returncode == 0 else None
        self.s.send_multipart([self.frame, b""])
        if not self.s.poll(int(timeout * 1000)):
            return None
        parts = self.s.recv_multipart()
        return json.loads(parts[1]) if len(parts) == 2 else None

    def close(self):
        if zmq:
            self.s.close()
            self.ctx.term()


# ---- helpers -----------------------------------------------------------------

def run_json(args, env, timeout):
    r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (os.path.basename(args[0]), r.returncode,
                                                     r.stderr[-2000:]))
    return json.loads(r.stdout.strip().splitlines()[-1]), r.stderr


def gen(python, path, tasks, seed=1):
    with open(path, "w") as f:
        subprocess.run([python, os.path.join(HERE, "gen_campaign.py"), "--tasks", str(tasks),
                        "--seed", str(seed)], stdout=f, check=True)


def split_file(path, k):
    with open(path) as f:
        lines = f.readlines()
    n = len(lines)
    out = []
    for i in range(k):
        part = "%s.%dof%d" % (path, i + 1, k)
        with open(part, "w") as f:
            f.writelines(lines[i * n // k:(i + 1) * n // k])
        out.append(part)
    return out


def fsync_latency(directory, n=100):
    """fdatasync of a 4 KiB append, as the write-ahead log does: ms."""
    path = os.path.join(directory, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    d = []
    try:
        buf = b"x" * 4096
        for _ in range(n):
            os.write(fd, buf)
            t = time.monotonic()
            os.fdatasync(fd)
            d.append((time.monotonic() - t) * 1e3)
    finally:
        os.close(fd)
        os.unlink(path)
    d.sort()
    return {"median_ms": d[len(d) // 2], "p90_ms": d[int(len(d) * 0.9)], "max_ms": d[-1]}


# ---- phases -------------------------------------------------------------------

def phase_calls(a, env, files, results):
    ec = os.path.join(a.build, "bench", "emit_call")
    for name, extra in (
            ("burst", ["--n", str(a.calls_n)]),
            ("paced", ["--n", str(a.paced_n), "--rate", str(a.paced_rate)]),
            ("small-buffer", ["--n", str(a.small_n), "--max-buffered-mb", str(a.small_mb)])):
        srv = Serve(a.mida, "calls-" + name, env)
        try:
            w = CpuWindow([srv.pid])
            res, _ = run_json([ec, "calls", "--to", srv.endpoint, "--records", files["calls"],
                               *extra], env, timeout=3600)
            res["cpu"] = w.close([srv.pid])
        finally:
            srv.kill()
        results.setdefault("calls-" + name, []).append(res)
        d = res["send_ns"]
        log("calls %-12s median %d ns, p99 %d ns, p99.9 %d ns, max %d ns; EAGAIN %d; "
            "acked %.2f s after the last send; other load %.2f cores"
            % (name, d["median"], d["p99"], d["p99.9"], d["max"], res["eagain"],
               res["ack_after_last_send_s"], res["cpu"]["other_cores"]))


def phase_capture(a, env, files, results):
    ec = os.path.join(a.build, "bench", "emit_call")
    for name in ("emitter", "no-emitter"):
        srv = Serve(a.mida, "capture", env) if name == "emitter" else None
        try:
            w = CpuWindow([srv.pid] if srv else [])
            args = [ec, "capture", "--n", str(a.capture_n)]
            args += ["--to", srv.endpoint] if srv else ["--no-emitter"]
            res, _ = run_json(args, env, timeout=3600)
            res["cpu"] = w.close([srv.pid] if srv else [])
        finally:
            if srv:
                srv.kill()
        results.setdefault("capture-" + name, []).append(res)
        log("capture %-10s per task median %.1f us, p99 %.1f us (begin %.1f, end %.1f us); "
            "EAGAIN %d; other load %.2f cores"
            % (name, res["task_ns"]["median"] / 1e3, res["task_ns"]["p99"] / 1e3,
               res["begin_ns"]["median"] / 1e3, res["end_ns"]["median"] / 1e3, res["eagain"],
               res["cpu"]["other_cores"]))


EMIT_RE = re.compile(r"(\d+) records sent, (\d+) acknowledged \((\d+) quads\), (\d+) refused")


def throughput_once(a, env, files, k, no_fsync):
    name = "tp-%d%s" % (k, "-nofsync" if no_fsync else "")
    srv = Serve(a.mida, name, env, *(["--no-fsync"] if no_fsync else []))
    samples = []          # (t, status) every poll
    em_ticks = {}         # pid -> last thread ticks seen
    stop = threading.Event()
    fast = threading.Event()
    lock = threading.Lock()
    emitters = []

    def poller():
        st = Status(a.mida, srv.endpoint, env)
        try:
            while not stop.is_set():
                s = st.get()
                now = time.monotonic()
                with lock:
                    if s:
                        samples.append((now, s))
                    for p in emitters:
                        if p.poll() is None:
                            t = thread_ticks(p.pid)
                            if t:
                                em_ticks[p.pid] = t
                stop.wait(0.01 if fast.is_set() else 0.1)
        finally:
            st.close()

    try:
        th = threading.Thread(target=poller, daemon=True)
        serve_before = thread_ticks(srv.pid)
        w = CpuWindow([srv.pid])
        t0 = time.monotonic()
        with lock:
            for part in files["tp-%d" % k]:
                emitters.append(start([a.mida, "emit", "--to", srv.endpoint, "--timeout", "1800",
                                       part], env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True))
        th.start()
        ends, quads, acked, sent, warnings = [], 0, 0, 0, []
        for p in emitters:
            err = p.communicate(timeout=3600)[1]
            warnings += [x for x in (err or "").splitlines() if not EMIT_RE.search(x)][:5]
            ends.append(time.monotonic())
            m = EMIT_RE.search(err or "")
            if p.returncode != 0 or not m:
                raise RuntimeError("mida emit failed (%s): %s" % (p.returncode, err[-1500:]))
            sent += int(m.group(1))
            acked += int(m.group(2))
            quads += int(m.group(3))
        t_ack = max(ends) - t0
        fast.set()
        deadline = time.monotonic() + 1800
        t_applied, last = None, None
        while time.monotonic() < deadline and t_applied is None:
            with lock:
                for t, s in samples:
                    if s["quads_applied"] >= quads:
                        t_applied, last = t - t0, s
                        break
            time.sleep(0.01)
        stop.set()
        th.join()
        if t_applied is None:
            raise RuntimeError("%s: not everything applied within 1800 s" % name)
        serve_after = thread_ticks(srv.pid)
        cpu = w.close([srv.pid])
        st = Status(a.mida, srv.endpoint, env)
        final = st.get()
        st.close()
    finally:
        stop.set()
        srv.kill()
    sv = split_threads(srv.pid, {tid: (c, t - serve_before.get(tid, (c, 0))[1])
                                 for tid, (c, t) in serve_after.items()})
    em = {"main": 0.0, "zmq": 0.0, "other": 0.0}
    for pid, t in em_ticks.items():
        for key, v in split_threads(pid, t).items():
            em[key] += v
    tasks = a.tp_tasks
    res = {"emitters": k, "no_fsync": no_fsync, "tasks": tasks, "records": sent, "acked": acked,
           "quads": quads, "emit_warnings": warnings, "t_last_ack_s": t_ack, "t_applied_s": t_applied,
           "tasks_per_s_ack": tasks / t_ack, "tasks_per_s": tasks / t_applied,
           "triples_per_s": final["store_triples"] / t_applied,
           "quads_per_s": final["quads_applied"] / t_applied,
           "store_triples": final["store_triples"], "status": final,
           "batches_per_fsync": final["applied"] / final["fsyncs"] if final["fsyncs"] else None,
           "cpu": cpu, "serve_threads_cpu_s": sv, "emit_threads_cpu_s_sampled": em,
           # the emitters are the only children reaped inside the window
           # (the serve is reaped after it closed)
           "emit_cpu_s": cpu["children_cpu_s"]}
    return name, res


def phase_throughput(a, env, files, results):
    for no_fsync in (False, True):
        for k in (1, 4):
            name, res = throughput_once(a, env, files, k, no_fsync)
            results.setdefault(name, []).append(res)
            log("%-12s %6.0f tasks/s, %8.0f triples/s to applied (%.1f s; last ack %.1f s); "
                "CPU s: serve %.1f (main %.1f), emit %.1f; other load %.2f cores; %s fsyncs, "
                "%s duplicates"
                % (name, res["tasks_per_s"], res["triples_per_s"], res["t_applied_s"],
                   res["t_last_ack_s"], sum(res["serve_threads_cpu_s"].values()),
                   res["serve_threads_cpu_s"]["main"], res["emit_cpu_s"],
                   res["cpu"]["other_cores"], res["status"]["fsyncs"],
                   res["status"]["duplicates"]))


def phase_freshness(a, env, files, results):
    fr = os.path.join(a.build, "bench", "freshness")
    for loaded in (False, True):
        for age in (50, 5):
            name = "fresh-%s-%dms" % ("load" if loaded else "idle", age)
            srv = Serve(a.mida, name, env)
            load = None
            try:
                w = CpuWindow([srv.pid])
                if loaded:
                    load = start([fr, "load", "--to", srv.endpoint, "--records", files["tp"],
                                  "--rate", str(a.bg_rate)], env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
                    time.sleep(2.0)
                res, _ = run_json([fr, "probe", "--to", srv.endpoint, "--n", str(a.fresh_n),
                                   "--rate", str(a.fresh_rate), "--batch-age", str(age)], env,
                                  timeout=600)
                if load:
                    load.send_signal(signal.SIGTERM)
                    out, err = load.communicate(timeout=600)
                    res["load"] = json.loads(out.strip().splitlines()[-1])
                res["cpu"] = w.close([srv.pid])
            finally:
                if load and load.poll() is None:
                    load.kill()
                srv.kill()
            results.setdefault(name, []).append(res)
            log("%-18s visible p50 %.1f ms, p99 %.1f ms (ack p50 %.1f ms); other load %.2f cores%s"
                % (name, res["visible_ms"]["median"], res["visible_ms"]["p99"],
                   res["ack_ms"]["median"], res["cpu"]["other_cores"],
                   "; background %.0f records/s, %d EAGAIN" % (res["load"]["rate"],
                                                              res["load"]["eagain"])
                   if loaded else ""))


# ---- summary ------------------------------------------------------------------

def agg(vals, fmt):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    m = statistics.median(vals)
    if len(vals) == 1:
        return fmt % m
    return (fmt + " [" + fmt + "–" + fmt + "]") % (m, min(vals), max(vals))


def summary(results, a, meta):
    out = []
    p = out.append
    p("## Live capture results\n")
    p("%s; %d run(s); median [min–max] over runs.\n" % (meta, a.runs))
    rows = [k for k in ("calls-burst", "calls-paced", "calls-small-buffer") if k in results]
    if rows:
        p("### 1. mida_emitter_send on the caller's thread (ns, timer overhead subtracted)\n")
        p("| run | calls | median | p90 | p99 | p99.9 | max | >10 µs | page faults | EAGAIN | ack after last send s | other load (cores) |")
        p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for k in rows:
            r = results[k]
            p("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                k[6:], r[0]["n"],
                agg([x["send_ns"]["median"] for x in r], "%d"),
                agg([x["send_ns"]["p90"] for x in r], "%d"),
                agg([x["send_ns"]["p99"] for x in r], "%d"),
                agg([x["send_ns"]["p99.9"] for x in r], "%d"),
                agg([x["send_ns"]["max"] for x in r], "%d"),
                agg([x["over_10us"] for x in r], "%d"),
                agg([x["thread_minor_faults"] for x in r], "%d"),
                agg([x["eagain"] for x in r], "%d"),
                agg([x["ack_after_last_send_s"] for x in r], "%.2f"),
                agg([x["cpu"]["other_cores"] for x in r], "%.2f")))
        p("")
    rows = [k for k in ("capture-emitter", "capture-no-emitter") if k in results]
    if rows:
        p("### 1b. Capture API per task: begin + 2 used + 2 generated + end (µs)\n")
        p("| run | tasks | median | p90 | p99 | p99.9 | begin median | used+generated median | end median | one telemetry sample + as JSON | EAGAIN | other load (cores) |")
        p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for k in rows:
            r = results[k]
            us = lambda key, q: [x[key][q] / 1e3 for x in r]
            p("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s + %s | %s | %s |" % (
                k[8:], r[0]["n"], agg(us("task_ns", "median"), "%.1f"),
                agg(us("task_ns", "p90"), "%.1f"), agg(us("task_ns", "p99"), "%.1f"),
                agg(us("task_ns", "p99.9"), "%.0f"), agg(us("begin_ns", "median"), "%.1f"),
                agg(us("used_generated_ns", "median"), "%.1f"), agg(us("end_ns", "median"), "%.1f"),
                agg(us("telemetry_read_ns", "median"), "%.1f"),
                agg(us("telemetry_to_json_ns", "median"), "%.1f"),
                agg([x["eagain"] for x in r], "%d"),
                agg([x["cpu"]["other_cores"] for x in r], "%.2f")))
        p("")
    rows = [k for k in ("tp-1", "tp-4", "tp-1-nofsync", "tp-4-nofsync") if k in results]
    if rows:
        p("### 2. End to end: %d tasks (%d records) with `mida emit`\n"
          % (a.tp_tasks, results[rows[0]][0]["records"]))
        p("| serve | emitters | to last ack s | to applied s | tasks/s | triples/s | quads/s | batches per fsync | re-sent batches | serve CPU s (main / zmq) | emit CPU s | other load (cores) |")
        p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for k in rows:
            r = results[k]
            p("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s | %s |" % (
                "--no-fsync" if r[0]["no_fsync"] else "fsync", r[0]["emitters"],
                agg([x["t_last_ack_s"] for x in r], "%.1f"),
                agg([x["t_applied_s"] for x in r], "%.1f"),
                agg([x["tasks_per_s"] for x in r], "%.0f"),
                agg([x["triples_per_s"] for x in r], "%.0f"),
                agg([x["quads_per_s"] for x in r], "%.0f"),
                agg([x["batches_per_fsync"] for x in r], "%.1f"),
                agg([x["status"]["duplicates"] for x in r], "%d"),
                agg([x["serve_threads_cpu_s"]["main"] for x in r], "%.1f"),
                agg([x["serve_threads_cpu_s"]["zmq"] for x in r], "%.1f"),
                agg([x["emit_cpu_s"] for x in r], "%.1f"),
                agg([x["cpu"]["other_cores"] for x in r], "%.2f")))
        r = results[rows[0]]
        p("\nstore_triples: %s; batches applied: %s; snapshots during runs: %s; "
          "emitter warnings: %s\n" % (
            sorted({x["store_triples"] for k in rows for x in results[k]}),
            sorted({x["status"]["applied"] for k in rows for x in results[k]}),
            sorted({x["status"]["snapshots"] for k in rows for x in results[k]}),
            sorted({w for k in rows for x in results[k] for w in x["emit_warnings"]})[:5]
            or "none"))
    rows = [k for k in ("fresh-idle-50ms", "fresh-idle-5ms", "fresh-load-50ms", "fresh-load-5ms")
            if k in results]
    if rows:
        p("### 3. Freshness: send -> applied (ms; %d probes at %s/s)\n" % (a.fresh_n, a.fresh_rate))
        p("| background | batch age | acked p50 | acked p99 | visible p50 | visible p99 | visible max | STATUS RTT µs | other load (cores) |")
        p("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for k in rows:
            r = results[k]
            p("| %s | %d ms | %s | %s | %s | %s | %s | %s | %s |" % (
                ("%s records/s" % a.bg_rate) if "load" in k else "none", r[0]["batch_age_ms"],
                agg([x["ack_ms"]["median"] for x in r], "%.1f"),
                agg([x["ack_ms"]["p99"] for x in r], "%.1f"),
                agg([x["visible_ms"]["median"] for x in r], "%.1f"),
                agg([x["visible_ms"]["p99"] for x in r], "%.1f"),
                agg([x["visible_ms"]["max"] for x in r], "%.1f"),
                agg([x["status_rtt_us"]["median"] for x in r], "%.0f"),
                agg([x["cpu"]["other_cores"] for x in r], "%.2f")))
        p("")
    if "fsync" in results:
        p("fdatasync of a 4 KiB append in the temp directory: median %s ms, p90 %s ms\n" % (
            agg([x["median_ms"] for x in results["fsync"]], "%.2f"),
            agg([x["p90_ms"] for x in results["fsync"]], "%.2f")))
    return "\n".join(out)


def main():
    global TMP
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("MIDA_BUILD"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="calls,capture,throughput,freshness")
    ap.add_argument("--calls-n", type=int, default=100000)
    ap.add_argument("--paced-n", type=int, default=10000)
    ap.add_argument("--paced-rate", type=float, default=1000)
    ap.add_argument("--small-n", type=int, default=20000)
    ap.add_argument("--small-mb", type=int, default=4)
    ap.add_argument("--capture-n", type=int, default=5000)
    ap.add_argument("--tp-tasks", type=int, default=20000)
    ap.add_argument("--fresh-n", type=int, default=500)
    ap.add_argument("--fresh-rate", type=float, default=50)
    ap.add_argument("--bg-rate", type=float, default=200, help="background records/s")
    ap.add_argument("--json", help="write the raw results here")
    a = ap.parse_args()
    if not a.build:
        a.build = next((os.path.join(ROOT, d) for d in ("build-bench", "build")
                        if os.path.exists(os.path.join(ROOT, d, "bench", "emit_call"))),
                       os.path.join(ROOT, "build-bench"))
    a.build = os.path.abspath(a.build)
    a.mida = os.path.join(a.build, "mida")
    need = [a.mida, os.path.join(a.build, "bench", "emit_call"),
            os.path.join(a.build, "bench", "freshness")]
    missing = [x for x in need if not os.access(x, os.X_OK)]
    if missing:
        print("live.py: missing %s\nbuild first:\n  cmake -S . -B build-bench "
              "-DCMAKE_BUILD_TYPE=Release -DMIDA_BENCH=ON\n  cmake --build build-bench -j2 "
              "--target mida_tool emit_call freshness" % ", ".join(missing), file=sys.stderr)
        return 2
    phases = a.only.split(",")
    python = os.environ.get("PYTHON", "/usr/bin/python3")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    TMP = tempfile.mkdtemp(prefix="mida-live-bench.")
    env = dict(os.environ, MIDA_SPOOL_DIR=os.path.join(TMP, "spool"))
    env.pop("MIDA_ENDPOINT", None)
    results = {}
    try:
        files = {}
        log("data in %s" % TMP)
        if "calls" in phases:
            files["calls"] = os.path.join(TMP, "calls.jsonl")
            gen(python, files["calls"], (max(a.calls_n, a.paced_n, a.small_n) + 1) // 2)
        if "throughput" in phases or "freshness" in phases:
            files["tp"] = os.path.join(TMP, "tp.jsonl")
            gen(python, files["tp"], a.tp_tasks)
            files["tp-1"] = [files["tp"]]
            files["tp-4"] = split_file(files["tp"], 4)
        rev = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                             capture_output=True, text=True).stdout.strip()
        meta = ("%s, %d cores, %s, binary %s (git %s), %s" % (
            time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count(),
            open("/etc/debian_version").read().strip() if os.path.exists("/etc/debian_version")
            else "?", a.mida, rev or "?", "python3-zmq" if zmq else "no python3-zmq"))
        for run in range(a.runs):
            log("run %d of %d" % (run + 1, a.runs))
            results.setdefault("fsync", []).append(fsync_latency(TMP))
            for ph, fn in (("calls", phase_calls), ("capture", phase_capture),
                           ("throughput", phase_throughput), ("freshness", phase_freshness)):
                if ph in phases:
                    fn(a, env, files, results)
        text = summary(results, a, meta)
        print(text)
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"meta": meta, "args": vars(a), "results": results}, f, indent=1)
    finally:
        cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
