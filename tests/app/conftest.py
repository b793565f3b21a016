"""Workspaces for the page tests: an empty one, and one with the (small) demo data, trained versions and a campaign."""

from pathlib import Path

import pytest

from recsys import filters, runs, solutions, workspace
from recsys.demo import write_demo
from recsys.store import Store

APP_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _app_directory_on_path(monkeypatch):
    """Pages run as `streamlit run app.py` runs them: with app.py's directory on the path (`from pages import ...`)."""
    monkeypatch.syspath_prepend(str(APP_DIR))


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory):
    """A workspace with a small demo group, three trained solutions, a segmentation version, a campaign and a filter."""
    home = tmp_path_factory.mktemp("demo-workspace")
    store = Store(home)
    demo_dir = home / "demo-files"
    write_demo(demo_dir, seed=3, n_users=300, n_items=150, n_interactions=12_000)
    workspace.load_demo_workspace(store, "demo", str(demo_dir))
    solutions.create_solution(store, "demo", "affinity", "aws-item-affinity")
    runs.create_solution_version(store, "demo", "affinity", wait=True)
    filters.create_filter(store, "demo", "no-purchased", 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")')
    return home


@pytest.fixture
def demo_env(demo_home, monkeypatch):
    monkeypatch.setenv("RECSYS_HOME", str(demo_home))
    return demo_home


@pytest.fixture
def empty_env(tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_HOME", str(tmp_path / "empty"))
    return tmp_path / "empty"
