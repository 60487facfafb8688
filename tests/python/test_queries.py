#!/usr/bin/python3
"""Runs every steering query in queries/ on the example campaign and checks
its rows; cross-checks each answer with rdflib's own SPARQL engine.

The example campaign (examples/campaign/*.jsonl, with the location alias
/gpfs/alpine/proj=/lustre/orion/proj that joins its three workflows) is
ingested into a temporary store, then for every queries/*.rq:

  * the file opens with a "# Question:" comment (the web page shows the
    first comment paragraph as the query's title);
  * `mida sparql --results json` answers it with exactly the variables and
    the rows listed in EXPECT below, in that order (numbers compared as
    numbers, IRIs under the base shortened, data IRIs as "data:<location>");
  * rdflib answers the same query over the union of the store's graphs
    (the `mida export --format nquads` output in a ConjunctiveGraph, whose
    default graph is the union) with the same multiset of rows.

A query with no entry in EXPECT, or an entry with no query, is a failure:
a new query cannot be added untested.

The same cross-check then runs on a variant of the campaign (VARIANT_EXTRA
below): a model that was never evaluated, a trial still running, a failed
trial with no exit code, output or telemetry, a workflow run that has not
ended, a trial that runs over a month boundary.  Those are the cases where
rasqal 0.9.33 goes wrong with OPTIONAL, BIND and GROUP BY (see
docs/queries.md), so the variant is where a query that only works on the
campaign shows itself; its row counts are checked too.

Prints one line per check and "N passed, N failed"; exit 1 on a failure,
77 (skip) when rdflib is missing.  Needs MIDA_BIN and MIDA_SOURCE_DIR.
"""

import collections
import glob
import json
import os
import subprocess
import sys
import tempfile
import urllib.parse

try:
    import rdflib
    import rdflib.plugins.sparql
    import rdflib.plugins.sparql.algebra
    import rdflib.plugins.sparql.evaluate
    from rdflib import BNode, ConjunctiveGraph, Literal, URIRef
except ImportError:  # pragma: no cover - depends on the machine
    print("SKIP: rdflib is not installed (apt install python3-rdflib)")
    sys.exit(77)

# Keep literals as written (no rewriting of lexical forms).
rdflib.NORMALIZE_LITERALS = False

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, CAMPAIGN, CAMPAIGN_ALIAS, MIDA_PROGRAM, SRC_DIR  # noqa: E402

SRC, MIDA = SRC_DIR, MIDA_PROGRAM
QUERIES = sorted(glob.glob(os.path.join(SRC, "queries", "*.rq")))
BASE = "http://example.org/queries"
ALIAS = CAMPAIGN_ALIAS
TIMEOUT = 120 * float(os.environ.get("MIDA_TEST_TIMEOUT_MULTIPLIER", "1"))

XSD = "http://www.w3.org/2001/XMLSchema#"
MIDA_NS = "https://w3id.org/mida/ns#"
NUMERIC = {XSD + t for t in ("integer", "decimal", "double", "float", "int", "long", "short",
                             "byte", "nonNegativeInteger", "positiveInteger", "unsignedLong")}


# ---- what each query answers on the example campaign ----------------------

def D(path):
    """The data entity at /lustre/orion/proj/PATH, as rows show it."""
    return "data:/lustre/orion/proj/" + path


IMAGES = [(D("raw/img_0000.h5"), 0.5), (D("raw/img_0001.h5"), 1.0), (D("raw/img_0002.h5"), 2.0)]
SET0 = D("train/set_0.npz")
OOM = ("torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB "
       "(GPU 0; 39.39 GiB total capacity; 38.12 GiB already allocated)")
FNF = "FileNotFoundError: /lustre/orion/proj/models/missing.pt"
TRAIN4 = ("task/wf-hpo-07/train-4", "hpo", "train_model", "FAILED", 1, OOM)

