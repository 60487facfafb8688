#!/usr/bin/python3
"""`mida observe mlflow` (adapters/mlflow/mlflow.c) on real MLflow tracking
databases, checked by SPARQL on the store it fills.

  * 1.26: the populated MLflow 1.26 database of ../shared/fixtures/mlflow
    (3 experiments, 16 runs: 12 FINISHED, 3 FAILED, 1 left RUNNING; 95
    params; 758 metric points; 2 registered versions): tasks per
    experiment, statuses, exact parameters, latest metric values and their
    full histories, times, the user, tags, artifact/model/registered version
    locations;
  * current schema: a database made by sqlite3 from MLflow's own DDL
    (mlflow_sqlite_schema.sql), with runs, a nested run, params, metrics
    (a NaN among them), a dataset input, a logged model produced by one run
    and used by the other, a registered version of it: parent, git commit
    in the plan, dataset and model locations, the run-to-run link the model
    makes; and the real 2.8 on-disk DDL (the fasttrackml dump: no
    inputs.step);
  * restart mid-stream: the 1.26 database cut after run 12 (half of the
    metric history, part of the params and tags gone, run 12 RUNNING),
    observed with --state, then the whole database put back and observed
    again: 16 runs, none twice, the second poll sends only the runs that
    changed, run 12 ends FINISHED with its 746 points, the crashed RUNNING
    run stays RUNNING, and the union equals a single full pass triple for
    triple; a third poll sends nothing; a VACUUM after deleting the last run
    makes the adapter read everything again;
  * live changes: a tag updated in place and a metric added to the RUNNING
    run, the run killed, a finished run deleted: each is sent again;
  * a writer that works as MLflow does (a run inserted RUNNING, then its
    tags, params and metric points in small transactions, a tag updated in
    place, the run ended) while `mida observe` polls every 20 ms: what the
    observer sent, loaded into a store, is the same set of triples as one
    pass over the final database;
  * bad input: a metric of no run, a run with an unknown status, a model
    history that is not JSON are skipped with messages naming them (exit 3),
    the rest loads; a missing database, a database that is not MLflow's and
    a bad option fail with a message naming them.

Prints one line per check and "N passed, M failed".
"""
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, read_jsonl  # noqa: E402

H = Harness("observe_mlflow")
select, one = H.store_select, H.store_one
FIX = os.path.join(H.shared, "fixtures", "mlflow")
DB126 = os.path.join(FIX, "mlops-zoomcamp_mlflow.db")
DDL = os.path.join(FIX, "mlflow_sqlite_schema.sql")
DUMP28 = os.path.join(FIX, "fasttrackml_mlflow-sqlite-7f2a7d5fae7d-v2.8.0.sql")
BASE = "http://127.0.0.1:7878"
ROOT = "/srv/mlflow"   # --artifact-root: the same locations from every copy
RUNNING = "ed26c46ac1b5477aadaf8963b8efd4a6"   # rowid 11, left RUNNING by a crash
AUTOLOG = "f02c412e075b42a68b850819aaef682c"   # rowid 12, 746 points of validation-rmse
REGISTERED = "b72e6dbe671840aea38aae813ee9dd9e"  # rowid 14, 2 registered versions
FIRST = "360240f5dfd44457806295ebdf7cc53c"     # rowid 1
LATE = {"b63a4351ab0d468ca9dfe215ffd3b1d7", REGISTERED, "99e81568a8ce49b2ac36fe10a815ffc2",
        "ae460140407d48e3ae6058907593bd78"}   # rowids 13..16


def observe(*args):
    return H.mida_run("observe", "mlflow", "--once", "-q", *args, timeout=120)




def task(run, exp=1):
    return "<%s/task/mlflow-experiment-%d/%s>" % (BASE, exp, run)



def copy_db(name):
    d = H.path(name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "mlflow.db")
    shutil.copy(DB126, path)
    os.chmod(path, 0o644)
    return path


def sql(path, *statements):
    con = sqlite3.connect(path)
    for s in statements:
        con.execute(s)
    con.commit()
    con.close()


def value_of(store, run, name, exp=1):
    t = task(run, exp)
    return one(store, 'SELECT ?v WHERE { { %s prov:used ?e } UNION { ?e prov:wasGeneratedBy %s } '
               '?e mida:name "%s" ; prov:value ?v }' % (t, t, name))


def history_points(store):
    """The number of metric points in every *.history value of the store."""
    rows = select(store, 'SELECT ?v WHERE { ?e prov:wasGeneratedBy ?t ; mida:name ?n ; prov:value ?v '
                  'FILTER(STRENDS(?n, ".history")) }')
    return sum(len(json.loads(r["v"])) for r in rows)


# ---- 1. the 1.26 database, one pass ---------------------------------------------

