"""Batch inference and batch segment jobs: exact JSON-lines shapes per recipe type, errors, resume, CSVs, filters."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from recsys import runs, serving, solutions
from recsys.serving import batch
from recsys.exceptions import ConflictError, ValidationError
from recsys.store import ACTIVE, CREATE_FAILED

from test_training import load_small_demo

RECIPES = {
    "up": "aws-user-personalization",
    "pop": "aws-popularity-count",
    "sims": "aws-sims",
    "ranking": "aws-personalized-ranking",
    "affinity": "aws-item-affinity",
    "attribute-affinity": "aws-item-attribute-affinity",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A demo workspace with one ACTIVE version per recipe type the tests need (missing recipes skipped)."""
    from recsys.recipes import REGISTRY

    home = tmp_path_factory.mktemp("batch")
    store = load_small_demo(home)
    arns = {}
    for solution, recipe in RECIPES.items():
        if recipe not in REGISTRY:
            continue
        solutions.create_solution(store, "demo", solution, recipe)
        version = runs.create_solution_version(store, "demo", solution, wait=True)
        assert version.status == ACTIVE, version.failure_reason
        arns[solution] = version.arn
    return store, arns, home


def need(arns, solution):
    if solution not in arns:
        pytest.skip(f"recipe {RECIPES[solution]} is not registered yet")
    return arns[solution]


def write_lines(path, lines):
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def read_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_user_personalization_lines_have_items_scores_and_null_error(demo, tmp_path):
    store, arns, _ = demo
    arn = need(arns, "up")
    src = write_lines(tmp_path / "in.jsonl", [{"userId": "u0001"}, {"userId": "u0002"}, {"userId": "never-seen"}])
    job = batch.create_batch_inference_job(store, "demo", "up-job", arn, src, tmp_path / "out.jsonl", num_results=7)
    assert job.status == ACTIVE and job.lines_done == 3 and job.lines_failed == 0
    out = read_lines(tmp_path / "out.jsonl")
    assert [list(r) for r in out] == [["input", "output", "error"]] * 3
    assert out[0]["input"] == {"userId": "u0001"} and out[0]["error"] is None
    assert list(out[0]["output"]) == ["recommendedItems", "scores"]
    assert len(out[0]["output"]["recommendedItems"]) == 7 == len(out[0]["output"]["scores"])
    assert out[0]["output"]["scores"] == sorted(out[0]["output"]["scores"], reverse=True)
    assert len(out[2]["output"]["recommendedItems"]) == 7  # a cold user gets popular items, not an error
    # the same answer as the model itself gives without its built-in exploration bonus (the job's
    # explorationWeight is 0, and a campaign's exploration config replaces the recipe's own)
    model = serving.load_model(store, arn)
    logits = model.logits_without_exploration(["u0002"])[0]
    assert out[1]["output"]["recommendedItems"] == list(model.item_ids_[np.argsort(-logits, kind="stable")[:7]])


def test_popularity_lines_have_no_scores(demo, tmp_path):
    store, arns, _ = demo
    src = write_lines(tmp_path / "in.jsonl", [{"userId": "12"}])
    batch.create_batch_inference_job(store, "demo", "pop-job", arns["pop"], src, tmp_path / "out.jsonl", num_results=3)
    (line,) = read_lines(tmp_path / "out.jsonl")
    assert line == {"input": {"userId": "12"}, "output": {"recommendedItems": line["output"]["recommendedItems"]}}
    assert len(line["output"]["recommendedItems"]) == 3


def test_a_bad_line_gets_an_error_and_the_job_continues(demo, tmp_path):
    store, arns, _ = demo
    src = write_lines(tmp_path / "in.jsonl", [{"userId": "u0001"}, "{not json", {"user": "x"}, "",
                                              ["a", "list"], {"userId": "u0003"}])
    job = batch.create_batch_inference_job(store, "demo", "bad-lines", arns["pop"], src, tmp_path / "out.jsonl",
                                           num_results=2)
    out = read_lines(tmp_path / "out.jsonl")
    assert job.lines_done == 5 and job.lines_failed == 3  # the blank line is skipped
    assert out[1]["input"] == "{not json" and out[1]["output"] is None and "Invalid JSON" in out[1]["error"]
    assert 'Missing or invalid "userId"' in out[2]["error"]
    assert "JSON object" in out[3]["error"]
    assert out[4]["input"] == {"userId": "u0003"} and len(out[4]["output"]["recommendedItems"]) == 2


