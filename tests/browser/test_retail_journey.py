"""The product manager's journey on the raw UCI Online Retail file, in a real browser, through the pages only.

Import with an exclusion rule (cancelled invoices) after the reject limit stops the first try; an Items file with
DESCRIPTION and PRICE built from the same raw file; the suspect items excluded from the profile; two recipes (and
item affinity for segments) trained; the Compare verdict; 3 tuning trials and Promote best; Preview with names, a
built filter and a promotion; a segment CSV with names that leaves out existing buyers; a batch CSV from an
uploaded list of customers. A screenshot of every step goes to test-artifacts/.

The raw file is sampled (whole customers, and customer-less rows in the same proportion, so the file keeps its
shape: ~25% of rows without a customer, cancellations, postage lines) to keep the journey within minutes; the
sample is uploaded through the page like any file.
"""

from __future__ import annotations

import csv
import re

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import expect

from ui import TIMEOUT_MS, choose, click, fill, goto, settle, shot, slide, tab, tick

pytestmark = pytest.mark.slow

CUSTOMER_SHARE = 1 / 12


def retail_files(raw_path, directory):
    """(interactions CSV, items CSV, customer list CSV) built from the raw file."""
    raw = pd.read_csv(raw_path, dtype=str, keep_default_na=False)
    customer = pd.to_numeric(raw["CustomerID"], errors="coerce")
    chosen = customer.notna() & (customer.fillna(0).astype("int64") % round(1 / CUSTOMER_SHARE) == 0)
    share = chosen.sum() / customer.notna().sum()
    anonymous = customer.isna() & (np.random.default_rng(0).random(len(raw)) < share)
    sample = raw[chosen | anonymous]
    interactions = directory / "online_retail_sample.csv"
    sample.to_csv(interactions, index=False)
    # One row per product: its first description and its median unit price.
    products = sample.assign(UnitPrice=pd.to_numeric(sample["UnitPrice"])).groupby("StockCode", as_index=False).agg(
        Description=("Description", "first"), UnitPrice=("UnitPrice", "median"))
    items = directory / "products.csv"
    products.to_csv(items, index=False)
    customers = sorted(sample.loc[sample["CustomerID"] != "", "CustomerID"].unique())[:25]
    users = directory / "customers.csv"
    pd.DataFrame({"CustomerID": customers, "Campaign": "spring"}).to_csv(users, index=False)
    return interactions, items, users, customers


