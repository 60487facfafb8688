#!/usr/bin/python3
"""`mida observe balsam` against a small local Balsam API.

Balsam's server cannot be installed here, so this test serves SYNTHETIC
payloads: ../shared/fixtures/balsam/SYNTHETIC_api_examples.json (hand-written
pages of GET /jobs/, /events/ and /batch-jobs/, validated with Balsam's
pydantic models but NOT recorded from a real server), plus an app and a site
written here (also SYNTHETIC, with the fields BalsamAPI's AppOut and SiteOut
require).  The server below answers with the real query semantics of
balsam/server/routers/filters.py: timestamp_after / last_update_after (>=),
id and job_id lists, ordering, limit/offset pagination with
{"count", "results"}, and a Bearer token (401 without it).

  1. one pass (--page-size 2, so every list takes several pages) into a
     store: 2 jobs, their statuses, times, exit codes, stderr, tags, app,
     allocation, workdir location, parent -> child wasInformedBy, the event
     history, exactly as in the fixture;
  2. restart mid-stream: the server first has some events and the jobs in
     their earlier state, then all of them, including a LATE event whose
     timestamp is older than the newest one already read; each run with the
     same --state writes JSON lines: no job is missing or sent twice, and
     the store of the runs equals the store of one full pass; the overlap
     window is what catches the late event (with --overlap 0 it is missed);
  3. bad input: a job without an integer id and events whose timestamp or
     state is unreadable are skipped, named, and the rest loads (exit 3);
     serialized_parameters become their SHA-256;
  4. failures: 401 gives a clear error (naming the URL, suggesting
     --token-file, never echoing the token); 5xx and a server that is not
     there yet are retried (loop mode goes on and delivers once it is up);
     a wrong --url (404) and an answer that is not JSON stop with a message.
"""
import copy
import hashlib
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, free_port, read_jsonl  # noqa: E402

H = Harness("observe-balsam")
FIXTURE = os.path.join(H.shared, "fixtures", "balsam", "SYNTHETIC_api_examples.json")
SCHEMAS = os.path.join(H.shared, "fixtures", "balsam", "balsam_api_schemas.json")
TOKEN = "synthetic-token-4f2a"
BASE = "http://example.org/balsam-test"

with open(FIXTURE) as f:
    PAGES = json.load(f)
JOBS = PAGES["GET /jobs/?tags=experiment:demo"]["results"]
EVENTS = PAGES["GET /events/?tags=experiment:demo&ordering=timestamp"]["results"]
BATCH_JOBS = PAGES["GET /batch-jobs/?site_id=1"]["results"]

# SYNTHETIC as well: the fixture has no /apps/ or /sites/ page.
APPS = [{"id": 3, "site_id": 1, "name": "Hello", "serialized_class": "", "source_code": "",
         "description": "SYNTHETIC app for the mida test", "parameters": {}, "transfers": {}}]
SITES = [{"id": 1, "name": "synthetic-site", "path": "/projects/demo/balsam-site",
          "last_refresh": "2024-05-01T11:00:00", "creation_date": "2024-05-01T10:00:00"}]
SITE_DATA = "/projects/demo/balsam-site/data/"


def parse_time(text):
    """A query or payload time as naive UTC (the server's columns)."""
    t = text.replace("Z", "+00:00")
    # Python < 3.11 reads only 3 or 6 fraction digits ("12:00:09.5" is Balsam's)
    t = re.sub(r"\.(\d+)", lambda m: "." + (m.group(1) + "000000")[:6], t)
    d = datetime.fromisoformat(t)
    if d.tzinfo:
        d = d.astimezone(timezone.utc).replace(tzinfo=None)
    return d


def row_time(text):
    """A served item's time; a broken one (the bad-input test serves some)
    sorts first and passes every filter, as if the server had stored it."""
    try:
        return parse_time(text)
    except (TypeError, ValueError):
        return None


