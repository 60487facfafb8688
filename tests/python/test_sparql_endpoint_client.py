#!/usr/bin/python3
"""`mida sparql --endpoint URL` against endpoints that are not mida's.

The example campaign is ingested into a store and exported as N-Quads; a
small SPARQL 1.1 Protocol server written here (http.server + rdflib's query
engine over that export, on 127.0.0.1 port 0) answers GET and POST (direct
and form), negotiates the media type from Accept, and sends 400 with
rdflib's message for a query it cannot parse.  Then:

  A. tables: `mida sparql --endpoint` prints the same table as
     `mida sparql --store` (IRIs, typed literals, unbound cells, COUNT, ASK
     true and false, a relative IRI with --base)
  B. graphs: CONSTRUCT in turtle, ntriples and jsonld (copied as the server
     sent them) are the local answer's graph; from a server that only
     writes RDF/XML the answer is read and written again in the --format
     syntax (N-Triples: the same lines as the local answer)
  C. --results json|xml|csv|tsv: stdout is the server's body byte for
     byte, and parses with rdflib; an answer in another type than asked is
     an error naming both (never printed)
  D. failures exit 1 with nothing on stdout: a syntax error (the server's
     message), a refused connection (the URL), --max-rows (every format,
     and triples), --timeout against a server that sleeps; usage errors
     exit 2
  E. the request: POST application/sparql-query, Accept chosen from the
     query form, --default-graph-uri / --named-graph-uri passed through
     (and the server's dataset follows them)
  F. the same against mida's own endpoint (`mida serve --http`)

Prints one line per check and "N passed, N failed"; exit 1 on a failure,
77 (skip) when rdflib or MIDA_BIN is missing.
"""
import io
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, free_port  # noqa: E402

try:
    import rdflib
    from rdflib import ConjunctiveGraph, Graph, URIRef
    from rdflib.query import Result
except ImportError:  # pragma: no cover - depends on the machine
    print("SKIP: rdflib is not installed (apt install python3-rdflib)")
    sys.exit(77)

# Terms exactly as written: "2024-03-01T09:00:01Z" stays that, not a
# normalised form, so that both engines answer the same lexical forms.
rdflib.NORMALIZE_LITERALS = False

H = Harness("sparql-client")
check = H.check
T = 60  # seconds for one mida run (scaled by the harness)

PREFIXES = ("PREFIX prov: <http://www.w3.org/ns/prov#>\n"
            "PREFIX provone: <http://purl.dataone.org/provone/2015/01/15/ontology#>\n"
            "PREFIX mida: <https://w3id.org/mida/ns#>\n")
Q_TASKS = PREFIXES + """
# literals, IRIs, and unbound cells (only failed tasks have an exit code)
SELECT ?task ?id ?status ?ended ?code
WHERE { ?task a mida:Task ; mida:taskId ?id ; mida:status ?status .
        OPTIONAL { ?task prov:endedAtTime ?ended }
        OPTIONAL { ?task mida:exitCode ?code } }
ORDER BY ?task"""
Q_VALUES = PREFIXES + """SELECT ?v ?name ?value
WHERE { ?v a mida:Value ; mida:name ?name ; prov:value ?value } ORDER BY ?v"""
Q_COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
Q_ASK_TRUE = PREFIXES + "ASK { ?w mida:workflowName \"evaluation\" }"
Q_ASK_FALSE = PREFIXES + "ASK { ?w mida:workflowName \"no such workflow\" }"
Q_INFORMED = PREFIXES + """CONSTRUCT { ?t prov:wasInformedBy ?u }
WHERE { ?t prov:wasInformedBy ?u }"""
Q_VALUE_GRAPH = PREFIXES + """CONSTRUCT { ?v prov:value ?value ; mida:name ?name }
WHERE { ?v a mida:Value ; mida:name ?name ; prov:value ?value }"""
Q_BAD = "SELECT * WHERE { ?s ?p }"
LINEAGE = os.path.join(H.src, "queries", "lineage-metrics-to-acquisition.rq")

RESULTS_TYPES = {"json": "application/sparql-results+json",
                 "xml": "application/sparql-results+xml",
                 "csv": "text/csv",
                 "tsv": "text/tab-separated-values"}