def full_126():
    db = copy_db("full")
    store = H.path("full", "store")
    p = observe("--db", db, "--no-state", "--to-store", store, "--artifact-root", ROOT)
    H.check(p.returncode == 0, "1.26: observe --once exits 0", p.stderr)
    H.check(one(store, "SELECT (COUNT(?t) AS ?n) WHERE { ?t a mida:Task }") == "16",
            "1.26: 16 tasks")
    names = sorted((r["w"], r["name"]) for r in select(
        store, "SELECT ?w ?name WHERE { ?w a mida:WorkflowRun ; mida:workflowName ?name }"))
    H.check(names == [(BASE + "/workflow/mlflow-experiment-%d" % i, n) for i, n in
                      enumerate(["Default", "nyc-taxi-experiment", "my-cool-experiment"])],
            "1.26: the 3 experiments are workflow runs mlflow-experiment-ID, named", names)
    per_wf = {r["name"]: r["n"] for r in select(store, """
        SELECT ?name (COUNT(?t) AS ?n) WHERE { ?w a mida:WorkflowRun ; mida:workflowName ?name .
        ?t a mida:Task ; provone:wasPartOf ?w } GROUP BY ?name""")}
    H.check(per_wf == {"nyc-taxi-experiment": "16"}, "1.26: nyc-taxi-experiment has the 16 runs", per_wf)
    st = {r["s"]: r["n"] for r in select(store, "SELECT ?s (COUNT(?t) AS ?n) WHERE { ?t a mida:Task ; "
                                               "mida:status ?s } GROUP BY ?s")}
    H.check(st == {"https://w3id.org/mida/ns#Finished": "12", "https://w3id.org/mida/ns#Error": "3",
                   "https://w3id.org/mida/ns#Running": "1"},
            "1.26: 12 Finished, 3 Error (FAILED), 1 Running", st)
    running = select(store, "SELECT ?id WHERE { ?t mida:status mida:Running ; mida:taskId ?id }")
    H.check([r["id"] for r in running] == [RUNNING], "1.26: the RUNNING run is %s" % RUNNING, running)
    H.check(select(store, "SELECT ?e WHERE { %s prov:endedAtTime ?e }" % task(RUNNING)) == [],
            "1.26: the RUNNING run has no end time")
    native = select(store, 'SELECT ?id WHERE { ?t mida:nativeStatus "FAILED" ; mida:taskId ?id }')
    H.check(sorted(r["id"] for r in native) == sorted(["be3b2ca11ba440dc9557cdfa342b4868",
                                                       "99e81568a8ce49b2ac36fe10a815ffc2",
                                                       "ae460140407d48e3ae6058907593bd78"]),
            "1.26: native status FAILED on the 3 failed runs", native)
    t = select(store, "SELECT ?s ?e WHERE { %s prov:startedAtTime ?s ; prov:endedAtTime ?e }" % task(FIRST))
    H.check(t == [{"s": "2022-05-25T09:39:37.548Z", "e": "2022-05-25T09:39:47.957Z"}],
            "1.26: run 1 started 1653471577548 ms and ended 1653471587957 ms", t)
    users = one(store, "SELECT (COUNT(?t) AS ?n) WHERE { ?t a mida:Task ; prov:wasAssociatedWith "
                       "<%s/agent/person/akshit73> }" % BASE)
    H.check(users == "16", "1.26: the user akshit73 is associated with the 16 runs", users)
    act = one(store, "SELECT ?a WHERE { %s mida:activityId ?a }" % task(FIRST))
    H.check(act == r"c:\Users\akshit73\anaconda3\envs\exp-tracking-env\lib\site-packages\ipykernel_launcher.py",
            "1.26: the plan is the source (tag mlflow.source.name)", act)
    # parameters: as typed values
    rows = select(store, 'SELECT ?n ?v (DATATYPE(?v) AS ?dt) WHERE { %s prov:used ?e . ?e mida:name ?n ; '
                  'prov:value ?v }' % task("be3b2ca11ba440dc9557cdfa342b4868"))
    got = {r["n"]: (r["v"], r["dt"].rsplit("#", 1)[-1]) for r in rows}
    H.check(len(got) == 7 and got.get("max_depth") == ("32", "integer")
            and got.get("objective") == ("reg:linear", "string")
            and got.get("learning_rate", ("", ""))[1] == "double"
            and float(got["learning_rate"][0]) == 0.07418679399379333,
            "1.26: run 2's 7 params: max_depth 32 (integer), learning_rate 0.07418679399379333, "
            "objective reg:linear", got)
    nparams = one(store, "SELECT (COUNT(?e) AS ?n) WHERE { ?t a mida:Task ; prov:used ?e . ?e a mida:Value }")
    H.check(nparams == "95", "1.26: 95 params used", nparams)
    text = value_of(store, AUTOLOG, "maximize")
    H.check(text == "None", "1.26: a param that is no number stays text ('None')", text)
    # metrics: latest value and full history
    v = value_of(store, AUTOLOG, "validation-rmse")
    H.check(v is not None and abs(float(v) - 6.3844410475318) < 1e-12,
            "1.26: validation-rmse of run 12 is its value at step 745: 6.3844410475318", v)
    hist = value_of(store, AUTOLOG, "validation-rmse.history")
    hist = json.loads(hist) if hist else []
    H.check(len(hist) == 746 and hist[0][0] == 0 and hist[-1][:2] == [745, 1653553355108]
            and [h[0] for h in hist] == list(range(746)),
            "1.26: its history has the 746 points, steps 0..745, the last at 1653553355108 ms",
            hist[-1:] if hist else hist)
    v = value_of(store, FIRST, "rmse")
    H.check(v is not None and abs(float(v) - 11.1672759411797) < 1e-10, "1.26: rmse of run 1 is 11.1672759411797", v)
    H.check(history_points(store) == 758, "1.26: 758 metric points in the histories", history_points(store))
    # tags
    tags = [r["g"] for r in select(store, "SELECT ?g WHERE { %s mida:tag ?g }" % task(FIRST))]
    H.check(tags == ["developer=Akshit Miglani"], "1.26: the user tag of run 1", tags)
    meta = json.loads(one(store, "SELECT ?m WHERE { %s mida:customMetadata ?m }" % task(AUTOLOG)) or "{}")
    H.check(meta.get("tags", {}).get("mlflow.autologging") == "xgboost"
            and meta.get("logged_model_history", [{}])[0].get("model_uuid") == "cc75eba031dd43639c2852bda5dce485",
            "1.26: system tags and the logged model history in custom metadata", meta)
    # data: artifacts, the logged model and the two registered versions
    rows = select(store, "SELECT ?n ?loc WHERE { ?d prov:wasGeneratedBy %s ; prov:qualifiedGeneration ?g ; "
                  "prov:atLocation ?loc . ?g prov:activity %s ; mida:name ?n }" % (task(REGISTERED), task(REGISTERED)))
    got = sorted((r["n"], r["loc"]) for r in rows)
    art = ROOT + "/mlruns/1/%s/artifacts" % REGISTERED
    want = sorted([("mlflow.artifacts", art), ("mlflow.model:models_mlflow", art + "/models_mlflow"),
                   ("mlflow.registered_model:nyc-taxi-regressor", art + "/models_mlflow"),
                   ("mlflow.registered_model:nyc-taxi-regressor", art + "/model")])
    H.check(got == want, "1.26: run 14 generated its artifacts, model and the 2 registered versions "
            "(at their locations)", got)
    meta = json.loads(one(store, "SELECT ?m WHERE { %s mida:customMetadata ?m }" % task(REGISTERED)) or "{}")
    stages = [(m.get("uri"), m.get("current_stage")) for m in meta.get("model_versions", [])]
    H.check(stages == [("models:/nyc-taxi-regressor/1", "Staging"), ("models:/nyc-taxi-regressor/2", "Production")],
            "1.26: the versions' stages in custom metadata", stages)
    two = one(store, "SELECT (COUNT(DISTINCT ?t) AS ?n) WHERE { ?d prov:wasGeneratedBy ?t ; prov:atLocation ?l "
                     "FILTER(STRENDS(?l, '/models_mlflow')) }")
    H.check(two == "2", "1.26: the two runs that logged models_mlflow generated two model entities", two)