class FakeBalsam:
    """A Balsam API on 127.0.0.1:<free port> serving the lists it holds."""

    def __init__(self, jobs, events, token=TOKEN, apps=APPS, sites=SITES,
                 batch_jobs=BATCH_JOBS, port=0, max_limit=100000):
        self.jobs = copy.deepcopy(jobs)
        self.events = copy.deepcopy(events)
        self.apps = copy.deepcopy(apps) if apps is not None else None
        self.sites = copy.deepcopy(sites) if sites is not None else None
        self.batch_jobs = copy.deepcopy(batch_jobs) if batch_jobs is not None else None
        self.token = token
        self.max_limit = max_limit
        self.fail_next = 0          # answer 503 to this many requests
        self.requests = []          # (path, query dict, Authorization header)
        self.lock = threading.Lock()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                u = urllib.parse.urlsplit(self.path)
                q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
                auth = self.headers.get("Authorization")
                with fake.lock:
                    fake.requests.append((u.path, q, auth))
                    if fake.fail_next > 0:
                        fake.fail_next -= 1
                        return self.reply(503, {"detail": "Service Unavailable"})
                    if fake.token and auth != "Bearer " + fake.token:
                        return self.reply(401, {"detail": "Could not validate credentials"})
                    try:
                        code, body = fake.answer(u.path, q)
                    except ValueError as e:
                        code, body = 422, {"detail": str(e)}
                self.reply(code, body)

            def reply(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, path, q):
        def ints(name):
            return [int(v) for v in q.get(name, [])]

        def one(name, default=None):
            return q[name][-1] if name in q else default

        limit = int(one("limit", "100000"))
        offset = int(one("offset", "0"))
        if limit < 1 or offset < 0:
            raise ValueError("bad limit/offset")
        limit = min(limit, self.max_limit)
        if path == "/events/":
            rows = self.events
            if "id" in q:
                rows = [e for e in rows if e["id"] in ints("id")]
            if "job_id" in q:
                rows = [e for e in rows if e["job_id"] in ints("job_id")]
            if "timestamp_after" in q:
                t = parse_time(one("timestamp_after"))
                rows = [e for e in rows if row_time(e["timestamp"]) is None or
                        row_time(e["timestamp"]) >= t]
            order = one("ordering", "-timestamp")
            if order not in ("timestamp", "-timestamp"):
                raise ValueError("bad ordering")
            rows = sorted(rows, key=lambda e: row_time(e["timestamp"]) or datetime.min,
                          reverse=order.startswith("-"))
        elif path == "/jobs/":
            rows = sorted(self.jobs, key=lambda j: (0, j["id"]) if isinstance(j["id"], int)
                          else (1, 0))
            if "id" in q:
                rows = [j for j in rows if j["id"] in ints("id")]
            if "last_update_after" in q:
                t = parse_time(one("last_update_after"))
                rows = [j for j in rows if parse_time(j["last_update"]) >= t]
        elif path in ("/apps/", "/sites/", "/batch-jobs/"):
            rows = {"/apps/": self.apps, "/sites/": self.sites,
                    "/batch-jobs/": self.batch_jobs}[path]
            if rows is None:
                return 404, {"detail": "Not Found"}
            if "id" in q:
                rows = [r for r in rows if r["id"] in ints("id")]
        else:
            return 404, {"detail": "Not Found"}
        return 200, {"count": len(rows), "results": rows[offset:offset + limit]}


def observe(url, *extra, token_file=None, timeout=120):
    args = ["observe", "balsam", "--url", url, *extra]
    if token_file:
        args += ["--token-file", token_file]
    return H.mida_run(*args, timeout=timeout)


def token_file():
    p = H.path("token")
    if not os.path.exists(p):
        with open(p, "w") as f:
            f.write(TOKEN + "\n")
        os.chmod(p, 0o600)
    return p





def task_rows(store):
    rows = H.store_select(store, """
SELECT ?id ?status ?native ?act ?sub ?start ?end ?code ?env WHERE {
  ?t a mida:Task ; mida:taskId ?id ; mida:status ?status .
  OPTIONAL { ?t mida:nativeStatus ?native }
  OPTIONAL { ?t mida:activityId ?act }
  OPTIONAL { ?t mida:submittedAtTime ?sub }
  OPTIONAL { ?t prov:startedAtTime ?start }
  OPTIONAL { ?t prov:endedAtTime ?end }
  OPTIONAL { ?t mida:exitCode ?code }
  OPTIONAL { ?t mida:environmentId ?env }
} ORDER BY ?id""")
    return {r["id"]: r for r in rows}



