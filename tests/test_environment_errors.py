"""The environment's failures: a full disk, a read-only workspace and damaged model files give one line naming
the path and the fix (EnvironmentProblem in the library, exit 1 without a traceback in the CLI, a clean AWS
error in the HTTP API), and what was stored before stays intact.

The disk-full and read-only cases mount a small tmpfs (root only); elsewhere they are skipped with the reason,
except the read-only case, which falls back to chmod when not root."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from recsys import datasets
from recsys.exceptions import EnvironmentProblem
from recsys.files import (
    DAMAGED, DISK_FULL, NO_PERMISSION, READ_ONLY, atomic_write, environment_problem,
)
from recsys.ingest import import_file
from recsys.store import Store

ROOT = Path(__file__).resolve().parents[1]
POPULARITY = "aws-popularity-count"


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "recsys", "--home", str(home), *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=300)


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def interactions_csv(path: Path, n: int, start: int = 0) -> Path:
    with open(path, "w") as fh:
        fh.write("USER_ID,ITEM_ID,TIMESTAMP\n")
        fh.writelines(f"user-{k % 400:05d},item-{k % 150:05d},{1_600_000_000 + k}\n" for k in range(start, start + n))
    return path


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory) -> Path:
    """A small workspace: group g with 3,000 interactions, a popularity model and a campaign."""
    from recsys import campaigns, runs, solutions

    home = tmp_path_factory.mktemp("trained") / "ws"
    store = Store(home)
    store.create_dataset_group("g")
    import_file(store, "g", "Interactions", interactions_csv(home.parent / "base.csv", 3_000))
    solutions.create_solution(store, "g", "pop", POPULARITY)
    version = runs.create_solution_version(store, "g", "pop", wait=True)
    assert version.status == "ACTIVE", version.failure_reason
    campaigns.create_campaign(store, "g", "main", version.arn)
    return home


def copy_workspace(source: Path, target: Path) -> Store:
    shutil.copytree(source, target)
    return Store(target)


def mount(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True)


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs: a disk that fills up (root only)."""
    if os.geteuid() != 0:
        pytest.skip("a disk-full test needs root to mount a small tmpfs; not root here")
    point = tmp_path / "disk"
    point.mkdir()
    done = mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(point))
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()})")
    yield point
    subprocess.run(["umount", "-l", str(point)], check=False)


class ReadOnly:
    """Makes a directory read-only and writable again: a remounted tmpfs as root (chmod does not stop root),
    chmod otherwise."""

    def __init__(self, point: Path, mounted: bool):
        self.point = point
        self.mounted = mounted

    def __call__(self, read_only: bool) -> None:
        if self.mounted:
            done = mount("-o", f"remount,{'ro' if read_only else 'rw'}", str(self.point))
            assert done.returncode == 0, done.stderr
            return
        for path in [self.point, *self.point.rglob("*")]:
            mode = (0o555 if path.is_dir() else 0o444) if read_only else (0o755 if path.is_dir() else 0o644)
            os.chmod(path, mode)


@pytest.fixture
def read_only(tmp_path):
    point = tmp_path / "ro"
    point.mkdir()
    if os.geteuid() == 0:
        done = mount("-t", "tmpfs", "-o", "size=64m", "tmpfs", str(point))
        if done.returncode:
            pytest.skip(f"root ignores chmod, and a read-only tmpfs cannot be mounted here ({done.stderr.strip()})")
    switch = ReadOnly(point, mounted=os.geteuid() == 0)
    yield switch
    switch(False)
    if switch.mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


# -- the classification itself -------------------------------------------------------------------------------


@pytest.mark.parametrize("exc, kind", [
    (OSError(errno.ENOSPC, "No space left on device", "/w/a.npz"), DISK_FULL),
    (OSError(errno.EROFS, "Read-only file system", "/w/a.npz"), READ_ONLY),
    (sqlite3.OperationalError("database or disk is full"), DISK_FULL),
    (sqlite3.DatabaseError("database disk image is malformed"), DAMAGED),
    (sqlite3.OperationalError("database is locked"), None),          # a busy writer, not the environment
    (OSError(errno.ENOENT, "No such file or directory", "/w/x"), None),
    (ValueError("a bug"), None),
])
def test_which_errors_are_the_environment(exc, kind):
    problem = environment_problem(exc, "/w/recsys.db")
    assert (problem.kind if problem else None) == kind
    if problem is not None:
        assert "\n" not in str(problem) and "/w/" in str(problem)


