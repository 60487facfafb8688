#!/usr/bin/python3
"""Cross-checks mida's JSON-LD writer (src/mida_jsonld.c) with pyld.

For every W3C JSON-LD 1.1 fromRdf test (shared/standards/jsonld-api-tests,
fromRdf-manifest.jsonld) that is a positive evaluation test with N-Quads
input, runs $MIDA_BUILD_DIR/mida_jsonld_convert on the input and checks
that pyld's toRdf of the result is the input dataset again:

  * canonical N-Quads (URDNA2015, pyld) of both must be equal: this is
    dataset isomorphism, blank nodes shared between graphs included;
  * rdflib must agree graph by graph (rdflib.compare.isomorphic), with
    literal normalisation off so that lexical forms count;
  * the document must have the shape mida promises: {"@context", "@graph"}
    only, one node object per subject per graph, every key a keyword or an
    IRI/compact IRI (never a bare term).

We compare with the input, not with the suite's expected output: mida
writes its own compacted form (no @list, no native numbers, one fixed
context), so only the meaning can be compared.  Options in the manifest
(useNativeTypes, useRdfType, rdfDirection, specVersion) change the
expected output form only, never the input, so those tests run too and
the options are reported as ignored.  Negative tests are skipped: they
expect an error for an invalid rdf:JSON literal, and mida keeps rdf:JSON
literals as typed strings without validating them.

Both sides are read by rdflib (with literal normalisation off) and
canonicalised by pyld.  Language tags are compared in lower case: pyld
lower-cases them (RDF 1.1 tags are case-insensitive).

Then the same checks run on mida-shaped data with the mida context
(ontology/context.jsonld, or an inline one with the same prefixes if that
file is missing), with a check that keys and types come out compacted, and
on contexts built to trap a careless writer (terms that would capture our
keys, a prefix that would capture full IRIs, default language, @vocab).

Environment: MIDA_BUILD_DIR (required), MIDA_SHARED_DIR (default
../../../shared), MIDA_SOURCE_DIR (default ../..).  Exit status: 0 pass,
1 failure, 77 skip (pyld or rdflib missing).
"""

import json
import os
import subprocess
import sys
import tempfile
import warnings

try:
    from pyld import jsonld
    import rdflib
    from rdflib.compare import isomorphic
except ImportError as e:  # pragma: no cover - depends on the machine
    print("SKIP: %s (apt install python3-pyld python3-rdflib)" % e)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("MIDA_SOURCE_DIR") or os.path.join(HERE, "..", "..")
SHARED = os.environ.get("MIDA_SHARED_DIR") or os.path.join(SOURCE, "..", "shared")
SUITE = os.path.join(SHARED, "standards", "jsonld-api-tests")
rdflib.NORMALIZE_LITERALS = False   # "007"^^xsd:integer must stay "007"
# The suite's odd lexical forms ("notnative"^^xsd:double) are the point.
warnings.filterwarnings("ignore", category=UserWarning, module=r"rdflib\.")
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"

# raptor 2.0.15's N-Triples/N-Quads parser leaks the datatype URI of every
# typed literal (rapper itself does, under valgrind).  That is not ours;
# suppress exactly that so that sanitizer builds still check the rest.
LSAN_SUPP = "leak:raptor_new_uri_from_counted_string\n"
TIMEOUT = 60 * float(os.environ.get("MIDA_TEST_TIMEOUT_MULTIPLIER") or 1)


def no_loader(url, options=None):
    """Everything must come from the document itself: no network."""
    raise jsonld.JsonLdError("remote context not allowed in this test: %s" % url,
                             "jsonld.LoadDocumentError", code="loading document failed")


class Failure(Exception):
    pass


