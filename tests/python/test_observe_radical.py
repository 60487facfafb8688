#!/usr/bin/python3
"""`mida observe radical` (adapters/radical/radical.c) on a real
RADICAL-Pilot session directory, checked by SPARQL on the store it fills.

  * the fixture (../shared/fixtures/radical: RP 1.22, one pilot, 16 tasks,
    *.prof at the top and under pilot.0000/, the legacy <sid>.json): 16
    tasks, each with the final state its profiles give (recomputed here
    from the .prof files), submitted/started/ended times equal to the
    `advance NEW`, `exec_start` and `exec_stop` lines plus the host's NTP
    offset (recomputed here from the sync_abs lines), the pilot as
    environment, the host, the user, RP's version, the executable as plan
    and used file, the arguments, exit code, stdout, the stdout/stderr
    files as generated data, the full state history; --host-clock gives
    the raw times;
  * a session built here in the current layout (tmgr.0000.json,
    pmgr.0000.json) with the upstream unit-test task carrying
    input_staging directives (client:///, pilot:///) plus output staging
    and string directives: every directive is a used/generated data entity
    at the expanded location; tasks left NEW, TMGR_SCHEDULING,
    AGENT_EXECUTING, FAILED, CANCELED map to Submitted, Waiting, Running,
    Error, Error; the legacy vocabulary (unit.*, UMGR_* states, `state`
    events; radical.analytics' example entity) reads the same way;
  * restart mid-stream: the session copied with every .prof cut about
    half way (at a line boundary, or inside a line), some task.prof files
    and the JSON not there yet, a bad line in the part read first,
    observed with --state; then the files grow to their full length (one
    file replaced by a new inode) and the JSON arrives, observed again: the
    cursor offsets stop at the last complete line, the cursor holds no
    summaries and stays small (under 16 KB), the second run rebuilds the
    summaries from the files up to the offsets without reporting the bad
    line again, every task is there once with its final state, and the two
    runs together give the same store as a single full pass, triple for
    triple; a third run sends nothing;
  * restart with summaries to rebuild: a session of three tasks (one
    finished, one half way, one with its JSON only) observed, then new
    lines for the second: the restarted observer sends that task alone
    (and the session), with every event folded, old and new; the two runs
    give the same store as one pass;
  * --sandbox: the pilot.0000/ profiles read from a separate pilot sandbox
    give the same store as the full session directory;
  * bad input: a line with a bad time, a line with too few fields and a
    session JSON that is not JSON are skipped with messages naming file and
    line (exit 3), the rest loads; a missing session directory fails with a
    message naming it.

Prints one line per check and "N passed, M failed".
"""
import datetime
import decimal
import json
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness  # noqa: E402

H = Harness("observe_radical")
select, one = H.store_select, H.store_one
SID = "rp.session.mosto.mturilli.019432.0002"
FIX = os.path.join(H.shared, "fixtures", "radical")
SESSION = os.path.join(FIX, SID)
UPSTREAM = os.path.join(FIX, "upstream_tests")
BASE = "http://127.0.0.1:7878"
STATUS = {"DONE": "Finished", "FAILED": "Error", "CANCELED": "Error", "NEW": "Submitted",
          "AGENT_EXECUTING": "Running", "TMGR_SCHEDULING": "Waiting"}


def observe(*args):
    return H.mida_run("observe", "radical", "--once", *args, timeout=120)



def triples(store):
    """Every triple of a store, literals with their datatype."""
    p = H.mida_run("sparql", "--store", store, "--results", "json",
                   "SELECT ?s ?p ?o WHERE { ?s ?p ?o }")
    if p.returncode != 0:
        raise RuntimeError("mida sparql failed: " + p.stderr)
    out = set()
    for b in json.loads(p.stdout)["results"]["bindings"]:
        o = b["o"]
        out.add((b["s"]["value"], b["p"]["value"], o["type"], o["value"], o.get("datatype", "")))
    return out


def task_iri(wf, uid):
    return "%s/task/%s/%s" % (BASE, wf, uid)


def data_links(store, wf, uid, used):
    """{(name, location)} of the data a task used or generated."""
    t = task_iri(wf, uid)
    if used:
        q = """SELECT ?name ?loc WHERE { <%s> prov:used ?d ; prov:qualifiedUsage ?q .
            ?q prov:entity ?d ; mida:name ?name . ?d prov:atLocation ?loc }""" % t
    else:
        q = """SELECT ?name ?loc WHERE { ?d prov:wasGeneratedBy <%s> ; prov:atLocation ?loc ;
            prov:qualifiedGeneration ?q . ?q prov:activity <%s> ; mida:name ?name }""" % (t, t)
    return {(r["name"], r["loc"]) for r in select(store, q)}


# ---- what the fixture says, computed here from the files -----------------

def prof_files(root):
    """Relative paths of every *.prof under root, in path order."""
    out = []
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith(".prof"):
                out.append(os.path.relpath(os.path.join(d, f), root))
    return sorted(out)


