"""What the Python tests that run real `mida` processes share.

    from harness import H          # H.mida, H.src, H.shared, H.tmp, H.env
    H.check(cond, "what", detail)  # counts and prints ok/FAIL
    srv = H.serve(store, "--max-rows", "5")   # mida serve on free ports
    srv.http, srv.endpoint                    # http://127.0.0.1:P/, tcp://...
    H.emit(srv.endpoint, files)               # mida emit, waits for ACKs
    sys.exit(H.run([section_a, section_b]))   # runs sections, cleans up

CTest gives MIDA_BIN, MIDA_SOURCE_DIR, MIDA_SHARED_DIR; without MIDA_BIN
the test is skipped (exit 77).  MIDA_TEST_TIMEOUT_MULTIPLIER scales every
timeout (the sanitizer build is slower).
"""
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request


# Where the sources and the program are, for the tests that run without a
# Harness (they fall back to ./build/mida rather than skipping).
SRC_DIR = os.environ.get("MIDA_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MIDA_PROGRAM = os.environ.get("MIDA_BIN") or os.path.join(
    os.environ.get("MIDA_BUILD_DIR", os.path.join(SRC_DIR, "build")), "mida")
# The example campaign, and the location alias its records are read with.
CAMPAIGN = sorted(glob.glob(os.path.join(SRC_DIR, "examples", "campaign", "*.jsonl")))
CAMPAIGN_ALIAS = "/gpfs/alpine/proj=/lustre/orion/proj"


class Checker:
    """Counts checks and prints one line each: "ok   what", or "FAIL what"
    followed by at most 40 lines of detail."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what, detail=""):
        if ok:
            self.passed += 1
            print("ok   %s" % what)
        else:
            self.failed += 1
            print("FAIL %s" % what)
            if detail:
                for line in str(detail).rstrip("\n").split("\n")[:40]:
                    print("     | %s" % line)
        return ok

    def note(self, text):
        print("note %s" % text)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def libmida_skip_reason(lib, need_emitter=True):
    """Why Python cannot load libmida through ctypes here (not built, a
    sanitizer build - the ASan runtime must be the first library of the
    process, it aborts a Python that loads it later -, no emitter), or
    None."""
    if not os.path.exists(lib):
        return "%s not built" % lib
    with open(os.path.realpath(lib), "rb") as f:
        data = f.read()
    if b"libasan.so" in data:
        return "%s is a sanitizer build, which ctypes cannot load into Python" % lib
    if need_emitter and b"mida_emitter_new" not in data:
        return "%s has no emitter" % lib
    return None


# The prefixes store_select puts before every query.
SPARQL_PREFIXES = """PREFIX mida: <https://w3id.org/mida/ns#>
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX provone: <http://purl.dataone.org/provone/2015/01/15/ontology#>
PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
"""


def read_jsonl(path):
    """The JSON objects of a JSON-lines file; [] when it does not exist."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def readme_example(path):
    """The first ```python block of a Markdown file, or None."""
    with open(path) as f:
        text = f.read()
    start = text.find("```python\n")
    if start < 0:
        return None
    start += len("```python\n")
    end = text.find("```", start)
    return text[start:end] if end > 0 else None


class Serve:
    """A `mida serve` process.  Standard output: line 1 the web address,
    line 2 the ZeroMQ endpoint.  `h` gives mida, tmp, procs, env and mult
    (a Harness, or any object with those attributes)."""

    def __init__(self, h, store, *extra, http="127.0.0.1:0", listen="tcp://127.0.0.1:0",
                 env=None, log_name=None):
        self.h = h
        name = log_name if log_name is not None else str(len(h.procs))
        self.log = open(os.path.join(h.tmp, "serve-%s.log" % name), "w+")
        self.p = subprocess.Popen([h.mida, "serve", "--store", store, "--http", http,
                                   "--listen", listen, *extra],
                                  stdout=subprocess.PIPE, stderr=self.log, text=True,
                                  env=env or h.env)
        h.procs.append(self.p)
        self.http = self.p.stdout.readline().strip()
        self.endpoint = self.p.stdout.readline().strip()
        if not self.endpoint:
            self.p.kill()
            self.p.wait()
            raise RuntimeError("mida serve printed no endpoint: " + self.log_text())

    def log_text(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=60):
        self.p.send_signal(sig)
        try:
            rc = self.p.wait(timeout=timeout * self.h.mult)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            rc = -1
        self.p.stdout.close()
        self.log.close()
        return rc


