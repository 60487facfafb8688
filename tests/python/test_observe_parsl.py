#!/usr/bin/python3
"""The Parsl adapter (`mida observe parsl`, adapters/parsl/parsl.c).

A: the real monitoring.db of ../shared/fixtures/parsl (one run, one task,
   one try, 5 status rows, 1 resource row, 3 block rows, 2 node rows) is
   observed into a store; its run, task and try are checked by SPARQL with
   their exact values (times with --tz UTC, +02:00 and TZ=America/New_York
   with the default --tz local; host, executor/block, batch job, telemetry,
   the junk stdout spec kept as metadata).
B: a richer database is written as Parsl's DatabaseManager writes it (the
   current master DDL, parsl_monitoring_schema_head.sql): run 1 with 7 tasks
   - dependencies, a task retried once, a task failing after a retry and its
   dep_fail dependent, a memo_done task, a join app - File inputs/outputs in
   their real repr, psutil samples, two blocks and two managers; run 2 (same
   DB, not completed) uses run 1's output.  Checked by SPARQL: task and try
   counts, every status and native state, exact times, hosts, parents,
   dependencies, the files (output of task 0 used by task 2 -> one data
   entity, wasInformedBy; run 2 -> run 1 through c.txt), telemetry.
   The same run written with the 2024-03 DDL (3 resource columns fewer)
   gives the same graph but for those telemetry extras.
C: restart mid-stream: the database is cut in the middle of one of the
   DatabaseManager's batches (status rows committed, their try rows not),
   observed --once with --state, completed, observed again: no try missing
   or doubled, the second run sends exactly the tries with new rows plus the
   two the first had to leave pending, and the store equals the one of a
   single pass over the full database (all N-Quads).
D: bad input: an unknown state, a status row of a task that is not there,
   junk File reprs and times are skipped or tolerated with messages naming
   them (exit status 3), the rest loads; a missing file, a file that is no
   database and a bad --tz fail with a message naming them.

Prints one line per check and "N passed, M failed".
"""
import datetime
import json
import os
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, read_jsonl  # noqa: E402

H = Harness("observe_parsl")
select, one = H.store_select, H.store_one
FIX = os.path.join(H.shared, "fixtures", "parsl")
REAL_DB = os.path.join(FIX, "parsl_monitoring_2024-03.db")
DDL_HEAD = os.path.join(FIX, "parsl_monitoring_schema_head.sql")
DDL_2024 = os.path.join(FIX, "parsl_monitoring_schema_2024-03.sql")
MIDA = "https://w3id.org/mida/ns#"
REAL_RUN = "ccadea94-066e-49b6-a286-6a35b2635225"


def observe(db, *extra, env=None):
    args = [H.mida, "observe", "parsl", "--db", db, *extra]
    return subprocess.run(args, capture_output=True, text=True, env=env or H.env,
                          timeout=120 * H.mult)



def nquads(store):
    r = H.mida_run("export", "--store", store, "--format", "nquads")
    return sorted(set(line for line in r.stdout.splitlines() if line.strip()))


def tasks_of(store, run):
    """taskId -> dict of the task's single-valued fields."""
    rows = select(store, """
SELECT ?id ?st ?native ?sub ?start ?end ?host ?env ?act ?parent WHERE {
  ?t a mida:Task ; mida:taskId ?id ; provone:wasPartOf ?w . ?w mida:workflowId "%s" .
  OPTIONAL { ?t mida:status ?st } OPTIONAL { ?t mida:nativeStatus ?native }
  OPTIONAL { ?t mida:submittedAtTime ?sub } OPTIONAL { ?t prov:startedAtTime ?start }
  OPTIONAL { ?t prov:endedAtTime ?end } OPTIONAL { ?t mida:hostname ?host }
  OPTIONAL { ?t mida:environmentId ?env } OPTIONAL { ?t mida:activityId ?act }
  OPTIONAL { ?t mida:parentTask ?p . ?p mida:taskId ?parent }
}""" % run)
    out = {}
    for r in rows:
        if r["id"] in out:
            out[r["id"]]["_dup"] = True
        r = dict(r)
        if "st" in r:
            r["st"] = r["st"].replace(MIDA, "")
        out[r["id"]] = r
    return out



# ---- A: the real database -------------------------------------------------

