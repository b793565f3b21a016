"""The workbench's SQL-backed reads (recsys.workspace) give the same answers as reading the whole tables with pandas."""

import json

import numpy as np
import pytest

from recsys import datasets, queries, workspace
from recsys.demo import load_demo, write_demo
from recsys.store import Store

FILTER = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")'


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A small demo group (no training): ids, attributes, event types and a DEVICE context field."""
    home = tmp_path_factory.mktemp("reads")
    store = Store(home)
    write_demo(home / "files", seed=5, n_users=80, n_items=40, n_interactions=3_000)
    load_demo(store, "shop", home / "files")
    return store


@pytest.fixture
def fresh(tmp_path):
    store = Store(tmp_path / "ws")
    write_demo(tmp_path / "files", seed=6, n_users=30, n_items=20, n_interactions=800)
    load_demo(store, "shop", tmp_path / "files")
    return store


def record_view(store, user):
    device = queries.context_options(store, "shop")["DEVICE"][0]
    workspace.record_event(store, "shop", user, "i0001", "view", {"DEVICE": device})


def by_count_then_id(values) -> list[str]:
    counts = values.astype(str).value_counts()
    return sorted(counts.index, key=lambda v: (-counts[v], v))


def test_search_users_matches_a_search_of_the_users_table(shop):
    users = datasets.read_users(shop, "shop")
    assert queries.search_users(shop, "shop", "") == users["USER_ID"].head(50).tolist()
    text = users.astype(str).agg(" ".join, axis=1).str.lower()
    for query in ("u00", users.iloc[3]["COUNTRY"].upper(), "no such thing"):
        expected = users.loc[text.str.contains(query.lower(), regex=False), "USER_ID"].head(10).tolist()
        assert queries.search_users(shop, "shop", query, limit=10) == expected


def test_search_users_without_a_users_table_ranks_by_activity(fresh):
    datasets.delete_dataset(fresh, "shop", "Users")
    ids = datasets.read_interactions(fresh, "shop", columns=["USER_ID"])["USER_ID"]
    assert queries.search_users(fresh, "shop", "", limit=15) == by_count_then_id(ids)[:15]
    assert queries.search_users(fresh, "shop", "U001") == [u for u in by_count_then_id(ids) if "u001" in u][:50]


def test_rankings_and_event_types_match_pandas(shop):
    frame = datasets.read_interactions(shop, "shop")
    assert queries.active_users(shop, "shop", 20) == by_count_then_id(frame["USER_ID"])[:20]
    assert queries.active_users(shop, "shop") == by_count_then_id(frame["USER_ID"])
    assert queries.popular_items(shop, "shop", 7) == by_count_then_id(frame["ITEM_ID"])[:7]
    assert queries.event_types(shop, "shop") == by_count_then_id(frame["EVENT_TYPE"])


def test_context_options_are_the_sorted_values_seen(shop):
    frame = datasets.read_interactions(shop, "shop", columns=["DEVICE"])
    assert queries.context_options(shop, "shop") == {"DEVICE": sorted(frame["DEVICE"].dropna().unique())[:200]}


def test_history_with_metadata_reads_only_the_newest_events(shop):
    user = queries.active_users(shop, "shop", 1)[0]
    full = datasets.user_history(shop, "shop", user)
    expected = full.iloc[::-1].head(12).merge(datasets.read_items(shop, "shop"), on="ITEM_ID", how="left")
    got = workspace.history_with_metadata(shop, "shop", user, limit=12)
    assert got.equals(expected.reset_index(drop=True))
    cached = workspace.history_with_metadata(shop, "shop", user, limit=12, items=datasets.read_items(shop, "shop"))
    assert cached.equals(got)
    assert workspace.history_with_metadata(shop, "shop", "nobody").empty


def test_items_by_id_types_rows_like_read_items(shop):
    items = datasets.read_items(shop, "shop")
    wanted = items["ITEM_ID"].iloc[[5, 1, 9]].tolist() + ["not-an-item"]
    got = workspace.items_by_id(shop, "shop", wanted)
    assert got.equals(items.iloc[[1, 5, 9]].reset_index(drop=True))


def test_try_filter_with_cached_frames_gives_the_same_answer(shop):
    user = queries.active_users(shop, "shop", 1)[0]
    frame = datasets.read_interactions(shop, "shop", columns=["ITEM_ID"])
    items = datasets.read_items(shop, "shop")
    catalogue = queries.catalogue_ids(shop, "shop")
    assert list(catalogue) == sorted(set(frame["ITEM_ID"]) | set(items["ITEM_ID"]))
    _, direct = workspace.try_filter(shop, "shop", FILTER, user_id=user)
    _, given = workspace.try_filter(shop, "shop", FILTER, user_id=user, items=items,
                                    users=datasets.read_users(shop, "shop"), catalogue=catalogue)
    assert direct.equals(given)
    purchased = set(datasets.user_history(shop, "shop", user).query("EVENT_TYPE == 'purchase'")["ITEM_ID"])
    assert set(direct.loc[~direct["passes"], "ITEM_ID"]) == purchased


def test_row_counts_equal_dataset_counts(shop):
    assert queries.row_counts(shop, "shop") == datasets.dataset_counts(shop, "shop")
    status = workspace.group_status(shop, "shop")
    assert status["interactions"] == datasets.dataset_counts(shop, "shop")["Interactions"]


def test_data_version_is_stable_and_changes_with_every_write(fresh):
    first = queries.data_version(fresh, "shop")
    assert queries.data_version(fresh, "shop") == first
    user = queries.active_users(fresh, "shop", 1)[0]
    record_view(fresh, user)
    after_event = queries.data_version(fresh, "shop")
    assert after_event != first
    load_demo(fresh, "shop", fresh.home.parent / "files")  # FULL re-import of the same files
    assert queries.data_version(fresh, "shop") not in (first, after_event)


def test_group_profile_is_stored_and_follows_the_data(fresh):
    from recsys.profile import profile_group

    first = workspace.group_profile(fresh, "shop")
    assert json.dumps(first) == json.dumps(profile_group(fresh, "shop"))
    stored = json.loads((fresh.artifacts_dir / "profiles" / "shop.json").read_text())
    assert stored["profile"] == first
    assert workspace.group_profile(fresh, "shop") == first
    user = queries.active_users(fresh, "shop", 1)[0]
    record_view(fresh, user)
    again = workspace.group_profile(fresh, "shop")
    assert again["interactions"]["rows"] == first["interactions"]["rows"] + 1
    assert np.isclose(again["interactions"]["per_user"]["mean"] * again["interactions"]["users"],
                      again["interactions"]["rows"])


def test_group_profile_may_lag_streamed_events_but_not_imports(fresh):
    first = workspace.group_profile(fresh, "shop")
    user = queries.active_users(fresh, "shop", 1)[0]
    record_view(fresh, user)
    record_view(fresh, user)
    kept = workspace.group_profile(fresh, "shop", max_age=300)
    assert kept["newer_events"] == 2 and kept["interactions"] == first["interactions"]
    exact = workspace.group_profile(fresh, "shop")
    assert "newer_events" not in exact and exact["interactions"]["rows"] == first["interactions"]["rows"] + 2
    load_demo(fresh, "shop", fresh.home.parent / "files")  # an import is never hidden by max_age
    reloaded = workspace.group_profile(fresh, "shop", max_age=300)
    # FULL replaces the bulk rows; the two streamed events stay
    assert "newer_events" not in reloaded and reloaded["interactions"]["rows"] == first["interactions"]["rows"] + 2


def test_answers_updated_from_new_rows_equal_full_answers(fresh):
    old_options, old_counts = queries.context_options(fresh, "shop"), queries.event_type_counts(fresh, "shop")
    seq = datasets.max_seq(fresh, "shop")
    user = queries.active_users(fresh, "shop", 1)[0]
    workspace.record_event(fresh, "shop", user, "i0002", "wishlist", {"DEVICE": "a-new-device"})
    new_options = queries.context_options(fresh, "shop", since_seq=seq)
    assert new_options == {"DEVICE": ["a-new-device"]}
    assert queries.merge_context_options(old_options, new_options) == queries.context_options(fresh, "shop")
    new_counts = queries.event_type_counts(fresh, "shop", since_seq=seq)
    assert new_counts == {"wishlist": 1}
    assert {**old_counts, **new_counts} == queries.event_type_counts(fresh, "shop")
    assert queries.event_types(fresh, "shop")[-1] == "wishlist"
    assert list(queries.catalogue_ids(fresh, "shop", since_seq=seq)) == ["i0002"]
