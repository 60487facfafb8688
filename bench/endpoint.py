#!/usr/bin/python3
"""endpoint.py - the HTTP endpoint's benchmarks (issue 4; bench/README.md,
section "Endpoint").  Builds nothing.

  bench/endpoint.py [--build DIR] [--runs N] [--only PHASES] [sizes...]

Phases (all by default), for each size (tasks; default 1000 10000):
  http       ASK {} over one kept-alive connection, --ask-n times: what
             the endpoint adds to any query (parse, lock, write, HTTP)
  queries    every queries/*.rq (and bench/queries/*.rq) POSTed to /sparql,
             --runs times each after one warm-up: median and [min-max]
             seconds, and the rows of the answer
  freshness  one task record sent with `mida emit` while the store holds
             the campaign; /sparql is polled (ASK) every 2 ms from the
             moment emit exits (the record is acknowledged, i.e. durable)
             until the task is answered: --runs times

The campaign is bench/gen_campaign.py's (three workflows shaped like
examples/campaign/), loaded with `mida ingest`, then served by one `mida
serve --http 127.0.0.1:0` per size (killed at the end; temp files removed
at exit).  Query timeout: --query-timeout (default 600 s).  The Markdown
summary goes to stdout, progress to stderr.

Environment: MIDA_BUILD (default build-bench, then build), TMPDIR.
"""
import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PROCS = []


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


class Endpoint:
    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=3600)

    def post(self, query, accept="application/sparql-results+json"):
        self.conn.request("POST", "/sparql", body=query.encode(),
                          headers={"Content-Type": "application/sparql-query", "Accept": accept})
        r = self.conn.getresponse()
        return r.status, r.read()


def rows_of(status, body):
    if status != 200:
        return "error %d: %s" % (status, body[:120].decode(errors="replace").strip())
    doc = json.loads(body)
    if "boolean" in doc:
        return "ask=%s" % doc["boolean"]
    return len(doc["results"]["bindings"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sizes", nargs="*", type=int, default=[1000, 10000])
    ap.add_argument("--build", default=os.environ.get("MIDA_BUILD"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", default="http,queries,freshness")
    ap.add_argument("--ask-n", type=int, default=2000)
    ap.add_argument("--query-timeout", type=int, default=600)
    args = ap.parse_args()
    build = args.build or next((os.path.join(ROOT, d) for d in ("build-bench", "build")
                                if os.path.exists(os.path.join(ROOT, d, "mida"))), None)
    if not build:
        sys.exit("no build with a mida binary (build-bench/ or build/); see bench/README.md")
    mida = os.path.join(build, "mida")
    phases = set(args.only.split(","))
    tmp = tempfile.mkdtemp(prefix="mida-bench-endpoint.")
    env = dict(os.environ, MIDA_SPOOL_DIR=os.path.join(tmp, "spool"))
    queries = sorted(os.path.join(d, f) for d in (os.path.join(ROOT, "queries"),
                                                   os.path.join(HERE, "queries"))
                     for f in os.listdir(d) if f.endswith(".rq"))
    out = []
    try:
        for n in args.sizes:
            recs = os.path.join(tmp, "c%d.jsonl" % n)
            with open(recs, "w") as f:
                subprocess.run(["/usr/bin/python3", os.path.join(HERE, "gen_campaign.py"),
                                "--tasks", str(n), "--seed", "1"], stdout=f, check=True)
            store = os.path.join(tmp, "s%d" % n)
            t0 = time.time()
            subprocess.run([mida, "ingest", "-q", "--store", store, recs], check=True, env=env)
            log("%d tasks ingested in %.1f s" % (n, time.time() - t0))
            srv = subprocess.Popen([mida, "serve", "--store", store, "--http", "127.0.0.1:0",
                                    "--listen", "tcp://127.0.0.1:0", "--query-timeout",
                                    str(args.query_timeout), "--max-rows", "100000000"],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                   env=env)
            PROCS.append(srv)
            url = srv.stdout.readline().strip()
            zmq_ep = srv.stdout.readline().strip()
            ep = Endpoint(url)
            out.append("\n### %d tasks\n" % n)
            if "http" in phases:
                lat = []
                for _ in range(args.ask_n):
                    t = time.perf_counter()
                    st, _ = ep.post("ASK {}")
                    lat.append(time.perf_counter() - t)
                    assert st == 200
                out.append("ASK {} over a kept-alive connection, %d requests: p50 %.0f us, "
                           "p99 %.0f us, %.0f requests/s\n" %
                           (args.ask_n, pct(lat, 50) * 1e6, pct(lat, 99) * 1e6,
                            len(lat) / sum(lat)))
            if "queries" in phases:
                out.append("| query | rows | median s | [min-max] |\n|---|---|---|---|")
                for q in queries:
                    text = open(q).read()
                    name = os.path.relpath(q, ROOT)
                    st, body = ep.post(text)           # warm-up
                    rows = rows_of(st, body)
                    times = []
                    for _ in range(args.runs if st == 200 else 0):
                        t = time.perf_counter()
                        st, body = ep.post(text)
                        times.append(time.perf_counter() - t)
                    if times:
                        out.append("| %s | %s | %.4f | [%.4f-%.4f] |" %
                                   (name, rows, statistics.median(times), min(times), max(times)))
                    else:
                        out.append("| %s | %s | - | - |" % (name, rows))
                    log("%d tasks: %s %s" % (n, name, out[-1]))
                out.append("")
            if "freshness" in phases:
                fr = []
                for k in range(args.runs):
                    rec = os.path.join(tmp, "fresh.jsonl")
                    tid = "fresh-%d-%d" % (n, k)
                    with open(rec, "w") as f:
                        f.write(json.dumps({"task_id": tid, "workflow_id": "wf-fresh",
                                            "activity_id": "probe", "status": "FINISHED",
                                            "started_at": "2024-01-01T00:00:00Z",
                                            "ended_at": "2024-01-01T00:00:01Z"}) + "\n")
                    subprocess.run([mida, "emit", "--to", zmq_ep, "-q", rec], check=True, env=env)
                    t = time.perf_counter()
                    ask = "ASK { <http://127.0.0.1:7878/task/wf-fresh/%s> ?p ?o }" % tid
                    while json.loads(ep.post(ask)[1])["boolean"] is not True:
                        time.sleep(0.002)
                    fr.append(time.perf_counter() - t)
                out.append("acknowledged -> answered by /sparql, %d runs: median %.1f ms "
                           "[%.1f-%.1f]\n" % (len(fr), statistics.median(fr) * 1e3,
                                              min(fr) * 1e3, max(fr) * 1e3))
            srv.kill()
            srv.wait()
            shutil.rmtree(store, ignore_errors=True)
        print("\n".join(out))
    finally:
        for p in PROCS:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
