#!/usr/bin/python3
"""Cross-checks `mida export` and `mida sparql` output with independent
RDF tools: rdflib 6, pyld and python3-prov.

The example campaign (examples/campaign/*.jsonl) is ingested into a
temporary store, then:

  * every export syntax (turtle, ntriples, nquads, trig, rdfxml, jsonld)
    parses with rdflib, and JSON-LD also converts to N-Quads with pyld
    (offline: the document loader refuses every URL);
  * all of them give the same set of triples, exactly (the mapping writes
    no blank nodes, so set equality is isomorphism; rdflib.compare is run
    too), and as many as the store's SELECT (COUNT(*) AS ?n) answer;
  * N-Quads, TriG, JSON-LD (rdflib) and JSON-LD (pyld) give the same set
    of quads: every triple is in the same graph in all four, and the named
    graphs are exactly the workflow runs' and the campaign's;
  * --graph BASE/graph/wf-hpo-07 gives exactly that run's quads (its tasks
    and nothing of other runs) plus, in the default graph, the rdf:type and
    literal triples of the shared resources those quads refer to; the
    data the run used and the data it generated (with the prov:wasGeneratedBy
    that ties each to its task) are all in it;
  * --graph of an unknown graph exits 1, prints nothing, and with -o FILE
    leaves no FILE (nor a temporary file) behind; -o FILE writes the same
    bytes as stdout and prints nothing;
  * python3-prov reads the Turtle export and finds a prov:Activity for
    every task, workflow run and the campaign, and a prov:Entity for the
    data;
  * the lineage query's SELECT answer in json, xml, csv and tsv parses with
    rdflib's result parsers: 12 rows, the query's 7 variables, the same
    values in every format.

Prints one line per check and "N passed, N failed"; exit 1 on a failure,
77 (skip) when rdflib is missing.  Needs MIDA_BIN and MIDA_SOURCE_DIR.
"""

import io
import json
import os
import subprocess
import sys
import tempfile

try:
    import rdflib
    from rdflib import BNode, Dataset, Graph, Literal, URIRef
    from rdflib.compare import isomorphic
    from rdflib.graph import DATASET_DEFAULT_GRAPH_ID
    from rdflib.namespace import RDF
    from rdflib.query import Result
except ImportError:  # pragma: no cover - depends on the machine
    print("SKIP: rdflib is not installed (apt install python3-rdflib)")
    sys.exit(77)

# Compare terms exactly as written: no rewriting of lexical forms.
rdflib.NORMALIZE_LITERALS = False

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, CAMPAIGN, CAMPAIGN_ALIAS, MIDA_PROGRAM, SRC_DIR  # noqa: E402

SRC, MIDA = SRC_DIR, MIDA_PROGRAM
LINEAGE = os.path.join(SRC, "queries", "lineage-metrics-to-acquisition.rq")
BASE = "http://example.org/exports"
ALIAS = CAMPAIGN_ALIAS
TIMEOUT = 120 * float(os.environ.get("MIDA_TEST_TIMEOUT_MULTIPLIER", "1"))

PROV = rdflib.Namespace("http://www.w3.org/ns/prov#")
MIDA_NS = rdflib.Namespace("https://w3id.org/mida/ns#")
PROVONE = rdflib.Namespace("http://purl.dataone.org/provone/2015/01/15/ontology#")

# export syntax -> (rdflib parser, has named graphs)
FORMATS = {
    "ntriples": ("nt", False),
    "turtle": ("turtle", False),
    "rdfxml": ("xml", False),
    "nquads": ("nquads", True),
    "trig": ("trig", True),
    "jsonld": ("json-ld", True),
}
# stands for the default graph while parsing quads
DEFAULT_GRAPH = "urn:x-mida-test:default-graph"


def mida(*args, check_rc=None):
    p = subprocess.run([MIDA] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=TIMEOUT, check=False)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def term_str(t):
    return t.n3() if hasattr(t, "n3") else repr(t)