class Converter:
    def __init__(self, tmpdir):
        build = os.environ.get("MIDA_BUILD_DIR")
        if not build:
            raise Failure("MIDA_BUILD_DIR is not set")
        self.exe = os.path.join(build, "mida_jsonld_convert")
        if not os.access(self.exe, os.X_OK):
            raise Failure("%s is missing (build target mida_jsonld_convert)" % self.exe)
        supp = os.path.join(tmpdir, "lsan.supp")
        with open(supp, "w") as f:
            f.write(LSAN_SUPP)
        self.env = dict(os.environ)
        lsan = self.env.get("LSAN_OPTIONS", "")
        self.env["LSAN_OPTIONS"] = (lsan + ":" if lsan else "") + "suppressions=" + supp
        self.tmpdir = tmpdir

    def run(self, nq_path, context_path=None):
        argv = [self.exe, nq_path] + ([context_path] if context_path else [])
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=self.env, timeout=TIMEOUT, check=False)
        if proc.returncode != 0:
            raise Failure("mida_jsonld_convert exit %d: %s" % (
                proc.returncode, proc.stderr.decode(errors="replace").strip()))
        text = proc.stdout.decode("utf-8")   # must be UTF-8
        try:
            return text, json.loads(text)
        except ValueError as e:
            raise Failure("output is not JSON: %s" % e)


def read_quads(nquads):
    """rdflib's reading of N-Quads text: (s, p, o, graph name or None).

    rdflib reads every escape (pyld's reader leaves \\uXXXX as it is, and
    has no comments); literal normalisation is off so that lexical forms
    count; language tags are lower-cased."""
    cg = rdflib.ConjunctiveGraph()
    cg.parse(data=nquads, format="nquads")
    out = []
    for s, p, o, ctx in cg.quads():
        name = ctx.identifier if ctx is not None else None
        if name == cg.default_context.identifier or not isinstance(name, rdflib.URIRef):
            name = None
        if isinstance(o, rdflib.Literal) and o.language:
            o = rdflib.Literal(str(o), lang=o.language.lower())
        out.append((s, p, o, name))
    return out


def term_nq(t):
    """N-Quads form with only the escapes pyld's reader undoes."""
    if isinstance(t, rdflib.URIRef):
        return "<%s>" % t
    if isinstance(t, rdflib.BNode):
        return "_:%s" % t
    lex = (str(t).replace("\\", "\\\\").replace('"', '\\"')
           .replace("\n", "\\n").replace("\r", "\\r"))
    if t.language:
        return '"%s"@%s' % (lex, t.language)
    if t.datatype is not None and str(t.datatype) != XSD + "string":
        return '"%s"^^<%s>' % (lex, t.datatype)
    return '"%s"' % lex


def canonical(nquads):
    """URDNA2015 canonical N-Quads (pyld) of what rdflib reads."""
    lines = "".join("%s %s %s%s .\n" % (term_nq(s), term_nq(p), term_nq(o),
                                         " " + term_nq(g) if g is not None else "")
                    for s, p, o, g in read_quads(nquads))
    return jsonld.normalize(lines, {
        "algorithm": "URDNA2015", "inputFormat": "application/n-quads",
        "format": "application/n-quads"})


def rdflib_graphs(nquads):
    """Graph name (or '@default') -> rdflib Graph."""
    out = {}
    for s, p, o, name in read_quads(nquads):
        out.setdefault(str(name) if name is not None else "@default",
                       rdflib.Graph()).add((s, p, o))
    return out


def check_shape(doc):
    if not isinstance(doc, dict) or sorted(doc) != ["@context", "@graph"]:
        raise Failure("top level is not {@context, @graph}: %r" % sorted(doc))

    def nodes(array, where, nested):
        if not isinstance(array, list):
            raise Failure("%s: @graph is not an array" % where)
        seen = set()
        for node in array:
            if not isinstance(node, dict) or "@id" not in node:
                raise Failure("%s: node object without @id: %r" % (where, node))
            if node["@id"] in seen:
                raise Failure("%s: two node objects for %s" % (where, node["@id"]))
            seen.add(node["@id"])
            for key, value in node.items():
                if key.startswith("@"):
                    if key not in ("@id", "@type", "@graph"):
                        raise Failure("%s: unexpected %s" % (where, key))
                elif ":" not in key:
                    raise Failure("%s: key %r is a bare term" % (where, key))
            if "@graph" in node:
                if nested:
                    raise Failure("%s: nested named graph" % where)
                nodes(node["@graph"], node["@id"], True)

    nodes(doc["@graph"], "top level", False)


