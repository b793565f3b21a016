"""A seeded monkey: random clicks, choices and typing on every page of the workbench, on two real data sets
imported as a user would (samples of the raw UCI Online Retail file and of MovieLens 100k), with no exception and
no unexpected-error box after any step."""

from __future__ import annotations

import math
import os
import random
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from pages import common
from recsys import ingest, runs, solutions
from recsys.exceptions import ImportFailed
from recsys.store import Store
from recsys.worker import training_queue
from tests.app.test_state_matrix import FRAME, PAGES, unexpected
from tests.conftest import SHARED_DATASETS

DATASETS = Path(os.environ.get("RECSYS_SHARED_DATASETS", SHARED_DATASETS))
STEPS = 150            # per data set
SAMPLE_ROWS = 6_000    # of each file: enough for every page to have content, small enough to stay fast
# Buttons the monkey leaves alone, and why: loading the demo imports 100,000 events and trains three models.
SKIPPED_BUTTONS = {"home_load_demo"}
TEXTS = ["", " ", "0", "-1", "3.5", "abc", "u1", "17850", "ÄÖü 漢字 😀", "'; DROP TABLE resources; --",
         "x" * 300,
         'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")', "INCLUDE ItemID WHERE Items.PRICE < 10",
         "EXCLUDE ItemID WHERE", '{"userId": "1"}']

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_home(tmp_path_factory):
    """Two groups imported from samples of real files as a user would, with trained versions and a tuning run."""
    if not DATASETS.is_dir():
        pytest.skip(f"real data sets not found at {DATASETS}")
    home = tmp_path_factory.mktemp("monkey")
    store = Store(home)

    retail = home / "online_retail_sample.csv"
    pd.read_csv(DATASETS / "online-retail" / "online_retail.csv.gz", nrows=SAMPLE_ROWS, dtype=str).to_csv(
        retail, index=False)
    store.create_dataset_group("retail")
    mapping = {"CustomerID": "USER_ID", "StockCode": "ITEM_ID", "InvoiceDate": "TIMESTAMP", "Quantity": "EVENT_VALUE"}
    try:  # the first try fails as it does for every new user of this file: a quarter of the rows have no customer
        ingest.import_file(store, "retail", "Interactions", retail, column_map=mapping, date_columns=["InvoiceDate"])
    except ImportFailed:
        pass
    ingest.import_file(store, "retail", "Interactions", retail, column_map=mapping, date_columns=["InvoiceDate"],
                       max_rejected_fraction=0.5)
    items = pd.read_csv(retail, dtype=str)[["StockCode", "Description", "UnitPrice"]].drop_duplicates("StockCode")
    items.rename(columns={"StockCode": "ITEM_ID", "Description": "DESCRIPTION", "UnitPrice": "PRICE"}).to_csv(
        home / "retail_items.csv", index=False)
    ingest.import_file(store, "retail", "Items", home / "retail_items.csv")

    movies = home / "u_data_sample.tsv"
    pd.read_csv(DATASETS / "ml-100k" / "u.data", sep="\t", header=None, nrows=SAMPLE_ROWS).to_csv(
        movies, sep="\t", header=False, index=False)
    store.create_dataset_group("movies")
    ingest.import_file(store, "movies", "Interactions", movies, header=False,
                       column_map={"0": "USER_ID", "1": "ITEM_ID", "2": "EVENT_VALUE", "3": "TIMESTAMP"})

    for group in ("retail", "movies"):
        for solution, recipe in (("popularity", "aws-popularity-count"), ("sims", "aws-sims"),
                                 ("personalization", "aws-user-personalization")):
            name = store.name_for(solutions.SOLUTION, group, solution)  # names are unique per workspace
            solutions.create_solution(store, group, name, recipe)
            runs.create_solution_version(store, group, name, wait=True)
    solutions.create_solution(store, "movies", "sims-hpo-1", "aws-sims", perform_hpo=True,
                              hpo_config={"hpoResourceConfig": {"maxNumberOfTrainingJobs": "2"}})
    runs.create_solution_version(store, "movies", "sims-hpo-1", wait=True)
    return home


def _identity_options(widget) -> bool:
    """Whether a widget's options are its values (then they can be set by value)."""
    try:
        return all(str(widget.format_func(o)) == o for o in widget.options)
    except Exception:  # noqa: BLE001 - a format_func that only takes the raw values
        return False