def show_diff(a, b, name_a, name_b, limit=8):
    """Lines describing what is only in a and only in b."""
    out = []
    for name, only in ((name_a, a - b), (name_b, b - a)):
        if only:
            out.append("%d only in %s:" % (len(only), name))
            for x in sorted(only, key=lambda q: tuple(str(t) for t in q))[:limit]:
                out.append("  " + " ".join(term_str(t) if t is not None else "(default)" for t in x))
    return "\n".join(out)


def graph_id(g):
    gid = getattr(g, "identifier", g)
    if gid is None or gid == DATASET_DEFAULT_GRAPH_ID or isinstance(gid, BNode) \
            or str(gid) == DEFAULT_GRAPH:
        return None
    return gid


def parse_quads(data, fmt):
    ds = Dataset()
    ds.parse(data=data, format=fmt, publicID=DEFAULT_GRAPH)
    return {(s, p, o, graph_id(g)) for s, p, o, g in ds.quads((None, None, None, None))}


def parse_triples(data, fmt):
    return set(Graph().parse(data=data, format=fmt, publicID=DEFAULT_GRAPH))


def pyld_quads(doc_bytes):
    """JSON-LD -> N-Quads with pyld, offline, then parsed by rdflib."""
    from pyld import jsonld

    def no_network(url, options=None):
        raise jsonld.JsonLdError("test is offline: refusing to load %s" % url,
                                 "jsonld.LoadDocumentError", code="loading document failed")

    class Processor(jsonld.JsonLdProcessor):
        """pyld 2.0.3 formats every xsd:double value with '%1.15E', and so
        raises TypeError on a string value such as {"@value": "0.81",
        "@type": "xsd:double"}, which JSON-LD 1.1 (Deserialize JSON-LD to
        RDF, 7.6) turns into the literal "0.81"^^xsd:double unchanged.
        This does that for string values and leaves the rest to pyld."""

        def _object_to_rdf(self, item, *args, **kwargs):
            if jsonld._is_value(item) and isinstance(item.get("@value"), str) \
                    and item.get("@type") not in (None, "@json"):
                return {"type": "literal", "value": item["@value"], "datatype": item["@type"]}
            return super()._object_to_rdf(item, *args, **kwargs)

    doc = json.loads(doc_bytes)
    opts = {"format": "application/n-quads", "documentLoader": no_network}
    note = None
    try:
        nq = jsonld.to_rdf(doc, dict(opts))
    except TypeError as e:
        note = ("pyld %s cannot convert string-valued xsd:double literals (%s); "
                "converting with a processor that follows JSON-LD 1.1 for them"
                % (getattr(jsonld, "__version__", "?"), e))
        nq = Processor().to_rdf(doc, dict(opts))
    return parse_quads(nq, "nquads"), note


