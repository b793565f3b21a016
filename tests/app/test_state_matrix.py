"""Every page of the workbench, opened through app.py as a user would, in every state a workspace can be left in:
no exception and no unexpected-error box anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pages import common
from tests.app import states

FRAME = Path(__file__).resolve().parent / "app_frame.py"
PAGES = ["home", "data", "train", "compare", "tune", "preview", "filters", "segments_batch", "campaigns_events"]
TIMEOUT = 120


def unexpected(at: AppTest) -> list[str]:
    """Exceptions raised, and errors the app's guard caught and showed, with their details."""
    found = [str(e.value) for e in at.exception]
    if any(e.value == common.UNEXPECTED for e in at.error):
        found += [str(c.value) for c in at.code]
    return found


def visit_every_page(home: Path, group: str | None, monkeypatch) -> AppTest:
    monkeypatch.setenv("RECSYS_HOME", str(home))
    at = AppTest.from_file(str(FRAME), default_timeout=TIMEOUT)
    if group is not None:
        at.session_state[common.GROUP_KEY] = group
    at.run()
    assert not unexpected(at), unexpected(at)
    for page in PAGES:
        at.switch_page(f"../../pages/{page}.py").run()
        assert not unexpected(at), (page, unexpected(at))
    return at


@pytest.fixture(scope="session")
def state_homes(tmp_path_factory):
    """Each state's workspace, built once: {state: (home, group)}."""
    root = tmp_path_factory.mktemp("states")
    return {name: (root / name, build(root / name)) for name, build in states.STATES.items()}


@pytest.mark.parametrize("state", list(states.STATES))
def test_every_page_in_every_state(state, state_homes, monkeypatch):
    home, group = state_homes[state]
    visit_every_page(home, group, monkeypatch)


def test_every_page_on_the_demo(demo_home, monkeypatch):
    visit_every_page(demo_home, "demo", monkeypatch)


def test_guard_shows_a_sentence_and_the_details_of_an_unexpected_error(tmp_path):
    script = tmp_path / "broken.py"
    script.write_text(
        "import streamlit as st\n"
        "from pages import common\n"
        "with common.guard('broken page'):\n"
        "    st.write('before')\n"
        "    {}['missing']\n"
    )
    at = AppTest.from_file(str(script), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert [e.value for e in at.error] == [common.UNEXPECTED]
    assert "KeyError: 'missing'" in at.code[0].value
    assert at.expander[0].label == "Details of the error"


def test_choices_are_kept_when_the_user_switches_page_and_comes_back(demo_home, monkeypatch):
    at = visit_every_page(demo_home, "demo", monkeypatch)
    at.switch_page("../../pages/compare.py").run()
    at.selectbox(key="compare_metric").select_index(0).run()
    chosen = at.selectbox(key="compare_metric").value
    at.switch_page("../../pages/tune.py").run()
    at.selectbox(key="tune_recipe").set_value("aws-sims").run()
    at.switch_page("../../pages/home.py").run()
    at.switch_page("../../pages/compare.py").run()
    assert at.selectbox(key="compare_metric").value == chosen
    at.switch_page("../../pages/tune.py").run()
    assert at.selectbox(key="tune_recipe").value == "aws-sims"
    assert not unexpected(at)


def test_compare_breaks_down_by_history_in_numeric_order(demo_home, monkeypatch):
    from recsys.evaluation.report import HISTORY_LABELS

    at = visit_every_page(demo_home, "demo", monkeypatch)
    at.switch_page("../../pages/compare.py").run()
    frames = [d.value for d in at.dataframe if "history_bucket" in d.value.columns]
    assert frames
    for frame in frames:
        order = [HISTORY_LABELS.index(b) for b in dict.fromkeys(frame["history_bucket"])]
        assert order == sorted(order) and len(order) >= 2


def test_a_new_group_is_chosen_in_the_sidebar_at_once(tmp_path, monkeypatch):
    """Creating a second group used to raise StreamlitWidgetAlreadyInstantiatedError (the sidebar picker is drawn
    before the page sets its value); the new group must be the sidebar's choice on the next run."""
    monkeypatch.setenv("RECSYS_HOME", str(tmp_path / "ws"))
    at = AppTest.from_file(str(FRAME), default_timeout=TIMEOUT).run()
    at.switch_page("../../pages/data.py").run()
    for name in ("first-shop", "second-shop"):
        at.text_input(key="data_group_name").input(name)
        at.button(key="FormSubmitter:data_create_group-Create group").click().run()
        assert not unexpected(at), unexpected(at)
        assert at.selectbox(key=common.GROUP_KEY).value == name
        assert at.selectbox(key=common.GROUP_KEY).options == ["first-shop", "second-shop"][:1 + (name == "second-shop")]
        assert any(f"Created dataset group {name!r}" in s.value for s in at.success)
