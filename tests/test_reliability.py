"""kill -9 at named points of an import, a training and a batch job, each run as a real `python -m recsys`
process; the reopened workspace keeps its previous data, says how each job truly ended, holds no temporary file,
and a retry works without doubling anything."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recsys import datasets, runs, solutions
from recsys.exceptions import ConflictError
from recsys.ingest import RESOURCE_TYPE as IMPORT_JOB
from recsys.ingest import import_file
from recsys.recovery import recover
from recsys.serving import batch
from recsys.store import ACTIVE, CREATE_FAILED, CREATE_IN_PROGRESS, CREATE_STOPPED, CREATE_STOPPING, Store

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
POP = "aws-popularity-count"


def write_interactions(path: Path, n: int, *, offset: int = 0, users: int = 300, items: int = 120) -> Path:
    rows = "".join(f"u{(k * 7) % users},i{(k * 13) % items},{1_700_000_000 + offset + k},click\n" for k in range(n))
    path.write_text("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n" + rows)
    return path


def temporaries(home: Path) -> list[Path]:
    return [p for p in home.rglob("*") if ".tmp-" in p.name]


class Killed:
    """A `python -m recsys` process paused at a failpoint, then killed with SIGKILL."""

    def __init__(self, home: Path, args: list[str], failpoint: str, timeout: float = 90.0):
        marker = home.parent / f"failpoint-{failpoint.replace(':', '-').replace(' ', '-')}"
        marker.unlink(missing_ok=True)
        env = {**os.environ, "RECSYS_FAILPOINT": failpoint, "RECSYS_FAILPOINT_FILE": str(marker),
               "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([sys.executable, "-m", "recsys", "--home", str(home), *args], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
        deadline = time.monotonic() + timeout
        while not marker.exists():
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                raise AssertionError(f"exited {self.proc.returncode} before {failpoint}: {out.decode()}{err.decode()}")
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"{failpoint} not reached in {timeout:.0f} s")
            time.sleep(0.02)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self.proc.stdout.close()
        self.proc.stderr.close()


def recsys_cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "recsys", "--home", str(home), *args], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)


@pytest.fixture
def workspace(tmp_path):
    """A workspace with group g holding 2,000 interactions (imported in this process)."""
    home = tmp_path / "ws"
    store = Store(home)
    store.create_dataset_group("g")
    import_file(store, "g", "Interactions", write_interactions(tmp_path / "base.csv", 2_000), mode="FULL")
    return store


# -- imports ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("point", ["import:writing", "import:before-commit"])
def test_an_import_killed_before_it_commits_leaves_the_data_and_is_marked_failed(workspace, tmp_path, point):
    store = workspace
    more = write_interactions(tmp_path / "more.csv", 1_500, offset=10_000)
    killed = Killed(store.home, ["import", "-g", "g", "--type", "interactions", "--mode", "INCREMENTAL",
                                 "--job-name", "more", str(more)], point)
    killed.kill()

    assert store.get_resource(IMPORT_JOB, "g", "more")["status"] == CREATE_IN_PROGRESS  # as the kill left it
    report = recover(Store(store.home))
    job = store.get_resource(IMPORT_JOB, "g", "more")
    assert report.imports == [job["arn"]]
    assert job["status"] == CREATE_FAILED and job["rows_accepted"] == 0
    assert job["failure_reason"].startswith("interrupted: the process that ran it stopped (killed or crashed)")
    assert "keeps its previous rows" in job["failure_reason"]
    assert datasets.count_rows(store, "g", "Interactions")["total"] == 2_000
    assert temporaries(store.home) == []

    retry = import_file(store, "g", "Interactions", more, mode="INCREMENTAL")  # the user's retry
    assert retry.status == ACTIVE and retry.rows_accepted == 1_500
    assert datasets.count_rows(store, "g", "Interactions")["total"] == 3_500  # once, not twice


def test_an_import_killed_just_after_commit_is_active_with_its_rows(workspace, tmp_path):
    store = workspace
    more = write_interactions(tmp_path / "more.csv", 1_500, offset=10_000)
    killed = Killed(store.home, ["import", "-g", "g", "--type", "interactions", "--mode", "INCREMENTAL",
                                 "--job-name", "more", str(more)], "import:after-commit")
    killed.kill()
    recover(Store(store.home))
    job = store.get_resource(IMPORT_JOB, "g", "more")
    # The status row committed with the data: no IN_PROGRESS job with 0 rows inviting a doubling retry.
    assert job["status"] == ACTIVE and job["rows_accepted"] == 1_500
    assert datasets.count_rows(store, "g", "Interactions")["total"] == 3_500
    assert temporaries(store.home) == []


def test_a_running_import_of_a_live_process_is_never_taken_for_an_interrupted_one(workspace, tmp_path):
    store = workspace
    more = write_interactions(tmp_path / "more.csv", 500, offset=10_000)
    paused = Killed(store.home, ["import", "-g", "g", "--type", "interactions", "--mode", "INCREMENTAL",
                                 "--job-name", "live", str(more)], "import:writing")
    try:
        # A second process (here: the CLI, as a `serve` or the workbench starting) opens the workspace meanwhile.
        opened = recsys_cli(store.home, "datasets", "-g", "g")
        assert opened.returncode == 0, opened.stderr
        assert "Recovered" not in opened.stderr
        assert store.get_resource(IMPORT_JOB, "g", "live")["status"] == CREATE_IN_PROGRESS
        assert recover(Store(store.home)).imports == []
    finally:
        paused.kill()
    # Once it is gone, the next start (the CLI again) ends it and says so.
    opened = recsys_cli(store.home, "datasets", "-g", "g")
    assert opened.returncode == 0 and "1 interrupted import(s) marked failed" in opened.stderr
    assert store.get_resource(IMPORT_JOB, "g", "live")["status"] == CREATE_FAILED


# -- training ---------------------------------------------------------------------------------------------------


def _version_of(store: Store, solution: str) -> dict:
    (version,) = solutions.list_solution_versions(store, "g", solution)
    return version


@pytest.mark.parametrize("point, stage", [("training:fitting", "fitting"), ("training:saved", "saving")])
def test_a_killed_training_is_failed_with_its_stage_and_leaves_no_files(workspace, point, stage):
    store = workspace
    killed = Killed(store.home, ["train", "-g", "g", "--solution", "pop", "--recipe", POP], point)
    killed.kill()
    version = _version_of(store, "pop")
    assert version.status == CREATE_IN_PROGRESS
    model_dir = solutions.artifact_dir(store, version)
    if point == "training:saved":
        assert (model_dir / "params.json").exists()  # the model was saved; the version never became ACTIVE

    report = recover(Store(store.home))
    version = _version_of(store, "pop")
    assert report.versions == [version.arn] and version.status == CREATE_FAILED
    assert version.failure_reason.startswith(
        f"interrupted: the process that ran it stopped (killed or crashed) during {stage}")
    assert not model_dir.exists() and not solutions.evaluation_path(store, version).exists()
    assert temporaries(store.home) == []

    retrained = runs.create_solution_version(store, "g", "pop", wait=True)  # a retry works
    assert retrained.status == ACTIVE
    runs.delete_solution_version(store, version.arn)  # and the failed one can be deleted
    assert [v.arn for v in solutions.list_solution_versions(store, "g", "pop")] == [retrained.arn]


def test_a_training_stopped_then_killed_ends_stopped_and_can_be_deleted(workspace):
    store = workspace
    killed = Killed(store.home, ["train", "-g", "g", "--solution", "pop", "--recipe", POP], "training:fitting")
    version = _version_of(store, "pop")
    stopping = runs.cancel_solution_version(store, version.arn)  # the workbench's Stop, while it runs
    assert stopping.status == CREATE_STOPPING
    killed.kill()
    assert recover(Store(store.home)).versions == [version.arn]
    assert _version_of(store, "pop").status == CREATE_STOPPED  # STOPPING always ends
    runs.delete_solution(store, "g", "pop")
    assert solutions.list_solution_versions(store, "g") == []


# -- batch jobs -------------------------------------------------------------------------------------------------


def _users_file(path: Path, users: list[str]) -> Path:
    path.write_text("".join(json.dumps({"userId": u}) + "\n" for u in users))
    return path


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def trained(workspace):
    version = runs.create_solution_version(store := workspace, "g", solutions.create_solution(
        store, "g", "pop", POP).name, wait=True)
    assert version.status == ACTIVE
    return store, version


def test_a_killed_batch_job_resumes_only_as_itself_and_never_mixes_outputs(trained, tmp_path):
    store, version = trained
    first_users = [f"u{k}" for k in range(2_500)]
    first_in = _users_file(tmp_path / "first.jsonl", first_users)
    output = tmp_path / "out" / "recs.jsonl"
    killed = Killed(store.home, ["batch-recommend", "-g", "g", "--solution", "pop", "--input", str(first_in),
                                 "--output", str(output), "--num-results", "25", "--job-name", "first"],
                    "batch:chunk:2")
    killed.kill()
    recover(Store(store.home))
    job = store.get_resource(batch.BATCH_INFERENCE_JOB, "g", "first")
    assert job["status"] == CREATE_FAILED and job["lines_done"] == 2_000
    assert "interrupted: the process that ran it stopped (killed or crashed) at line 2,000 of 2,500" \
        in job["failure_reason"]
    assert not output.exists() and temporaries(store.home) == []

    # The case: another run on the same --output with another input and --num-results 3.
    second_users = [f"u{k}" for k in range(100, 400)]
    second_in = _users_file(tmp_path / "second.jsonl", second_users)
    ran = recsys_cli(store.home, "batch-recommend", "-g", "g", "--solution", "pop", "--input", str(second_in),
                     "--output", str(output), "--num-results", "3", "--job-name", "second")
    assert ran.returncode == 0, ran.stderr
    lines = _lines(output)
    assert [line["input"]["userId"] for line in lines] == second_users  # none of the first run's lines
    assert {len(line["output"]["recommendedItems"]) for line in lines} == {3}

    # Resuming the first job with another input or other parameters is refused, saying what differs.
    with pytest.raises(ConflictError, match="num_results differ"):
        batch.create_batch_inference_job(store, "g", "first", version.arn, first_in, output, num_results=3)
    with pytest.raises(ConflictError, match="the input is .*second.jsonl"):
        batch.create_batch_inference_job(store, "g", "first", version.arn, second_in, output, num_results=25)
    # The same job resumes after its 2,000 lines and gives what an uninterrupted run gives.
    resumed = batch.create_batch_inference_job(store, "g", "first", version.arn, first_in, output,
                                               num_results=25)
    assert resumed.status == ACTIVE and resumed.resumed_from == 2_000 and resumed.lines_done == 2_500
    whole = batch.create_batch_inference_job(store, "g", "whole", version.arn, first_in, tmp_path / "whole.jsonl",
                                             num_results=25)
    assert [r["input"] for r in _lines(output)] == [r["input"] for r in _lines(tmp_path / "whole.jsonl")]
    assert [r["output"] for r in _lines(output)] == [r["output"] for r in _lines(tmp_path / "whole.jsonl")]
    assert whole.status == ACTIVE and not batch.work_dir(store, batch.BATCH_INFERENCE_JOB, "g", "first").exists()


def test_a_batch_job_killed_while_publishing_resumes_to_its_finished_output(trained, tmp_path):
    store, version = trained
    source = _users_file(tmp_path / "in.jsonl", [f"u{k}" for k in range(50)])
    output = tmp_path / "recs.jsonl"
    killed = Killed(store.home, ["batch-recommend", "-g", "g", "--solution", "pop", "--input", str(source),
                                 "--output", str(output), "--job-name", "late"], "batch:publishing")
    killed.kill()
    recover(Store(store.home))
    job = store.get_resource(batch.BATCH_INFERENCE_JOB, "g", "late")
    assert job["status"] == CREATE_FAILED and "while moving its finished files into place" in job["failure_reason"]
    resumed = batch.create_batch_inference_job(store, "g", "late", version.arn, source, output)
    assert resumed.status == ACTIVE and resumed.resumed_from == 50 and len(_lines(output)) == 50
