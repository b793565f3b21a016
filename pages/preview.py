"""Preview: a user's history next to their recommendations, with context, filters, promotions and explanations."""

import uuid

import pandas as pd
import streamlit as st

from pages import common, pickers
from recsys import display, filters, serving, workspace
from recsys.exceptions import RecsysError
from recsys.recipes import PERSONALIZED_RANKING, RELATED_ITEMS, USER_PERSONALIZATION

NO_FILTER, BUILD, TYPE = "(none)", "(build a filter)", "(type an expression)"
CHOOSE_PROMOTION = "(choose a saved filter)"

st.title("Preview")
store = common.get_store()
common.show_flash()
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
    item_id = pickers.item_picker(group, "Item (similar items for this item)", "preview_item")
else:
    mode = st.radio("Who", ["Known user", "Anonymous session"], horizontal=True, key="preview_mode")
    if mode == "Known user":
        user_id = pickers.user_picker(group, "User", "preview_user")
        if user_id is None:
            st.stop()
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
    named = {f.name: f for f in filters.list_filters(store, group) if not filters.is_adhoc_filter(f.name)}
    if st.session_state.get("preview_saved_filter") in named:  # just saved below: select it
        st.session_state["preview_filter"] = st.session_state.pop("preview_saved_filter")
    choice = st.selectbox("Filter", [NO_FILTER, BUILD, TYPE] + list(named), key="preview_filter")
    filter_arn, filter_values, expression = None, {}, None
    if choice == BUILD:
        expression = pickers.filter_builder(group, "preview_builder")
        if expression:
            st.code(expression, language=None)
    elif choice == TYPE:
        expression = st.text_input("Filter expression", key="preview_expression",
                                   placeholder='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")')
    elif choice != NO_FILTER:
        filter_arn = named[choice].arn
    shown_expression = named[choice].filter_expression if filter_arn else expression
    if shown_expression:
        try:
            parameters = sorted(filters.parse_filter(shown_expression).parameters)
        except RecsysError as exc:
            st.error(str(exc))
            parameters, expression = [], None
        for p in parameters:
            raw = st.text_input(f"Value of ${p} (e.g. \"a\",\"b\" or 100)", key=f"preview_param_{p}")
            if raw:
                filter_values[p] = raw
    if expression and not filter_arn:
        # Unsaved expressions stay in this session; saving one makes it a filter every page and the API can use.
        c1, c2 = st.columns([3, 1])
        save_as = c1.text_input("Save this expression as a filter named", key="preview_save_name")
        if c2.button("Save filter", key="preview_save_filter", disabled=not save_as):
            try:
                filters.create_filter(store, group, save_as.strip(), expression)
                common.flash(f"Saved filter {save_as.strip()!r}.")
                st.session_state["preview_saved_filter"] = save_as.strip()
                st.rerun()
            except RecsysError as exc:
                st.error(str(exc))
    promotions = None
    if recipe_type != PERSONALIZED_RANKING and st.checkbox("Add a promotion", key="preview_promo_on"):
        if not named:
            st.info("A promotion fills some slots with the items of a saved filter. **Next step:** save one on the "
                    "**Filters** page (e.g. a category or a price range), or save the expression above.")
        else:
            percent = st.slider("percentPromotedItems", 1, 100, 20, key="preview_promo_pct")
            promo_filter = st.selectbox("Promote the items of filter", [CHOOSE_PROMOTION] + list(named),
                                        key="preview_promo_filter")
            if promo_filter in named:
                promotions = [{"name": "promotion", "percentPromotedItems": percent,
                               "filterArn": named[promo_filter].arn}]

metadata_fields = workspace.item_fields(store, group)
name_column = display.display_column(store, group)
items_frame = common.cached_items(group)
filled = [f for f in metadata_fields if f != name_column and items_frame is not None and f in items_frame.columns
          and items_frame[f].notna().any()]
columns = st.multiselect("Item metadata to show", metadata_fields, default=filled[:2], key="preview_columns")

