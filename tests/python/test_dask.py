"""The Dask adapter (adapters/dask/mida_dask.py) on a real LocalCluster.

A: a script captured with mida_capture writes a file (workflow "acquire").
B: a Dask workflow on LocalCluster(2 workers, processes), registered with
   two lines: two maps and a reduction, a failing task and one that depends
   on it, a task retried once, a task whose argument is A's file, a NumPy
   result and an object whose repr raises; a third worker joins after the
   registration and runs a task.  The results are what Dask gives without
   the plugins; every task is checked by SPARQL against the store: statuses,
   exact used/generated values, dependencies, times, errors, the retry,
   hosts and workers, telemetry, the summary of a non-JSON value, the link
   to workflow A through the file.
C: the example of adapters/dask/README.md runs as written.

Prints one line per check and "N passed, M failed"; 77 when libmida cannot
be loaded by Python (sanitizer build) or distributed is missing.
"""
import datetime
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, readme_example  # noqa: E402

H = Harness("dask")
PYTHON = "/usr/bin/python3"
MIDA = "https://w3id.org/mida/ns#"
PREFIXES = """PREFIX mida: <https://w3id.org/mida/ns#>
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX provone: <http://purl.dataone.org/provone/2015/01/15/ontology#>
"""
ADAPTERS = os.path.join(H.src, "adapters")

ACQUIRE = r'''
import sys
from mida_capture import capture, workflow

@capture(outputs="table")
def acquire(path, rows):
    with open(path, "w") as f:
        f.write("".join("row %d\n" % i for i in range(rows)))
    return path

with workflow("acquire-1", workflow_name="acquire", campaign_id="cmp-dask"):
    acquire(sys.argv[1], 7)
'''

WORKFLOW = r'''
import json, os, sys, time
import numpy as np
from dask.distributed import Client, LocalCluster
from mida_dask import register

def incr(x):
    return x + 1

def double(x, factor=2):
    return x * factor

def total(values):
    return sum(values)

def fail_on_three(x):
    if x == 3:
        raise ValueError("three is not allowed")
    return x

def after_failure(x):
    return x

def flaky(marker):
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise RuntimeError("flaky: first attempt fails")
    return "second attempt"

def count_lines(path):
    with open(path) as f:
        return len(f.readlines())

def make_array(n):
    return np.arange(n, dtype=np.float64)

class Opaque:
    def __repr__(self):
        raise RuntimeError("no repr")

def opaque(tag):
    return Opaque()

def where(tag):
    return tag

if __name__ == "__main__":
    data_file, marker, capture = sys.argv[1], sys.argv[2], sys.argv[3] == "on"
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None)
    client = Client(cluster)
    reg = register(client, workflow_name="dask-test", campaign_id="cmp-dask") if capture else None

    a = client.map(incr, range(10))
    b = client.map(double, a)
    s = client.submit(total, b)
    bad = client.submit(fail_on_three, 3)
    blamed = client.submit(after_failure, bad)
    retried = client.submit(flaky, marker, retries=1)
    lines = client.submit(count_lines, data_file)
    arr = client.submit(make_array, 1000)
    opq = client.submit(opaque, "x")
    out = {"total": s.result(), "flaky": retried.result(), "lines": lines.result(),
           "array_sum": float(arr.result().sum()), "opaque": type(opq.result()).__name__}
    try:
        blamed.result()
    except ValueError as e:
        out["error"] = str(e)

    # a worker that joins after the registration
    before = set(client.scheduler_info()["workers"])
    cluster.scale(3)
    client.wait_for_workers(3, timeout=60)
    late = sorted(set(client.scheduler_info()["workers"]) - before)
    out["late_worker"] = late[0]
    out["late"] = client.submit(where, "late", workers=late).result()

    if reg is not None:
        out["workflow_id"] = reg.workflow_id
        out["stats"] = reg.close()
    client.close()
    cluster.close()
    print(json.dumps(out))
'''

EXPECTED = {"total": 110, "flaky": "second attempt", "lines": 7, "array_sum": 499500.0,
            "opaque": "Opaque", "error": "three is not allowed", "late": "late"}


def script_env(endpoint):
    env = dict(H.env, MIDA_ENDPOINT=endpoint, MIDA_LIB=os.path.join(H.build, "libmida.so"),
               PYTHONPATH=os.pathsep.join([os.path.join(ADAPTERS, "dask"),
                                           os.path.join(ADAPTERS, "python")]))
    return env


