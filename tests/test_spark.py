"""The Spark engine on a real Spark local[2]: training into the recipes' own artifacts, serving them, batch jobs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.store import Store

ROOT = Path(__file__).resolve().parents[1]
UP = "aws-user-personalization"
# Small ALS so the Spark tests stay quick on 2 cores; both engines get the same parameters.
# auto_tune off and model als: the local engine fits the same untuned ALS that Spark fits.
SMALL_ALS = {"factors": "16", "iterations": "5", "random_state": "3", "model": "als", "auto_tune": "false"}
NO_EXPLORATION = {"itemExplorationConfig": {"explorationWeight": "0", "explorationItemAgeCutOff": "30"}}

# one xdist worker runs this module, so Spark starts once (pytest.ini: --dist loadscope)
pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="session")
def spark():
    """One Spark local[2] session for the whole run; skips with the reason when pyspark or Java is missing."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        pytest.skip("pyspark is not installed: run `make spark` (pip install -r requirements-spark.txt)")
    from recsys.spark.session import SparkUnavailable, get_session

    # the tests' data sets are tiny: 2 shuffle partitions (one per core) instead of 8 spare Spark its task overhead
    os.environ.setdefault("RECSYS_SPARK_SHUFFLE_PARTITIONS", "2")
    try:
        return get_session("local[2]")
    except SparkUnavailable as exc:
        pytest.skip(f"Spark cannot start: {exc}")


class Api:
    """boto3 clients of a real API server on loopback over the module's workspace."""

    def __init__(self, url: str, key: tuple[str, str]):
        import boto3
        from botocore.config import Config

        def client(service):
            return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id=key[0],
                                aws_secret_access_key=key[1],
                                config=Config(retries={"max_attempts": 1, "mode": "standard"}))

        self.personalize, self.runtime = client("personalize"), client("personalize-runtime")

    def wait(self, describe: str, key: str, timeout: float = 240, **arn) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            found = getattr(self.personalize, describe)(**arn)[key]
            if found["status"] in ("ACTIVE", "CREATE FAILED") or time.monotonic() > deadline:
                return found
            time.sleep(0.5)

    def train(self, group_arn: str, name: str, hyper: dict) -> dict:
        """CreateSolution (aws-user-personalization with these algorithmHyperParameters), CreateSolutionVersion,
        then DescribeSolutionVersion until it ends."""
        solution_arn = self.personalize.create_solution(
            name=name, datasetGroupArn=group_arn, recipeArn=f"arn:aws:personalize:::recipe/{UP}",
            solutionConfig={"algorithmHyperParameters": hyper})["solutionArn"]
        arn = self.personalize.create_solution_version(solutionArn=solution_arn)["solutionVersionArn"]
        return self.wait("describe_solution_version", "solutionVersion", solutionVersionArn=arn)


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory, spark):
    """A demo workspace (300 users, 150 items, 6,000 interactions) served on loopback, with a version trained on
    Spark through the control plane ("engine": "spark" in algorithmHyperParameters) and a local one of the same
    solution; yields (store, Spark version, local version, Api)."""
    from recsys import runs, solutions
    from recsys.api import create_app, create_key
    from recsys.api.server import serve_in_background
    from recsys.demo import generate_demo, load_demo, write_demo

    home = tmp_path_factory.mktemp("spark") / "workspace"
    store = Store(home)
    write_demo(home / "demo-files", generate_demo(seed=7, n_users=300, n_items=150, n_interactions=6000))
    load_demo(store, "demo", home / "demo-files", write_if_missing=False)
    with serve_in_background(create_app(store, warm=False)) as url:
        api = Api(url, create_key(store, admin=True))
        trained = api.train(store.get_dataset_group("demo")["arn"], "up",
                            {"engine": "spark", "spark_master": "local[2]", **SMALL_ALS})
        assert trained["status"] == "ACTIVE", trained.get("failureReason")
        spark_version = solutions.get_solution_version(store, trained["solutionVersionArn"])
        local_version = runs.create_solution_version(store, "demo", "up", wait=True, engine="local")
        assert local_version.status == "ACTIVE", local_version.failure_reason
        yield store, spark_version, local_version, api


