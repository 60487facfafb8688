#!/usr/bin/python3
"""How much a polling adapter costs: `mida observe` over a large source.

For each source it measures, with GNU /usr/bin/time (wall seconds, peak RSS):
  first   the first pass over the whole source (--once, a fresh cursor)
  idle    a poll that finds nothing new (the cost paid every --interval)
  grow    a poll after the source grew by 10 %
Records go to --jsonl (what the adapter costs; applying them to a store is
the cost `bench/ingest.sh` measures).

Sources:
  mlflow   an MLflow tracking database made from the fixtures' current
           schema (with MLflow's index on metrics.run_uuid): RUNS runs of
           10 params and METRIC_POINTS points of one metric each
  logfile  the log of adapters/logfile/examples/microscope.py with ACQ
           acquisitions, read with adapters/logfile/rules/microscope.json

Usage: bench/observe.py [--runs 200] [--points 5000] [--acquisitions 20000]
                        [--mida build-bench/mida] [--json]
Prints a Markdown table (or JSON).
"""
import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
SHARED = os.environ.get("MIDA_SHARED_DIR", os.path.join(SRC, "..", "shared"))


def timed(cmd):
    """(wall seconds, peak RSS MiB, stderr) of one run of cmd."""
    p = subprocess.run(["/usr/bin/time", "-f", "@@ %e %M", *cmd], capture_output=True, text=True)
    if p.returncode not in (0, 3):
        sys.exit("failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), p.stderr))
    line = [x for x in p.stderr.splitlines() if x.startswith("@@ ")][-1].split()
    return float(line[1]), int(line[2]) / 1024.0, p.stderr


def count_lines(path):
    with open(path) as f:
        return sum(1 for _ in f)


def mlflow_db(path, first, runs, points):
    if first == 0:
        shutil.copy(os.path.join(SHARED, "fixtures", "mlflow", "mlflow_schema_only.db"), path)
    db = sqlite3.connect(path)
    db.execute("CREATE INDEX IF NOT EXISTS index_metrics_run_uuid ON metrics (run_uuid)")
    db.execute("INSERT OR IGNORE INTO experiments (experiment_id, name, artifact_location,"
               " lifecycle_stage) VALUES (1, 'bench', '/srv/mlruns/1', 'active')")
    for i in range(first, first + runs):
        rid = uuid.UUID(int=i + 1).hex
        t0 = 1700000000000 + i * 60000
        db.execute("INSERT INTO runs (run_uuid, name, source_type, source_name, user_id, status,"
                   " start_time, end_time, lifecycle_stage, artifact_uri, experiment_id) VALUES"
                   " (?, ?, 'LOCAL', 'train.py', 'ana', 'FINISHED', ?, ?, 'active', ?, 1)",
                   (rid, "run-%d" % i, t0, t0 + 50000, "/srv/mlruns/1/%s/artifacts" % rid))
        db.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
                       [("p%d" % k, str(k * i), rid) for k in range(10)])
        db.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan)"
                       " VALUES ('loss', ?, ?, ?, ?, 0)",
                       [(1.0 / (s + 1), t0 + s, rid, s) for s in range(points)])
    db.commit()
    db.close()


def bench_mlflow(mida, tmp, runs, points):
    db = os.path.join(tmp, "mlflow.db")
    mlflow_db(db, 0, runs, points)
    state = os.path.join(tmp, "state-mlflow")
    out = os.path.join(tmp, "mlflow.jsonl")
    cmd = [mida, "observe", "mlflow", "--db", db, "--once", "--state", state, "--jsonl", out]
    rows = []
    t, rss, _ = timed(cmd)
    n = count_lines(out)
    rows.append(("mlflow", "first pass: %d runs, %d metric points" % (runs, runs * points), t, rss, n))
    t, rss, _ = timed(cmd)
    rows.append(("mlflow", "idle poll", t, rss, count_lines(out) - n))
    n = count_lines(out)
    mlflow_db(db, runs, runs // 10, points)
    t, rss, _ = timed(cmd)
    rows.append(("mlflow", "poll after +%d runs" % (runs // 10), t, rss, count_lines(out) - n))
    return rows


def bench_logfile(mida, tmp, acq):
    log = os.path.join(tmp, "scope.log")
    script = os.path.join(SRC, "adapters", "logfile", "examples", "microscope.py")
    rules = os.path.join(SRC, "adapters", "logfile", "rules", "microscope.json")
    images = os.path.join(tmp, "images")

    def write(first, count, start):
        subprocess.run([sys.executable, script, "--log", log, "--out", images, "--session", "bench",
                        "--first", str(first), "--count", str(count), "--fail-every", "50"]
                       + (["--start-session"] if start else []), check=True)

    write(0, acq, True)
    state = os.path.join(tmp, "state-log")
    out = os.path.join(tmp, "log.jsonl")
    cmd = [mida, "observe", "logfile", "--file", log, "--rules", rules, "--once", "--state", state,
           "--jsonl", out, "--quiet-period", "0"]
    rows = []
    size = os.path.getsize(log)
    t, rss, _ = timed(cmd)
    n = count_lines(out)
    rows.append(("logfile", "first pass: %d acquisitions, %.1f MiB of log" % (acq, size / 2**20),
                 t, rss, n))
    t, rss, _ = timed(cmd)
    rows.append(("logfile", "idle poll", t, rss, count_lines(out) - n))
    n = count_lines(out)
    write(acq, acq // 10, False)
    t, rss, _ = timed(cmd)
    rows.append(("logfile", "poll after +%d acquisitions" % (acq // 10), t, rss,
                 count_lines(out) - n))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--points", type=int, default=5000)
    ap.add_argument("--acquisitions", type=int, default=20000)
    ap.add_argument("--mida", default=None)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    mida = a.mida or next((p for p in (os.path.join(SRC, "build-bench", "mida"),
                                        os.path.join(SRC, "build", "mida")) if os.path.exists(p)),
                          None)
    if not mida:
        sys.exit("no mida binary: build one, or give --mida")
    tmp = tempfile.mkdtemp(prefix="mida-bench-observe.")
    try:
        print("mlflow source ...", file=sys.stderr)
        rows = bench_mlflow(mida, tmp, a.runs, a.points)
        print("logfile source ...", file=sys.stderr)
        rows += bench_logfile(mida, tmp, a.acquisitions)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if a.json:
        print(json.dumps([dict(zip(("adapter", "poll", "seconds", "peak_rss_mib", "records"), r))
                          for r in rows], indent=1))
        return
    print("| adapter | poll | wall s | peak RSS MiB | records |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        print("| %s | %s | %.2f | %.0f | %d |" % r)


if __name__ == "__main__":
    main()