# name (file name without .rq) -> the variables and the rows, in order.
# Unbound is None; numbers are compared as numbers.
EXPECT = {
    "lineage-metrics-to-acquisition": {
        "vars": ["evaluation", "accuracy", "model", "lr", "batch_size", "image", "exposure_s"],
        "rows": [("task/wf-eval-3/" + run, acc, D("models/%s.pt" % model), lr, bs, image, exposure)
                 for run, acc, model, lr, bs in (("run-03", 0.93, "model_3", 0.01, 128),
                                                 ("run-01", 0.90, "model_1", 0.01, 64),
                                                 ("run-02", 0.86, "model_2", 0.001, 64),
                                                 ("run-00", 0.81, "model_0", 0.1, 32))
                 for image, exposure in IMAGES],
    },
    "top-models-by-loss": {
        "vars": ["model", "loss", "lr", "batch_size", "epochs", "dataset", "image", "exposure_s",
                 "magnification", "detector"],
        "rows": [(D("models/%s.pt" % model), loss, lr, bs, 10, SET0, image, exposure, 40000, "K3")
                 for model, loss, lr, bs in (("model_3", 0.19, 0.01, 128),
                                             ("model_1", 0.23, 0.01, 64),
                                             ("model_2", 0.35, 0.001, 64))
                 for image, exposure in IMAGES],
    },
    "hyperparameters-vs-metrics": {
        "vars": ["trial", "lr", "batch_size", "epochs", "loss", "best_epoch", "accuracy", "f1"],
        "rows": [
            ("task/wf-hpo-07/train-3", 0.01, 128, 10, 0.19, 7, 0.93, 0.89),
            ("task/wf-hpo-07/train-1", 0.01, 64, 10, 0.23, 8, 0.90, 0.86),
            ("task/wf-hpo-07/train-2", 0.001, 64, 10, 0.35, 9, 0.86, 0.82),
            ("task/wf-hpo-07/train-0", 0.1, 32, 10, 0.41, 7, 0.81, 0.77),
        ],
    },
    "hyperparameters-vs-telemetry": {
        "vars": ["trial", "status", "lr", "batch_size", "epochs", "elapsed_s", "memory_start",
                 "memory_end", "gpu_memory_end", "gpu_percent_end", "cpu_percent_end"],
        "rows": [
            ("task/wf-hpo-07/train-0", "mida:Finished", 0.1, 32, 10, 540,
             2000000000, 6000000000, 12000000000, 88.5, 97.0),
            ("task/wf-hpo-07/train-1", "mida:Finished", 0.01, 64, 10, 599,
             2000000001, 6000000001, 12000000000, 88.5, 97.0),
            ("task/wf-hpo-07/train-2", "mida:Finished", 0.001, 64, 10, 658,
             2000000002, 6000000002, 12000000000, 88.5, 97.0),
            ("task/wf-hpo-07/train-3", "mida:Finished", 0.01, 128, 10, 717,
             2000000003, 6000000003, 12000000000, 88.5, 97.0),
            ("task/wf-hpo-07/train-4", "mida:Error", 0.1, 512, 10, 66,
             2000000004, 7500000004, 40900000000, 100.0, 99.0),
        ],
    },
    "failed-tasks-with-inputs": {
        "vars": ["task", "workflow_name", "activity", "native_status", "exit_code", "stderr",
                 "input", "value", "location"],
        "rows": [
            ("task/wf-eval-3/run-99", "evaluation", "evaluate", "FAILED", 1, FNF,
             "model", None, "/lustre/orion/proj/models/missing.pt"),
            TRAIN4 + ("batch_size", 512, None),
            TRAIN4 + ("epochs", 10, None),
            TRAIN4 + ("lr", 0.1, None),
            TRAIN4 + ("train_set", None, "/lustre/orion/proj/train/set_0.npz"),
        ],
    },
    "workflow-counts-durations": {
        "vars": ["workflow", "name", "tasks", "finished", "failed", "unfinished", "started",
                 "ended", "elapsed_s"],
        "rows": [
            ("workflow/wf-microscope-01", "microscope", 3, 3, 0, 0,
             "2024-03-01T08:00:00Z", "2024-03-01T08:05:00Z", 300),
            ("workflow/wf-hpo-07", "hpo", 6, 5, 1, 0,
             "2024-03-01T09:00:00Z", "2024-03-01T09:20:00Z", 1200),
            ("workflow/wf-eval-3", "evaluation", 5, 4, 1, 0,
             "2024-03-01T10:00:00Z", "2024-03-01T10:10:00Z", 600),
        ],
    },
    "file-lineage": {
        "vars": ["direction", "steps", "related", "location", "generated_by"],
        "rows": [
            ("derived from", 1, SET0, "/lustre/orion/proj/train/set_0.npz",
             "task/wf-hpo-07/prep-0"),
        ] + [("derived from", 2, image, image[len("data:"):], "task/wf-microscope-01/acq-%d" % i)
             for i, (image, _) in enumerate(IMAGES)] + [
            ("derived into", 1, D("reports/eval_3.json"), "/lustre/orion/proj/reports/eval_3.json",
             "task/wf-eval-3/run-03"),
        ],
    },
}