# -- training ---------------------------------------------------------------------------------------------------


def test_spark_version_records_engine_metrics_and_data_like_a_local_one(demo_store):
    store, spark_version, local_version, _ = demo_store
    engine = spark_version.engine
    assert engine["name"] == "spark" and engine["master"] == "local[2]" and engine["spark_version"].startswith("4.")
    assert local_version.engine is None
    assert set(spark_version.metrics) == set(local_version.metrics)  # Personalize's keys, same protocol
    assert spark_version.metrics_protocol == local_version.metrics_protocol
    for key in ("interactions", "users", "items", "interacted_items", "max_seq", "max_timestamp", "event_types"):
        assert spark_version.data[key] == local_version.data[key], key
    assert 0 < spark_version.metrics["normalized_discounted_cumulative_gain_at_10"] <= 1


def test_spark_artifact_round_trips_with_the_local_recipe_state(demo_store, tmp_path):
    """The adapter's object saves the same fields, dtypes and shapes as a local ALS fit, and loads back unchanged.

    If the recipe's fitted state changes, this test and `recsys.spark.artifacts.user_personalization` show it.
    """
    from recsys.recipes import load_recipe
    from recsys.solutions import read_model

    store, spark_version, local_version, _ = demo_store
    spark_dir = store.artifacts_dir / spark_version.artifact
    local_dir = store.artifacts_dir / local_version.artifact
    spark_meta = json.loads((spark_dir / "params.json").read_text())
    local_meta = json.loads((local_dir / "params.json").read_text())
    assert spark_meta["kinds"] == local_meta["kinds"]
    assert spark_meta["state"]["model_kind_"] == local_meta["state"]["model_kind_"] == "als"
    with np.load(spark_dir / "arrays.npz") as s, np.load(local_dir / "arrays.npz") as loc:
        for key in loc.files:
            assert s[key].dtype == loc[key].dtype, key
            assert s[key].shape[1:] == loc[key].shape[1:], key
        assert np.array_equal(s["hist_indptr_"], loc["hist_indptr_"])  # same users, same histories
        assert np.array_equal(s["hist_items_"], loc["hist_items_"])
        assert np.array_equal(s["counts_"], loc["counts_"])
    model = read_model(store, spark_version)
    again = load_recipe(model.save(tmp_path / "copy"))
    users = list(model.user_ids_[:20]) + ["never-seen"]
    first, second = model.recommend(users, n=10), again.recommend(users, n=10)
    assert [list(r.item_ids) for r in first] == [list(r.item_ids) for r in second]
    assert all(len(r.item_ids) == 10 for r in first)
    np.testing.assert_allclose(model.score_users(users).sum(axis=1), 1.0, rtol=1e-9)


@pytest.mark.parametrize("recipe", ["aws-popularity-count", "aws-trending-now", "aws-sims"])
def test_counting_recipes_on_spark_equal_the_local_fit(demo_store, recipe, spark, tmp_path):
    from recsys.data import load_training_data
    from recsys.recipes import get_recipe
    from recsys.spark.source import load
    from recsys.spark.train import fit_recipe

    store = demo_store[0]
    params = {"trend_discovery_frequency": "1 day"} if recipe == "aws-trending-now" else {}
    data = load(spark, store, "demo", tmp_path)
    on_spark = fit_recipe(spark, recipe, data.interactions, data, params, {}, tmp_path, "t")
    local = get_recipe(recipe)(**params).fit(load_training_data(store, "demo"))
    assert list(on_spark.item_ids_) == list(local.item_ids_)
    assert np.array_equal(on_spark.counts_ if hasattr(local, "counts_") else on_spark.total_,
                          local.counts_ if hasattr(local, "counts_") else local.total_)
    if recipe == "aws-sims":
        assert on_spark.similarity_.nnz > 0
        assert abs(on_spark.similarity_ - local.similarity_).max() < 1e-6
        query = list(local.item_ids_[:10])
        assert [list(r.item_ids) for r in on_spark.similar_items(query, n=10)] == \
               [list(r.item_ids) for r in local.similar_items(query, n=10)]
    else:
        users = list(local.user_ids_[:10])
        assert [list(r.item_ids) for r in on_spark.recommend(users, n=10)] == \
               [list(r.item_ids) for r in local.recommend(users, n=10)]