def _number(rng: random.Random, low, high, integer: bool):
    low = -1_000 if low is None or not math.isfinite(low) else low
    high = 1_000_000 if high is None or not math.isfinite(high) else high
    if rng.random() < 0.3:
        value = rng.choice([low, high])
    else:
        value = rng.uniform(low, min(high, low + 1_000))
    return int(round(value)) if integer else value


def poke(at: AppTest, rng: random.Random) -> str | None:
    """Do one random thing a user could do on the current page; returns what it did (None: nothing to do)."""
    candidates = []
    candidates += [("button", b) for b in at.button if b.key not in SKIPPED_BUTTONS and not b.disabled]
    candidates += [("checkbox", c) for c in at.checkbox if not c.disabled]
    candidates += [("toggle", t) for t in at.toggle if not t.disabled]
    # The sidebar's group picker is on every page: pick it now and then, not on most steps of a quiet page.
    candidates += [("selectbox", s) for s in at.selectbox if s.options and not s.disabled
                   and (s.key != common.GROUP_KEY or rng.random() < 0.2)]
    candidates += [("multiselect", m) for m in at.multiselect if not m.disabled]
    candidates += [("radio", r) for r in at.radio if r.options and not r.disabled and _identity_options(r)]
    candidates += [("slider", s) for s in at.slider if not s.disabled]
    candidates += [("number", n) for n in at.number_input if not n.disabled]
    candidates += [("text", t) for t in [*at.text_input, *at.text_area] if not t.disabled]
    if not candidates:
        return None
    kind, widget = rng.choice(candidates)
    label = f"{kind} {widget.key or widget.label!r}"
    if kind == "button":
        widget.click()
    elif kind in ("checkbox", "toggle"):
        widget.set_value(not widget.value)
    elif kind == "selectbox":
        index = rng.randrange(len(widget.options))
        widget.select_index(index)
        label += f" -> {widget.options[index]!r}"
    elif kind == "multiselect":
        if _identity_options(widget) and widget.options:
            chosen = rng.sample(widget.options, rng.randint(0, min(3, len(widget.options))))
        else:  # options shown through a format_func: drop some of the current choices
            chosen = [v for v in widget.value if rng.random() < 0.5]
        widget.set_value(chosen)
        label += f" -> {chosen!r}"
    elif kind == "radio":
        widget.set_value(rng.choice(widget.options))
    elif kind == "slider":
        if isinstance(widget.value, (int, float)):
            integer = isinstance(widget.value, int)
            value = _number(rng, widget.min, widget.max, integer)
            if not integer and widget.step:
                value = round(widget.min + round((value - widget.min) / widget.step) * widget.step, 10)
            widget.set_value(min(max(value, widget.min), widget.max))
        else:
            return None  # date or range sliders
    elif kind == "number":
        integer = isinstance(widget.value, int) or (widget.step and float(widget.step).is_integer()
                                                     and isinstance(widget.step, int))
        widget.set_value(_number(rng, widget.min, widget.max, integer))
        label += f" -> {widget.value!r}"
    else:
        widget.input(rng.choice(TEXTS))
        label += f" -> {widget.value!r}"
    return label


@pytest.mark.parametrize("group, seed", [("retail", 11), ("movies", 12)])
def test_random_clicks_on_every_page_raise_nothing(real_home, group, seed, monkeypatch):
    monkeypatch.setenv("RECSYS_HOME", str(real_home))
    rng = random.Random(seed)
    at = AppTest.from_file(str(FRAME), default_timeout=120)
    at.session_state[common.GROUP_KEY] = group
    at.run()
    history = []
    page = "home"
    for step in range(STEPS):
        if step % (STEPS // len(PAGES)) == 0 or rng.random() < 0.05:
            page = PAGES[(step // (STEPS // len(PAGES))) % len(PAGES)] if rng.random() < 0.8 else rng.choice(PAGES)
            at.switch_page(f"../../pages/{page}.py")
            history.append(f"{step}: go to {page}")
        else:
            action = poke(at, rng)
            history.append(f"{step}: {page}: {action}")
        at.run()
        problems = unexpected(at)
        assert not problems, "\n".join(history[-8:]) + "\n" + "\n".join(problems)
    if os.environ.get("MONKEY_LOG"):
        print("\n".join(history))
    assert training_queue().join(timeout=300)