def tasks_of(records):
    return [r for r in records if "task_id" in r]


def export_set(store):
    p = H.mida_run("export", "--store", store, "--format", "ntriples")
    if p.returncode != 0:
        raise RuntimeError("mida export failed: " + p.stderr)
    return set(line for line in p.stdout.splitlines() if line.strip())


# ---- 0. the fixture is what we think it is -----------------------------------

def section_fixture():
    H.check("SYNTHETIC" in PAGES["_note"] and "NOT recorded" in PAGES["_note"],
            "synthetic Balsam payloads: the fixture says it is SYNTHETIC", PAGES["_note"][:80])
    print("note serving SYNTHETIC Balsam payloads (hand-written, not from a real server)")
    H.check(len(JOBS) == 2 and len(EVENTS) == 11 and len(BATCH_JOBS) == 1,
            "fixture: 2 jobs, 11 events, 1 batch job", (len(JOBS), len(EVENTS)))
    with open(SCHEMAS) as f:
        schemas = json.load(f)
    ok = True
    for name, items in (("JobOut", JOBS), ("LogEventOut", EVENTS), ("BatchJobOut", BATCH_JOBS),
                        ("AppOut", APPS), ("SiteOut", SITES)):
        for it in items:
            missing = [k for k in schemas[name].get("required", []) if k not in it]
            if missing:
                ok = H.check(False, "%s item has the required fields" % name, missing)
    H.check(ok, "every served item has the fields its Balsam schema requires")


# ---- 1. one full pass ------------------------------------------------------------

FULL_STORE = None
FULL_NAME = "Balsam jobs at the first server"   # the one-pass run's default name