# The variant: the campaign without the evaluation of model_2 (run-02),
# plus these records.
VARIANT_DROP = '"task_id": "run-02"'
VARIANT_EXTRA = [
    # still running: no end, no telemetry at the end
    {"task_id": "train-5", "workflow_id": "wf-hpo-07", "activity_id": "train_model",
     "status": "RUNNING", "started_at": "2024-03-01T09:15:00Z",
     "used": {"lr": 0.05, "batch_size": 64, "epochs": 10,
              "train_set": {"@id": "/gpfs/alpine/proj/train/set_0.npz"}},
     "telemetry_at_start": {"memory_used_bytes": 2100000000}},
    # failed with no native status, exit code, output or telemetry
    {"task_id": "train-6", "workflow_id": "wf-hpo-07", "activity_id": "train_model",
     "status": "ERROR", "started_at": "2024-03-01T09:16:00Z", "ended_at": "2024-03-01T09:16:05Z",
     "used": {"lr": 0.2, "batch_size": 16, "epochs": 5}},
    # runs over midnight at the end of March: 630 s
    {"task_id": "train-7", "workflow_id": "wf-hpo-07", "activity_id": "train_model",
     "status": "FINISHED", "started_at": "2024-03-31T23:59:30Z", "ended_at": "2024-04-01T00:10:00Z",
     "used": {"lr": 0.02, "batch_size": 64, "epochs": 10},
     "telemetry_at_start": {"memory_used_bytes": 2000000007},
     "telemetry_at_end": {"cpu_percent": 50.0, "memory_used_bytes": 3000000007,
                          "gpu_memory_used_bytes": 1000000000, "gpu_percent": 10.0}},
    # a workflow run that has not ended, whose tasks use the reports
    {"workflow_id": "wf-x", "workflow_name": "analysis", "status": "RUNNING",
     "started_at": "2024-03-31T23:59:00Z"},
    {"task_id": "a-1", "workflow_id": "wf-x", "activity_id": "plot", "status": "SUBMITTED",
     "used": {"report": {"@id": "/lustre/orion/proj/reports/eval_1.json"}}},
    {"task_id": "a-2", "workflow_id": "wf-x", "activity_id": "plot", "status": "FINISHED",
     "started_at": "2024-03-31T23:59:30Z", "ended_at": "2024-04-01T00:00:45Z",
     "used": {"report": {"@id": "/lustre/orion/proj/reports/eval_3.json"}},
     "generated": {"figure": "/lustre/orion/proj/fig/f3.png", "card": {"@id": "model-card-3"}}},
]
# rows each query gives on the variant
VARIANT_ROWS = {
    "lineage-metrics-to-acquisition": 9,   # run-02 gone
    "top-models-by-loss": 9,               # evaluation plays no part
    "hyperparameters-vs-metrics": 3,       # train-2's model not evaluated
    "hyperparameters-vs-telemetry": 6,     # + train-7; not the running train-5, not train-6
    "failed-tasks-with-inputs": 8,         # + train-6's lr, batch_size, epochs
    "workflow-counts-durations": 4,        # + wf-x, not ended
    "file-lineage": 7,                     # + the figure and the card, 2 steps downstream
}


# ---- running and comparing ------------------------------------------------

def mida(*args):
    p = subprocess.run([MIDA] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=TIMEOUT, check=False)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def short_iri(iri):
    if iri.startswith(BASE + "/data/"):
        return "data:" + urllib.parse.unquote(iri[len(BASE + "/data/"):])
    if iri.startswith(BASE + "/"):
        return iri[len(BASE) + 1:]
    if iri.startswith(MIDA_NS):
        return "mida:" + iri[len(MIDA_NS):]
    return iri


