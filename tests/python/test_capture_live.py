#!/usr/bin/python3
"""The capture API end to end: real Python scripts against `mida serve`.

The "done when" check of issue 3: a Python script decorated with the capture
API, run while `mida serve` is up, appears in the store with its used and
generated values and telemetry, and a second script that reads the first
one's output file is linked to it by the derived links.

  A. `mida serve --listen tcp://127.0.0.1:0` prints its endpoint; script 1
     (workflow wf-acquire: @capture acquire(out_dir, exposure=0.5, n=3),
     writes frames.dat, returns a dict) and script 2 (workflow wf-analyse:
     @capture analyse(image) reads that file; @capture calibrate(...)
     raises, the script catches it; a `task()` block writes a report) run
     as separate processes with MIDA_ENDPOINT, MIDA_LIB, PYTHONPATH: exit 0
     within a bound, their own output unchanged, no capture warning, the
     spool directory empty afterwards.  The first Python example of
     adapters/python/README.md runs too (its "/path/to/mida" replaced by
     this source tree, no PYTHONPATH).  `mida status --json` reports
     batches applied and none refused.  SIGINT stops serve (exit 0).
  B. SPARQL over the store: every task Finished (calibrate: Error with the
     exception and traceback in mida:stderr) with prov:startedAtTime <=
     prov:endedAtTime; exactly one status and one start and end time per
     task; the used values exposure 0.5 (xsd:double) and n 3 (xsd:integer)
     with their qualified usages; the generated values (frames, mean, the
     image as a shared data entity at its path, the metric); telemetry
     nodes at start and end of every task with mida:processRssBytes > 0,
     mida:cpuPercent >= 0 and mida:capturedAtTime; the derived links:
     analyse prov:used the data entity that acquire prov:wasGeneratedBy,
     analyse prov:wasInformedBy acquire, wf-analyse prov:wasInformedBy
     wf-acquire (and not the other way round); the README example's
     evaluate task is linked to its train task the same way.
  C. Script 1 again with no integrator up (an ipc:// endpoint nobody
     serves, MIDA_CLOSE_TIMEOUT_MS=300): exits 0 quickly, its records wait
     in the spool directory; `mida serve` on that endpoint, then `mida emit
     --to EP /dev/null` with the same MIDA_SPOOL_DIR: exit 0, the spool is
     emptied and the task is in the store with its values and telemetry.
     Then serve stopped, script 1 offline once more (spooled), serve
     restarted on the same store, script 1 online with the same spool
     directory: its emitter delivers the spool before the script exits;
     the store holds the three runs' tasks, each once, Finished.

Prints one line per check and "N passed, M failed"; exit 1 on a failure, 77
(skip) without MIDA_BIN, without libmida.so, with a sanitizer build of it
(ctypes cannot load one into Python) or one without the emitter.
"""

