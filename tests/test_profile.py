"""Tests of the data profile: known answers on a tiny hand-made group, minimums messages, speed, CLI."""

import json
import time

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from recsys.cli import main
from recsys.profile import check_minimums, profile

DAY = 86_400


@pytest.fixture
def tiny():
    interactions = pd.DataFrame({
        "USER_ID": ["u1", "u1", "u1", "u2", "u2", "u3"],
        "ITEM_ID": ["i1", "i2", "i1", "i1", "i3", "i1"],
        "TIMESTAMP": [0, 10, DAY, 2 * DAY, 2 * DAY + 5, 2 * DAY + 6],
        "EVENT_TYPE": ["view", "view", "purchase", "view", "view", "view"],
        "EVENT_VALUE": [np.nan, np.nan, 9.5, np.nan, np.nan, np.nan],
    })
    items = pd.DataFrame({
        "ITEM_ID": ["i1", "i2", "i3", "i4"],
        "CATEGORY": ["a|b", "a", "c", None],
        "PRICE": [1.0, 2.0, 3.0, 4.0],
    })
    users = pd.DataFrame({"USER_ID": ["u1", "u2", "u3", "u4"], "TIER": ["x", "y", "", "x"]})
    return interactions, items, users


def test_known_answers_on_a_tiny_group(tiny):
    p = profile(*tiny)
    json.dumps(p)                                                   # JSON-serialisable as is
    inter = p["interactions"]
    assert (inter["rows"], inter["users"], inter["items"]) == (6, 3, 3)
    assert inter["unique_user_item_pairs"] == 5
    assert inter["sparsity"] == pytest.approx(1 - 5 / 16)           # 4 users x 4 items in the tables
    assert inter["event_types"] == {"view": 5, "purchase": 1}
    assert inter["time_range"]["start_epoch"] == 0 and inter["time_range"]["end_epoch"] == 2 * DAY + 6
    assert inter["time_range"]["start"] == "1970-01-01T00:00:00Z"
    assert inter["per_day"] == [{"date": "1970-01-01", "count": 2}, {"date": "1970-01-02", "count": 1},
                                {"date": "1970-01-03", "count": 3}]
    assert inter["users_with_2_or_more"] == 2
    assert inter["per_user"]["quantiles"]["p50"] == 2 and inter["per_user"]["quantiles"]["p100"] == 3
    assert inter["per_item"]["mean"] == 2.0
    assert sum(b["count"] for b in inter["per_item"]["histogram"]) == 3
    assert inter["long_tail"]["top_items"] == 1
    assert inter["long_tail"]["interaction_share_of_top_items"] == pytest.approx(4 / 6)
    assert inter["long_tail"]["items_with_1_interaction"] == 2
    curve = inter["long_tail"]["curve"]
    assert curve[0] == {"item_share": 0.0, "interaction_share": 0.0} and curve[-1]["interaction_share"] == 1.0
    assert curve[4] == {"item_share": 0.2, "interaction_share": pytest.approx(4 / 6, abs=1e-6)}
    assert inter["missing"]["EVENT_VALUE"] == 5 and inter["missing"]["USER_ID"] == 0

    items = p["items"]
    assert items["rows"] == 4 and items["cold_items"] == 1 and items["cold_item_ids_sample"] == ["i4"]
    assert items["missing"]["CATEGORY"] == 1
    mix = items["category_mix"]["CATEGORY"]
    assert mix["items"] == {"a": 2, "b": 1, "c": 1, "(missing)": 1}
    assert mix["interactions"]["a"] == 5 and mix["interactions"]["b"] == 4 and mix["interactions"]["c"] == 1
    assert "PRICE" not in items["category_mix"]

    users = p["users"]
    assert users["cold_users"] == 1 and users["cold_user_ids_sample"] == ["u4"]
    assert users["missing"]["TIER"] == 1                            # empty string counts as missing


def test_minimums_message_says_what_is_missing(tiny):
    m = profile(*tiny)["minimums"]
    assert m["ok"] is False
    assert m["messages"] == [
        "needs at least 1,000 interactions, has 6 (994 missing)",
        "needs at least 25 users with 2 or more interactions, has 2 (23 missing)",
    ]
    assert m["message"].startswith("below Personalize's training minimums: needs at least 1,000")
    ok = check_minimums(1000, 25)
    assert ok["ok"] is True and ok["messages"] == []
    only_users = check_minimums(5000, 24)
    assert only_users["messages"] == ["needs at least 25 users with 2 or more interactions, has 24 (1 missing)"]


def test_profile_without_metadata_tables():
    inter = pd.DataFrame({"USER_ID": [f"u{k % 30}" for k in range(1200)],
                          "ITEM_ID": [f"i{k % 7}" for k in range(1200)],
                          "TIMESTAMP": np.arange(1200) * 60})
    p = profile(inter)
    assert "items" not in p and "users" not in p and "event_types" not in p["interactions"]
    assert p["interactions"]["sparsity"] == pytest.approx(1 - 210 / (30 * 7))
    assert p["minimums"]["ok"] is True


