#!/usr/bin/python3
"""The capture API from Python, without an integrator.

  * telemetry: mida_telemetry_sample through ctypes gives the keys of
    docs/records.md "Telemetry" with sane values; the GPU keys are absent
    without NVML, and present (summed over devices) with a stand-in
    libnvidia-ml.so.1 compiled here, absent again with MIDA_NO_NVML=1;
  * adapters/python/mida_capture.py writing records to a file
    (MIDA_CAPTURE_FILE): a decorated function keeps its return value and
    its exception, each call gives a RUNNING and a final record with its
    arguments as used values, its result as generated ones, telemetry at
    start and end, the traceback of an ERROR; task() and workflow() blocks
    nest (parent_task_id, workflow defaults); MIDA_CAPTURE=off captures
    nothing; a missing libmida only warns;
  * those records load with `mida ingest` and, through the file one script
    wrote and another read, the second script's task and workflow run are
    linked to the first's (prov:wasInformedBy, the derived links);
  * the real emitter with nobody listening (MIDA_ENDPOINT on a free port):
    the decorated function still returns and raises as without capture,
    the program exits within MIDA_CLOSE_TIMEOUT_MS plus start-up, and the
    records wait in the spool directory.

Prints one line per check and "N passed, N failed"; exit 1 on a failure,
77 (skip) when libmida.so is missing or is a sanitizer build (ctypes cannot
load it into a Python without the ASan runtime), or when it has no emitter
yet (after the other checks ran).  Uses MIDA_BUILD_DIR, MIDA_BIN,
MIDA_SOURCE_DIR when set.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import ctypes

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, free_port, libmida_skip_reason, read_jsonl  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("MIDA_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("MIDA_BUILD_DIR") or os.path.join(SRC, "build")
LIB = os.path.join(BUILD, "libmida.so")
MIDA = os.environ.get("MIDA_BIN") or os.path.join(BUILD, "mida")
ADAPTER = os.path.join(SRC, "adapters", "python")
MULT = float(os.environ.get("MIDA_TEST_TIMEOUT_MULTIPLIER", "1"))
TIMEOUT = 60 * MULT

TELEMETRY_ALWAYS = ["captured_at", "cpu_user_seconds", "cpu_system_seconds", "cpu_percent",
                    "process_rss_bytes", "memory_used_bytes", "memory_percent"]

FAKE_NVML = r"""
/* a stand-in for libnvidia-ml.so.1: two devices */
#include <stdlib.h>
typedef struct { unsigned long long total, free, used; } mem_t;
typedef struct { unsigned int gpu, memory; } util_t;
int nvmlInit_v2(void) { return 0; }
int nvmlDeviceGetCount_v2(unsigned *n) { *n = 2; return 0; }
int nvmlDeviceGetHandleByIndex_v2(unsigned i, void **h) { *h = (void *)(size_t)(i + 1); return 0; }
int nvmlDeviceGetMemoryInfo(void *h, mem_t *m)
{ m->total = 8000; m->used = 1000 * (size_t)h; m->free = m->total - m->used; return 0; }
int nvmlDeviceGetUtilizationRates(void *h, util_t *u)
{
    if (getenv("FAKE_NVML_NO_UTIL") && (size_t)h == 2) return 3; /* NOT_SUPPORTED */
    u->gpu = 20 + 10 * (unsigned)(size_t)h; u->memory = 5; return 0;
}
"""

# Script 1: acquires an "image" (a file it writes) in workflow wf-acq.
SCRIPT_ACQUIRE = r"""
import asyncio, json, os, pathlib, sys
sys.path.insert(0, os.environ["ADAPTER"])
import mida_capture as mc

out = {}

@mc.capture(workflow_id="wf-acq", workflow_name="acquisition", campaign_id="camp-1")
def acquire(n, out_dir, settings=None, probe=object(), *extra, **opts):
    path = os.path.join(out_dir, "img_%d.dat" % n)
    with open(path, "w") as f:
        f.write("x" * n)
    return {"image": path, "pixels": n * n}

