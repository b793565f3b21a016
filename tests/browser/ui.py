"""Driving Streamlit widgets from Playwright as a person would: pages, selectboxes, text fields, sliders, tabs."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

TIMEOUT_MS = 120_000
# Every step waits for a Streamlit rerun; on a loaded 2-core CI machine that can take well over the 5 s default.
expect.set_options(timeout=60_000)


def goto(page: Page, url: str, title: str) -> None:
    page.goto(url)
    expect(page.get_by_role("heading", name=title).first).to_be_visible(timeout=TIMEOUT_MS)
    settle(page)


def settle(page: Page) -> None:
    """Wait until Streamlit has finished the current rerun (its status widget disappears)."""
    page.wait_for_timeout(300)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=TIMEOUT_MS)


def choose(page: Page, label: str, option: str | re.Pattern, *, scope=None) -> None:
    """Pick an option of a Streamlit selectbox or multiselect by its label (`option`: exact text or a pattern)."""
    root = scope or page
    box = root.get_by_label(label, exact=True).first
    for _ in range(10):
        # A rerun that lands between the click and the listbox opening closes it again: retry.
        box.click()
        listed = page.get_by_role("option", name=option, exact=isinstance(option, str)).first
        try:
            listed.click(timeout=5_000)
            break
        except PlaywrightTimeoutError:
            page.keyboard.press("Escape")
    page.keyboard.press("Escape")  # a multiselect stays open after a pick
    settle(page)


def fill(page: Page, label: str, text: str, *, scope=None) -> None:
    """Type into a text input or area and commit it (Streamlit reads it on blur)."""
    field = (scope or page).get_by_label(label, exact=True).first
    field.fill(text)
    field.press("Tab")
    settle(page)


def slide(page: Page, label: str, steps: int) -> None:
    """Move a slider by `steps` of its step (negative: left), with the keyboard as a person can."""
    thumb = page.get_by_role("slider", name=label).first
    thumb.focus()
    for _ in range(abs(steps)):
        thumb.press("ArrowRight" if steps > 0 else "ArrowLeft")
    settle(page)


def tick(page: Page, label: str) -> None:
    page.get_by_text(label, exact=True).first.click()
    settle(page)


def tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    settle(page)


def click(page: Page, name: str | re.Pattern) -> None:
    page.get_by_role("button", name=name).first.click()
    settle(page)


def shot(page: Page, directory, name: str) -> None:
    page.screenshot(path=str(directory / name), full_page=True)