# pyld 2.0.3 turns the value of any value object typed xsd:double into a
# number before toRdf, and a string there ("1.1E-1") raises TypeError
# (digitalbazaar/pyld PR #202, "String xsd:double value crash toRdf()"); the
# JSON-LD 1.1 API converts only *numbers* typed xsd:double.  So: expand with
# pyld (where every rule of our writer is tested), give such value objects a
# stand-in datatype, convert, and put xsd:double back in the N-Quads.
DOUBLE_STANDIN = "urn:x-mida-test:xsd-double"


def to_rdf(doc):
    expanded = jsonld.expand(doc, {"documentLoader": no_loader})

    def swap(x):
        if isinstance(x, list):
            for e in x:
                swap(e)
        elif isinstance(x, dict):
            if x.get("@type") == XSD + "double" and isinstance(x.get("@value"), str):
                x["@type"] = DOUBLE_STANDIN
            for v in x.values():
                swap(v)
    swap(expanded)
    got = jsonld.to_rdf(expanded, {"format": "application/n-quads",
                                   "documentLoader": no_loader})
    return got.replace("<%s>" % DOUBLE_STANDIN, "<%sdouble>" % XSD)


def check_roundtrip(nquads, doc):
    got = to_rdf(doc)
    want_c, got_c = canonical(nquads), canonical(got)
    if want_c != got_c:
        raise Failure("toRdf differs from the input\n--- want\n%s--- got\n%s" % (want_c, got_c))
    want_g, got_g = rdflib_graphs(nquads), rdflib_graphs(got)
    if sorted(want_g) != sorted(got_g):
        raise Failure("rdflib: graph names differ: %s vs %s" % (sorted(want_g), sorted(got_g)))
    for name in want_g:
        if not isomorphic(want_g[name], got_g[name]):
            raise Failure("rdflib: graph %s is not isomorphic" % name)


# ---- mida-shaped data and trap contexts ------------------------------------

PROV = "http://www.w3.org/ns/prov#"
MIDA = "https://w3id.org/mida/ns#"
XSD = "http://www.w3.org/2001/XMLSchema#"
B = "https://mida.example"
G = B + "/graph/wf1"
TASK = B + "/task/wf1/t%2F1"

