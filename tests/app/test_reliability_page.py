"""The Campaigns & Events page shows the event spool's dead letters with their reason, retries and drops them."""

import shutil

from streamlit.testing.v1 import AppTest

import recsys.event_writer as event_writer
from recsys.store import Store

from .test_pages import ROOT, TIMEOUT


def test_dead_letters_are_shown_with_their_reason_then_retried_and_dropped(demo_home, tmp_path, monkeypatch):
    home = tmp_path / "workspace"
    shutil.copytree(demo_home, home)
    monkeypatch.setenv("RECSYS_HOME", str(home))
    store = Store(home)
    # A spooled batch the dataset no longer accepts (a column its schema does not have), set aside by a drain.
    event_writer._spool(store, "demo", ["USER_ID", "ITEM_ID", "TIMESTAMP", "GONE"], [["u1", "i1", 1, "x"]],
                        "s-1", "u1")
    event_writer.drain_spool(store)
    at = AppTest.from_file(str(ROOT / "pages" / "campaigns_events.py"), default_timeout=TIMEOUT)
    at.session_state["group"] = "demo"
    at.run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Dead letters"] == "1" and metrics["Spooled batches"] == "0"
    assert "no column named GONE" in at.dataframe[-1].value["reason"].iloc[0]

    at.button(key="campaigns_spool_retry").click().run()
    assert any("0 written, 1 failed again" in s.value for s in at.success)
    assert len(event_writer.dead_letters(store)) == 1
    at.button(key="campaigns_spool_drop").click().run()
    assert any("Dropped 1 dead letter(s)." in s.value for s in at.success)
    assert {m.label: m.value for m in at.metric}["Dead letters"] == "0" and event_writer.dead_letters(store) == []


def test_the_workbench_ends_interrupted_jobs_when_it_opens_the_workspace(demo_home, tmp_path, monkeypatch):
    from recsys import solutions
    from recsys.store import CREATE_FAILED, CREATE_IN_PROGRESS

    home = tmp_path / "workspace"
    shutil.copytree(demo_home, home)
    monkeypatch.setenv("RECSYS_HOME", str(home))
    store = Store(home)
    (solution, *_) = solutions.list_solutions(store, "demo")
    version = solutions.new_solution_version(store, "demo", solution.name)
    store.update_resource(solutions.SOLUTION_VERSION, "demo", version.name, status=CREATE_IN_PROGRESS,
                          body={"owner": {"token": "deadbeef0004"}, "progress": {"stage": "fitting"}})
    at = AppTest.from_file(str(ROOT / "pages" / "train.py"), default_timeout=TIMEOUT)
    at.session_state["group"] = "demo"
    at.run()
    assert not at.exception, at.exception
    ended = solutions.get_solution_version(store, version.arn)
    assert ended.status == CREATE_FAILED and "during fitting" in ended.failure_reason
