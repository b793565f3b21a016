"""Cleaning: exclusion rules at import, suspect (non-product) items found from the data, and the exclusion list
that training drops and serving never recommends."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys import cleaning, runs, solutions
from recsys.data import load_training_data
from recsys.exceptions import ValidationError
from recsys.ingest import import_file
from recsys.profile import profile
from recsys.serving import get_recommendations
from recsys.store import ACTIVE

from test_training import load_small_demo


def test_rules_become_the_importers_patterns_and_drop_rows(store, tmp_path):
    csv = tmp_path / "orders.csv"
    csv.write_text("InvoiceNo,CustomerID,StockCode,Quantity,Date\n"
                   "536365,17850,85123A,6,1291191960\n"
                   "C536379,17850,D,-1,1291191961\n"
                   "536380,17851,22423,-2,1291191962\n"
                   "536381,17851,22424,3,1291191963\n")
    rules = [cleaning.ExclusionRule("InvoiceNo", "starts with", "C"), cleaning.ExclusionRule("Quantity", "is negative")]
    store.create_dataset_group("shop")
    job = import_file(store, "shop", "Interactions", csv, exclude=cleaning.exclusion_patterns(rules),
                      column_map={"CustomerID": "USER_ID", "StockCode": "ITEM_ID", "Date": "TIMESTAMP",
                                  "Quantity": "EVENT_VALUE"})
    assert (job.rows_accepted, job.rows_excluded, job.rows_rejected) == (2, 2, 0)


def test_two_rules_on_one_column_are_either_or():
    patterns = cleaning.exclusion_patterns([cleaning.ExclusionRule("Code", "equals", "POST"),
                                            cleaning.ExclusionRule("Code", "ends with", ".x")])
    regex = patterns["Code"]
    assert pd.Series(["POST", "a.x", "POSTAGE", "ax"]).str.contains(regex).tolist() == [True, True, False, False]


def test_a_rule_without_its_value_says_what_is_missing():
    with pytest.raises(ValidationError, match="needs a value"):
        cleaning.exclusion_patterns([cleaning.ExclusionRule("InvoiceNo", "starts with", "")])
    with pytest.raises(ValidationError, match="regular expression"):
        cleaning.exclusion_patterns([cleaning.ExclusionRule("InvoiceNo", "matches regular expression", "([")])


def shop_with_a_fee(seed=0, n_users=300, n_products=400):
    """Numeric product codes, one letters-only FEE line on every order of its customers, one absurd price."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        pays_fee = u % 5 == 0
        for order in range(int(rng.integers(3, 8))):
            stamp = 1_600_000_000 + u * 10_000 + order * 100
            for p in rng.choice(n_products, size=int(rng.integers(1, 6)), replace=False):
                rows.append((f"c{u}", f"{20000 + p}", stamp))
            if pays_fee:
                rows.append((f"c{u}", "FEE", stamp))
    interactions = pd.DataFrame(rows, columns=["USER_ID", "ITEM_ID", "TIMESTAMP"])
    prices = np.exp(rng.normal(1.0, 0.5, n_products))
    prices[7] = 9_000.0
    items = pd.DataFrame({"ITEM_ID": [f"{20000 + p}" for p in range(n_products)] + ["FEE"],
                          "PRICE": list(prices) + [4.0]})
    return interactions, items


def test_suspects_are_found_from_the_data_with_their_reasons():
    interactions, items = shop_with_a_fee()
    suspects = {s["itemId"]: s["reasons"] for s in cleaning.suspect_items(interactions, items)}
    assert set(suspects) == {"FEE", "20007"}
    assert any("shaped" in r for r in suspects["FEE"]) and any("baskets" in r for r in suspects["FEE"])
    assert any("PRICE 9,000" in r for r in suspects["20007"])


def test_ordinary_data_has_no_suspects():
    from recsys.demo import generate_demo

    data = generate_demo(seed=5, n_users=500, n_items=300, n_interactions=20_000)
    assert cleaning.suspect_items(data.interactions, data.items) == []


def test_profile_warns_of_negative_values_and_suspect_items():
    interactions, items = shop_with_a_fee()
    interactions["EVENT_VALUE"] = 1.0
    interactions.loc[:9, "EVENT_VALUE"] = -1.0
    warnings = {w["kind"]: w for w in profile(interactions, items)["warnings"]}
    assert warnings["negative_event_values"]["count"] == 10
    assert {s["itemId"] for s in warnings["non_product_items"]["items"]} == {"FEE", "20007"}


def test_excluded_items_leave_training_and_are_never_recommended(tmp_path):
    store = load_small_demo(tmp_path)
    solutions.create_solution(store, "demo", "pop", "aws-popularity-count")
    before = runs.create_solution_version(store, "demo", "pop", wait=True)
    assert before.status == ACTIVE
    top = [it["itemId"] for it in get_recommendations(store, before.arn, user_id="u0001",
                                                      num_results=5)["itemList"]]
    excluded = cleaning.exclude_items(store, "demo", top[:2])
    assert excluded == sorted(top[:2])
    # Serving: at once, on the version trained before the exclusion, in the regular and back-filled slots.
    answer = get_recommendations(store, before.arn, user_id="u0001", num_results=50)["itemList"]
    assert not {it["itemId"] for it in answer} & set(top[:2]) and len(answer) == 50
    # Training: the items are not in the data nor in the new model's catalogue.
    data = load_training_data(store, "demo")
    assert not data.interactions["ITEM_ID"].isin(top[:2]).any()
    after = runs.create_solution_version(store, "demo", "pop", wait=True)
    from recsys.serving import load_model
    assert not set(top[:2]) & set(load_model(store, after.arn).item_ids_.tolist())
    assert cleaning.include_items(store, "demo", top[:1]) == [top[1]]


@pytest.mark.slow
def test_online_retail_suspects_are_fees_and_postage(store, shared_datasets):
    """On the raw UCI file: the detectors, which know no code, find the postage and fee lines."""
    raw = pd.read_parquet(shared_datasets / "online-retail" / "online_retail.parquet")
    raw = raw[raw["CustomerID"].notna() & ~raw["InvoiceNo"].astype(str).str.startswith("C")]
    interactions = pd.DataFrame({"USER_ID": raw["CustomerID"].astype("int64").astype(str),
                                 "ITEM_ID": raw["StockCode"].astype(str),
                                 "TIMESTAMP": raw["InvoiceDate"].astype("int64") // 10**6})
    items = raw.groupby("StockCode", as_index=False).agg(PRICE=("UnitPrice", "median")).rename(
        columns={"StockCode": "ITEM_ID"})
    found = {s["itemId"] for s in cleaning.suspect_items(interactions, items)}
    assert {"POST", "DOT", "M", "BANK CHARGES", "C2"} <= found
    assert len(found) < 10


def test_import_errors_in_the_browser_name_the_form_and_the_file(store, tmp_path):
    """The too-many-rejects message names the page's slider (not the CLI flag) and the uploaded file's own name."""
    from recsys import uploads
    from recsys.exceptions import ImportFailed

    store.create_dataset_group("shop")
    content = b"USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,1\n,i2,2\n,i3,3\n"
    path = uploads.save_upload(store, "my orders.csv", content)
    assert path.name == "my orders.csv" and uploads.save_upload(store, "my orders.csv", content) == path
    with pytest.raises(ImportFailed) as failure:
        import_file(store, "shop", "Interactions", path)
    text = uploads.form_wording(failure.value)
    assert "'Fail when more than this share of rows is rejected'" in text
    assert "--" not in text and "max_rejected_fraction" not in text
    assert failure.value.job.path.endswith("my orders.csv")
