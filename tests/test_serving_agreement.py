"""Batch jobs and real-time requests answer through one pipeline: a batch line is the real-time answer.

For every recipe type served in real time (user personalization, popularity count, trending now, personalized
ranking, related items), a batch job's output line equals what GetRecommendations / GetPersonalizedRanking
answers for the same user or item, campaign state (config, filter, events put after training) and
recommendationId (`line_recommendation_id`), in items and scores. Segmentation has no real-time answer; its
batch jobs are covered by test_batch.py.
"""

from __future__ import annotations

import json

import pytest

from recsys import runs, solutions
from recsys.demo import DEFAULT_NOW
from recsys.events import create_event_tracker, put_events
from recsys.filters import create_filter
from recsys.serving import get_personalized_ranking, get_recommendations
from recsys.serving.batch import BATCH_INFERENCE_JOB, create_batch_inference_job, line_recommendation_id
from recsys.store import ACTIVE

from test_training import load_small_demo

RECIPES = {"up": "aws-user-personalization", "pop": "aws-popularity-count", "trending": "aws-trending-now",
           "ranking": "aws-personalized-ranking", "sims": "aws-sims"}
EXPLORE = {"itemExplorationConfig": {"explorationWeight": "0.4", "explorationItemAgeCutOff": "60"}}
USERS = ["u0001", "u0002", "u0003", "u0004", "u0005", "u0006", "u0007", "never-seen"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    store = load_small_demo(tmp_path_factory.mktemp("agreement"))
    versions = {}
    for solution, recipe in RECIPES.items():
        solutions.create_solution(store, "demo", solution, recipe)
        version = runs.create_solution_version(store, "demo", solution, wait=True)
        assert version.status == ACTIVE, version.failure_reason
        versions[solution] = version.arn
    by_category = create_filter(store, "demo", "not-in", "EXCLUDE ItemID WHERE Items.CATEGORY_L1 IN ($CAT)").arn
    not_bought = create_filter(store, "demo", "not-bought",
                               'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")').arn
    tracker = create_event_tracker(store, "demo", "web")["trackingId"]
    events = [{"eventType": "purchase" if k % 3 == 0 else "view", "sentAt": DEFAULT_NOW + 60 + k,
               "itemId": f"i{k + 40:04d}", "eventId": f"e{k}", "properties": json.dumps({"device": "mobile"})}
              for k in range(8)]
    put_events(store, tracker, "s-u0003", "u0003", events)  # newer than every model: folded in at serving
    return {"store": store, "versions": versions, "by_category": by_category, "not_bought": not_bought}


def run_job(world, tmp_path, solution, lines, **options) -> tuple[str, list[dict]]:
    name = f"agree-{solution}-{len(options)}"
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    create_batch_inference_job(world["store"], "demo", name, world["versions"][solution], source,
                               tmp_path / "out.jsonl", chunk_size=3, **options)
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    return world["store"].arn(BATCH_INFERENCE_JOB, "demo", name), out


def assert_same(record: dict, answer: list[dict], scored: bool) -> None:
    assert record["output"]["recommendedItems"] == [item["itemId"] for item in answer]
    if scored:
        assert record["output"]["scores"] == [item.get("score") for item in answer]
    else:
        assert "scores" not in record["output"] and all("score" not in item for item in answer)


@pytest.mark.parametrize("solution", ["up", "pop", "trending"])
@pytest.mark.parametrize("filtered", [False, True])
def test_user_lines_are_real_time_recommendations(world, tmp_path, solution, filtered):
    store, arn = world["store"], world["versions"][solution]
    values = {"CAT": '"books","toys"'}
    lines = [{"userId": u, **({"filterValues": values} if filtered else {})} for u in USERS]
    options = {"filter_arn": world["by_category"]} if filtered else {}
    job_arn, out = run_job(world, tmp_path, solution, lines, num_results=12, job_config=EXPLORE, **options)
    reasons = set()
    for k, (user, record) in enumerate(zip(USERS, out)):
        answer = get_recommendations(store, arn, user_id=user, num_results=12, campaign_config=EXPLORE,
                                     filter_arn=options.get("filter_arn"), filter_values=values if filtered else None,
                                     recommendation_id=line_recommendation_id(job_arn, k))["itemList"]
        assert_same(record, answer, scored=solution == "up")
        reasons.update(reason for item in answer for reason in item["reason"])
    if solution == "up":
        assert "Exploration" in reasons, "the exploration draws were compared too"


def test_ranking_lines_are_real_time_rankings_with_unknown_items_kept(world, tmp_path):
    store, arn = world["store"], world["versions"]["ranking"]
    lists = [[f"i{k + j:04d}" for j in range(1, 15)] + ["ghost", f"i{k + 1:04d}"] for k in range(len(USERS))]
    lines = [{"userId": u, "itemList": items} for u, items in zip(USERS, lists)]
    job_arn, out = run_job(world, tmp_path, "ranking", lines, filter_arn=world["not_bought"])
    for k, (user, items, record) in enumerate(zip(USERS, lists, out)):
        answer = get_personalized_ranking(store, arn, user_id=user, input_list=items, filter_arn=world["not_bought"],
                                          recommendation_id=line_recommendation_id(job_arn, k))
        assert_same(record, answer["personalizedRanking"], scored=True)
        assert record["output"]["recommendedItems"][-1] == "ghost"  # kept under a filter, as in real time


def test_related_item_lines_are_real_time_related_items(world, tmp_path):
    store, arn = world["store"], world["versions"]["sims"]
    items = ["i0001", "i0002", "i0030", "i0077", "no-such-item"]
    job_arn, out = run_job(world, tmp_path, "sims", [{"itemId": i} for i in items], num_results=9)
    for k, (item, record) in enumerate(zip(items, out)):
        answer = get_recommendations(store, arn, item_id=item, num_results=9,
                                     recommendation_id=line_recommendation_id(job_arn, k))["itemList"]
        assert_same(record, answer, scored=False)
    assert len(out[-1]["output"]["recommendedItems"]) == 9  # an unknown item gets popular items, not an error
