"""Tests of the demo data generator: determinism, sizes, schemas, files, CLI, and the planted structure."""

import json
import time

import fastavro
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from recsys.cli import main
from recsys.demo import (
    CATEGORIES, DAY, DEFAULT_NOW, DEVICES, FILE_STEMS, NEW_ITEM_DAYS, SPAN_DAYS, TRENDING_DAYS, DemoData,
    demo_schema, generate_demo, load_demo, read_ground_truth, write_demo,
)

SMALL = dict(n_users=300, n_items=200, n_interactions=8000)


@pytest.fixture(scope="module")
def demo() -> DemoData:
    return generate_demo()


@pytest.fixture(scope="module")
def events(demo) -> pd.DataFrame:
    """Interactions joined with item metadata and the users' planted clusters."""
    items = demo.items.set_index("ITEM_ID")
    gt = demo.ground_truth
    position = {name: k for subs in CATEGORIES.values() for k, (name, _) in enumerate(subs)}
    it = demo.interactions
    return it.assign(
        L1=it["ITEM_ID"].map(items["CATEGORY_L1"].str.split("|").str[0]),
        L2=it["ITEM_ID"].map(items["CATEGORY_L2"]),
        L2_POS=it["ITEM_ID"].map(items["CATEGORY_L2"]).map(position),
        PRICE=it["ITEM_ID"].map(items["PRICE"]),
        USER_CLUSTER=it["USER_ID"].map(gt["user_cluster"]),
        MAIN_DEVICE=it["USER_ID"].map(gt["user_main_device"]),
    )


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = generate_demo(seed=3, **SMALL), generate_demo(seed=3, **SMALL), generate_demo(seed=4, **SMALL)
    for name in ("interactions", "items", "users"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert a.ground_truth == b.ground_truth
    assert not a.interactions.equals(c.interactions)
    assert not a.items.equals(c.items)
    assert a.ground_truth["trending_item_ids"] != c.ground_truth["trending_item_ids"]


def test_default_size_columns_and_types(demo):
    it, items, users = demo.interactions, demo.items, demo.users
    assert len(users) == 2000 and len(items) == 1000
    assert 95_000 <= len(it) <= 105_000
    assert list(it.columns) == ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE", "DEVICE"]
    assert list(items.columns) == ["ITEM_ID", "PRICE", "CATEGORY_L1", "CATEGORY_L2", "PRODUCT_DESCRIPTION",
                                   "CREATION_TIMESTAMP"]
    assert list(users.columns) == ["USER_ID", "AGE_GROUP", "MEMBERSHIP", "COUNTRY"]
    assert it["TIMESTAMP"].dtype == np.int64 and it["EVENT_VALUE"].dtype == np.float64
    assert items["PRICE"].dtype == np.float64 and items["CREATION_TIMESTAMP"].dtype == np.int64
    assert users["USER_ID"].iloc[0] == "u0001" and items["ITEM_ID"].iloc[-1] == "i1000"
    assert set(it["EVENT_TYPE"]) == {"view", "cart", "purchase"}
    assert set(it["DEVICE"]) == set(DEVICES)
    assert set(it["USER_ID"]) <= set(users["USER_ID"]) and set(it["ITEM_ID"]) <= set(items["ITEM_ID"])
    assert it["TIMESTAMP"].is_monotonic_increasing
    assert it["TIMESTAMP"].max() < DEFAULT_NOW
    assert it["TIMESTAMP"].min() >= DEFAULT_NOW - SPAN_DAYS * DAY
    assert items["CATEGORY_L1"].str.contains("|", regex=False).sum() > 20      # multi-valued, e.g. books|gifts
    assert set(users["MEMBERSHIP"]) == {"free", "prime"}


def test_default_size_generates_fast():
    start = time.perf_counter()
    generate_demo(seed=11)
    assert time.perf_counter() - start < 10


def test_sizes_scale_roughly_as_asked():
    data = generate_demo(seed=1, n_users=500, n_items=300, n_interactions=20_000)
    assert len(data.users) == 500 and len(data.items) == 300
    assert 18_000 <= len(data.interactions) <= 22_000


@pytest.mark.parametrize("dataset_type", ["Interactions", "Items", "Users"])
def test_schemas_are_personalize_avro(dataset_type, demo):
    schema = demo_schema(dataset_type)
    assert schema["name"] == dataset_type and schema["namespace"] == "com.amazonaws.personalize.schema"
    stripped = {**schema, "fields": [{k: v for k, v in f.items() if k not in ("categorical", "textual")}
                                     for f in schema["fields"]]}
    parsed = fastavro.parse_schema(stripped)
    frame = demo.frame(dataset_type)
    assert [f["name"] for f in schema["fields"]] == list(frame.columns)   # CSV column order = schema order
    # The first rows validate against the schema as Avro records.
    records = frame.head(50).astype(object).where(frame.head(50).notna(), None).to_dict("records")
    for record in records:
        assert fastavro.validate(record, parsed)
    flags = {f["name"]: f for f in schema["fields"]}
    if dataset_type == "Items":
        assert flags["PRODUCT_DESCRIPTION"]["textual"] is True and flags["CATEGORY_L1"]["categorical"] is True
    if dataset_type == "Interactions":
        assert flags["DEVICE"]["categorical"] is True and "categorical" not in flags["EVENT_TYPE"]


@pytest.mark.parametrize("dataset_type", ["Interactions", "Items", "Users"])
def test_schemas_pass_recsys_schema_rules(dataset_type):
    schema_module = pytest.importorskip("recsys.schema", reason="recsys/schema.py not written yet")
    parsed = schema_module.parse_schema(dataset_type, demo_schema(dataset_type))
    assert set(parsed.names) == {f["name"] for f in demo_schema(dataset_type)["fields"]}
    schema_module.parse_schema(dataset_type, demo_schema(dataset_type), domain="ECOMMERCE")  # fits both


def test_users_mostly_interact_with_their_cluster(events):
    assert 0.65 < (events["L1"] == events["USER_CLUSTER"]).mean() < 0.85
    mix = pd.crosstab(events["USER_CLUSTER"], events["L1"], normalize="index")
    for cluster in CATEGORIES:
        assert mix.loc[cluster].idxmax() == cluster
        assert mix.loc[cluster, cluster] > 0.5


def test_popularity_is_long_tailed(events, demo):
    counts = events["ITEM_ID"].value_counts()
    assert counts.iloc[:200].sum() / counts.sum() > 0.55        # top 20% of items
    assert counts.max() > 20 * counts.median()


def test_trending_items_surge_in_the_last_days(events, demo):
    gt = demo.ground_truth
    assert len(gt["trending_item_ids"]) == 20
    recent = events["TIMESTAMP"] >= gt["trending_since"]
    is_trending = events["ITEM_ID"].isin(gt["trending_item_ids"])
    share_recent = is_trending[recent].mean()
    share_before = is_trending[~recent].mean()
    assert share_recent > 10 * share_before
    # Measured on the last 3 days, the trending items rank near the top; on the 30 days before, they don't.
    top_recent = events.loc[recent, "ITEM_ID"].value_counts().index[:40]
    month = (events["TIMESTAMP"] < gt["trending_since"]) & (events["TIMESTAMP"] >= gt["trending_since"] - 30 * DAY)
    top_month = events.loc[month, "ITEM_ID"].value_counts().index[:40]
    assert len(set(top_recent) & set(gt["trending_item_ids"])) >= 15
    assert len(set(top_month) & set(gt["trending_item_ids"])) <= 3
    assert gt["trending_since"] == DEFAULT_NOW - TRENDING_DAYS * DAY


def test_new_items_are_recent_and_have_few_interactions(events, demo):
    gt = demo.ground_truth
    new = demo.items[demo.items["ITEM_ID"].isin(gt["new_item_ids"])]
    assert len(new) == 50
    assert (new["CREATION_TIMESTAMP"] >= DEFAULT_NOW - NEW_ITEM_DAYS * DAY).all()
    old = demo.items[~demo.items["ITEM_ID"].isin(gt["new_item_ids"])]
    assert (old["CREATION_TIMESTAMP"] < DEFAULT_NOW - NEW_ITEM_DAYS * DAY).all()
    per_new = events[events["ITEM_ID"].isin(gt["new_item_ids"])].groupby("ITEM_ID").size()
    assert per_new.max() <= 20 and per_new.sum() < 500
    # No item is interacted with before it was created.
    created = events["ITEM_ID"].map(demo.items.set_index("ITEM_ID")["CREATION_TIMESTAMP"])
    assert (events["TIMESTAMP"] >= created).all()
    assert set(gt["cold_item_ids"]) <= set(gt["new_item_ids"])
    assert not events["ITEM_ID"].isin(gt["cold_item_ids"]).any()
    assert not events["USER_ID"].isin(gt["cold_user_ids"]).any() and len(gt["cold_user_ids"]) > 0


def test_device_shifts_preferences(events):
    from scipy.stats import chi2_contingency

    # Sub-category position (0-1 cheap, 2-3 expensive) by device: large, significant shift.
    mix = pd.crosstab(events["DEVICE"], events["L2_POS"], normalize="index")
    assert mix.loc["mobile", [0, 1]].sum() > 0.7
    assert mix.loc["desktop", [2, 3]].sum() > 0.6
    assert mix.loc["tablet", 1] > 0.35
    assert chi2_contingency(pd.crosstab(events["DEVICE"], events["L2_POS"]))[1] < 1e-100
    assert events.groupby("DEVICE")["PRICE"].median()["mobile"] * 3 < events.groupby("DEVICE")["PRICE"].median()["desktop"]
    # Within users: events off a user's main device follow the device, not the user.
    off = events[events["DEVICE"] != events["MAIN_DEVICE"]]
    off_mix = pd.crosstab(off["DEVICE"], off["L2_POS"], normalize="index")
    assert off_mix.loc["mobile", [0, 1]].sum() - off_mix.loc["desktop", [0, 1]].sum() > 0.4


def test_knowing_device_ranks_held_out_events_better(events):
    """Per-device popularity beats global popularity on the last 10% of views (a context-free model loses)."""
    cut = int(len(events) * 0.9)
    train, test = events.iloc[:cut], events.iloc[cut:]
    test = test[test["EVENT_TYPE"] == "view"]
    k = 50
    global_top = set(train["ITEM_ID"].value_counts().index[:k])
    hit_global = test["ITEM_ID"].isin(global_top).mean()
    hits = 0
    for device, rows in test.groupby("DEVICE"):
        top = set(train.loc[train["DEVICE"] == device, "ITEM_ID"].value_counts().index[:k])
        hits += rows["ITEM_ID"].isin(top).sum()
    assert hits / len(test) > hit_global * 1.05


def test_funnel_and_event_values(events, demo):
    views = events[events["EVENT_TYPE"] == "view"]
    carts = events[events["EVENT_TYPE"] == "cart"]
    purchases = events[events["EVENT_TYPE"] == "purchase"]
    assert len(views) > 5 * len(carts) > 5 * len(purchases) > 0
    # Every cart follows a view of the same item by the same user.
    first_view = views.groupby(["USER_ID", "ITEM_ID"])["TIMESTAMP"].min()
    cart_keys = pd.MultiIndex.from_frame(carts[["USER_ID", "ITEM_ID"]])
    seen = first_view.reindex(cart_keys).to_numpy()
    assert not np.isnan(seen).any() and (seen <= carts["TIMESTAMP"].to_numpy()).all()
    # Purchases usually follow a cart; EVENT_VALUE is the price for purchases, empty otherwise.
    carted = set(zip(carts["USER_ID"], carts["ITEM_ID"]))
    after_cart = np.mean([key in carted for key in zip(purchases["USER_ID"], purchases["ITEM_ID"])])
    assert after_cart > 0.85
    np.testing.assert_allclose(purchases["EVENT_VALUE"], purchases["PRICE"])
    assert events.loc[events["EVENT_TYPE"] != "purchase", "EVENT_VALUE"].isna().all()


def test_activity_grows_over_time(events):
    day = (events["TIMESTAMP"] - (DEFAULT_NOW - SPAN_DAYS * DAY)) // DAY
    first_month = (day < 30).sum()
    last_month = ((day >= SPAN_DAYS - 33) & (day < SPAN_DAYS - 3)).sum()    # before the trending burst
    assert 2.0 < last_month / first_month < 4.0


def test_descriptions_are_more_similar_within_a_category(demo):
    from sklearn.feature_extraction.text import TfidfVectorizer

    items = demo.items
    tfidf = TfidfVectorizer().fit_transform(items["PRODUCT_DESCRIPTION"])
    sim = (tfidf @ tfidf.T).toarray()
    np.fill_diagonal(sim, np.nan)
    l1 = items["CATEGORY_L1"].str.split("|").str[0].to_numpy()
    same = l1[:, None] == l1[None, :]
    assert np.nanmean(sim[same]) > 2 * np.nanmean(sim[~same])
    # The nearest neighbour by text is almost always in the same category.
    nearest = np.nanargmax(sim, axis=1)
    assert (l1[nearest] == l1).mean() > 0.9


def test_user_metadata_correlates_with_taste(demo):
    age = demo.users.set_index("USER_ID")["AGE_GROUP"]
    cluster = pd.Series(demo.ground_truth["user_cluster"])
    mix = pd.crosstab(cluster, age.reindex(cluster.index), normalize="index")
    assert mix.loc["toys", "35-44"] > mix.loc["electronics", "35-44"] + 0.15


def test_write_demo_files_round_trip(tmp_path):
    data = generate_demo(seed=5, **SMALL)
    paths = write_demo(tmp_path / "demo", data)
    out = tmp_path / "demo"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["README.md", "ground_truth.json"] + [f"{s}.csv" for s in FILE_STEMS.values()]
        + [f"{s}.schema.json" for s in FILE_STEMS.values()])
    back = pd.read_csv(paths["Interactions"], dtype={"USER_ID": str, "ITEM_ID": str})
    assert len(back) == len(data.interactions)
    pd.testing.assert_series_equal(back["TIMESTAMP"], data.interactions["TIMESTAMP"], check_dtype=False)
    assert back["EVENT_VALUE"].isna().sum() == data.interactions["EVENT_VALUE"].isna().sum()
    items = pd.read_csv(paths["Items"])
    assert items["PRODUCT_DESCRIPTION"].tolist() == data.items["PRODUCT_DESCRIPTION"].tolist()
    for dataset_type, stem in FILE_STEMS.items():
        assert json.loads((out / f"{stem}.schema.json").read_text()) == demo_schema(dataset_type)
    assert read_ground_truth(out) == json.loads(json.dumps(data.ground_truth))
    assert "trending" in (out / "README.md").read_text()
    # Writing again replaces the files in place and leaves no temporary files behind.
    write_demo(out, seed=6, **SMALL)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    assert read_ground_truth(out)["seed"] == 6