# ---- 2. the current schema and the 2.8 DDL --------------------------------------

def make_current(path):
    with open(DDL) as f:
        text = f.read()
    con = sqlite3.connect(path)
    for stmt in text.split("\n\n"):
        if stmt.strip():
            con.execute(stmt)
    cur = con.cursor()
    cur.execute("INSERT INTO experiments VALUES (0, 'Default', '/srv/a/0', 'active', 1700000000000, 1700000000000)")
    cur.execute("INSERT INTO experiments VALUES (5, 'train-exp', '/srv/a/5', 'active', 1700000001000, 1700000001000)")
    cur.execute("INSERT INTO experiment_tags VALUES ('team', 'vision', 5)")
    runs = [("aaaa0000000000000000000000000001", "parent", "FINISHED", 1700000100000, 1700000200000),
            ("aaaa0000000000000000000000000002", "child", "RUNNING", 1700000110000, None)]
    for uuid, name, status, start, end in runs:
        cur.execute("INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, "
                    "status, start_time, end_time, source_version, lifecycle_stage, artifact_uri, "
                    "experiment_id, deleted_time) VALUES (?, ?, 'LOCAL', '', '', 'ana', ?, ?, ?, '', 'active', "
                    "?, 5, NULL)", (uuid, name, status, start, end, "/srv/a/5/%s/artifacts" % uuid))
    p, c = runs[0][0], runs[1][0]
    for k, v in [("mlflow.source.name", "/home/ana/train.py"), ("mlflow.source.git.commit", "abc123"),
                 ("mlflow.user", "ana"), ("stage", "dev")]:
        cur.execute("INSERT INTO tags VALUES (?, ?, ?)", (k, v, p))
    for k, v in [("mlflow.source.name", "/home/ana/train.py"), ("mlflow.parentRunId", p)]:
        cur.execute("INSERT INTO tags VALUES (?, ?, ?)", (k, v, c))
    cur.execute("INSERT INTO params VALUES ('lr', '0.1', ?)", (p,))
    cur.execute("INSERT INTO params VALUES ('layers', '3', ?)", (p,))
    for step, val, nan in [(0, 0.9, 0), (1, 0.5, 0), (2, 0.25, 0), (3, 0.0, 1)]:
        cur.execute("INSERT INTO metrics VALUES ('loss', ?, ?, ?, ?, ?)", (val, 1700000100000 + step * 1000, p, step, nan))
    cur.execute("INSERT INTO metrics VALUES ('acc', 0.75, 1700000150000, ?, 0, 0)", (p,))
    cur.execute("INSERT INTO datasets VALUES ('ds1', 5, 'train', 'd0e1f2a3', 'local', '{\"uri\": \"/data/train.csv\"}', NULL, "
                "'{\"num_rows\": 10}')")
    cur.execute("INSERT INTO datasets VALUES ('ds2', 5, 'gen', '77aa88bb', 'code', '{\"tags\": {}}', NULL, NULL)")
    cur.execute("INSERT INTO inputs VALUES ('in1', 'DATASET', 'ds1', 'RUN', ?, 0)", (p,))
    cur.execute("INSERT INTO input_tags VALUES ('in1', 'mlflow.data.context', 'training')")
    cur.execute("INSERT INTO inputs VALUES ('in2', 'DATASET', 'ds2', 'RUN', ?, 0)", (c,))
    mid = "m-0123456789abcdef0123456789abcdef"
    cur.execute("INSERT INTO logged_models VALUES (?, 5, 'net', 'file:///srv/a/5/models/%s/artifacts', "
                "1700000190000, 1700000195000, 2, 'active', NULL, ?, NULL)" % mid, (mid, p))
    cur.execute("INSERT INTO inputs VALUES ('out1', 'RUN_OUTPUT', ?, 'MODEL_OUTPUT', ?, 2)", (p, mid))
    cur.execute("INSERT INTO inputs VALUES ('in3', 'RUN_INPUT', ?, 'MODEL_INPUT', ?, 0)", (c, mid))
    cur.execute("INSERT INTO registered_models VALUES ('clf', 1700000196000, 1700000196000, NULL)")
    cur.execute("INSERT INTO model_versions (name, version, creation_time, last_updated_time, current_stage, "
                "source, run_id, status) VALUES ('clf', 1, 1700000196000, 1700000197000, 'None', ?, ?, 'READY')",
                ("models:/" + mid, p))
    con.commit()
    con.close()
    return p, c, mid