def section_a_real_fixture():
    store = H.path("store-real")
    r = observe(REAL_DB, "--tz", "UTC", "--once", "--no-state", "--to-store", store)
    if not H.check(r.returncode == 0, "A: observe on the real monitoring.db exits 0", r.stderr):
        return
    t = tasks_of(store, REAL_RUN)
    H.check(sorted(t) == ["0", "0.0"], "A: one task (0) and one try (0.0)", sorted(t))
    task, tr = t.get("0", {}), t.get("0.0", {})
    H.check(task.get("st") == "Finished" and task.get("native") == "exec_done"
            and tr.get("st") == "Finished" and tr.get("native") == "exec_done",
            "A: task and try Finished (exec_done)", (task, tr))
    H.check(task.get("act") == "this_app" and tr.get("act") == "this_app"
            and tr.get("parent") == "0", "A: activity this_app; the try's parent is task 0",
            (task, tr))
    H.check(task.get("sub") == "2024-03-06T12:38:15.832618Z"
            and task.get("start") == "2024-03-06T12:38:49.983654Z"
            and task.get("end") == "2024-03-06T12:38:50.418934Z",
            "A: task times = task_time_invoked, first running, task_time_returned (UTC)", task)
    H.check(tr.get("sub") == "2024-03-06T12:38:15.835993Z"
            and tr.get("start") == "2024-03-06T12:38:49.983654Z"
            and tr.get("end") == "2024-03-06T12:38:50.417216Z",
            "A: try times = pending row, task_try_time_running, task_try_time_returned", tr)
    H.check(tr.get("host") == "officialozioma" and tr.get("env") == "htex_Local/block/0"
            and "host" not in task, "A: the try ran on officialozioma in htex_Local/block/0", tr)
    rows = select(store, """
SELECT ?name ?user ?host ?start ?end ?st ?meta WHERE {
  ?w a mida:WorkflowRun ; mida:workflowId "%s" ; mida:workflowName ?name ;
     prov:wasAssociatedWith ?u ; mida:hostname ?host ; prov:startedAtTime ?start ;
     prov:endedAtTime ?end ; mida:status ?st ; mida:customMetadata ?meta .
  ?u a prov:Person ; <http://www.w3.org/2000/01/rdf-schema#label> ?user }""" % REAL_RUN)
    w = rows[0] if len(rows) == 1 else {}
    H.check(w.get("name") == "test_db_locks.py" and w.get("user") == "ozioma"
            and w.get("host") == "officialozioma" and w.get("st") == MIDA + "Finished"
            and w.get("start") == "2024-03-06T12:38:05.292364Z"
            and w.get("end") == "2024-03-06T12:39:01.080184Z",
            "A: the workflow run: name, user (prov:Person), host, time_began/completed, Finished",
            rows)
    meta = json.loads(w.get("meta", "{}"))
    blocks = meta.get("blocks", [])
    H.check(meta.get("rundir") == "/home/work/Open-Source/parsl-fork/runinfo/001"
            and meta.get("workflow_version") == "2024-03-06 12:38:05"
            and meta.get("tasks_completed_count") == 1
            and len(blocks) == 1 and blocks[0].get("job_id") == "66690"
            and [s["status"] for s in blocks[0].get("states", [])] == ["PENDING", "RUNNING",
                                                                      "CANCELLED"]
            and [m.get("uid") for m in meta.get("managers", [])] == ["5407a348df76"]
            and meta["managers"][0].get("active") is False
            and meta["managers"][0].get("cpu_count") == 2,
            "A: workflow metadata: rundir, version, counts, block 0 (job 66690: PENDING,"
            " RUNNING, CANCELLED), manager 5407a348df76", meta)
    rows = select(store, """
SELECT ?tmeta ?ymeta WHERE {
  ?t mida:taskId "0" ; mida:customMetadata ?tmeta .
  ?y mida:taskId "0.0" ; mida:customMetadata ?ymeta }""")
    tm = json.loads(rows[0]["tmeta"]) if rows else {}
    ym = json.loads(rows[0]["ymeta"]) if rows else {}
    H.check(tm.get("task_stdout", "").startswith('argument "stdfspec" (None) did not match')
            and tm.get("fail_count") == 0 and tm.get("tries") == 1
            and ym.get("job_id") == "66690" and ym.get("executor") == "htex_Local"
            and ym.get("launched_at") == "2024-03-06T12:38:15.859033Z",
            "A: the junk stdout spec is metadata, not a file; the try's batch job 66690", (tm, ym))
    rows = select(store, """
SELECT ?k ?v WHERE { ?y mida:taskId "0.0" ; mida:telemetryAtStart ?t . ?t ?k ?v }""")
    tel = {r["k"].replace(MIDA, ""): r["v"] for r in rows}
    extra = json.loads(tel.get("telemetryExtra", "{}"))
    con = sqlite3.connect("file:%s?mode=ro" % REAL_DB, uri=True)
    system = con.execute("SELECT psutil_process_time_system FROM resource").fetchone()[0]
    con.close()
    H.check(tel.get("cpuUserSeconds") == "4.38" and tel.get("cpuSystemSeconds") == repr(system)
            and tel.get("processRssBytes") == "119386112" and tel.get("ioReadBytes") == "11357065"
            and tel.get("ioWriteBytes") == "5630"
            and tel.get("capturedAtTime") == "2024-03-06T12:38:50.150683Z"
            and extra.get("psutil_process_pid") == 66921
            and extra.get("psutil_process_status") == "sleeping",
            "A: telemetry from the resource row (psutil columns -> mida keys, others extra)",
            tel)
    rows = select(store, "SELECT ?d WHERE { ?t mida:taskId ?id . { ?t prov:used ?d } UNION"
                         " { ?d prov:wasGeneratedBy ?t } }")
    H.check(rows == [], "A: no data entity from the 'None' inputs/outputs or the junk spec", rows)

    # the zone of the naive times
    r = observe(REAL_DB, "--tz", "+02:00", "--once", "--no-state", "--jsonl", "-")
    recs = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
    try0 = [x for x in recs if x.get("task_id") == "0.0"]
    H.check(r.returncode == 0 and try0 and try0[0].get("started_at")
            == "2024-03-06T10:38:49.983654Z",
            "A: --tz +02:00: 12:38:49.983654 is 10:38:49.983654Z", r.stderr + r.stdout[:500])
    env = dict(H.env, TZ="America/New_York")
    r = observe(REAL_DB, "--once", "--no-state", "--jsonl", "-", env=env)
    recs = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
    try0 = [x for x in recs if x.get("task_id") == "0.0"]
    H.check(r.returncode == 0 and try0 and try0[0].get("started_at")
            == "2024-03-06T17:38:49.983654Z",
            "A: default --tz local with TZ=America/New_York (EST): 17:38:49.983654Z",
            r.stderr + r.stdout[:500])


# ---- B: a richer database written like Parsl's DatabaseManager -------------

R1 = "5f3c0d2e-8a41-4c1b-9d7e-2b6f1a9c0e01"
R2 = "9b1e7c44-2d35-4f60-a8c2-71d0e5b3f702"
D = "/data/parsl-obs"
BASE = datetime.datetime(2025, 5, 12, 10, 0, 0)


def ts(sec):
    return (BASE + datetime.timedelta(seconds=sec)).strftime("%Y-%m-%d %H:%M:%S.%f")


def iso(sec):
    s = (BASE + datetime.timedelta(seconds=sec)).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return s.rstrip("0").rstrip(".") + "Z"


def frepr(path, url=None, addr=0x7f3b2c1d2e50):
    return ("<<class 'parsl.data_provider.files.File'> at 0x%x url=%s scheme=file netloc= path=%s"
            " filename=%s>" % (addr, url or path, path, os.path.basename(path)))


def dfrepr(path, done=True):
    return ("<parsl.app.futures.DataFuture object at 0x7f3b2c1e0a90 representing %s %s>"
            % (frepr(path, "file://" + path, 0x7f3b2c1e0b10), "done" if done else "not done"))


