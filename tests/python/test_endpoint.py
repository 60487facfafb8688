"""The HTTP endpoint of `mida serve` (issue 4), with real processes and curl.

  A. while a campaign streams in through `mida emit`, /sparql answers; the
     counts only grow, and every answer is consistent (no task without its
     status: an applied group is seen whole or not at all)
  B. every status code the endpoint gives (200 204 400 403 404 405 406 413
     415 500 501 503) and every media type (SPARQL results JSON/XML/CSV/TSV,
     Turtle, N-Triples, JSON-LD, RDF/XML, TriG, N-Quads), each answer parsed
     by rdflib; the Service Description; /data; dereferenced IRIs (HTML and
     RDF); /status, /metrics, /queries; CORS
  C. the limits: a query over the row limit or the time limit is an error,
     never a cut answer; too many queries at once get 503
  D. the W3C SPARQL 1.1 Protocol tests (../shared/standards/sparql11/protocol)
     on a store loaded with their data; the list of those that pass is
     printed, and every test that applies to a read-only endpoint must pass
"""
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness  # noqa: E402

try:
    import rdflib
    from rdflib.collection import Collection
    from rdflib.query import Result
except ImportError:
    print("rdflib missing: skipped")
    sys.exit(77)

H = Harness("endpoint")
check = H.check
MIDA = "https://w3id.org/mida/ns#"
PREFIXES = ("PREFIX mida: <%s> PREFIX prov: <http://www.w3.org/ns/prov#> "
            "PREFIX provone: <http://purl.dataone.org/provone/2015/01/15/ontology#> " % MIDA)


def curl(url, *args, data=None, timeout=60):
    """(status, content type, body bytes, headers text) of one request."""
    body = H.path("curl-body")
    hdrs = H.path("curl-headers")
    cmd = ["curl", "-sS", "-o", body, "-D", hdrs, "-w", "%{http_code}", "--max-time",
           str(timeout * H.mult), *args, url]
    r = subprocess.run(cmd, input=data, capture_output=True, timeout=(timeout + 30) * H.mult)
    if r.returncode not in (0,):
        raise RuntimeError("curl %s failed: %s" % (url, r.stderr.decode()))
    with open(body, "rb") as f:
        content = f.read()
    with open(hdrs, encoding="latin-1") as f:
        headers = f.read()
    m = re.findall(r"(?im)^content-type:\s*([^\r\n]*)", headers)
    return int(r.stdout), (m[-1] if m else ""), content, headers


def q_url(http, query, **params):
    return http + "sparql?" + urllib.parse.urlencode(dict(query=query, **params))


def rows_json(content):
    return json.loads(content)["results"]["bindings"]


def count_of(content):
    """The ?n of a COUNT answer (rasqal answers no row for zero)."""
    rows = rows_json(content)
    return int(rows[0]["n"]["value"]) if rows else 0


# ---- A: answers during the stream --------------------------------------

def stream_records(path, lo, hi):
    with open(path, "w") as f:
        f.write(json.dumps({"workflow_id": "wf-stream", "workflow_name": "stream",
                            "status": "RUNNING", "started_at": "2024-05-01T00:00:00Z"}) + "\n")
        for i in range(lo, hi):
            f.write(json.dumps({
                "task_id": "t-%05d" % i, "workflow_id": "wf-stream", "activity_id": "step",
                "status": "FINISHED", "started_at": "2024-05-01T00:00:01Z",
                "ended_at": "2024-05-01T00:00:02Z", "used": {"x": i, "lr": 0.01 * (i % 7)},
                "generated": {"y": 2 * i, "loss": 1.0 / (i + 1)}}) + "\n")