def current_schema():
    path = H.path("current", "mlflow.db")
    os.makedirs(os.path.dirname(path))
    parent, child, mid = make_current(path)
    store = H.path("current", "store")
    p = observe("--db", path, "--no-state", "--to-store", store)
    H.check(p.returncode == 0, "current: observe exits 0", p.stderr)
    rows = select(store, "SELECT ?id ?s WHERE { ?t a mida:Task ; mida:taskId ?id ; mida:status ?s }")
    got = sorted((r["id"], r["s"].rsplit("#", 1)[-1]) for r in rows)
    H.check(got == [(parent, "Finished"), (child, "Running")], "current: the two runs, Finished and Running", got)
    H.check(one(store, "SELECT ?p WHERE { %s mida:parentTask ?p }" % task(child, 5)) == "%s/task/mlflow-experiment-5/%s"
            % (BASE, parent), "current: the nested run's parent (mlflow.parentRunId)")
    act = one(store, "SELECT ?a WHERE { %s mida:activityId ?a }" % task(parent, 5))
    H.check(act == "/home/ana/train.py@abc123", "current: the plan is the source at its git commit", act)
    H.check(one(store, "SELECT ?n WHERE { <%s/workflow/mlflow-experiment-5> mida:workflowName ?n }" % BASE)
            == "train-exp", "current: experiment 5 is the workflow run 'train-exp'")
    H.check(value_of(store, parent, "lr", 5) == "0.1" and value_of(store, parent, "layers", 5) == "3",
            "current: params lr 0.1 and layers 3")
    H.check(value_of(store, parent, "loss", 5) is None, "current: the latest loss (step 3) is NaN: no value")
    hist = json.loads(value_of(store, parent, "loss.history", 5) or "[]")
    H.check(hist == [[0, 1700000100000, 0.9], [1, 1700000101000, 0.5], [2, 1700000102000, 0.25],
                     [3, 1700000103000, None]], "current: the loss history, NaN as null", hist)
    H.check(value_of(store, parent, "acc", 5) == "0.75", "current: acc 0.75")
    ds = select(store, "SELECT ?n ?loc WHERE { %s prov:qualifiedUsage ?u . ?u mida:name ?n ; prov:entity ?d . "
                "?d a provone:Data . OPTIONAL { ?d prov:atLocation ?loc } }" % task(parent, 5))
    H.check([(r["n"], r.get("loc")) for r in ds] == [("mlflow.dataset:training", "/data/train.csv")],
            "current: the dataset input is used at its source /data/train.csv (context training)", ds)
    ids = select(store, "SELECT ?i WHERE { %s prov:used ?d . ?d <http://purl.org/dc/terms/identifier> ?i }"
                 % task(child, 5))
    H.check([r["i"] for r in ids] == ["mlflow-dataset:77aa88bb"],
            "current: a dataset with no location is known by its digest", ids)
    loc = "/srv/a/5/models/%s/artifacts" % mid
    gen = sorted(r["n"] for r in select(store, "SELECT ?n WHERE { ?d prov:atLocation '%s' ; "
                                        "prov:qualifiedGeneration ?g . ?g mida:name ?n }" % loc))
    H.check(gen == ["mlflow.model:net", "mlflow.registered_model:clf"],
            "current: the logged model (and its registered version) generated at %s" % loc, gen)
    used = one(store, "SELECT ?n WHERE { %s prov:qualifiedUsage ?u . ?u mida:name ?n ; prov:entity ?d . "
                      "?d prov:atLocation '%s' }" % (task(child, 5), loc))
    H.check(used == "mlflow.model:net", "current: the child run used the model", used)
    H.check(select(store, "SELECT ?x WHERE { %s prov:wasInformedBy %s }" % (task(child, 5), task(parent, 5)))
            != [], "current: so the child run wasInformedBy the parent run (through the model)")

    # the 2.8 on-disk DDL (after Alembic): no inputs.step, quoted "key"
    path28 = H.path("current", "mlflow28.db")
    con = sqlite3.connect(path28)
    with open(DUMP28) as f:
        con.executescript(f.read())
    run = "bbbb0000000000000000000000000001"
    con.execute("INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, "
                "start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id, "
                "deleted_time) VALUES (?, 'r', 'LOCAL', '', '', 'bo', 'KILLED', 1698026615000, 1698026616000, '', "
                "'active', 'mlflow-artifacts:/0/x/artifacts', 0, NULL)", (run,))
    con.execute("INSERT INTO params VALUES ('alpha', 'x', ?)", (run,))
    con.execute("INSERT INTO metrics VALUES ('m', 1.5, 1698026615500, ?, 0, 0)", (run,))
    con.execute("INSERT INTO datasets VALUES ('d', 0, 'ds', 'abcd', 'http', '{\"url\": \"https://h.org/d.csv\"}', NULL, NULL)")
    con.execute("INSERT INTO inputs VALUES ('i', 'DATASET', 'd', 'RUN', ?)", (run,))
    con.commit()
    con.close()
    store28 = H.path("current", "store28")
    p = observe("--db", path28, "--no-state", "--to-store", store28)
    H.check(p.returncode == 0, "2.8: observe exits 0", p.stderr)
    rows = select(store28, "SELECT ?s ?v ?loc ?art WHERE { ?t a mida:Task ; mida:status ?s ; prov:used ?d ; "
                  "prov:used ?p . ?p mida:name 'alpha' ; prov:value ?v . ?d prov:atLocation ?loc . "
                  "?a prov:wasGeneratedBy ?t ; <http://purl.org/dc/terms/identifier> ?art }")
    H.check([(r["s"].rsplit("#", 1)[-1], r["v"], r["loc"], r["art"]) for r in rows]
            == [("Error", "x", "https://h.org/d.csv", "mlflow-artifacts:/0/x/artifacts")],
            "2.8: the KILLED run (Error), its param, its dataset URL, its artifacts' id", rows)
    H.check(value_of(store28, run, "m", 0) == "1.5", "2.8: the metric")