GRAPH_TYPES = [("text/turtle", "turtle"), ("application/n-triples", "nt"),
               ("application/rdf+xml", "xml"), ("application/ld+json", "json-ld")]


# ---- the endpoint that is not mida's --------------------------------------

def negotiate(accept, offers):
    """The best of `offers` (media types, server's preference first) for
    an Accept header, or None."""
    ranges = []
    for part in (accept or "*/*").split(","):
        fields = [f.strip() for f in part.split(";")]
        q = 1.0
        for f in fields[1:]:
            if f.startswith("q="):
                q = float(f[2:])
        ranges.append((fields[0].lower(), q))
    best, best_q = None, 0.0
    for offer in offers:
        q, spec = 0.0, -1
        for media, rq in ranges:
            s = 2 if media == offer else 1 if media == offer.split("/")[0] + "/*" else \
                0 if media == "*/*" else -1
            if s > spec:
                spec, q = s, rq
        if spec >= 0 and q > best_q:
            best, best_q = offer, q
    return best


def tsv(result):
    """SPARQL 1.1 TSV (rdflib 6 has no TSV writer)."""
    lines = ["\t".join("?" + str(v) for v in result.vars)]
    for row in result:
        lines.append("\t".join("" if t is None else t.n3() for t in row))
    return ("\n".join(lines) + "\n").encode("utf-8")


