"""Pages on data shaped like raw real files rather than the demo: no event types, no Items, a segmentation
version beside ranking ones. Nothing the pages show may read "None" or "nan"."""

from __future__ import annotations

import re

import numpy as np
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
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"reviewer": [f"r{u}" for u in rng.integers(0, 90, n)],
                          "product": [f"p{int(i)}" for i in rng.zipf(1.3, n) % 200],
                          "when": [1_300_000_000 + 3_600 * k for k in range(n)],
                          "stars": rng.integers(1, 6, n)})
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


@pytest.mark.parametrize("page,state", [("train", {}), ("preview", {"preview_user": "r1"})])
def test_tables_show_no_none_on_data_without_event_types(page, state, plays_home, monkeypatch):
    monkeypatch.setenv("RECSYS_HOME", str(plays_home))
    at = run(page, group="plays", **state)
    assert not at.exception, at.exception
    assert at.dataframe, "the page shows no table"
    cells = shown_cells(at)
    assert not [c for c in cells if c in ("None", "nan", "NaN", "<NA>", "NaT")], cells
    long_numbers = [c for c in cells if re.fullmatch(r"-?\d+\.\d{5,}", c)]  # 0.10584491746864022
    assert not long_numbers, long_numbers


def test_a_finished_tuning_run_shows_no_none(plays_home, monkeypatch):
    """The page's default ranges for aws-user-personalization, 2 trials: the best parameters, the ones not
    searched (l2, random_state... unset) and the trials table read without "None"."""
    from recsys import tuning
    from recsys.recipes import REGISTRY

    store = Store(plays_home)
    ranges = tuning.default_ranges(REGISTRY["aws-user-personalization"])
    solutions.create_solution(store, "plays", "up-hpo-1", "aws-user-personalization", perform_hpo=True, hpo_config={
        "hpoResourceConfig": {"maxNumberOfTrainingJobs": "2"}, "algorithmHyperParameterRanges": ranges})
    version = runs.create_solution_version(store, "plays", "up-hpo-1", wait=True)
    assert version.status == "ACTIVE", version.failure_reason
    monkeypatch.setenv("RECSYS_HOME", str(plays_home))
    at = run("tune", group="plays")
    assert not at.exception, at.exception
    texts = [c.value for c in at.caption] + shown_cells(at)
    assert any("not searched" in t for t in texts), texts
    assert not [t for t in texts if "None" in t or t in ("nan", "<NA>")], texts


def test_a_table_with_blanks_serialises_to_arrow_as_is():
    """Streamlit sends tables as Arrow: a column of numbers and blanks must be one type, else every rerun logs
    an ArrowTypeError and Streamlit guesses the types again."""
    import pyarrow as pa

    from pages import common

    frame = pd.DataFrame({"NDCG@10": [0.10584491746864022, None], "users": pd.array([3, None], dtype="Int64"),
                          "count": pd.Series([4, None], dtype=object), "empty": [None, None]})
    shown = common.readable(frame)
    assert list(shown.columns) == ["NDCG@10", "users", "count"]
    assert shown.to_numpy().tolist() == [["0.1058", "3", "4"], ["", "", ""]]
    pa.Table.from_pandas(shown)  # raises ArrowTypeError on a mixed column


def test_a_filter_nothing_passes_says_so(plays_home, monkeypatch):
    monkeypatch.setenv("RECSYS_HOME", str(plays_home))
    at = run("preview", group="plays", preview_user="r1", preview_filter="(type an expression)",
             preview_expression="INCLUDE ItemID WHERE Interactions.EVENT_VALUE > 100")
    assert not at.exception and not at.error, [e.value for e in at.error]
    said = " ".join(str(e.value) for e in [*at.info, *at.warning, *at.caption])
    assert "No item passes" in said, said


def test_an_anonymous_session_gets_recommendations(plays_home, monkeypatch):
    monkeypatch.setenv("RECSYS_HOME", str(plays_home))
    at = run("preview", group="plays", preview_mode="Anonymous session")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert len(at.dataframe[-1].value) == 10


@pytest.mark.parametrize("page", ["data", "train", "preview", "filters"])
def test_an_empty_workspace_speaks_of_the_pages_controls_not_cli_commands(page, empty_env):
    at = run(page)
    assert not at.exception, at.exception
    said = " ".join(str(i.value) for i in at.info)
    assert "Next step" in said and "python -m" not in said, said