@mc.capture(workflow_id="wf-acq", outputs=["low", "high"])
def bounds(xs):
    return min(xs), max(xs)

@mc.capture(workflow_id="wf-acq")
def broken(k):
    raise ValueError("bad input %d" % k)

class Instrument:
    @mc.capture(workflow_id="wf-acq")
    def calibrate(self, level):
        return level + 1

@mc.capture
def child(v):
    return v * 2

@mc.capture(workflow_id="wf-acq")
def parent_fn(v):
    return child(v) + 1

@mc.capture(workflow_id="wf-acq")
async def slow(v):
    await asyncio.sleep(0)
    return v

out["nested"] = parent_fn(5)
out["async"] = asyncio.run(slow(9))
out["acquire"] = acquire(3, os.environ["OUT_DIR"], {"gain": 1.5, "mode": "fast"}, 7, 8, exposure=0.25)
out["bounds"] = list(bounds([3, 1, 2]))
out["calibrate"] = Instrument().calibrate(4)
try:
    broken(7)
except ValueError as e:
    out["raised"] = [type(e).__name__, str(e)]

with mc.workflow("wf-blocks", workflow_name="blocks"):
    with mc.task(activity_id="outer", task_id="outer-1") as t:
        t.used("path", pathlib.Path(os.environ["OUT_DIR"]) / "img_3.dat")
        t.used("nan", float("nan"))
        t.used("big", list(range(100000)))
        t.update()
        with mc.task(activity_id="inner", task_id="inner-1") as u:
            u.generated("answer", 42)
    try:
        with mc.task(activity_id="fails", task_id="fails-1"):
            raise KeyError("missing")
    except KeyError:
        out["with_raised"] = True

print(json.dumps(out))
"""

# Script 2: trains on the image of script 1, in workflow wf-train.
SCRIPT_TRAIN = r"""
import json, os, sys
sys.path.insert(0, os.environ["ADAPTER"])
from mida_capture import capture

@capture(workflow_id="wf-train", campaign_id="camp-1")
def train(image, lr=0.01):
    return {"loss": 0.5, "model": os.path.join(os.path.dirname(image), "model.pt")}

print(json.dumps(train(os.environ["IMAGE"])))
"""

# Script 3: the real emitter, nobody listening.
SCRIPT_EMIT = r"""
import json, os, sys, time
sys.path.insert(0, os.environ["ADAPTER"])
import mida_capture as mc

@mc.capture(workflow_id="wf-emit")
def double(x):
    return 2 * x

@mc.capture(workflow_id="wf-emit")
def fail():
    raise RuntimeError("boom")

out = {"double": double(21)}
try:
    fail()
except RuntimeError as e:
    out["raised"] = str(e)