# ---- 3. restart mid-stream ------------------------------------------------------------

def restart():
    db = copy_db("restart")
    state = H.path("restart", "state")
    sql(db, "DELETE FROM runs WHERE rowid > 12", "DELETE FROM params WHERE rowid > 76",
        "DELETE FROM metrics WHERE rowid > 400", "DELETE FROM tags WHERE rowid > 47",
        "DELETE FROM model_versions", "DELETE FROM model_version_tags", "DELETE FROM registered_models",
        "UPDATE runs SET status = 'RUNNING', end_time = NULL WHERE run_uuid = '%s'" % AUTOLOG)
    common = ("--db", db, "--state", state, "--artifact-root", ROOT)
    p1 = H.path("restart", "p1.jsonl")
    p = observe(*common, "--jsonl", p1)
    H.check(p.returncode == 0, "restart: first poll exits 0", p.stderr)
    r1 = [r for r in read_jsonl(p1) if "task_id" in r]
    ids1 = [r["task_id"] for r in r1]
    H.check(len(ids1) == 12 and len(set(ids1)) == 12, "restart: the first poll sends the 12 runs once each", ids1)
    auto = [r for r in r1 if r["task_id"] == AUTOLOG]
    h = auto[0].get("generated", {}).get("validation-rmse.history", []) if auto else []
    H.check(auto and auto[0]["status"] == "RUNNING" and len(h) == 391,
            "restart: run 12 is RUNNING with 391 of its points", (auto[0]["status"], len(h)) if auto else auto)

    shutil.copy(DB126, db)   # MLflow goes on: everything else arrives
    p2 = H.path("restart", "p2.jsonl")
    p = observe(*common, "--jsonl", p2)
    H.check(p.returncode == 0, "restart: second poll exits 0", p.stderr)
    r2 = read_jsonl(p2)
    ids2 = sorted(r.get("task_id", "workflow " + r.get("workflow_id", "")) for r in r2)
    H.check(ids2 == sorted(LATE | {AUTOLOG}),
            "restart: the second poll sends only runs 13..16 and run 12 (which changed); not the open "
            "RUNNING run whose row did not change, no experiment again", ids2)
    auto = [r for r in r2 if r.get("task_id") == AUTOLOG]
    g = auto[0].get("generated", {}) if auto else {}
    H.check(auto and auto[0]["status"] == "FINISHED" and auto[0].get("ended_at") == "2022-05-26T08:23:24.278Z"
            and len(g.get("validation-rmse.history", [])) == 746 and "mlflow.model:model" in g
            and len(auto[0].get("used", {})) == 12,
            "restart: run 12 is FINISHED with its 746 points, its 12 params and its model",
            {k: v for k, v in (auto[0] if auto else {}).items() if k in ("status", "ended_at")})
    p3 = H.path("restart", "p3.jsonl")
    p = observe(*common, "--jsonl", p3)
    H.check(p.returncode == 0 and read_jsonl(p3) == [], "restart: a third poll sends nothing", read_jsonl(p3)[:2])

    # the union equals one full pass
    full = H.path("restart", "full.jsonl")
    observe("--db", db, "--no-state", "--artifact-root", ROOT, "--jsonl", full)
    sx, sy = H.path("restart", "store-two"), H.path("restart", "store-one")
    a = H.mida_run("ingest", "--store", sx, p1, p2)
    b = H.mida_run("ingest", "--store", sy, full)
    H.check(a.returncode == 0 and b.returncode == 0, "restart: both load", a.stderr + b.stderr)
    for s, name in [(sx, "two polls"), (sy, "one pass")]:
        n = one(s, "SELECT (COUNT(?t) AS ?n) WHERE { ?t a mida:Task }")
        st = one(s, "SELECT ?s WHERE { %s mida:status ?s }" % task(RUNNING))
        H.check(n == "16" and st and st.endswith("#Running") and history_points(s) == 758,
                "restart (%s): 16 tasks, the crashed run still Running, 758 metric points" % name, (n, st))
    ex = []
    for s in (sx, sy):
        e = H.mida_run("export", "--store", s, "--format", "ntriples")
        ex.append(set(line for line in e.stdout.splitlines() if line.strip()))
    H.check(ex[0] == ex[1] and len(ex[0]) > 1000,
            "restart: the two polls give the same %d triples as one pass" % len(ex[1]),
            "only in two polls: %s; only in one pass: %s" % (sorted(ex[0] - ex[1])[:3], sorted(ex[1] - ex[0])[:3]))

    # VACUUM after deleting the last run: rowids are no longer what the
    # cursor says, so everything is read again
    sql(db, "DELETE FROM tags WHERE run_uuid = 'ae460140407d48e3ae6058907593bd78'",
        "DELETE FROM runs WHERE run_uuid = 'ae460140407d48e3ae6058907593bd78'")
    con = sqlite3.connect(db)
    con.execute("VACUUM")
    con.close()
    p4 = H.path("restart", "p4.jsonl")
    p = H.mida_run("observe", "mlflow", "--once", "--db", db, "--state", state, "--artifact-root", ROOT,
                   "--jsonl", p4)
    r4 = read_jsonl(p4)
    H.check(p.returncode == 0 and "rewritten" in p.stderr and len([r for r in r4 if "task_id" in r]) == 15
            and len(r4) == 18, "restart: after a VACUUM the adapter says so and sends the 15 runs and 3 "
            "experiments again", (p.stderr[-400:], len(r4)))