class Harness:
    def __init__(self, name):
        self.mida = os.environ.get("MIDA_BIN")
        if not self.mida:
            print("MIDA_BIN not set: skipped")
            sys.exit(77)
        here = os.path.dirname(os.path.abspath(__file__))
        self.src = os.environ.get("MIDA_SOURCE_DIR", os.path.join(here, "..", ".."))
        self.shared = os.environ.get("MIDA_SHARED_DIR", os.path.join(self.src, "..", "shared"))
        self.build = os.environ.get("MIDA_BUILD_DIR", os.getcwd())
        self.mult = float(os.environ.get("MIDA_TEST_TIMEOUT_MULTIPLIER", "1"))
        self.tmp = tempfile.mkdtemp(prefix="mida-%s." % name)
        self.env = dict(os.environ, MIDA_SPOOL_DIR=os.path.join(self.tmp, "spool"))
        self.env.pop("MIDA_ENDPOINT", None)
        self.procs = []
        self.passes = 0
        self.fails = 0

    def check(self, cond, msg, detail=""):
        if cond:
            self.passes += 1
            print("ok   " + msg, flush=True)
        else:
            self.fails += 1
            print("FAIL " + msg + (": " + str(detail)[:2000] if detail != "" else ""), flush=True)
        return cond

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def campaign(self):
        d = os.path.join(self.src, "examples", "campaign")
        return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".jsonl"))

    def serve(self, store, *extra, **kw):
        return Serve(self, store, *extra, **kw)

    def emit(self, endpoint, files, *extra, wait=True, timeout=120):
        args = [self.mida, "emit", "--to", endpoint, "--timeout", str(timeout * self.mult),
                *extra, *files]
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=self.env)
        self.procs.append(p)
        if not wait:
            return p
        out, err = p.communicate(timeout=(timeout + 60) * self.mult)
        return p.returncode, out, err

    def need_libmida(self):
        """Exits 77 (skipped) when Python cannot use libmida here."""
        why = libmida_skip_reason(os.path.join(self.build, "libmida.so"))
        if why:
            print("SKIP: " + why)
            shutil.rmtree(self.tmp, ignore_errors=True)
            sys.exit(77)

    def select(self, http, query, timeout=60):
        """The rows of a SELECT asked of a mida endpoint (`http` = its web
        address), each a dict of variable -> value (IRIs and literals as
        their text)."""
        body = urllib.parse.urlencode({"query": query}).encode()
        req = urllib.request.Request(http.rstrip("/") + "/sparql", data=body, headers={
            "Accept": "application/sparql-results+json",
            "Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(req, timeout=timeout * self.mult) as r:
            doc = json.load(r)
        return [{k: v["value"] for k, v in b.items()} for b in doc["results"]["bindings"]]

    def store_select(self, store, query):
        """The rows of a SELECT asked of the store in directory `store` with
        `mida sparql` (SPARQL_PREFIXES declared), each a dict of variable ->
        value text.  Raises when mida sparql fails."""
        p = self.mida_run("sparql", "--store", store, "--results", "json", SPARQL_PREFIXES + query)
        if p.returncode != 0:
            raise RuntimeError("mida sparql failed: " + p.stderr)
        doc = json.loads(p.stdout)
        return [{k: v["value"] for k, v in b.items()} for b in doc["results"]["bindings"]]

    def store_one(self, store, query):
        """The single value a SELECT answers (one row, one variable), else None."""
        rows = self.store_select(store, query)
        return list(rows[0].values())[0] if len(rows) == 1 and rows[0] else None

    def mida_run(self, *args, timeout=300):
        return subprocess.run([self.mida, *args], capture_output=True, text=True, env=self.env,
                              timeout=timeout * self.mult)

    def run(self, sections):
        try:
            for sec in sections:
                t0 = time.time()
                try:
                    sec()
                    print("     %s took %.1f s" % (sec.__name__, time.time() - t0), flush=True)
                except Exception as e:  # a broken section fails; the others still run
                    import traceback
                    traceback.print_exc()
                    self.check(False, "%s raised %r" % (sec.__name__, e))
        finally:
            for p in self.procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            shutil.rmtree(self.tmp, ignore_errors=True)
        print("%d passed, %d failed" % (self.passes, self.fails))
        return 1 if self.fails else 0