def test_resume_after_an_interrupted_job_gives_the_same_output(demo, tmp_path):
    store, arns, _ = demo
    src = write_lines(tmp_path / "in.jsonl", [{"userId": f"u{i:04d}"} for i in range(1, 41)])
    whole = tmp_path / "whole.jsonl"
    batch.create_batch_inference_job(store, "demo", "whole", arns["pop"], src, whole, num_results=5, chunk_size=7)

    class Interrupt(Exception):
        pass

    def stop_after_two_chunks(done, total):
        if done >= 14:
            raise Interrupt

    out = tmp_path / "resumed.jsonl"
    with pytest.raises(Interrupt):
        batch.create_batch_inference_job(store, "demo", "resumable", arns["pop"], src, out, num_results=5,
                                         chunk_size=7, progress=stop_after_two_chunks)
    partial = batch.work_dir(store, batch.BATCH_INFERENCE_JOB, "demo", "resumable") / batch.WORK_OUTPUT
    assert not out.exists() and len(partial.read_text().splitlines()) == 14
    assert store.get_resource(batch.BATCH_INFERENCE_JOB, "demo", "resumable")["status"] == CREATE_FAILED
    with pytest.raises(ConflictError, match="num_results differ"):
        batch.create_batch_inference_job(store, "demo", "resumable", arns["pop"], src, out, num_results=6)
    with open(partial, "a") as fh:  # a half-written line, as a kill mid-write leaves
        fh.write('{"input": {"userId": "u00')
    job = batch.create_batch_inference_job(store, "demo", "resumable", arns["pop"], src, out, num_results=5,
                                           chunk_size=7)
    assert job.status == ACTIVE and job.resumed_from == 14 and job.lines_done == 40
    assert out.read_text() == whole.read_text() and not partial.exists()
    with pytest.raises(ConflictError, match="pick another job name"):
        batch.create_batch_inference_job(store, "demo", "resumable", arns["pop"], src, out)


def test_csv_has_marketing_columns_with_item_metadata(demo, tmp_path):
    store, arns, _ = demo
    arn = arns.get("up", arns["pop"])
    src = write_lines(tmp_path / "in.jsonl", [{"userId": "u0001"}, {"userId": "u0002"}, "oops"])
    job = batch.create_batch_inference_job(store, "demo", "csv-job", arn, src, tmp_path / "out.jsonl", num_results=4,
                                           csv_path=tmp_path / "out.csv", item_columns=["CATEGORY_L1", "PRICE"])
    rows = list(csv.DictReader(open(tmp_path / "out.csv")))
    assert list(rows[0]) == ["USER_ID", "RANK", "ITEM_ID", "SCORE", "CATEGORY_L1", "PRICE"]
    assert job.csv_rows == len(rows) == 8
    assert [r["RANK"] for r in rows[:4]] == ["1", "2", "3", "4"] and rows[0]["USER_ID"] == "u0001"
    assert all(r["CATEGORY_L1"] for r in rows)
    with pytest.raises(ValidationError, match="Unknown Items column"):
        batch.create_batch_inference_job(store, "demo", "csv-bad", arn, src, tmp_path / "o2.jsonl",
                                         csv_path=tmp_path / "o2.csv", item_columns=["NOPE"])


def test_filter_with_per_line_filter_values(demo, tmp_path):
    from recsys.filters import create_filter
    from recsys.datasets import read_items

    store, arns, _ = demo
    flt = create_filter(store, "demo", "by-category", "INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ($CAT)")
    src = write_lines(tmp_path / "in.jsonl", [
        {"userId": "u0001", "filterValues": {"CAT": '"books"'}},
        {"userId": "u0002", "filterValues": {"CAT": '"toys","beauty"'}},
        {"userId": "u0003"},
    ])
    batch.create_batch_inference_job(store, "demo", "filtered", arns["pop"], src, tmp_path / "out.jsonl",
                                     num_results=5, filter_arn=flt.arn)
    out = read_lines(tmp_path / "out.jsonl")
    category = dict(zip(*(read_items(store, "demo")[c].astype(str) for c in ("ITEM_ID", "CATEGORY_L1"))))
    assert out[0]["output"]["recommendedItems"] and all(
        "books" in category[i].split("|") for i in out[0]["output"]["recommendedItems"])
    assert all(set(category[i].split("|")) & {"toys", "beauty"} for i in out[1]["output"]["recommendedItems"])
    assert out[2]["output"] is None and "CAT" in out[2]["error"]  # an INCLUDE parameter is required