# ---- 4. live changes -----------------------------------------------------------

def live():
    db = copy_db("live")
    state = H.path("live", "state")
    store = H.path("live", "store")
    common = ("--db", db, "--state", state, "--to-store", store, "--artifact-root", ROOT)
    p = observe(*common)
    H.check(p.returncode == 0, "live: first poll", p.stderr)
    # the RUNNING run: a tag changed in place, a metric logged
    sql(db, "UPDATE tags SET value = 'lightgbm' WHERE run_uuid = '%s' AND key = 'model'" % RUNNING)
    out = H.path("live", "a.jsonl")
    H.mida_run("observe", "mlflow", "--once", "-q", "--db", db, "--state", state, "--jsonl", out)
    recs = read_jsonl(out)
    H.check([r.get("task_id") for r in recs] == [RUNNING] and "model=lightgbm" in recs[0].get("tags", []),
            "live: a tag of the RUNNING run updated in place: that run alone is sent again", recs[:1])
    sql(db, "INSERT INTO metrics VALUES ('loss', 0.5, 1653507680000, '%s', 7, 0)" % RUNNING,
        "UPDATE runs SET status = 'KILLED', end_time = 1653507690000 WHERE run_uuid = '%s'" % RUNNING,
        "UPDATE runs SET lifecycle_stage = 'deleted' WHERE run_uuid = '%s'" % FIRST)
    p = observe(*common)
    H.check(p.returncode == 0, "live: second poll", p.stderr)
    st = one(store, "SELECT ?s WHERE { %s mida:status ?s }" % task(RUNNING))
    H.check(st == "https://w3id.org/mida/ns#Error" and value_of(store, RUNNING, "loss") == "0.5"
            and one(store, "SELECT ?e WHERE { %s prov:endedAtTime ?e }" % task(RUNNING)) == "2022-05-25T19:41:30Z",
            "live: the run killed: Error, its end time and its new metric", st)
    tags = [r["g"] for r in select(store, "SELECT ?g WHERE { %s mida:tag ?g }" % task(FIRST))]
    H.check("mlflow:deleted" in tags, "live: the deleted run is tagged mlflow:deleted", tags)
    out = H.path("live", "b.jsonl")
    H.mida_run("observe", "mlflow", "--once", "-q", "--db", db, "--state", state, "--jsonl", out)
    H.check(read_jsonl(out) == [], "live: nothing more to send once the run ended", read_jsonl(out)[:1])