def read_events(root):
    """(relpath, fields) of every event line, and the NTP offset (Decimal
    seconds) of each host: the first `ntp` sync_abs of the host in path
    order, as radical.utils combine_profiles takes the first per host."""
    events, offsets, file_host = [], {}, {}
    for rel in prof_files(root):
        with open(os.path.join(root, rel)) as f:
            for line in f:
                line = line.rstrip("\n")
                if not line or line.startswith("#"):
                    continue
                fields = line.split(",", 6)
                if fields[1] == "sync_abs":
                    host, ip, t_sys, t_ntp, mode = fields[6].rsplit(":", 3)[0].split(":", 1) + \
                        fields[6].rsplit(":", 3)[1:]
                    hid = host + ":" + ip
                    file_host.setdefault(rel, hid)
                    if mode == "ntp" and hid not in offsets:
                        offsets[hid] = decimal.Decimal(t_ntp) - decimal.Decimal(t_sys)
                    continue
                events.append((rel, fields))
    return events, offsets, file_host


def iso(seconds):
    """Decimal epoch seconds -> the ISO text mida stores (microseconds,
    truncated, trailing zeros dropped)."""
    whole = int(seconds)
    micros = int((seconds - whole) * 1000000)
    t = datetime.datetime.fromtimestamp(whole, datetime.timezone.utc)
    s = t.strftime("%Y-%m-%dT%H:%M:%S")
    if micros:
        s += (".%06d" % micros).rstrip("0")
    return s + "Z"


EVENTS, OFFSETS, FILE_HOST = read_events(SESSION)
HOST = "mosto:192.168.2.45"
with open(os.path.join(SESSION, SID + ".json")) as _f:
    DOC = json.load(_f)
TASKS = {t["uid"]: t for t in DOC["task"]}


def final_states():
    """uid -> the state of its last `advance` (in time order)."""
    last = {}
    for _, f in EVENTS:
        if f[1] == "advance" and f[4].startswith("task."):
            t = decimal.Decimal(f[0])
            if f[4] not in last or t >= last[f[4]][0]:
                last[f[4]] = (t, f[5])
    return {uid: s for uid, (t, s) in last.items()}


def first_time(uid, event, state=None):
    times = [decimal.Decimal(f[0]) for _, f in EVENTS
             if f[4] == uid and f[1] == event and (state is None or f[5] == state)]
    return min(times) if times else None


# ---- sections ------------------------------------------------------------