def test_retail_journey(browser, streamlit_app, artifacts_dir, tmp_path, shared_datasets):
    raw = shared_datasets / "online-retail" / "online_retail.csv.gz"
    interactions_csv, items_csv, users_csv, customers = retail_files(raw, tmp_path)
    context = browser.new_context(viewport={"width": 1500, "height": 1100}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    url = streamlit_app

    # The app frame first (its navigation and sidebar), as a person opens it.
    page.goto(url)
    expect(page.get_by_text("Next step").first).to_be_visible()

    # 1. Data: a group, the raw orders with the rule "InvoiceNo starts with C" (cancellations).
    goto(page, f"{url}/data", "Data")
    fill(page, "Name", "retail")
    click(page, "Create group")
    expect(page.get_by_text("Created dataset group").first).to_be_visible()
    page.locator("input[type=file]").first.set_input_files(str(interactions_csv))
    expect(page.get_by_text("Map columns to schema fields")).to_be_visible()
    settle(page)
    page.get_by_text("Exclusion rules: leave out rows").click()
    choose(page, "Column", "InvoiceNo")
    fill(page, "Value", "C")
    expect(page.get_by_text("Leaving out rows where InvoiceNo starts with 'C'")).to_be_visible()
    click(page, "Validate and import")
    # A quarter of the rows has no customer: the default limit (10%) stops the import, in the page's words.
    failure = page.get_by_text(re.compile("rows rejected")).first
    expect(failure).to_be_visible()
    expect(failure).to_contain_text("Fail when more than this share of rows is rejected")
    expect(failure).not_to_contain_text("--max-rejected")
    shot(page, artifacts_dir, "retail-01-import-refused.png")
    slide(page, "Fail when more than this share of rows is rejected", 4)  # 0.10 -> 0.30
    click(page, "Validate and import")
    expect(page.get_by_text(re.compile(r"Import job .* of online_retail_sample.csv: ACTIVE")).first).to_be_visible()
    expect(page.get_by_text(re.compile(r"excluded by the rules")).first).to_be_visible()
    shot(page, artifacts_dir, "retail-01-import.png")

    # 2. Items with DESCRIPTION and PRICE, built from the same raw file (columns mapped by their names).
    page.get_by_text("Items", exact=True).first.click()
    settle(page)
    page.locator("input[type=file]").first.set_input_files(str(items_csv))
    expect(page.get_by_text("Map columns to schema fields")).to_be_visible()
    settle(page)
    click(page, "Validate and import")
    expect(page.get_by_text(re.compile(r"Import job .* of products.csv: ACTIVE")).first).to_be_visible()
    shot(page, artifacts_dir, "retail-02-items.png")

    # 3. Profile: postage, fees and manual adjustments are flagged from the data; exclude them in one click.
    tab(page, "Profile")
    expect(page.get_by_text("look like fees, postage or adjustments").first).to_be_visible()
    expect(page.get_by_text("POSTAGE").first).to_be_visible()
    shot(page, artifacts_dir, "retail-03-profile-warnings.png")
    click(page, re.compile(r"Exclude these \d+ items"))
    expect(page.get_by_text(re.compile(r"Excluded \d+ items")).first).to_be_visible()

    # 4. Train the flagship, the popularity baseline and item affinity (for segments).
    goto(page, f"{url}/train", "Train")
    choose(page, "Recipes", re.compile(r"^aws-item-affinity"))
    click(page, "Start training")
    expect(page.get_by_text("ACTIVE", exact=True)).to_have_count(3, timeout=TIMEOUT_MS * 3)
    shot(page, artifacts_dir, "retail-04-train.png")

    # 5. Compare: a verdict in one sentence.
    goto(page, f"{url}/compare", "Compare")
    expect(page.get_by_text(re.compile(r"aws-user-personalization.* (beats|ties|loses)")).first).to_be_visible()
    shot(page, artifacts_dir, "retail-05-compare.png")

    # 6. Tune: 3 trials, then Promote best.
    goto(page, f"{url}/tune", "Tune")
    slide(page, "Number of trials (maxNumberOfTrainingJobs)", -5)  # 8 -> 3
    click(page, "Start tuning")
    promote = page.get_by_role("button", name=re.compile("Promote best"))
    expect(promote).to_be_visible(timeout=TIMEOUT_MS * 3)
    shot(page, artifacts_dir, "retail-06-tune.png")
    promote.click()
    # A toast says the best parameters are training, then the run shows it was promoted.
    expect(page.get_by_text(re.compile(r"Promoted|with the best parameters")).first).to_be_visible()

    # 7. Filters: a promotion needs a saved filter; build "price at most 2" and save it.
    goto(page, f"{url}/filters", "Filters")
    choose(page, "Only items whose number", "PRICE")
    fill(page, "and at most", "2")
    click(page, "Use the built expression")
    expect(page.get_by_text("Valid expression").first).to_be_visible()
    fill(page, "Save as filter named", "cheap")
    click(page, "Save filter")
    expect(page.get_by_text("Saved arn:aws:personalize:us-east-1:000000000000:filter/cheap").first).to_be_visible()
    shot(page, artifacts_dir, "retail-07-filters.png")

    # 8. Preview: names beside ids and in the reasons, a built filter, a promotion.
    goto(page, f"{url}/preview", "Preview")
    expect(page.get_by_text("recommendationId").first).to_be_visible()
    page.get_by_text("Context, filter and promotion").click()
    choose(page, "Filter", "(build a filter)")
    choose(page, "Exclude items the user interacted with", "(any event)")
    tick(page, "Add a promotion")
    choose(page, "Promote the items of filter", "cheap")
    expect(page.get_by_text(re.compile(r"Filter: \(build a filter\) · Promotion")).first).to_be_visible()
    page.get_by_role("heading", name="History").first.evaluate("e => e.scrollIntoView({block: 'start'})")
    shot(page, artifacts_dir, "retail-08-preview.png")
    with page.expect_download() as download:
        click(page, "Download these recommendations (CSV)")
    shown = pd.read_csv(download.value.path(), dtype=str, keep_default_na=False)
    assert shown["ITEM_NAME"].str.len().gt(0).all() and (shown["promotion"] == "promotion").any()
    assert not shown["ITEM_NAME"].isin(["POSTAGE", "Manual", "DOTCOM POSTAGE"]).any()

    # 9. A segment of customers for a product, without those who already bought it.
    goto(page, f"{url}/segments_batch", "Segments & Batch")
    tab(page, "User segments")
    click(page, "Run batch segment job")
    segment_button = page.get_by_role("button", name="Download segment CSV")
    expect(segment_button).to_be_visible()
    with page.expect_download() as download:
        segment_button.click()
    segment = pd.read_csv(download.value.path(), dtype=str, keep_default_na=False)
    assert list(segment.columns[:5]) == ["SEGMENT", "ITEM_NAME", "RANK", "USER_ID", "SCORE"]
    orders = pd.read_csv(interactions_csv, dtype=str, keep_default_na=False)
    for item, users in segment.groupby("SEGMENT")["USER_ID"]:
        bought = set(orders.loc[orders["StockCode"] == item, "CustomerID"])
        assert not set(users) & bought, f"segment {item} targets existing buyers"
    assert segment["ITEM_NAME"].str.len().gt(0).all() and segment["SEGMENT"].nunique() == 3  # no excluded item
    shot(page, artifacts_dir, "retail-09-segments.png")

    # 10. Batch recommendations for an uploaded list of customers.
    tab(page, "Batch recommendations")
    page.get_by_text("A list of user ids (CSV)").click()
    settle(page)
    page.locator("input[type=file]").first.set_input_files(str(users_csv))
    expect(page.get_by_text(f"{len(customers)} user ids").first).to_be_visible()
    click(page, "Run batch inference job")
    batch_button = page.get_by_role("button", name="Download CSV")
    expect(batch_button).to_be_visible()
    with page.expect_download() as download:
        batch_button.click()
    rows = list(csv.DictReader(open(download.value.path())))
    assert list(rows[0])[:5] == ["USER_ID", "RANK", "ITEM_ID", "ITEM_NAME", "SCORE"]
    assert {r["USER_ID"] for r in rows} == set(customers)
    assert not {r["ITEM_ID"] for r in rows} & {"POST", "DOT", "M", "BANK CHARGES"}
    shot(page, artifacts_dir, "retail-10-batch.png")
    context.close()
