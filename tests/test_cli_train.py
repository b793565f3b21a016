"""The train / metrics / compare / recommend / rank / similar / batch-* commands, run through click's CliRunner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from recsys.cli import main

from test_training import load_small_demo


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli")
    load_small_demo(path)
    return path


def run(home, *args):
    result = CliRunner().invoke(main, ["--home", str(home), *args], catch_exceptions=False)
    return result


def test_train_metrics_recommend_batch_recommend(home, tmp_path):
    result = run(home, "train", "--group", "demo", "--recipe", "aws-user-personalization", "--solution", "up",
                 "--param", "random_state=1")
    assert result.exit_code == 0, result.output
    arn = result.stdout.strip().splitlines()[-1]
    assert arn.startswith("arn:aws:personalize:us-east-1:000000000000:solution/up/")
    assert "refitting on all data" in result.stderr and "Trained in" in result.stderr

    result = run(home, "metrics", "--group", "demo", "--solution", "up", "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["solutionVersionArn"] == arn
    assert 0 <= metrics["metrics"]["normalized_discounted_cumulative_gain_at_10"] <= 1
    text = run(home, "metrics", "--group", "demo", "--solution", "up").stdout
    assert "precision_at_25" in text and "Protocol: Personalize default" in text

    result = run(home, "recommend", "--group", "demo", "--solution", "up", "--user", "u0001", "-n", "5", "--json")
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)["itemList"]
    assert len(items) == 5 and all(0 < i["score"] <= 1 for i in items)

    result = run(home, "rank", "--group", "demo", "--solution", "up", "--user", "u0001",
                 "--items", "i0001,i0002,zzz", "--json")
    assert result.exit_code == 0, result.output
    ranking = json.loads(result.stdout)["personalizedRanking"]
    assert [r["itemId"] for r in ranking][-1] == "zzz" and len(ranking) == 3

    src = tmp_path / "users.jsonl"
    src.write_text('{"userId": "u0001"}\n{"userId": "u0002"}\n')
    result = run(home, "batch-recommend", "--group", "demo", "--solution", "up", "--input", str(src),
                 "--output", str(tmp_path / "out.jsonl"), "--num-results", "3", "--csv", str(tmp_path / "out.csv"),
                 "--item-columns", "CATEGORY_L1")
    assert result.exit_code == 0, result.output
    assert "Wrote 2 lines" in result.stdout
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [len(x["output"]["recommendedItems"]) for x in lines] == [3, 3]
    assert (tmp_path / "out.csv").read_text().splitlines()[0] == "USER_ID,RANK,ITEM_ID,SCORE,CATEGORY_L1"


def test_compare_lists_active_versions_with_the_popularity_baseline(home):
    assert run(home, "train", "-g", "demo", "-r", "aws-popularity-count", "-s", "pop").exit_code == 0
    assert run(home, "train", "-g", "demo", "-r", "aws-user-personalization", "-s", "up-compared").exit_code == 0
    result = run(home, "compare", "--group", "demo")
    assert result.exit_code == 0, result.output
    assert "(baseline)" in result.stdout and "normalized_discounted_cumulative_gain_at_10" in result.stdout
    verdicts = [line for line in result.stdout.splitlines() if " on NDCG@10 " in line]
    assert verdicts and all(" beats " in v or v.strip().startswith("No clear difference") for v in verdicts)
    rows = json.loads(run(home, "compare", "--group", "demo", "--json").stdout)
    assert {r["recipe"] for r in rows} >= {"aws-popularity-count"}


def test_errors_are_one_line_and_non_zero(home):
    result = CliRunner().invoke(main, ["--home", str(home), "train", "-g", "demo", "-r", "aws-user-personalization",
                                       "-s", "bad", "-p", "factors=lots"])
    assert result.exit_code != 0 and "factors" in result.output
    result = CliRunner().invoke(main, ["--home", str(home), "metrics", "-g", "demo", "-s", "nope"])
    assert result.exit_code != 0 and "No solution named 'nope'" in result.output
    result = CliRunner().invoke(main, ["--home", str(home), "train", "-g", "demo", "-s", "new-one"])
    assert result.exit_code != 0 and "--recipe" in result.output


def test_failed_training_exits_non_zero_with_the_reason(home):
    result = CliRunner().invoke(main, ["--home", str(home), "train", "-g", "demo", "-r", "aws-popularity-count",
                                       "-s", "buys", "--event-type", "purchase"])
    assert result.exit_code != 0 and "CREATE FAILED" in result.output and "1,000" in result.output


def test_the_auto_tune_choice_is_stored_with_the_version_and_shown(home):
    """`train --json` carries the choice; it is the same for the same seed, survives a reload of the workspace
    through recsys.solutions, and `metrics` prints it; auto_tune=false and explicit parameters are respected."""
    from recsys import solutions
    from recsys.recipes.auto_tune import choice_lines
    from recsys.store import Store

    reports = []
    for name in ("tuned-a", "tuned-b"):
        result = run(home, "train", "-g", "demo", "-r", "aws-user-personalization", "-s", name,
                     "-p", "random_state=5", "--json")
        assert result.exit_code == 0, result.output
        reports.append(json.loads(result.stdout)["auto_tune"])
    assert reports[0] == reports[1] and reports[0]["auto_tune"] is True and reports[0]["trials"]

    stored = solutions.latest_active_version(Store(home), "demo", "tuned-a").auto_tune
    assert stored == reports[0]
    text = run(home, "metrics", "-g", "demo", "-s", "tuned-a").stdout
    assert "Settings chosen by the recipe:" in text
    for line in choice_lines(stored):
        assert line in text
    assert " vs " in text and "validation NDCG@10" in text
    as_json = json.loads(run(home, "metrics", "-g", "demo", "-s", "tuned-a", "--json").stdout)
    assert as_json["autoTune"] == stored

    result = run(home, "train", "-g", "demo", "-r", "aws-user-personalization", "-s", "untuned",
                 "-p", "auto_tune=false", "-p", "l2=123", "--json")
    assert result.exit_code == 0, result.output
    untuned = json.loads(result.stdout)["auto_tune"]
    assert untuned["auto_tune"] is False and not untuned["trials"] and untuned["settings"]["l2"] == 123.0
    assert "Not auto-tuned (auto_tune=False" in run(home, "metrics", "-g", "demo", "-s", "untuned").stdout
    result = run(home, "train", "-g", "demo", "-r", "aws-user-personalization", "-s", "given-l2",
                 "-p", "l2=77", "-p", "random_state=5", "--json")
    given = json.loads(result.stdout)["auto_tune"]
    assert given["settings"]["l2"] == 77.0 and given["trials"]
    assert not [t for t in given["trials"] if t["stage"] == "l2"]  # given, so not searched

    result = run(home, "train", "-g", "demo", "-r", "aws-popularity-count", "-s", "pop", "--json")
    assert json.loads(result.stdout)["auto_tune"] is None
    assert "Settings chosen" not in run(home, "metrics", "-g", "demo", "-s", "pop").stdout
