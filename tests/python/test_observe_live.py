"""`mida observe` live: an adapter polling a tool's database while the tool
writes it, sending to a running `mida serve`, killed and restarted.

  A. A writer process plays MLflow: it creates N runs in an MLflow database
     (the current schema, from the fixtures), each RUNNING with params and
     metrics, then FINISHED, one every few tens of milliseconds.
     `mida observe mlflow --to ENDPOINT --interval 0.2` watches it.  Half-way
     through, the observer is killed with SIGKILL and started again with the
     same state directory.  At the end every run is in the store exactly
     once: N tasks, N Finished, each with one status, one start and one end,
     and every param and last metric value; the writer was never refused
     ("database is locked").  The restarted observer sent much less than a
     full pass over the database would (it did not start again from zero).
  B. With no integrator listening, an observer's records wait and its cursor
     does not move; one started later with a server delivers them (nothing
     skipped).
  C. Two observers of one source with one state directory: the second is
     refused, naming the source.
  D. An observer started before the tool has created its database waits
     for it (saying so), then reads it; with --once a missing database is
     an error naming it.
Needs MIDA_BIN (CTest sets it); exit 77 = skipped.
"""
import re
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, read_jsonl  # noqa: E402

H = Harness("observe-live")
SCHEMA_DB = os.path.join(H.shared, "fixtures", "mlflow", "mlflow_schema_only.db")
N_RUNS = 40
MIDA = "https://w3id.org/mida/ns#"
PREFIX = "PREFIX mida: <%s> PREFIX prov: <http://www.w3.org/ns/prov#> " % MIDA


def fresh_db(name):
    path = H.path(name)
    shutil.copy(SCHEMA_DB, path)
    db = sqlite3.connect(path)
    db.execute("INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage,"
               " creation_time, last_update_time) VALUES (1, 'live', '/tmp/mlruns/1', 'active',"
               " 1700000000000, 1700000000000)")
    db.commit()
    db.close()
    return path


class Writer(threading.Thread):
    """Plays MLflow's tracking store: each run is inserted RUNNING with its
    params and a few metric points, then updated to FINISHED."""

    def __init__(self, path, n, pause):
        super().__init__(daemon=True)
        self.path, self.n, self.pause = path, n, pause
        self.errors = []
        self.done = 0
        self.runs = []

    def run(self):
        db = sqlite3.connect(self.path, timeout=30)
        for i in range(self.n):
            rid = uuid.UUID(int=i + 1).hex
            t0 = 1700000000000 + i * 1000
            try:
                db.execute("INSERT INTO runs (run_uuid, name, source_type, source_name, user_id,"
                           " status, start_time, lifecycle_stage, artifact_uri, experiment_id)"
                           " VALUES (?, ?, 'LOCAL', 'train.py', 'ana', 'RUNNING', ?, 'active', ?, 1)",
                           (rid, "run-%d" % i, t0, "/tmp/mlruns/1/%s/artifacts" % rid))
                db.execute("INSERT INTO params (key, value, run_uuid) VALUES ('lr', ?, ?)",
                           (str(0.001 * (i + 1)), rid))
                db.commit()
                time.sleep(self.pause)
                for step in range(3):
                    db.execute("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan)"
                               " VALUES ('loss', ?, ?, ?, ?, 0)", (1.0 / (i + step + 1), t0 + step, rid, step))
                db.execute("UPDATE runs SET status = 'FINISHED', end_time = ? WHERE run_uuid = ?",
                           (t0 + 500, rid))
                db.commit()
            except sqlite3.Error as e:
                self.errors.append(repr(e))
            self.runs.append(rid)
            self.done = i + 1
            time.sleep(self.pause)
        db.close()


def observe(db, *args):
    log = open(H.path("observe-%d.log" % len(H.procs)), "w+")
    p = subprocess.Popen([H.mida, "observe", "mlflow", "--db", db, *args],
                         stdout=subprocess.DEVNULL, stderr=log, text=True, env=H.env)
    p.log = log
    H.procs.append(p)
    return p