def term(kind, value, datatype=None, lang=None):
    """One normal form for a value from either engine: ('iri', short) or
    ('num', float) or ('lit', lexical, datatype, lang); None when unbound.
    Numbers are compared by value: rasqal writes 540.0 where rdflib writes
    540, and 0.9 where the data says 0.90."""
    if kind is None:
        return None
    if kind == "iri":
        return ("iri", short_iri(value))
    if kind == "bnode":
        return ("bnode", value)
    if datatype in NUMERIC:
        return ("num", float(value))
    if datatype == XSD + "string":
        datatype = None
    return ("lit", value, datatype, lang.lower() if lang else None)


def from_json(b):
    if b is None:
        return None
    kind = {"uri": "iri", "bnode": "bnode"}.get(b["type"], "lit")
    return term(kind, b["value"], b.get("datatype"), b.get("xml:lang"))


def from_rdflib(t):
    if t is None:
        return None
    if isinstance(t, URIRef):
        return term("iri", str(t))
    if isinstance(t, BNode):
        return term("bnode", str(t))
    assert isinstance(t, Literal), repr(t)
    return term("lit", str(t), str(t.datatype) if t.datatype else None, t.language)


def expected_term(v):
    """A value as EXPECT writes it, in the same normal form."""
    if v is None:
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return ("num", float(v))
    if v.startswith(("data:", "task/", "workflow/", "mida:")):
        return ("iri", v)
    return v   # a literal: compared by its lexical form only


def same(got, want):
    if want is None or got is None:
        return got is want
    if isinstance(want, str):
        return got[0] == "lit" and got[1] == want
    return got == want


def show_row(row):
    return "(" + ", ".join("-" if t is None else repr(t[1]) for t in row) + ")"


def mida_answer(store, path):
    rc, out, err = mida("sparql", "--store", store, "--results", "json", "--file", path)
    if rc != 0:
        return None, None, err
    doc = json.loads(out)
    names = doc["head"]["vars"]
    rows = [tuple(from_json(b.get(n)) for n in names) for b in doc["results"]["bindings"]]
    return names, rows, err


def rdflib_engine_in_written_order():
    """rdflib 6 reorders the patterns of a basic graph pattern, twice (in
    the algebra and when it evaluates), putting every pattern with two
    constants first: `?lrv mida:name "lr" . ?bsv mida:name "batch_size"`
    become a cross product, minutes for one query.  The queries are written
    in the order they should be joined (rasqal joins as written), so have
    rdflib join them in that order too.  The order changes the time, never
    the answer."""
    rdflib.plugins.sparql.algebra.reorderTriples = lambda patterns: list(patterns)

    def bgp_in_order(ctx, part):
        if part.name != "BGP":
            raise NotImplementedError()
        return rdflib.plugins.sparql.evaluate.evalBGP(ctx, part.triples)
    rdflib.plugins.sparql.CUSTOM_EVALS["mida-test-written-order"] = bgp_in_order


def union_graph(store):
    rc, out, err = mida("export", "--store", store, "--format", "nquads")
    if rc != 0:
        raise RuntimeError("mida export failed: " + err)
    g = ConjunctiveGraph()   # its default graph is the union of the named graphs
    g.parse(data=out, format="nquads")
    return g


def rdflib_answer(graph, path, names):
    with open(path, encoding="utf-8") as f:
        res = graph.query(f.read())
    return [tuple(from_rdflib(row[n]) for n in names) for row in res]


def compare_with_rdflib(chk, label, name, names, rows, graph, path):
    try:
        want = rdflib_answer(graph, path, names)
    except Exception as e:  # noqa: BLE001
        chk.check(False, "%s %s: rdflib answers it" % (label, name), repr(e))
        return
    a, b = collections.Counter(rows), collections.Counter(want)
    detail = "\n".join(["only in mida's answer:"] + [show_row(r) for r in a - b] +
                       ["only in rdflib's answer:"] + [show_row(r) for r in b - a])
    chk.check(a == b, "%s %s: rdflib gives the same %d rows" % (label, name, len(want)), detail)


def check_query_text(chk, name, path):
    with open(path, encoding="utf-8") as f:
        first = f.readline()
    chk.check(first.startswith("# Question: "), "%s: the file opens with '# Question:'" % name,
              "first line: %r" % first)