def section_full_pass():
    global FULL_STORE, FULL_NAME
    srv = FakeBalsam(JOBS, EVENTS)
    FULL_NAME = "Balsam jobs at " + srv.url
    try:
        store = H.path("full")
        p = observe(srv.url, "--once", "--no-state", "--page-size", "2", "--to-store", store,
                    "--base", BASE, "--workflow-id", "balsam-test", token_file=token_file())
        H.check(p.returncode == 0, "one pass: exit 0", p.stderr)
        FULL_STORE = store
        reqs = srv.requests
        H.check(all(a == "Bearer " + TOKEN for _, _, a in reqs),
                "every request carries the bearer token", [a for _, _, a in reqs][:3])
        offsets = {int(q["offset"][0]) for path, q, _ in reqs if path == "/events/"}
        H.check(all(q.get("limit") == ["2"] for path, q, _ in reqs
                    if path in ("/events/", "/jobs/")) and {0, 2, 4} <= offsets,
                "lists are read page by page (limit 2, offsets 0, 2, 4, ...)", sorted(offsets))
        H.check(TOKEN not in p.stderr, "the token is not printed")
    finally:
        srv.stop()

    rows = task_rows(store)
    H.check(sorted(rows) == ["101", "102"], "2 tasks: jobs 101 and 102", sorted(rows))
    r1, r2 = rows.get("101", {}), rows.get("102", {})
    M = "https://w3id.org/mida/ns#"
    H.check(r1.get("status") == M + "Finished" and r1.get("native") == "JOB_FINISHED",
            "job 101: mida:Finished, native JOB_FINISHED", r1)
    H.check(r2.get("status") == M + "Error" and r2.get("native") == "FAILED",
            "job 102: mida:Error, native FAILED", r2)
    H.check((r1.get("sub"), r1.get("start"), r1.get("end")) ==
            ("2024-05-01T12:00:00Z", "2024-05-01T12:00:05Z", "2024-05-01T12:00:09.5Z"),
            "job 101: submitted at creation, started at ->RUNNING, ended at ->JOB_FINISHED", r1)
    H.check((r2.get("sub"), r2.get("start"), r2.get("end")) ==
            ("2024-05-01T12:00:00Z", "2024-05-01T12:00:13Z", "2024-05-01T12:00:20Z"),
            "job 102: started at ->RUNNING 12:00:13, ended at ->FAILED 12:00:20", r2)
    H.check((r1.get("code"), r2.get("code")) == ("0", "1"), "exit codes 0 and 1 (return_code)",
            (r1.get("code"), r2.get("code")))
    H.check(r1.get("act") == "Hello" and r2.get("act") == "Hello",
            "activity_id is the app's name (app_id 3 -> Hello)", r1.get("act"))
    H.check(r1.get("env") == "14192", "environment_id is the allocation's scheduler id",
            r1.get("env"))

    inf = H.store_select(store, """
SELECT ?a ?b WHERE { ?x prov:wasInformedBy ?y . ?x mida:taskId ?a . ?y mida:taskId ?b .
  ?x a mida:Task . ?y a mida:Task }""")
    H.check([(r["a"], r["b"]) for r in inf] == [("102", "101")],
            "parent -> child: job 102 prov:wasInformedBy job 101", inf)

    err = H.store_select(store, """
SELECT ?e WHERE { ?t mida:taskId "102" ; mida:stderr ?e }""")
    H.check([r["e"] for r in err] == ["Traceback ...\nValueError: boom"],
            "job 102: stderr is the RUN_ERROR event's error text", err)
    tags = H.store_select(store, """
SELECT ?id ?tag WHERE { ?t a mida:Task ; mida:taskId ?id ; mida:tag ?tag } ORDER BY ?id""")
    H.check([(r["id"], r["tag"]) for r in tags] == [("101", "experiment:demo"),
                                                  ("102", "experiment:demo")],
            "tags kept as KEY:VALUE", tags)

    loc = H.store_select(store, """
SELECT ?id ?loc WHERE { ?d prov:wasGeneratedBy ?t ; prov:atLocation ?loc .
  ?t mida:taskId ?id } ORDER BY ?id""")
    H.check([(r["id"], r["loc"]) for r in loc] ==
            [("101", SITE_DATA + "demo/hello_1"), ("102", SITE_DATA + "demo/hello_2")],
            "the workdir is a data entity at <site path>/data/<workdir>", loc)

    meta = H.store_select(store, """
SELECT ?id ?m WHERE { ?t a mida:Task ; mida:taskId ?id ; mida:customMetadata ?m } ORDER BY ?id""")
    m = {r["id"]: json.loads(r["m"]) for r in meta}
    ev101 = [(e["id"], e["from_state"], e["to_state"], e["timestamp"])
             for e in m.get("101", {}).get("events", [])]
    want101 = [(e["id"], e["from_state"], e["to_state"], e["timestamp"])
               for e in EVENTS if e["job_id"] == 101]
    H.check(ev101 == want101 and len(ev101) == 5,
            "job 101: its 5 events, in order, in custom_metadata", ev101)
    ev102 = [e["id"] for e in m.get("102", {}).get("events", [])]
    H.check(ev102 == [2, 7, 8, 9, 10, 11], "job 102: events 2, 7, 8, 9, 10, 11", ev102)
    e7 = [e for e in m.get("102", {}).get("events", []) if e["id"] == 7]
    H.check(e7 and e7[0].get("data") == {"message": "Skipped stage in"},
            "event data kept (\"Skipped stage in\")", e7)
    H.check(m.get("102", {}).get("batch_job", {}).get("queue") == "debug" and
            m.get("102", {}).get("workdir") == "demo/hello_2" and
            m.get("102", {}).get("resources", {}).get("num_nodes") == 1,
            "custom_metadata: batch job, relative workdir, resources",
            {k: m.get("102", {}).get(k) for k in ("batch_job", "workdir", "resources")})
    wfs = H.store_select(store, """
SELECT ?w ?name WHERE { ?w a mida:WorkflowRun ; mida:workflowName ?name }""")
    H.check(len(wfs) == 1 and wfs[0]["w"] == BASE + "/workflow/balsam-test" and
            wfs[0]["name"] == FULL_NAME,
            "one workflow run (--workflow-id) holds the jobs, named after the URL", wfs)