# -- a full disk ------------------------------------------------------------------------------------------------


def test_disk_full_during_an_import_is_one_error_and_keeps_the_data(small_disk, tmp_path):
    store = Store(small_disk / "ws")
    store.create_dataset_group("g")
    import_file(store, "g", "Interactions", interactions_csv(tmp_path / "small.csv", 1_000))
    before = datasets.read_interactions(store, "g").to_csv(index=False)
    big = interactions_csv(tmp_path / "big.csv", 120_000, start=5_000)
    with pytest.raises(EnvironmentProblem) as info:
        import_file(store, "g", "Interactions", big, mode="INCREMENTAL")
    assert info.value.kind == DISK_FULL and str(store.db_path) in str(info.value)
    assert "Free space on that disk" in str(info.value)
    assert datasets.read_interactions(store, "g").to_csv(index=False) == before
    job = store.list_resources("dataset-import-job", "g")[0]   # newest first
    assert job["status"] == "CREATE FAILED" and job["failure_reason"].startswith("The disk is full")
    result = run_cli(store.home, "import", str(big), "--group", "g", "--type", "Interactions", "--mode", "INCREMENTAL")
    assert_one_line_error(result, "The disk is full", str(store.home))
    assert datasets.read_interactions(store, "g").to_csv(index=False) == before


def test_disk_full_in_an_atomic_write_leaves_the_old_file(small_disk):
    target = small_disk / "report.json"
    atomic_write(target, "old")
    with pytest.raises(EnvironmentProblem) as info:
        atomic_write(target, b"x" * (4 << 20))
    assert info.value.kind == DISK_FULL and info.value.path.startswith(str(small_disk))
    assert target.read_text() == "old" and sorted(p.name for p in small_disk.iterdir()) == ["report.json"]


@pytest.mark.slow
def test_a_full_disk_stops_every_command_with_one_line(small_disk, trained_home):
    home = small_disk / "ws"
    copy_workspace(trained_home, home)
    with open(small_disk / "filler", "wb") as fh:   # fill the disk to the last byte
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    for args in (["create-group", "other"], ["train", "--group", "g", "--solution", "pop2", "--recipe", POPULARITY]):
        assert_one_line_error(run_cli(home, *args), "The disk is full")
    (small_disk / "filler").unlink()
    assert [g["name"] for g in Store(home).list_dataset_groups()] == ["g"]


# -- a read-only workspace ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_read_only_workspace_every_write_is_one_line_and_nothing_changes(read_only, trained_home, tmp_path):
    home = read_only.point / "ws"
    store = copy_workspace(trained_home, home)
    before = datasets.read_interactions(store, "g").to_csv(index=False)
    extra = interactions_csv(tmp_path / "extra.csv", 50)
    read_only(True)
    with pytest.raises(EnvironmentProblem) as info:
        import_file(store, "g", "Interactions", extra, mode="INCREMENTAL")
    assert info.value.kind in (READ_ONLY, NO_PERMISSION) and str(home) in str(info.value)
    writes = [["create-group", "other"],
              ["import", str(extra), "--group", "g", "--type", "Interactions", "--mode", "INCREMENTAL"],
              ["train", "--group", "g", "--solution", "pop2", "--recipe", POPULARITY],
              ["filter", "create", "--group", "g", "--name", "f", "EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN (\"a\")"]]
    for args in writes:
        assert_one_line_error(run_cli(home, *args), str(home))
    read_only(False)
    assert datasets.read_interactions(store, "g").to_csv(index=False) == before
    assert [g["name"] for g in store.list_dataset_groups()] == ["g"]