class Endpoint:
    """A SPARQL 1.1 Protocol server over an rdflib ConjunctiveGraph.

    /sparql          the endpoint
    /xml-only        results always as SPARQL XML, whatever Accept says
    /rdfxml-only     graphs only as RDF/XML (negotiated: 406 if not accepted)
    /html            200 text/html for everything
    /slow            answers nothing for 30 s
    Every request is recorded in .requests; the last body sent in .last."""

    def __init__(self, ds):
        self.ds = ds
        self.lock = threading.Lock()   # rdflib's engine is not thread-safe
        self.requests = []
        self.last = None
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                u = urllib.parse.urlsplit(self.path)
                self.answer(u.path, urllib.parse.parse_qs(u.query, keep_blank_values=True))

            def do_POST(self):
                u = urllib.parse.urlsplit(self.path)
                params = urllib.parse.parse_qs(u.query, keep_blank_values=True)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
                if ctype == "application/sparql-query":
                    params["query"] = [body.decode("utf-8")]
                elif ctype == "application/x-www-form-urlencoded":
                    for k, v in urllib.parse.parse_qs(body.decode("utf-8"),
                                                      keep_blank_values=True).items():
                        params.setdefault(k, []).extend(v)
                else:
                    return self.send(415, "text/plain", b"wrong Content-Type\n")
                self.answer(u.path, params)

            def send(self, status, ctype, body):
                endpoint.last = body
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def answer(self, path, params):
                accept = self.headers.get("Accept")
                endpoint.requests.append({"method": self.command, "path": path,
                                          "content_type": self.headers.get("Content-Type"),
                                          "accept": accept, "params": params})
                if path == "/slow":
                    time.sleep(30)
                    return
                if path == "/html":
                    return self.send(200, "text/html", b"<html><body>hello</body></html>\n")
                if "query" not in params:
                    return self.send(400, "text/plain", b"no query\n")
                target = endpoint.ds
                if params.get("default-graph-uri"):
                    target = Graph()
                    for g in params["default-graph-uri"]:
                        for t in endpoint.ds.get_context(URIRef(g)):
                            target.add(t)
                with endpoint.lock:
                    status, media, body = endpoint.evaluate(target, params["query"][0], path,
                                                            accept)
                return self.send(status, media, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.url = self.base + "/sparql"

    def evaluate(self, target, query, path, accept):
        """(status, Content-Type, body) of the answer to `query`."""
        try:
            res = target.query(query)
        except Exception as e:  # rdflib's parser raises several kinds
            msg = "rdflib cannot answer this query: %s\n" % (str(e) or repr(e))
            return 400, "text/plain; charset=utf-8", msg.encode("utf-8")
        if res.type in ("SELECT", "ASK"):
            offers = list(RESULTS_TYPES.values())
            if res.type == "ASK":
                offers = offers[:2]
            media = "application/sparql-results+xml" if path == "/xml-only" \
                else negotiate(accept, offers)
            if not media:
                return 406, "text/plain", b"not acceptable\n"
            if media == "text/tab-separated-values":
                return 200, media, tsv(res)
            fmt = {"application/sparql-results+json": "json",
                   "application/sparql-results+xml": "xml", "text/csv": "csv"}[media]
            out = io.BytesIO()
            res.serialize(out, format=fmt)
            return 200, media + "; charset=utf-8", out.getvalue()
        offers = ["application/rdf+xml"] if path == "/rdfxml-only" else [m for m, _ in GRAPH_TYPES]
        media = negotiate(accept, offers)
        if not media:
            return 406, "text/plain", b"not acceptable\n"
        return 200, media, res.graph.serialize(format=dict(GRAPH_TYPES)[media], encoding="utf-8")

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# ---- helpers ----------------------------------------------------------------

def sparql(*args):
    """(exit code, stdout bytes, stderr text) of `mida sparql ARGS`."""
    p = subprocess.run([H.mida, "sparql", *args], capture_output=True, env=H.env,
                       timeout=T * H.mult)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def same_table(desc, query, *extra, endpoint=None, sort=False):
    """`query` None: the query is in `extra` (--file)."""
    q = [] if query is None else [query]
    lrc, lout, lerr = sparql("--store", STORE, *extra, *q)
    rrc, rout, rerr = sparql("--endpoint", endpoint or EP.url, *extra, *q)
    if sort:   # the order of the rows is not fixed by the query
        lout, rout = sorted(lout.splitlines()), sorted(rout.splitlines())
    ok = check(lrc == 0 and rrc == 0 and lout == rout and lout,
               desc + ": the same table as --store",
               "local rc=%d remote rc=%d\n%s\n--- remote:\n%s\n%s" % (
                   lrc, rrc, lerr, rout if sort else rout.decode(), rerr))
    return ok, rout


def graph_of(data, fmt):
    g = Graph()
    g.parse(data=data, format=fmt)
    return g


def canon(g):
    """The triples of g with numbers compared by value: a server may write
    "0.81"^^xsd:double as 8.1e-01 (rdflib's Turtle writer does), which is
    the same literal value with another lexical form.  The mapping writes
    no blank nodes, so set equality is graph equality."""
    out = set()
    for s_, p_, o_ in g:
        if isinstance(o_, rdflib.Literal) and o_.datatype is not None and \
                str(o_.datatype).startswith(str(rdflib.XSD)) and \
                isinstance(o_.toPython(), (int, float, Decimal)):
            o_ = (str(o_.datatype), float(o_.toPython()))
        out.add((s_, p_, o_))
    return out


def same_graph(a, b):
    return len(a) > 0 and canon(a) == canon(b)


# ---- setup ------------------------------------------------------------------

STORE = H.path("store")
# the alias joins the runs' data (as in docs/cli.md), so the lineage query has rows
r = H.mida_run("ingest", "-q", "--store", STORE, "--alias", "/gpfs/alpine/proj=/lustre/orion/proj",
               *H.campaign())
if r.returncode != 0:
    print("FAIL setup: ingest: " + r.stderr)
    sys.exit(1)
r = H.mida_run("export", "--store", STORE, "--format", "nquads")
if r.returncode != 0:
    print("FAIL setup: export: " + r.stderr)
    sys.exit(1)
DS = ConjunctiveGraph()
DS.parse(data=r.stdout, format="nquads")
EP = Endpoint(DS)
# how many tasks (rows of Q_TASKS) and how many of them have no exit code
TASKS = DS.query(Q_TASKS)
N_TASKS = len(TASKS)
N_UNBOUND = sum(1 for row in TASKS if row.code is None)
print("     rdflib endpoint at %s over %d quads" % (EP.url, len(DS)))


# ---- A. tables -------------------------------------------------------------

def sec_tables():
    ok, out = same_table("SELECT with IRIs, literals and unbound cells", Q_TASKS)
    check(N_TASKS > 5 and 0 < N_UNBOUND < N_TASKS and
          len(re.findall(rb"\| +\|\n", out)) == N_UNBOUND and b"^^xsd:dateTime" in out,
          "the tasks table has %d rows, %d unbound cells and typed literals" % (N_TASKS, N_UNBOUND),
          out.decode()[:800])
    same_table("SELECT of numbers and strings", Q_VALUES)
    same_table("COUNT(*)", Q_COUNT)
    same_table("ASK (true)", Q_ASK_TRUE)
    same_table("ASK (false)", Q_ASK_FALSE)
    ok, out = same_table("the lineage query (--file)", None, "--file", LINEAGE, sort=True)
    check(len(out) > 5, "the lineage query: %d rows" % (len(out) - 4),
          "\n".join(x.decode() for x in out))
    same_table("a relative IRI with --base",
               "SELECT ?p WHERE { <agent/person/alice> ?p ?o } ORDER BY ?p",
               "--base", "http://127.0.0.1:7878/")


# ---- B. graphs -------------------------------------------------------------

def sec_graphs():
    for fmt, rdflib_fmt in (("turtle", "turtle"), ("ntriples", "nt"), ("jsonld", "json-ld")):
        lrc, lout, lerr = sparql("--store", STORE, "--format", fmt, Q_VALUE_GRAPH)
        rrc, rout, rerr = sparql("--endpoint", EP.url, "--format", fmt, Q_VALUE_GRAPH)
        ok = lrc == 0 and rrc == 0
        if ok:
            lg, rg = graph_of(lout, rdflib_fmt), graph_of(rout, rdflib_fmt)
            ok = len(lg) > 20 and same_graph(lg, rg)
        check(ok, "CONSTRUCT --format %s: the local answer's graph" % fmt, lerr + rerr)
        check(rrc == 0 and rout == EP.last, "CONSTRUCT --format %s: the body as the server sent it" % fmt)
    # the server writes only RDF/XML: mida reads it and writes the --format
    url = EP.base + "/rdfxml-only"
    lrc, lout, _ = sparql("--store", STORE, "--format", "ntriples", Q_INFORMED)
    rrc, rout, rerr = sparql("--endpoint", url, "--format", "ntriples", Q_INFORMED)
    check(EP.requests[-1]["accept"].startswith("application/n-triples, text/turtle;q=0.9"),
          "CONSTRUCT: Accept names the --format first, then the other syntaxes",
          EP.requests[-1]["accept"])
    check(rrc == 0 and sorted(lout.splitlines()) == sorted(rout.splitlines()) and lout,
          "CONSTRUCT from RDF/XML, written as N-Triples: the local answer's lines",
          rerr + rout.decode()[:500])
    rrc, rout, rerr = sparql("--endpoint", url, "--format", "turtle", Q_INFORMED)
    check(rrc == 0 and same_graph(graph_of(rout, "turtle"), graph_of(lout, "nt")),
          "CONSTRUCT from RDF/XML, written as Turtle: the same graph", rerr)
    # JSON-LD with a row limit: mida cannot count JSON-LD, so it asks for
    # another syntax and writes the JSON-LD itself
    rrc, rout, rerr = sparql("--endpoint", EP.url, "--format", "jsonld", "--max-rows", "100000",
                             Q_VALUE_GRAPH)
    check("ld+json" not in EP.requests[-1]["accept"],
          "--format jsonld --max-rows: JSON-LD is not asked for", EP.requests[-1]["accept"])
    lrc, lout, _ = sparql("--store", STORE, "--format", "jsonld", Q_VALUE_GRAPH)
    check(rrc == 0 and same_graph(graph_of(rout, "json-ld"), graph_of(lout, "json-ld")),
          "--format jsonld --max-rows: mida's JSON-LD of the same graph", rerr)


# ---- C. results as the server sent them ---------------------------------------

def sec_passthrough():
    for name, media in RESULTS_TYPES.items():
        rc, out, err = sparql("--endpoint", EP.url, "--results", name, Q_TASKS)
        check(rc == 0 and out == EP.last and out, "--results %s: the server's body byte for byte" % name,
              err)
        check(EP.requests[-1]["accept"] == media, "--results %s: Accept %s" % (name, media),
              EP.requests[-1]["accept"])
        if name != "tsv":   # rdflib 6 has no TSV parser
            res = Result.parse(io.BytesIO(out), format=name)
            check(len(res) == N_TASKS and
                  [str(v) for v in res.vars] == ["task", "id", "status", "ended", "code"],
                  "--results %s: parses with rdflib, %d rows" % (name, N_TASKS), len(res))
        else:
            check(out.count(b"\n") == N_TASKS + 1 and
                  out.startswith(b"?task\t?id\t?status\t?ended\t?code\n"),
                  "--results tsv: head and %d rows" % N_TASKS, out[:200])
    for name in ("json", "xml"):
        rc, out, err = sparql("--endpoint", EP.url, "--results", name, Q_ASK_TRUE)
        check(rc == 0 and out == EP.last and Result.parse(io.BytesIO(out), format=name).askAnswer,
              "ASK --results %s: the server's body" % name, err)
    # an answer in another type than asked is an error, not printed
    rc, out, err = sparql("--endpoint", EP.base + "/xml-only", Q_TASKS)
    check(rc == 1 and not out and "application/sparql-results+xml" in err and
          "application/sparql-results+json" in err,
          "table from a server that answers XML: exit 1, names both types", err)
    rc, out, err = sparql("--endpoint", EP.base + "/xml-only", "--results", "csv", Q_TASKS)
    check(rc == 1 and not out and "text/csv" in err, "--results csv answered in XML: exit 1", err)
    rc, out, err = sparql("--endpoint", EP.base + "/html", Q_TASKS)
    check(rc == 1 and not out and "text/html" in err and "neither" in err,
          "an HTML answer: exit 1, names the type", err)
    rc, out, err = sparql("--endpoint", EP.base + "/html", "--format", "turtle", Q_INFORMED)
    check(rc == 1 and not out and "text/html" in err, "an HTML answer to CONSTRUCT: exit 1", err)


# ---- D. failures --------------------------------------------------------------

def sec_failures():
    rc, out, err = sparql("--endpoint", EP.url, Q_BAD)
    check(rc == 1 and not out and "400" in err and "rdflib cannot answer this query" in err,
          "a syntax error: exit 1 with the server's message", err)
    url = "http://127.0.0.1:%d/sparql" % free_port()
    rc, out, err = sparql("--endpoint", url, Q_COUNT)
    check(rc == 1 and not out and url in err and "refused" in err.lower(),
          "nobody listening: exit 1, names the URL", err)
    rc, out, err = sparql("--endpoint", "http://no-such-host.invalid/sparql", "--timeout", "20",
                          Q_COUNT)
    check(rc == 1 and not out and "no-such-host.invalid" in err, "an unknown host: exit 1", err)

    # --max-rows: as many as the rows is fine, one less is refused in every format
    n = N_TASKS
    for name in ("table", "json", "xml", "csv", "tsv"):
        rc, out, err = sparql("--endpoint", EP.url, "--results", name, "--max-rows", str(n - 1),
                              Q_TASKS)
        check(rc == 1 and not out and "%d rows" % n in err and "row limit" in err,
              "--max-rows %d of %d rows, --results %s: refused, nothing printed" % (n - 1, n, name),
              err)
        rc, out, err = sparql("--endpoint", EP.url, "--results", name, "--max-rows", str(n), Q_TASKS)
        check(rc == 0 and out, "--max-rows %d of %d rows, --results %s: answered" % (n, n, name),
              err)
    n = len(graph_of(sparql("--store", STORE, "--format", "ntriples", Q_INFORMED)[1], "nt"))
    for fmt in ("turtle", "ntriples"):
        rc, out, err = sparql("--endpoint", EP.url, "--format", fmt, "--max-rows", str(n - 1), Q_INFORMED)
        check(rc == 1 and not out and "triples" in err,
              "--max-rows %d of %d triples, --format %s: refused" % (n - 1, n, fmt), err)
        rc, out, err = sparql("--endpoint", EP.url, "--format", fmt, "--max-rows", str(n), Q_INFORMED)
        check(rc == 0 and out, "--max-rows %d of %d triples, --format %s: answered" % (n, n, fmt), err)

    t0 = time.time()
    rc, out, err = sparql("--endpoint", EP.base + "/slow", "--timeout", "0.5", Q_COUNT)
    took = time.time() - t0
    check(rc == 1 and not out and "no answer within 0.5 s" in err and took < 10 * H.mult,
          "--timeout 0.5 against a server that sleeps: exit 1 after %.1f s" % took, err)

    for desc, args in (("--store and --endpoint", ["--store", STORE, "--endpoint", EP.url]),
                       ("neither --store nor --endpoint", []),
                       ("--endpoint ftp://", ["--endpoint", "ftp://127.0.0.1/sparql"]),
                       ("--named-graph-uri with --store", ["--store", STORE,
                                                           "--named-graph-uri", "http://x/g"])):
        rc, out, err = sparql(*args, Q_COUNT)
        check(rc == 2 and not out and "Try 'mida sparql --help'" in err,
              "usage error: %s: exit 2" % desc, err)


# ---- E. the request -------------------------------------------------------

def sec_request():
    sparql("--endpoint", EP.url, Q_COUNT)
    req = EP.requests[-1]
    check(req["method"] == "POST" and req["content_type"].startswith("application/sparql-query")
          and req["params"]["query"] == [Q_COUNT],
          "the query is POSTed as application/sparql-query", req)
    check(req["accept"] == "application/sparql-results+json", "a table asks for JSON", req["accept"])
    sparql("--endpoint", EP.url, "--format", "turtle", "DESCRIBE <http://x/>")
    check(EP.requests[-1]["accept"].startswith("text/turtle, application/n-triples;q=0.9"),
          "DESCRIBE asks for the graph syntaxes", EP.requests[-1]["accept"])
    sparql("--endpoint", EP.url, "--results", "csv", "SELEKT * WHERE {}")
    acc = EP.requests[-1]["accept"]
    check(acc.startswith("text/csv, text/turtle") and "application/rdf+xml" in acc,
          "a query of no known form asks for results and graphs", acc)

    g = "http://127.0.0.1:7878/graph/wf-hpo-07"
    rc, out, err = sparql("--endpoint", EP.url, "--results", "csv", "--default-graph-uri", g,
                          "--named-graph-uri", "http://ex.org/n1", "--named-graph-uri",
                          "http://ex.org/n 2", Q_COUNT)
    req = EP.requests[-1]
    check(req["params"].get("default-graph-uri") == [g] and
          req["params"].get("named-graph-uri") == ["http://ex.org/n1", "http://ex.org/n 2"],
          "--default-graph-uri and --named-graph-uri reach the server", req["params"])
    want = len(DS.get_context(URIRef(g)))
    check(rc == 0 and out.split(b"\r\n")[1] == str(want).encode() and 0 < want < len(DS),
          "the server's dataset follows --default-graph-uri (%d of %d triples)" % (want, len(DS)),
          out + err.encode())


# ---- F. mida's own endpoint -------------------------------------------------

def sec_mida_endpoint():
    r = H.mida_run("serve", "--help")
    if "--http" not in r.stdout:
        print("     mida serve has no --http yet: skipped")
        return
    srv = H.serve(STORE)
    url = srv.http + "sparql"
    for desc, q in (("SELECT", Q_TASKS), ("ASK", Q_ASK_TRUE), ("COUNT", Q_COUNT)):
        same_table("mida serve: " + desc, q, endpoint=url)
    lrc, lout, _ = sparql("--store", STORE, "--results", "json", Q_TASKS)
    rrc, rout, rerr = sparql("--endpoint", url, "--results", "json", Q_TASKS)
    check(rrc == 0 and lout == rout, "mida serve: --results json is what the store answers", rerr)
    for fmt in ("ntriples", "turtle"):
        lrc, lout, _ = sparql("--store", STORE, "--format", fmt, Q_INFORMED)
        rrc, rout, rerr = sparql("--endpoint", url, "--format", fmt, Q_INFORMED)
        f = "nt" if fmt == "ntriples" else fmt
        check(rrc == 0 and same_graph(graph_of(lout, f), graph_of(rout, f)),
              "mida serve: CONSTRUCT --format %s, the same graph" % fmt, rerr)
    rc, out, err = sparql("--endpoint", url, Q_BAD)
    check(rc == 1 and not out and "400" in err and "syntax error" in err,
          "mida serve: a syntax error, exit 1 with the engine's message", err)
    rc, out, err = sparql("--endpoint", url, "--max-rows", str(N_TASKS - 1), Q_TASKS)
    check(rc == 1 and not out and "row limit" in err, "mida serve: --max-rows refused", err)
    srv.stop()


try:
    rc = H.run([sec_tables, sec_graphs, sec_passthrough, sec_failures, sec_request,
                sec_mida_endpoint])
finally:
    EP.stop()
sys.exit(rc)