MIDA_NQ = "\n".join([
    '<%s> <%stype> <%sTask> <%s> .' % (TASK, RDF, MIDA, G),
    '<%s> <%stype> <%sActivity> <%s> .' % (TASK, RDF, PROV, G),
    '<%s> <%stype> <http://purl.dataone.org/provone/2015/01/15/ontology#Execution> <%s> .'
    % (TASK, RDF, G),
    '<%s> <%sstartedAtTime> "2024-05-01T10:00:00.123Z"^^<%sdateTime> <%s> .'
    % (TASK, PROV, XSD, G),
    '<%s> <%staskId> "t/1" <%s> .' % (TASK, MIDA, G),
    '<%s> <%sstatus> <%sFinished> <%s> .' % (TASK, MIDA, MIDA, G),
    '<%s> <%shostname> "n\\u00E9ud\\n\\t\\"q\\" \\\\ \\u0001" <%s> .' % (TASK, MIDA, G),
    '<%s> <http://www.w3.org/2000/01/rdf-schema#label> "T\\u00E2che"@fr-CA <%s> .' % (TASK, G),
    '<%s> <%sused> <%s/value/wf1/t%%2F1/used/lr> <%s> .' % (TASK, PROV, B, G),
    '<%s/value/wf1/t%%2F1/used/lr> <%svalue> "1.0E-2"^^<%sdouble> <%s> .' % (B, PROV, XSD, G),
    '<%s/value/wf1/t%%2F1/used/cfg> <%svalue> "{\\"a\\": [1, 2.50]}"^^<%sJSON> <%s> .'
    % (B, PROV, RDF, G),
    '<%s/value/wf1/t%%2F1/used/n> <%svalue> "007"^^<%sinteger> <%s> .' % (B, PROV, XSD, G),
    '<%s/value/wf1/t%%2F1/used/b> <%svalue> "1"^^<%sboolean> <%s> .' % (B, PROV, XSD, G),
    '<urn:hash:sha256:00ff> <%stype> <%sEntity> <%s> .' % (RDF, PROV, G),
    '<urn:hash:sha256:00ff> <%satLocation> "/gpfs/x y/\\u00E9.h5" <%s> .' % (PROV, G),
    '<%s> <%stype> <%sBundle> .' % (G, RDF, PROV),
    '<%s> <%sgeneratedAtTime> "2024-05-01T10:00:01Z"^^<%sdateTime> .' % (G, PROV, XSD),
    '_:n1 <%swasInformedBy> <%s> <%s> .' % (PROV, TASK, G),
]) + "\n"

FALLBACK_CONTEXT = {"@context": {
    "prov": PROV, "provone": "http://purl.dataone.org/provone/2015/01/15/ontology#",
    "mida": MIDA, "xsd": XSD, "rdf": RDF, "rdfs": "http://www.w3.org/2000/01/rdf-schema#"}}

EX = "http://example.org/"
TRAP_NQ = "\n".join([
    '<%ss> <%slabel> "x" .' % (EX, EX),
    '<%ss> <%slist> "y" .' % (EX, EX),
    '<%ss> <%sv/same> "z" .' % (EX, EX),
    '<%ss> <%sname> "n"@EN .' % (EX, EX),
    '<%ss> <%stype> <%sThing> .' % (EX, RDF, EX),
    '<%ss> <%stype> <urn:x:T> .' % (EX, RDF),
    '<%ss> <%swhen> "2024"^^<%sgYear> .' % (EX, EX, XSD),
    '<urn:x:1> <%sref> <urn:x:2> <urn:x:g> .' % EX,
    '<urn:x:1> <urn:p> "v" <urn:x:g> .',
    '<exs:s> <%sref> <mailto:a@b.example> .' % EX,
    '_:b <%sref> _:b .' % EX,
]) + "\n"

TRAP_CONTEXTS = {
    # terms that would capture our keys and types; a default language
    "capture": {"@context": {
        "ex": EX, "exv": EX + "v/",
        "ex:list": {"@container": "@list"},
        "ex:label": {"@id": EX + "label", "@type": "@id"},
        "exv:same": EX + "v/same",
        "ex:Thing": {"@id": EX + "Thing", "@context": {"ex": "http://other.example/"}},
        "label": EX + "label", "name": {"@id": EX + "name", "@language": "de"},
        "@language": "en"}},
    # prefixes named like the schemes of full IRIs we write
    "shadow": {"@context": {"urn": "http://bad.example/", "mailto": "http://bad.example/m/",
                            "exs": "http://bad.example/exs/", "e": EX}},
    # @vocab and @base must not change anything we write
    "vocab": {"@context": {"@vocab": "http://vocab.example/", "@base": "http://base.example/",
                           "xsd": XSD}},
    # arrays, null resets, an @prefix: true object term
    "array": {"@context": [{"ex": EX, "@language": "fr"},
                           None,
                           {"ex": None, "e": {"@id": EX, "@prefix": True}, "x": XSD}]},
}