def test_missing_id_column_is_an_error():
    from recsys.exceptions import ValidationError

    with pytest.raises(ValidationError, match="ITEM_ID"):
        profile(pd.DataFrame({"USER_ID": ["u1"]}))


def test_demo_profile_shows_its_structure():
    from recsys.demo import generate_demo

    data = generate_demo(seed=7, n_users=500, n_items=300, n_interactions=20_000)
    p = profile(data.interactions, data.items, data.users)
    assert p["interactions"]["long_tail"]["interaction_share_of_top_items"] > 0.5
    assert set(p["interactions"]["event_types"]) == {"view", "cart", "purchase"}
    assert p["items"]["cold_items"] == len(data.ground_truth["cold_item_ids"])
    assert set(p["items"]["category_mix"]) == {"CATEGORY_L1", "CATEGORY_L2"}
    assert p["items"]["category_mix"]["CATEGORY_L1"]["items"]["gifts"] > 0
    assert 170 <= len(p["interactions"]["per_day"]) <= 181


def test_a_million_rows_profile_in_about_a_second():
    rng = np.random.default_rng(0)
    n = 1_000_000
    users = np.array([f"u{k}" for k in range(50_000)])
    items = np.array([f"i{k}" for k in range(20_000)])
    frame = pd.DataFrame({
        "USER_ID": pd.array(users[rng.integers(0, len(users), n)], dtype="str"),
        "ITEM_ID": pd.array(items[rng.zipf(1.3, n) % len(items)], dtype="str"),
        "TIMESTAMP": rng.integers(1_700_000_000, 1_710_000_000, n),
        "EVENT_TYPE": pd.array(np.array(["view", "cart", "purchase"])[rng.integers(0, 3, n)], dtype="str"),
        "EVENT_VALUE": np.where(rng.random(n) < 0.1, 5.0, np.nan),
    })
    start = time.perf_counter()
    p = profile(frame)
    elapsed = time.perf_counter() - start
    assert p["interactions"]["rows"] == n
    assert elapsed < 5.0, f"profile of 1M rows took {elapsed:.2f} s"


def test_cli_profile(tmp_path):
    pytest.importorskip("recsys.ingest", reason="recsys/ingest.py not written yet")
    pytest.importorskip("recsys.datasets", reason="recsys/datasets.py not written yet")
    runner = CliRunner()
    home = str(tmp_path / "ws")
    result = runner.invoke(main, ["--home", home, "demo", "--output", str(tmp_path / "demo"), "--group", "g1",
                                  "--users", "300", "--items", "200", "--interactions", "8000"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["--home", home, "profile", "--group", "g1"])
    assert result.exit_code == 0, result.output
    assert "Interactions" in result.output and "OK: meets Personalize's training minimums" in result.output
    result = runner.invoke(main, ["--home", home, "profile", "--group", "g1", "--json"])
    assert json.loads(result.output)["group"] == "g1"
    result = runner.invoke(main, ["--home", home, "profile", "--group", "nope"])
    assert result.exit_code != 0


def test_profile_group_reads_the_workspace(store, tiny):
    datasets = pytest.importorskip("recsys.datasets", reason="recsys/datasets.py not written yet")
    from recsys.exceptions import NotFoundError
    from recsys.profile import profile_group

    interactions, items, users = tiny
    store.create_dataset_group("tiny")
    with pytest.raises(NotFoundError, match="no Interactions dataset"):
        profile_group(store, "tiny")
    datasets.create_dataset(store, "tiny", "Interactions")
    datasets.create_dataset(store, "tiny", "Items", {
        "type": "record", "name": "Items", "namespace": "com.amazonaws.personalize.schema", "version": "1.0",
        "fields": [{"name": "ITEM_ID", "type": "string"},
                   {"name": "CATEGORY", "type": ["null", "string"], "categorical": True},
                   {"name": "PRICE", "type": "float"}]})
    with store.transaction() as db:
        datasets.write_frame(db, "tiny", "Interactions", interactions.drop(columns=["EVENT_VALUE"]), mode="FULL")
        datasets.write_frame(db, "tiny", "Items", items, mode="FULL")
    p = profile_group(store, "tiny")
    assert p["group"] == "tiny" and "users" not in p
    assert (p["interactions"]["rows"], p["interactions"]["unique_user_item_pairs"]) == (6, 5)
    assert not any(c.startswith("_") for c in p["interactions"]["missing"])
    assert p["items"]["cold_items"] == 1
    assert p["items"]["category_mix"]["CATEGORY"]["items"]["a"] == 2
    with pytest.raises(NotFoundError):
        profile_group(store, "no-such-group")