def check_campaign(chk, store, graph):
    names_found = {os.path.basename(q)[:-3]: q for q in QUERIES}
    for name in sorted(set(names_found) | set(EXPECT)):
        chk.check(name in EXPECT, "queries/%s.rq has an expectation in this test" % name,
                  "add its variables and rows to EXPECT in %s" % os.path.basename(__file__))
        chk.check(name in names_found, "expectation %s has a query file" % name,
                  "queries/%s.rq is missing" % name)
        if name not in EXPECT or name not in names_found:
            continue
        path, want = names_found[name], EXPECT[name]
        check_query_text(chk, name, path)
        names, rows, err = mida_answer(store, path)
        if not chk.check(rows is not None, "%s: mida sparql answers it" % name, err):
            continue
        chk.check(names == want["vars"], "%s: variables %s" % (name, " ".join(want["vars"])),
                  "got %s" % names)
        chk.check(len(rows) == len(want["rows"]), "%s: %d rows" % (name, len(want["rows"])),
                  "got %d:\n%s" % (len(rows), "\n".join(show_row(r) for r in rows)))
        bad = []
        for i, (got, exp) in enumerate(zip(rows, want["rows"])):
            exp = tuple(expected_term(v) for v in exp)
            if len(got) != len(exp) or not all(same(g, e) for g, e in zip(got, exp)):
                bad.append("row %d: got  %s\n        want %s" % (
                    i + 1, show_row(got), "(" + ", ".join(
                        "-" if e is None else repr(e if isinstance(e, str) else e[1])
                        for e in exp) + ")"))
        chk.check(not bad and len(rows) == len(want["rows"]),
                  "%s: the expected values, in order" % name, "\n".join(bad[:10]))
        compare_with_rdflib(chk, "campaign", name, names, rows, graph, path)


def check_variant(chk, tmp):
    path = os.path.join(tmp, "variant.jsonl")
    with open(path, "w", encoding="utf-8") as out:
        for f in CAMPAIGN:
            with open(f, encoding="utf-8") as inp:
                out.writelines(l for l in inp if VARIANT_DROP not in l)
        for rec in VARIANT_EXTRA:
            out.write(json.dumps(rec) + "\n")
    store = os.path.join(tmp, "variant")
    rc, _, err = mida("ingest", "-q", "--store", store, "--base", BASE, "--alias", ALIAS, path)
    if not chk.check(rc == 0, "ingest the variant of the campaign", err):
        return
    graph = union_graph(store)
    for q in QUERIES:
        name = os.path.basename(q)[:-3]
        names, rows, err = mida_answer(store, q)
        if not chk.check(rows is not None, "variant %s: mida sparql answers it" % name, err):
            continue
        n = VARIANT_ROWS.get(name)
        chk.check(n is not None and len(rows) == n,
                  "variant %s: %s rows" % (name, n if n is not None else "(no count in VARIANT_ROWS)"),
                  "got %d:\n%s" % (len(rows), "\n".join(show_row(r) for r in rows)))
        compare_with_rdflib(chk, "variant", name, names, rows, graph, q)
        if name == "hyperparameters-vs-telemetry" and names:
            i, e = names.index("trial"), names.index("elapsed_s")
            got = [r[e] for r in rows if r[i] == ("iri", "task/wf-hpo-07/train-7")]
            chk.check(got == [("num", 630.0)],
                      "variant: train-7, over the end of March, ran 630 s", "got %s" % got)


def main():
    chk = Checker()
    if not os.access(MIDA, os.X_OK):
        print("FAIL: %s is not an executable (set MIDA_BIN)" % MIDA)
        return 1
    if len(CAMPAIGN) != 3 or not QUERIES:
        print("FAIL: expected 3 example campaign files and some queries, found %s, %s"
              % (CAMPAIGN, QUERIES))
        return 1
    rdflib_engine_in_written_order()
    with tempfile.TemporaryDirectory(prefix="mida-test-queries.") as tmp:
        store = os.path.join(tmp, "campaign")
        rc, _, err = mida("ingest", "-q", "--store", store, "--base", BASE, "--alias", ALIAS,
                          *CAMPAIGN)
        if chk.check(rc == 0, "ingest the example campaign", err):
            for step in (lambda: check_campaign(chk, store, union_graph(store)),
                         lambda: check_variant(chk, tmp)):
                try:
                    step()
                except Exception:  # noqa: BLE001 - one broken step must not hide the other
                    import traceback
                    chk.check(False, "unexpected error", traceback.format_exc())
    print("%d passed, %d failed" % (chk.passed, chk.failed))
    return 1 if chk.failed else 0


if __name__ == "__main__":
    sys.exit(main())
