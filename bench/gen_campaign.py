#!/usr/bin/python3
"""gen_campaign.py - synthetic task records for benchmarking `mida ingest`.

Writes JSON lines (mida task records, see src/mida_task.h) for one campaign
of three workflow runs, shaped like examples/campaign/:

  workflow 1  "microscope"  20% of the tasks  acquire_image
      used: exposure_s, magnification, detector (3 parameters)
      generated: image -> /gpfs/alpine/proj/raw/img_NNNNNNN.h5 (a data reference)
  workflow 2  "hpo"         50% of the tasks  train_model
      used: images = 2..4 of workflow 1's files as {"@id": path},
            lr, batch_size, epochs, weight_decay (4 hyper-parameters)
      generated: model -> /gpfs/alpine/proj/models/model_NNNNNNN.pt, loss, accuracy
      telemetry_at_start / telemetry_at_end; dependencies on 1..2 tasks of
      the previous HPO round (rounds of 16 tasks; the first round has none)
  workflow 3  "evaluation"  30% of the tasks  evaluate
      used: model = one of workflow 2's models as {"@id": path}, test_split
      generated: accuracy, f1, report -> /gpfs/alpine/proj/reports/eval_NNNNNNN.json

Each workflow run also gets a RUNNING record before its tasks and a FINISHED
record after them (so the output has tasks * records-per-task + 6 lines).
With --records-per-task 2 (the default) every task is sent twice, as a
RUNNING record (ids, started_at, used, dependencies, telemetry_at_start) and
later as a FINISHED record (ids, started/ended_at, generated,
telemetry_at_end), the way a live adapter reports it; up to --in-flight
tasks run at once, so the records of different tasks interleave.  With
--records-per-task 1 each task is one FINISHED record with everything.

The output depends only on the options (--seed included).

    /usr/bin/python3 bench/gen_campaign.py --tasks 1000 --seed 1 > campaign.jsonl
"""
import argparse
import json
import random
import sys
from collections import deque
from datetime import datetime, timedelta, timezone

CAMPAIGN = "cmp-bench"
T0 = datetime(2024, 3, 1, 8, 0, 0, tzinfo=timezone.utc)
HPO_ROUND = 16


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def split(n):
    """20% / 50% / 30%, at least one task per workflow when n >= 3."""
    n1 = max(1, round(n * 0.2)) if n >= 3 else (1 if n >= 1 else 0)
    n2 = max(1, round(n * 0.5)) if n >= 3 else (1 if n >= 2 else 0)
    n3 = n - n1 - n2
    return n1, n2, n3


class Emitter:
    """Writes the records of one workflow run, interleaving in-flight tasks."""

    def __init__(self, out, rpt, in_flight):
        self.out = out
        self.rpt = rpt
        self.in_flight = in_flight
        self.pending = deque()
        self.lines = 0

    def write(self, rec):
        self.out.write(json.dumps(rec, separators=(", ", ": ")))
        self.out.write("\n")
        self.lines += 1

    def task(self, common, running, finished):
        """common: fields of both records; running/finished: the rest."""
        if self.rpt == 1:
            rec = dict(common)
            rec.update(running)
            rec.update(finished)
            rec["status"] = "FINISHED"
            self.write(rec)
            return
        rec = dict(common)
        rec["status"] = "RUNNING"
        rec.update(running)
        self.write(rec)
        fin = dict(common)
        fin["status"] = "FINISHED"
        fin.update(finished)
        self.pending.append(fin)
        if len(self.pending) >= self.in_flight:
            self.write(self.pending.popleft())

    def drain(self):
        while self.pending:
            self.write(self.pending.popleft())


def telemetry(rng, start, t):
    if start:
        return {"captured_at": iso(t), "cpu_percent": round(rng.uniform(1, 20), 1),
                "memory_used_bytes": rng.randrange(1_000_000_000, 4_000_000_000),
                "gpu_memory_used_bytes": 0}
    return {"captured_at": iso(t), "cpu_percent": round(rng.uniform(60, 100), 1),
            "memory_used_bytes": rng.randrange(4_000_000_000, 16_000_000_000),
            "gpu_memory_used_bytes": rng.randrange(8_000_000_000, 40_000_000_000),
            "gpu_percent": round(rng.uniform(40, 99), 1)}


def workflow_record(em, wid, name, engine, version, user, status, t):
    rec = {"workflow_id": wid, "campaign_id": CAMPAIGN, "status": status}
    if status == "RUNNING":
        rec.update({"workflow_name": name, "engine": engine, "engine_version": version,
                    "user": user, "started_at": iso(t)})
    else:
        rec["ended_at"] = iso(t)
    em.write(rec)


