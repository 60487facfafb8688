#!/usr/bin/python3
"""dask_overhead.py - what the Dask adapter costs a Dask workflow (issue 5
item 6; bench/README.md, section "Dask").  Builds nothing.

  bench/dask_overhead.py [--build DIR] [--threads N] [--min-runs N]
                         [--max-runs N] [--ci-target PCT] [--json FILE]
                         CELL...

A CELL is SECONDSxTASKS, e.g. 0x1000 0.01x10000 1x1000.  Each cell runs
the MIDA paper's synthetic workload: a two-map workflow of sleeping tasks
(map A: TASKS/2 tasks sleeping SECONDS; map B: TASKS/2 tasks, each
depending on one task of A, sleeping SECONDS) on a LocalCluster of 2
worker processes (--threads threads each, default 8), once without the
plugins ("off") and once with register() ("on", defaults: values and
telemetry recorded), alternately, with `mida serve` (the integrator) on the
same machine, on a fresh store for every "on" run.

Timed: from the first submit to the last task of B done (distributed.wait),
as the user sees the workflow.  Not timed: starting the cluster and serve,
register(), and after the workflow, Registration.close(), which ends when
every record is acknowledged by the integrator ("acked after", reported
separately: how far capture lags behind the workflow).

Runs repeat, alternating off/on, until the overhead's 95% confidence
interval (bootstrap over the runs of both modes, 2,000 resamples, of
median(on)/median(off) - 1) is narrower than +-CI-TARGET points, between
--min-runs (default 3) and --max-runs (default 7) runs per mode.

Stdout: a Markdown table (median wall time off and on, [min-max], overhead
% and its CI, acked after, records sent per task); --json FILE the raw
runs.  Progress goes to stderr.

Environment: MIDA_BUILD (build directory: default build-bench, then build),
TMPDIR.  Needs python3-distributed (Debian's 2022.12; /usr/bin/python3).
"""
import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "adapters", "dask"))
sys.path.insert(0, os.path.join(ROOT, "adapters", "python"))


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def stage_a(i, seconds):
    if seconds:
        time.sleep(seconds)
    return i


def stage_b(x, seconds):
    if seconds:
        time.sleep(seconds)
    return x


