"""Solutions and solution versions: lifecycle, minimums, cancellation, artifacts, UPDATE mode, queueing."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recsys import runs, serving, solutions, worker
from recsys.columns import ITEM_ID, TIMESTAMP, USER_ID
from recsys.exceptions import ConflictError, NotFoundError, ValidationError
from recsys.store import ACTIVE, CREATE_FAILED, CREATE_STOPPED, Store

UP = "aws-user-personalization"
POP = "aws-popularity-count"
DEMO_SIZE = dict(seed=7, n_users=300, n_items=150, n_interactions=6000)


def load_small_demo(home, group="demo", **sizes) -> Store:
    """A workspace holding a small demo data set (demo schemas, rows written with datasets.write_frame)."""
    from recsys import datasets
    from recsys.demo import demo_schema, generate_demo

    store = Store(home)
    store.create_dataset_group(group)
    data = generate_demo(**{**DEMO_SIZE, **sizes})
    for dataset_type in ("Interactions", "Items", "Users"):
        datasets.create_dataset(store, group, dataset_type, schema=demo_schema(dataset_type))
    with store.transaction() as db:
        for dataset_type in ("Interactions", "Items", "Users"):
            datasets.write_frame(db, group, dataset_type, data.frame(dataset_type), mode="FULL", source="bulk")
    return store


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A demo workspace with one trained user-personalization version (shared by the tests below)."""
    store = load_small_demo(tmp_path_factory.mktemp("training"))
    solutions.create_solution(store, "demo", "up", UP, params={"random_state": "3"})
    version = runs.create_solution_version(store, "demo", "up", wait=True)
    return store, version


def test_version_becomes_active_with_metrics_seconds_memory_and_counts(demo):
    store, version = demo
    assert version.status == ACTIVE, version.failure_reason
    assert version.arn == f"arn:aws:personalize:us-east-1:000000000000:solution/up/{version.version_id}"
    assert version.name == f"up/{version.version_id}"
    metrics = version.metrics
    for key in ("coverage", "mean_reciprocal_rank_at_25", "normalized_discounted_cumulative_gain_at_10",
                "precision_at_5"):
        assert 0.0 <= metrics[key] <= 1.0
    assert "held out" in version.metrics_protocol
    assert version.training_seconds > 0
    assert version.peak_memory_mb > 10
    snapshot = version.data
    assert snapshot["interactions"] > 5000 and snapshot["users"] > 200 and snapshot["items"] >= 150
    assert snapshot["max_seq"] is None or snapshot["max_seq"] >= snapshot["interactions"]
    assert version.params["random_state"] == 3
    from recsys.evaluation import EvaluationReport

    report = EvaluationReport.from_dict(json.loads(solutions.evaluation_path(store, version).read_text()))
    assert report.metrics["precision_at_5"] == pytest.approx(metrics["precision_at_5"]) and len(report.per_user)
    assert version.progress["percent"] == 100.0
    assert version.recipe == UP and version.recipe_type == "USER_PERSONALIZATION"
    assert solutions.latest_active_version(store, "demo", "up").arn == version.arn
    got = solutions.get_solution_metrics(store, version.arn)
    assert got["solutionVersionArn"] == version.arn and got["metrics"] == metrics


def test_artifact_loads_and_gives_the_same_recommendations_as_a_fresh_fit(demo):
    from recsys.data import load_training_data
    from recsys.recipes import get_recipe

    store, version = demo
    model = serving.load_model(store, version.arn)
    assert serving.load_model(store, version.arn) is model  # cached
    assert (store.artifacts_dir / version.artifact).is_dir()
    fresh = get_recipe(UP)(**version.params).fit(load_training_data(store, "demo"))
    users = ["u0001", "u0002", "u0150"]
    for a, b in zip(model.recommend(users, n=10), fresh.recommend(users, n=10)):
        assert list(a.item_ids) == list(b.item_ids)
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5, atol=1e-9)


def test_below_minimum_fails_with_what_is_missing_and_leaves_no_artifact(tmp_path):
    store = load_small_demo(tmp_path, n_users=40, n_items=30, n_interactions=400)
    solutions.create_solution(store, "demo", "pop", POP)
    version = runs.create_solution_version(store, "demo", "pop", wait=True)
    assert version.status == CREATE_FAILED
    assert "1,000" in version.failure_reason and "interactions" in version.failure_reason
    assert not (store.artifacts_dir / "models" / "demo" / "pop" / version.version_id).exists()
    assert not solutions.evaluation_path(store, version).exists()
    with pytest.raises(NotFoundError, match="no ACTIVE version"):
        solutions.latest_active_version(store, "demo", "pop")