import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Serve, libmida_skip_reason, readme_example  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
M = os.environ.get("MIDA_BIN")
SRC = os.environ.get("MIDA_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("MIDA_BUILD_DIR") or os.path.join(SRC, "build")
LIB = os.path.join(BUILD, "libmida.so")
ADAPTER = os.path.join(SRC, "adapters", "python")
PYTHON = "/usr/bin/python3"
MULT = float(os.environ.get("MIDA_TEST_TIMEOUT_MULTIPLIER", "1"))
SCRIPT_BOUND = 20 * MULT        # seconds a script may take with the integrator up
OFFLINE_CLOSE_MS = 300

MIDA = "https://w3id.org/mida/ns#"
PROV = "http://www.w3.org/ns/prov#"
XSD = "http://www.w3.org/2001/XMLSchema#"
BASE = "http://127.0.0.1:7878"  # the default base of a new store
PREFIXES = ("PREFIX mida: <%s> PREFIX prov: <%s> PREFIX xsd: <%s> "
            "PREFIX provone: <http://purl.dataone.org/provone/2015/01/15/ontology#> "
            % (MIDA, PROV, XSD))

# Script 1: acquires three frames into a file; workflow id from argv[2].
SCRIPT_ACQUIRE = r'''
import json, os, sys
from mida_capture import capture

WF = sys.argv[2] if len(sys.argv) > 2 else "wf-acquire"


@capture(workflow_id=WF, workflow_name="acquisition")
def acquire(out_dir, exposure=0.5, n=3):
    path = os.path.join(out_dir, "frames.dat")
    values = [exposure * (i + 1) for i in range(n)]
    with open(path, "w") as f:
        for v in values:
            f.write("%r\n" % v)
    return {"image": path, "frames": n, "mean": sum(values) / n}


if __name__ == "__main__":
    print(json.dumps(acquire(sys.argv[1], exposure=0.5, n=3)))
'''

# Script 2: reads script 1's file; one call raises; a task() block.
SCRIPT_ANALYSE = r'''
import json, os, sys
from mida_capture import capture, task


@capture(workflow_id="wf-analyse", workflow_name="analysis", outputs="metric")
def analyse(image):
    with open(image) as f:
        values = [float(line) for line in f if line.strip()]
    return sum(values)


@capture(workflow_id="wf-analyse")
def calibrate(image, gain):
    raise ValueError("calibration failed: gain %s out of range" % gain)


if __name__ == "__main__":
    image = sys.argv[1]
    metric = analyse(image)
    caught = None
    try:
        calibrate(image, gain=-2)
    except ValueError as e:
        caught = str(e)
    report = os.path.join(os.path.dirname(image), "report.json")
    with task(workflow_id="wf-analyse", activity_id="report") as t:
        t.used("metric", metric)
        with open(report, "w") as f:
            json.dump({"metric": metric}, f)
        t.generated("report", report)
    print(json.dumps({"metric": metric, "caught": caught, "report": report}))
'''

TMP = None
PROCS = []
PASSES = 0
FAILS = 0


def ok(msg):
    global PASSES
    PASSES += 1
    print("ok   " + msg, flush=True)


def bad(msg):
    global FAILS
    FAILS += 1
    print("FAIL " + msg, flush=True)


def check(cond, msg, detail=""):
    if cond:
        ok(msg)
    else:
        text = detail if isinstance(detail, str) else repr(detail)
        bad(msg + (": " + text[-3000:] if text else ""))
    return cond


def base_env():
    env = dict(os.environ)
    for k in ("MIDA_ENDPOINT", "MIDA_CAPTURE_FILE", "MIDA_CAPTURE", "MIDA_WORKFLOW_ID",
              "MIDA_WORKFLOW_NAME", "MIDA_CAMPAIGN_ID", "MIDA_CURVE_SERVER_KEY",
              "MIDA_CURVE_KEY_FILE", "MIDA_CLOSE_TIMEOUT_MS", "PYTHONPATH"):
        env.pop(k, None)
    env["MIDA_SPOOL_DIR"] = os.path.join(TMP, "spool-tools")
    env["MIDA_LIB"] = LIB
    return env


class Server(Serve):
    """`mida serve` on free ports (tests/python/harness.py), stopped with SIGINT."""

    def __init__(self, store, listen, name):
        ctx = types.SimpleNamespace(mida=M, tmp=TMP, procs=PROCS, env=base_env(), mult=MULT)
        super().__init__(ctx, store, listen=listen, log_name=name)

    def stop(self, sig=signal.SIGINT, timeout=30):
        return super().stop(sig, timeout)


def run_script(path, args, endpoint, spool, extra_env=None, pythonpath=True, timeout=60):
    """Runs a script as its own process: (rc, stdout, stderr, seconds)."""
    env = base_env()
    env["MIDA_ENDPOINT"] = endpoint
    env["MIDA_SPOOL_DIR"] = spool
    if pythonpath:
        env["PYTHONPATH"] = ADAPTER
    for k, v in (extra_env or {}).items():  # None: leave the variable out
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    t0 = time.monotonic()
    try:
        p = subprocess.run([PYTHON, path, *args], capture_output=True, text=True, env=env,
                           cwd=TMP, timeout=timeout * MULT)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = -1, e.stdout or "", "timed out after %s s\n%s" % (timeout, e.stderr or "")
        if isinstance(out, bytes):
            out = out.decode("utf-8", "replace")
        if isinstance(err, bytes):
            err = err.decode("utf-8", "replace")
    return rc, out, err, time.monotonic() - t0


def spool_files(spool):
    if not os.path.isdir(spool):
        return []
    return sorted(f for f in os.listdir(spool) if ".jsonl" in f)


def spool_records(spool):
    recs = []
    for name in spool_files(spool):
        with open(os.path.join(spool, name)) as f:
            recs += [json.loads(line) for line in f if line.strip()]
    return recs


def sparql(store, query):
    r = subprocess.run([M, "sparql", "--store", store, "--results", "json", PREFIXES + query],
                       capture_output=True, text=True, env=base_env(), timeout=60 * MULT)
    if r.returncode != 0:
        raise RuntimeError("sparql failed (%d): %s\n%s" % (r.returncode, r.stderr, query))
    res = json.loads(r.stdout)
    if "boolean" in res:
        return res["boolean"]
    return [{k: v["value"] for k, v in b.items()} for b in res["results"]["bindings"]]


def xsd_time(text):
    """An xsd:dateTime literal as seconds since the epoch (the fraction has
    as many digits as it needs, so the texts do not compare as strings)."""
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    main, _, rest = text.partition(".")
    frac = ""
    if rest:
        i = 0
        while i < len(rest) and rest[i].isdigit():
            i += 1
        frac, zone = rest[:i], rest[i:]
        text = main + zone
    t = datetime.datetime.fromisoformat(text).timestamp()
    return t + (float("0." + frac) if frac else 0.0)


def values_of(var, terms):
    """A VALUES block, always in the parenthesised form: rasqal 0.9.33
    misreads the short one-variable form `VALUES ?t { a b }` (one row of
    many columns: wrong answers, and heap corruption with a few terms)."""
    return "VALUES (%s) { %s }" % (var, " ".join("(%s)" % t for t in terms))


def ask(store, where):
    return sparql(store, "ASK { %s }" % where)


def status(endpoint):
    r = subprocess.run([M, "status", "--to", endpoint, "--json"], capture_output=True,
                       text=True, env=base_env(), timeout=30 * MULT)
    return json.loads(r.stdout) if r.returncode == 0 else None


def wf(w):
    return "<%s/workflow/%s>" % (BASE, w)


def tasks_of(store, workflow):
    """{activity_id: task IRI} of the tasks of one workflow run, and the rows."""
    rows = sparql(store, "SELECT ?t ?a WHERE { ?t a mida:Task ; provone:wasPartOf %s ; "
                  "mida:activityId ?a }" % wf(workflow))
    return {r["a"]: r["t"] for r in rows}, rows


# ---------------------------------------------------------------------------


def section_live(scripts):
    """A: the scripts against a running serve.  Returns the store, or None."""
    store = os.path.join(TMP, "store")
    spool = os.path.join(TMP, "spool-live")
    srv = Server(store, "tcp://127.0.0.1:0", "live")
    check(srv.endpoint.startswith("tcp://127.0.0.1:") and not srv.endpoint.endswith(":0"),
          "A: serve prints the endpoint it listens on", srv.endpoint)
    try:
        data = os.path.join(TMP, "data")
        os.mkdir(data)
        rc, out, err, secs = run_script(scripts["acquire"], [data, "wf-acquire"], srv.endpoint,
                                        spool)
        image = os.path.join(data, "frames.dat")
        got = json.loads(out) if rc == 0 and out.strip() else None
        check(rc == 0 and secs < SCRIPT_BOUND,
              "A: script 1 (wf-acquire) exits 0 in %.2f s (bound %.0f s)" % (secs, SCRIPT_BOUND),
              (rc, err))
        check(got == {"image": image, "frames": 3, "mean": 1.0} and os.path.exists(image),
              "A: script 1's return value is unchanged by the capture", (out, err))
        check(err == "", "A: script 1 writes nothing to stderr (no capture warning)", err)

        rc, out, err, secs = run_script(scripts["analyse"], [image], srv.endpoint, spool)
        got = json.loads(out) if rc == 0 and out.strip() else None
        check(rc == 0 and secs < SCRIPT_BOUND,
              "A: script 2 (wf-analyse) exits 0 in %.2f s (bound %.0f s)" % (secs, SCRIPT_BOUND),
              (rc, err))
        check(got is not None and got["metric"] == 3.0
              and got["caught"] == "calibration failed: gain -2 out of range",
              "A: script 2 reads script 1's file; the exception reaches the script unchanged",
              (out, err))
        check(err == "", "A: script 2 writes nothing to stderr (no capture warning)", err)

        code = readme_example(os.path.join(ADAPTER, "README.md"))
        if check(code is not None and "/path/to/mida" in code,
                 "A: adapters/python/README.md has a Python example"):
            example = os.path.join(TMP, "readme_example.py")
            with open(example, "w") as f:
                f.write(code.replace("/path/to/mida", SRC))
            # as written: its own sys.path line finds the module; and, when
            # this build is the repository's build/, the module finds libmida
            # there by itself (no MIDA_LIB)
            own = os.path.realpath(BUILD) == os.path.realpath(os.path.join(SRC, "build"))
            rc, out, err, secs = run_script(example, [], srv.endpoint, spool, pythonpath=False,
                                            extra_env={"MIDA_LIB": None} if own else None)
            check(rc == 0 and secs < SCRIPT_BOUND and err == "",
                  "A: the README example runs as written (exit %d, %.2f s%s)"
                  % (rc, secs, ", libmida found in build/" if own else ""), err)

        # the top-level README's example, with its file in the test's folder
        code = readme_example(os.path.join(SRC, "README.md"))
        if check(code is not None and "/tmp/frame-0001.dat" in code,
                 "A: README.md has a Python capture example"):
            example = os.path.join(TMP, "top_readme_example.py")
            frame = os.path.join(TMP, "frame-0001.dat")
            with open(example, "w") as f:
                # its own workflow id: wf-acquire is script 1's here
                f.write(code.replace("/tmp/frame-0001.dat", frame)
                        .replace('"wf-acquire"', '"wf-readme-top"'))
            rc, out, err, secs = run_script(example, [], srv.endpoint, spool)
            check(rc == 0 and err == "" and os.path.exists(frame),
                  "A: README.md's example runs (exit %d, %.2f s)" % (rc, secs), err)

        left = os.listdir(spool) if os.path.isdir(spool) else []
        check(left == [], "A: the spool directory is empty after the scripts", left)

        st = status(srv.endpoint)
        check(st is not None and st.get("refused") == 0 and st.get("applied", 0) >= 1
              and st.get("received", 0) >= st.get("applied", 0) and st.get("store_triples", 0) > 0,
              "A: mida status: %s batches applied, none refused" % (st and st.get("applied")), st)
    finally:
        rc = srv.stop(signal.SIGINT)
        log = srv.log_text()
    check(rc == 0, "A: SIGINT stops serve with exit 0", log[-2000:])
    check("0 refused" in log, "A: serve's log reports nothing refused", log[-2000:])
    return store


def section_store(store):
    """B: what the scripts left in the store."""
    acq, rows = tasks_of(store, "wf-acquire")
    check(list(acq) == ["acquire.acquire"], "B: wf-acquire has its one task", rows)
    ana, rows = tasks_of(store, "wf-analyse")
    check(sorted(ana) == ["analyse.analyse", "analyse.calibrate", "report"],
          "B: wf-analyse has its three tasks (analyse, calibrate, report)", rows)
    t1 = acq.get("acquire.acquire")
    t2 = ana.get("analyse.analyse")
    terr = ana.get("analyse.calibrate")
    trep = ana.get("report")
    if not (t1 and t2 and terr and trep):
        bad("B: tasks missing: the other store checks are skipped")
        return
    every = [t1, t2, terr, trep]
    values = values_of("?t", ["<%s>" % t for t in every])

    # status and times
    rows = sparql(store, "SELECT ?t ?s ?b ?e WHERE { %s ?t mida:status ?s . "
                  "OPTIONAL { ?t prov:startedAtTime ?b } OPTIONAL { ?t prov:endedAtTime ?e } }"
                  % values)
    by = {r["t"]: r for r in rows}
    want = {t1: "Finished", t2: "Finished", trep: "Finished", terr: "Error"}
    check(all(by.get(t, {}).get("s") == MIDA + s for t, s in want.items()),
          "B: three tasks mida:Finished, calibrate mida:Error", rows)
    check(all("b" in by.get(t, {}) and "e" in by.get(t, {})
              and xsd_time(by[t]["b"]) <= xsd_time(by[t]["e"]) for t in every),
          "B: every task has prov:startedAtTime <= prov:endedAtTime", rows)
    for prop in ("mida:status", "prov:startedAtTime", "prov:endedAtTime"):
        rows = sparql(store, "SELECT ?t (COUNT(?v) AS ?n) WHERE { %s ?t %s ?v } "
                      "GROUP BY ?t" % (values, prop))
        counts = {r["t"]: int(r["n"]) for r in rows}
        check(all(counts.get(t) == 1 for t in every), "B: each task has exactly one %s" % prop,
              counts)
    rows = sparql(store, "SELECT ?t (COUNT(?s) AS ?n) WHERE { ?t a mida:Task ; mida:status ?s } "
                  "GROUP BY ?t HAVING (COUNT(?s) > 1)")
    check(rows == [], "B: no task in the store has two statuses", rows)

    # the ERROR task
    rows = sparql(store, "SELECT ?err WHERE { <%s> mida:stderr ?err }" % terr)
    err = rows[0]["err"] if rows else ""
    check(len(rows) == 1 and "ValueError: calibration failed: gain -2 out of range" in err
          and "Traceback" in err and "calibrate" in err,
          "B: the ERROR task carries the exception and its traceback in mida:stderr", rows)
    rows = sparql(store, "SELECT ?name ?v WHERE { <%s> prov:used ?e . ?e a mida:Value ; "
                  "mida:name ?name ; prov:value ?v }" % terr)
    check(sorted((r["name"], r["v"]) for r in rows) == [("gain", "-2")],
          "B: the ERROR task keeps its used value gain = -2", rows)

    # used values of script 1
    rows = sparql(store, "SELECT ?name ?v ?dt WHERE { <%s> prov:used ?e . ?e a mida:Value ; "
                  "mida:name ?name ; prov:value ?v . BIND(DATATYPE(?v) AS ?dt) }" % t1)
    used = {r["name"]: (r["v"], r["dt"]) for r in rows}
    ex = used.get("exposure")
    check(ex is not None and float(ex[0]) == 0.5 and ex[1] == XSD + "double",
          "B: used value exposure = 0.5 (xsd:double)", used)
    check(used.get("n") == ("3", XSD + "integer"), "B: used value n = 3 (xsd:integer)", used)
    check(ask(store, "<%s> prov:qualifiedUsage ?u . ?u a prov:Usage ; prov:entity ?e ; "
              "mida:name \"exposure\" ; prov:hadRole ?role ; prov:atTime ?at . "
              "?e prov:value ?v" % t1),
          "B: the used value has its qualified usage (role, time)")
    data_dir = os.path.join(TMP, "data")
    check(ask(store, "<%s> prov:used ?d . ?d a provone:Data ; prov:atLocation \"%s\"" %
              (t1, data_dir)),
          "B: the out_dir argument (an absolute path) is used as a data entity")

    # generated values of script 1
    image = os.path.join(data_dir, "frames.dat")
    rows = sparql(store, "SELECT ?name ?v WHERE { ?e prov:wasGeneratedBy <%s> ; a mida:Value ; "
                  "mida:name ?name ; prov:value ?v }" % t1)
    gen = {r["name"]: r["v"] for r in rows}
    check(gen.get("frames") == "3" and float(gen.get("mean", "nan")) == 1.0,
          "B: generated values frames = 3 and mean = 1.0", gen)
    rows = sparql(store, "SELECT ?d WHERE { ?d prov:wasGeneratedBy <%s> ; a provone:Data ; "
                  "prov:atLocation \"%s\" ; prov:qualifiedGeneration ?g . "
                  "?g prov:activity <%s> ; mida:name \"image\" }" % (t1, image, t1))
    check(len(rows) == 1, "B: the file script 1 wrote is a generated data entity at its path",
          rows)
    rows = sparql(store, "SELECT ?v WHERE { ?e prov:wasGeneratedBy <%s> ; mida:name \"metric\" ; "
                  "prov:value ?v }" % t2)
    check(len(rows) == 1 and float(rows[0]["v"]) == 3.0,
          "B: script 2's analyse generated metric = 3.0", rows)

    # telemetry
    rows = sparql(store, "SELECT ?t ?p ?rss ?cpu ?at WHERE { %s %s ?t ?p ?n . "
                  "?n a mida:Telemetry ; mida:processRssBytes ?rss ; mida:cpuPercent ?cpu ; "
                  "mida:capturedAtTime ?at }"
                  % (values, values_of("?p", ["mida:telemetryAtStart", "mida:telemetryAtEnd"])))
    seen = {(r["t"], r["p"]) for r in rows
            if int(r["rss"]) > 0 and float(r["cpu"]) >= 0}
    want = {(t, MIDA + p) for t in every for p in ("telemetryAtStart", "telemetryAtEnd")}
    check(seen == want and len(rows) == len(want),
          "B: every task has telemetry at start and end with processRssBytes > 0 and "
          "cpuPercent >= 0", rows)
    rows = sparql(store, "SELECT ?t ?b ?e ?sa ?ea WHERE { %s "
                  "?t prov:startedAtTime ?b ; prov:endedAtTime ?e ; "
                  "mida:telemetryAtStart ?ns ; mida:telemetryAtEnd ?ne . "
                  "?ns mida:capturedAtTime ?sa . ?ne mida:capturedAtTime ?ea }" % values)
    check(len(rows) == 4 and all(xsd_time(r["sa"]) <= xsd_time(r["ea"]) for r in rows),
          "B: the start sample is not later than the end sample", rows)

    # the derived links
    check(ask(store, "<%s> prov:used ?d . ?d prov:wasGeneratedBy <%s> ; prov:atLocation \"%s\""
              % (t2, t1, image)),
          "B: analyse prov:used the data entity that acquire prov:wasGeneratedBy")
    check(ask(store, "<%s> prov:wasInformedBy <%s>" % (t2, t1)),
          "B: analyse prov:wasInformedBy acquire")
    check(ask(store, "<%s> prov:wasInformedBy <%s>" % (terr, t1)),
          "B: calibrate (ERROR, it used the file too) prov:wasInformedBy acquire")
    check(ask(store, "%s prov:wasInformedBy %s" % (wf("wf-analyse"), wf("wf-acquire"))),
          "B: the run wf-analyse prov:wasInformedBy the run wf-acquire")
    check(not ask(store, "{ <%s> prov:wasInformedBy ?x } UNION { %s prov:wasInformedBy ?y }"
                  % (t1, wf("wf-acquire"))),
          "B: nothing points the other way (acquire informed by nobody)")
    check(not ask(store, "<%s> prov:wasInformedBy ?x" % trep),
          "B: the report task (it used only a number) is linked to no task")
    check(ask(store, "?r prov:wasGeneratedBy <%s> ; prov:atLocation \"%s\"" %
              (trep, os.path.join(data_dir, "report.json"))),
          "B: the task() block generated its report file")
    rows = sparql(store, "SELECT ?w ?n WHERE { %s ?w a mida:WorkflowRun ; mida:workflowName ?n }"
                  % values_of("?w", [wf("wf-acquire"), wf("wf-analyse")]))
    check(sorted(r["n"] for r in rows) == ["acquisition", "analysis"],
          "B: both workflow runs are in the store with their names", rows)
    check(ask(store, "<%s> prov:wasAssociatedWith ?a . ?a a prov:SoftwareAgent ; "
              "mida:version ?v" % t1),
          "B: the task is associated with the Python engine (prov:SoftwareAgent, version)")

    # the README example
    train, rows = tasks_of(store, "hpo-07")
    evaluate, rows2 = tasks_of(store, "eval-02")
    tt = train.get("readme_example.train")
    te = evaluate.get("evaluate")
    if check(tt is not None and te is not None,
             "B: the README example's tasks train (hpo-07) and evaluate (eval-02) are stored",
             rows + rows2):
        rows = sparql(store, "SELECT ?name ?v WHERE { <%s> prov:used ?e . ?e mida:name ?name ; "
                      "prov:value ?v }" % tt)
        check(sorted((r["name"], r["v"]) for r in rows) == [("lr", "0.02")]
              and ask(store, "<%s> prov:used ?d . ?d prov:atLocation \"/data/train/images.h5\""
                      % tt),
              "B: README train: used lr = 0.02 and the dataset", rows)
        check(ask(store, "<%s> prov:used ?m . ?m prov:wasGeneratedBy <%s> ; "
                  "prov:atLocation \"/models/m3.pt\" . <%s> prov:wasInformedBy <%s> . "
                  "%s prov:wasInformedBy %s" % (te, tt, te, tt, wf("eval-02"), wf("hpo-07"))),
              "B: README evaluate is linked to train through /models/m3.pt")

    # the top-level README's example
    top, rows = tasks_of(store, "wf-readme-top")
    tt = top.get("top_readme_example.acquire")
    check(tt is not None and ask(store, "<%s> mida:status mida:Finished ; prov:used ?e . "
                                 "?e mida:name \"exposure\" ; prov:value ?v FILTER(?v = 0.5)" % tt)
          and ask(store, "?d prov:wasGeneratedBy <%s> ; a provone:Data" % tt),
          "B: README.md's acquire is stored: Finished, used exposure 0.5, generated the file",
          rows)


def section_offline(scripts):
    """C: script 1 with no integrator; its spool delivered by `mida emit`."""
    sock = "ipc://" + os.path.join(TMP, "off.sock")
    spool = os.path.join(TMP, "spool-off")
    data = os.path.join(TMP, "data-off")
    os.mkdir(data)
    rc, out, err, secs = run_script(
        scripts["acquire"], [data, "wf-offline"], sock, spool,
        {"MIDA_CLOSE_TIMEOUT_MS": str(OFFLINE_CLOSE_MS), "MIDA_LOG_LEVEL": "error"})
    limit = (OFFLINE_CLOSE_MS / 1000.0 + 10) * MULT
    check(rc == 0 and secs < limit,
          "C: script 1 with no integrator exits 0 in %.2f s (close timeout %d ms; limit %.0f s)"
          % (secs, OFFLINE_CLOSE_MS, limit), (rc, err))
    check(json.loads(out or "null") == {"image": os.path.join(data, "frames.dat"), "frames": 3,
                                        "mean": 1.0},
          "C: its return value is unchanged", out)
    recs = spool_records(spool)
    got = sorted((r.get("workflow_id"), r.get("task_id", "").split("-")[0], r.get("status"))
                 for r in recs)
    check(got == [("wf-offline", "acquire", "FINISHED"), ("wf-offline", "acquire", "RUNNING")],
          "C: its two records wait in the spool", (spool_files(spool), got))

    store = os.path.join(TMP, "store-off")
    srv = Server(store, sock, "offline")
    try:
        check(srv.endpoint == sock, "C: serve listens on the ipc endpoint", srv.endpoint)
        env = base_env()
        env["MIDA_SPOOL_DIR"] = spool
        t0 = time.monotonic()
        try:
            p = subprocess.run([M, "emit", "--to", sock, "--timeout", str(30 * MULT), "/dev/null"],
                               capture_output=True, text=True, env=env, timeout=60 * MULT)
            rc, err = p.returncode, p.stderr
        except subprocess.TimeoutExpired as e:
            rc, err = -1, "timed out: %r" % (e.stderr,)
        secs = time.monotonic() - t0
        check(rc == 0, "C: mida emit /dev/null with the same spool directory exits 0 (%.2f s)"
              % secs, err)
        left = spool_files(spool)
        check(left == [], "C: the spool is emptied", (left, os.listdir(spool)))
        st = status(srv.endpoint)
        check(st is not None and st.get("refused") == 0 and st.get("applied", 0) >= 1,
              "C: mida status: the spooled batch applied, none refused", st)
    finally:
        rc = srv.stop(signal.SIGINT)
        log = srv.log_text()
    check(rc == 0, "C: SIGINT stops serve with exit 0", log[-2000:])
    tasks, rows = tasks_of(store, "wf-offline")
    t = tasks.get("acquire.acquire")
    if not check(t is not None and len(tasks) == 1, "C: the spooled task arrived", rows):
        return
    rows = sparql(store, "SELECT ?s (COUNT(?e) AS ?ne) WHERE { <%s> mida:status ?s ; "
                  "prov:endedAtTime ?e } GROUP BY ?s" % t)
    check(rows == [{"s": MIDA + "Finished", "ne": "1"}],
          "C: it is Finished, with one status and one end time", rows)
    rows = sparql(store, "SELECT ?name ?v WHERE { <%s> prov:used ?e . ?e a mida:Value ; "
                  "mida:name ?name ; prov:value ?v }" % t)
    used = {r["name"]: r["v"] for r in rows}
    check(float(used.get("exposure", "nan")) == 0.5 and used.get("n") == "3",
          "C: with its used values exposure = 0.5, n = 3", used)
    check(ask(store, "<%s> mida:telemetryAtStart ?ns ; mida:telemetryAtEnd ?ne . "
              "?ns mida:processRssBytes ?a ; mida:cpuPercent ?b . "
              "?ne mida:processRssBytes ?c ; mida:cpuPercent ?d" % t),
          "C: and its telemetry")

    # the next capture program delivers a spool as well (not only `mida emit`)
    offline = {"MIDA_CLOSE_TIMEOUT_MS": str(OFFLINE_CLOSE_MS), "MIDA_LOG_LEVEL": "error"}
    os.mkdir(os.path.join(TMP, "data-off2"))
    rc, out, err, secs = run_script(scripts["acquire"], [os.path.join(TMP, "data-off2"),
                                                         "wf-offline-2"], sock, spool, offline)
    recs = spool_records(spool)
    check(rc == 0 and [r.get("workflow_id") for r in recs] == ["wf-offline-2"] * 2,
          "C: integrator stopped again: a second offline run spools its two records",
          (rc, err, recs))
    srv = Server(store, sock, "offline-2")
    try:
        os.mkdir(os.path.join(TMP, "data-on"))
        rc, out, err, secs = run_script(scripts["acquire"], [os.path.join(TMP, "data-on"),
                                                             "wf-online"], sock, spool)
        check(rc == 0 and secs < SCRIPT_BOUND and err == "",
              "C: integrator restarted: script 1 runs online in %.2f s" % secs, (rc, err))
        left = spool_files(spool)
        check(left == [], "C: that script's emitter delivered the spool before exiting", left)
    finally:
        rc = srv.stop(signal.SIGINT)
        log = srv.log_text()
    check(rc == 0 and "0 refused" in log, "C: SIGINT stops the restarted serve with exit 0",
          log[-2000:])
    rows = sparql(store, "SELECT ?w (COUNT(DISTINCT ?t) AS ?n) (COUNT(?s) AS ?ns) WHERE { "
                  "?t a mida:Task ; provone:wasPartOf ?wr ; mida:status ?s . "
                  "?wr mida:workflowId ?w } GROUP BY ?w")
    got = {r["w"]: (int(r["n"]), int(r["ns"])) for r in rows}
    check(got == {"wf-offline": (1, 1), "wf-offline-2": (1, 1), "wf-online": (1, 1)},
          "C: after the restart the store has the three runs' tasks, each once with one status",
          got)
    rows = sparql(store, "SELECT ?w ?s WHERE { ?t a mida:Task ; provone:wasPartOf ?wr ; "
                  "mida:status ?s . ?wr mida:workflowId ?w }")
    check(all(r["s"] == MIDA + "Finished" for r in rows) and len(rows) == 3,
          "C: all three Finished", rows)


def main():
    global TMP
    if not M or not os.access(M, os.X_OK):
        print("SKIP: MIDA_BIN not set")
        return 77
    why = libmida_skip_reason(LIB)
    if why:
        print("SKIP: " + why)
        return 77
    t0 = time.monotonic()
    TMP = tempfile.mkdtemp(prefix="mida-capture-live.")
    try:
        scripts = {}
        for name, code in (("acquire", SCRIPT_ACQUIRE), ("analyse", SCRIPT_ANALYSE)):
            scripts[name] = os.path.join(TMP, name + ".py")
            with open(scripts[name], "w") as f:
                f.write(code)
        store = None
        try:
            store = section_live(scripts)
        except Exception as e:
            bad("A raised %r" % e)
        if store:
            try:
                section_store(store)
            except Exception as e:
                bad("B raised %r" % e)
        try:
            section_offline(scripts)
        except Exception as e:
            bad("C raised %r" % e)
    finally:
        for p in PROCS:
            if p.poll() is None:
                p.kill()
                p.wait()
        if os.environ.get("MIDA_KEEP_TMP"):
            print("kept " + TMP)
        else:
            shutil.rmtree(TMP, ignore_errors=True)
    print("%d passed, %d failed (%.1f s)" % (PASSES, FAILS, time.monotonic() - t0))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