def full_pass():
    store = H.path("full")
    p = observe("--session", SESSION, "--no-state", "--to-store", store)
    H.check(p.returncode == 0, "observe the fixture: exit 0", p.stderr)
    H.check(HOST in OFFSETS and abs(OFFSETS[HOST] - decimal.Decimal("65.3633")) < 1,
            "the fixture's host has an NTP offset of about 65 s", OFFSETS)
    finals = final_states()
    H.check(len(finals) == 16 and len(TASKS) == 16, "the fixture has 16 tasks", finals)
    rows = select(store, """SELECT ?id ?st ?native ?env ?host WHERE {
        ?t a mida:Task ; provone:wasPartOf <%s/workflow/%s> ; mida:taskId ?id ;
           mida:status ?st ; mida:nativeStatus ?native ; mida:environmentId ?env ;
           mida:hostname ?host }""" % (BASE, SID))
    got = {r["id"]: r for r in rows}
    H.check(sorted(got) == sorted(finals), "16 tasks, one row each", sorted(got))
    H.check(all(got[u]["native"] == s and
                got[u]["st"] == "https://w3id.org/mida/ns#" + STATUS[s]
                for u, s in finals.items() if u in got),
            "every task has the final state of its profiles (all DONE -> mida:Finished)",
            {u: got.get(u, {}).get("native") for u in finals})
    H.check(all(r["env"] == "pilot.0000" and r["host"] == "mosto" for r in rows),
            "every task ran on pilot.0000 (environment) on host mosto",
            {(r["env"], r["host"]) for r in rows})
    agents = select(store, """SELECT ?id ?pilot ?host WHERE {
        ?t mida:taskId ?id ; prov:wasAssociatedWith ?p , ?h .
        ?p a mida:ExecutionEnvironment , prov:SoftwareAgent ; rdfs:label ?pilot .
        ?h a mida:Host ; rdfs:label ?host }""")
    H.check(len(agents) == 16 and {(r["pilot"], r["host"]) for r in agents} == {("pilot.0000", "mosto")},
            "the pilot and the host are agents every task was associated with",
            [(r["id"], r["pilot"], r["host"]) for r in agents][:3])
    off = OFFSETS[HOST]
    for uid in ("task.000000", "task.000011"):
        exp = {"sub": iso(first_time(uid, "advance", "NEW") + off),
               "start": iso(first_time(uid, "exec_start") + off),
               "end": iso(first_time(uid, "exec_stop") + off)}
        r = select(store, """SELECT ?sub ?start ?end WHERE { <%s> mida:submittedAtTime ?sub ;
            prov:startedAtTime ?start ; prov:endedAtTime ?end }""" % task_iri(SID, uid))
        H.check(r == [exp], "%s: submitted/started/ended = advance NEW / exec_start / "
                "exec_stop + NTP offset, exactly" % uid, (r, exp))
    t0 = TASKS["task.000000"]
    r = select(store, """SELECT ?plan ?exe ?args ?ec ?out WHERE { <%s> mida:activityId ?plan ;
        prov:used ?d ; mida:exitCode ?ec ; mida:stdout ?out ; prov:qualifiedUsage ?q .
        ?q prov:entity ?d ; mida:name "executable" .
        ?d prov:atLocation ?exe .
        <%s/value/%s/task.000000/used/arguments> prov:value ?args }""" % (
        task_iri(SID, "task.000000"), BASE, SID))
    exp = {"plan": t0["description"]["executable"], "exe": t0["description"]["executable"],
           "args": json.dumps(t0["description"]["arguments"]), "ec": "0",
           "out": t0["stdout"]}
    H.check(r == [exp], "task.000000: executable as plan and used file, arguments, exit "
            "code, stdout from the session JSON", (r, exp))
    gen = data_links(store, SID, "task.000007", used=False)
    want = {(k, re.sub("/+", "/", TASKS["task.000007"][k])) for k in ("stdout_file", "stderr_file")}
    H.check(gen == want, "task.000007: stdout/stderr files generated, at their paths", gen)
    r = select(store, """SELECT ?md WHERE { <%s> mida:customMetadata ?md }""" %
               task_iri(SID, "task.000000"))
    md = json.loads(r[0]["md"]) if r else {}
    states = [s for s, _ in md.get("rp_states", [])]
    H.check(states == t0["states"], "task.000000: the 16-state history in custom_metadata, "
            "in order", states)
    H.check(md.get("rp_events", {}).get("app_start") ==
            "%s.%06dZ" % (iso(first_time("task.000000", "app_start") + off)[:19],
                          int((first_time("task.000000", "app_start") + off) % 1 * 1000000)) and
            md.get("sandbox") == t0["task_sandbox_path"].rstrip("/"),
            "task.000000: app_start and the sandbox in custom_metadata", md)
    r = select(store, """SELECT ?user ?ver ?start ?end ?st WHERE { <%s/workflow/%s>
        a mida:WorkflowRun ; prov:startedAtTime ?start ; prov:endedAtTime ?end ; mida:status ?st ;
        prov:wasAssociatedWith ?u, ?e . ?u a prov:Person ; rdfs:label ?user .
        ?e a prov:SoftwareAgent ; mida:version ?ver }""" % (BASE, SID))
    exp = {"user": "mturilli", "ver": "1.22.0", "st": "https://w3id.org/mida/ns#Finished",
           "start": iso(first_time(SID, "session_start") + off),
           "end": iso(max(decimal.Decimal(f[0]) for _, f in EVENTS
                          if f[1] == "session_stop") + off)}
    H.check(r == [exp], "the session: user, RP 1.22.0, session_start..session_stop, "
            "Finished", (r, exp))
    r = select(store, """SELECT ?md WHERE { <%s/workflow/%s> mida:customMetadata ?md }""" %
               (BASE, SID))
    md = json.loads(r[0]["md"]) if r else {}
    pilot = md.get("pilots", {}).get("pilot.0000", {})
    H.check(pilot.get("host") == "mosto" and pilot.get("resource") == "local.localhost" and
            pilot.get("cores") == 256 and pilot.get("state") == "PMGR_ACTIVE" and
            [s for s, _ in pilot.get("rp_states", [])] == DOC["pilot"][0]["states"][:5],
            "the pilot in the session's custom_metadata: host, resource, cores, states", pilot)
    n = select(store, "SELECT (COUNT(DISTINCT ?d) AS ?n) WHERE { ?t a mida:Task ; prov:used ?d . "
               "?d prov:atLocation ?loc }")
    H.check(n == [{"n": "1"}], "the 16 tasks share one executable entity", n)


def host_clock():
    store = H.path("hostclock")
    p = observe("--session", SESSION, "--no-state", "--to-store", store, "--host-clock")
    H.check(p.returncode == 0, "--host-clock: exit 0", p.stderr)
    r = select(store, """SELECT ?start WHERE { <%s> prov:startedAtTime ?start }""" %
               task_iri(SID, "task.000000"))
    exp = iso(first_time("task.000000", "exec_start"))
    H.check(r == [{"start": exp}], "--host-clock: exec_start as the host wrote it", (r, exp))


def write_prof(path, lines, header=True):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        if header:
            f.write("#time,event,comp,thread,uid,state,msg\n")
        for line in lines:
            f.write(line + "\n")