def run_py(path, args, env, timeout=240):
    t0 = time.monotonic()
    p = subprocess.run([PYTHON, path, *args], capture_output=True, text=True, env=env,
                       timeout=timeout * H.mult, cwd=H.tmp)
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t0


def write(name, text):
    path = H.path(name)
    with open(path, "w") as f:
        f.write(text)
    return path


def when(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def tasks(srv, wid):
    """{task_id: row} of workflow `wid`'s tasks."""
    rows = H.select(srv.http, PREFIXES + """
SELECT ?t ?id ?act ?st ?native ?sub ?start ?end ?host ?env ?err WHERE {
  ?t a mida:Task ; provone:wasPartOf ?w ; mida:taskId ?id ; mida:activityId ?act ;
     mida:status ?st .
  ?w mida:workflowId "%s" .
  OPTIONAL { ?t mida:nativeStatus ?native } OPTIONAL { ?t mida:submittedAtTime ?sub }
  OPTIONAL { ?t prov:startedAtTime ?start } OPTIONAL { ?t prov:endedAtTime ?end }
  OPTIONAL { ?t mida:hostname ?host } OPTIONAL { ?t mida:environmentId ?env }
  OPTIONAL { ?t mida:stderr ?err }
}""" % wid)
    return {r["id"]: r for r in rows}


def values(srv, wid, direction):
    """[(activity, task_id, name, value)] used or generated by wid's tasks."""
    pattern = "?t prov:used ?e" if direction == "used" else "?e prov:wasGeneratedBy ?t"
    rows = H.select(srv.http, PREFIXES + """
SELECT ?act ?id ?n ?v WHERE {
  ?t provone:wasPartOf ?w ; mida:taskId ?id ; mida:activityId ?act .
  ?w mida:workflowId "%s" .
  %s . ?e mida:name ?n ; prov:value ?v .
}""" % (wid, pattern))
    return [(r["act"], r["id"], r["n"], r["v"]) for r in rows]


def section_a_b_workflow():
    srv = H.serve(H.path("store"))
    try:
        env = script_env(srv.endpoint)
        data_file = H.path("table.txt")
        rc, out, err, secs = run_py(write("acquire.py", ACQUIRE), [data_file], env)
        H.check(rc == 0 and os.path.exists(data_file),
                "A: the mida_capture'd script writes %s (%.1f s)" % (data_file, secs), err)

        wf = write("workflow.py", WORKFLOW)
        rc, out, err, secs = run_py(wf, [data_file, H.path("marker-plain"), "off"], env)
        plain = json.loads(out.splitlines()[-1]) if rc == 0 and out.strip() else {}
        H.check(rc == 0 and all(plain.get(k) == v for k, v in EXPECTED.items()),
                "B: without the plugins the workflow gives the expected results (%.1f s)" % secs,
                (plain, err[-3000:]))

        rc, out, err, secs = run_py(wf, [data_file, H.path("marker-mida"), "on"], env)
        got = json.loads(out.splitlines()[-1]) if rc == 0 and out.strip() else {}
        H.check(rc == 0 and all(got.get(k) == v for k, v in EXPECTED.items()),
                "B: with register() the results are the same (%.1f s)" % secs,
                (got, err[-3000:]))
        H.check("mida_dask:" not in err and "mida_capture:" not in err,
                "B: the plugins log no warning", err[-3000:])
        st = got.get("stats") or {}
        bad = {w: c for w, c in st.items()
               if set(c) - {"records_sent"} or not c.get("records_sent")}
        H.check(len(st) == 4 and not bad,
                "B: scheduler and 3 workers sent records, none failed or unsent: %s"
                % {w: c.get("records_sent") for w, c in st.items()}, st)
        wid = got.get("workflow_id")
        H.check(bool(wid) and wid.startswith("dask-test-"), "B: the workflow id is %s" % wid)
        if not wid:
            return
        check_store(srv, wid, got, data_file)
    finally:
        srv.stop()


def check_store(srv, wid, got, data_file):
    T = tasks(srv, wid)
    by_act = {}
    for r in T.values():
        by_act.setdefault(r["act"], []).append(r)
    counts = {a: len(v) for a, v in by_act.items()}
    want = {"incr": 10, "double": 10, "total": 1, "fail_on_three": 1, "after_failure": 1,
            "flaky": 1, "count_lines": 1, "make_array": 1, "opaque": 1, "where": 1}
    H.check(counts == want, "B: 28 tasks, by function: %s" % counts, counts)

    status = {r["id"]: r["st"].rsplit("#", 1)[-1] for r in T.values()}
    errors = sorted(r["act"] for r in T.values() if status[r["id"]] == "Error")
    H.check(errors == ["after_failure", "fail_on_three"]
            and sum(1 for s in status.values() if s == "Finished") == 26,
            "B: 26 Finished, 2 Error (the failing task and its dependent)",
            sorted(set(status.values())))
    fail = by_act.get("fail_on_three", [{}])[0]
    H.check(fail.get("err", "").startswith("Traceback (most recent call last):\n")
            and fail.get("err", "").endswith("ValueError('three is not allowed')")
            and 'raise ValueError("three is not allowed")' in fail.get("err", "")
            and fail.get("native") == "erred",
            "B: the failed task's stderr has the traceback, exception type and message",
            fail)
    blamed = by_act.get("after_failure", [{}])[0]
    H.check(blamed.get("err") == "not run: its dependency %s failed" % fail.get("id"),
            "B: its dependent says which dependency failed", blamed)

    retried = by_act.get("flaky", [{}])[0]
    tags = H.select(srv.http, PREFIXES + 'SELECT ?g WHERE { <%s> mida:tag ?g }' % retried.get("t"))
    H.check(status.get(retried.get("id")) == "Finished" and [r["g"] for r in tags] == ["dask:retried"]
            and "flaky: first attempt fails" in retried.get("err", ""),
            "B: the retried task is Finished, tagged dask:retried, with the failed attempt's "
            "error in stderr", (retried, tags))

    # times: submitted <= started <= ended for every task that ran
    ran = [r for r in T.values() if r["act"] != "after_failure"]
    ok_times = all(r.get("sub") and r.get("start") and r.get("end")
                   and when(r["sub"]) <= when(r["start"]) <= when(r["end"]) for r in ran)
    H.check(ok_times, "B: every task that ran has submitted <= started <= ended",
            [r for r in ran if not (r.get("sub") and r.get("start") and r.get("end"))][:3])
    H.check(all(r.get("host") and r.get("env", "").startswith("tcp://127.0.0.1:") for r in ran),
            "B: every task that ran has its hostname and worker address",
            [r for r in ran if not r.get("env")][:3])
    late = by_act.get("where", [{}])[0]
    H.check(late.get("env") == got.get("late_worker"),
            "B: the worker that joined later records its task under the same workflow run",
            (late, got.get("late_worker")))

    # dependencies
    deps = H.select(srv.http, PREFIXES + """
SELECT ?a ?b WHERE { ?t provone:wasPartOf ?w ; mida:activityId ?a ; prov:wasInformedBy ?u .
  ?u mida:activityId ?b . ?w mida:workflowId "%s" }""" % wid)
    pairs = sorted((r["a"], r["b"]) for r in deps)
    H.check(pairs.count(("double", "incr")) == 10 and pairs.count(("total", "double")) == 10
            and ("after_failure", "fail_on_three") in pairs,
            "B: dependencies: 10 double<-incr, 10 total<-double, after_failure<-fail_on_three",
            pairs[:5])

    used = values(srv, wid, "used")
    gen = values(srv, wid, "generated")
    incr_out = {tid: int(v) for a, tid, n, v in gen if a == "incr"}
    incr_in = sorted(int(v) for a, tid, n, v in used if a == "incr" and n == "x")
    dbl_in = sorted(int(v) for a, tid, n, v in used if a == "double" and n == "x")
    dbl_factor = [v for a, tid, n, v in used if a == "double" and n == "factor"]
    H.check(incr_in == list(range(10)) and sorted(incr_out.values()) == list(range(1, 11)),
            "B: incr used x = 0..9 and generated 1..10", (incr_in, incr_out))
    H.check(dbl_in == list(range(1, 11)) and dbl_factor == ["2"] * 10,
            "B: double used the values incr generated (1..10) and the default factor 2",
            (dbl_in, dbl_factor))
    tot_in = [json.loads(v) for a, tid, n, v in used if a == "total" and n == "values"]
    tot_out = [v for a, tid, n, v in gen if a == "total"]
    H.check(len(tot_in) == 1 and sorted(tot_in[0]) == list(range(2, 22, 2)) and tot_out == ["110"],
            "B: total used the list [2, 4, ... 20] (its futures resolved) and generated 110",
            (tot_in, tot_out))
    arr = [json.loads(v) for a, tid, n, v in gen if a == "make_array"]
    H.check(len(arr) == 1 and arr[0].get("type") == "numpy.ndarray" and arr[0].get("shape") == [1000]
            and arr[0].get("dtype") == "float64" and arr[0].get("digest", "").startswith("sha256:"),
            "B: a NumPy result is summarised: type, shape, dtype, digest", arr)
    opq = [json.loads(v) for a, tid, n, v in gen if a == "opaque"]
    H.check(len(opq) == 1 and opq[0].get("repr", "").startswith("<Opaque instance at ")
            and opq[0].get("type", "").endswith("Opaque"),
            "B: a result whose repr raises is still recorded, as a summary", opq)

    # the file: a data entity shared with workflow A, so the runs are linked
    link = H.select(srv.http, PREFIXES + """
SELECT ?loc ?src ?wa WHERE {
  ?t mida:activityId "count_lines" ; prov:used ?d ; provone:wasPartOf ?w .
  ?w mida:workflowId "%s" .
  ?d a provone:Data ; prov:atLocation ?loc ; prov:wasGeneratedBy ?g .
  ?g mida:activityId ?src ; provone:wasPartOf ?wa0 . ?wa0 mida:workflowId ?wa .
  ?t prov:wasInformedBy ?g . ?w prov:wasInformedBy ?wa0 .
}""" % wid)
    H.check([(r["loc"], r["src"], r["wa"]) for r in link]
            == [(data_file, "acquire.acquire", "acquire-1")],
            "B: count_lines used the file workflow A generated; task and runs are linked", link)

    tele = H.select(srv.http, PREFIXES + """
SELECT (COUNT(?s) AS ?n) (COUNT(?e) AS ?m) WHERE {
  ?t provone:wasPartOf ?w ; mida:telemetryAtStart ?s ; mida:telemetryAtEnd ?e .
  ?w mida:workflowId "%s" }""" % wid)
    H.check(tele and int(tele[0]["n"]) >= 25,
            "B: tasks carry telemetry at start and end (%s)" % (tele and tele[0]["n"]), tele)

    run = H.select(srv.http, PREFIXES + """
SELECT ?st ?name ?c ?eng WHERE { ?w mida:workflowId "%s" ; a mida:WorkflowRun ; mida:status ?st ;
  mida:workflowName ?name ; provone:wasPartOf ?cmp ; prov:wasAssociatedWith ?eng .
  ?cmp mida:campaignId ?c . ?eng a prov:SoftwareAgent }""" % wid)
    H.check([(r["st"], r["name"], r["c"], r["eng"].rsplit("/", 1)[-1]) for r in run]
            == [(MIDA + "Finished", "dask-test", "cmp-dask", "dask")],
            "B: the workflow run: Finished, named, in campaign cmp-dask, run by the dask engine",
            run)


def section_c_readme():
    code = readme_example(os.path.join(ADAPTERS, "dask", "README.md"))
    if not H.check(code is not None and "/path/to/mida" in code,
                   "C: adapters/dask/README.md has a Python example"):
        return
    srv = H.serve(H.path("store-readme"))
    try:
        path = write("readme_example.py", code.replace("/path/to/mida", H.src))
        env = dict(H.env, MIDA_ENDPOINT=srv.endpoint, MIDA_LIB=os.path.join(H.build, "libmida.so"))
        rc, out, err, secs = run_py(path, [], env)
        H.check(rc == 0 and "mida_dask:" not in err,
                "C: the README example runs as written (%.1f s)" % secs, (out, err[-3000:]))
        rows = H.select(srv.http, PREFIXES + """
SELECT ?act (COUNT(?t) AS ?n) WHERE { ?t a mida:Task ; mida:activityId ?act ; mida:status mida:Finished ;
  provone:wasPartOf ?w . ?w mida:workflowName "hpo" ; provone:wasPartOf ?c . ?c mida:campaignId "cmp-1" }
GROUP BY ?act ORDER BY ?act""")
        got = {r["act"]: int(r["n"]) for r in rows}
        H.check(got.get("train", 0) >= 1 and "best" in got,
                "C: its tasks are in the store under workflow hpo, campaign cmp-1: %s" % got, got)
    finally:
        srv.stop()


if __name__ == "__main__":
    H.need_libmida()
    try:
        import distributed  # noqa: F401
        import numpy  # noqa: F401
    except ImportError as e:
        print("SKIP: %s (apt-get install python3-distributed python3-numpy)" % e)
        sys.exit(77)
    sys.exit(H.run([section_a_b_workflow, section_c_readme]))