# ---- 2. restart mid-stream -----------------------------------------------------------

def stage_jobs(stage):
    """The jobs as the server had them: stage 1 = job 101 done, 102 RUNNING."""
    jobs = copy.deepcopy(JOBS)
    if stage == 1:
        j = [x for x in jobs if x["id"] == 102][0]
        j.update(state="RUNNING", return_code=None, last_update="2024-05-01T12:00:13.200000")
    return jobs


def section_restart():
    # stage 1: event 7 (job 102, 12:00:09.5) is not there yet: its transaction
    # commits late, after 8 and 9 (12:00:11, 12:00:13) are visible
    early = [e for e in EVENTS if e["id"] <= 9 and e["id"] != 7]
    srv = FakeBalsam(stage_jobs(1), early)
    state = H.path("restart-state")
    j1, j2, j3 = H.path("r1.jsonl"), H.path("r2.jsonl"), H.path("r3.jsonl")
    try:
        p1 = observe(srv.url, "--once", "--state", state, "--jsonl", j1, "--page-size", "3",
                     "--workflow-id", "balsam-test", "--workflow-name", FULL_NAME,
                     token_file=token_file())
        H.check(p1.returncode == 0, "restart: first run exit 0", p1.stderr)
        # stage 2: everything, and the late event 7 older than the newest seen
        srv.jobs = stage_jobs(2)
        srv.events = copy.deepcopy(EVENTS)
        p2 = observe(srv.url, "--once", "--state", state, "--jsonl", j2, "--page-size", "3",
                     "--workflow-id", "balsam-test", "--workflow-name", FULL_NAME,
                     token_file=token_file())
        H.check(p2.returncode == 0, "restart: second run exit 0", p2.stderr)
        H.check("resuming from the cursor" in p2.stderr, "the second run resumes from the cursor",
                p2.stderr)
        p3 = observe(srv.url, "--once", "--state", state, "--jsonl", j3, "--page-size", "3",
                     "--workflow-id", "balsam-test", "--workflow-name", FULL_NAME,
                     token_file=token_file())
        H.check(p3.returncode == 0, "restart: third run exit 0", p3.stderr)
    finally:
        srv.stop()
    r1, r2, r3 = tasks_of(read_jsonl(j1)), tasks_of(read_jsonl(j2)), tasks_of(read_jsonl(j3))
    H.check(sorted(r["task_id"] for r in r1) == [101, 102],
            "run 1 sends jobs 101 and 102 once each", [r["task_id"] for r in r1])
    first102 = [r for r in r1 if r["task_id"] == 102]
    H.check(first102 and first102[0]["status"] == "RUNNING" and "ended_at" not in first102[0]
            and [e["id"] for e in first102[0]["custom_metadata"]["events"]] == [2, 8, 9],
            "run 1: job 102 RUNNING with the events then visible (2, 8, 9)", first102)
    H.check([r["task_id"] for r in r2] == [102],
            "run 2 sends only job 102 (job 101 did not change: not sent again)",
            [r["task_id"] for r in r2])
    second = r2[0] if r2 else {}
    H.check(second.get("status") == "ERROR" and second.get("native_status") == "FAILED" and
            second.get("ended_at") == "2024-05-01T12:00:20" and
            [e["id"] for e in second.get("custom_metadata", {}).get("events", [])] ==
            [2, 7, 8, 9, 10, 11],
            "run 2: job 102 FAILED with its whole history, the late event 7 included",
            second)
    H.check(r3 == [], "run 3 (nothing changed) sends no job", [r["task_id"] for r in r3])
    union = sorted({r["task_id"] for r in r1 + r2 + r3})
    H.check(union == [101, 102], "the union holds exactly jobs 101 and 102", union)

    # the runs' records, ingested, give the store of one full pass
    store = H.path("restart-store")
    p = H.mida_run("ingest", "--store", store, "--base", BASE, j1, j2, j3)
    H.check(p.returncode == 0, "the runs' records ingest", p.stderr)
    if FULL_STORE:
        a, b = export_set(FULL_STORE), export_set(store)
        H.check(a == b and len(a) > 50,
                "the store of the three runs equals the one-pass store (%d triples)" % len(a),
                "only in one pass: %s\nonly in the runs: %s" % (sorted(a - b)[:5],
                                                                 sorted(b - a)[:5]))
        ra, rb = task_rows(FULL_STORE), task_rows(store)
        H.check(ra == rb and len(ra) == 2, "same tasks, statuses and times", (ra, rb))