def built_session():
    """A session in the current layout: tmgr.0000.json, pmgr.0000.json."""
    sid = "rp.session.testhost.alice.019500.0001"
    root = H.path("built", sid)
    client = "/home/alice/project"
    sandbox = "file://localhost/scratch/alice/radical.pilot.sandbox/" + sid
    with open(os.path.join(UPSTREAM, "rp_tmgr_task.000000_input_staging.json")) as f:
        t0 = json.load(f)["task"]
    base = {"client_sandbox": client, "resource_sandbox": sandbox.rsplit("/", 1)[0],
            "session_sandbox": sandbox, "pilot_sandbox": sandbox + "/pilot.0000/",
            "endpoint_fs": "file://localhost/", "pilot": "pilot.0000"}
    t0.update(base)
    t0.update({"task_sandbox": sandbox + "/pilot.0000/task.000000/", "state": "DONE",
               "exit_code": 0})
    t0["description"].update({
        "executable": "/bin/simulate", "arguments": ["--in", "file.000000.00"],
        "output_staging": [{"source": "task:///result.h5", "target": "client:///results/r0.h5",
                            "action": "Transfer"},
                           "log.txt > sftp://archive.example.org/logs/log0.txt"]})
    t1 = dict(base, uid="task.000001", state="FAILED", exit_code=3, stderr="boom\n",
              task_sandbox=sandbox + "/pilot.0000/task.000001/",
              description={"executable": "/bin/simulate", "arguments": [],
                           "input_staging": ["data/input.csv", "/abs/x.dat > y.dat"]})
    os.makedirs(root)
    with open(os.path.join(root, "tmgr.0000.json"), "w") as f:
        json.dump({"type": "tmgr", "uid": "tmgr.0000", "tasks": {"task.000000": t0,
                                                                  "task.000001": t1}}, f)
    with open(os.path.join(root, "pmgr.0000.json"), "w") as f:
        json.dump({"pilots": [{"uid": "pilot.0000", "state": "DONE", "pmgr": "pmgr.0000",
                               "pilot_sandbox": sandbox + "/pilot.0000/",
                               "description": {"resource": "ornl.frontier", "cores": 56}}]}, f)
    t = 1700000000
    lines = ["%d.0000000,sync_abs,tmgr.0000,MainThread,,,testhost:10.0.0.1:%d.0:%d.5:ntp" % (t, t, t)]
    for i, states in enumerate([["NEW", "DONE"], ["NEW", "FAILED"], ["NEW"],
                                ["NEW", "TMGR_SCHEDULING"], ["NEW", "TMGR_SCHEDULING",
                                                             "CANCELED"]]):
        for k, s in enumerate(states):
            lines.append("%d.%07d,advance,tmgr.0000,MainThread,task.%06d,%s," % (
                t + 10 + i, k, i, s))
    write_prof(os.path.join(root, "tmgr.0000.prof"), lines)
    # the agent's view of task.000005: executing, no end yet
    write_prof(os.path.join(root, "pilot.0000", "agent_executing.0000.prof"), [
        "%d.0,sync_abs,agent_executing.0000,MainThread,,,node7:10.0.0.7:%d.0:%d.0:ntp" % (t, t, t),
        "%d.1,hostname,agent.0,MainThread,pilot.0000,,node7" % t,
        "%d.2,advance,agent_executing.0000,MainThread,task.000005,AGENT_EXECUTING," % (t + 30)])
    write_prof(os.path.join(root, "pilot.0000", "task.000005", "task.000005.prof"), [
        "%d.5,exec_start,,MainThread,task.000005,AGENT_EXECUTING," % (t + 31)], header=False)
    return sid, root, client, sandbox