def store_count(store):
    rc, out, err = mida("sparql", "--store", store, "--results", "csv",
                        "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
    if rc != 0:
        raise RuntimeError("count query failed: %s" % err)
    lines = out.decode().split("\r\n")
    return int(lines[1])


def campaign_records():
    """(workflow ids, {workflow id: set of task ids}) from the JSON lines."""
    workflows, tasks = set(), {}
    for path in CAMPAIGN:
        with open(path) as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    workflows.add(r["workflow_id"])
                    if "task_id" in r:
                        tasks.setdefault(r["workflow_id"], set()).add(r["task_id"])
    return workflows, tasks


def run_data(workflow):
    """Locations of the data the tasks of `workflow` used and generated,
    from the JSON lines (data: {"@id": ...} or a string that is a path),
    with the campaign's alias applied."""
    frm, to = ALIAS.split("=")

    def locs(v):
        for x in v if isinstance(v, list) else [v]:
            x = x.get("@id") if isinstance(x, dict) else x
            if isinstance(x, str):
                if x.startswith("file://"):
                    x = x[len("file://"):]
                if x.startswith(frm + "/"):
                    x = to + x[len(frm):]
                if x.startswith("/"):
                    yield x

    used, generated = set(), set()
    for path in CAMPAIGN:
        with open(path) as f:
            for line in f:
                r = json.loads(line) if line.strip() else {}
                if r.get("workflow_id") == workflow and "task_id" in r:
                    for v in r.get("used", {}).values():
                        used.update(locs(v))
                    for v in r.get("generated", {}).values():
                        generated.update(locs(v))
    return used, generated


def check_exports(chk, tmp, store):
    n_store = store_count(store)
    chk.check(n_store > 0, "the store holds %d triples" % n_store)

    triples, quads, raw = {}, {}, {}
    for name, (fmt, has_graphs) in FORMATS.items():
        rc, out, err = mida("export", "--store", store, "--format", name)
        if not chk.check(rc == 0 and out, "export --format %s: exit 0 with output" % name,
                         "exit %d\n%s" % (rc, err)):
            continue
        raw[name] = out
        try:
            if has_graphs:
                quads[name] = parse_quads(out, fmt)
                triples[name] = {q[:3] for q in quads[name]}
            else:
                triples[name] = parse_triples(out, fmt)
        except Exception as e:  # noqa: BLE001 - report and go on
            chk.check(False, "rdflib parses the %s export (as %s)" % (name, fmt), repr(e))
            continue
        chk.check(True, "rdflib parses the %s export (as %s): %d triples"
                  % (name, fmt, len(triples[name])))

    if "jsonld" in raw:
        try:
            import pyld  # noqa: F401 - only: is it installed?
        except ImportError:
            chk.note("SKIP pyld: not installed (apt install python3-pyld)")
        else:
            try:
                q, note = pyld_quads(raw["jsonld"])
                if note:
                    chk.note(note)
                quads["jsonld (pyld)"] = q
                triples["jsonld (pyld)"] = {x[:3] for x in q}
                chk.check(True, "pyld converts the JSON-LD export to N-Quads offline: %d quads" % len(q))
            except Exception as e:  # noqa: BLE001
                chk.check(False, "pyld converts the JSON-LD export to N-Quads offline", repr(e))

    if "ntriples" not in triples:
        chk.check(False, "no N-Triples export to compare the others with")
        return None
    ref = triples["ntriples"]
    chk.check(len(ref) == n_store, "the N-Triples export has the store's %d triples" % n_store,
              "export has %d" % len(ref))
    blank = [t for t in ref if any(isinstance(x, BNode) for x in t)]
    chk.check(not blank, "the export has no blank nodes",
              "\n".join(" ".join(term_str(x) for x in t) for t in blank[:5]))
    ref_graph = Graph()
    for t in ref:
        ref_graph.add(t)
    for name, t in triples.items():
        if name == "ntriples":
            continue
        detail = show_diff(t, ref, name, "ntriples")
        # name the pattern when every difference is a literal whose datatype
        # changed (same lexical form)
        retyped = {}
        for x in t - ref:
            if isinstance(x[2], Literal):
                retyped[(x[0], x[1], str(x[2]))] = x[2].datatype
        changes = set()
        for x in ref - t:
            key = (x[0], x[1], str(x[2])) if isinstance(x[2], Literal) else None
            changes.add((x[2].datatype, retyped.get(key)) if key in retyped else None)
        if t != ref and None not in changes and len(t - ref) == len(ref - t):
            detail += "\nevery difference is a literal whose datatype changed: " + ", ".join(
                "%s -> %s" % (a, b) for a, b in sorted(changes, key=str))
        chk.check(t == ref, "%s and N-Triples have the same %d triples" % (name, len(ref)), detail)
        chk.check(len(t) == n_store, "%s has as many triples as the store (%d)" % (name, n_store),
                  "%s has %d" % (name, len(t)))
        g = Graph()
        for x in t:
            g.add(x)
        chk.check(isomorphic(g, ref_graph), "%s is isomorphic to N-Triples (rdflib.compare)" % name)

    # the graph of each triple
    if "nquads" in quads:
        qref = quads["nquads"]
        for name, q in quads.items():
            if name != "nquads":
                chk.check(q == qref, "%s puts every triple in the same graph as N-Quads" % name,
                          show_diff(q, qref, name, "nquads"))
        workflows, _ = campaign_records()
        want_graphs = {URIRef("%s/graph/%s" % (BASE, w)) for w in workflows}
        want_graphs.add(URIRef(BASE + "/graph/campaign/cmp-materials-2024"))
        got_graphs = {x[3] for x in qref if x[3] is not None}
        chk.check(got_graphs == want_graphs,
                  "the named graphs are the %d workflow runs' and the campaign's" % len(workflows),
                  "got %s\nwant %s" % (sorted(got_graphs), sorted(want_graphs)))
        misplaced = [x for x in qref if x[3] is not None and not (
            str(x[0]).startswith(BASE + "/task/") or str(x[0]).startswith(BASE + "/workflow/")
            or str(x[0]).startswith(BASE + "/value/") or str(x[0]).startswith(BASE + "/campaign/")
            or str(x[0]) == str(x[3]))]
        chk.check(not misplaced, "named graphs hold only run, task, value and campaign subjects",
                  "\n".join(" ".join(term_str(t) for t in x) for x in misplaced[:5]))
        shared = [x for x in qref if x[3] is None and (
            str(x[0]).startswith(BASE + "/task/") or str(x[0]).startswith(BASE + "/value/"))]
        chk.check(not shared, "no task or value triple is in the default graph",
                  "\n".join(" ".join(term_str(t) for t in x) for x in shared[:5]))
    return quads.get("nquads")


def check_graph_export(chk, tmp, store, all_quads):
    g_iri = URIRef(BASE + "/graph/wf-hpo-07")
    rc, out, err = mida("export", "--store", store, "--format", "nquads", "--graph", str(g_iri))
    if not chk.check(rc == 0 and out, "export --graph %s: exit 0" % g_iri, "exit %d\n%s" % (rc, err)):
        return
    q = parse_quads(out, "nquads")
    if all_quads is None:
        chk.check(False, "no full N-Quads export to compare --graph with")
        return
    in_g = {x for x in q if x[3] == g_iri}
    want_in_g = {x for x in all_quads if x[3] == g_iri}
    chk.check(in_g == want_in_g, "--graph: the run's graph holds exactly its %d quads of the full export"
              % len(want_in_g), show_diff(in_g, want_in_g, "--graph", "full export"))
    others = {x for x in q if x[3] is not None and x[3] != g_iri}
    chk.check(not others, "--graph: no quad of another named graph",
              show_diff(others, set(), "--graph", "-"))
    # the tasks are the run's tasks
    _, tasks = campaign_records()
    got_tasks = {str(o) for s, p, o, g in q if p == MIDA_NS.taskId}
    chk.check(got_tasks == tasks["wf-hpo-07"], "--graph: the tasks are wf-hpo-07's %s"
              % sorted(tasks["wf-hpo-07"]), "got %s" % sorted(got_tasks))
    typed_tasks = {s for s, p, o, g in q if p == RDF.type and o == MIDA_NS.Task}
    chk.check(all(str(s).startswith(BASE + "/task/wf-hpo-07/") for s in typed_tasks)
              and len(typed_tasks) == len(tasks["wf-hpo-07"]),
              "--graph: every mida:Task is under task/wf-hpo-07/",
              "\n".join(sorted(map(str, typed_tasks))))
    # the rest, all in the default graph: the quads of shared resources that
    # point into the run (a file's prov:wasGeneratedBy a task of the run),
    # and the descriptions (rdf:type, literals) of every shared resource the
    # run refers to or that points into it
    def member(t):
        return isinstance(t, URIRef) and (
            any(str(t).startswith("%s/%s/wf-hpo-07/" % (BASE, k)) for k in ("task", "value"))
            or str(t) in (BASE + "/workflow/wf-hpo-07", str(g_iri)))
    pointing = {x for x in all_quads if x[3] is None and member(x[2])}
    refs = {x[2] for x in in_g if isinstance(x[2], URIRef) and x[1] != RDF.type
            and not member(x[2])} | {x[0] for x in pointing}
    extra = q - in_g
    chk.check(pointing <= extra, "--graph: the %d quads of shared resources that point into the run "
              "are there" % len(pointing), show_diff(pointing - extra, set(), "full export", "-"))
    bad = [x for x in extra - pointing if x[3] is not None or x[0] not in refs
           or not (x[1] == RDF.type or isinstance(x[2], Literal))]
    chk.check(not bad, "--graph: the other %d quads describe (rdf:type, literals) resources the run "
              "refers to, in the default graph" % len(extra - pointing),
              "\n".join(" ".join(term_str(t) if t is not None else "(default)" for t in x)
                        for x in bad[:8]))
    not_in_full = extra - all_quads
    chk.check(not not_in_full, "--graph: those descriptions are in the full export too",
              show_diff(not_in_full, set(), "--graph", "-"))
    described = {x[0] for x in extra}
    want_described = {s for s, p, o, g in all_quads
                      if g is None and s in refs and (p == RDF.type or isinstance(o, Literal))}
    missing_desc = {x for x in all_quads if x[3] is None and x[0] in refs
                    and (x[1] == RDF.type or isinstance(x[2], Literal))} - extra
    chk.check(not missing_desc, "--graph: all %d referenced shared resources are described"
              % len(want_described), show_diff(missing_desc, set(), "full export", "-"))
    def subject_at(loc):
        return {s for s, p, o, g in q if p == PROV.atLocation and str(o) == loc}

    used, generated = run_data("wf-hpo-07")
    for loc in sorted(used):
        chk.check(subject_at(loc), "--graph: the data the run used, %s, is described" % loc)
    # The run's outputs: a shared data entity's prov:wasGeneratedBy is a
    # triple about the entity, in the default graph, so it is not among
    # the run's quads; an export of the run should still say what the run
    # generated.
    run_tasks = {URIRef("%s/task/wf-hpo-07/%s" % (BASE, t)) for t in tasks["wf-hpo-07"]}
    for loc in sorted(generated):
        subj = subject_at(loc)
        linked = any((s, PROV.wasGeneratedBy, t, None) in q for s in subj for t in run_tasks)
        chk.check(subj and linked, "--graph: the data the run generated, %s, is described with its "
                  "prov:wasGeneratedBy" % loc,
                  "described: %s, prov:wasGeneratedBy a task of the run: %s" % (bool(subj), linked))
    chk.check(described <= refs, "--graph: nothing is described that the run does not refer to")
    # nothing of the evaluation or microscope runs
    chk.check(not any("/wf-eval-3/" in str(x[0]) or "/wf-microscope-01/" in str(x[0]) for x in q),
              "--graph: no subject of another run")


def check_output_file(chk, tmp, store):
    for name in ("turtle", "nquads", "jsonld"):
        path = os.path.join(tmp, "export." + name)
        rc, out, err = mida("export", "--store", store, "--format", name, "-o", path)
        chk.check(rc == 0 and out == b"", "export --format %s -o FILE: exit 0, nothing on stdout" % name,
                  "exit %d, %d bytes on stdout\n%s" % (rc, len(out), err))
        rc2, out2, _ = mida("export", "--store", store, "--format", name)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            chk.check(False, "export -o FILE wrote %s" % path, repr(e))
            continue
        chk.check(rc2 == 0 and data == out2, "export --format %s -o FILE writes what stdout gets (%d bytes)"
                  % (name, len(out2)), "file %d bytes, stdout %d bytes" % (len(data), len(out2)))
    leftovers = [f for f in os.listdir(tmp) if ".tmp" in f]
    chk.check(not leftovers, "export -o leaves no temporary files", " ".join(leftovers))

    unknown = BASE + "/graph/no-such-run"
    rc, out, err = mida("export", "--store", store, "--format", "nquads", "--graph", unknown)
    chk.check(rc == 1 and out == b"" and unknown in err,
              "export --graph of an unknown graph: exit 1, named on stderr, nothing on stdout",
              "exit %d, stdout %r\n%s" % (rc, out[:200], err))
    fdir = os.path.join(tmp, "failed")
    os.mkdir(fdir)
    path = os.path.join(fdir, "out.nq")
    rc, out, err = mida("export", "--store", store, "--format", "nquads", "--graph", unknown, "-o", path)
    chk.check(rc == 1 and out == b"", "export --graph unknown -o FILE: exit 1, nothing on stdout",
              "exit %d\n%s" % (rc, err))
    chk.check(os.listdir(fdir) == [], "a failed export leaves no file behind (not even a temporary one)",
              " ".join(os.listdir(fdir)))
    # an existing file is not clobbered by a failed export
    with open(path, "w") as f:
        f.write("keep me\n")
    rc, _, _ = mida("export", "--store", store, "--format", "nquads", "--graph", unknown, "-o", path)
    with open(path) as f:
        kept = f.read()
    chk.check(rc == 1 and kept == "keep me\n" and sorted(os.listdir(fdir)) == ["out.nq"],
              "a failed export leaves an existing FILE as it was",
              "exit %d, file now %r, dir %s" % (rc, kept[:80], os.listdir(fdir)))


def check_prov(chk, tmp, store):
    try:
        import prov
        import prov.model
        from prov.constants import PROV_BASE_CLS
        from prov.model import ProvDocument
    except ImportError:
        chk.note("SKIP python3-prov: not installed (apt install python3-prov)")
        return
    rc, ttl, err = mida("export", "--store", store, "--format", "turtle")
    if not chk.check(rc == 0, "export --format turtle for python3-prov", err):
        return

    def read(data):
        # prov.read(source, format) has no rdf_format in prov 2.0; the RDF
        # deserializer takes it as a keyword.
        return ProvDocument.deserialize(io.BytesIO(data), format="rdf", rdf_format="turtle")

    try:
        doc = read(ttl)
        chk.check(True, "python3-prov %s reads the Turtle export as it is" % prov.__version__)
    except Exception as e:  # noqa: BLE001
        # python3-prov 2.0 raises KeyError for any resource whose rdf:types
        # include no PROV-DM class it maps to a record (prov.constants.
        # PROV_BASE_CLS): prov:Bundle alone, mida:Telemetry, provone:Port /
        # prov:Role.  Those carry no PROV-DM record, so leave their types out
        # (only their types) and read the rest.
        bases = {k.uri for k, v in PROV_BASE_CLS.items() if k == v}
        g = Graph().parse(data=ttl, format="turtle")
        dropped = {}
        for s in set(g.subjects(RDF.type, None)):
            types = {str(t) for t in g.objects(s, RDF.type)}
            if not types & bases:
                for t in list(g.triples((s, RDF.type, None))):
                    g.remove(t)
                    key = str(t[2]).replace(str(PROV), "prov:").replace(str(MIDA_NS), "mida:") \
                        .replace(str(PROVONE), "provone:")
                    dropped[key] = dropped.get(key, 0) + 1
        chk.note("python3-prov %s cannot read the Turtle export as it is (%s: %s); reading it "
                 "without the rdf:type triples of resources with no PROV-DM record type: %s"
                 % (prov.__version__, type(e).__name__, e,
                    ", ".join("%s x%d" % kv for kv in sorted(dropped.items()))))
        try:
            doc = read(g.serialize(format="turtle", encoding="utf-8"))
        except Exception as e2:  # noqa: BLE001
            chk.check(False, "python3-prov reads the Turtle export", repr(e2))
            return
        chk.check(True, "python3-prov %s reads the Turtle export (see note)" % prov.__version__)

    acts = {r.identifier.uri for r in doc.get_records(prov.model.ProvActivity)}
    ents = {r.identifier.uri for r in doc.get_records(prov.model.ProvEntity)}
    workflows, tasks = campaign_records()
    want_acts = {"%s/task/%s/%s" % (BASE, w, t) for w, ts in tasks.items() for t in ts}
    n_tasks = len(want_acts)
    want_acts |= {"%s/workflow/%s" % (BASE, w) for w in workflows}
    want_acts.add(BASE + "/campaign/cmp-materials-2024")
    chk.check(len(acts) >= n_tasks, "python3-prov finds %d prov:Activity records, at least the %d tasks"
              % (len(acts), n_tasks))
    chk.check(acts == want_acts, "the activities are the %d tasks, %d workflow runs and the campaign"
              % (n_tasks, len(workflows)),
              "missing: %s\nextra: %s" % (sorted(want_acts - acts), sorted(acts - want_acts)))
    want_data = {"/lustre/orion/proj/raw/img_0000.h5", "/lustre/orion/proj/train/set_0.npz",
                 "/lustre/orion/proj/models/model_3.pt", "/lustre/orion/proj/reports/eval_3.json"}
    from urllib.parse import unquote
    got_data = {unquote(e.rsplit("/data/", 1)[1]) for e in ents if "/data/" in e}
    chk.check(want_data <= got_data, "python3-prov finds prov:Entity records for the data",
              "missing: %s" % sorted(want_data - got_data))
    usages = list(doc.get_records(prov.model.ProvUsage))
    gens = list(doc.get_records(prov.model.ProvGeneration))
    chk.check(usages and gens, "python3-prov finds usages (%d) and generations (%d)"
              % (len(usages), len(gens)))


def check_results(chk, store):
    with open(LINEAGE) as f:
        query_vars = None
        for line in f:
            if line.lstrip().upper().startswith("SELECT"):
                query_vars = [w[1:] for w in line.split() if w.startswith("?")]
                break
    rows = {}
    for fmt in ("json", "xml", "csv", "tsv"):
        rc, out, err = mida("sparql", "--store", store, "--results", fmt, "--file", LINEAGE)
        if not chk.check(rc == 0, "lineage query --results %s: exit 0" % fmt, err):
            continue
        try:
            res = Result.parse(io.BytesIO(out), format=fmt)
        except Exception as e:  # noqa: BLE001
            chk.check(False, "rdflib parses the %s results" % fmt, repr(e))
            continue
        got_vars = [str(v) for v in (res.vars or [])]
        chk.check(got_vars == query_vars, "%s results: the variables are %s" % (fmt, query_vars),
                  "got %s" % got_vars)
        b = list(res.bindings)
        chk.check(len(b) == 12, "%s results: 12 rows" % fmt, "got %d" % len(b))
        rows[fmt] = [tuple(str(r.get(rdflib.Variable(v), "")) for v in query_vars) for r in b]
    if "json" in rows:
        for fmt, r in rows.items():
            if fmt != "json":
                chk.check(r == rows["json"], "%s results: the same values, in the same order, as json"
                          % fmt, "\n".join("%s\n  vs %s" % (a, b) for a, b in
                                           zip(r, rows["json"]) if a != b))
        acc = [float(r[1]) for r in rows["json"]]
        chk.check(acc == sorted(acc, reverse=True), "results are ordered by accuracy, descending")


def main():
    chk = Checker()
    if not os.access(MIDA, os.X_OK):
        print("FAIL: %s is not an executable (set MIDA_BIN)" % MIDA)
        return 1
    if len(CAMPAIGN) != 3:
        print("FAIL: expected 3 example campaign files, found %s" % CAMPAIGN)
        return 1
    with tempfile.TemporaryDirectory(prefix="mida-test-exports.") as tmp:
        store = os.path.join(tmp, "store")
        rc, out, err = mida("ingest", "-q", "--store", store, "--base", BASE, "--alias", ALIAS, *CAMPAIGN)
        if not chk.check(rc == 0, "ingest the example campaign", err):
            print("%d passed, %d failed" % (chk.passed, chk.failed))
            return 1
        for step in (lambda: check_graph_export(chk, tmp, store, check_exports(chk, tmp, store)),
                     lambda: check_output_file(chk, tmp, store),
                     lambda: check_prov(chk, tmp, store),
                     lambda: check_results(chk, store)):
            try:
                step()
            except Exception:  # noqa: BLE001 - one broken step must not hide the rest
                import traceback
                chk.check(False, "unexpected error", traceback.format_exc())
    print("%d passed, %d failed" % (chk.passed, chk.failed))
    return 1 if chk.failed else 0


if __name__ == "__main__":
    sys.exit(main())
