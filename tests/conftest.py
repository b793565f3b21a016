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