def staging_and_states():
    sid, root, client, sandbox = built_session()
    sb = sandbox[len("file://localhost"):]
    store = H.path("built-store")
    p = observe("--session", root, "--no-state", "--to-store", store)
    H.check(p.returncode == 0, "observe the built session: exit 0", p.stderr)
    rows = select(store, """SELECT ?t ?native ?st WHERE { ?x mida:taskId ?t ;
        mida:nativeStatus ?native ; mida:status ?st }""")
    got = {r["t"]: (r["native"], r["st"].rsplit("#", 1)[1]) for r in rows}
    exp = {"task.000000": "DONE", "task.000001": "FAILED", "task.000002": "NEW",
           "task.000003": "TMGR_SCHEDULING", "task.000004": "CANCELED",
           "task.000005": "AGENT_EXECUTING"}
    H.check(got == {u: (s, STATUS[s]) for u, s in exp.items()},
            "states: DONE, FAILED, NEW, TMGR_SCHEDULING, CANCELED, AGENT_EXECUTING -> "
            "Finished, Error, Submitted, Waiting, Error, Running", got)

    used = data_links(store, sid, "task.000000", used=True)
    exp_used = {("executable", "/bin/simulate"),
                ("input_staging", client + "/file.000000.00"),
                ("input_staging", client + "/file.000000.01"),
                ("input_staging_target", sb + "/pilot.0000/task.000000/file.000000.00"),
                ("input_staging_target", sb + "/pilot.0000/file.000000.01")}
    H.check(used == exp_used, "task.000000: input_staging client:/// -> the client's "
            "directory, task:/// and pilot:/// -> the sandboxes (upstream unit-test task)", used)
    gen = data_links(store, sid, "task.000000", used=False)
    exp_gen = {("output_staging", client + "/results/r0.h5"),
               ("output_staging_source", sb + "/pilot.0000/task.000000/result.h5"),
               ("output_staging_source", sb + "/pilot.0000/task.000000/log.txt")}
    H.check(exp_gen <= gen, "task.000000: output_staging targets and sources generated", gen)
    r = select(store, """SELECT ?id WHERE { ?d prov:wasGeneratedBy <%s> ;
        <http://purl.org/dc/terms/identifier> ?id }""" % task_iri(sid, "task.000000"))
    r2 = select(store, """SELECT ?loc WHERE { ?d prov:wasGeneratedBy <%s> ;
        prov:atLocation ?loc . FILTER(STRSTARTS(?loc, "sftp:")) }""" % task_iri(sid, "task.000000"))
    H.check(r2 == [{"loc": "sftp://archive.example.org/logs/log0.txt"}] or
            r == [{"id": "sftp://archive.example.org/logs/log0.txt"}],
            "task.000000: a string directive 'src > sftp://...' keeps the remote URI", (r, r2))
    used1 = data_links(store, sid, "task.000001", used=True)
    exp1 = {("input_staging", client + "/data/input.csv"), ("input_staging", "/abs/x.dat"),
            ("input_staging_target", sb + "/pilot.0000/task.000001/input.csv"),
            ("input_staging_target", sb + "/pilot.0000/task.000001/y.dat"),
            ("executable", "/bin/simulate")}
    H.check(used1 == exp1, "task.000001: string directives, relative paths from the client's "
            "directory into the task sandbox", used1)
    r = select(store, """SELECT ?ec ?err ?host WHERE { <%s> mida:exitCode ?ec ; mida:stderr ?err ;
        mida:hostname ?host }""" % task_iri(sid, "task.000001"))
    H.check(r == [{"ec": "3", "err": "boom\n", "host": "node7"}],
            "task.000001: exit code, stderr, and the host of its pilot (pilot named by the JSON)",
            r)
    r = select(store, """SELECT ?host ?env ?start WHERE { <%s> mida:hostname ?host ;
        mida:environmentId ?env ; prov:startedAtTime ?start }""" % task_iri(sid, "task.000005"))
    H.check(r == [{"host": "node7", "env": "pilot.0000",
                   "start": iso(decimal.Decimal("1700000031.5"))}],
            "task.000005: the pilot's host (its hostname event), the pilot from the "
            "directory, exec_start of an unsynced task.prof (offset 0 of node7)", r)
    r = select(store, """SELECT ?sub WHERE { <%s> mida:submittedAtTime ?sub }""" %
               task_iri(sid, "task.000002"))
    H.check(r == [{"sub": iso(decimal.Decimal("1700000012.5"))}],
            "task.000002: submitted at its NEW + the host's 0.5 s NTP offset", r)
    r = select(store, """SELECT ?u WHERE { <%s/workflow/%s> prov:wasAssociatedWith ?u .
        ?u a prov:Person }""" % (BASE, sid))
    H.check(r == [{"u": BASE + "/agent/person/alice"}], "the user from the session id", r)


def legacy_vocabulary():
    """radical.analytics' example entity (pre-1.0 RP: unit.*, UMGR_* and
    `state` events) as a profile."""
    events = []
    with open(os.path.join(UPSTREAM, "ra_unit-entity-example_legacy.json")) as f:
        for line in f:
            # the file is not valid JSON as a whole; its event lines are
            m = re.match(r"\s*(\[\s*[0-9.]+\s*,.*?\])\]?\s*,?\s*$", line)
            if m:
                events.append(json.loads(m.group(1)))
    sid = "rp.session.oldhost.bob.017000.0003"
    root = H.path("legacy", sid)
    base = decimal.Decimal(1500000000)
    lines = ["%s,%s" % (decimal.Decimal(repr(e[0])) + base, ",".join(
        str(x) for x in e[1:7])) for e in events]
    write_prof(os.path.join(root, "umgr.0000.prof"), lines)
    store = H.path("legacy-store")
    p = observe("--session", root, "--no-state", "--to-store", store)
    H.check(p.returncode == 0, "legacy vocabulary: exit 0", p.stderr)
    r = select(store, """SELECT ?st ?native ?md WHERE { <%s> mida:status ?st ;
        mida:nativeStatus ?native ; mida:customMetadata ?md }""" % task_iri(sid, "unit.000001"))
    states = [e[5] for e in events if e[1] == "state"]
    got = [s for s, _ in json.loads(r[0]["md"])["rp_states"]] if r else None
    H.check(len(r) == 1 and r[0]["native"] == "DONE" and r[0]["st"].endswith("#Finished") and
            got == states and len(states) == 16,
            "unit.000001: 16 legacy states (UMGR_*), DONE -> Finished", (r, states))
    # the oldest layout (radical.utils before 2017): columns named by the
    # header, "time,name,uid,state,event,msg", name = "comp:thread"
    root6 = H.path("legacy6", sid)
    write_prof(os.path.join(root6, "umgr.0000.prof"), ["#time,name,uid,state,event,msg"] + [
        "%s,%s:%s,%s,%s,%s,%s" % (decimal.Decimal(repr(e[0])) + base, e[2], e[3], e[4], e[5],
                                  e[1], e[6]) for e in events], header=False)
    store6 = H.path("legacy6-store")
    p = observe("--session", root6, "--no-state", "--to-store", store6)
    r6 = select(store6, """SELECT ?st ?native ?md WHERE { <%s> mida:status ?st ;
        mida:nativeStatus ?native ; mida:customMetadata ?md }""" % task_iri(sid, "unit.000001"))
    H.check(p.returncode == 0 and r6 == r and triples(store6) == triples(store),
            "the six-column layout named by its header reads the same", (p.stderr, r6))