class Serve:
    """`mida serve` on a fresh store, ZeroMQ only."""

    def __init__(self, mida, tmp):
        self.store = tempfile.mkdtemp(prefix="store.", dir=tmp)
        self.p = subprocess.Popen([mida, "serve", "--store", self.store, "--http", "off",
                                   "--listen", "tcp://127.0.0.1:0"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.p.stdout.readline().strip()
        if not line.startswith("tcp://"):  # with --http off the endpoint is line 1
            line = self.p.stdout.readline().strip()
        self.endpoint = line
        if not self.endpoint.startswith("tcp://"):
            self.stop()
            raise RuntimeError("mida serve printed no endpoint")

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)  # the store is thrown away
        self.p.wait()
        self.p.stdout.close()
        shutil.rmtree(self.store, ignore_errors=True)


def one_run(mode, seconds, tasks, args, tmp):
    """Seconds of the workflow, and for "on" the seconds until acked and
    the records sent."""
    from dask.distributed import Client, LocalCluster, wait
    import mida_capture
    import mida_dask
    srv = Serve(args.mida, tmp) if mode == "on" else None
    out = {"mode": mode}
    try:
        if srv:
            mida_capture.configure(endpoint=srv.endpoint)
        with LocalCluster(n_workers=2, threads_per_worker=args.threads, processes=True,
                          host="127.0.0.1", dashboard_address=None) as cluster, \
                Client(cluster) as client:
            client.wait_for_workers(2)
            reg = None
            if srv:
                reg = mida_dask.register(client, workflow_name="bench-%gx%d" % (seconds, tasks),
                                         campaign_id="bench", endpoint=srv.endpoint,
                                         strict=True)
            # the scheduler runs in this process: its counters add up over runs
            sched0 = dict(mida_dask._sender.stats)
            half = tasks // 2
            t0 = time.perf_counter()
            a = client.map(stage_a, range(half), seconds=seconds, pure=False)
            b = client.map(stage_b, a, seconds=seconds, pure=False)
            wait(b)
            out["wall"] = time.perf_counter() - t0
            errs = sum(1 for f in b if f.status != "finished")
            if errs:
                raise RuntimeError("%d tasks did not finish" % errs)
            del a, b
            if reg is not None:
                st = reg.close(timeout=600)
                out["acked"] = time.perf_counter() - t0
                st["scheduler"] = {k: v - sched0.get(k, 0) for k, v in st["scheduler"].items()}
                sent = sum(c.get("records_sent", 0) for c in st.values())
                out["records"] = sent
                out["not_sent"] = sum(c.get("records_not_sent", 0) + c.get("records_failed", 0)
                                      + c.get("used_failed", 0) for c in st.values())
                out["backlog_skips"] = sum(c.get("values_skipped_backlog", 0)
                                           for c in st.values())
    finally:
        if srv:
            mida_capture.close(1000)
            srv.stop()
    return out


def overhead(on, off):
    return (statistics.median(on) / statistics.median(off) - 1) * 100


def bootstrap_ci(on, off, n=2000, seed=1):
    rnd = random.Random(seed)
    vals = sorted(overhead([rnd.choice(on) for _ in on], [rnd.choice(off) for _ in off])
                  for _ in range(n))
    return vals[int(0.025 * n)], vals[int(0.975 * n) - 1]


def run_cell(seconds, tasks, args, tmp):
    runs = {"off": [], "on": []}
    raw = []
    for i in range(args.max_runs):
        for mode in ("off", "on") if i % 2 == 0 else ("on", "off"):
            r = one_run(mode, seconds, tasks, args, tmp)
            raw.append(r)
            runs[mode].append(r["wall"])
            log("%gs x %d, run %d %-3s: %.3f s%s" % (
                seconds, tasks, i + 1, mode, r["wall"],
                "" if mode == "off" else ", acked after %.2f s, %d records" % (
                    r["acked"], r["records"])))
        if i + 1 >= args.min_runs:
            lo, hi = bootstrap_ci(runs["on"], runs["off"])
            if (hi - lo) / 2 <= args.ci_target:
                break
    on = [r for r in raw if r["mode"] == "on"]
    lo, hi = bootstrap_ci(runs["on"], runs["off"])
    return {
        "seconds": seconds, "tasks": tasks, "runs": len(runs["on"]),
        "off": runs["off"], "on": runs["on"],
        "overhead_pct": overhead(runs["on"], runs["off"]), "ci": [lo, hi],
        "acked_after": statistics.median(r["acked"] for r in on),
        "records_per_task": statistics.median(r["records"] for r in on) / tasks,
        "not_sent": max(r["not_sent"] for r in on),
        "backlog_skips": max(r["backlog_skips"] for r in on),
        "raw": raw,
    }


def fmt(v):
    return "%.2f" % v if v < 100 else "%.1f" % v


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cells", nargs="+", help="SECONDSxTASKS, e.g. 0x1000")
    ap.add_argument("--build", default=None)
    ap.add_argument("--threads", type=int, default=8, help="threads per worker (default 8)")
    ap.add_argument("--min-runs", type=int, default=3)
    ap.add_argument("--max-runs", type=int, default=7)
    ap.add_argument("--ci-target", type=float, default=2.0,
                    help="stop when the CI half-width is at most this many points (default 2)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    build = args.build or os.environ.get("MIDA_BUILD")
    if not build:
        build = os.path.join(ROOT, "build-bench")
        if not os.path.exists(os.path.join(build, "mida")):
            build = os.path.join(ROOT, "build")
    args.mida = os.path.join(build, "mida")
    os.environ["MIDA_LIB"] = os.path.join(build, "libmida.so")
    for p in (args.mida, os.environ["MIDA_LIB"]):
        if not os.path.exists(p):
            sys.exit("dask_overhead: %s not built (cmake --build %s)" % (p, build))
    cells = []
    for c in args.cells:
        try:
            s, n = c.lower().split("x")
            cells.append((float(s), int(n)))
        except ValueError:
            sys.exit("dask_overhead: cell %r is not SECONDSxTASKS (e.g. 0.01x1000)" % c)
    import logging
    logging.getLogger("distributed").setLevel(logging.ERROR)
    tmp = tempfile.mkdtemp(prefix="mida-bench-dask.")
    os.environ["MIDA_SPOOL_DIR"] = os.path.join(tmp, "spool")
    results = []
    try:
        for seconds, tasks in cells:
            results.append(run_cell(seconds, tasks, args, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
    print("| task | tasks | runs | off: median [min–max] s | on: median [min–max] s "
          "| overhead | 95% CI | acked after | records/task |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print("| %g s | %d | %d | %s [%s–%s] | %s [%s–%s] | %+.1f%% | [%+.1f, %+.1f] | %s s | %.2f |" % (
            r["seconds"], r["tasks"], r["runs"],
            fmt(statistics.median(r["off"])), fmt(min(r["off"])), fmt(max(r["off"])),
            fmt(statistics.median(r["on"])), fmt(min(r["on"])), fmt(max(r["on"])),
            r["overhead_pct"], r["ci"][0], r["ci"][1], fmt(r["acked_after"]),
            r["records_per_task"]))
        if r["not_sent"] or r["backlog_skips"]:
            print("|  | | | | | | records not sent %d, values skipped (backlog) %d | | |" % (
                r["not_sent"], r["backlog_skips"]))


if __name__ == "__main__":
    main()