class Ops:
    """The writes of a Parsl run, in the order Parsl's DatabaseManager
    commits them (per batch: workflow counts, task insert/update, status,
    try insert, try update; resource, node, block)."""

    def __init__(self, head):
        self.head = head
        self.ops = []   # (sql, params, what) ; what = ("status"|"resource", run, task, try) or None
        self.cut = None

    def add(self, sql, params, what=None):
        self.ops.append((sql, params, what))

    def mark_cut(self):
        self.cut = len(self.ops)

    def workflow(self, run, name, sec, host, user):
        self.add("INSERT INTO workflow (run_id, workflow_name, workflow_version, time_began, host,"
                 " user, rundir, tasks_failed_count, tasks_completed_count)"
                 " VALUES (?,?,?,?,?,?,?,0,0)",
                 (run, name, ts(sec)[:19], ts(sec), host, user, "/home/%s/wf/runinfo/00%d"
                  % (user, 0 if run == R1 else 1)))

    def counts(self, run, ok, failed, end=None):
        if end is None:
            self.add("UPDATE workflow SET tasks_completed_count=?, tasks_failed_count=?"
                     " WHERE run_id=?", (ok, failed, run))
        else:
            self.add("UPDATE workflow SET tasks_completed_count=?, tasks_failed_count=?,"
                     " time_completed=? WHERE run_id=?", (ok, failed, ts(end), run))

    def task(self, run, tid, func, sec, depends="", inputs="None", outputs="None",
             stdout=None, stderr=None, hashsum=None):
        self.add("INSERT INTO task (task_id, run_id, task_depends, task_func_name, task_memoize,"
                 " task_hashsum, task_inputs, task_outputs, task_stdin, task_stdout, task_stderr,"
                 " task_time_invoked, task_time_returned, task_fail_count, task_fail_cost)"
                 " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,NULL,0,0.0)",
                 (tid, run, depends, func, "1" if hashsum else "0", hashsum, inputs, outputs,
                  None, stdout, stderr, ts(sec)))

    def task_update(self, run, tid, returned=None, fails=0):
        self.add("UPDATE task SET task_time_returned=?, task_fail_count=?, task_fail_cost=?"
                 " WHERE run_id=? AND task_id=?",
                 (ts(returned) if returned is not None else None, fails, float(fails), run, tid))

    def status(self, run, tid, try_id, word, sec):
        self.add("INSERT INTO status (task_id, task_status_name, timestamp, run_id, try_id)"
                 " VALUES (?,?,?,?,?)", (tid, word, ts(sec), run, try_id),
                 ("status", run, tid, try_id))

    def try_insert(self, run, tid, try_id, executor="htex_local"):
        self.add("INSERT INTO try (try_id, task_id, run_id, task_executor) VALUES (?,?,?,?)",
                 (try_id, tid, run, executor))

    def try_launched(self, run, tid, try_id, sec):
        self.add("UPDATE try SET task_try_time_launched=? WHERE run_id=? AND task_id=?"
                 " AND try_id=?", (ts(sec), run, tid, try_id))

    def try_running(self, run, tid, try_id, sec, host, block):
        # the worker's first message: a 'running' status row, then the try update
        self.status(run, tid, try_id, "running", sec)
        self.add("UPDATE try SET task_try_time_running=?, hostname=?, block_id=? WHERE run_id=?"
                 " AND task_id=? AND try_id=?", (ts(sec), host, block, run, tid, try_id))

    def try_returned(self, run, tid, try_id, sec, history=None):
        self.add("UPDATE try SET task_try_time_returned=?, task_fail_history=? WHERE run_id=?"
                 " AND task_id=? AND try_id=?", (ts(sec), history, run, tid, try_id))

    def resource(self, run, tid, try_id, sec, user, system, rss, rd, wr):
        cols = ["try_id", "task_id", "run_id", "timestamp", "resource_monitoring_interval",
                "psutil_process_pid", "psutil_process_memory_percent",
                "psutil_process_children_count", "psutil_process_time_user",
                "psutil_process_time_system", "psutil_process_memory_virtual",
                "psutil_process_memory_resident", "psutil_process_disk_read",
                "psutil_process_disk_write", "psutil_process_status"]
        vals = [try_id, tid, run, ts(sec), 1.0, 4242 + tid, 0.5, 0.0, user, system,
                float(rss * 3), float(rss), float(rd), float(wr), "running"]
        if self.head:
            cols += ["psutil_cpu_num", "psutil_process_num_ctx_switches_voluntary",
                     "psutil_process_num_ctx_switches_involuntary"]
            vals += ["3", 120.0, 7.0]
        self.add("INSERT INTO resource (%s) VALUES (%s)" % (", ".join(cols),
                                                            ",".join("?" * len(cols))),
                 tuple(vals), ("resource", run, tid, try_id))

    def block(self, run, block, job, sec, status):
        self.add("INSERT INTO block (run_id, executor_label, block_id, job_id, timestamp, status)"
                 " VALUES (?,?,?,?,?,?)", (run, "htex_local", block, job, ts(sec), status))

    def node(self, run, host, uid, block, sec, active):
        self.add("INSERT INTO node (run_id, hostname, uid, block_id, cpu_count, total_memory,"
                 " active, worker_count, python_v, timestamp, last_heartbeat)"
                 " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                 (run, host, uid, block, 8, 16 * 2 ** 30, active, 4, "3.11.9", ts(sec), ts(sec)))


def build_ops(head):
    o = Ops(head)
    A, B_, C = D + "/a.txt", D + "/b.txt", D + "/c.txt"
    o.workflow(R1, "synthetic.py", 0.100001, "login1", "alice")
    o.block(R1, "0", "7001", 0.500001, "PENDING")
    # batch: 7 tasks submitted
    o.task(R1, 0, "make_data", 1.000001, outputs="[%s]" % frepr(A, "file://" + A),
           hashsum="3f1a0c9e")
    o.task(R1, 1, "make_more", 1.010001, outputs="[%s]" % frepr(B_))
    o.task(R1, 2, "combine", 1.020001, depends="0,1",
           inputs="[%s, %s]" % (frepr(A), dfrepr(B_)), outputs="[%s]" % frepr(C),
           stdout=D + "/logs/combine.out", stderr=D + "/logs/combine.err")
    o.task(R1, 3, "explode", 1.030001)
    o.task(R1, 4, "after_explode", 1.040001, depends="3",
           inputs="[%s]" % dfrepr(D + "/x.txt", done=False), outputs="[%s]" % frepr(D + "/y.txt"))
    o.task(R1, 6, "outer", 1.050001)
    for tid, sec in ((0, 1.000101), (1, 1.010101), (2, 1.020101), (3, 1.030101), (4, 1.040101),
                     (6, 1.050101)):
        o.status(R1, tid, 0, "pending", sec)
    for tid in (0, 1, 2, 3, 4, 6):
        o.try_insert(R1, tid, 0)
    # batch: launched
    for tid, sec in ((0, 1.100201), (1, 1.110201), (3, 1.130201), (6, 1.150201)):
        o.status(R1, tid, 0, "launched", sec)
    for tid, sec in ((0, 1.100101), (1, 1.110101), (3, 1.130101), (6, 1.150101)):
        o.try_launched(R1, tid, 0, sec)
    o.block(R1, "0", "7001", 3.200001, "RUNNING")
    o.node(R1, "node1", "mgr-a1", "0", 4.000001, 1)
    o.try_running(R1, 0, 0, 5.200301, "node1", "0")
    o.try_running(R1, 1, 0, 5.300301, "node1", "0")
    o.try_running(R1, 3, 0, 5.400301, "node1", "0")
    o.try_running(R1, 6, 0, 5.500301, "node1", "0")
    o.resource(R1, 0, 0, 5.700001, 0.25, 0.05, 50_000_000, 1000, 0)
    o.status(R1, 6, 0, "running_ended", 5.600401)
    o.status(R1, 6, 0, "joining", 5.700501)
    o.resource(R1, 0, 0, 6.200001, 0.75, 0.125, 80_000_000, 4096, 2048)
    # batch: task 3 fails, a retry follows
    o.counts(R1, 0, 0)
    o.task_update(R1, 3, fails=1)
    o.status(R1, 3, 0, "fail_retryable", 6.500501)
    o.status(R1, 3, 1, "pending", 6.600101)
    o.try_insert(R1, 3, 1)
    o.try_returned(R1, 3, 0, 6.500001, "RuntimeError('boom 1')")
    o.status(R1, 3, 1, "launched", 6.700201)
    o.try_launched(R1, 3, 1, 6.700101)
    # the worker's last message of task 0, then the DFK's exec_done
    o.status(R1, 0, 0, "running_ended", 6.800401)
    o.counts(R1, 1, 0)
    o.task_update(R1, 0, returned=6.900601)
    o.status(R1, 0, 0, "exec_done", 6.900501)
    o.try_returned(R1, 0, 0, 6.900001)
    # task 5: the same call as task 0, answered from the memo table
    o.task(R1, 5, "make_data", 7.000001, hashsum="3f1a0c9e")
    o.status(R1, 5, 0, "pending", 7.000101)
    o.try_insert(R1, 5, 0)
    o.counts(R1, 2, 0)
    o.task_update(R1, 5, returned=7.100301)
    o.status(R1, 5, 0, "memo_done", 7.100201)
    # batch: task 1 fails once and is retried; cut after its status rows
    o.counts(R1, 2, 0)
    o.task_update(R1, 1, fails=1)
    o.status(R1, 1, 0, "fail_retryable", 7.400501)
    o.status(R1, 1, 1, "pending", 7.400601)
    o.status(R1, 1, 1, "launched", 7.500701)
    o.mark_cut()
    o.try_insert(R1, 1, 1)
    o.try_returned(R1, 1, 0, 7.400001, "ValueError('flaky')")
    o.try_launched(R1, 1, 1, 7.500601)
    o.block(R1, "1", "7002", 8.000001, "PENDING")
    o.block(R1, "1", "7002", 11.000001, "RUNNING")
    o.node(R1, "node2", "mgr-b2", "1", 11.500001, 1)
    o.try_running(R1, 1, 1, 12.000301, "node2", "1")
    o.try_running(R1, 3, 1, 12.500301, "node2", "1")
    o.resource(R1, 1, 1, 13.000001, 1.5, 0.25, 90_000_000, 8192, 4096)
    o.counts(R1, 2, 1)
    o.task_update(R1, 3, returned=13.000601, fails=2)
    o.status(R1, 3, 1, "failed", 13.000501)
    o.try_returned(R1, 3, 1, 13.000001, "RuntimeError('boom 2')")
    o.counts(R1, 2, 2)
    o.task_update(R1, 4, returned=13.100301)
    o.status(R1, 4, 0, "dep_fail", 13.100201)
    o.status(R1, 1, 1, "running_ended", 14.000401)
    o.counts(R1, 3, 2)
    o.task_update(R1, 1, returned=14.100601, fails=1)
    o.status(R1, 1, 1, "exec_done", 14.100501)
    o.try_returned(R1, 1, 1, 14.100001)
    o.status(R1, 2, 0, "launched", 14.200201)
    o.try_launched(R1, 2, 0, 14.200101)
    o.try_running(R1, 2, 0, 15.000301, "node1", "0")
    o.resource(R1, 2, 0, 16.000001, 2.0, 0.5, 60_000_000, 123456, 654321)
    o.status(R1, 2, 0, "running_ended", 17.000401)
    o.counts(R1, 4, 2)
    o.task_update(R1, 2, returned=17.100601)
    o.status(R1, 2, 0, "exec_done", 17.100501)
    o.try_returned(R1, 2, 0, 17.100001)
    o.counts(R1, 5, 2)
    o.task_update(R1, 6, returned=18.000601)
    o.status(R1, 6, 0, "exec_done", 18.000501)
    o.try_returned(R1, 6, 0, 18.000001)
    o.block(R1, "0", "7001", 19.000001, "CANCELLED")
    o.node(R1, "node1", "mgr-a1", "0", 19.500001, 0)
    o.counts(R1, 5, 2, end=20.000001)
    # run 2, in the same database, uses run 1's c.txt; still running
    o.workflow(R2, "downstream.py", 30.000001, "login2", "alice")
    o.block(R2, "0", "7101", 30.200001, "RUNNING")
    o.task(R2, 0, "analyse", 30.400001, inputs="[%s]" % frepr(C, "file://" + C))
    o.status(R2, 0, 0, "pending", 30.500101)
    o.try_insert(R2, 0, 0)
    o.status(R2, 0, 0, "launched", 30.600201)
    o.try_launched(R2, 0, 0, 30.600101)
    o.try_running(R2, 0, 0, 31.000301, "node3", "0")
    return o


def write_db(path, ddl, ops, upto=None, start=0):
    """Applies ops[start:upto] to the database at `path` (created with `ddl`)
    in one transaction: the observer runs only between two calls."""
    new = not os.path.exists(path)
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=OFF")
    if new:
        with open(ddl) as f:
            db.executescript(f.read())
    for sql, params, _ in ops[start:upto]:
        db.execute(sql, params)
    db.commit()
    db.close()


def expected_r1():
    """taskId -> (status, native) for run 1."""
    return {
        "0": ("Finished", "exec_done"), "0.0": ("Finished", "exec_done"),
        "1": ("Finished", "exec_done"), "1.0": ("Error", "fail_retryable"),
        "1.1": ("Finished", "exec_done"),
        "2": ("Finished", "exec_done"), "2.0": ("Finished", "exec_done"),
        "3": ("Error", "failed"), "3.0": ("Error", "fail_retryable"), "3.1": ("Error", "failed"),
        "4": ("Error", "dep_fail"), "4.0": ("Error", "dep_fail"),
        "5": ("Finished", "memo_done"), "5.0": ("Finished", "memo_done"),
        "6": ("Finished", "exec_done"), "6.0": ("Finished", "exec_done"),
    }


def check_synthetic(store, label, head):
    t1 = tasks_of(store, R1)
    exp = expected_r1()
    H.check(sorted(t1) == sorted(exp) and not any(v.get("_dup") for v in t1.values()),
            "%s: run 1 has 7 tasks and 9 tries (%d records), none twice" % (label, len(t1)),
            sorted(t1))
    got = {k: (v.get("st"), v.get("native")) for k, v in t1.items()}
    H.check(got == exp, "%s: every status and Parsl state (retries, failed, dep_fail,"
            " memo_done, joining->exec_done)" % label,
            {k: (got.get(k), exp.get(k)) for k in set(got) | set(exp) if got.get(k) != exp.get(k)})
    parents = {k: v.get("parent") for k, v in t1.items() if "." in k}
    H.check(all(parents[k] == k.split(".")[0] for k in parents)
            and not any(v.get("parent") for k, v in t1.items() if "." not in k),
            "%s: every try's mida:parentTask is its task; tasks have none" % label, parents)
    times = {k: (t1[k].get("sub"), t1[k].get("start"), t1[k].get("end")) for k in
             ("1", "1.0", "1.1", "4", "4.0", "5", "5.0", "2")}
    exp_t = {
        "1": (iso(1.010001), iso(5.300301), iso(14.100601)),
        "1.0": (iso(1.010101), iso(5.300301), iso(7.400001)),
        "1.1": (iso(7.400601), iso(12.000301), iso(14.100001)),
        "4": (iso(1.040001), None, iso(13.100301)),
        "4.0": (iso(1.040101), None, iso(13.100201)),
        "5": (iso(7.000001), None, iso(7.100301)),
        "5.0": (iso(7.000101), None, iso(7.100201)),
        "2": (iso(1.020001), iso(15.000301), iso(17.100601)),
    }
    H.check(times == exp_t, "%s: exact submitted/started/ended times (--tz UTC) of tasks and"
            " tries, including the retry and the tasks that never ran" % label,
            {k: (times[k], exp_t[k]) for k in exp_t if times.get(k) != exp_t[k]})
    hosts = {k: (v.get("host"), v.get("env")) for k, v in t1.items() if "." in k}
    H.check(hosts["1.0"] == ("node1", "htex_local/block/0")
            and hosts["1.1"] == ("node2", "htex_local/block/1")
            and hosts["5.0"] == (None, "htex_local") and hosts["3.1"][0] == "node2",
            "%s: hosts and executor/block of each try (the retry on another node)" % label,
            hosts)
    rows = select(store, """
SELECT ?a ?b WHERE { ?t mida:taskId ?a ; provone:wasPartOf ?w ; prov:wasInformedBy ?u .
  ?w mida:workflowId "%s" . ?u mida:taskId ?b } ORDER BY ?a ?b""" % R1)
    deps = sorted((r["a"], r["b"]) for r in rows)
    H.check(deps == [("2", "0"), ("2", "1"), ("4", "3")],
            "%s: task_depends as prov:wasInformedBy (2 <- 0, 1; 4 <- 3)" % label, deps)
    rows = select(store, """
SELECT ?loc ?gen ?genrun WHERE { ?d a provone:Data ; prov:atLocation ?loc .
  OPTIONAL { ?d prov:wasGeneratedBy ?g . ?g mida:taskId ?gen ; provone:wasPartOf ?gw .
             ?gw mida:workflowId ?genrun } } ORDER BY ?loc""")
    gen = sorted((r["loc"], r.get("gen")) for r in rows)
    H.check(gen == [(D + "/a.txt", "0"), (D + "/b.txt", "1"), (D + "/c.txt", "2"),
                    (D + "/logs/combine.err", "2"), (D + "/logs/combine.out", "2")],
            "%s: data entities: a/b/c.txt and task 2's stdout/stderr, each generated by its"
            " task (file:// URLs and plain paths are one entity; nothing from failed or"
            " dep_fail tasks)" % label, gen)
    rows = select(store, """
SELECT ?id ?run ?loc WHERE { ?t mida:taskId ?id ; provone:wasPartOf ?w ; prov:used ?d .
  ?w mida:workflowId ?run . ?d prov:atLocation ?loc } ORDER BY ?run ?id ?loc""")
    used = sorted((r["run"], r["id"], r["loc"]) for r in rows)
    H.check(used == sorted([(R1, "2", D + "/a.txt"), (R1, "2", D + "/b.txt"),
                            (R2, "0", D + "/c.txt")]),
            "%s: used: task 2 <- a.txt, b.txt (File and DataFuture reprs); run 2 <- c.txt;"
            " the dep_fail task used nothing" % label, used)
    rows = select(store, """
SELECT ?id WHERE { ?t mida:taskId "0" ; provone:wasPartOf ?w ; prov:wasInformedBy ?u .
  ?w mida:workflowId "%s" . ?u mida:taskId ?id ; provone:wasPartOf ?uw .
  ?uw mida:workflowId "%s" . ?w prov:wasInformedBy ?uw }""" % (R2, R1))
    H.check([r["id"] for r in rows] == ["2"],
            "%s: run 2's task wasInformedBy run 1's task 2 (through c.txt), and the runs"
            " too" % label, rows)
    rows = select(store, """
SELECT ?meta WHERE { ?t mida:taskId "4" ; provone:wasPartOf ?w ; mida:customMetadata ?meta .
  ?w mida:workflowId "%s" }""" % R1)
    meta = json.loads(rows[0]["meta"]) if rows else {}
    H.check(meta.get("declared_outputs") == [{"@id": D + "/y.txt"}]
            and meta.get("declared_inputs") == [{"@id": "file://" + D + "/x.txt"}],
            "%s: the dep_fail task's files are kept as declared ones in its metadata" % label,
            meta)
    rows = select(store, """
SELECT ?id ?u0 ?u1 ?rss1 ?extra WHERE { ?t mida:taskId ?id ; provone:wasPartOf ?w ;
  mida:telemetryAtStart ?s ; mida:telemetryAtEnd ?e . ?w mida:workflowId "%s" .
  ?s mida:cpuUserSeconds ?u0 . ?e mida:cpuUserSeconds ?u1 ; mida:processRssBytes ?rss1 .
  OPTIONAL { ?e mida:telemetryExtra ?extra } } ORDER BY ?id""" % R1)
    tel = {r["id"]: (r["u0"], r["u1"], r["rss1"]) for r in rows}
    H.check(tel == {"0.0": ("0.25", "0.75", "80000000"), "1.1": ("1.5", "1.5", "90000000"),
                    "2.0": ("2.0", "2.0", "60000000")},
            "%s: telemetry at start/end = first/last psutil sample of each try" % label, tel)
    extra = json.loads(rows[0].get("extra", "{}")) if rows else {}
    if head:
        H.check(extra.get("psutil_cpu_num") == "3"
                and extra.get("psutil_process_num_ctx_switches_voluntary") == 120.0,
                "%s: the columns of the current schema are kept as telemetry extras" % label,
                extra)
    else:
        H.check("psutil_cpu_num" not in extra and extra.get("psutil_process_pid") == 4242,
                "%s: the 2024-03 schema (3 resource columns fewer) reads the same" % label,
                extra)
    t2 = tasks_of(store, R2)
    H.check({k: (v.get("st"), v.get("native"), v.get("host")) for k, v in t2.items()}
            == {"0": ("Running", "running", None), "0.0": ("Running", "running", "node3")},
            "%s: run 2 (not completed): its task and try Running on node3" % label, t2)
    rows = select(store, """
SELECT ?w ?st ?end ?meta WHERE { ?r a mida:WorkflowRun ; mida:workflowId ?w ; mida:status ?st ;
  mida:customMetadata ?meta . OPTIONAL { ?r prov:endedAtTime ?end } } ORDER BY ?w""")
    runs = {r["w"]: r for r in rows}
    m1 = json.loads(runs.get(R1, {}).get("meta", "{}"))
    H.check(runs.get(R1, {}).get("st") == MIDA + "Finished"
            and runs[R1].get("end") == iso(20.000001)
            and runs.get(R2, {}).get("st") == MIDA + "Running" and "end" not in runs[R2]
            and m1.get("tasks_completed_count") == 5 and m1.get("tasks_failed_count") == 2
            and sorted(b["job_id"] for b in m1.get("blocks", [])) == ["7001", "7002"]
            and sorted(m["uid"] for m in m1.get("managers", [])) == ["mgr-a1", "mgr-b2"],
            "%s: run 1 Finished at time_completed with its counts, blocks and managers;"
            " run 2 Running" % label, rows)


def section_b_synthetic():
    for head, ddl, label in ((True, DDL_HEAD, "B(head DDL)"), (False, DDL_2024, "B(2024-03 DDL)")):
        ops = build_ops(head)
        db = H.path("b-%s.db" % ("head" if head else "2024"))
        write_db(db, ddl, ops.ops)
        store = H.path("store-b-%s" % ("head" if head else "2024"))
        r = observe(db, "--tz", "UTC", "--once", "--no-state", "--to-store", store)
        if H.check(r.returncode == 0, "%s: observe exits 0" % label, r.stderr):
            check_synthetic(store, label, head)


# ---- C: restart mid-stream -------------------------------------------------

def record_key(rec):
    return (rec.get("workflow_id"), rec.get("task_id"))


def section_c_restart():
    ops = build_ops(True)
    full = H.path("c-full.db")
    write_db(full, DDL_HEAD, ops.ops)
    grow = H.path("c-grow.db")
    write_db(grow, DDL_HEAD, ops.ops, upto=ops.cut)
    state = H.path("c-state")
    state_store = H.path("c-state-store")
    store2 = H.path("store-c-two-steps")
    j1, j2 = H.path("c-1.jsonl"), H.path("c-2.jsonl")
    r1 = observe(grow, "--tz", "UTC", "--once", "--state", state, "--jsonl", j1)
    r1s = observe(grow, "--tz", "UTC", "--once", "--state", state_store, "--to-store", store2)
    # the second half, as the DatabaseManager goes on committing
    write_db(grow, DDL_HEAD, ops.ops, start=ops.cut)
    r2 = observe(grow, "--tz", "UTC", "--once", "--state", state, "--jsonl", j2)
    r2s = observe(grow, "--tz", "UTC", "--once", "--state", state_store, "--to-store", store2)
    if not H.check(all(r.returncode == 0 for r in (r1, r1s, r2, r2s)),
                   "C: four observe --once runs over the growing database exit 0",
                   [r.stderr for r in (r1, r1s, r2, r2s)]):
        return
    a, b = read_jsonl(j1), read_jsonl(j2)
    tasks_a = {record_key(x) for x in a if "task_id" in x}
    tasks_b = {record_key(x) for x in b if "task_id" in x}
    expected = {(R1, k) for k in expected_r1()} | {(R2, "0"), (R2, "0.0")}
    H.check(tasks_a | tasks_b == expected,
            "C: the union of both runs has exactly the 18 tasks and tries",
            sorted(expected ^ (tasks_a | tasks_b)))
    H.check(len([x for x in a if "task_id" in x]) == len(tasks_a)
            and len([x for x in b if "task_id" in x]) == len(tasks_b),
            "C: no record is sent twice within one run")
    # what the second run must send: the tries and tasks with rows after the cut
    # (resource rows only change the try), plus the tries whose try row was
    # behind at the cut (1.0: returned time missing; 1.1: no try row yet)
    want = {(R1, "1.0"), (R1, "1.1")}
    for _, _, what in ops.ops[ops.cut:]:
        if what:
            kind, run, tid, try_id = what
            want.add((run, "%d.%d" % (tid, try_id)))
            if kind == "status":
                want.add((run, str(tid)))
    H.check(tasks_b == want,
            "C: the second run sends exactly the %d tries/tasks with new rows and the 2 left"
            " pending (not 0, 0.0, 3.0, 5, 5.0)" % len(want),
            {"extra": sorted(tasks_b - want), "missing": sorted(want - tasks_b)})
    pend_first = [x for x in a if x.get("task_id") in ("1.0", "1.1")]
    H.check(len(pend_first) == 2 and all("ended_at" not in x or x["task_id"] == "1.0"
                                         for x in pend_first)
            and [x.get("status") for x in pend_first if x["task_id"] == "1.0"] == ["ERROR"],
            "C: at the cut the lagging tries were sent with what was there (1.0 ERROR,"
            " 1.1 without its try row)", pend_first)
    wf_b = [x for x in b if "task_id" not in x]
    H.check(sorted(x["workflow_id"] for x in wf_b) == sorted([R1, R2]),
            "C: the second run re-sends run 1 (completed since) and sends run 2 (new)",
            [x.get("workflow_id") for x in wf_b])
    state_files = [x for x in os.listdir(state) if x.endswith(".cursor")]
    cur = {}
    if len(state_files) == 1:
        with open(os.path.join(state, state_files[0])) as f:
            cur = json.loads(json.load(f)["cursor"])
    H.check(len(state_files) == 1 and cur.get("pending") == [] and cur.get("status", 0) > 0
            and R2 in cur.get("open", {}) and R1 not in cur.get("open", {}),
            "C: the saved cursor: nothing pending, run 2 still open, run 1 closed",
            (state_files, cur))
    # a third run with nothing new sends nothing
    j3 = H.path("c-3.jsonl")
    r3 = observe(grow, "--tz", "UTC", "--once", "--state", state, "--jsonl", j3)
    H.check(r3.returncode == 0 and read_jsonl(j3) == [],
            "C: a third run with nothing new sends nothing", (r3.stderr, read_jsonl(j3)[:3]))
    # the status table rewritten (rows deleted and inserted again in another
    # order, one more added): the row under the cursor is another one, so
    # the cursor cannot be trusted and everything is read again
    con = sqlite3.connect(grow)
    rows = con.execute("SELECT task_id, task_status_name, timestamp, run_id, try_id FROM status"
                       " ORDER BY rowid DESC").fetchall()
    con.execute("DELETE FROM status")
    con.executemany("INSERT INTO status VALUES (?,?,?,?,?)", rows)
    con.execute("INSERT INTO status VALUES (0, 'running_ended', ?, ?, 0)", (ts(32.000401), R2))
    con.commit()
    con.close()
    j5 = H.path("c-5.jsonl")
    r5 = observe(grow, "--tz", "UTC", "--once", "--state", state, "--jsonl", j5)
    recs5 = read_jsonl(j5)
    t5 = {record_key(x): x for x in recs5 if "task_id" in x}
    H.check(r5.returncode == 0 and "not the database the cursor was made for" in r5.stderr
            and set(t5) == expected
            and t5.get((R2, "0.0"), {}).get("native_status") == "running_ended",
            "C: a rewritten status table (another row under the cursor) is read again from the"
            " start, with the new row", (r5.stderr, sorted(t5)[:3]))
    # the store of the two steps equals the store of one pass
    store1 = H.path("store-c-one-pass")
    r = observe(full, "--tz", "UTC", "--once", "--no-state", "--to-store", store1)
    q1, q2 = nquads(store1), nquads(store2)
    H.check(r.returncode == 0 and len(q1) > 300 and q1 == q2,
            "C: the store of the two steps equals the store of one pass (%d N-Quads)" % len(q1),
            {"only one pass": [x for x in q1 if x not in set(q2)][:5],
             "only two steps": [x for x in q2 if x not in set(q1)][:5]})
    # three polls of an unchanged database send it once
    j6 = H.path("c-6.jsonl")
    r6 = observe(full, "--tz", "UTC", "--max-polls", "3", "--interval", "0.1", "--state",
                 H.path("c-state-polls"), "--jsonl", j6)
    keys6 = [record_key(x) for x in read_jsonl(j6)]
    H.check(r6.returncode == 0 and len(keys6) == len(set(keys6)) == len(expected) + 2,
            "C: three polls of an unchanged database send each record once (%d)" % len(keys6),
            (r6.stderr, len(keys6)))
    # --from-start sends everything again
    j4 = H.path("c-4.jsonl")
    r4 = observe(grow, "--tz", "UTC", "--once", "--state", state, "--from-start", "--jsonl", j4)
    H.check(r4.returncode == 0 and {record_key(x) for x in read_jsonl(j4) if "task_id" in x}
            == expected, "C: --from-start sends all 18 tasks and tries again", r4.stderr)


# ---- E: many tasks: chunks and a cut at scale ------------------------------

def section_e_many_tasks():
    n = 1500
    R = "e0e0e0e0-1111-4222-8333-444455556666"
    ops = Ops(True)
    ops.workflow(R, "many.py", 0.5, "login1", "bob")
    for b in range(0, n, 50):
        batch = range(b, min(n, b + 50))
        t0 = 1.0 + b / 10.0
        for tid in batch:
            ops.task(R, tid, "work", t0)
        for tid in batch:
            ops.status(R, tid, 0, "pending", t0 + 0.000101)
        for tid in batch:
            ops.try_insert(R, tid, 0)
        for tid in batch:
            ops.status(R, tid, 0, "launched", t0 + 0.000201)
        if b == 750:
            ops.mark_cut()  # launched rows in, the try rows' launch times not yet
        for tid in batch:
            ops.try_launched(R, tid, 0, t0 + 0.000101)
        for tid in batch:
            ops.try_running(R, tid, 0, t0 + 1.000301, "node%d" % (tid % 4), "0")
            ops.resource(R, tid, 0, t0 + 1.5, 0.5, 0.1, 1000000 + tid, 0, 0)
            ops.status(R, tid, 0, "running_ended", t0 + 2.000401)
        for tid in batch:
            ops.task_update(R, tid, returned=t0 + 2.100601)
            ops.status(R, tid, 0, "exec_done", t0 + 2.100501)
        for tid in batch:
            ops.try_returned(R, tid, 0, t0 + 2.100001)
    ops.counts(R, n, 0, end=400.0)
    db = H.path("e-many.db")
    write_db(db, DDL_HEAD, ops.ops, upto=ops.cut)
    state = H.path("e-state")
    j1, j2 = H.path("e-1.jsonl"), H.path("e-2.jsonl")
    r1 = observe(db, "--tz", "UTC", "--once", "--state", state, "--jsonl", j1)
    write_db(db, DDL_HEAD, ops.ops, start=ops.cut)
    r2 = observe(db, "--tz", "UTC", "--once", "--state", state, "--jsonl", j2)
    if not H.check(r1.returncode == 0 and r2.returncode == 0,
                   "E: %d tasks (%d status rows, read in chunks) cut mid-batch: both runs exit 0"
                   % (n, 5 * n), (r1.stderr, r2.stderr)):
        return
    a, b = read_jsonl(j1), read_jsonl(j2)
    last = {}
    for rec in a + b:
        if "task_id" in rec:
            last[rec["task_id"]] = rec
    want = {str(i) for i in range(n)} | {"%d.0" % i for i in range(n)}
    H.check(set(last) == want, "E: every task and try is there (%d)" % len(want),
            sorted(want ^ set(last))[:10])
    bad = []
    for i in range(n):
        t0 = 1.0 + (i - i % 50) / 10.0
        tr, tk = last.get("%d.0" % i, {}), last.get(str(i), {})
        if (tr.get("native_status") != "exec_done" or tr.get("ended_at") != iso(t0 + 2.100001)
                or tr.get("started_at") != iso(t0 + 1.000301)
                or tr.get("custom_metadata", {}).get("launched_at") != iso(t0 + 0.000101)
                or tr.get("hostname") != "node%d" % (i % 4)
                or tr.get("telemetry_at_end", {}).get("process_rss_bytes") != 1000000 + i
                or tk.get("native_status") != "exec_done" or tk.get("ended_at")
                != iso(t0 + 2.100601)):
            bad.append((i, tr, tk))
    H.check(not bad, "E: the last record of each is complete and exact (exec_done, times,"
            " launch time from the lagging try rows, host, telemetry)", bad[:2])
    # re-sent: the 50 tries pending at the cut, and the tasks and tries
    # whose status rows a chunk boundary splits (the second run's chunks of
    # 500 rows do not line up with the batches of 250)
    sent = len([x for x in a + b if "task_id" in x])
    H.check(sent <= 1.4 * len(want),
            "E: chunking re-sends little: %d task records for %d tasks and tries"
            % (sent, len(want)), sent)


# ---- D: bad input ----------------------------------------------------------

def section_d_bad_input():
    ops = build_ops(True)
    db = H.path("d-bad.db")
    write_db(db, DDL_HEAD, ops.ops)
    con = sqlite3.connect(db)
    con.execute("INSERT INTO status VALUES (0, 'exploded', ?, ?, 0)", (ts(19.1), R1))
    bad_state = con.execute("SELECT max(rowid) FROM status").fetchone()[0]
    con.execute("INSERT INTO status VALUES (99, 'pending', ?, ?, 0)", (ts(19.2), R1))
    no_task = con.execute("SELECT max(rowid) FROM status").fetchone()[0]
    con.execute("INSERT INTO task (task_id, run_id, task_depends, task_func_name, task_memoize,"
                " task_inputs, task_outputs, task_stdout, task_time_invoked, task_fail_count,"
                " task_fail_cost) VALUES (7, ?, ' , 5,,', 'junk', '0', '[<File at 0x1 url=',"
                " 'garbage)(', 'None', 'yesterday', 0, 0.0)", (R1,))
    con.execute("INSERT INTO status VALUES (7, 'pending', ?, ?, 0)", (ts(19.3), R1))
    con.execute("INSERT INTO status VALUES (7, 'exec_done', '2025-02-30 10:00:00.000000', ?, 0)",
                (R1,))
    con.execute("INSERT INTO try (try_id, task_id, run_id, task_executor) VALUES (0, 7, ?, 'x')",
                (R1,))
    con.commit()
    con.close()
    store = H.path("store-d")
    r = observe(db, "--tz", "UTC", "--once", "--no-state", "--to-store", store)
    H.check(r.returncode == 3, "D: observe exits 3 (done, items skipped)", (r.returncode,
                                                                           r.stderr))
    H.check("status rowid %d" % bad_state in r.stderr and "exploded" in r.stderr,
            "D: the unknown state is reported with its status rowid", r.stderr)
    H.check("status rowid %d" % no_task in r.stderr and "task 99" in r.stderr,
            "D: the status row of a task that is not there is reported with its rowid", r.stderr)
    t1 = tasks_of(store, R1)
    exp = set(expected_r1()) | {"7", "7.0"}
    H.check(set(t1) == exp and t1["0"].get("native") == "exec_done",
            "D: the rest loads: all tasks and tries, task 0 still exec_done", sorted(t1))
    t7 = t1.get("7", {})
    H.check(t7.get("st") == "Finished" and t7.get("sub") == iso(19.3) and "end" not in t7,
            "D: task 7 with junk File reprs, depends and times loads (a time that is no time"
            " is left out: submitted_at falls back to the pending row)", t7)
    rows = select(store, """
SELECT ?b WHERE { ?t mida:taskId "7" ; prov:wasInformedBy ?u . ?u mida:taskId ?b }""")
    H.check([x["b"] for x in rows] == ["5"], "D: task_depends ' , 5,,' reads as [5]", rows)

    # a missing database, a file that is no database, a bad --tz
    missing = H.path("nowhere", "monitoring.db")
    r = observe(missing, "--once", "--no-state", "--jsonl", "-")
    H.check(r.returncode not in (0, 3) and missing in r.stderr,
            "D: a missing database fails naming it (exit %d)" % r.returncode, r.stderr)
    junk = H.path("junk.db")
    with open(junk, "w") as f:
        f.write("this is not a database\n" * 100)
    r = observe(junk, "--once", "--no-state", "--jsonl", "-")
    H.check(r.returncode not in (0, 3) and junk in r.stderr,
            "D: a file that is no database fails naming it (exit %d)" % r.returncode, r.stderr)
    r = observe(REAL_DB, "--tz", "Mars/Olympus", "--once", "--no-state", "--jsonl", "-")
    H.check(r.returncode not in (0, 3) and "--tz" in r.stderr and "Mars/Olympus" in r.stderr,
            "D: a bad --tz fails naming it (exit %d)" % r.returncode, r.stderr)
    # a database Parsl has created but not filled: nothing yet, not a failure
    empty = H.path("empty.db")
    sqlite3.connect(empty).close()
    r = observe(empty, "--once", "--no-state", "--jsonl", "-")
    H.check(r.returncode == 1 and r.stdout.strip() == "" and "no table 'workflow'" in r.stderr,
            "D: a database Parsl has not filled yet is 'not there yet' (retried, then exit 1)",
            (r.returncode, r.stderr))
    # the real fixture is read-only and never written
    before = os.stat(REAL_DB).st_mtime_ns
    observe(REAL_DB, "--once", "--no-state", "--jsonl", os.devnull)
    H.check(os.stat(REAL_DB).st_mtime_ns == before, "D: the database is only read")


if __name__ == "__main__":
    sys.exit(H.run([section_a_real_fixture, section_b_synthetic, section_c_restart,
                    section_e_many_tasks, section_d_bad_input]))
