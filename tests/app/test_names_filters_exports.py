"""Names beside ids, built and unsaved filters, stable promotions and campaign-ready exports, in the pages."""

from recsys import display, filters
from recsys.store import Store

from .test_pages import run


def recommendations(at):
    return at.dataframe[-1].value


def test_preview_names_items_in_history_recommendations_and_reasons(demo_env):
    store = Store(demo_env)
    at = run("preview", group="demo")
    assert not at.exception and not at.error, [e.value for e in at.error]
    frame = recommendations(at)
    names = display.item_names(store, "demo", frame["itemId"])
    assert frame["ITEM_NAME"].tolist() == [names.get(i, "") for i in frame["itemId"]]
    assert frame["ITEM_NAME"].str.len().gt(0).all()
    history = at.dataframe[0].value
    assert "ITEM_NAME" in history.columns and history["ITEM_NAME"].str.len().gt(0).all()
    cited = [w for w in frame["why"] if "interacted with" in w]
    assert cited and all("(" in w for w in cited), cited  # "Because you interacted with i0042 (name)"


def test_a_built_filter_applies_without_becoming_a_saved_filter(demo_env):
    store = Store(demo_env)
    before = {f.name for f in filters.list_filters(store, "demo")}
    at = run("preview", group="demo", preview_filter="(build a filter)",
             preview_builder_seen=["(any event)"])
    assert not at.exception and not at.error, [e.value for e in at.error]
    history = set(at.dataframe[0].value["ITEM_ID"])
    assert not history & set(recommendations(at)["itemId"])
    assert any("Filter: (build a filter)" in c.value for c in at.caption)
    assert {f.name for f in filters.list_filters(store, "demo")} == before


def test_promoted_slots_stay_put_across_reruns(demo_env):
    at = run("preview", group="demo", preview_promo_on=True, preview_promo_filter="no-purchased",
             preview_promo_pct=30)
    assert not at.exception and not at.error, [e.value for e in at.error]
    first = recommendations(at)
    assert (first["promotion"] == "promotion").sum() == 3
    again = recommendations(at.run())
    assert again[["itemId", "promotion"]].equals(first[["itemId", "promotion"]])


def test_batch_from_a_pasted_user_list_gives_a_named_csv(demo_env):
    at = run("segments_batch", group="demo", batch_source="A list of user ids (CSV)",
             batch_user_text="USER_ID\nu0003\nu0001\n")
    at.button(key="batch_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    frame = at.dataframe[0].value
    assert list(frame.columns)[:5] == ["USER_ID", "RANK", "ITEM_ID", "ITEM_NAME", "SCORE"]
    assert list(dict.fromkeys(frame["USER_ID"])) == ["u0003", "u0001"] and frame["ITEM_NAME"].str.len().gt(0).all()


def test_segment_csv_names_items_and_leaves_out_existing_buyers(demo_env):
    from recsys import datasets

    store = Store(demo_env)
    at = run("segments_batch", group="demo")
    item = at.multiselect(key="segments_items").value[0]
    at.button(key="segments_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    frame = next(df.value for df in at.dataframe if "SEGMENT" in df.value.columns)
    assert list(frame.columns)[:5] == ["SEGMENT", "ITEM_NAME", "RANK", "USER_ID", "SCORE"]
    segment = frame[frame["SEGMENT"] == item]
    events = datasets.read_interactions(store, "demo", columns=["USER_ID", "ITEM_ID"])
    had = set(events.loc[events["ITEM_ID"] == item, "USER_ID"])
    assert len(segment) == 100 and not set(segment["USER_ID"]) & had
    assert segment["ITEM_NAME"].iloc[0] == display.item_names(store, "demo", [item])[item]


def test_simulator_finds_any_user_by_search_and_names_items(demo_env):
    from recsys import queries

    store = Store(demo_env)
    everyone = queries.active_users(store, "demo")
    last = everyone[-1]  # far past the first 100 the simulator used to list
    at = run("campaigns_events", group="demo", campaigns_sim_user_query=last)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.selectbox(key="campaigns_sim_user").value == last
    shown = " ".join(m.value for m in at.markdown)
    names = display.item_names(store, "demo")
    assert sum(name in shown for name in names.values()) >= 5
