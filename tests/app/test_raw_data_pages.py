"""Pages on data shaped like raw real files rather than the demo: no event types, no Items, a segmentation
version beside ranking ones. Nothing the pages show may read "None" or "nan"."""

from __future__ import annotations

import pandas as pd
import pytest

from recsys import ingest, runs, solutions
from recsys.store import Store

from .test_pages import run


@pytest.fixture(scope="module")
def plays_home(tmp_path_factory):
    """Reviews-like interactions (user, item, time, rating; no EVENT_TYPE, no Items) with a popularity and an
    item-affinity version."""
    home = tmp_path_factory.mktemp("plays")
    store = Store(home)
    store.create_dataset_group("plays")
    n = 1_500
    frame = pd.DataFrame({"reviewer": [f"r{(k * 7) % 90}" for k in range(n)],
                          "product": [f"p{(k * 13) % 60 if k % 3 else k % 9}" for k in range(n)],
                          "when": [1_300_000_000 + 3_600 * k for k in range(n)],
                          "stars": [1 + k % 5 for k in range(n)]})
    path = home / "reviews.csv"
    frame.to_csv(path, index=False)
    ingest.import_file(store, "plays", "Interactions", path, column_map={
        "reviewer": "USER_ID", "product": "ITEM_ID", "when": "TIMESTAMP", "stars": "EVENT_VALUE"})
    for name, recipe in (("popular", "aws-popularity-count"), ("affinity", "aws-item-affinity")):
        solutions.create_solution(store, "plays", name, recipe)
        version = runs.create_solution_version(store, "plays", name, wait=True)
        assert version.status == "ACTIVE", version.failure_reason
    return home


def shown_cells(at) -> list[str]:
    return [str(v) for frame in (d.value for d in at.dataframe) for v in frame.to_numpy().ravel()]


@pytest.mark.parametrize("page,state", [("train", {}), ("preview", {"preview_user": "r0"})])
def test_tables_show_no_none_on_data_without_event_types(page, state, plays_home, monkeypatch):
    monkeypatch.setenv("RECSYS_HOME", str(plays_home))
    at = run(page, group="plays", **state)
    assert not at.exception, at.exception
    assert at.dataframe, "the page shows no table"
    cells = shown_cells(at)
    assert not [c for c in cells if c in ("None", "nan", "NaN", "<NA>", "NaT")], cells