def test_personalized_ranking_ranks_the_input_list(demo, tmp_path):
    store, arns, _ = demo
    arn = need(arns, "ranking")
    src = write_lines(tmp_path / "in.jsonl", [{"userId": "u0001", "itemList": ["i0003", "i0050", "unknown", "i0102"]},
                                              {"userId": "u0001"}])
    batch.create_batch_inference_job(store, "demo", "rank", arn, src, tmp_path / "out.jsonl")
    first, second = read_lines(tmp_path / "out.jsonl")
    assert list(first) == ["input", "output", "error"] and first["error"] is None
    items, scores = first["output"]["recommendedItems"], first["output"]["scores"]
    assert sorted(items) == sorted(["i0003", "i0050", "unknown", "i0102"]) and items[-1] == "unknown"
    assert abs(sum(scores) - 1.0) < 1e-4 and scores[:3] == sorted(scores[:3], reverse=True)
    assert "itemList" in second["error"]


def test_related_items_lines(demo, tmp_path):
    store, arns, _ = demo
    arn = need(arns, "sims")
    src = write_lines(tmp_path / "in.jsonl", [{"itemId": "i0005"}, {"userId": "u1"}])
    batch.create_batch_inference_job(store, "demo", "sims", arn, src, tmp_path / "out.jsonl", num_results=3,
                                     csv_path=tmp_path / "out.csv")
    first, second = read_lines(tmp_path / "out.jsonl")
    assert first == {"input": {"itemId": "i0005"}, "output": {"recommendedItems": first["output"]["recommendedItems"]}}
    assert len(first["output"]["recommendedItems"]) == 3 and "i0005" not in first["output"]["recommendedItems"]
    assert '"itemId"' in second["error"]
    assert next(csv.reader(open(tmp_path / "out.csv"))) == ["SOURCE_ITEM_ID", "RANK", "ITEM_ID", "SCORE"]


def test_batch_segment_job_and_user_csv(demo, tmp_path):
    store, arns, _ = demo
    arn = need(arns, "affinity")
    src = write_lines(tmp_path / "in.jsonl", [{"itemId": "i0005"}, {"itemId": "i0006"}, {"itemId": "no-such-item"},
                                              {"itemAttributes": 'ITEMS.CATEGORY_L1 = "books"'}])
    job = batch.create_batch_segment_job(store, "demo", "segments", arn, src, tmp_path / "out.jsonl", num_results=10,
                                         csv_path=tmp_path / "users.csv", user_columns=["MEMBERSHIP", "COUNTRY"])
    out = read_lines(tmp_path / "out.jsonl")
    users = out[0]["output"]["recommendedUsers"]
    assert out[0] == {"input": {"itemId": "i0005"}, "output": {"recommendedUsers": users}}
    assert len(users) == 10 == len(set(users)) and all(u.startswith("u") for u in users)
    assert "not in the training data" in out[2]["error"]
    assert "aws-item-attribute-affinity" in out[3]["error"]
    assert job.lines_failed == 2
    rows = list(csv.DictReader(open(tmp_path / "users.csv")))
    assert list(rows[0]) == ["SEGMENT", "RANK", "USER_ID", "MEMBERSHIP", "COUNTRY"] and len(rows) == 20
    assert rows[0]["SEGMENT"] == "i0005" and rows[0]["USER_ID"] == users[0] and rows[0]["MEMBERSHIP"] in ("free", "prime")


def test_item_attribute_segments(demo, tmp_path):
    store, arns, _ = demo
    arn = need(arns, "attribute-affinity")
    query = 'ITEMS.CATEGORY_L1 = "books"'
    src = write_lines(tmp_path / "in.jsonl", [{"itemAttributes": query}, {"itemAttributes": "ITEMS.CATEGORY_L1 IN (1)"}])
    batch.create_batch_segment_job(store, "demo", "attr-segments", arn, src, tmp_path / "out.jsonl", num_results=5)
    first, second = read_lines(tmp_path / "out.jsonl")
    assert first["input"] == {"itemAttributes": query} and len(first["output"]["recommendedUsers"]) == 5
    assert second["output"] is None and second["error"]


def test_segment_job_refuses_a_non_segmentation_version(demo, tmp_path):
    store, arns, _ = demo
    src = write_lines(tmp_path / "in.jsonl", [{"itemId": "i0005"}])
    with pytest.raises(ValidationError, match="USER_SEGMENTATION"):
        batch.create_batch_segment_job(store, "demo", "seg-bad", arns["pop"], src, tmp_path / "out.jsonl")
