"""Every workbench page runs without exception on an empty workspace and on the demo data; main widgets work."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]

PAGES = ["home", "data", "train", "compare", "tune", "preview", "filters", "segments_batch", "campaigns_events"]
TIMEOUT = 120


def run(page: str, **state) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=TIMEOUT)
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


@pytest.mark.parametrize("page", PAGES)
def test_page_on_empty_workspace_says_what_to_do(page, empty_env):
    at = run(page)
    assert not at.exception, at.exception
    text = " ".join(str(i.value) for i in at.info)
    assert "Next step" in text or page == "data", text


def test_app_frame_runs_with_navigation(empty_env):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception


@pytest.mark.parametrize("page", PAGES)
def test_page_on_demo_workspace(page, demo_env):
    at = run(page, group="demo")
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def test_home_shows_counts_and_next_step(demo_env):
    at = run("home", group="demo")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Interactions"] != "0" and int(metrics["Trained versions"]) >= 3
    assert any("Next step" in i.value for i in at.info)


def test_home_loads_demo_into_empty_workspace(empty_env, monkeypatch, tmp_path):
    from recsys import workspace

    calls = []
    monkeypatch.setattr(workspace, "load_demo_workspace", lambda store: calls.append(store) or {})
    at = run("home")
    at.button(key="home_load_demo").click().run()
    assert calls, "the button must load the demo data"


def test_filters_page_validates_live_and_points_at_the_error(demo_env):
    at = run("filters", group="demo")
    at.text_area(key="filters_expression").set_value("EXCLUDE ItemID WHERE Items.PRICE INN (1)").run()
    assert at.error and "INN" in at.error[0].value
    assert any("^" in c.value and "INN" in c.value for c in at.code)
    at.text_area(key="filters_expression").set_value('INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ($CAT)').run()
    assert any("$CAT" in s.value for s in at.success)


def test_preview_shows_history_and_explained_recommendations(demo_env):
    at = run("preview", group="demo")
    assert not at.exception
    frames = [df.value for df in at.dataframe]
    recommendations = frames[-1]
    assert len(recommendations) == 10 and recommendations["why"].str.len().gt(0).all()


def test_compare_page_shows_metrics_table(demo_env):
    at = run("compare", group="demo")
    summary = at.dataframe[0].value
    assert "NDCG@10" in summary.columns and len(summary) >= 2


def test_cached_reads_follow_new_data(tmp_path, monkeypatch):
    """Pages cache their reads per data version: a new event shows up on the next rerun of the same session."""
    from recsys import queries, workspace
    from recsys.demo import load_demo, write_demo
    from recsys.store import Store

    store = Store(tmp_path / "ws")
    write_demo(tmp_path / "files", seed=4, n_users=40, n_items=20, n_interactions=1_000)
    load_demo(store, "shop", tmp_path / "files")
    monkeypatch.setenv("RECSYS_HOME", str(store.home))

    def interactions(at):
        return {m.label: m.value for m in at.metric}["Interactions"]

    home, data = run("home", group="shop"), run("data", group="shop")
    before = interactions(home)
    assert interactions(data) == before
    device = queries.context_options(store, "shop")["DEVICE"][0]
    workspace.record_event(store, "shop", "u0001", "i0001", "view", {"DEVICE": device})
    after = f"{int(before.replace(',', '')) + 1:,}"
    assert interactions(home.run()) == after
    assert interactions(data.run()) == after


def test_event_simulator_sees_a_new_event_type_at_once(demo_env):
    from recsys import queries, workspace
    from recsys.store import Store

    at = run("campaigns_events", group="demo")
    assert "wishlist" not in at.selectbox(key="campaigns_sim_type").options
    store = Store(demo_env)
    device = queries.context_options(store, "demo")["DEVICE"][0]
    workspace.record_event(store, "demo", "u0001", "i0001", "wishlist", {"DEVICE": device})
    at.run()
    assert not at.exception
    assert "wishlist" in at.selectbox(key="campaigns_sim_type").options


def test_home_counts_distinct_users_of_the_interactions_without_a_users_dataset(tmp_path, monkeypatch):
    """A group with interactions only (no Users dataset) has as many users as distinct USER_IDs."""
    import pandas as pd

    from recsys import ingest
    from recsys.store import Store

    store = Store(tmp_path / "ws")
    store.create_dataset_group("retail")
    rows = pd.DataFrame({"USER_ID": [f"c{i % 37}" for i in range(500)], "ITEM_ID": [f"s{i % 23}" for i in range(500)],
                         "TIMESTAMP": range(1_600_000_000, 1_600_000_500)})
    rows.to_csv(tmp_path / "retail.csv", index=False)
    ingest.import_file(store, "retail", "Interactions", tmp_path / "retail.csv")
    monkeypatch.setenv("RECSYS_HOME", str(store.home))
    metrics = {m.label: m.value for m in run("home", group="retail").metric}
    assert (metrics["Users"], metrics["Items"], metrics["Interactions"]) == ("37", "23", "500")


def test_train_page_names_recipes_labels_parameters_and_keeps_settings_per_solution(tmp_path, monkeypatch):
    """Recipes by description, parameters in words; changed parameters make a new solution, not a silent reuse."""
    from recsys import solutions
    from recsys.store import Store
    from recsys.worker import training_queue
    from tests.app import states

    home = tmp_path / "ws"
    states.popularity_only(home)
    monkeypatch.setenv("RECSYS_HOME", str(home))
    at = run("train", group="shop")
    picker = at.multiselect(key="train_recipes")
    assert "aws-sims · Frequently bought together (ECOMMERCE)" in picker.options
    at.multiselect(key="train_recipes").set_value(["aws-sims"]).run()
    assert any("Frequently bought together" in c.value for c in at.caption)
    labels = [n.label for n in at.number_input]
    assert "Popularity discount factor" in labels and "Min cointeraction count" not in labels
    assert "Minimum cointeraction count" in labels
    at.button[0].click().run()  # the form's submit button
    assert not at.exception, at.exception
    at.number_input(key="train_aws-sims_min_cointeraction_count").set_value(5)
    at.button[0].click().run()
    assert training_queue().join(timeout=120)
    sims = {s.name: s.params for s in solutions.list_solutions(Store(home), "shop") if s.recipe == "aws-sims"}
    assert sims == {"sims": {}, "sims-2": {"min_cointeraction_count": 5}}


def test_home_says_why_the_only_import_failed(tmp_path, monkeypatch):
    from tests.app import states

    home = tmp_path / "ws"
    group = states.failed_import(home)
    monkeypatch.setenv("RECSYS_HOME", str(home))
    at = run("home", group=group)
    assert not at.exception, at.exception
    step = next(i.value for i in at.info if "Next step" in i.value)
    assert "The last import failed" in step and "rejected" in step, step
