"""The Tune page and the tuning helpers behind it: valid defaults, a failure's reason, live status, Cancel, chart,
promotion of the best parameters, and no second run from a double submission."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from recsys import solutions, tuning, workspace
from recsys.exceptions import ConflictError, ValidationError
from recsys.recipes import REGISTRY
from recsys.store import Store
from recsys.worker import training_queue
from tests.app import states

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 120


@pytest.fixture(scope="module")
def tuned_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("tuned")
    states.tuning_jobs(home)
    return home


def tune_page(home, monkeypatch) -> AppTest:
    monkeypatch.setenv("RECSYS_HOME", str(home))
    at = AppTest.from_file(str(ROOT / "pages" / "tune.py"), default_timeout=TIMEOUT)
    at.session_state["group"] = "shop"
    return at.run()


@pytest.mark.parametrize("recipe", sorted(n for n, c in REGISTRY.items() if any(i.hpo for i in c.param_info.values())))
def test_default_ranges_are_valid_for_every_tunable_recipe(recipe):
    ranges = tuning.default_ranges(recipe)
    space = tuning.check_hpo_config(recipe, {"algorithmHyperParameterRanges": ranges})
    for d in space.dimensions:
        assert not d.log or d.low > 0, d


def test_a_log_range_from_zero_is_refused_before_anything_starts(tmp_path):
    store = Store(tmp_path)
    store.create_dataset_group("g")
    ranges = {"continuousHyperParameterRanges": [{"name": "regularization", "minValue": 0, "maxValue": 1}]}
    with pytest.raises(ValidationError, match="logarithmic scale needs minValue > 0"):
        workspace.start_tuning(store, "g", "aws-user-personalization", {"algorithmHyperParameterRanges": ranges})
    assert solutions.list_solutions(store, "g") == []


def test_the_same_settings_are_not_started_twice_while_a_run_is_going(tmp_path):
    store = Store(tmp_path)
    store.create_dataset_group("g")
    config = {"hpoResourceConfig": {"maxNumberOfTrainingJobs": "2"},
              "algorithmHyperParameterRanges": tuning.default_ranges("aws-sims")}
    solutions.create_solution(store, "g", "sims-hpo-1", "aws-sims", perform_hpo=True, hpo_config=config)
    solutions.new_solution_version(store, "g", "sims-hpo-1")  # queued, as a first submission leaves it
    with pytest.raises(ConflictError, match="already running"):
        workspace.start_tuning(store, "g", "aws-sims", config)
    assert [s.name for s in solutions.list_solutions(store, "g")] == ["sims-hpo-1"]


def test_live_summary_counts_trials_and_names_the_best_so_far(tmp_path):
    from tests.test_training import load_small_demo
    from recsys.data import load_training_data

    store = load_small_demo(tmp_path)
    summaries = []
    tuning.tune("aws-sims", load_training_data(store, "demo"), max_trials=3, on_summary=summaries.append)
    assert [s["done"] for s in summaries] == [1, 2, 3]
    last = summaries[-1]
    assert last["text"] == f"trial 3 of 3, best NDCG@10 so far {last['best_value']:.3f}"
    assert len(last["trials"]) == 3 and last["best_value"] == max(t["value"] for t in last["trials"])


def test_page_shows_failure_reason_chart_and_best_parameters(tuned_home, monkeypatch):
    at = tune_page(tuned_home, monkeypatch)
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert any("Tuning failed" in e and "logarithmic scale needs minValue > 0" in e for e in errors), errors
    trials = at.dataframe[0].value
    assert list(trials["trial"]) == [1, 2] and "Popularity discount factor" in trials.columns
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    assert any("Stopped before it finished" in i.value for i in at.info)


def test_promote_best_trains_the_best_parameters_once(tuned_home, monkeypatch):
    at = tune_page(tuned_home, monkeypatch)
    promote = [b for b in at.button if (b.key or "").startswith("tune_promote_")]
    assert len(promote) == 1  # only the finished run can be promoted
    promote[0].click().run()
    assert not at.exception, at.exception
    store = Store(tuned_home)
    assert training_queue().join(timeout=120)
    best = solutions.get_solution(store, "shop", "sims-hpo-1-best")
    tuned = solutions.list_solution_versions(store, "shop", "sims-hpo-1")[0]
    assert best.params == tuned.hpo["best_params"] and not best.perform_hpo
    assert solutions.list_solution_versions(store, "shop", "sims-hpo-1-best")[0].status == "ACTIVE"
    again = workspace.promote_best(store, tuned.arn)
    assert again.solution == "sims-hpo-1-best"
    assert len(solutions.list_solution_versions(store, "shop", "sims-hpo-1-best")) == 1
    at.run()
    assert any("Promoted" in s.value for s in at.success)


def test_a_running_tuning_shows_its_trials_live_and_can_be_cancelled(tmp_path, monkeypatch):
    store = Store(tmp_path)
    store.create_dataset_group("shop")
    solutions.create_solution(store, "shop", "sims-hpo-1", "aws-sims", perform_hpo=True,
                              hpo_config={"algorithmHyperParameterRanges": tuning.default_ranges("aws-sims")})
    version = solutions.new_solution_version(store, "shop", "sims-hpo-1")
    # What the worker writes after the first trial (runs._tune passes tune's on_summary to the version's body).
    trial = {"trial": 0, "phase": "default", "params": {"popularity_discount_factor": 0.5}, "value": 0.1071,
             "metrics": {"normalized_discounted_cumulative_gain_at_10": 0.1071}, "seconds": 2.0,
             "status": "COMPLETED", "error": None}
    live = tuning.trials_summary([trial], "normalized_discounted_cumulative_gain_at_10", 8)
    store.update_resource(solutions.SOLUTION_VERSION, "shop", version.name, body={"hpo": live})
    at = tune_page(tmp_path, monkeypatch)
    assert at.get("progress")[0].proto.text == "trial 1 of 8, best NDCG@10 so far 0.107"
    assert list(at.dataframe[0].value["trial"]) == [1]
    at.button(key=f"tune_cancel_{version.name}").click().run()
    assert not at.exception, at.exception
    assert solutions.get_solution_version(store, version.arn).status == "CREATE STOPPED"