print(json.dumps(out), flush=True)
"""


def run_python(code, env_extra, timeout=TIMEOUT):
    env = dict(os.environ)
    env.update({"ADAPTER": ADAPTER, "MIDA_LIB": LIB})
    env.update(env_extra)
    start = time.monotonic()
    p = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, env=env, timeout=timeout, check=False)
    return p.returncode, p.stdout.decode(), p.stderr.decode("utf-8", "replace"), \
        time.monotonic() - start


def by_task(records):
    out = {}
    for r in records:
        out.setdefault((r["workflow_id"], r.get("task_id")), []).append(r)
    return out


# ---------------------------------------------------------------------------

def sample(lib):
    out = ctypes.c_void_p()
    rc = lib.mida_telemetry_sample(ctypes.byref(out))
    if rc:
        return None
    try:
        return json.loads(ctypes.string_at(out.value).decode())
    finally:
        ctypes.CDLL(None).free(out)


def check_telemetry(chk, lib, tmp):
    lib.mida_telemetry_sample.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
    lib.mida_telemetry_sample.restype = ctypes.c_int
    ctypes.CDLL(None).free.argtypes = [ctypes.c_void_p]
    a = sample(lib)
    chk.check(isinstance(a, dict), "mida_telemetry_sample gives a JSON object", a)
    if not isinstance(a, dict):
        return
    missing = [k for k in TELEMETRY_ALWAYS if k not in a]
    chk.check(not missing, "telemetry has %s" % ", ".join(TELEMETRY_ALWAYS), missing)
    chk.check(a.get("process_rss_bytes", 0) > 1 << 20 and isinstance(a["process_rss_bytes"], int),
              "process_rss_bytes is an integer above 1 MiB", a.get("process_rss_bytes"))
    chk.check(0 < a.get("memory_percent", -1) <= 100, "memory_percent in (0, 100]", a)
    readable = os.access("/proc/self/io", os.R_OK)
    chk.check(("io_read_bytes" in a) == readable,
              "io_* keys present exactly when /proc/self/io is readable (%s)" % readable, a)
    t0 = time.process_time()
    while time.process_time() - t0 < 0.2:
        sum(i * i for i in range(10000))
    b = sample(lib)
    grew = (b["cpu_user_seconds"] + b["cpu_system_seconds"]) - \
        (a["cpu_user_seconds"] + a["cpu_system_seconds"])
    chk.check(grew >= 0.1, "CPU seconds grow with busy work (+%.2f s)" % grew, (a, b))
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
        has_nvml = True
    except OSError:
        has_nvml = False
    if not has_nvml:
        chk.check("gpu_memory_used_bytes" not in a and "gpu_percent" not in a,
                  "no GPU keys without NVML", a)
    else:
        chk.note("NVML present on this machine: %s" % {k: a.get(k) for k in a if "gpu" in k})

    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        chk.note("no C compiler: the stand-in NVML is not tested")
        return
    src = os.path.join(tmp, "fake_nvml.c")
    with open(src, "w") as f:
        f.write(FAKE_NVML)
    libdir = os.path.join(tmp, "nvml")
    os.makedirs(libdir)
    p = subprocess.run([cc, "-shared", "-fPIC", "-o", os.path.join(libdir, "libnvidia-ml.so.1"),
                        src], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    if not chk.check(p.returncode == 0, "stand-in NVML compiles", p.stdout.decode()):
        return
    code = ("import ctypes, json, sys\n"
            "lib = ctypes.CDLL(sys.argv[1] if len(sys.argv) > 1 else %r)\n"
            "lib.mida_telemetry_sample.argtypes = [ctypes.POINTER(ctypes.c_void_p)]\n"
            "out = ctypes.c_void_p()\n"
            "assert lib.mida_telemetry_sample(ctypes.byref(out)) == 0\n"
            "print(ctypes.string_at(out.value).decode())\n" % LIB)
    for extra, want in (({}, (3000, 70)),
                        ({"FAKE_NVML_NO_UTIL": "1"}, (3000, None)),
                        ({"MIDA_NO_NVML": "1"}, (None, None))):
        env = {"LD_LIBRARY_PATH": libdir + ":" + os.environ.get("LD_LIBRARY_PATH", "")}
        env.update(extra)
        rc, out, err, _ = run_python(code, env)
        got = json.loads(out) if rc == 0 else {}
        chk.check(rc == 0 and got.get("gpu_memory_used_bytes") == want[0]
                  and got.get("gpu_percent") == want[1],
                  "stand-in NVML %s: gpu_memory_used_bytes %s, gpu_percent %s"
                  % (extra or "(2 devices)", want[0], want[1]), (out, err))


def check_records(chk, tmp):
    """Scripts 1 and 2 write records to files; returns the two files."""
    f1, f2 = os.path.join(tmp, "acq.jsonl"), os.path.join(tmp, "train.jsonl")
    out_dir = os.path.join(tmp, "data")
    os.makedirs(out_dir)
    rc, out, err, _ = run_python(SCRIPT_ACQUIRE, {"MIDA_CAPTURE_FILE": f1, "OUT_DIR": out_dir})
    if not chk.check(rc == 0, "script 1 runs with capture to a file", err):
        return None
    got = json.loads(out)
    image = os.path.join(out_dir, "img_3.dat")
    chk.check(got["acquire"] == {"image": image, "pixels": 9}, "decorator keeps the return value",
              got)
    chk.check(got["bounds"] == [1, 3] and got["calibrate"] == 5 and got["nested"] == 11
              and got["async"] == 9,
              "return values of tuple outputs, methods, nested and async calls kept", got)
    chk.check(got.get("raised") == ["ValueError", "bad input 7"] and got.get("with_raised"),
              "the program's own exceptions propagate (decorator and with-block)", got)
    chk.check(err.strip() == "", "nothing on stderr", err)

    recs = read_jsonl(f1)
    tasks = by_task(recs)
    acq = [v for k, v in tasks.items() if k[1] and k[1].startswith("acquire-")]
    if not chk.check(len(acq) == 1 and len(acq[0]) == 2, "one acquire task, two records",
                     json.dumps(recs, indent=1)[:3000]):
        return None
    running, final = acq[0]
    chk.check(running["status"] == "RUNNING" and final["status"] == "FINISHED"
              and "ended_at" not in running and final["ended_at"] >= final["started_at"],
              "RUNNING then FINISHED, with times", (running, final))
    used = final.get("used", {})
    chk.check(used.get("n") == 3 and used.get("out_dir") == out_dir
              and used.get("settings") == {"gain": 1.5, "mode": "fast"}
              and used.get("probe") == 7 and used.get("extra") == [8]
              and used.get("exposure") == 0.25,
              "arguments are used values (defaults, *args, **kwargs spread)", used)
    chk.check(final.get("generated") == {"image": image, "pixels": 9},
              "a returned dict gives one generated value per key", final.get("generated"))
    chk.check(final.get("activity_id") == "python.acquire",
              "activity_id names the script (python -c: 'python') and the function",
              final.get("activity_id"))
    chk.check(final.get("workflow_name") == "acquisition" and final.get("campaign_id") == "camp-1"
              and running.get("workflow_name") == "acquisition",
              "workflow_name, campaign_id in both records", (running, final))
    chk.check(running.get("engine") == "python" and final.get("engine") == "python"
              and final.get("adapter_id") == "mida-capture-python",
              "the engine is in the RUNNING record already", running)
    for key in ("telemetry_at_start",):
        chk.check(all(k in running.get(key, {}) for k in TELEMETRY_ALWAYS),
                  "RUNNING record has telemetry_at_start", running.get(key))
    chk.check(all(k in final.get("telemetry_at_end", {}) for k in TELEMETRY_ALWAYS)
              and "telemetry_at_end" not in running, "final record has telemetry_at_end",
              final.get("telemetry_at_end"))
    chk.check(final.get("hostname") == socket.gethostname() and final.get("user"),
              "hostname and user", (final.get("hostname"), final.get("user")))

    b = [v[-1] for k, v in tasks.items() if k[1] and k[1].startswith("bounds-")]
    chk.check(b and b[0].get("generated") == {"low": 1, "high": 3},
              "outputs=[...] names the items of a returned tuple", b)
    c = [v[-1] for k, v in tasks.items() if k[1] and k[1].startswith("calibrate-")]
    chk.check(c and c[0].get("used") == {"level": 4} and c[0].get("generated") == {"return": 5},
              "methods: self is not a used value; a plain result is 'return'", c)
    e = [v[-1] for k, v in tasks.items() if k[1] and k[1].startswith("broken-")]
    chk.check(e and e[0]["status"] == "ERROR"
              and e[0].get("stderr", "").endswith("ValueError: bad input 7")
              and "Traceback" in e[0].get("stderr", ""),
              "an exception makes an ERROR record with the traceback", e)

    child = [v[-1] for k, v in tasks.items() if k[1] and k[1].startswith("child-")]
    chk.check(child and child[0]["workflow_id"] == "wf-acq"
              and child[0].get("parent_task_id", "").startswith("parent_fn-")
              and child[0].get("generated") == {"return": 10},
              "a decorated call inside another: same workflow, parent_task_id", child)
    slow = [v for k, v in tasks.items() if k[1] and k[1].startswith("slow-")]
    chk.check(slow and [r["status"] for r in slow[0]] == ["RUNNING", "FINISHED"]
              and slow[0][-1].get("generated") == {"return": 9},
              "async functions are captured", slow)
    blocks = tasks.get(("wf-blocks", None), [])
    chk.check([r["status"] for r in blocks] == ["RUNNING", "FINISHED"]
              and blocks[-1].get("workflow_name") == "blocks",
              "workflow() records the run itself", blocks)
    outer_recs = tasks.get(("wf-blocks", "outer-1"), [{}])
    chk.check([r.get("status") for r in outer_recs] == ["RUNNING", "RUNNING", "FINISHED"]
              and "path" in outer_recs[1].get("used", {}),
              "t.update() sends the values recorded so far", outer_recs)
    outer = outer_recs[-1]
    inner = tasks.get(("wf-blocks", "inner-1"), [{}])[-1]
    fails = tasks.get(("wf-blocks", "fails-1"), [{}])[-1]
    chk.check(outer.get("workflow_name") == "blocks" and inner.get("parent_task_id") == "outer-1"
              and inner.get("generated") == {"answer": 42},
              "task() blocks nest: workflow defaults, parent_task_id", (outer, inner))
    ou = outer.get("used", {})
    chk.check(ou.get("path") == image, "a pathlib.Path is recorded as an absolute path", ou)
    chk.check(ou.get("nan", {}).get("type") == "float" and ou.get("nan", {}).get("repr") == "nan"
              and ou.get("big", {}).get("type") == "list" and ou.get("big", {}).get("len") == 100000,
              "NaN and values over 64 KiB of JSON are summarised", ou)
    chk.check(fails.get("status") == "ERROR" and "KeyError: 'missing'" in fails.get("stderr", ""),
              "a with-block that raises is ERROR", fails)

    rc, out, err, _ = run_python(SCRIPT_TRAIN, {"MIDA_CAPTURE_FILE": f2, "IMAGE": image})
    chk.check(rc == 0 and json.loads(out)["loss"] == 0.5, "script 2 runs", err)

    off = os.path.join(tmp, "off.jsonl")
    rc, out, err, _ = run_python(SCRIPT_TRAIN, {"MIDA_CAPTURE_FILE": off, "IMAGE": image,
                                                "MIDA_CAPTURE": "off"})
    chk.check(rc == 0 and not os.path.exists(off), "MIDA_CAPTURE=off captures nothing", err)
    rc, out, err, _ = run_python(SCRIPT_TRAIN, {"MIDA_CAPTURE_FILE": off, "IMAGE": image,
                                                "MIDA_LIB": os.path.join(tmp, "nope.so")})
    chk.check(rc == 0 and json.loads(out)["loss"] == 0.5 and "nothing is captured" in err
              and err.count("\n") == 1,
              "a missing libmida: one warning, the program runs", err)
    return f1, f2, image


def sparql(store, query):
    p = subprocess.run([MIDA, "sparql", "--store", store, "--results", "json", query],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT, check=False)
    if p.returncode:
        return None, p.stderr.decode()
    return json.loads(p.stdout), p.stderr.decode()


def check_ingest(chk, tmp, files):
    if not os.access(MIDA, os.X_OK):
        chk.note("no mida program at %s: records not ingested" % MIDA)
        return
    f1, f2, image = files
    store = os.path.join(tmp, "store")
    p = subprocess.run([MIDA, "ingest", "-q", "--store", store, f1, f2], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=TIMEOUT, check=False)
    if not chk.check(p.returncode == 0, "mida ingest takes every record",
                     p.stderr.decode() + p.stdout.decode()):
        return
    prefix = ("PREFIX prov: <http://www.w3.org/ns/prov#> "
              "PREFIX mida: <https://w3id.org/mida/ns#> ")
    ask = prefix + """ASK {
      ?train mida:activityId ?a ; prov:used ?img ; prov:wasInformedBy ?acq ;
             mida:telemetryAtEnd ?tel .
      ?tel mida:processRssBytes ?rss .
      ?img prov:wasGeneratedBy ?acq ; prov:atLocation "%s" .
      ?acq mida:status mida:Finished .
      <http://127.0.0.1:7878/workflow/wf-train> prov:wasInformedBy
          <http://127.0.0.1:7878/workflow/wf-acq> .
      FILTER(STRENDS(?a, ".train"))
    }""" % image
    res, err = sparql(store, ask)
    chk.check(res is not None and res.get("boolean") is True,
              "script 2's task and run are linked to script 1's through the image file", err)
    sel = prefix + """SELECT ?v WHERE {
      ?t mida:taskId ?id ; prov:used ?e . ?e mida:name "n" ; prov:value ?v .
      FILTER(STRSTARTS(?id, "acquire-")) }"""
    res, err = sparql(store, sel)
    vals = [b["v"]["value"] for b in res["results"]["bindings"]] if res else None
    chk.check(vals == ["3"], "the used value n = 3 is in the store", (vals, err))


def check_emitter(chk, tmp):
    port = free_port()
    spool = os.path.join(tmp, "spool")
    close_ms = 300
    rc, out, err, wall = run_python(SCRIPT_EMIT, {
        "MIDA_ENDPOINT": "tcp://127.0.0.1:%d" % port, "MIDA_CLOSE_TIMEOUT_MS": str(close_ms),
        "MIDA_SPOOL_DIR": spool, "MIDA_LOG_LEVEL": "error"})
    if not chk.check(rc == 0, "script with the real emitter, nobody listening, runs", err):
        return
    got = json.loads(out)
    chk.check(got == {"double": 42, "raised": "boom"},
              "return value and exception unchanged by the emitter", got)
    limit = (close_ms / 1000.0 + 10) * MULT
    chk.check(wall < limit, "exits in %.2f s (close timeout %d ms; limit %.0f s)"
              % (wall, close_ms, limit))
    spooled = []
    for name in sorted(os.listdir(spool)) if os.path.isdir(spool) else []:
        with open(os.path.join(spool, name)) as f:
            spooled += [json.loads(line) for line in f if line.strip()]
    statuses = sorted((r.get("task_id", "").split("-")[0], r.get("status")) for r in spooled)
    chk.check(statuses == [("double", "FINISHED"), ("double", "RUNNING"),
                           ("fail", "ERROR"), ("fail", "RUNNING")],
              "the four records wait in the spool", statuses)


def main():
    why = libmida_skip_reason(LIB, need_emitter=False)
    if why:
        print("SKIP: " + why)
        return 77
    lib = ctypes.CDLL(LIB)
    chk = Checker()
    for sym in ("mida_telemetry_sample", "mida_task_begin", "mida_task_record", "mida_task_end"):
        chk.check(hasattr(lib, sym), "libmida exports %s" % sym)
    has_emitter = hasattr(lib, "mida_emitter_new") and hasattr(lib, "mida_emitter_close")
    tmp = tempfile.mkdtemp(prefix="mida-capture-")
    try:
        check_telemetry(chk, lib, tmp)
        files = check_records(chk, tmp)
        if files:
            check_ingest(chk, tmp, files)
        if has_emitter:
            check_emitter(chk, tmp)
        else:
            chk.note("libmida has no emitter yet: the emitter checks were skipped")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (chk.passed, chk.failed))
    if chk.failed:
        return 1
    return 0 if has_emitter else 77


if __name__ == "__main__":
    sys.exit(main())