def section_late_event_window():
    """The event window alone catches a late event: here the jobs' rows do not
    change (last_update stays), so only the overlap re-read can see event 7."""
    results = {}
    for overlap in ("300", "0"):
        srv = FakeBalsam(JOBS, [e for e in EVENTS if e["id"] != 7])
        state = H.path("late-state-" + overlap)
        a, b = H.path("late-a-%s.jsonl" % overlap), H.path("late-b-%s.jsonl" % overlap)
        try:
            p = observe(srv.url, "--once", "--state", state, "--jsonl", a, "--overlap", overlap,
                        token_file=token_file())
            H.check(p.returncode == 0, "late event, overlap %s: first run" % overlap, p.stderr)
            srv.events = copy.deepcopy(EVENTS)   # event 7: 12:00:09.5 < newest 12:00:20
            p = observe(srv.url, "--once", "--state", state, "--jsonl", b, "--overlap", overlap,
                        token_file=token_file())
            H.check(p.returncode == 0, "late event, overlap %s: second run" % overlap, p.stderr)
            ev_q = [q for path, q, _ in srv.requests if path == "/events/" and
                    "timestamp_after" in q]
        finally:
            srv.stop()
        results[overlap] = (tasks_of(read_jsonl(a)), tasks_of(read_jsonl(b)), ev_q)
    a, b, ev_q = results["300"]
    H.check(len(a) == 2 and [e["id"] for e in a[1]["custom_metadata"]["events"]] ==
            [2, 8, 9, 10, 11], "overlap 300: run 1 sends both jobs, 102 without event 7",
            [r["task_id"] for r in a])
    H.check(ev_q and ev_q[-1]["timestamp_after"] == ["2024-05-01T11:55:20"],
            "overlap 300: the event log is re-read from 5 minutes before the newest event",
            ev_q[-1:] if ev_q else ev_q)
    H.check([r["task_id"] for r in b] == [102] and
            [e["id"] for e in b[0]["custom_metadata"]["events"]] == [2, 7, 8, 9, 10, 11],
            "overlap 300: run 2 sends job 102 again, now with the late event 7",
            [r.get("task_id") for r in b])
    a0, b0, _ = results["0"]
    H.check(len(a0) == 2 and b0 == [],
            "overlap 0: the late event is missed (the window is what catches it)",
            [r["task_id"] for r in b0])


# ---- 3. bad input ----------------------------------------------------------------------

PARAMS_B64 = "gASVEAAAAAAAAAB9lIwBeJRLAXMu"   # an opaque dill/base64 blob, as Balsam sends