def section_a_stream():
    n = int(os.environ.get("MIDA_ENDPOINT_STREAM_TASKS", "3000"))
    # the campaign streams in as 6 runs of `mida emit`, 0.3 s apart
    chunks = []
    for k in range(6):
        chunks.append(H.path("stream-%d.jsonl" % k))
        stream_records(chunks[-1], n * k // 6, n * (k + 1) // 6)
    srv = H.serve(H.path("a-store"))
    check(srv.http.startswith("http://127.0.0.1:") and srv.http.endswith("/"),
          "A: line 1 is the web address", srv.http)
    check(srv.endpoint.startswith("tcp://127.0.0.1:"), "A: line 2 is the ZeroMQ endpoint",
          srv.endpoint)
    emitted = []

    def stream():
        for c in chunks:
            emitted.append(H.emit(srv.endpoint, [c], "--batch", "64", timeout=300))
            time.sleep(0.3)
    em = threading.Thread(target=stream)
    em.start()
    count_q = PREFIXES + "SELECT (COUNT(?t) AS ?n) WHERE { ?t a mida:Task }"
    # tasks, and tasks with their status, counted by one query: equal when
    # every task's triples arrived together
    pair_q = PREFIXES + ("SELECT (COUNT(?t) AS ?n) (COUNT(?s) AS ?ns) WHERE { { ?t a mida:Task } "
                         "UNION { ?x a mida:Task ; mida:status ?s } }")
    seen, during, bad_answers, orphans = [], 0, [], 0
    while True:
        running = em.is_alive()
        st, ctype, body, _ = curl(q_url(srv.http, count_q), "-H",
                                  "Accept: application/sparql-results+json")
        if st != 200 or not ctype.startswith("application/sparql-results+json"):
            bad_answers.append((st, ctype, body[:200]))
        else:
            c = count_of(body)
            seen.append(c)
            if running and 0 < c < n:
                during += 1
            st2, _, body2, _ = curl(q_url(srv.http, pair_q), "-H",
                                    "Accept: application/sparql-results+json")
            rows = rows_json(body2) if st2 == 200 else []
            if st2 != 200:
                bad_answers.append((st2, body2[:200]))
            elif rows and rows[0]["n"]["value"] != rows[0]["ns"]["value"]:
                orphans += 1
        if not running:
            break
        time.sleep(0.2)
    em.join()
    check(len(emitted) == 6 and all(rc == 0 for rc, _, _ in emitted),
          "A: mida emit delivered the stream", [e[2][-300:] for e in emitted if e[0] != 0])
    check(not bad_answers, "A: every answer during the stream is 200 JSON", bad_answers[:3])
    check(during >= 3, "A: %d answers came while the stream was half-way (want >= 3)" % during)
    check(seen == sorted(seen), "A: the task count only grows", seen[:50])
    check(orphans == 0, "A: no answer saw a task without its status (groups applied whole)",
          orphans)
    st, _, body, _ = curl(q_url(srv.http, count_q), "-H", "Accept: application/sparql-results+json")
    check(st == 200 and count_of(body) == n,
          "A: after the stream all %d tasks are answered" % n, body[:200])
    st, ctype, body, _ = curl(srv.http + "status")
    s = json.loads(body) if st == 200 else {}
    check(st == 200 and ctype.startswith("application/json") and s.get("applied", 0) >= 1 and
          s.get("store_triples", 0) > n and "lag_seconds" in s and s["http"]["queries"] >= 2,
          "A: /status counts batches, triples, WAL lag and queries", s)
    check(srv.stop() == 0, "A: mida serve stops cleanly with the endpoint running")


# ---- B: status codes and media types -----------------------------------

SELECT_Q = PREFIXES + """SELECT ?task ?status ?ended WHERE {
  ?task a mida:Task ; mida:status ?status . OPTIONAL { ?task prov:endedAtTime ?ended }
} ORDER BY ?task"""
CONSTRUCT_Q = PREFIXES + """CONSTRUCT { ?t prov:used ?e . ?e mida:name ?n } WHERE {
  ?t prov:used ?e . OPTIONAL { ?e mida:name ?n } }"""

GRAPH_FORMATS = [("text/turtle", "turtle", "turtle"), ("application/n-triples", "ntriples", "nt"),
                 ("application/ld+json", "jsonld", "json-ld"),
                 ("application/rdf+xml", "rdfxml", "xml"), ("application/trig", "trig", "trig"),
                 ("application/n-quads", "nquads", "nquads")]


def parse_graph(content, fmt):
    if fmt in ("trig", "nquads", "json-ld"):
        g = rdflib.Dataset()
        g.parse(data=content, format=fmt)
        return set((s, p, o) for s, p, o, _ in g.quads((None, None, None, None)))
    g = rdflib.Graph()
    g.parse(data=content, format=fmt)
    return set(g)


def section_b_protocol():
    store = H.path("b-store")
    srv = H.serve(store, "--max-rows", "100000")
    rc, out, err = H.emit(srv.endpoint, H.campaign())
    check(rc == 0, "B: the campaign is emitted", err)
    http = srv.http
    # the reference answer, from the CLI on a snapshot taken at stop? no: ask
    # the endpoint in JSON and compare every other format with it
    st, ctype, body, hdrs = curl(q_url(http, SELECT_Q), "-H",
                                 "Accept: application/sparql-results+json")
    check(st == 200 and ctype == "application/sparql-results+json", "B: 200 SELECT as JSON",
          (st, ctype))
    ref = Result.parse(io.BytesIO(body), format="json")
    nrows = len(ref)
    check(nrows > 10, "B: the SELECT has rows (%d)" % nrows)
    check(re.search(r"(?im)^access-control-allow-origin: \*", hdrs) is not None,
          "B: answers carry Access-Control-Allow-Origin: *")
    unbound_q = PREFIXES + ("SELECT ?task ?none WHERE { ?task a mida:Task "
                            "OPTIONAL { ?task <http://example.org/no-such-property> ?none } }")
    for media, short, rdflib_fmt in [("application/sparql-results+xml", "xml", "xml"),
                                     ("text/csv", "csv", "csv"),
                                     ("text/tab-separated-values", "tsv", "tsv"),
                                     ("application/sparql-results+json", "json", "json")]:
        for how, args, url in (("Accept", ["-H", "Accept: " + media], q_url(http, SELECT_Q)),
                               ("format=", [], q_url(http, SELECT_Q, format=short))):
            st, ctype, body, _ = curl(url, *args)
            ok = st == 200 and ctype.split(";")[0] == media
            try:
                res = Result.parse(io.BytesIO(body), format=rdflib_fmt)
                ok = ok and len(res) == nrows
            except Exception as e:  # noqa: BLE001 - any parse failure fails the check
                ok, body = False, repr(e).encode()
            check(ok, "B: SELECT as %s by %s parses with rdflib, %d rows" % (media, how, nrows),
                  (st, ctype, body[:300]))
    st, ctype, body, _ = curl(q_url(http, unbound_q), "-H", "Accept: application/sparql-results+xml")
    res = Result.parse(io.BytesIO(body), format="xml") if st == 200 else []
    check(st == 200 and len(res) > 0 and all(r[1] is None for r in res) and
          b"<unbound" not in body and body.count(b"<binding ") == len(res),
          "B: unbound cells are left out of the XML results (no <unbound/>)", body[:400])
    # POST form and POST direct give the same answer
    st, ctype, body, _ = curl(http + "sparql", "-H", "Accept: application/sparql-results+json",
                              "--data-urlencode", "query=" + SELECT_Q)
    check(st == 200 and len(rows_json(body)) == nrows, "B: POST form-encoded", (st, body[:200]))
    st, ctype, body, _ = curl(http + "sparql", "-H", "Content-Type: application/sparql-query",
                              "-H", "Accept: application/sparql-results+json", "--data-binary",
                              "@-", data=SELECT_Q.encode())
    check(st == 200 and len(rows_json(body)) == nrows, "B: POST application/sparql-query",
          (st, body[:200]))
    # ASK
    for media, fmt in (("application/sparql-results+json", "json"),
                       ("application/sparql-results+xml", "xml")):
        st, ctype, body, _ = curl(q_url(http, PREFIXES + "ASK { ?t a mida:Task }"), "-H",
                                  "Accept: " + media)
        res = Result.parse(io.BytesIO(body), format=fmt) if st == 200 else None
        check(st == 200 and ctype == media and res.askAnswer is True,
              "B: ASK as %s is true" % media, (st, ctype, body[:200]))
    # CONSTRUCT in every RDF syntax, all giving the same triples
    want = None
    for media, short, fmt in GRAPH_FORMATS:
        st, ctype, body, _ = curl(q_url(http, CONSTRUCT_Q), "-H", "Accept: " + media)
        try:
            got = parse_graph(body, fmt) if st == 200 else None
        except Exception as e:  # noqa: BLE001
            got, body = None, repr(e).encode()
        if want is None and got:
            want = got
        check(st == 200 and ctype.split(";")[0] == media and got and got == want,
              "B: CONSTRUCT as %s parses with rdflib (%d triples)" % (media, len(got or ())),
              (st, ctype, body[:300]))
    # DESCRIBE of a task
    task = str(ref.bindings[0][rdflib.Variable("task")])
    st, ctype, body, _ = curl(q_url(http, "DESCRIBE <%s>" % task), "-H", "Accept: text/turtle")
    g = parse_graph(body, "turtle") if st == 200 else set()
    check(st == 200 and any(str(s) == task for s, _, _ in g), "B: DESCRIBE gives the task's triples",
          (st, body[:200]))
    # Service Description
    st, ctype, body, _ = curl(http + "sparql", "-H", "Accept: text/turtle")
    g = rdflib.Graph()
    if st == 200:
        g.parse(data=body, format="turtle")
    sd = rdflib.Namespace("http://www.w3.org/ns/sparql-service-description#")
    check(st == 200 and (None, sd.endpoint, rdflib.URIRef(http + "sparql")) in g and
          (None, sd.supportedLanguage, sd.SPARQL11Query) in g,
          "B: a bare GET gives the Service Description with sd:endpoint <%ssparql>" % http,
          (st, body[:300]))
    # OPTIONS preflight
    st, _, _, hdrs = curl(http + "sparql", "-X", "OPTIONS", "-H", "Origin: http://yasgui.example",
                          "-H", "Access-Control-Request-Method: POST")
    check(st == 204 and re.search(r"(?im)^access-control-allow-methods:.*POST", hdrs) and
          re.search(r"(?im)^access-control-allow-headers:.*content-type", hdrs),
          "B: 204 for an OPTIONS preflight, allowing POST and Content-Type", hdrs)
    # the errors
    st, ctype, body, _ = curl(q_url(http, "SELECT ?x WHERE { ?x ?y }"))
    check(st == 400 and ctype.startswith("text/plain") and b"line 1" in body,
          "B: 400 for a syntax error, with the parser's message", (st, body))
    st, _, body, _ = curl(http + "sparql?query=ASK%7B%7D&query=ASK%7B%7D")
    check(st == 400 and b"exactly one" in body, "B: 400 for two query parameters", (st, body))
    st, _, body, _ = curl(q_url(http, "SELECT * WHERE { ?a <http://x/p>+ ?b }"))
    check(st == 501 and b"propert" in body.lower(), "B: 501 for a property path, naming it",
          (st, body))
    st, _, body, _ = curl(http + "sparql", "-H", "Content-Type: application/sparql-update",
                          "--data-binary", "CLEAR ALL")
    check(st == 403 and b"read-only" in body, "B: 403 for SPARQL Update", (st, body))
    st, _, body, _ = curl(http + "sparql", "--data-urlencode", "update=CLEAR ALL")
    check(st == 403, "B: 403 for a form-encoded update", (st, body))
    st, _, body, hdrs = curl(http + "sparql", "-X", "PUT", "--data-binary", "x")
    check(st == 405 and re.search(r"(?im)^allow:.*POST", hdrs), "B: 405 for PUT, with Allow",
          (st, hdrs))
    st, _, body, _ = curl(http + "data?default", "-X", "DELETE")
    check(st == 405, "B: 405 for DELETE on /data (read-only)", (st, body))
    st, _, body, _ = curl(q_url(http, SELECT_Q), "-H", "Accept: image/png")
    check(st == 406 and b"sparql-results+json" in body, "B: 406 when nothing offered is acceptable",
          (st, body))
    st, _, body, _ = curl(q_url(http, "ASK {}"), "-H", "Accept: text/csv")
    check(st == 406, "B: 406 for ASK as CSV (CSV carries only SELECT results)", (st, body))
    big = H.path("big.txt")
    with open(big, "w") as f:
        f.write("query=" + "#" * (2 << 20))
    st, _, body, _ = curl(http + "sparql", "-H", "Content-Type: application/x-www-form-urlencoded",
                          "--data-binary", "@" + big)
    check(st == 413, "B: 413 for a body over 1 MiB", (st, body[:200]))
    st, _, body, _ = curl(http + "sparql", "-H", "Content-Type: text/plain", "--data-binary",
                          "ASK {}")
    check(st == 415, "B: 415 for POST text/plain", (st, body))
    st, _, body, _ = curl(http + "sparql", "-H",
                          "Content-Type: application/sparql-query; charset=UTF-16",
                          "--data-binary", "@-", data="ASK {}".encode("utf-16"))
    check(st == 415, "B: 415 for a UTF-16 query", (st, body))
    st, _, body, _ = curl(http + "sparql?query=ASK%7B%3Chttp%3A%2F%2Fx%2F%FF%3E%20%3Fp%20%3Fo%7D")
    check(st == 400 and b"UTF-8" in body, "B: 400 for a query that is not UTF-8", (st, body))
    st, _, body, _ = curl(http + "data?graph=" + urllib.parse.quote("http://nowhere/g", safe=""))
    check(st == 404, "B: 404 for an unknown graph", (st, body))
    st, _, body, _ = curl(http + "task/no-such-workflow/no-such-task")
    check(st == 404, "B: 404 for an IRI nothing is known about", (st, body))
    # protocol datasets
    graph = "http://127.0.0.1:7878/graph/wf-hpo-07"
    cq = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
    st, _, body, _ = curl(q_url(http, cq, **{"default-graph-uri": graph}), "-H",
                          "Accept: application/sparql-results+json")
    st2, _, body2, _ = curl(q_url(http, cq), "-H", "Accept: application/sparql-results+json")
    n_graph = count_of(body) if st == 200 else -1
    n_all = count_of(body2) if st2 == 200 else -1
    check(0 < n_graph < n_all, "B: default-graph-uri narrows the default graph (%d of %d)" %
          (n_graph, n_all), (st, body[:200]))
    st, _, body, _ = curl(q_url(http, cq, **{"named-graph-uri": graph}))
    check(st == 501 and b"named-graph-uri" in body, "B: 501 for named-graph-uri, naming it",
          (st, body))
    # /data: the Graph Store Protocol, read side
    for media, short, fmt in GRAPH_FORMATS:
        st, ctype, body, _ = curl(http + "data?default", "-H", "Accept: " + media)
        try:
            got = parse_graph(body, fmt) if st == 200 else set()
        except Exception as e:  # noqa: BLE001
            got, body = set(), repr(e).encode()
        check(st == 200 and ctype.split(";")[0] == media and len(got) == n_all,
              "B: /data?default as %s has all %d triples" % (media, n_all),
              (st, ctype, len(got), body[:200]))
    st, ctype, body, _ = curl(http + "data?graph=" + urllib.parse.quote(graph, safe=""))
    g = parse_graph(body, "turtle") if st == 200 else set()
    check(st == 200 and ctype.startswith("text/turtle") and len(g) >= n_graph,
          "B: /data?graph= gives that workflow's graph as Turtle by default", (st, ctype))
    st, _, body, _ = curl(http + "data")
    check(st == 400, "B: 400 for /data with neither ?default nor ?graph", (st, body))
    # dereferencing minted IRIs
    path = urllib.parse.urlsplit(task).path
    st, ctype, body, _ = curl(http.rstrip("/") + path, "-H", "Accept: text/turtle")
    g = parse_graph(body, "turtle") if st == 200 else set()
    check(st == 200 and ctype.startswith("text/turtle") and
          (rdflib.URIRef(task), rdflib.RDF.type, rdflib.URIRef(MIDA + "Task")) in g,
          "B: %s dereferences to RDF by Accept" % path, (st, ctype, body[:200]))
    st, ctype, body, _ = curl(http.rstrip("/") + path, "-H",
                              "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
    check(st == 200 and ctype.startswith("text/html") and b"prov:Activity" in body and
          b"<table" in body, "B: the same IRI gives an HTML page to a browser", (st, ctype))
    st, ctype, body, _ = curl(http + "resource?" + urllib.parse.urlencode({"iri": task,
                                                                           "format": "jsonld"}))
    check(st == 200 and ctype.startswith("application/ld+json") and parse_graph(body, "json-ld"),
          "B: /resource?iri=...&format=jsonld", (st, ctype))
    data_iris = [str(o) for s, p, o in g if str(o).startswith("http://127.0.0.1:7878/data/")]
    if data_iris:
        dpath = urllib.parse.urlsplit(data_iris[0]).path
        st, ctype, body, _ = curl(http.rstrip("/") + dpath, "-H", "Accept: application/n-triples")
        check(st == 200 and parse_graph(body, "nt"),
              "B: a data entity's IRI (percent-encoded path %s) dereferences" % dpath, (st, body[:200]))
    # status, metrics, queries, page
    st, ctype, body, _ = curl(http + "metrics")
    lines = [line for line in body.decode().splitlines() if line and not line.startswith("#")]
    metrics = dict(line.split(" ", 1) for line in lines)
    check(st == 200 and ctype.startswith("text/plain") and
          all(re.fullmatch(r"mida_[a-z_]+ [-+0-9.e]+", line) for line in lines) and
          float(metrics.get("mida_batches_applied_total", 0)) >= 1 and
          int(float(metrics.get("mida_store_triples", 0))) == n_all,
          "B: /metrics is Prometheus text with applied batches and %d triples" % n_all, body[:400])
    st, ctype, body, _ = curl(http + "queries")
    qs = json.loads(body) if st == 200 else []
    names = [q["name"] for q in qs]
    rq = sorted(f[:-3] for f in os.listdir(os.path.join(H.src, "queries")) if f.endswith(".rq"))
    check(st == 200 and names == rq and all(q["title"] and q["query"] for q in qs),
          "B: /queries lists every queries/*.rq with its title", (names, rq))
    st, ctype, body, _ = curl(http, "-H", "Accept: text/html")
    check(st == 200 and ctype.startswith("text/html") and b"/ui/mida.js" in body,
          "B: / serves the web page", (st, ctype, body[:200]))
    for f in ("mida.js", "mida.css"):
        st, ctype, body, _ = curl(http + "ui/" + f)
        check(st == 200 and ctype.split(";")[0] in ("text/javascript", "text/css") and body,
              "B: /ui/%s is served as %s" % (f, ctype.split(";")[0]), st)
    check(srv.stop() == 0, "B: mida serve stops cleanly")


# ---- C: limits -----------------------------------------------------------

def section_c_limits():
    srv = H.serve(H.path("c-store"), "--max-rows", "5")
    rc, _, err = H.emit(srv.endpoint, H.campaign())
    check(rc == 0, "C: the campaign is emitted", err)
    q = PREFIXES + "SELECT ?t WHERE { ?t a mida:Task }"
    st, ctype, body, _ = curl(q_url(srv.http, q), "-H", "Accept: application/sparql-results+json")
    check(st == 500 and ctype.startswith("text/plain") and b"5 rows" in body,
          "C: a query over the row limit is a 500 with the limit named, no partial rows",
          (st, ctype, body))
    st, _, body, _ = curl(q_url(srv.http, q + " LIMIT 5"), "-H",
                          "Accept: application/sparql-results+json")
    check(st == 200 and len(rows_json(body)) == 5, "C: the same query with LIMIT 5 answers",
          (st, body[:200]))
    check(srv.stop() == 0, "C: mida serve stops cleanly")

    # a query that runs into the time limit while another one arrives
    srv = H.serve(H.path("c-store"), "--max-rows", "100000000", "--max-queries", "1",
                  "--query-timeout", "1.5")
    slow = "SELECT ?a WHERE { ?a ?p ?b . ?c ?q ?d . ?e ?r ?f }"
    box = {}

    def run_slow():
        box["slow"] = curl(q_url(srv.http, slow), timeout=120)
    t = threading.Thread(target=run_slow)
    t.start()
    time.sleep(0.5)
    st, _, body, hdrs = curl(q_url(srv.http, "ASK {}"))
    check(st == 503 and re.search(r"(?im)^retry-after:", hdrs),
          "C: 503 with Retry-After while the one allowed query runs", (st, body))
    t.join()
    st, ctype, body, _ = box["slow"]
    check(st == 500 and b"time" in body.lower() and ctype.startswith("text/plain"),
          "C: a query over the time limit (1.5 s) is a 500, not a cut answer", (st, body[:300]))
    st, _, body, _ = curl(srv.http + "status")
    s = json.loads(body)["http"]
    check(s["busy"] >= 1 and s["over_limit"] >= 1, "C: /status counts the refusals", s)
    check(srv.stop() == 0, "C: mida serve stops cleanly after a timed-out query")


# ---- E: SPARQL Update with a token ---------------------------------------

def section_e_update():
    token = "tok-" + os.urandom(12).hex()
    tf = H.path("token")
    with open(tf, "w") as f:
        f.write(token + "\n")
    store = H.path("e-store")
    srv = H.serve(store, "--update-token-file", tf)
    upd = H.path("upd.ru")
    ins = ('PREFIX ex: <http://example.org/> INSERT DATA { ex:s ex:p "v", 3 ; ex:q ex:o } ; '
           'DELETE DATA { ex:s ex:q ex:o }')

    def update(text, *hdrs, form=False):
        with open(upd, "w") as f:
            f.write(text)
        if form:
            return curl(srv.http + "sparql", *hdrs, "--data-urlencode", "update@" + upd)
        return curl(srv.http + "sparql", *hdrs, "-H", "Content-Type: application/sparql-update",
                    "--data-binary", "@" + upd)
    bearer = ("-H", "Authorization: Bearer " + token)
    st, _, body, hdrs = update(ins)
    check(st == 401 and re.search(r"(?im)^www-authenticate: bearer", hdrs),
          "E: 401 with WWW-Authenticate for an update without a token", (st, body))
    st, _, body, _ = update(ins, "-H", "Authorization: Bearer wrong-token-0123456789")
    check(st == 403, "E: 403 for a wrong token", (st, body))
    st, _, body, _ = update(ins, *bearer)
    check(st == 200 and b"3 triples inserted, 1 deleted" in body,
          "E: INSERT DATA; DELETE DATA applied in order", (st, body))
    st, _, body, _ = curl(q_url(srv.http, "SELECT ?p ?o WHERE { <http://example.org/s> ?p ?o }"),
                          "-H", "Accept: application/sparql-results+json")
    got = sorted((b["p"]["value"], b["o"]["value"]) for b in rows_json(body))
    check(got == [("http://example.org/p", "3"), ("http://example.org/p", "v")],
          "E: the inserted triples are answered, the deleted one is gone", got)
    st, _, body, _ = update('DELETE DATA { <http://example.org/s> <http://example.org/p> 3 }',
                            *bearer, form=True)
    check(st == 200 and b"1 deleted" in body, "E: a form-encoded update= works", (st, body))
    st, _, body, _ = update("CLEAR ALL", *bearer)
    check(st == 501 and b"CLEAR" in body, "E: 501 for CLEAR, naming it", (st, body))
    st, _, body, _ = update("DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }", *bearer)
    check(st == 501, "E: 501 for DELETE ... WHERE", (st, body))
    st, _, body, _ = update("INSERT DATA { <a> }", *bearer)
    check(st == 400, "E: 400 for an update that does not parse", (st, body))
    st, _, body, _ = curl(srv.http + "sparql?update=CLEAR%20ALL")
    check(st == 400, "E: 400 for an update by GET", (st, body))
    st, _, body, _ = curl(srv.http + "sparql", "-H", "Accept: text/turtle")
    check(st == 200 and b"SPARQL11Update" in body,
          "E: the Service Description lists SPARQL 1.1 Update", body[:200])
    # acknowledged means saved: a SIGKILL does not lose it
    srv.stop(sig=9)
    srv = H.serve(store)
    st, _, body, _ = curl(q_url(srv.http, 'ASK { <http://example.org/s> <http://example.org/p> "v" }'),
                          "-H", "Accept: application/sparql-results+json")
    check(st == 200 and json.loads(body)["boolean"] is True,
          "E: an acknowledged update survives SIGKILL", body)
    st, _, body, _ = update(ins, *bearer)
    check(st == 403 and b"read-only" in body, "E: without --update-token-file updates are refused",
          (st, body))
    check(srv.stop() == 0, "E: mida serve stops cleanly")


# ---- D: the W3C SPARQL 1.1 Protocol tests --------------------------------

# Tests of SPARQL Update: a read-only endpoint refuses them (403); with an
# update token mida runs INSERT DATA / DELETE DATA only, and these tests also
# use CLEAR, DROP, GRAPH and using-graph-uri.
NOT_APPLICABLE = {
    "update_dataset_default_graph", "update_dataset_default_graphs",
    "update_dataset_named_graphs", "update_dataset_full", "update_post_form",
    "update_post_direct", "update_base_uri",
}
# Tests that need graphs loaded from files under their own names: mida's
# store keeps one graph (ARCHITECTURE 3.4), so named-graph-uri is refused
# (501) and default-graph-uri only selects mida's workflow graphs.  They
# are run, and must fail exactly so: one that starts passing is noticed.
KNOWN_FAILING = {
    "query_dataset_default_graphs_get", "query_dataset_default_graphs_post",
    "query_dataset_named_graphs_post", "query_dataset_named_graphs_get", "query_dataset_full",
    "query_multiple_dataset",
}


def section_d_w3c():
    base = os.path.join(H.shared, "standards", "sparql11", "protocol")
    manifest = os.path.join(base, "manifest.ttl")
    if not os.path.exists(manifest):
        check(False, "D: the W3C protocol manifest is at " + manifest)
        return
    store = H.path("d-store")
    r = H.mida_run("ingest", "-q", "--store", store,
                   *[os.path.join(base, "data%d.nt" % i) for i in (1, 2, 3)])
    check(r.returncode == 0, "D: the protocol tests' data is loaded", r.stderr)
    srv = H.serve(store)
    g = rdflib.Graph()
    g.parse(manifest, format="turtle")
    MF = rdflib.Namespace("http://www.w3.org/2001/sw/DataAccess/tests/test-manifest#")
    HT = rdflib.Namespace("http://www.w3.org/2011/http#")
    CNT = rdflib.Namespace("http://www.w3.org/2011/content#")
    root = next(g.subjects(MF.entries, None))
    entries = list(Collection(g, g.value(root, MF.entries)))
    passed, failed, skipped = [], [], []
    for test in entries:
        name = str(test).rsplit("#", 1)[-1]
        if name in NOT_APPLICABLE:
            skipped.append(name)
            continue
        action = g.value(test, MF.action)
        reqs = Collection(g, g.value(action, HT.requests))
        ok, why = True, ""
        for req in reqs:
            method = str(g.value(req, HT.methodName))
            path = str(g.value(req, HT.absolutePath)).replace("/sparql/", "/sparql", 1)
            args = ["-X", method]
            hl = g.value(req, HT.headers)
            for h in (Collection(g, hl) if hl is not None else []):
                args += ["-H", "%s: %s" % (g.value(h, HT.fieldName), g.value(h, HT.fieldValue))]
            body = g.value(req, HT.body)
            data = None
            if body is not None:
                enc = str(g.value(body, CNT.characterEncoding) or "UTF-8")
                data = str(g.value(body, CNT.chars)).encode(enc.lower())
                args += ["--data-binary", "@-"]
                if not any(a.lower().startswith("content-type") for a in args):
                    args += ["-H", "Content-Type:"]   # curl must not add one
            resp = g.value(req, HT.resp)
            st, ctype, content, _ = curl(srv.http.rstrip("/") + path, *args, data=data)
            want = {str(s).rsplit("#", 1)[-1][len("StatusCode"):]
                    for s in g.objects(resp, MF.expectedStatus)}
            if ("%dxx" % (st // 100)) not in want:
                ok, why = False, "status %d, want %s: %s" % (st, want, content[:200])
                break
            fmt = g.value(resp, MF.expectedFormat)
            ct = ctype.split(";")[0].strip()
            if fmt is not None and str(fmt) == "tabular" and ct not in (
                    "application/sparql-results+json", "application/sparql-results+xml",
                    "text/csv", "text/tab-separated-values"):
                ok, why = False, "tabular answer as %s" % ct
            if fmt is not None and str(fmt) == "RDF" and ct not in (
                    "text/turtle", "application/rdf+xml", "application/n-triples",
                    "application/ld+json", "application/trig", "application/n-quads"):
                ok, why = False, "RDF answer as %s" % ct
            expected_bool = g.value(resp, MF.expectedBoolean)
            if fmt is not None and str(fmt) == "boolean":
                try:
                    res = Result.parse(io.BytesIO(content),
                                       format="json" if "json" in ct else "xml")
                    if expected_bool is not None and res.askAnswer != expected_bool.toPython():
                        ok, why = False, "ASK answered %s" % res.askAnswer
                except Exception as e:  # noqa: BLE001
                    ok, why = False, "not a boolean result: %r" % e
        (passed if ok else failed).append((name, why))
    print("     W3C protocol tests passed (%d): %s" % (len(passed), " ".join(n for n, _ in passed)))
    print("     failed (%d): %s" % (len(failed), "; ".join("%s (%s)" % f for f in failed)))
    print("     not applicable (%d): %s" % (len(skipped), " ".join(skipped)))
    check(len(entries) == 34, "D: the manifest has its 34 tests", len(entries))
    check({n for n, _ in failed} == KNOWN_FAILING,
          "D: every W3C protocol test that applies passes (%d of %d) but the %d dataset tests" %
          (len(passed), len(entries) - len(skipped), len(KNOWN_FAILING)),
          sorted({n for n, _ in failed} ^ KNOWN_FAILING))
    srv.stop()


if __name__ == "__main__":
    sys.exit(H.run([section_b_protocol, section_c_limits, section_d_w3c, section_e_update,
                    section_a_stream]))
