#!/usr/bin/python3
"""Checks of the mida vocabulary (ontology/mida.ttl) and its JSON-LD context.

Run by CTest as python.ontology with MIDA_SOURCE_DIR (the repository root)
and MIDA_SHARED_DIR (the shared folder with standards/) in the environment.
Without them it falls back to the paths relative to this file.

What it checks:
  * mida.ttl parses (rdflib, and `rapper -c` without warnings when rapper
    is installed);
  * every mida: term that the C sources use (MIDA_("x"), MIDA_NS_MIDA "x",
    or the literal IRI), that a query in queries/ uses, or that an adapter
    spells out as a full IRI, is defined in mida.ttl with label and comment;
  * every PROV-O / ProvONE term that the C sources name with PROV_("x") /
    PROVONE_("x") exists in the PROV namespace / ProvONE files;
  * every mida class, property and individual has rdfs:label (en),
    rdfs:comment and rdfs:isDefinedBy, and one kind;
  * every prov:/provone: term that mida.ttl refers to (alignment targets,
    domains, ranges, functional PROV properties) exists in
    standards/prov/prov-o.ttl or the ProvONE file, with the right kind;
  * ontology/context.jsonld is JSON, a JSON-LD 1.1 context of prefix
    definitions only, and agrees with the prefixes of mida.ttl;
  * the status individuals exist with their ranks;
  * the terms named in ARCHITECTURE 3.3 (the query contract) exist;
  * docs/ontology.md mentions every mida term and no undefined one.

Prints one line per failed check and a final "N passed, N failed" line;
exits 1 when a check failed, 77 (skip) when rdflib is missing.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys

try:
    import rdflib
    from rdflib import RDF, RDFS, OWL, XSD, Literal, URIRef
    from rdflib.collection import Collection
except ImportError:  # pragma: no cover - depends on the host
    print("SKIP: rdflib is not installed for", sys.executable)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("MIDA_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
SHARED_DIR = os.environ.get("MIDA_SHARED_DIR") or os.path.normpath(os.path.join(SOURCE_DIR, "..", "shared"))

MIDA = "https://w3id.org/mida/ns#"
PROV = "http://www.w3.org/ns/prov#"
PROVONE = "http://purl.dataone.org/provone/2015/01/15/ontology#"
DCTERMS = "http://purl.org/dc/terms/"

EXPECTED_PREFIXES = {
    "prov": PROV,
    "provone": PROVONE,
    "mida": MIDA,
    "xsd": str(XSD),
    "rdf": str(RDF),
    "rdfs": str(RDFS),
    "owl": str(OWL),
    "dcterms": DCTERMS,
}

TTL = os.path.join(SOURCE_DIR, "ontology", "mida.ttl")
CONTEXT = os.path.join(SOURCE_DIR, "ontology", "context.jsonld")
DOC = os.path.join(SOURCE_DIR, "docs", "ontology.md")

KINDS = (OWL.Class, OWL.ObjectProperty, OWL.DatatypeProperty, OWL.AnnotationProperty)
PROPERTY_KINDS = (OWL.ObjectProperty, OWL.DatatypeProperty, OWL.AnnotationProperty,
                  RDF.Property, OWL.FunctionalProperty, OWL.TransitiveProperty,
                  OWL.SymmetricProperty, OWL.InverseFunctionalProperty)
CLASS_KINDS = (OWL.Class, RDFS.Class)

# Terms that ARCHITECTURE 3.3 names: queries rely on them (kind expected).
CONTRACT = {
    "Campaign": OWL.Class, "WorkflowRun": OWL.Class, "Task": OWL.Class,
    "Value": OWL.Class, "Telemetry": OWL.Class, "Status": OWL.Class,
    "status": OWL.ObjectProperty, "telemetryAtStart": OWL.ObjectProperty,
    "telemetryAtEnd": OWL.ObjectProperty,
    "campaignId": OWL.DatatypeProperty, "workflowId": OWL.DatatypeProperty,
    "workflowName": OWL.DatatypeProperty, "taskId": OWL.DatatypeProperty,
    "activityId": OWL.DatatypeProperty, "hostname": OWL.DatatypeProperty,
    "name": OWL.DatatypeProperty, "contentDigest": OWL.DatatypeProperty,
    "version": OWL.DatatypeProperty,
    "cpuPercent": OWL.DatatypeProperty, "memoryUsedBytes": OWL.DatatypeProperty,
    "processRssBytes": OWL.DatatypeProperty, "ioReadBytes": OWL.DatatypeProperty,
    "gpuMemoryUsedBytes": OWL.DatatypeProperty,
}
STATUS_RANKS = {"Submitted": 1, "Waiting": 2, "Running": 3, "Finished": 4, "Error": 4}
# ARCHITECTURE 3.5 names these as replaced, never duplicated.
MUST_BE_FUNCTIONAL = [MIDA + "status", PROV + "startedAtTime", PROV + "endedAtTime"]


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, cond, name, detail=""):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL %s%s" % (name, (": " + detail) if detail else ""))
        return bool(cond)


C = Checks()


def rel(path):
    try:
        return os.path.relpath(path, SOURCE_DIR)
    except ValueError:
        return path


def local(iri, ns):
    return str(iri)[len(ns):] if str(iri).startswith(ns) else None


def short(iri):
    s = str(iri)
    for p, ns in EXPECTED_PREFIXES.items():
        if s.startswith(ns):
            return p + ":" + s[len(ns):]
    return "<%s>" % s


# ---------------------------------------------------------------- parsing

def parse_ttl():
    ok = C.check(os.path.isfile(TTL), "mida.ttl exists", rel(TTL))
    if not ok:
        return None, ""
    text = open(TTL, encoding="utf-8").read()
    g = rdflib.Graph()
    try:
        g.parse(TTL, format="turtle")
    except Exception as e:  # any parser error is a failed check
        C.check(False, "mida.ttl parses (rdflib)", str(e).splitlines()[0] if str(e) else repr(e))
        return None, text
    C.check(len(g) > 0, "mida.ttl parses (rdflib)", "no triples")
    rapper = shutil.which("rapper")
    if rapper:
        p = subprocess.run([rapper, "-i", "turtle", "-c", TTL],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
        bad = [l for l in p.stderr.splitlines() if re.search(r"warning|error", l, re.I)]
        C.check(p.returncode == 0 and not bad, "rapper -i turtle -c mida.ttl is clean",
                "rc=%d %s" % (p.returncode, "; ".join(bad[:3])))
    return g, text


def load_standards():
    """PROV-O plus ProvONE, and the whole PROV namespace (prov.ttl)."""
    provo = rdflib.Graph()
    path = os.path.join(SHARED_DIR, "standards", "prov", "prov-o.ttl")
    if C.check(os.path.isfile(path), "PROV-O file found", rel(path)):
        provo.parse(path, format="turtle")
    provone = rdflib.Graph()
    d = os.path.join(SHARED_DIR, "standards", "provone")
    files = sorted(glob.glob(os.path.join(d, "*.ttl")))
    files += sorted(glob.glob(os.path.join(d, "*.owl")) + glob.glob(os.path.join(d, "*.rdf")))
    C.check(bool(files), "ProvONE file found", "nothing under %s" % d)
    for f in files:
        fmt = "turtle" if f.endswith(".ttl") else "xml"
        try:
            provone.parse(f, format=fmt)
        except Exception as e:
            C.check(False, "ProvONE file parses", "%s: %s" % (f, e))
    provns = rdflib.Graph()
    full = os.path.join(SHARED_DIR, "standards", "prov", "prov.ttl")
    if os.path.isfile(full):
        provns.parse(full, format="turtle")
    return provo, provone, provns


def declared(g, iri):
    return (URIRef(iri), RDF.type, None) in g


def kinds_of(g, iri):
    return set(g.objects(URIRef(iri), RDF.type))


# ---------------------------------------------------------------- term use

def scan_files(patterns_by_ext, roots):
    """Yield (term, file, line) for every match of the per-extension regexes."""
    for root in roots:
        base = os.path.join(SOURCE_DIR, root)
        for dirpath, _dirs, files in os.walk(base):
            for fn in sorted(files):
                ext = os.path.splitext(fn)[1]
                pats = patterns_by_ext.get(ext)
                if not pats:
                    continue
                path = os.path.join(dirpath, fn)
                try:
                    lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
                except OSError:
                    continue
                for no, line in enumerate(lines, 1):
                    for pat in pats:
                        for m in pat.finditer(line):
                            if m.group(1):
                                yield m.group(1), path, no


LOCAL = r"([A-Za-z_][A-Za-z0-9_.-]*[A-Za-z0-9_]|[A-Za-z_])"
C_MIDA = [
    re.compile(r'\bMIDA_\(\s*"' + LOCAL + r'"\s*\)'),
    re.compile(r'\bMIDA_NS_MIDA\s*"' + LOCAL + r'"'),
    re.compile(re.escape(MIDA) + LOCAL),
]
C_PROV = [
    re.compile(r'\bPROV_\(\s*"' + LOCAL + r'"\s*\)'),
    re.compile(r'\bMIDA_NS_PROV\s*"' + LOCAL + r'"'),
    re.compile(re.escape(PROV) + LOCAL),
]
C_PROVONE = [
    re.compile(r'\bPROVONE_\(\s*"' + LOCAL + r'"\s*\)'),
    re.compile(r'\bMIDA_NS_PROVONE\s*"' + LOCAL + r'"'),
    re.compile(re.escape(PROVONE) + LOCAL),
]
FULL_MIDA = [re.compile(re.escape(MIDA) + LOCAL)]


def query_terms():
    """mida: terms used by the SPARQL files in queries/ (prefixed or full)."""
    out = []
    base = os.path.join(SOURCE_DIR, "queries")
    for path in sorted(glob.glob(os.path.join(base, "**", "*.rq"), recursive=True)):
        text = open(path, encoding="utf-8", errors="replace").read()
        pm = re.search(r"PREFIX\s+(\w*):\s*<" + re.escape(MIDA) + ">", text, re.I)
        pats = list(FULL_MIDA)
        if pm:
            pats.append(re.compile(r"(?<![\w:/#])" + re.escape(pm.group(1)) + ":" + LOCAL))
        for no, line in enumerate(text.splitlines(), 1):
            code = line.split("#", 1)[0] if not line.lstrip().startswith("PREFIX") else ""
            for pat in pats:
                for m in pat.finditer(line if pat in FULL_MIDA else code):
                    out.append((m.group(1), path, no))
    return out


def check_used_terms(g, provo, provone, provns):
    used = {}
    for term, path, no in scan_files({".c": C_MIDA, ".h": C_MIDA}, ["src"]):
        used.setdefault(term, "%s:%d" % (rel(path), no))
    for term, path, no in query_terms():
        used.setdefault(term, "%s:%d" % (rel(path), no))
    adapter_exts = {e: FULL_MIDA for e in (".c", ".h", ".py", ".sh", ".json", ".jsonld", ".ttl", ".rq")}
    for term, path, no in scan_files(adapter_exts, ["adapters"]):
        used.setdefault(term, "%s:%d" % (rel(path), no))
    for term in sorted(used):
        iri = URIRef(MIDA + term)
        where = "used at " + used[term]
        if not C.check(declared(g, iri), "mida:%s is defined in mida.ttl" % term, where):
            continue
        C.check(g.value(iri, RDFS.label) is not None, "mida:%s has rdfs:label" % term, where)
        C.check(g.value(iri, RDFS.comment) is not None, "mida:%s has rdfs:comment" % term, where)

    # PROV / ProvONE terms named in C must exist in those vocabularies.
    provall = provns if len(provns) else provo
    seen = set()
    for term, path, no in scan_files({".c": C_PROV, ".h": C_PROV}, ["src"]):
        if term in seen:
            continue
        seen.add(term)
        C.check(declared(provall, PROV + term), "prov:%s (used in C) exists in the PROV namespace" % term,
                "used at %s:%d" % (rel(path), no))
    seen = set()
    for term, path, no in scan_files({".c": C_PROVONE, ".h": C_PROVONE}, ["src"]):
        if term in seen:
            continue
        seen.add(term)
        C.check((URIRef(PROVONE + term), None, None) in provone,
                "provone:%s (used in C) exists in ProvONE" % term,
                "used at %s:%d" % (rel(path), no))


# ---------------------------------------------------------------- the file

def mida_terms(g):
    return sorted({s for s in g.subjects(RDF.type, None)
                   if isinstance(s, URIRef) and str(s).startswith(MIDA) and str(s) != MIDA})


def check_header(g):
    ont = URIRef(MIDA)
    C.check((ont, RDF.type, OWL.Ontology) in g, "<%s> a owl:Ontology" % MIDA)
    C.check(g.value(ont, URIRef(DCTERMS + "title")) is not None, "ontology has dcterms:title")
    C.check(g.value(ont, URIRef(DCTERMS + "description")) is not None, "ontology has dcterms:description")
    C.check(g.value(ont, OWL.versionInfo) is not None, "ontology has owl:versionInfo")


def check_terms(g):
    classes_of_mida = {s for s in g.subjects(RDF.type, OWL.Class) if str(s).startswith(MIDA)}
    for t in mida_terms(g):
        n = short(t)
        labels = list(g.objects(t, RDFS.label))
        C.check(any(isinstance(l, Literal) and l.language == "en" for l in labels),
                "%s has an English rdfs:label" % n)
        comments = [str(c) for c in g.objects(t, RDFS.comment)]
        C.check(len(comments) == 1, "%s has one rdfs:comment" % n, "found %d" % len(comments))
        if comments:
            c = comments[0].strip()
            C.check(len(c) >= 30 and " " in c and c.endswith("."),
                    "%s rdfs:comment is a sentence" % n, repr(c[:60]))
        C.check((t, RDFS.isDefinedBy, URIRef(MIDA)) in g, "%s rdfs:isDefinedBy <%s>" % (n, MIDA))
        types = kinds_of(g, t)
        main = [k for k in types if k in KINDS]
        individual = OWL.NamedIndividual in types or bool(types & classes_of_mida)
        C.check(len(main) == 1 or (not main and individual),
                "%s has exactly one kind (class, object/datatype/annotation property or individual)" % n,
                ", ".join(short(k) for k in types))
        if OWL.FunctionalProperty in types:
            C.check(OWL.ObjectProperty in types or OWL.DatatypeProperty in types,
                    "%s: functional property is an object or datatype property" % n)
        if OWL.DatatypeProperty in types:
            for r in g.objects(t, RDFS.range):
                C.check(str(r).startswith(str(XSD)) or r in (RDF.JSON, RDF.langString, RDFS.Literal),
                        "%s: datatype property has a datatype range" % n, short(r))
        if OWL.ObjectProperty in types:
            for r in g.objects(t, RDFS.range):
                C.check(not str(r).startswith(str(XSD)) and r not in (RDF.JSON, RDFS.Literal),
                        "%s: object property has a class range" % n, short(r))

    # every mida: IRI mentioned anywhere in the file is one of the terms
    defined = set(mida_terms(g)) | {URIRef(MIDA)}
    mentioned = set()
    for s, p, o in g:
        for x in (s, p, o):
            if isinstance(x, URIRef) and str(x).startswith(MIDA):
                mentioned.add(x)
    for x in sorted(mentioned - defined):
        C.check(False, "%s is mentioned in mida.ttl but not defined there" % short(x))
    C.passed += 1 if not (mentioned - defined) else 0


def check_contract(g):
    for name, kind in sorted(CONTRACT.items()):
        iri = URIRef(MIDA + name)
        C.check((iri, RDF.type, kind) in g, "contract term mida:%s is a %s" % (name, short(kind)))
    for name in ("Campaign", "WorkflowRun", "Task"):
        iri = URIRef(MIDA + name)
        for sup in (PROV + "Activity", PROVONE + "Execution"):
            C.check((iri, RDFS.subClassOf, URIRef(sup)) in g,
                    "mida:%s rdfs:subClassOf %s" % (name, short(sup)))
    C.check((URIRef(MIDA + "Value"), RDFS.subClassOf, URIRef(PROV + "Entity")) in g,
            "mida:Value rdfs:subClassOf prov:Entity")
    for iri in MUST_BE_FUNCTIONAL:
        C.check((URIRef(iri), RDF.type, OWL.FunctionalProperty) in g,
                "%s is an owl:FunctionalProperty (ARCHITECTURE 3.5)" % short(iri))


def check_status(g):
    status = URIRef(MIDA + "Status")
    rank = URIRef(MIDA + "statusRank")
    for name, want in sorted(STATUS_RANKS.items(), key=lambda kv: kv[1]):
        iri = URIRef(MIDA + name)
        C.check((iri, RDF.type, status) in g, "mida:%s a mida:Status" % name)
        C.check((iri, RDF.type, OWL.NamedIndividual) in g, "mida:%s a owl:NamedIndividual" % name)
        ranks = list(g.objects(iri, rank))
        ok = (len(ranks) == 1 and isinstance(ranks[0], Literal)
              and ranks[0].datatype == XSD.integer and int(ranks[0]) == want)
        C.check(ok, "mida:%s mida:statusRank %d" % (name, want), "found %s" % [str(r) for r in ranks])
    for ind in sorted(set(g.subjects(RDF.type, status))):
        C.check(len(list(g.objects(ind, rank))) == 1, "%s (a mida:Status) has one mida:statusRank" % short(ind))


def check_external(g, provo, provone):
    std = provo + provone
    refs = {}  # iri -> set of roles
    for p, role in ((RDFS.subClassOf, "class"), (RDFS.subPropertyOf, "property"),
                    (RDFS.domain, "class"), (RDFS.range, "class")):
        for o in g.objects(None, p):
            if isinstance(o, URIRef):
                refs.setdefault(o, set()).add(role)
    for lst in g.objects(None, OWL.unionOf):
        for o in Collection(g, lst):
            refs.setdefault(o, set()).add("class")
    for s in g.subjects(RDF.type, None):
        if isinstance(s, URIRef) and not str(s).startswith(MIDA):
            refs.setdefault(s, set()).add("property")
    for s, p, o in g:
        for x in (s, p, o):
            if isinstance(x, URIRef) and (str(x).startswith(PROV) or str(x).startswith(PROVONE)):
                refs.setdefault(x, set())
    for iri in sorted(refs):
        if not (str(iri).startswith(PROV) or str(iri).startswith(PROVONE)):
            continue
        n = short(iri)
        if not C.check(declared(std, iri), "%s (referenced by mida.ttl) exists in PROV-O/ProvONE" % n):
            continue
        kinds = kinds_of(std, iri)
        if "class" in refs[iri]:
            C.check(bool(kinds & set(CLASS_KINDS)), "%s is a class in PROV-O/ProvONE" % n,
                    ", ".join(short(k) for k in kinds))
        if "property" in refs[iri]:
            C.check(bool(kinds & set(PROPERTY_KINDS)), "%s is a property in PROV-O/ProvONE" % n,
                    ", ".join(short(k) for k in kinds))
    # Functional PROV properties: only annotate, never redefine.
    for s in g.subjects(RDF.type, OWL.FunctionalProperty):
        if str(s).startswith(MIDA):
            continue
        extra = {p for p in g.predicates(s, None)} - {RDF.type, URIRef(MIDA + "functionalNote"),
                                                      RDFS.comment}
        C.check(not extra, "%s: mida.ttl only marks it functional, does not redefine it" % short(s),
                ", ".join(short(p) for p in extra))


def ttl_prefixes(text):
    out = {}
    for m in re.finditer(r"^\s*(?:@prefix\s+([\w.-]*):\s*<([^>]*)>\s*\.|PREFIX\s+([\w.-]*):\s*<([^>]*)>)",
                         text, re.M | re.I):
        if m.group(1) is not None:
            out[m.group(1)] = m.group(2)
        else:
            out[m.group(3)] = m.group(4)
    return out


def check_context(g, text):
    if not C.check(os.path.isfile(CONTEXT), "context.jsonld exists", rel(CONTEXT)):
        return
    try:
        doc = json.load(open(CONTEXT, encoding="utf-8"))
    except ValueError as e:
        C.check(False, "context.jsonld is valid JSON", str(e))
        return
    C.passed += 1
    ctx = doc.get("@context") if isinstance(doc, dict) else None
    if not C.check(isinstance(ctx, dict), "context.jsonld has an @context object"):
        return
    C.check(set(doc) == {"@context"}, "context.jsonld holds only @context", ", ".join(sorted(doc)))
    C.check(ctx.get("@version") == 1.1, "context declares \"@version\": 1.1")
    prefixes = {k: v for k, v in ctx.items() if not k.startswith("@")}
    C.check(set(ctx) - set(prefixes) <= {"@version"}, "context has no keyword other than @version",
            ", ".join(sorted(set(ctx) - set(prefixes) - {"@version"})))
    for k, v in sorted(prefixes.items()):
        C.check(isinstance(v, str), "context term %s is a plain prefix (string value)" % k, repr(v)[:60])
        if isinstance(v, str):
            # JSON-LD 1.1 uses a simple term as a prefix only if its IRI ends in a gen-delim.
            C.check(v[-1:] in (":", "/", "?", "#", "[", "]", "@"),
                    "context prefix %s ends with a gen-delim" % k, v)
    for k, v in sorted(EXPECTED_PREFIXES.items()):
        C.check(prefixes.get(k) == v, "context maps %s: to <%s>" % (k, v), "found %r" % prefixes.get(k))
    ttl = ttl_prefixes(text)
    for k, v in sorted(ttl.items()):
        C.check(prefixes.get(k) == v, "mida.ttl prefix %s: <%s> is in the context with the same IRI" % (k, v),
                "context has %r" % prefixes.get(k))
    for k, v in sorted(prefixes.items()):
        if isinstance(v, str):
            C.check(ttl.get(k) == v, "context prefix %s: <%s> is declared the same way in mida.ttl" % (k, v),
                    "mida.ttl has %r" % ttl.get(k))
    if g is None:
        return
    # every term IRI in mida.ttl is writable as a compact IRI with the context
    nss = [v for v in prefixes.values() if isinstance(v, str)]
    skip = {URIRef(DCTERMS + "references"), RDFS.seeAlso, OWL.imports}
    missing = set()
    for s, p, o in g:
        xs = (s, p) if p in skip else (s, p, o)
        for x in xs:
            if isinstance(x, URIRef) and str(x) != MIDA and not any(str(x).startswith(ns) for ns in nss):
                missing.add(str(x))
    C.check(not missing, "every IRI in mida.ttl has a prefix in context.jsonld", ", ".join(sorted(missing)[:5]))


def check_doc(g):
    if not C.check(os.path.isfile(DOC), "docs/ontology.md exists", rel(DOC)):
        return
    text = open(DOC, encoding="utf-8").read()
    found = set(re.findall(r"(?<![\w/#])mida:" + LOCAL, text))
    defined = {local(t, MIDA) for t in mida_terms(g)}
    for t in sorted(defined):
        C.check(t in found, "docs/ontology.md documents mida:%s" % t)
    for t in sorted(found - defined):
        C.check(False, "docs/ontology.md mentions mida:%s, which mida.ttl does not define" % t)


def main():
    g, text = parse_ttl()
    provo, provone, provns = load_standards()
    if g is not None:
        check_header(g)
        check_terms(g)
        check_contract(g)
        check_status(g)
        check_external(g, provo, provone)
        check_used_terms(g, provo, provone, provns)
        check_doc(g)
    check_context(g, text)
    print("%d passed, %d failed" % (C.passed, C.failed))
    return 1 if C.failed else 0


if __name__ == "__main__":
    sys.exit(main())