def main():
    passed, failed, skipped, notes = 0, [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            conv = Converter(tmp)
        except Failure as e:
            print("FAIL: %s" % e)
            return 1

        def case(name, nq_path, context_path=None, extra=None):
            nonlocal passed
            try:
                with open(nq_path, encoding="utf-8") as f:
                    nquads = f.read()
                text, doc = conv.run(nq_path, context_path)
                check_shape(doc)
                check_roundtrip(nquads, doc)
                if extra:
                    extra(doc)
                passed += 1
            except Failure as e:
                failed.append(name)
                print("FAIL %s: %s" % (name, e))
            except Exception as e:  # pyld/rdflib errors are failures too
                failed.append(name)
                print("FAIL %s: %s: %s" % (name, type(e).__name__, e))

        # -- the W3C fromRdf suite --
        with open(os.path.join(SUITE, "fromRdf-manifest.jsonld"), encoding="utf-8") as f:
            manifest = json.load(f)
        for entry in manifest["sequence"]:
            types = entry.get("@type", [])
            if "jld:FromRDFTest" not in types:
                continue
            tid = "fromRdf" + entry["@id"]
            label = "%s (%s)" % (tid, entry.get("name", ""))
            if "jld:PositiveEvaluationTest" not in types:
                skipped.append("%s: negative test (expects an error for an invalid rdf:JSON "
                               "literal; mida keeps rdf:JSON as typed strings, unvalidated)"
                               % label)
                continue
            if not entry["input"].endswith(".nq"):
                skipped.append("%s: input is not N-Quads" % label)
                continue
            opts = sorted(k for k in entry.get("option", {}) if k not in ("specVersion",
                                                                          "normative"))
            if opts:
                notes.append("%s: option %s ignored (output form only)" % (tid, ", ".join(opts)))
            case(tid, os.path.join(SUITE, entry["input"]))
        w3c = passed, len(failed)

        # -- mida-shaped data with the mida context --
        nq = os.path.join(tmp, "mida.nq")
        with open(nq, "w", encoding="utf-8") as f:
            f.write(MIDA_NQ)
        ctx_path = os.path.join(SOURCE, "ontology", "context.jsonld")
        if not os.path.exists(ctx_path):
            notes.append("ontology/context.jsonld missing: used an inline context")
            ctx_path = os.path.join(tmp, "context.jsonld")
            with open(ctx_path, "w") as f:
                json.dump(FALLBACK_CONTEXT, f)

        def compacted(doc):
            keys, types = set(), set()

            def walk(array):
                for node in array:
                    keys.update(node)
                    t = node.get("@type", [])
                    types.update(t if isinstance(t, list) else [t])
                    walk(node.get("@graph", []))
                    for v in node.values():
                        for x in v if isinstance(v, list) else [v]:
                            if isinstance(x, dict) and "@value" in x and "@type" in x:
                                types.add(x["@type"])
            walk(doc["@graph"])
            for want in ("prov:startedAtTime", "mida:taskId", "prov:value", "rdfs:label"):
                if want not in keys:
                    raise Failure("key %s not compacted: %s" % (want, sorted(keys)))
            for want in ("prov:Activity", "mida:Task", "xsd:dateTime", "rdf:JSON"):
                if want not in types:
                    raise Failure("type %s not compacted: %s" % (want, sorted(types)))
        case("mida-context", nq, ctx_path, compacted)

        # -- contexts that trap a careless writer --
        nq = os.path.join(tmp, "trap.nq")
        with open(nq, "w", encoding="utf-8") as f:
            f.write(TRAP_NQ)
        for name, ctx in TRAP_CONTEXTS.items():
            path = os.path.join(tmp, "trap-%s.jsonld" % name)
            with open(path, "w") as f:
                json.dump(ctx, f)
            case("trap-" + name, nq, path)

    for s in skipped:
        print("SKIP %s" % s)
    for n in notes:
        print("NOTE %s" % n)
    print("W3C fromRdf: %d passed, %d failed, %d skipped" % (w3c[0], w3c[1], len(skipped)))
    print("%d passed, %d failed" % (passed, len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
