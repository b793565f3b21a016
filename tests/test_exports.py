"""Campaign-ready exports: segment CSVs with names, scores and user attributes that leave out existing buyers (a
UserID filter on the job), batch CSVs with names, batch input from a CSV of user ids."""

from __future__ import annotations

import csv
import json

import pytest

from recsys import datasets, display, runs, solutions, workspace
from recsys.exceptions import ValidationError
from recsys.filters import create_filter
from recsys.serving import batch
from recsys.store import ACTIVE

from test_training import load_small_demo


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    store = load_small_demo(tmp_path_factory.mktemp("exports"))
    arns = {}
    for solution, recipe in (("affinity", "aws-item-affinity"), ("pop", "aws-popularity-count")):
        solutions.create_solution(store, "demo", solution, recipe)
        version = runs.create_solution_version(store, "demo", solution, wait=True)
        assert version.status == ACTIVE, version.failure_reason
        arns[solution] = version.arn
    return store, arns


def lines(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def buyers(store, item):
    frame = datasets.read_interactions(store, "demo", columns=["USER_ID", "ITEM_ID"])
    return set(frame.loc[frame["ITEM_ID"] == item, "USER_ID"])


def test_segments_leave_out_users_who_already_interacted_and_stay_full(shop, tmp_path):
    store, arns = shop
    item = datasets.read_interactions(store, "demo", columns=["ITEM_ID"])["ITEM_ID"].value_counts().index[0]
    had = buyers(store, item)
    src = lines(tmp_path / "in.jsonl", [{"itemId": item}])
    plain = batch.create_batch_segment_job(store, "demo", "plain", arns["affinity"], src, tmp_path / "a.jsonl",
                                           num_results=40)
    assert plain.status == ACTIVE
    before = json.loads((tmp_path / "a.jsonl").read_text())["output"]["recommendedUsers"]
    assert set(before) & had  # the model does rank existing buyers high: the option matters
    batch.create_batch_segment_job(store, "demo", "fresh", arns["affinity"], src, tmp_path / "b.jsonl",
                                   num_results=40, exclude_interacted=True, csv_path=tmp_path / "b.csv",
                                   user_columns=["MEMBERSHIP"], with_names=True, with_scores=True)
    after = json.loads((tmp_path / "b.jsonl").read_text())["output"]
    assert len(after["recommendedUsers"]) == 40 and not set(after["recommendedUsers"]) & had
    assert after["recommendedUsers"] == [u for u in after["recommendedUsers"] if u not in had]
    assert after["scores"] == sorted(after["scores"], reverse=True)
    rows = list(csv.DictReader(open(tmp_path / "b.csv")))
    assert list(rows[0]) == ["SEGMENT", "ITEM_NAME", "RANK", "USER_ID", "SCORE", "MEMBERSHIP"]
    assert rows[0]["ITEM_NAME"] == display.item_names(store, "demo", [item])[item] != ""
    assert [r["USER_ID"] for r in rows] == after["recommendedUsers"] and float(rows[0]["SCORE"]) > 0


def test_segments_take_a_userid_filter_with_line_values(shop, tmp_path):
    store, arns = shop
    flt = create_filter(store, "demo", "members-only", "INCLUDE UserID WHERE Users.MEMBERSHIP IN ($TIER)")
    src = lines(tmp_path / "in.jsonl", [{"itemId": "i0005", "filterValues": {"TIER": '"prime"'}}])
    batch.create_batch_segment_job(store, "demo", "prime", arns["affinity"], src, tmp_path / "out.jsonl",
                                   num_results=15, filter_arn=flt.arn, csv_path=tmp_path / "out.csv",
                                   user_columns=["MEMBERSHIP"])
    rows = list(csv.DictReader(open(tmp_path / "out.csv")))
    assert len(rows) == 15 and {r["MEMBERSHIP"] for r in rows} == {"prime"}
    items_filter = create_filter(store, "demo", "no-books", 'EXCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("books")')
    with pytest.raises(ValidationError, match="UserID"):
        batch.create_batch_segment_job(store, "demo", "wrong", arns["affinity"], src, tmp_path / "x.jsonl",
                                       filter_arn=items_filter.arn)


def test_batch_csv_names_items(shop, tmp_path):
    store, arns = shop
    src = workspace.write_batch_input(store, "demo", "users", user_ids=workspace.user_ids_from_csv(
        "CustomerID,Country\nu0001,UK\nu0002,FR\nu0001,UK\n"))
    batch.create_batch_inference_job(store, "demo", "named", arns["pop"], src, tmp_path / "out.jsonl",
                                     num_results=3, csv_path=tmp_path / "out.csv", with_names=True)
    rows = list(csv.DictReader(open(tmp_path / "out.csv")))
    assert list(rows[0])[:5] == ["USER_ID", "RANK", "ITEM_ID", "ITEM_NAME", "SCORE"]
    assert [r["USER_ID"] for r in rows] == ["u0001"] * 3 + ["u0002"] * 3
    names = display.item_names(store, "demo", [r["ITEM_ID"] for r in rows])
    assert all(r["ITEM_NAME"] == names[r["ITEM_ID"]] for r in rows)


def test_user_lists_come_from_any_csv_shape():
    assert workspace.user_ids_from_csv("CustomerID;Country\n17850;UK\n13047;UK\n17850;UK\n") == ["17850", "13047"]
    assert workspace.user_ids_from_csv("17850\n\n13047\n") == ["17850", "13047"]
    assert workspace.user_ids_from_csv("USER_ID\nu1\n") == ["u1"]
    with pytest.raises(ValidationError, match="empty"):
        workspace.user_ids_from_csv("\n\n")


def test_all_users_include_users_without_events(shop):
    store, _ = shop
    everyone = workspace.all_user_ids(store, "demo")
    users = datasets.read_users(store, "demo")["USER_ID"]
    assert set(users) <= set(everyone) and len(everyone) == len(set(everyone))


def test_cli_segments_leave_out_buyers_and_name_items(shop, tmp_path):
    from click.testing import CliRunner

    from recsys.cli import main

    store, _ = shop
    item = datasets.read_interactions(store, "demo", columns=["ITEM_ID"])["ITEM_ID"].value_counts().index[0]
    src = lines(tmp_path / "in.jsonl", [{"itemId": item}])
    result = CliRunner().invoke(main, ["--home", str(store.home), "batch-segment", "--group", "demo", "--solution",
                                       "affinity", "--input", str(src), "--output", str(tmp_path / "out.jsonl"),
                                       "--csv", str(tmp_path / "out.csv"), "--num-results", "30",
                                       "--exclude-interacted", "--names"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(open(tmp_path / "out.csv")))
    assert len(rows) == 30 and rows[0]["ITEM_NAME"] and not {r["USER_ID"] for r in rows} & buyers(store, item)