def section_bad_items():
    jobs = copy.deepcopy(JOBS)
    jobs.append(dict(copy.deepcopy(JOBS[0]), id="x-not-an-id"))
    good = dict(copy.deepcopy(JOBS[0]), id=103, parent_ids=[], state="RUNNING", return_code=None,
                serialized_parameters=PARAMS_B64, data={"energy": -0.5},
                last_update="2024-05-01T12:01:00.000000", workdir="demo/hello_3")
    jobs.append(good)
    jobs.append(dict(copy.deepcopy(JOBS[0]), id=104, state=None))
    events = copy.deepcopy(EVENTS) + [
        {"id": 12, "job_id": 103, "timestamp": "2024-05-01T12:00:30", "from_state": "CREATED",
         "to_state": "STAGED_IN", "data": {}},
        {"id": 13, "job_id": 103, "timestamp": "yesterday", "from_state": "STAGED_IN",
         "to_state": "PREPROCESSED", "data": {}},
        {"id": 14, "job_id": 103, "timestamp": "2024-05-01T12:00:40", "from_state": "PREPROCESSED",
         "data": {}},
        {"id": 15, "job_id": 103, "timestamp": "2024-05-01T12:00:41", "from_state": "PREPROCESSED",
         "to_state": "RUNNING", "data": {"num_nodes": 1.0}},
    ]
    srv = FakeBalsam(jobs, events)
    store = H.path("bad")
    try:
        p = observe(srv.url, "--once", "--no-state", "--to-store", store, "--base", BASE,
                    token_file=token_file())
    finally:
        srv.stop()
    H.check(p.returncode == 3, "bad items: exit 3 (done, some items skipped)",
            (p.returncode, p.stderr))
    H.check(any(re.search(r"/jobs/ result \d+", ln) and 'no integer "id"' in ln
                for ln in p.stderr.splitlines()),
            "the job without an integer id is skipped and named", p.stderr)
    H.check(any("job 104" in ln and '"state"' in ln for ln in p.stderr.splitlines()),
            "the job without a state is skipped and named", p.stderr)
    lines = p.stderr.splitlines()
    H.check(any("event 13" in ln and "timestamp" in ln for ln in lines) and
            any("event 14" in ln and "to_state" in ln for ln in lines),
            "the events with a bad timestamp or no to_state are skipped and named", p.stderr)
    H.check(len([ln for ln in p.stderr.splitlines() if "event 13" in ln]) == 1,
            "a bad event is reported once per poll (it is read twice: window and history)",
            p.stderr)
    rows = task_rows(store)
    H.check(sorted(rows) == ["101", "102", "103"], "the rest loads: jobs 101, 102 and 103",
            sorted(rows))
    r3 = rows.get("103", {})
    H.check(r3.get("status") == "https://w3id.org/mida/ns#Running" and
            r3.get("start") == "2024-05-01T12:00:41Z",
            "job 103 RUNNING since its ->RUNNING event", r3)
    vals = H.store_select(store, """
SELECT ?n ?v WHERE { ?t mida:taskId "103" . { ?t prov:used ?e } UNION { ?e prov:wasGeneratedBy ?t }
  ?e mida:name ?n ; prov:value ?v } ORDER BY ?n""")
    want = "sha256:" + hashlib.sha256(PARAMS_B64.encode()).hexdigest()
    H.check(("serialized_parameters", want) in [(r["n"], r["v"]) for r in vals],
            "serialized_parameters (opaque) is used as its SHA-256", vals)
    H.check(("data.energy", "-0.5") in [(r["n"], r["v"]) for r in vals],
            "job data {energy: -0.5} is generated as data.energy", vals)


# ---- 4. failures -------------------------------------------------------------------------

def section_auth():
    srv = FakeBalsam(JOBS, EVENTS)
    try:
        p = observe(srv.url, "--once", "--no-state", "--jsonl", H.path("auth.jsonl"))
        H.check(p.returncode == 1 and "401" in p.stderr and srv.url in p.stderr and
                "--token-file" in p.stderr,
                "no token: 401 stops with the URL and how to give a token", p.stderr)
        wrong = "wrong-SECRET-9d1e"
        p = observe(srv.url, "--once", "--no-state", "--jsonl", H.path("auth.jsonl"),
                    "--token", wrong)
        H.check(p.returncode == 1 and "401" in p.stderr and "refused the token" in p.stderr,
                "a wrong token: 401 stops, saying the token was refused", p.stderr)
        H.check(wrong not in p.stderr and wrong not in p.stdout, "the token is never printed")
        env = dict(H.env, MIDA_BALSAM_TOKEN=TOKEN)
        p = subprocess.run([H.mida, "observe", "balsam", "--url", srv.url, "--once",
                            "--no-state", "--jsonl", H.path("env.jsonl")],
                           capture_output=True, text=True, env=env, timeout=120 * H.mult)
        H.check(p.returncode == 0 and len(tasks_of(read_jsonl(H.path("env.jsonl")))) == 2,
                "$MIDA_BALSAM_TOKEN is used", p.stderr)
        with open(H.path("auth.jsonl"), "a"):
            pass
        H.check(read_jsonl(H.path("auth.jsonl")) == [], "nothing was written on a 401")
    finally:
        srv.stop()