def test_cli_demo_no_load(tmp_path):
    runner = CliRunner()
    out = tmp_path / "demo"
    result = runner.invoke(main, ["--home", str(tmp_path / "ws"), "demo", "--no-load", "--output", str(out),
                                  "--seed", "3", "--users", "300", "--items", "200", "--interactions", "8000"])
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.output and "Not loaded" in result.output
    expected = generate_demo(seed=3, **SMALL)
    assert len(pd.read_csv(out / "interactions.csv")) == len(expected.interactions)
    result = runner.invoke(main, ["demo", "--no-load", "--output", str(out), "--json", "--users", "300",
                                  "--items", "200", "--interactions", "8000"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rows"]["Users"] == 300


def test_load_demo_into_workspace_and_profile(tmp_path):
    pytest.importorskip("recsys.ingest", reason="recsys/ingest.py not written yet")
    pytest.importorskip("recsys.datasets", reason="recsys/datasets.py not written yet")
    from recsys import datasets
    from recsys.profile import profile_group
    from recsys.store import Store

    store = Store(tmp_path / "ws")
    out = tmp_path / "demo"
    write_demo(out, seed=2, **SMALL)
    load_demo(store, "demo", out)
    load_demo(store, "demo", out)                       # idempotent: FULL import replaces
    data = generate_demo(seed=2, **SMALL)
    assert len(datasets.read_interactions(store, "demo")) == len(data.interactions)
    assert len(datasets.read_items(store, "demo")) == len(data.items)
    result = profile_group(store, "demo")
    assert result["interactions"]["rows"] == len(data.interactions)
    assert result["users"]["cold_users"] == len(data.ground_truth["cold_user_ids"])
    assert result["minimums"]["ok"]