def test_read_only_workspace_is_a_clean_aws_error_in_the_api(read_only, trained_home):
    from recsys.api import create_app, create_key
    from recsys.api.server import serve_in_background
    from recsys.events import create_event_tracker

    home = read_only.point / "ws"
    store = copy_workspace(trained_home, home)
    tracker = create_event_tracker(store, "g", "web")
    key_id, secret = create_key(store, ["g"])
    with serve_in_background(create_app(store, warm=False)) as url:
        client = boto3.client("personalize-events", endpoint_url=url, region_name="us-east-1",
                              aws_access_key_id=key_id, aws_secret_access_key=secret,
                              config=Config(retries={"max_attempts": 1, "mode": "standard"}))
        read_only(True)   # before any request opens a file (a mount with files open to write cannot turn read-only)
        with pytest.raises(ClientError) as info:
            client.put_events(trackingId=tracker["trackingId"], sessionId="s", userId="user-00001",
                              eventList=[{"eventType": "click", "itemId": "item-00001", "sentAt": 1_700_000_000}])
        read_only(False)
    response = info.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert response["Error"]["Code"] == "ServiceUnavailable"
    assert str(home) in response["Error"]["Message"] and "unexpected error" not in response["Error"]["Message"]


# -- damaged model files -------------------------------------------------------------------------------------


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 3)])


TAMPERING = {
    "params.json truncated": lambda d: _truncate(d / "params.json"),
    "params.json edited": lambda d: (d / "params.json").write_text('{"recipe": "aws-popularity-count"}'),
    "ids.json truncated": lambda d: _truncate(d / "ids.json"),
    "ids.json edited": lambda d: (d / "ids.json").write_text("{}"),
    "arrays.npz truncated": lambda d: _truncate(d / "arrays.npz"),
    "arrays.npz replaced": lambda d: (d / "arrays.npz").write_bytes(os.urandom(2000)),
    "arrays.npz deleted": lambda d: (d / "arrays.npz").unlink(),
}


def model_dir(home: Path) -> Path:
    return next((home / "artifacts" / "models").rglob("params.json")).parent


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_damaged_model_files_are_one_line_naming_the_path(trained_home, tmp_path, case):
    from recsys.serving import load_model
    from recsys.solutions import list_solution_versions

    home = tmp_path / "ws"
    store = copy_workspace(trained_home, home)
    directory = model_dir(home)
    TAMPERING[case](directory)
    arn = list_solution_versions(store, "g")[0].arn
    with pytest.raises(EnvironmentProblem) as info:
        load_model(store, arn)
    assert info.value.kind == DAMAGED and str(directory) in str(info.value) and "Train the solution" in str(info.value)


def test_damaged_model_is_one_line_in_the_cli(trained_home, tmp_path):
    home = tmp_path / "ws"
    copy_workspace(trained_home, home)
    _truncate(model_dir(home) / "arrays.npz")
    result = run_cli(home, "recommend", "--group", "g", "--solution", "pop", "--user", "user-00001")
    assert_one_line_error(result, str(model_dir(home)), "damaged or were edited")


def test_damaged_model_is_a_clean_aws_error_in_the_api(trained_home, tmp_path):
    from recsys.api import create_app, create_key
    from recsys.api.server import serve_in_background
    from recsys.campaigns import list_campaigns

    home = tmp_path / "ws"
    store = copy_workspace(trained_home, home)
    _truncate(model_dir(home) / "arrays.npz")
    key_id, secret = create_key(store, ["g"])
    campaign = list_campaigns(store)[0].arn
    with serve_in_background(create_app(store)) as url:
        client = boto3.client("personalize-runtime", endpoint_url=url, region_name="us-east-1",
                              aws_access_key_id=key_id, aws_secret_access_key=secret,
                              config=Config(retries={"max_attempts": 1, "mode": "standard"}))
        with pytest.raises(ClientError) as info:
            client.get_recommendations(campaignArn=campaign, userId="user-00001")
    response = info.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert "damaged or were edited" in response["Error"]["Message"]
    assert str(model_dir(home)) in response["Error"]["Message"]
