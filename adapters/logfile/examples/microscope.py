#!/usr/bin/python3
"""An edge microscope's acquisition script, reduced to what it logs.

It stands for workflow 1 of the MIDA use case (ARCHITECTURE.md): a
scientist's script drives the microscope, takes images with some settings
and writes them to disk, and logs what it does with Python's `logging`.
Nothing in it knows mida.  `mida observe logfile --rules
adapters/logfile/rules/microscope.json --file LOG` turns its log into the
provenance of the session: one task per acquisition, its settings as used
values, the files it wrote as generated data.

The log format (the rules depend on it):

    %(asctime)s %(levelname)s %(name)s: %(message)s      (asctime in local time)

    2026-11-21 12:30:38,494 INFO microscope: session s-0001 started: operator=alice host=edge-scope-1 version=2.3
    2026-11-21 12:30:38,495 INFO microscope.acquire: acquisition 3 started: exposure_s=0.5 magnification=40000 detector=K3 stage_x_um=10.5 stage_y_um=-3.25 sample='Cu grid 7'
    2026-11-21 12:30:38,497 INFO microscope.acquire: acquisition 3 wrote image /data/img_0003.h5 (4099 bytes)
    2026-11-21 12:30:38,497 INFO microscope.acquire: acquisition 3 wrote metadata /data/img_0003.json (183 bytes)
    2026-11-21 12:30:38,498 INFO microscope.acquire: acquisition 3 finished in 0.003 s
    2026-11-21 12:30:38,499 ERROR microscope.acquire: acquisition 4 failed: detector timeout after 0.5 s
    Traceback (most recent call last):
      ...
    TimeoutError: detector K3 did not answer
    2026-11-21 12:30:38,501 INFO microscope: session s-0001 finished: 5 acquisitions, 1 failed

Settings change with the acquisition number, so every value can be checked.
The images are written for real (small files).  Run it several times on
the same log to make the log grow in steps (--start-session in the first
run, --end-session in the last); --max-bytes rotates the log as a
RotatingFileHandler does.  --manifest writes what it did as JSON (for the
tests).
"""
import argparse
import json
import logging
import logging.handlers
import os
import socket
import sys
import time

VERSION = "2.3"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
EXPOSURES = [0.25, 0.5, 1.0, 2.0]


def settings(n):
    """The settings of acquisition n (deterministic, so tests can check them)."""
    return {
        "exposure_s": EXPOSURES[n % 4],
        "magnification": 40000 + 5000 * (n % 3),
        "detector": "K3",
        "stage_x_um": round(10.0 + 0.5 * n, 2),
        "stage_y_um": round(-3.25 + 0.125 * n, 3),
        "sample": "Cu grid 7",
    }


def logline(s):
    """key=value text of the settings; strings with spaces are quoted."""
    out = []
    for k, v in s.items():
        if isinstance(v, str) and (" " in v or not v):
            v = "'%s'" % v
        out.append("%s=%s" % (k, v))
    return " ".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--log", required=True, help="the log file (appended to)")
    ap.add_argument("--out", required=True, help="where the images go")
    ap.add_argument("--session", default="s-0001")
    ap.add_argument("--operator", default="alice")
    ap.add_argument("--host", default=None, help="default: this host's name")
    ap.add_argument("--first", type=int, default=0, help="number of the first acquisition")
    ap.add_argument("--count", type=int, default=5, help="acquisitions in this run")
    ap.add_argument("--fail-every", type=int, default=0,
                    help="acquisition n fails when n %% K == K-1 (0: none fails)")
    ap.add_argument("--start-session", action="store_true")
    ap.add_argument("--end-session", action="store_true")
    ap.add_argument("--max-bytes", type=int, default=0, help="rotate the log past this size")
    ap.add_argument("--backup-count", type=int, default=50)
    ap.add_argument("--sleep", type=float, default=0.0, help="seconds between acquisitions")
    ap.add_argument("--manifest", help="write what was done as JSON here")
    a = ap.parse_args(argv)

    if a.max_bytes:
        handler = logging.handlers.RotatingFileHandler(a.log, maxBytes=a.max_bytes,
                                                       backupCount=a.backup_count)
    else:
        handler = logging.FileHandler(a.log)
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger("microscope")
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    log_acq = logging.getLogger("microscope.acquire")
    os.makedirs(a.out, exist_ok=True)
    host = a.host or socket.gethostname()

    done = {"session": a.session, "operator": a.operator, "host": host, "version": VERSION,
            "acquisitions": []}
    if a.start_session:
        root.info("session %s started: operator=%s host=%s version=%s", a.session, a.operator,
                  host, VERSION)
    failed = 0
    for n in range(a.first, a.first + a.count):
        s = settings(n)
        t0 = time.time()
        log_acq.info("acquisition %d started: %s", n, logline(s))
        entry = {"n": n, "settings": s, "files": {}}
        try:
            if a.fail_every and n % a.fail_every == a.fail_every - 1:
                raise TimeoutError("detector %s did not answer" % s["detector"])
            image = os.path.abspath(os.path.join(a.out, "img_%04d.h5" % n))
            with open(image, "wb") as f:
                f.write(b"\x89HDF\r\n\x1a\n" + bytes(n % 256 for n in range(4096 + n)))
            log_acq.info("acquisition %d wrote image %s (%d bytes)", n, image,
                         os.path.getsize(image))
            meta = image[:-3] + ".json"
            with open(meta, "w") as f:
                json.dump({"acquisition": n, "settings": s}, f)
            log_acq.info("acquisition %d wrote metadata %s (%d bytes)", n, meta,
                         os.path.getsize(meta))
            entry["files"] = {"image": image, "metadata": meta}
            log_acq.info("acquisition %d finished in %.3f s", n, time.time() - t0)
            entry["status"] = "FINISHED"
        except TimeoutError:
            log_acq.exception("acquisition %d failed: detector timeout after %s s", n,
                              s["exposure_s"])
            entry["status"] = "ERROR"
            failed += 1
        done["acquisitions"].append(entry)
        if a.sleep:
            time.sleep(a.sleep)
    if a.end_session:
        root.info("session %s finished: %d acquisitions, %d failed", a.session, a.count, failed)
    handler.close()
    if a.manifest:
        with open(a.manifest, "w") as f:
            json.dump(done, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
