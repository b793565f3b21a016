"""The main journey in a real browser: import a CSV, train two recipes, compare, preview with a filter, export a batch CSV."""

import re

from playwright.sync_api import expect

from recsys.demo import generate_demo
from ui import TIMEOUT_MS, choose, goto


def test_main_journey(browser, streamlit_app, artifacts_dir, tmp_path):
    data = generate_demo(seed=11, n_users=300, n_items=150, n_interactions=10_000)
    csv = tmp_path / "interactions.csv"
    data.interactions.to_csv(csv, index=False)

    context = browser.new_context(viewport={"width": 1500, "height": 1100}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)

    # Open the app: an empty workspace says what to do next.
    page.goto(streamlit_app)
    expect(page.get_by_text("Next step").first).to_be_visible()

    # Data: create a group and import the CSV (columns are mapped automatically).
    goto(page, f"{streamlit_app}/data", "Data")
    page.get_by_label("Name").fill("shop")
    page.get_by_role("button", name="Create group").click()
    expect(page.get_by_text("Created dataset group").first).to_be_visible()
    page.locator("input[type=file]").first.set_input_files(str(csv))
    expect(page.get_by_text("Map columns to schema fields")).to_be_visible()
    page.get_by_role("button", name="Validate and import").click()
    expect(page.get_by_text(re.compile(r"Import job .*ACTIVE"))).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "01-data-import.png"), full_page=True)

    # Train: the flagship and the popularity baseline, in the background.
    goto(page, f"{streamlit_app}/train", "Train")
    expect(page.get_by_text("aws-popularity-count").first).to_be_visible()  # pre-selected with the flagship
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text("ACTIVE", exact=True)).to_have_count(2, timeout=TIMEOUT_MS * 2)
    page.screenshot(path=str(artifacts_dir / "02-train.png"), full_page=True)

    # Compare: both versions with Personalize's metrics and intervals.
    goto(page, f"{streamlit_app}/compare", "Compare")
    expect(page.get_by_text("with 95% bootstrap intervals").first).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "03-compare.png"), full_page=True)

    # Filters: save a filter, then preview a user with it.
    goto(page, f"{streamlit_app}/filters", "Filters")
    expect(page.get_by_text("Valid expression").first).to_be_visible()
    page.get_by_label("Save as filter named").fill("no-purchased")
    page.get_by_role("button", name="Save filter").click()
    expect(page.get_by_text("Saved arn:aws:personalize:us-east-1:000000000000:filter/no-purchased").first).to_be_visible()

    goto(page, f"{streamlit_app}/preview", "Preview")
    expect(page.get_by_text("recommendationId").first).to_be_visible()  # the page has finished its first run
    expect(page.get_by_label("Model", exact=True)).to_have_value(re.compile("aws-user-personalization"))  # flagship first
    page.get_by_text("Context, filter and promotion").click()
    choose(page, "Filter", "no-purchased")
    expect(page.get_by_text("Filter: no-purchased").first).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "04-preview.png"), full_page=True)

    # Batch: recommendations for the most active users, downloaded as CSV.
    goto(page, f"{streamlit_app}/segments_batch", "Segments & Batch")
    page.get_by_role("button", name="Run batch inference job").click()
    download_button = page.get_by_role("button", name="Download CSV")
    expect(download_button).to_be_visible()
    with page.expect_download() as download_info:
        download_button.click()
    target = tmp_path / "batch.csv"
    download_info.value.save_as(target)
    header = target.read_text().splitlines()[0]
    assert header.startswith("USER_ID,RANK,ITEM_ID,ITEM_NAME,SCORE")
    page.screenshot(path=str(artifacts_dir / "05-batch.png"), full_page=True)
    context.close()