def test_event_weights_on_spark_equal_the_recipes_and_recency_halves_confidence(spark):
    from recsys.recipes.user_personalization import UserPersonalization
    from recsys.spark.train import W, with_event_weights

    day = 86_400
    events = pd.DataFrame({"USER_ID": ["u1"] * 5, "ITEM_ID": ["a", "b", "c", "d", "e"],
                           "TIMESTAMP": [0, 10 * day, 20 * day, 30 * day, 40 * day],
                           "EVENT_TYPE": ["purchase", "view", "cart", None, "share"],
                           "EVENT_VALUE": [3.0, float("nan"), 0.0, 2.0, None]})
    weights = {"purchase": 3.0, "view": 0.5, "*": 2.0}
    recipe = UserPersonalization(event_weights=weights, use_event_value=True)
    expected = recipe._event_weights(events)
    frame = spark.createDataFrame(events.astype({"EVENT_TYPE": object}))
    got = with_event_weights(frame, weights, True).orderBy("TIMESTAMP").toPandas()[W].to_numpy()
    np.testing.assert_allclose(got, expected)
    decayed = with_event_weights(frame, weights, True, recency_half_life_days=10, t_max=40 * day)
    ratio = decayed.orderBy("TIMESTAMP").toPandas()[W].to_numpy() / expected
    np.testing.assert_allclose(ratio, [1 / 16, 1 / 8, 1 / 4, 1 / 2, 1])


# -- serving ------------------------------------------------------------------------------------------------------


def test_control_plane_trains_on_spark_from_algorithm_hyperparameters_and_serves_it(demo_store):
    """boto3 end to end: the fixture's version was trained on Spark through CreateSolution's "engine": "spark"; a
    campaign on it answers GetRecommendations (with a filter and metadata); an unknown engine is refused at
    CreateSolution, and a Spark failure is the version's CREATE FAILED with Spark's reason."""
    from botocore.exceptions import ClientError

    from recsys.filters import create_filter
    from recsys.serving import get_recommendations

    store, spark_version, _, api = demo_store
    assert spark_version.engine["name"] == "spark" and spark_version.engine["master"] == "local[2]"
    metrics = api.personalize.get_solution_metrics(solutionVersionArn=spark_version.arn)["metrics"]
    assert 0 < metrics["normalized_discounted_cumulative_gain_at_10"] <= 1
    books = create_filter(store, "demo", "books", 'INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("books")')
    campaign_arn = api.personalize.create_campaign(name="spark-main", solutionVersionArn=spark_version.arn,
                                                   campaignConfig=NO_EXPLORATION)["campaignArn"]
    assert api.wait("describe_campaign", "campaign", campaignArn=campaign_arn)["status"] == "ACTIVE"
    response = api.runtime.get_recommendations(campaignArn=campaign_arn, userId="u0002", numResults=10)
    filtered = api.runtime.get_recommendations(campaignArn=campaign_arn, userId="u0002", numResults=5,
                                               filterArn=books.arn, metadataColumns={"ITEMS": ["CATEGORY_L1"]})
    items = response["itemList"]
    assert len(items) == 10 and all(0 < i["score"] <= 1 for i in items)
    direct = get_recommendations(store, campaign_arn, user_id="u0002", num_results=10)
    assert [i["itemId"] for i in items] == [i["itemId"] for i in direct["itemList"]]
    assert len(filtered["itemList"]) == 5
    assert all("books" in i["metadata"]["CATEGORY_L1"].split("|") for i in filtered["itemList"])

    group_arn = store.get_dataset_group("demo")["arn"]
    with pytest.raises(ClientError, match="Unknown engine 'gpu'"):
        api.train(group_arn, "up-gpu", {"engine": "gpu"})
    failed = api.train(group_arn, "up-bad", {"engine": "spark", "spark_source": "/nowhere/interactions.parquet"})
    assert failed["status"] == "CREATE FAILED"
    assert "Spark training" in failed["failureReason"] and "/nowhere/interactions.parquet" in failed["failureReason"]