def test_event_type_filter_is_applied_before_the_minimum_check(demo):
    store, _ = demo
    solutions.create_solution(store, "demo", "pop-purchases", POP, event_type="purchase")
    version = runs.create_solution_version(store, "demo", "pop-purchases", wait=True)
    assert version.status == CREATE_FAILED
    assert "eventType='purchase'" in version.failure_reason


def test_cancelling_a_running_training_ends_stopped_without_artifact(demo):
    store, _ = demo
    solutions.create_solution(store, "demo", "pop-cancel", POP)
    stages = []

    def progress(stage, percent, eta):
        stages.append(stage)
        if stage == "fitting" and len(stages) < 50:
            arn = solutions.list_solution_versions(store, "demo", "pop-cancel")[0].arn
            runs.cancel_solution_version(store, arn)

    version = runs.create_solution_version(store, "demo", "pop-cancel", wait=True, progress=progress)
    assert version.status == CREATE_STOPPED
    assert "refitting on all data" not in stages
    assert not (store.artifacts_dir / "models" / "demo" / "pop-cancel" / version.version_id).exists()


def test_background_queue_trains_in_order_and_a_queued_version_can_be_cancelled(demo):
    store, _ = demo
    solutions.create_solution(store, "demo", "pop-queue", POP)
    first = runs.create_solution_version(store, "demo", "pop-queue")
    second = runs.create_solution_version(store, "demo", "pop-queue")
    assert first.status == "CREATE PENDING"
    stopped = runs.cancel_solution_version(store, second.arn)
    assert stopped.status == CREATE_STOPPED
    assert worker.training_queue().join(timeout=60)
    done = solutions.wait_for_version(store, first.arn, timeout=5)
    assert done.status == ACTIVE and done.progress["stage"] == "done"
    assert solutions.get_solution_version(store, second.arn).status == CREATE_STOPPED
    with pytest.raises(ConflictError, match="only a PENDING or IN_PROGRESS"):
        runs.cancel_solution_version(store, first.arn)


def test_update_mode_folds_in_a_new_item_without_full_retrain(demo):
    from recsys import datasets

    store, full = demo
    with store.transaction() as db:
        datasets.write_frame(db, "demo", "Items", pd.DataFrame({
            ITEM_ID: ["i-new"], "PRICE": [9.5], "CATEGORY_L1": ["books"], "CATEGORY_L2": ["books-1"],
            "PRODUCT_DESCRIPTION": ["a new book"], "CREATION_TIMESTAMP": [1_780_000_000]}),
            mode="INCREMENTAL", source="stream")
        datasets.write_frame(db, "demo", "Interactions", pd.DataFrame({
            USER_ID: ["u0001", "u0002", "u0003"], ITEM_ID: ["i-new"] * 3, TIMESTAMP: [1_790_000_000] * 3,
            "EVENT_TYPE": ["view"] * 3, "DEVICE": ["mobile"] * 3}), mode="INCREMENTAL", source="stream")
    version = runs.create_solution_version(store, "demo", "up", training_mode="UPDATE", wait=True)
    assert version.status == ACTIVE, version.failure_reason
    assert version.training_mode == "UPDATE" and version.base_version_arn == full.arn
    assert version.new_items >= 1
    model = serving.load_model(store, version.arn)
    assert "i-new" in set(model.item_ids_.tolist())
    assert "i-new" not in set(serving.load_model(store, full.arn).item_ids_.tolist())
    # the newest ACTIVE version is now the UPDATE one; a FULL base is still found for the next UPDATE
    assert solutions.latest_active_version(store, "demo", "up").arn == version.arn


def test_update_mode_needs_an_active_full_version_and_a_user_personalization_recipe(demo):
    store, _ = demo
    solutions.create_solution(store, "demo", "up-untrained", UP)
    with pytest.raises(ConflictError, match="ACTIVE FULL version"):
        runs.create_solution_version(store, "demo", "up-untrained", training_mode="UPDATE")
    solutions.create_solution(store, "demo", "pop-update", POP)
    with pytest.raises(ValidationError, match="only works for user personalization"):
        runs.create_solution_version(store, "demo", "pop-update", training_mode="UPDATE")