def section_busy_and_down():
    # 5xx: retried (--once tries a busy source again); the server also caps
    # `limit` at 3 and has no /apps/ etc.: paging goes on, lookups are left out
    srv = FakeBalsam(JOBS, EVENTS, apps=None, sites=None, batch_jobs=None, max_limit=3)
    srv.fail_next = 2
    try:
        out = H.path("busy.jsonl")
        p = observe(srv.url, "--once", "--no-state", "--jsonl", out, token_file=token_file())
        recs = tasks_of(read_jsonl(out))
        H.check(p.returncode == 0 and "503" in p.stderr and len(recs) == 2,
                "HTTP 503 is retried and the poll then succeeds", (p.returncode, p.stderr))
        r102 = [r for r in recs if r["task_id"] == 102]
        H.check(r102 and len(r102[0]["custom_metadata"]["events"]) == 6 and
                r102[0].get("activity_id") == "app-3" and "environment_id" not in r102[0],
                "a server that caps limit at 3 still gives every event; without /apps/ the "
                "activity is app-3", r102)
    finally:
        srv.stop()

    # not there: --once gives up with a message naming the URL
    port = free_port()
    url = "http://127.0.0.1:%d" % port
    t0 = time.time()
    p = observe(url, "--once", "--no-state", "--jsonl", H.path("down.jsonl"),
                token_file=token_file())
    H.check(p.returncode == 1 and url in p.stderr, "server down, --once: exit 1 naming the URL",
            p.stderr)
    print("     (--once against a server that is down took %.1f s)" % (time.time() - t0))

    # loop mode: not there yet is not fatal; once it is up, the jobs come
    out = H.path("loop.jsonl")
    proc = subprocess.Popen([H.mida, "observe", "balsam", "--url", url, "--token-file",
                             token_file(), "--interval", "0.2", "--max-polls", "25",
                             "--no-state", "--jsonl", out],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=H.env)
    H.procs.append(proc)
    time.sleep(1.0 * H.mult)
    srv = FakeBalsam(JOBS, EVENTS, port=port)
    try:
        _, err = proc.communicate(timeout=120 * H.mult)
    finally:
        srv.stop()
    H.check(proc.returncode == 0 and "trying again" in err and
            sorted(r["task_id"] for r in tasks_of(read_jsonl(out))) == [101, 102],
            "loop mode: a server that is not up yet is retried, then both jobs are delivered",
            (proc.returncode, err))


def section_wrong_url():
    srv = FakeBalsam(JOBS, EVENTS)
    try:
        p = observe(srv.url + "/not-the-api", "--once", "--no-state", "--jsonl",
                    H.path("wrong.jsonl"), token_file=token_file())
        H.check(p.returncode == 1 and "404" in p.stderr and "--url" in p.stderr,
                "a wrong --url (404) stops with a message", p.stderr)
    finally:
        srv.stop()

    class NotJson(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            body = b"<html><body>Welcome</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotJson)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        p = observe("http://127.0.0.1:%d/" % httpd.server_address[1], "--once", "--no-state",
                    "--jsonl", H.path("html.jsonl"))
        H.check(p.returncode == 1 and "not JSON" in p.stderr and "/events/" in p.stderr,
                "an answer that is not JSON stops, naming the URL", p.stderr)
    finally:
        httpd.shutdown()
        httpd.server_close()
    p = observe("ftp://example.org", "--once", "--no-state", "--jsonl", H.path("ftp.jsonl"))
    H.check(p.returncode == 1 and "http" in p.stderr, "a --url that is not http(s) is refused",
            p.stderr)
    p = observe("http://user:pw@127.0.0.1:1/", "--once", "--no-state", "--jsonl",
                H.path("cred.jsonl"))
    H.check(p.returncode == 1 and "credentials" in p.stderr,
            "credentials in --url are refused", p.stderr)


sys.exit(H.run([section_fixture, section_full_pass, section_restart, section_late_event_window,
                section_bad_items, section_auth, section_busy_and_down, section_wrong_url]))
