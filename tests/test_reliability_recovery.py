"""Start-up recovery in one process: owners' liveness through their lock, leftover temporaries (a live process'
kept), versions a dead process left running (STOPPING ends, delete works), batch jobs killed while publishing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recsys import owners, runs, solutions
from recsys.files import temp_name
from recsys.recovery import YOUNG_TEMPORARY_SECONDS, recover
from recsys.serving import batch
from recsys.store import ACTIVE, CREATE_FAILED, CREATE_IN_PROGRESS, CREATE_STOPPED, CREATE_STOPPING, Store

ROOT = Path(__file__).resolve().parents[1]
HOLD_LOCK = ("import sys, time; from recsys import owners; print(owners.claim(sys.argv[1])['token'], flush=True); "
             "time.sleep(120)")


@pytest.fixture
def other_process(store):
    """Another live process holding its lock in the workspace: (its token, a function that kills it)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(store.home)], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    token = proc.stdout.readline().strip()

    def kill():
        proc.kill()
        proc.wait(10)

    yield token, kill
    kill()
    proc.stdout.close()


def test_an_owner_is_alive_while_its_process_lives_and_gone_once_killed(store, other_process):
    token, kill = other_process
    assert len(token) == 12 and owners.alive(store.home, token)
    assert owners.alive(store.home, owners.token())  # this process
    assert not owners.alive(store.home, None) and not owners.alive(store.home, "0" * 12)
    kill()
    assert not owners.alive(store.home, token)
    assert owners.reap(store.home) == 1 and not owners.has_lock_file(store.home, token)


def _temporary(final: Path, token: str, *, directory: bool = False) -> Path:
    final.parent.mkdir(parents=True, exist_ok=True)
    path = final.with_name(f".{final.name}.tmp-{token}-abcd1234")
    if directory:
        path.mkdir()
        (path / "arrays.npz").write_bytes(b"x")
    else:
        path.write_text("half")
    return path


def test_leftover_temporaries_go_and_those_a_live_process_writes_stay(store, other_process):
    live_token, kill = other_process
    models = store.artifacts_dir / "models" / "g" / "s"
    dead_token = "deadbeef0000"
    (store.home / owners.OWNERS_DIR / f"{dead_token}.lock").write_text("pid 1\n")
    dead_dir = _temporary(models / ".692b0f1ca3f2", dead_token, directory=True)  # the `..<id>.tmp-` of the issue
    dead_file = _temporary(store.artifacts_dir / "evaluations" / "g" / "s" / "692b0f1ca3f2.json", dead_token)
    legacy = store.artifacts_dir / "profiles" / ".g.json.tmp-1a2b3c4d"  # named before tokens: owner unknown
    legacy.parent.mkdir(parents=True)
    legacy.write_text("x")
    live = _temporary(models / "692b0f1ca3f3", live_token, directory=True)
    mine = temp_name(store.artifacts_dir / "profiles" / "h.json")
    mine.write_text("being written by this process")
    unclaimed_young = _temporary(store.artifacts_dir / "profiles" / "k.json", "c0ffee000000")
    unclaimed_old = _temporary(store.artifacts_dir / "profiles" / "m.json", "c0ffee000001")
    old = time.time() - YOUNG_TEMPORARY_SECONDS - 5
    os.utime(unclaimed_old, (old, old))

    report = recover(store)
    assert report.temporaries == 4
    assert not dead_dir.exists() and not dead_file.exists() and not legacy.exists() and not unclaimed_old.exists()
    assert live.exists() and mine.exists() and unclaimed_young.exists()
    kill()
    assert recover(store).temporaries == 1 and not live.exists()


@pytest.fixture
def solution(store):
    store.create_dataset_group("g")
    return solutions.create_solution(store, "g", "pop", "aws-popularity-count")


def _running_version(store, owner: dict | None, status: str = CREATE_IN_PROGRESS) -> dict:
    version = solutions.new_solution_version(store, "g", "pop")
    return store.update_resource(solutions.SOLUTION_VERSION, "g", version.name, status=status,
                                 body={"owner": owner, "progress": {"stage": "fitting", "percent": 40.0}})


