"""The Train and Compare pages show the settings aws-user-personalization chose on its validation split, in the
library's words (`recsys.recipes.auto_tune.choice_lines`), for the demo workspace's trained version."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from recsys import solutions
from recsys.recipes.auto_tune import choice_lines
from recsys.store import Store

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 120


def _tuned_version(home):
    versions = [v for v in solutions.list_solution_versions(Store(home), "demo") if v.auto_tune]
    assert versions, "the demo trains aws-user-personalization, which tunes itself"
    return versions[0]


def _page(page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=TIMEOUT)
    at.session_state["group"] = "demo"
    at.run()
    assert not at.exception, at.exception
    return at


def test_train_page_shows_the_versions_auto_tune_choice(demo_env):
    version = _tuned_version(demo_env)
    at = _page("train")
    [box] = [e for e in at.expander if e.label.startswith(version.name)]
    assert "settings the recipe chose" in box.label
    text = " ".join(m.value for m in box.markdown)
    for line in choice_lines(version.auto_tune):
        assert line in text
    assert "validation NDCG@10" in text and " vs " in text


def test_compare_page_shows_the_auto_tune_choice_of_each_compared_version(demo_env):
    version = _tuned_version(demo_env)
    at = _page("compare")
    boxes = [e for e in at.expander if e.label == "The settings each recipe chose on its validation split"]
    assert boxes
    text = " ".join(m.value for box in boxes for m in box.markdown)
    for line in choice_lines(version.auto_tune):
        assert line in text
