"""Preview: a user's history next to their recommendations, with context, filters, promotions and explanations."""

import uuid

import pandas as pd
import streamlit as st

from pages import common
from recsys import filters, serving, workspace
from recsys.exceptions import RecsysError
from recsys.recipes import PERSONALIZED_RANKING, RELATED_ITEMS, USER_PERSONALIZATION

st.title("Preview")
store = common.get_store()
group = common.require_group()
if group is None:
    st.stop()

targets = workspace.preview_targets(store, group)
if not targets:
    common.empty_state("Nothing to preview yet.", "Train a recipe on the **Train** page; any ACTIVE version can be previewed.")
    st.stop()

target = st.selectbox("Model", targets, format_func=lambda t: t["label"], key="preview_target")
recipe_type = target["recipe_type"]
num_results = st.slider("numResults", 1, 100, 10, key="preview_num")

# -- who or what ------------------------------------------------------------------------------------------
user_id = item_id = None
if recipe_type == RELATED_ITEMS:
    item_id = st.text_input("Item id (similar items for this item)", key="preview_item")
else:
    mode = st.radio("Who", ["Known user", "Anonymous session"], horizontal=True, key="preview_mode")
    if mode == "Known user":
        query = st.text_input("Search users by id or attribute", key="preview_user_query")
        matches = common.cached_search_users(group, query)
        if not matches:
            st.warning("No user matches this search.")
            st.stop()
        user_id = st.selectbox("User", matches, key="preview_user")
    else:
        if "preview_session" not in st.session_state:
            st.session_state.preview_session = f"session-{uuid.uuid4().hex[:8]}"
        user_id = st.session_state.preview_session
        st.caption(f"Session id `{user_id}`: click items below to record events and watch the list change.")

# -- options ----------------------------------------------------------------------------------------------
with st.expander("Context, filter and promotion"):
    context = {}
    for field, values in common.cached_context_options(group).items():
        value = st.selectbox(f"Context `{field}`", ["(none)"] + values, key=f"preview_ctx_{field}")
        if value != "(none)":
            context[field] = value
    named = {f.name: f for f in filters.list_filters(store, group)}
    choice = st.selectbox("Filter", ["(none)", "(type an expression)"] + list(named), key="preview_filter")
    filter_arn, filter_values = None, {}
    expression = None
    if choice == "(type an expression)":
        expression = st.text_input("Filter expression", 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")',
                                   key="preview_expression")
    elif choice != "(none)":
        expression = named[choice].filter_expression
        filter_arn = named[choice].arn
    if expression:
        try:
            parameters = sorted(filters.parse_filter(expression).parameters)
        except RecsysError as exc:
            st.error(str(exc))
            parameters = []
            expression = None
        for p in parameters:
            raw = st.text_input(f"Value of ${p} (e.g. \"a\",\"b\" or 100)", key=f"preview_param_{p}")
            if raw:
                filter_values[p] = raw
        if choice == "(type an expression)" and expression:
            filter_arn = workspace.adhoc_filter(store, group, expression).arn
    promotions = None
    if recipe_type != PERSONALIZED_RANKING and st.checkbox("Add a promotion", key="preview_promo_on"):
        percent = st.slider("percentPromotedItems", 1, 100, 20, key="preview_promo_pct")
        promo_filter = st.selectbox("Promotion filter", list(named) or ["(no filter yet)"], key="preview_promo_filter")
        if promo_filter in named:
            promotions = [{"name": "promotion", "percentPromotedItems": percent, "filterArn": named[promo_filter].arn}]

metadata_fields = workspace.item_fields(store, group)
columns = st.multiselect("Item metadata to show", metadata_fields, default=metadata_fields[:3], key="preview_columns")

# -- answer -----------------------------------------------------------------------------------------------
left, right = st.columns(2)
if user_id:
    with left:
        st.subheader("History")
        history = workspace.history_with_metadata(store, group, user_id, items=common.cached_items(group))
        if history.empty:
            st.caption("No events yet: this user gets popular items, by context when given.")
        else:
            shown = history.assign(TIMESTAMP=pd.to_datetime(history["TIMESTAMP"], unit="s", utc=True))
            st.dataframe(shown, hide_index=True, width="stretch", height=420, column_config={
                "TIMESTAMP": st.column_config.DatetimeColumn("time (UTC)", format="YYYY-MM-DD HH:mm")})

with right:
    st.subheader("Recommendations")
    if recipe_type == RELATED_ITEMS and not item_id:
        st.caption("Type an item id.")
        st.stop()
    try:
        answer = serving.get_recommendations(
            store, target["arn"], user_id=user_id, item_id=item_id, num_results=num_results, context=context or None,
            filter_arn=filter_arn, filter_values=filter_values or None, promotions=promotions,
            metadata_columns={"ITEMS": columns} if columns and num_results <= serving.MAX_RESULTS_WITH_METADATA else None,
        ) if recipe_type != PERSONALIZED_RANKING else None
    except RecsysError as exc:
        st.error(str(exc))
        st.stop()
    if answer is not None:
        rows = [{"rank": i + 1, "itemId": it["itemId"], "score": it.get("score"),
                 "promotion": it.get("promotionName", ""), "why": "; ".join(it.get("reason") or []),
                 **(it.get("metadata") or {})} for i, it in enumerate(answer["itemList"])]
        frame = pd.DataFrame(rows)
        st.dataframe(frame, hide_index=True, width="stretch", height=420)
        applied = f" · Filter: {choice}" if filter_arn else ""
        st.caption(f"recommendationId `{answer['recommendationId']}`{applied}")
        common.download_button(frame, "Download as CSV", "recommendations.csv", key="preview_dl")
        if user_id and len(frame):
            clicked = st.selectbox("Record an event on", frame["itemId"], key="preview_click_item")
            event_type = st.text_input("eventType", "view", key="preview_click_type")
            if st.button("Record event (put_events)", key="preview_click"):
                try:
                    workspace.record_event(store, group, user_id, clicked, event_type, context)
                    st.rerun()
                except RecsysError as exc:
                    st.error(str(exc))

if user_id and recipe_type in (USER_PERSONALIZATION, PERSONALIZED_RANKING):
    st.subheader("Personalized ranking of a list")
    pasted = st.text_area("Item ids (comma or newline separated)", key="preview_rank_list")
    if st.button("Rank", key="preview_rank") and pasted.strip():
        ids = [x.strip() for x in pasted.replace(",", "\n").splitlines() if x.strip()]
        try:
            ranked = serving.get_personalized_ranking(store, target["arn"], user_id=user_id, input_list=ids,
                                                        context=context or None)
            st.dataframe(pd.DataFrame([{"rank": i + 1, "itemId": it["itemId"], "score": it.get("score"),
                                        "why": "; ".join(it.get("reason") or [])}
                                       for i, it in enumerate(ranked["personalizedRanking"])]),
                         hide_index=True, width="stretch")
        except RecsysError as exc:
            st.error(str(exc))