def cut_point(data, mid_line):
    """About half of `data`: just after a newline, or inside a line."""
    nl = data.find(b"\n", len(data) // 2)
    if nl < 0:
        return len(data)
    if not mid_line:
        return nl + 1
    start = data.rfind(b"\n", 0, nl) + 1
    return (start + nl) // 2 if nl - start > 1 else nl


def restart_mid_stream():
    root = H.path("restart", SID)
    shutil.copytree(SESSION, root)
    full = {}
    cuts = {}
    late = {"pilot.0000/task.%06d/task.%06d.prof" % (i, i) for i in (12, 13, 14, 15)}
    for i, rel in enumerate(prof_files(root)):
        path = os.path.join(root, rel)
        with open(path, "rb") as f:
            full[rel] = f.read()
        if rel == "tmgr.0000.prof":
            # a bad line early on: reported by the first run only (the
            # second reads it again, quietly, to rebuild the summaries)
            nl = full[rel].find(b"\n", full[rel].find(b"\n") + 1) + 1
            full[rel] = full[rel][:nl] + b"16789310x5.5,advance,tmgr.0000,MainThread," \
                b"task.000009,NEW,\n" + full[rel][nl:]
            with open(path, "wb") as f:
                f.write(full[rel])
        if rel in late:
            os.unlink(path)
            continue
        cut = cut_point(full[rel], mid_line=i % 2 == 1)
        cuts[rel] = cut
        with open(path, "r+b") as f:
            f.truncate(cut)
    os.rename(os.path.join(root, SID + ".json"), H.path("restart", "later.json"))
    state = H.path("restart-state")
    j1, j2, j3 = H.path("r1.jsonl"), H.path("r2.jsonl"), H.path("r3.jsonl")
    p = observe("--session", root, "--state", state, "--jsonl", j1)
    H.check(p.returncode == 3 and "tmgr.0000.prof:3" in p.stderr,
            "restart: first half observed, exit 3: the bad line reported", (p.returncode, p.stderr))
    cursor_files = [f for f in os.listdir(state) if f.endswith(".cursor")]
    with open(os.path.join(state, cursor_files[0])) as f:
        cur = json.loads(json.load(f)["cursor"])
    offs = {k[2:]: v["off"] for k, v in cur["files"].items()}
    exp = {rel: full[rel][:cut].rfind(b"\n") + 1 for rel, cut in cuts.items()}
    H.check(offs == exp, "restart: each file's offset is just past its last complete line",
            {k: (offs.get(k), exp.get(k)) for k in exp if offs.get(k) != exp.get(k)})
    H.check(sum(1 for rel, c in cuts.items() if exp[rel] != c) >= 10,
            "restart: at least 10 files were cut inside a line",
            sum(1 for rel, c in cuts.items() if exp[rel] != c))
    # the rest arrives: appended in place; one file is replaced by a new
    # inode
    replaced = "pilot.0000/agent_staging_output.0000.prof"
    for rel, data in full.items():
        path = os.path.join(root, rel)
        if rel == replaced:
            os.unlink(path)
            with open(path, "wb") as f:
                f.write(data)
        elif rel in cuts:
            with open(path, "ab") as f:
                f.write(data[cuts[rel]:])
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
    os.rename(H.path("restart", "later.json"), os.path.join(root, SID + ".json"))
    p = observe("--session", root, "--state", state, "--jsonl", j2)
    H.check(p.returncode == 0 and "tmgr.0000.prof" not in p.stderr,
            "restart: second run, exit 0: the bad line, read again to rebuild the summaries, "
            "is not reported again", p.stderr)
    cursor_path = os.path.join(state, cursor_files[0])
    with open(cursor_path) as f:
        cur = json.loads(json.load(f)["cursor"])
    size = os.path.getsize(cursor_path)
    H.check(size < 16384 and not {"tasks", "pilots", "session"} & set(cur) and
            cur.get("json", {}).get(SID + ".json"),
            "restart: the cursor holds offsets, hosts and the JSON's signature, no summaries: "
            "%d bytes for the whole fixture" % size, (size, sorted(cur)))
    offs = {k[2:]: v["off"] for k, v in cur["files"].items()}
    H.check(offs == {rel: len(d) for rel, d in full.items()},
            "restart: every file read to its end", offs)
    p = observe("--session", root, "--state", state, "--jsonl", j3)
    n3 = os.path.getsize(j3) if os.path.exists(j3) else 0
    H.check(p.returncode == 0 and n3 == 0, "restart: a third run sends nothing", (p.stderr, n3))

    recs = []
    for path in (j1, j2):
        with open(path) as f:
            recs.append([json.loads(line) for line in f if line.strip()])
    ids1 = [r["task_id"] for r in recs[0] if "task_id" in r]
    ids2 = [r["task_id"] for r in recs[1] if "task_id" in r]
    H.check(len(ids1) == len(set(ids1)) and len(ids2) == len(set(ids2)),
            "restart: no task twice within a run", (ids1, ids2))
    H.check(set(ids1) | set(ids2) == set(TASKS), "restart: the two runs cover the 16 tasks",
            sorted(set(ids1) | set(ids2)))
    last = {}
    for r in recs[0] + recs[1]:
        if "task_id" in r:
            last[r["task_id"]] = r
    H.check(all(r.get("status") == "FINISHED" and r.get("native_status") == "DONE"
                for r in last.values()), "restart: every task's last record is DONE/FINISHED",
            {u: r.get("native_status") for u, r in last.items()})
    first = {r["task_id"]: r for r in recs[0] if "task_id" in r}
    H.check(any(r.get("native_status") != "DONE" for r in first.values()),
            "restart: the first run saw unfinished tasks",
            {u: r.get("native_status") for u, r in first.items()})
    # the union equals a single full pass, triple for triple
    s2 = H.path("restart-store")
    ing = H.mida_run("ingest", "--store", s2, j1, j2)
    H.check(ing.returncode == 0, "restart: the two runs' records ingest", ing.stderr)
    single = H.path("full")
    if not os.path.isdir(single):
        observe("--session", SESSION, "--no-state", "--to-store", single)
    a, b = triples(single), triples(s2)
    H.check(a == b and len(a) > 500, "restart: the same store as a single full pass (%d triples)"
            % len(a), sorted(a ^ b)[:10])


def restart_rebuild():
    """A task finished before the restart is not sent again; one that
    goes on is sent with what was read before the restart and after."""
    sid = "rp.session.rhost.carol.019600.0001"
    root = H.path("rebuild", sid)
    t = 1700000000
    sync = "%d.0,sync_abs,tmgr.0000,MainThread,,,rhost:10.0.0.9:%d.0:%d.25:ntp" % (t, t, t)
    tm = [sync]
    for i, states in enumerate([["NEW", "TMGR_SCHEDULING", "DONE"],
                                ["NEW", "TMGR_SCHEDULING"]]):
        for k, st in enumerate(states):
            tm.append("%d.%d,advance,tmgr.0000,MainThread,task.%06d,%s," % (t + 10 + i, k, i, st))
    write_prof(os.path.join(root, "tmgr.0000.prof"), tm)
    # (the JSON before the end of a task is not what RP does: a record the
    # profiles alone bring does not carry the JSON's part, and the usage
    # time of an executable would be missing; task.000001 has none)
    with open(os.path.join(root, "tmgr.0000.json"), "w") as f:
        json.dump({"tasks": {"task.%06d" % i: {
            "uid": "task.%06d" % i, "state": "NEW" if i == 2 else None, "pilot": "pilot.0000",
            "name": "step%d" % i, "description": {"executable": "/bin/step%d" % i} if i != 1
            else {}, "exit_code": None} for i in range(3)}}, f)
    agent = os.path.join(root, "pilot.0000", "agent_executing.0000.prof")
    write_prof(agent, [
        "%d.0,sync_abs,agent_executing.0000,MainThread,,,node3:10.0.0.3:%d.0:%d.5:ntp" % (t, t, t),
        "%d.1,hostname,agent.0,MainThread,pilot.0000,,node3" % t,
        "%d.0,advance,agent_executing.0000,MainThread,task.000001,AGENT_EXECUTING," % (t + 40)])
    state = H.path("rebuild-state")
    j1, j2, j3 = H.path("rb1.jsonl"), H.path("rb2.jsonl"), H.path("rb3.jsonl")
    p = observe("--session", root, "--state", state, "--jsonl", j1)
    H.check(p.returncode == 0, "rebuild: first run, exit 0", p.stderr)
    with open(agent, "a") as f:
        f.write("%d.0,exec_start,agent_executing.0000,MainThread,task.000001,AGENT_EXECUTING,\n"
                "%d.0,exec_stop,agent_executing.0000,MainThread,task.000001,AGENT_EXECUTING,\n"
                "%d.0,advance,agent_executing.0000,MainThread,task.000001,DONE,\n"
                "%d.0,advance,agent_executing.0000,MainThread,task.000000,DONE,\n"
                % (t + 41, t + 45, t + 46, t + 90))
    p = observe("--session", root, "--state", state, "--jsonl", j2)
    H.check(p.returncode == 0, "rebuild: second run, exit 0", p.stderr)
    with open(j2) as f:
        recs = [json.loads(line) for line in f if line.strip()]
    ids = [r.get("task_id") for r in recs]
    H.check(ids == [None, "task.000001"],
            "rebuild: the restarted observer sends the session and task.000001 only (task.000000 "
            "finished before, its later DONE changes nothing; task.000002 has nothing new)", ids)
    r = recs[-1] if recs else {}
    md = r.get("custom_metadata", {})
    H.check([s for s, _ in md.get("rp_states", [])] ==
            ["NEW", "TMGR_SCHEDULING", "AGENT_EXECUTING", "DONE"] and
            r.get("submitted_at") == iso(decimal.Decimal(t + 11) + decimal.Decimal("0.25")) and
            r.get("started_at") == iso(decimal.Decimal(t + 41) + decimal.Decimal("0.5")) and
            r.get("status") == "FINISHED" and r.get("hostname") == "node3" and
            r.get("environment_id") == "pilot.0000",
            "rebuild: task.000001 carries the states read before the restart and after, each "
            "with its host's offset, and its pilot's host", r)
    p = observe("--session", root, "--state", state, "--jsonl", j3)
    n3 = os.path.getsize(j3) if os.path.exists(j3) else 0
    H.check(p.returncode == 0 and n3 == 0, "rebuild: a third run sends nothing", (p.stderr, n3))
    s2, single = H.path("rebuild-store"), H.path("rebuild-single")
    ing = H.mida_run("ingest", "--store", s2, j1, j2)
    p = observe("--session", root, "--no-state", "--to-store", single)
    a, b = triples(single), triples(s2)
    H.check(ing.returncode == 0 and p.returncode == 0 and a == b and len(a) > 50,
            "rebuild: the two runs give the same store as one pass (%d triples)" % len(a),
            (ing.stderr, sorted(a ^ b)[:10]))


def sandbox_option():
    """The session directory without pilot.0000/, the pilot's profiles in
    a pilot sandbox elsewhere (--sandbox): the same store."""
    root = H.path("split", SID)
    shutil.copytree(SESSION, root, ignore=shutil.ignore_patterns("pilot.0000"))
    sb = H.path("split-sandbox", SID, "pilot.0000")
    shutil.copytree(os.path.join(SESSION, "pilot.0000"), sb)
    store = H.path("split-store")
    p = observe("--session", root, "--sandbox", sb, "--no-state", "--to-store", store)
    H.check(p.returncode == 0, "--sandbox: exit 0", p.stderr)
    single = H.path("full")
    a, b = triples(single), triples(store)
    H.check(a == b, "--sandbox: the same store as the whole session directory",
            sorted(a ^ b)[:10])


def bad_input():
    root = H.path("bad", SID)
    shutil.copytree(SESSION, root)
    tm = os.path.join(root, "tmgr.0000.prof")
    with open(tm) as f:
        lines = f.read().split("\n")
    lines.insert(5, "16789310x5.5,advance,tmgr.0000,MainThread,task.000009,NEW,")
    lines.insert(7, "1678931055.9,advance,tmgr.0000")
    with open(tm, "w") as f:
        f.write("\n".join(lines))
    js = os.path.join(root, SID + ".json")
    with open(js) as f:
        text = f.read()
    with open(js, "w") as f:
        f.write(text[:len(text) // 2])
    store = H.path("bad-store")
    p = observe("--session", root, "--no-state", "--to-store", store)
    H.check(p.returncode == 3, "bad input: exit 3 (done, with skips)", (p.returncode, p.stderr))
    H.check("tmgr.0000.prof:6" in p.stderr and "not a number" in p.stderr,
            "bad input: the bad time is reported with file and line", p.stderr)
    H.check("tmgr.0000.prof:8" in p.stderr and "fields" in p.stderr,
            "bad input: the short line is reported with file and line", p.stderr)
    H.check(SID + ".json" in p.stderr, "bad input: the broken session JSON is reported",
            p.stderr)
    r = select(store, "SELECT (COUNT(?t) AS ?n) WHERE { ?t a mida:Task ; mida:status mida:Finished }")
    H.check(r == [{"n": "16"}], "bad input: the 16 tasks still load, finished", r)
    p = observe("--session", H.path("no-such-session"), "--no-state", "--jsonl", H.path("x.jsonl"))
    H.check(p.returncode == 1 and "no-such-session" in p.stderr,
            "a missing session directory fails with a message naming it", (p.returncode, p.stderr))
    p = H.mida_run("observe", "radical", "--help")
    H.check(p.returncode == 0 and "--session" in p.stdout and "--sandbox" in p.stdout and
            "--host-clock" in p.stdout, "--help lists the options", p.stdout + p.stderr)


sys.exit(H.run([full_pass, host_clock, staging_and_states, legacy_vocabulary,
                restart_mid_stream, restart_rebuild, sandbox_option, bad_input]))
