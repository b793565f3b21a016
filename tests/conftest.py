"""Shared test fixtures: temporary workspaces and the real data sets under ../shared/datasets."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Beside the repository; a worktree elsewhere points at them with RECSYS_SHARED_DATASETS.
SHARED_DATASETS = Path(os.environ.get("RECSYS_SHARED_DATASETS") or ROOT.parent / "shared" / "datasets")


@pytest.fixture
def shared_datasets() -> Path:
    """The real data sets; skips with a reason when ../shared is absent (a user's fresh clone)."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"real data sets not found at {SHARED_DATASETS} (only present beside the repo in CI)")
    return SHARED_DATASETS


@pytest.fixture
def store(tmp_path):
    """A fresh, empty workspace."""
    from recsys.store import Store

    return Store(tmp_path / "workspace")


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3-protocol server on loopback (moto's standalone server, a subprocess) for data-location tests;
    skips when moto[server] is not installed. Yields its URL; any credentials are accepted."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    pytest.importorskip("moto.server", reason="moto[server] is not installed (see requirements.txt)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto's S3 server did not start on port {port}") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    """A boto3 S3 client on the moto server, with AWS_* variables pointing there (as a user's shell would)."""
    import boto3

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": s3_endpoint}.items():
        monkeypatch.setenv(name, value)
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")