def generate(n, rpt, seed, in_flight, out):
    rng = random.Random(seed)
    n1, n2, n3 = split(n)
    em = Emitter(out, rpt, in_flight)
    t = T0

    # ---- workflow 1: acquisition --------------------------------------------
    wid = "wf-microscope-01"
    workflow_record(em, wid, "microscope", "microscope-ctl", "2.3", "alice", "RUNNING", t)
    images = []
    for i in range(n1):
        start = t + timedelta(seconds=30 * i)
        end = start + timedelta(seconds=rng.randint(10, 40))
        path = "/gpfs/alpine/proj/raw/img_%07d.h5" % i
        images.append(path)
        common = {"task_id": "acq-%d" % i, "workflow_id": wid, "campaign_id": CAMPAIGN,
                  "activity_id": "acquire_image", "engine": "microscope-ctl", "user": "alice",
                  "hostname": "edge-scope-%d" % (i % 4 + 1), "started_at": iso(start)}
        running = {"used": {"exposure_s": rng.choice([0.25, 0.5, 1.0, 2.0, 4.0]),
                            "magnification": rng.choice([20000, 40000, 80000]),
                            "detector": rng.choice(["K3", "Falcon4"])}}
        finished = {"ended_at": iso(end), "generated": {"image": path}}
        em.task(common, running, finished)
    em.drain()
    t = t + timedelta(seconds=30 * n1 + 60)
    workflow_record(em, wid, None, None, None, None, "FINISHED", t)

    # ---- workflow 2: training (HPO) -----------------------------------------
    wid = "wf-hpo-07"
    t = t + timedelta(minutes=10)
    workflow_record(em, wid, "hpo", "dask", "2022.12.1", "bob", "RUNNING", t)
    models = []
    for i in range(n2):
        start = t + timedelta(seconds=20 * i)
        end = start + timedelta(seconds=rng.randint(300, 900))
        path = "/gpfs/alpine/proj/models/model_%07d.pt" % i
        models.append(path)
        k = min(len(images), rng.randint(2, 4))
        used_imgs = [{"@id": p} for p in rng.sample(images, k)] if images else []
        rnd = i // HPO_ROUND
        deps = []
        if rnd > 0:
            prev = range((rnd - 1) * HPO_ROUND, rnd * HPO_ROUND)
            deps = ["train-%d" % j for j in sorted(rng.sample(prev, rng.randint(1, 2)))]
        common = {"task_id": "train-%d" % i, "workflow_id": wid, "campaign_id": CAMPAIGN,
                  "activity_id": "train_model", "engine": "dask",
                  "hostname": "node-%03d" % (i % 64 + 1), "started_at": iso(start)}
        if deps:
            common["dependencies"] = deps
        running = {"used": {"images": used_imgs,
                            "lr": rng.choice([0.1, 0.03, 0.01, 0.003, 0.001, 0.0003]),
                            "batch_size": rng.choice([16, 32, 64, 128]),
                            "epochs": rng.choice([10, 20, 50]),
                            "weight_decay": rng.choice([0.0, 1e-5, 1e-4, 1e-3])},
                   "telemetry_at_start": telemetry(rng, True, start)}
        finished = {"ended_at": iso(end),
                    "generated": {"model": path,
                                  "loss": round(rng.uniform(0.05, 1.5), 6),
                                  "accuracy": round(rng.uniform(0.5, 0.99), 6)},
                    "telemetry_at_end": telemetry(rng, False, end)}
        em.task(common, running, finished)
    em.drain()
    t = t + timedelta(seconds=20 * n2 + 900)
    workflow_record(em, wid, None, None, None, None, "FINISHED", t)

    # ---- workflow 3: evaluation ---------------------------------------------
    wid = "wf-eval-3"
    t = t + timedelta(minutes=10)
    workflow_record(em, wid, "evaluation", "mlflow", "2.8.0", "carol", "RUNNING", t)
    for i in range(n3):
        start = t + timedelta(seconds=10 * i)
        end = start + timedelta(seconds=rng.randint(20, 60))
        common = {"task_id": "eval-%d" % i, "workflow_id": wid, "campaign_id": CAMPAIGN,
                  "activity_id": "evaluate", "engine": "mlflow", "user": "carol",
                  "hostname": "cluster-gpu-%d" % (i % 8 + 1), "started_at": iso(start)}
        used = {"test_split": rng.choice(["holdout-2024", "holdout-2023"])}
        if models:
            used["model"] = {"@id": rng.choice(models)}
        running = {"used": used}
        finished = {"ended_at": iso(end),
                    "generated": {"accuracy": round(rng.uniform(0.5, 0.99), 6),
                                  "f1": round(rng.uniform(0.4, 0.95), 6),
                                  "report": "/gpfs/alpine/proj/reports/eval_%07d.json" % i}}
        em.task(common, running, finished)
    em.drain()
    t = t + timedelta(seconds=10 * n3 + 60)
    workflow_record(em, wid, None, None, None, None, "FINISHED", t)
    return em.lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=1000, help="number of tasks (default 1000)")
    ap.add_argument("--records-per-task", type=int, choices=(1, 2), default=2,
                    help="2: a RUNNING then a FINISHED record per task (default); 1: FINISHED only")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--in-flight", type=int, default=8,
                    help="tasks running at once, whose records interleave (default 8)")
    a = ap.parse_args()
    if a.tasks < 0:
        ap.error("--tasks must be >= 0")
    if a.in_flight < 1:
        ap.error("--in-flight must be >= 1")
    out = sys.stdout
    generate(a.tasks, a.records_per_task, a.seed, a.in_flight, out)
    out.flush()


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        sys.exit(1)
