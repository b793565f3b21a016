"""What a new user meets on raw files of other domains than retail: the data warnings (what they flag must be
there, what they leave alone a product or a person) and the CLI's words around recovery, filters and campaigns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from recsys import cleaning, uploads
from recsys.ingest import import_file
from recsys.profile import data_warnings, profile_group


def test_a_user_id_that_stands_for_every_anonymous_visitor_is_flagged():
    # 200 ordinary users with 3 to 8 events, and "NA" with as many events as all of them together.
    rows = [(f"u{u}", f"i{(u * 7 + k) % 50}") for u in range(200) for k in range(3 + u % 6)]
    rows += [("NA", f"i{k % 50}") for k in range(len(rows))]
    frame = pd.DataFrame(rows, columns=["USER_ID", "ITEM_ID"]).assign(TIMESTAMP=range(len(rows)))
    found = cleaning.placeholder_users(frame)
    assert [u["userId"] for u in found] == ["NA"] and abs(found[0]["share"] - 0.5) < 1e-9
    warning = next(w for w in data_warnings(frame) if w["kind"] == "placeholder_user")
    assert "'NA'" in warning["message"] and "exclusion rule" in warning["message"]


def test_a_heavy_but_real_user_is_not_a_placeholder():
    # One very active user (3% of the events) among many: a power user, not a placeholder.
    rows = [(f"u{u}", f"i{(u + k) % 30}") for u in range(300) for k in range(10)]
    rows += [("power", f"i{k % 30}") for k in range(90)]
    frame = pd.DataFrame(rows, columns=["USER_ID", "ITEM_ID"]).assign(TIMESTAMP=range(len(rows)))
    assert cleaning.placeholder_users(frame) == []


def test_diginetica_user_ids_warn_of_the_anonymous_na(store, shared_datasets):
    """Imported as a user would guess it (user_id, item_id, eventdate), 7,681 of 12,391 views belong to "NA"."""
    path = shared_datasets / "diginetica-sample" / "sample_train-item-views.csv"
    mapping = uploads.guess_mapping(uploads.preview(path), ["USER_ID", "ITEM_ID", "TIMESTAMP"])
    store.create_dataset_group("views")
    import_file(store, "views", "Interactions", path, column_map=mapping, date_columns=["eventdate"])
    warnings = profile_group(store, "views")["warnings"]
    assert [(w["userId"], w["count"]) for w in warnings if w["kind"] == "placeholder_user"] == [("NA", 7_681)]


def test_a_product_code_of_another_numbering_is_not_a_fee():
    """Amazon ids are ASINs ("B0002E1G5C") except books' ISBNs ("1384719342", a pop filter): same length, so a
    product; a short word among them ("POST") is still flagged."""
    ids = [f"B{k:04d}E{k % 7}G5C" for k in range(400)] + ["1384719342", "POST"]
    assert set(cleaning.rare_id_shapes(ids)) == {"POST"}


def test_amazon_reviews_have_no_suspect_items(store, shared_datasets):
    path = shared_datasets / "amazon-musical-instruments-5core" / "Musical_Instruments.json"
    store.create_dataset_group("music")
    import_file(store, "music", "Interactions", path, column_map={
        "reviewerID": "USER_ID", "asin": "ITEM_ID", "overall": "EVENT_VALUE", "unixReviewTime": "TIMESTAMP"})
    assert profile_group(store, "music")["warnings"] == []


def test_the_cli_says_once_what_it_recovered(store, tmp_path):
    """A training whose process was killed: the next CLI command ends it and says so on one line, not twice."""
    import os
    import subprocess
    import sys

    from recsys import solutions
    from recsys.store import CREATE_IN_PROGRESS

    store.create_dataset_group("g")
    solutions.create_solution(store, "g", "pop", "aws-popularity-count")
    version = solutions.new_solution_version(store, "g", "pop")
    store.update_resource(solutions.SOLUTION_VERSION, "g", version.name, status=CREATE_IN_PROGRESS,
                          body={"owner": {"token": "deadbeef0001", "pid": 0, "host": "x"}})
    done = subprocess.run([sys.executable, "-m", "recsys", "--home", str(store.home), "datasets", "-g", "g"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert done.stderr.count("Recovered the workspace: 1 interrupted training(s) ended") == 1, done.stderr
    assert solutions.get_solution_version(store, version.arn).status == "CREATE FAILED"


def test_a_training_queued_when_its_process_died_says_so_in_words(store):
    """Two trainings queued in the workbench, the server killed with kill -9: "stopped while it was queued",
    not "stopped during queued"."""
    from recsys import solutions
    from recsys.recovery import recover
    from recsys.store import CREATE_PENDING

    store.create_dataset_group("g")
    solutions.create_solution(store, "g", "pop", "aws-popularity-count")
    version = solutions.new_solution_version(store, "g", "pop")
    store.update_resource(solutions.SOLUTION_VERSION, "g", version.name, status=CREATE_PENDING,
                          body={"owner": {"token": "deadbeef0002", "pid": 0, "host": "x"}})
    assert recover(store).versions == [version.arn]
    reason = solutions.get_solution_version(store, version.arn).failure_reason
    assert "stopped (killed or crashed) while it was queued; nothing was kept" in reason, reason


def test_the_cli_says_when_a_filter_leaves_nothing(store, tmp_path):
    """get-recommendations through a filter nothing passes printed only a recommendationId."""
    from click.testing import CliRunner

    from recsys import campaigns, filters, runs, solutions
    from recsys.cli import main

    path = tmp_path / "plays.csv"
    path.write_text("USER_ID,ITEM_ID,TIMESTAMP\n" + "".join(f"u{k % 40},i{k % 37},{k}\n" for k in range(1_200)))
    store.create_dataset_group("g")
    import_file(store, "g", "Interactions", path)
    solutions.create_solution(store, "g", "pop", "aws-popularity-count")
    version = runs.create_solution_version(store, "g", "pop", wait=True)
    assert version.status == "ACTIVE", version.failure_reason
    campaigns.create_campaign(store, "g", "main", version.arn)
    filters.create_filter(store, "g", "none", "INCLUDE ItemID WHERE Interactions.EVENT_VALUE > 100")
    result = CliRunner().invoke(main, ["--home", str(store.home), "get-recommendations", "-g", "g", "-c", "main",
                                       "-u", "u1", "--filter", "none"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "No item passes" in result.output and "recommendationId: RID-" in result.output


def test_a_missing_version_error_names_a_command_that_exists(store):
    """Deploying a solution's name instead of a version ARN pointed at `python -m recsys versions`, which does
    not exist."""
    import re

    import pytest
    from click.testing import CliRunner

    from recsys import campaigns
    from recsys.cli import main
    from recsys.exceptions import NotFoundError

    store.create_dataset_group("g")
    with pytest.raises(NotFoundError) as missing:
        campaigns.create_campaign(store, "g", "main", "pop")
    command = re.search(r"`python -m recsys (.+?)`", str(missing.value)).group(1).split()
    result = CliRunner().invoke(main, ["--home", str(store.home), *command])
    assert result.exit_code == 0, result.output