# One recommendationId per question: reruns (and the CSV) show the same promotion and exploration draws.
question = (target["arn"], user_id, item_id, num_results, tuple(sorted(context.items())), choice, expression,
            tuple(sorted(filter_values.items())), repr(promotions))
rids = st.session_state.setdefault("preview_rids", {})
if st.button("Draw again", key="preview_redraw", help="A new recommendationId: new promotion and exploration draws."):
    rids.pop(question, None)
recommendation_id = rids.setdefault(question, f"RID-{uuid.uuid4()}")

# -- answer -----------------------------------------------------------------------------------------------
left, right = st.columns(2)
history_ids: list[str] = []
if user_id:
    with left:
        st.subheader("History")
        history = workspace.history_with_metadata(store, group, user_id, items=items_frame)
        if history.empty:
            st.caption("No events yet: this user gets popular items, by context when given.")
        else:
            history_ids = history["ITEM_ID"].astype(str).tolist()
            shown = display.with_names(history, pickers.item_names(group, history_ids))
            shown = shown.assign(TIMESTAMP=pd.to_datetime(shown["TIMESTAMP"], unit="s", utc=True))
            st.dataframe(common.readable(shown), hide_index=True, width="stretch", height=420, column_config={
                "TIMESTAMP": st.column_config.DatetimeColumn("time (UTC)", format="YYYY-MM-DD HH:mm")})

with right:
    st.subheader("Recommendations")
    if recipe_type == RELATED_ITEMS and not item_id:
        st.caption("Pick an item.")
        st.stop()
    try:
        answer = serving.get_recommendations(
            store, target["arn"], user_id=user_id, item_id=item_id, num_results=num_results, context=context or None,
            filter_arn=filter_arn, filter_values=filter_values or None, filter_expression=expression,
            promotions=promotions, recommendation_id=recommendation_id,
            metadata_columns={"ITEMS": columns} if columns and num_results <= serving.MAX_RESULTS_WITH_METADATA else None,
        ) if recipe_type != PERSONALIZED_RANKING else None
    except RecsysError as exc:
        st.error(str(exc))
        st.stop()
    if answer is not None:
        listed = [it["itemId"] for it in answer["itemList"]]
        names = pickers.item_names(group, listed + history_ids + ([item_id] if item_id else []))
        cited = history_ids + ([item_id] if item_id else [])
        rows = [{"rank": i + 1, "itemId": it["itemId"], display.NAME_COLUMN: names.get(it["itemId"], ""),
                 "score": it.get("score"), "promotion": it.get("promotionName", ""),
                 "why": display.name_reasons(it.get("reason"), names, cited), **(it.get("metadata") or {})}
                for i, it in enumerate(answer["itemList"])]
        frame = pd.DataFrame(rows)
        if frame.empty:
            st.info("No item passes the filter for this user: loosen the filter or pick another user."
                    if filter_arn or expression else "No item to recommend to this user with these settings.")
        else:
            st.dataframe(common.readable(frame), hide_index=True, width="stretch", height=420)
        applied = f" · Filter: {choice}" if filter_arn or expression else ""
        promoted = f" · Promotion: {promotions[0]['percentPromotedItems']}%" if promotions else ""
        st.caption(f"recommendationId `{answer['recommendationId']}`{applied}{promoted}")
        common.download_button(frame, "Download these recommendations (CSV)", "recommendations.csv", key="preview_dl")
        if user_id and len(frame):
            clicked = st.selectbox("Record an event on", listed, format_func=lambda i: display.label(i, names),
                                   key="preview_click_item")
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
                                                        context=context or None, filter_arn=filter_arn,
                                                        filter_values=filter_values or None,
                                                        filter_expression=expression)
            names = pickers.item_names(group, ids + history_ids)
            st.dataframe(common.readable(pd.DataFrame([{"rank": i + 1, "itemId": it["itemId"],
                                        display.NAME_COLUMN: names.get(it["itemId"], ""), "score": it.get("score"),
                                        "why": display.name_reasons(it.get("reason"), names, history_ids)}
                                       for i, it in enumerate(ranked["personalizedRanking"])])),
                         hide_index=True, width="stretch")
        except RecsysError as exc:
            st.error(str(exc))