def test_versions_of_a_live_process_are_left_and_of_a_dead_one_ended(store, solution, other_process):
    token, kill = other_process
    live = _running_version(store, {"token": token, "pid": 0, "host": "x"})
    stopping = _running_version(store, {"token": token, "pid": 0, "host": "x"}, CREATE_STOPPING)
    assert recover(store).versions == []
    kill()
    report = recover(store)
    assert sorted(report.versions) == sorted([live["arn"], stopping["arn"]])
    live, stopping = (solutions.get_solution_version(store, v["arn"]) for v in (live, stopping))
    assert live.status == CREATE_FAILED and "during fitting" in live.failure_reason
    assert stopping.status == CREATE_STOPPED
    assert recover(store).versions == []  # once


def test_stop_and_delete_work_on_a_version_whose_process_is_gone(store, solution):
    orphan = _running_version(store, {"token": "deadbeef0001", "pid": 0, "host": "x"})
    assert runs.cancel_solution_version(store, orphan["arn"]).status == CREATE_STOPPED  # not STOPPING forever
    other = _running_version(store, None)
    runs.delete_solution_version(store, other["arn"])
    runs.delete_solution(store, "g", "pop")
    assert solutions.list_solution_versions(store, "g") == []


def test_a_batch_job_killed_after_its_files_moved_is_active(store):
    store.create_dataset_group("g")
    body = {"owner": {"token": "deadbeef0002"}, "stage": batch.PUBLISHING, "lines_total": 10, "lines_done": 10}
    moved = store.create_resource(batch.BATCH_INFERENCE_JOB, "g", "moved", body, status=CREATE_IN_PROGRESS)
    halfway = store.create_resource(batch.BATCH_INFERENCE_JOB, "g", "halfway", body, status=CREATE_IN_PROGRESS)
    work = batch.work_dir(store, batch.BATCH_INFERENCE_JOB, "g", "halfway")
    work.mkdir(parents=True)
    (work / batch.WORK_CSV).write_text("USER_ID\n")  # the output moved, the CSV not yet
    assert sorted(recover(store).batch_jobs) == sorted([moved["arn"], halfway["arn"]])
    assert store.get_resource(batch.BATCH_INFERENCE_JOB, "g", "moved")["status"] == ACTIVE
    assert store.get_resource(batch.BATCH_INFERENCE_JOB, "g", "halfway")["status"] == CREATE_FAILED


def test_recovering_an_untouched_workspace_does_nothing(tmp_path):
    store = Store(tmp_path / "fresh")
    report = recover(store)
    assert not report and str(report) == "Nothing to recover."


def test_where_no_lock_can_be_taken_liveness_falls_back_to_the_pid_and_its_start_time(store, other_process):
    import socket

    import psutil

    token, kill = other_process
    pid = int(next(p.pid for p in psutil.Process().children() if p.cmdline()[-1] == str(store.home)))
    record = {"token": "f00dfeed0000", "pid": pid, "host": socket.gethostname(), "lock": False,
              "started": psutil.Process(pid).create_time()}
    assert owners.alive(store.home, record["token"], record)
    assert owners.alive(store.home, record["token"], {**record, "host": "elsewhere"})  # cannot tell: alive
    assert not owners.alive(store.home, record["token"], {**record, "started": record["started"] - 100})  # reused pid
    kill()
    assert not owners.alive(store.home, record["token"], record)


def test_the_api_ends_interrupted_jobs_when_it_starts(store, solution):
    from recsys.api import create_app

    orphan = _running_version(store, {"token": "deadbeef0003", "pid": 0, "host": "x"})
    create_app(store, warm=False)
    assert solutions.get_solution_version(store, orphan["arn"]).status == CREATE_FAILED


def test_a_job_created_running_belongs_to_its_creator_and_other_kinds_are_ended_too(store, other_process):
    """The control plane's export and deletion jobs: owned by the process that created them (a live one is kept),
    CREATE FAILED once it is gone."""
    token, kill = other_process
    store.create_dataset_group("g")
    mine = store.create_resource("dataset-export-job", "g", "mine", {}, status="CREATE PENDING")
    assert mine["owner"]["token"] == owners.token()
    theirs = store.create_resource("data-deletion-job", "g", "theirs", {"owner": {"token": token}},
                                   status=CREATE_IN_PROGRESS)
    assert recover(store).other_jobs == []
    kill()
    assert recover(store).other_jobs == [theirs["arn"]]
    ended = store.get_resource("data-deletion-job", "g", "theirs")
    assert ended["status"] == CREATE_FAILED and "while it was running; run it again" in ended["failure_reason"]
    assert store.get_resource("dataset-export-job", "g", "mine")["status"] == "CREATE PENDING"