def test_create_solution_validates_recipe_and_params_with_the_fix(demo):
    store, _ = demo
    with pytest.raises(ValidationError, match="Unknown recipe 'aws-nope'.*aws-user-personalization"):
        solutions.create_solution(store, "demo", "bad", "aws-nope")
    with pytest.raises(ValidationError, match="Unknown parameter 'colour'.*use one of"):
        solutions.create_solution(store, "demo", "bad", UP, params={"colour": "red"})
    with pytest.raises(ValidationError, match="random_state"):
        solutions.create_solution(store, "demo", "bad", UP, params={"random_state": "many"})
    with pytest.raises(ValidationError, match="weight"):
        solutions.create_solution(store, "demo", "bad", POP, events_config=[{"eventType": "view", "weight": 2}])
    with pytest.raises(ConflictError):
        solutions.create_solution(store, "demo", "up", UP)
    assert all(s.name != "bad" for s in solutions.list_solutions(store, "demo"))


def test_events_config_keeps_listed_event_types_above_their_thresholds(demo):
    from recsys.data import load_training_data

    store, _ = demo
    data = load_training_data(store, "demo")
    kept, weights = runs.apply_event_filters(data, events_config=[
        {"eventType": "cart", "weight": 0.5}, {"eventType": "purchase", "weight": 1.0},
        {"eventType": "view", "weight": 0.0}])
    assert set(kept.interactions["EVENT_TYPE"]) == {"cart", "purchase"}
    assert weights == {"cart": 0.5, "purchase": 1.0}


def test_delete_solution_removes_versions_and_artifacts(demo):
    store, _ = demo
    solutions.create_solution(store, "demo", "pop-delete", POP)
    version = runs.create_solution_version(store, "demo", "pop-delete", wait=True)
    assert version.status == ACTIVE
    runs.delete_solution(store, "demo", "pop-delete")
    assert not (store.artifacts_dir / "models" / "demo" / "pop-delete").exists()
    with pytest.raises(NotFoundError):
        solutions.get_solution_version(store, version.arn)


def test_hpo_tunes_on_training_data_then_trains_with_the_best_params(demo):
    store, _ = demo
    solutions.create_solution(store, "demo", "up-hpo", UP, params={"random_state": 1}, perform_hpo=True,
                             hpo_config={"max_trials": 2})
    version = runs.create_solution_version(store, "demo", "up-hpo", wait=True)
    assert version.status == ACTIVE, version.failure_reason
    hpo = version.hpo
    assert hpo["max_trials"] == 2 and hpo["objective"] == "normalized_discounted_cumulative_gain_at_10"
    assert "training data only" in hpo["protocol"]
    assert {k: version.params[k] for k in hpo["best_params"]} == hpo["best_params"]
    assert len(hpo["trials"]) == 2 and all("value" in t and "status" in t for t in hpo["trials"])


def test_automl_picks_the_best_recipe_and_trains_it(demo):
    store, _ = demo
    solution = runs.perform_automl(store, "demo", "auto", [POP, UP])
    assert solution.recipe == UP  # the personalised recipe beats the popularity baseline on the demo
    assert [r["recipe"] for r in solution.automl["ranking"]] == [UP, POP]
    assert solutions.latest_active_version(store, "demo", "auto").status == ACTIVE


def test_versions_left_running_by_a_dead_process_are_marked_failed(demo):
    store, _ = demo
    solutions.create_solution(store, "demo", "pop-crash", POP)
    arn = solutions.version_arn(store, "demo", "pop-crash", "deadbeef0001")
    store.create_resource(solutions.SOLUTION_VERSION, "demo", "pop-crash/deadbeef0001",
                          {"solution": "pop-crash", "version_id": "deadbeef0001", "training_mode": "FULL",
                           "owner": {"token": "deadbeef0001"}},  # a process that has ended
                          status="CREATE IN_PROGRESS", arn=arn)
    assert arn in runs.recover_interrupted(store)
    version = solutions.get_solution_version(store, arn)
    assert version.status == CREATE_FAILED and "interrupted" in version.failure_reason