# ---- 5. a concurrent writer ------------------------------------------------------

def _writer(path, runs, done):
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    rnd = random.Random(7)
    t0 = 1700000000000
    for r in range(runs):
        u = "dd%030x" % r
        con.execute("INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, "
                    "status, start_time, end_time, source_version, lifecycle_stage, artifact_uri, "
                    "experiment_id) VALUES (?, ?, 'LOCAL', '', '', 'w', 'RUNNING', ?, NULL, '', 'active', ?, 2)",
                    (u, "r%d" % r, t0 + r, "./mlruns/2/%s/artifacts" % u))
        con.execute("INSERT INTO tags VALUES ('mlflow.user', 'w', ?)", (u,))
        con.execute("INSERT INTO params VALUES ('lr', ?, ?)", (str(rnd.random()), u))
        for step in range(20):
            con.execute("INSERT INTO metrics VALUES ('loss', ?, ?, ?, ?, 0)", (rnd.random(), t0 + step * 10 + r, u, step))
            if step % 10 == 0:
                con.execute("UPDATE tags SET value = ? WHERE key = 'mlflow.user' AND run_uuid = ?", ("w%d" % step, u))
            time.sleep(0.002)
        con.execute("UPDATE runs SET status = ?, end_time = ? WHERE run_uuid = ?",
                    (rnd.choice(["FINISHED", "FAILED"]), t0 + 1000 + r, u))
    con.close()
    done.set()


def concurrent():
    db = copy_db("concurrent")
    state = H.path("concurrent", "state")
    live_out, full_out = H.path("concurrent", "live.jsonl"), H.path("concurrent", "full.jsonl")
    done = threading.Event()
    w = threading.Thread(target=_writer, args=(db, 10, done))
    obs = subprocess.Popen([H.mida, "observe", "mlflow", "-q", "--interval", "0.02", "--db", db, "--state", state,
                            "--jsonl", live_out, "--artifact-root", ROOT], stderr=subprocess.PIPE, text=True,
                           env=H.env)
    H.procs.append(obs)
    w.start()
    w.join(timeout=120 * H.mult)
    obs.send_signal(signal.SIGTERM)
    _, err = obs.communicate(timeout=60 * H.mult)
    H.check(done.is_set() and obs.returncode == 0, "concurrent: the writer finished, the observer stopped "
            "cleanly on SIGTERM", (obs.returncode, err[-400:]))
    p = observe("--db", db, "--state", state, "--jsonl", live_out, "--artifact-root", ROOT)
    q = observe("--db", db, "--no-state", "--jsonl", full_out, "--artifact-root", ROOT)
    H.check(p.returncode == 0 and q.returncode == 0, "concurrent: a last poll, and one full pass", p.stderr + q.stderr)
    live = read_jsonl(live_out)
    print("     (%d records while the writer worked, %d in one pass)" % (len(live), len(read_jsonl(full_out))))
    sets = []
    for f, name in [(live_out, "live"), (full_out, "full")]:
        s = H.path("concurrent", "store-" + name)
        a = H.mida_run("ingest", "--store", s, f)
        e = H.mida_run("export", "--store", s, "--format", "ntriples")
        sets.append(set(line for line in e.stdout.splitlines() if line.strip()) if a.returncode == 0 else set())
    H.check(sets[0] == sets[1] and len(sets[1]) > 2000,
            "concurrent: what was sent while MLflow wrote gives the same %d triples as one pass" % len(sets[1]),
            "only live: %s; only full: %s" % (sorted(sets[0] - sets[1])[:3], sorted(sets[1] - sets[0])[:3]))