# -- batch --------------------------------------------------------------------------------------------------------


def test_spark_batch_job_equals_the_local_job_with_items_and_interaction_filters(demo_store, tmp_path):
    from recsys.filters import create_filter
    from recsys.serving import create_batch_inference_job
    from recsys.spark import batch_inference

    store, spark_version, _, _ = demo_store
    flt = create_filter(store, "demo", "no-books-no-seen",
                        'EXCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("books") | '
                        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")')
    lines = [json.dumps({"userId": f"u{i:04d}"}) for i in range(0, 300, 2)]
    lines += ["{not json", "", json.dumps({"userId": "someone-new"}), json.dumps({"itemId": "no user"})]
    source = tmp_path / "users.jsonl"
    source.write_text("\n".join(lines) + "\n")
    jobs = {}
    for engine, run in (("local", create_batch_inference_job), ("spark", batch_inference)):
        jobs[engine] = run(store, "demo", f"job-{engine}", spark_version.arn, source, tmp_path / f"{engine}.jsonl",
                           num_results=10, filter_arn=flt.arn, csv_path=tmp_path / f"{engine}.csv")
        assert jobs[engine].status == "ACTIVE"
    outputs = {e: [json.loads(x) for x in (tmp_path / f"{e}.jsonl").read_text().splitlines()] for e in jobs}
    assert len(outputs["spark"]) == len(outputs["local"]) == len(lines) - 1  # the blank line is skipped
    assert [r["input"] for r in outputs["spark"]] == [r["input"] for r in outputs["local"]]
    assert outputs["spark"] == outputs["local"]
    assert (tmp_path / "spark.csv").read_text() == (tmp_path / "local.csv").read_text()
    assert jobs["spark"].lines_failed == jobs["local"].lines_failed == 2
    assert len(pd.read_csv(tmp_path / "spark.csv", dtype=str)) == 151 * 10  # 150 users + one unknown user
    from recsys.datasets import read_interactions, read_items

    books = set(read_items(store, "demo").query("CATEGORY_L1.str.contains('books')")["ITEM_ID"])
    seen = read_interactions(store, "demo").groupby("USER_ID")["ITEM_ID"].agg(set)
    for record in outputs["spark"][:150]:
        recommended = set(record["output"]["recommendedItems"])
        assert len(recommended) == 10 and not recommended & books
        assert not recommended & seen.get(record["input"]["userId"], set())


# -- failures -----------------------------------------------------------------------------------------------------


def test_a_bad_source_path_ends_the_version_create_failed_with_the_reason(demo_store, tmp_path):
    from recsys import runs

    store = demo_store[0]
    missing = tmp_path / "nowhere" / "interactions.parquet"
    version = runs.create_solution_version(store, "demo", "up", wait=True,
                                           engine={"name": "spark", "source": str(missing)})
    assert version.status == "CREATE FAILED"
    assert "Spark training" in version.failure_reason and "nowhere" in version.failure_reason
    assert not (store.artifacts_dir / "models" / "demo" / "up" / version.version_id).exists()


def test_a_killed_spark_process_ends_the_version_create_failed_with_the_reason(demo_store, tmp_path):
    """The Spark JVM (driver and executors of local[2]) is killed with SIGKILL in the middle of training."""
    import psutil

    from recsys import solutions

    store = demo_store[0]
    env = {**os.environ, "RECSYS_HOME": str(store.home), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "recsys", "train", "--group", "demo", "--solution", "up",
                             "--engine", "spark", "--spark-master", "local[2]"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        killed = None
        while killed is None and time.monotonic() < deadline and proc.poll() is None:
            running = [v for v in solutions.list_solution_versions(store, "demo", "up")
                       if v.status == "CREATE IN_PROGRESS"]
            stage = (running[0].progress or {}).get("stage") if running else None
            jvms = [p for p in psutil.Process(proc.pid).children(recursive=True) if "java" in p.name()]
            if stage in ("splitting", "fitting", "evaluating") and jvms:
                for jvm in jvms:
                    jvm.kill()
                killed = running[0].arn
            time.sleep(0.2)
        assert killed, "the training never reached a Spark stage"
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    version = solutions.get_solution_version(store, killed)
    assert version.status == "CREATE FAILED"
    assert version.failure_reason.startswith("Spark training of")
    assert "CREATE FAILED" in stderr


# -- ml-100k: Spark's ALS against the local ALS path ---------------------------------------------------------------


def test_ndcg_on_ml100k_is_within_10_percent_of_the_local_als_path(shared_datasets, spark, tmp_path):
    from recsys import runs, solutions
    from recsys.ingest import import_file

    store = Store(tmp_path / "workspace")
    store.create_dataset_group("ml")
    import_file(store, "ml", "Interactions", shared_datasets / "ml-100k" / "u.data", header=False,
                column_map={"0": "USER_ID", "1": "ITEM_ID", "2": "EVENT_VALUE", "3": "TIMESTAMP"})
    params = {"factors": "32", "iterations": "10", "random_state": "0", "model": "als", "auto_tune": "false"}
    solutions.create_solution(store, "ml", "als", UP, params=params)
    key = "normalized_discounted_cumulative_gain_at_10"
    ndcg = {}
    for engine in ("local", "spark"):
        version = runs.create_solution_version(store, "ml", "als", wait=True, engine=engine)
        assert version.status == "ACTIVE", version.failure_reason
        ndcg[engine] = version.metrics[key]
        protocol = version.metrics_protocol
        assert "94 users" in protocol
    assert ndcg["spark"] >= 0.9 * ndcg["local"], ndcg



def test_train_page_queues_a_spark_version(demo_store, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from recsys import solutions

    store = demo_store[0]
    monkeypatch.setenv("RECSYS_HOME", str(store.home))
    at = AppTest.from_file(str(ROOT / "pages" / "train.py"), default_timeout=120)
    at.session_state["group"] = "demo"
    at.run()
    at.multiselect(key="train_recipes").set_value(["aws-popularity-count"])
    at.selectbox(key="train_engine").set_value("spark")
    at.text_input(key="train_spark_master").set_value("local[2]")
    at.button[0].click().run()
    assert not at.exception, at.exception
    queued = solutions.list_solution_versions(store, "demo", "popularity-count")
    assert queued and queued[0].engine["name"] == "spark" and queued[0].engine["master"] == "local[2]"
    assert solutions.wait_for_version(store, queued[0].arn, timeout=300).status == "ACTIVE"


def test_spark_batch_segment_job_equals_the_local_job(demo_store, tmp_path):
    from click.testing import CliRunner

    from recsys import runs, solutions
    from recsys.cli import main
    from recsys.serving import create_batch_segment_job

    store = demo_store[0]
    solutions.create_solution(store, "demo", "affinity", "aws-item-affinity")
    version = runs.create_solution_version(store, "demo", "affinity", wait=True, engine="local")
    lines = [json.dumps({"itemId": f"i{i:04d}"}) for i in range(0, 150, 5)] + [json.dumps({"itemId": "unknown"})]
    source = tmp_path / "items.jsonl"
    source.write_text("\n".join(lines) + "\n")
    local_job = create_batch_segment_job(store, "demo", "seg-local", version.arn, source, tmp_path / "local.jsonl",
                                         num_results=20, csv_path=tmp_path / "local.csv")
    result = CliRunner().invoke(main, ["--home", str(store.home), "batch-segment", "--group", "demo", "--solution",
                                       "affinity", "--input", str(source), "--output", str(tmp_path / "spark.jsonl"),
                                       "--num-results", "20", "--csv", str(tmp_path / "spark.csv"), "--engine",
                                       "spark", "--job-name", "seg-spark", "--json"])
    assert result.exit_code == 0, result.output
    job = json.loads(result.output)
    assert job["status"] == "ACTIVE" and job["engine"]["name"] == "spark"
    assert job["lines_done"] == local_job.lines_done == len(lines)
    assert job["lines_failed"] == local_job.lines_failed >= 1, (job, local_job)
    assert (tmp_path / "spark.jsonl").read_text() == (tmp_path / "local.jsonl").read_text()
    assert (tmp_path / "spark.csv").read_text() == (tmp_path / "local.csv").read_text()
