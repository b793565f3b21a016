"""What survives what, measured from outside: kill -9 of imports, trainings and batch jobs at every named point,
PutEvents writers during a long import, a poisoned spool, and the cost of start-up recovery (README's table).

Usage::

    .venv/bin/python bench/reliability.py                 # 1M-row imports, 8 writers
    .venv/bin/python bench/reliability.py --rows 200000 --writers 4

Every job runs as a real ``python -m recsys`` process, paused at a failpoint (`recsys.failpoints`) or killed after
a random delay, then killed with SIGKILL; the workspace is reopened (`recsys.recovery.recover`) and checked: the
previous data intact, the job marked as it truly ended, no temporary file left, a retry that does not double data.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import recsys.event_writer as event_writer  # noqa: E402
from recsys import datasets, runs, solutions  # noqa: E402
from recsys.events import create_event_tracker, put_events  # noqa: E402
from recsys.exceptions import NotFoundError  # noqa: E402
from recsys.ingest import RESOURCE_TYPE as IMPORT_JOB  # noqa: E402
from recsys.ingest import import_file  # noqa: E402
from recsys.recovery import recover  # noqa: E402
from recsys.serving import batch  # noqa: E402
from recsys.store import ACTIVE, CREATE_FAILED, CREATE_STOPPED, Store  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def write_interactions(path: Path, n: int, offset: int = 0, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    users = rng.integers(0, max(1, n // 20), n)
    items = rng.integers(0, 5_000, n)
    with open(path, "w") as fh:
        fh.write("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n")
        block = 200_000
        for start in range(0, n, block):
            stop = min(n, start + block)
            fh.write("".join(f"u{u},i{i},{1_700_000_000 + offset + k},click\n"
                             for k, u, i in zip(range(start, stop), users[start:stop], items[start:stop])))
    return path


def temporaries(home: Path) -> int:
    return sum(1 for p in home.rglob("*") if ".tmp-" in p.name)


def run_killed(home: Path, args: list[str], point: str | None, delay: float | None = None,
               started=None, timeout: float = 600) -> bool:
    """Start `python -m recsys args`; kill -9 it at `point`, or `delay` s after `started()` first says True.
    False if it ended first."""
    marker = home.parent / "failpoint-reached"
    marker.unlink(missing_ok=True)
    env = dict(ENV)
    if point:
        env.update(RECSYS_FAILPOINT=point, RECSYS_FAILPOINT_FILE=str(marker))
    proc = subprocess.Popen([sys.executable, "-m", "recsys", "--home", str(home), *args], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    if point is None:
        while not started():
            if proc.poll() is not None:
                return False
            time.sleep(0.005)
        deadline = time.monotonic() + delay
    while (not point or not marker.exists()) and time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


class Tally:
    def __init__(self, name: str):
        self.name, self.runs, self.ok, self.notes = name, 0, 0, []

    def check(self, passed: bool, note: str) -> None:
        self.runs += 1
        self.ok += bool(passed)
        if not passed:
            self.notes.append(note)

    def line(self) -> str:
        bad = f" FAILED: {'; '.join(self.notes[:3])}" if self.notes else ""
        return f"{self.name}: {self.ok}/{self.runs}{bad}"


def bench_imports(work: Path, rows: int, random_kills: int) -> list[str]:
    home = work / "imports" / "ws"
    store = Store(home)
    store.create_dataset_group("g")
    base = write_interactions(work / "base.csv", rows)
    more = write_interactions(work / "more.csv", rows // 2, offset=rows, seed=1)
    started = time.perf_counter()
    import_file(store, "g", "Interactions", base)
    full_seconds = time.perf_counter() - started
    tally = Tally("imports killed (previous rows intact, job marked as it ended, no temporary, retry not doubled)")
    recover_times = []
    plan = [(mode, point, None) for mode in ("FULL", "INCREMENTAL")
            for point in ("import:writing", "import:before-commit", "import:after-commit")]
    rng = random.Random(1)
    plan += [("INCREMENTAL", None, rng.uniform(0.0, full_seconds * 0.6)) for _ in range(random_kills)]
    for k, (mode, point, delay) in enumerate(plan):
        before = datasets.count_rows(store, "g", "Interactions")["total"]
        name = f"kill-{k}"
        killed = run_killed(home, ["import", "-g", "g", "--type", "interactions", "--mode", mode, "--job-name", name,
                                   str(more)], point, delay, started=lambda: _job_exists(store, name))
        t = time.perf_counter()
        recover(Store(home))
        recover_times.append(time.perf_counter() - t)
        job = store.get_resource(IMPORT_JOB, "g", name)
        after = datasets.count_rows(store, "g", "Interactions")["total"]
        committed = job["status"] == ACTIVE
        expected = (before + rows // 2 if mode == "INCREMENTAL" else rows // 2) if committed else before
        label = f"{mode} at {point or f'{delay:.1f} s'}{'' if killed else ' (finished first)'}"
        tally.check(after == expected and job["status"] in (ACTIVE, CREATE_FAILED) and temporaries(home) == 0,
                    f"{label}: {after:,} rows (expected {expected:,}), job {job['status']}")
        if not committed and mode == "INCREMENTAL":  # the user's retry
            import_file(store, "g", "Interactions", more, mode="INCREMENTAL")
            tally.check(datasets.count_rows(store, "g", "Interactions")["total"] == before + rows // 2,
                        f"{label}: retry gave {datasets.count_rows(store, 'g', 'Interactions')['total']:,} rows")
        if mode == "INCREMENTAL" and datasets.count_rows(store, "g", "Interactions")["total"] != rows:
            import_file(store, "g", "Interactions", base)  # back to the base for the next kill
    return [tally.line(), f"  import of {rows:,} rows: {full_seconds:.1f} s; recovery after a kill: "
            f"median {1000 * float(np.median(recover_times)):.0f} ms"]


def _job_exists(store: Store, name: str) -> bool:
    try:
        store.get_resource(IMPORT_JOB, "g", name)
    except NotFoundError:
        return False
    return True


STAGES = ("loading data", "splitting", "fitting", "evaluating", "refitting on all data", "saving")


def bench_training(work: Path) -> list[str]:
    home = work / "training" / "ws"
    store = Store(home)
    store.create_dataset_group("g")
    import_file(store, "g", "Interactions", write_interactions(work / "train.csv", 50_000, seed=2))
    tally = Tally("trainings killed (CREATE FAILED naming the stage, no model or evaluation file, no temporary)")
    points = [f"training:{stage}" for stage in STAGES] + ["training:saved"]
    for k, point in enumerate(points):
        solution = f"s{k}"
        run_killed(home, ["train", "-g", "g", "--solution", solution, "--recipe", "aws-sims"], point)
        recover(Store(home))
        (version,) = solutions.list_solution_versions(store, "g", solution)
        stage = point.split(":", 1)[1].replace("saved", "saving")
        tally.check(version.status == CREATE_FAILED and f"during {stage}" in (version.failure_reason or "")
                    and not solutions.artifact_dir(store, version).exists() and temporaries(home) == 0,
                    f"{point}: {version.status} {version.failure_reason}")
        runs.delete_solution(store, "g", solution)
    # Stop asked (CREATE STOPPING), then the process killed: STOPPING ends.
    stop = Tally("trainings stopped then killed (CREATE STOPPED, deletable)")
    (home.parent / "failpoint-reached").unlink(missing_ok=True)
    marker_proc = threading.Thread(target=run_killed, args=(home, ["train", "-g", "g", "--solution", "stopme",
                                                                  "--recipe", "aws-sims"], "training:fitting"))
    marker_proc.start()
    while not (home.parent / "failpoint-reached").exists():
        time.sleep(0.01)
    (version,) = solutions.list_solution_versions(store, "g", "stopme")
    runs.cancel_solution_version(store, version.arn)
    marker_proc.join()
    recover(Store(home))
    ended = solutions.get_solution_version(store, version.arn).status
    runs.delete_solution(store, "g", "stopme")
    stop.check(ended == CREATE_STOPPED, f"ended {ended}")
    return [tally.line(), stop.line()]


def bench_batch(work: Path) -> list[str]:
    home = work / "batch" / "ws"
    store = Store(home)
    store.create_dataset_group("g")
    import_file(store, "g", "Interactions", write_interactions(work / "batch.csv", 50_000, seed=3))
    solutions.create_solution(store, "g", "pop", "aws-popularity-count")
    version = runs.create_solution_version(store, "g", "pop", wait=True)
    users = [f"u{k}" for k in range(5_000)]
    first = work / "first.jsonl"
    first.write_text("".join(json.dumps({"userId": u}) + "\n" for u in users))
    output = work / "recs.jsonl"
    tally = Tally("batch jobs killed mid-run, then another job on the same output, then resumed "
                  "(no mixed lines, resumed output = uninterrupted output)")
    for chunk in (1, 3):
        name = f"first-{chunk}"
        run_killed(home, ["batch-recommend", "-g", "g", "--solution", "pop", "--input", str(first), "--output",
                          str(output), "--num-results", "25", "--job-name", name], f"batch:chunk:{chunk}")
        recover(Store(home))
        second = work / "second.jsonl"
        second.write_text("".join(json.dumps({"userId": u}) + "\n" for u in users[1000:4000]))
        batch.create_batch_inference_job(store, "g", f"second-{chunk}", version.arn, second, output,
                                         num_results=3)
        lines = [json.loads(x) for x in output.read_text().splitlines()]
        mixed = sum(1 for x in lines if len(x["output"]["recommendedItems"]) != 3)
        resumed = batch.create_batch_inference_job(store, "g", name, version.arn, first, output, num_results=25)
        whole = work / "whole.jsonl"
        batch.create_batch_inference_job(store, "g", f"whole-{chunk}", version.arn, first, whole, num_results=25)
        tally.check(mixed == 0 and resumed.resumed_from == chunk * 1000
                    and output.read_text() == whole.read_text() and temporaries(home) == 0,
                    f"chunk {chunk}: {mixed} mixed lines, resumed from {resumed.resumed_from}")
    return [tally.line()]


def bench_concurrency(work: Path, rows: int, writers: int) -> list[str]:
    """PutEvents from `writers` threads while another process imports: nothing lost or doubled; a live job kept."""
    home = work / "concurrency" / "ws"
    store = Store(home)
    store.create_dataset_group("g")
    tracking = create_event_tracker(store, "g", "t")["trackingId"]
    big = write_interactions(work / "big.csv", rows, seed=4)
    proc = subprocess.Popen([sys.executable, "-m", "recsys", "--home", str(home), "import", "-g", "g", "--type",
                             "interactions", "--mode", "FULL", "--job-name", "big", str(big)], env=ENV, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sent, spooled, errors = [0] * writers, [0] * writers, []
    live_kept = []

    def writer(w: int) -> None:
        k = 0
        while proc.poll() is None or k < 50:  # 10 events a call, as many calls as the import lasts
            batch_events = [{"eventType": "click", "itemId": f"i{k}-{j}", "sentAt": 1_800_000_000 + k,
                             "eventId": f"{w}-{k}-{j}"} for j in range(10)]
            try:
                result = put_events(store, tracking, f"s{w}", f"w{w}", batch_events)
            except Exception as exc:  # counted, not raised: the figure is how many
                errors.append(repr(exc))
            else:
                sent[w] += len(batch_events)
                spooled[w] += len(batch_events) if result.get("spooled") else 0
            k += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    while not _job_exists(store, "big") and proc.poll() is None:
        time.sleep(0.01)
    time.sleep(0.3)
    if proc.poll() is None:  # a start of another process meanwhile leaves the live import alone
        recover(Store(home))
        live_kept.append(store.get_resource(IMPORT_JOB, "g", "big")["status"] == "CREATE IN_PROGRESS")
    for t in threads:
        t.join()
    proc.wait()
    event_writer.drain_spool(store)
    streamed = datasets.read_interactions(store, "g", source="stream", bookkeeping=True)
    recorded = len(streamed)
    distinct = streamed["_event_id"].nunique() if "_event_id" in streamed.columns else recorded
    total = sum(sent)
    return [f"PutEvents from {writers} threads during a {rows:,}-row import in another process: {total:,} events sent "
            f"({sum(spooled):,} spooled), {total - distinct:,} lost, {recorded - distinct:,} duplicated, "
            f"{len(errors)} errors; the live import left untouched by a concurrent start: "
            f"{sum(live_kept)}/{len(live_kept)}"]


def bench_poison(work: Path) -> list[str]:
    home = work / "poison" / "ws"
    store = Store(home)
    event_writer.SPOOL_AFTER_SECONDS = 0.05
    for g in ("a", "b"):
        store.create_dataset_group(g)
    ta = create_event_tracker(store, "a", "ta")["trackingId"]
    tb = create_event_tracker(store, "b", "tb")["trackingId"]
    lock = store.connect()
    lock.execute("BEGIN IMMEDIATE")
    put_events(store, tb, "s", "u", [{"eventType": "click", "itemId": "i", "sentAt": 1_700_000_000}])
    lock.execute("ROLLBACK")
    lock.close()
    datasets.delete_dataset(store, "b", "Interactions")
    datasets.create_dataset(store, "b", "Interactions", {
        "type": "record", "name": "Interactions", "namespace": "com.amazonaws.personalize.schema", "version": "1.0",
        "fields": [{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
                   {"name": "TIMESTAMP", "type": "long"}]})
    failures = 0
    for k in range(100):
        try:
            put_events(store, ta, "s", "u", [{"eventType": "click", "itemId": f"i{k}", "sentAt": 1_700_000_001 + k}])
        except Exception:
            failures += 1
    return [f"poisoned spool (the issue's reproduction): {failures}/100 later PutEvents failed, "
            f"{len(event_writer.dead_letters(store))} dead letter with its reason"]


def bench_recovery_cost(work: Path) -> list[str]:
    """recover() on a workspace with history but nothing interrupted, and a CLI command's wall time."""
    home = work / "cost" / "ws"
    store = Store(home)
    store.create_dataset_group("g")
    for k in range(300):
        store.create_resource("solution-version", "g", f"s/{k}", {"owner": None}, status=ACTIVE)
        model = store.artifact_path("models", "g", "s", f"{k:012x}")
        model.mkdir(parents=True, exist_ok=True)
        for name in ("params.json", "ids.json", "arrays.npz"):
            (model / name).write_text("{}")
    times = []
    for _ in range(20):
        t = time.perf_counter()
        recover(store)
        times.append(time.perf_counter() - t)
    cli = []
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "recsys", "--home", str(home), "datasets", "-g", "g"], env=ENV,
                       cwd=ROOT, capture_output=True, check=True)
        cli.append(time.perf_counter() - t)
    return [f"recover() with nothing interrupted (300 versions, 900 model files): median "
            f"{1000 * float(np.median(times)):.1f} ms; `recsys datasets` wall time {min(cli):.2f} s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the imports")
    parser.add_argument("--random-kills", type=int, default=4, help="imports killed after a random delay")
    parser.add_argument("--writers", type=int, default=8, help="PutEvents threads during the import")
    parser.add_argument("--only", nargs="*", default=None,
                        choices=["imports", "training", "batch", "concurrency", "poison", "cost"],
                        help="run only these sections")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="recsys-reliability-") as tmp:
        work = Path(tmp)
        sections = {"imports": lambda: bench_imports(work, args.rows, args.random_kills),
                    "training": lambda: bench_training(work), "batch": lambda: bench_batch(work),
                    "concurrency": lambda: bench_concurrency(work, args.rows, args.writers),
                    "poison": lambda: bench_poison(work), "cost": lambda: bench_recovery_cost(work)}
        for name, section in sections.items():
            if args.only and name not in args.only:
                continue
            started = time.perf_counter()
            for line in section():
                print(line, flush=True)
            print(f"  ({time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