# ---- 6. bad input -------------------------------------------------------------

def bad_input():
    db = copy_db("bad")
    sql(db, "INSERT INTO metrics VALUES ('loss', 1.0, 1653471580000, 'ffffffffffffffffffffffffffffffff', 0, 0)",
        "INSERT INTO tags VALUES ('mlflow.log-model.history', '[{not json', '%s')" % FIRST,
        "UPDATE runs SET start_time = 'soon' WHERE run_uuid = 'be3b2ca11ba440dc9557cdfa342b4868'")
    con = sqlite3.connect(db)
    con.execute("PRAGMA ignore_check_constraints = ON")
    con.execute("INSERT INTO runs (run_uuid, status, start_time, lifecycle_stage, experiment_id) "
                "VALUES ('cccc0000000000000000000000000001', 'WEIRD', 1653680300000, 'active', 1)")
    con.commit()
    con.close()
    store = H.path("bad", "store")
    p = H.mida_run("observe", "mlflow", "--once", "--db", db, "--no-state", "--to-store", store)
    H.check(p.returncode == 3, "bad: exit status 3 (some items skipped)", (p.returncode, p.stderr[-600:]))
    H.check("metrics rowid 759" in p.stderr and "ffffffffffffffffffffffffffffffff" in p.stderr,
            "bad: the metric of no run is skipped, named by its rowid and run", p.stderr[-600:])
    H.check("runs rowid 17" in p.stderr and "WEIRD" in p.stderr,
            "bad: the run with an unknown status is skipped, named", p.stderr[-600:])
    H.check("mlflow.log-model.history of run %s" % FIRST in p.stderr,
            "bad: the model history that is not JSON is skipped, named", p.stderr[-600:])
    H.check("runs rowid 2: start_time of run be3b2ca11ba440dc9557cdfa342b4868 is not a time" in p.stderr
            and select(store, "SELECT ?s WHERE { %s prov:startedAtTime ?s }" % task("be3b2ca11ba440dc9557cdfa342b4868"))
            == [] and one(store, "SELECT ?e WHERE { %s prov:endedAtTime ?e }" % task("be3b2ca11ba440dc9557cdfa342b4868"))
            == "2022-05-25T19:21:08.395Z",
            "bad: a start time that is no number is reported; the run is sent without it", p.stderr[-600:])
    H.check(one(store, "SELECT (COUNT(?t) AS ?n) WHERE { ?t a mida:Task }") == "16"
            and value_of(store, FIRST, "rmse") is not None,
            "bad: the 16 good runs load (run 1 too, without its bad model history)")

    missing = H.path("bad", "nope", "mlflow.db")
    p = observe("--db", missing, "--no-state", "--jsonl", H.path("bad", "x.jsonl"))
    H.check(p.returncode == 1 and missing in p.stderr, "bad: a missing database fails, named", p.stderr)
    other = H.path("bad", "other.db")
    sql(other, "CREATE TABLE foo (x)")
    p = observe("--db", other, "--no-state", "--jsonl", H.path("bad", "y.jsonl"))
    H.check(p.returncode == 1 and "not an MLflow tracking database" in p.stderr and other in p.stderr,
            "bad: a database that is not MLflow's fails, named", p.stderr)
    p = observe("--db", db, "--no-state", "--busy-timeout", "soon", "--jsonl", H.path("bad", "z.jsonl"))
    H.check(p.returncode != 0 and "--busy-timeout" in p.stderr, "bad: a bad option value fails, named", p.stderr)
    p = H.mida_run("observe", "mlflow", "--help")
    H.check(p.returncode == 0 and "--artifact-root DIR" in p.stdout and "--db PATH" in p.stdout,
            "--help lists the adapter's options", p.stdout[-300:])


if __name__ == "__main__":
    sys.exit(H.run([full_126, current_schema, restart, live, concurrent, bad_input]))