def log_of(p):
    p.log.flush()
    with open(p.log.name) as f:
        return f.read()


def wait_for(pred, timeout):
    end = time.time() + timeout * H.mult
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    return pred()


def count(http, where):
    rows = H.select(http, PREFIX + "SELECT (COUNT(*) AS ?n) WHERE { %s }" % where)
    return int(rows[0]["n"]) if rows and "n" in rows[0] else -1


def records_sent(log):
    """The record count of an observer's summary line."""
    m = re.search(r"\d+ polls?, (\d+) records?", log)
    return int(m.group(1)) if m else -1


def section_a_live_with_kill():
    db = fresh_db("live.db")
    state = H.path("state-a")
    srv = H.serve(H.path("store-a"))
    obs = observe(db, "--to", srv.endpoint, "--state", state, "--interval", "0.2")
    w = Writer(db, N_RUNS, 0.05)
    w.start()
    H.check(wait_for(lambda: w.done >= N_RUNS // 2, 60), "the writer got half-way")
    # killed in the middle of its work: its cursor is where records were safe
    obs.kill()
    obs.wait()
    time.sleep(0.5)
    obs2 = observe(db, "--to", srv.endpoint, "--state", state, "--interval", "0.2")
    w.join(120 * H.mult)
    H.check(not w.errors, "the tool was never refused by the observer's reads", w.errors)
    finished = wait_for(lambda: count(srv.http, "?t a mida:Task ; mida:status mida:Finished")
                        == N_RUNS, 60)
    H.check(finished, "all %d runs are in the store, Finished" % N_RUNS,
            count(srv.http, "?t a mida:Task ; mida:status mida:Finished"))
    obs2.send_signal(signal.SIGTERM)
    rc = obs2.wait(60 * H.mult)
    H.check(rc == 0, "the restarted observer stops cleanly on SIGTERM", log_of(obs2))
    H.check("resuming from the cursor" in log_of(obs2), "the restarted observer resumed from "
            "its cursor", log_of(obs2))
    H.check(count(srv.http, "?t a mida:Task") == N_RUNS, "exactly %d tasks: none missing, none "
            "doubled" % N_RUNS, count(srv.http, "?t a mida:Task"))
    multi = H.select(srv.http, PREFIX + """SELECT ?t (COUNT(?s) AS ?n) WHERE {
        ?t a mida:Task ; mida:status ?s } GROUP BY ?t HAVING (COUNT(?s) > 1)""")
    H.check(not multi, "every task has one status", multi[:3])
    starts = count(srv.http, "?t a mida:Task ; prov:startedAtTime ?a ; prov:endedAtTime ?b")
    H.check(starts == N_RUNS, "every task has one start and one end time", starts)
    # every run's lr and last loss, exactly
    rows = H.select(srv.http, PREFIX + """SELECT ?id ?lr WHERE {
        ?t a mida:Task ; mida:taskId ?id ; prov:qualifiedUsage ?u .
        ?u prov:entity ?e . ?e mida:name "lr" ; prov:value ?lr }""")
    got = {r["id"]: r["lr"] for r in rows}
    want = {uuid.UUID(int=i + 1).hex: 0.001 * (i + 1) for i in range(N_RUNS)}
    H.check(len(got) == N_RUNS and all(abs(float(got[k]) - v) < 1e-12 for k, v in want.items()
                                       if k in got),
            "every run's param lr is there with its value", len(got))
    rows = H.select(srv.http, PREFIX + """SELECT ?id ?v WHERE {
        ?t a mida:Task ; mida:taskId ?id . ?e prov:wasGeneratedBy ?t ; mida:name "loss" ;
        prov:value ?v }""")
    got = {r["id"]: float(r["v"]) for r in rows}
    H.check(len(got) == N_RUNS and all(abs(got.get(uuid.UUID(int=i + 1).hex, -1) - 1.0 / (i + 3))
                                       < 1e-12 for i in range(N_RUNS)),
            "every run's last loss (step 2) is there", sorted(got.items())[:3])
    # a full pass over the finished database, for comparison: the restarted
    # observer, which began half-way, must have sent clearly less
    r = H.mida_run("observe", "mlflow", "--db", db, "--jsonl", H.path("full.jsonl"), "--no-state",
                   "--once")
    full = records_sent(r.stderr)
    second = records_sent(log_of(obs2))
    H.check(0 < second < 0.8 * full, "the restarted observer did not re-send everything "
            "(%d records; a full pass is %d)" % (second, full), (second, full, r.stderr))
    srv.stop()


def section_b_integrator_down():
    db = fresh_db("down.db")
    w = Writer(db, 5, 0)
    w.run()
    state = H.path("state-b")
    spool = H.path("spool-b")
    # nothing listens on this endpoint: the records wait, the cursor stays
    dead = "tcp://127.0.0.1:9"
    r = H.mida_run("observe", "mlflow", "--db", db, "--to", dead, "--state", state, "--once",
                   "--flush-timeout", "1", "--spool-dir", spool, timeout=120)
    H.check(r.returncode == 0, "with no integrator, --once ends (the records are spooled)",
            r.stderr)
    H.check("spool" in r.stderr, "it says the records are in the spool", r.stderr)
    cursors = [f for f in os.listdir(state) if f.endswith(".cursor")] if os.path.isdir(state) else []
    H.check(len(cursors) == 1, "the cursor was saved once the records were spooled", cursors)
    srv = H.serve(H.path("store-b"))
    # the next emitter with that spool directory delivers them, even with
    # nothing new in the source
    r = H.mida_run("observe", "mlflow", "--db", db, "--to", srv.endpoint, "--state", state,
                   "--once", "--spool-dir", spool, timeout=120)
    H.check(r.returncode == 0, "the next observer runs", r.stderr)
    n = wait_for(lambda: count(srv.http, "?t a mida:Task ; mida:status mida:Finished") == 5, 30)
    H.check(n, "the spooled runs reached the store", count(srv.http, "?t a mida:Task"))
    srv.stop()


def section_c_one_observer_per_source():
    db = fresh_db("one.db")
    state = H.path("state-c")
    first = observe(db, "--jsonl", H.path("c.jsonl"), "--state", state, "--interval", "0.2")
    time.sleep(1.0 * H.mult)
    r = H.mida_run("observe", "mlflow", "--db", db, "--jsonl", H.path("c2.jsonl"), "--state",
                   state, "--once")
    H.check(r.returncode == 1 and "another mida observe mlflow is watching" in r.stderr
            and "one.db" in r.stderr, "a second observer of the source is refused, naming it",
            r.stderr)
    first.send_signal(signal.SIGINT)
    H.check(first.wait(30 * H.mult) == 0, "SIGINT stops the first cleanly", log_of(first))


def section_d_waits_for_the_source():
    db = H.path("later", "mlflow.db")
    out = H.path("d.jsonl")
    p = observe(db, "--jsonl", out, "--state", H.path("state-d"), "--interval", "0.2")
    waiting = wait_for(lambda: "waiting for the source" in log_of(p), 30)
    H.check(waiting and p.poll() is None, "an observer started before the database waits for it",
            log_of(p))
    os.makedirs(os.path.dirname(db))
    shutil.copy(fresh_db("d-src.db"), db)
    Writer(db, 3, 0).run()
    got = wait_for(lambda: len([r for r in read_jsonl(out) if "task_id" in r]) >= 3, 30)
    H.check(got, "once the database is there, its runs are read", log_of(p))
    p.send_signal(signal.SIGTERM)
    H.check(p.wait(30 * H.mult) == 0, "and it stops cleanly", log_of(p))
    r = H.mida_run("observe", "mlflow", "--db", H.path("nowhere.db"), "--once", "--no-state",
                   "--jsonl", "-")
    H.check(r.returncode == 1 and "nowhere.db" in r.stderr and "No such file" in r.stderr,
            "with --once a missing database is an error naming it", r.stderr)


sys.exit(H.run([section_a_live_with_kill, section_b_integrator_down,
                section_c_one_observer_per_source, section_d_waits_for_the_source]))
