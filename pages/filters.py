"""Filters: write filter expressions with live validation, try them on a user, and save them as named filters."""

import streamlit as st

from pages import common, pickers
from recsys import display, filters, workspace
from recsys.filters import builder
from recsys.exceptions import FilterSyntaxError, RecsysError

st.title("Filters")
store = common.get_store()
common.show_flash()
group = common.require_group()
if group is None:
    st.stop()

st.caption("Personalize's filter language, with no limit on the number of filters, fields or history length. "
           "Start from a preset or the builder, or type an expression.")

EXPRESSION_KEY = "filters_expression"
if EXPRESSION_KEY not in st.session_state:
    st.session_state[EXPRESSION_KEY] = builder.INTERACTED_EXPRESSION

left, right = st.columns(2)
with left.container(border=True):
    st.markdown("**Presets** (from this group's event types)")
    ready = builder.presets(common.cached_event_types(group))
    preset = st.selectbox("Preset", list(ready), key="filters_preset")
    st.code(ready[preset], language=None)
    if st.button("Use this preset", key="filters_use_preset"):
        st.session_state[EXPRESSION_KEY] = ready[preset]
        st.rerun()
with right.container(border=True):
    st.markdown("**Build a filter**")
    built = pickers.filter_builder(group, "filters_builder")
    if built:
        st.code(built, language=None)
    if st.button("Use the built expression", key="filters_use_built", disabled=not built):
        st.session_state[EXPRESSION_KEY] = built
        st.rerun()

expression = st.text_area("Filter expression", height=100, key=EXPRESSION_KEY)
compiled = None
try:
    compiled = filters.parse_filter(expression)
    st.success("Valid expression" + (f" with parameters: {', '.join('$' + p for p in sorted(compiled.parameters))}"
                                     if compiled.parameters else "."))
except FilterSyntaxError as exc:
    st.error(exc.message)
    st.code(f"{exc.expression}\n{' ' * exc.position}^", language=None)
except RecsysError as exc:
    st.error(str(exc))

if compiled is not None:
    with st.expander("Try it", expanded=True):
        user_id = pickers.user_picker(group, "As user", "filters_try_user")
        item_id = st.text_input("Current item (for CurrentItem.X)", key="filters_try_item")
        values = {p: st.text_input(f"${p}", key=f"filters_value_{p}", help='e.g. "a","b" or 100')
                  for p in sorted(compiled.parameters)}
        try:
            _, frame = workspace.try_filter(store, group, expression,
                                            user_id=user_id,
                                            item_id=item_id or None,
                                            filter_values={k: v for k, v in values.items() if v},
                                            items=common.cached_items(group), users=common.cached_users(group),
                                            catalogue=common.cached_catalogue(group))
            passing = int(frame["passes"].sum())
            st.metric("Items that pass", f"{passing:,} of {len(frame):,}")
            shown = {"Pass": frame[frame["passes"]].head(100), "Removed": frame[~frame["passes"]].head(100)}
            names = pickers.item_names(group, [i for part in shown.values() for i in part["ITEM_ID"]])
            for column, (caption, part) in zip(st.columns(2), shown.items()):
                column.caption(caption)
                column.dataframe(display.with_names(part.drop(columns="passes"), names), hide_index=True,
                                 width="stretch")
        except RecsysError as exc:
            st.error(str(exc))
    with st.form("filters_save"):
        name = st.text_input("Save as filter named", key="filters_name")
        if st.form_submit_button("Save filter"):
            try:
                created = filters.create_filter(store, group, name, expression)
                st.success(f"Saved {created.arn}")
            except RecsysError as exc:
                st.error(str(exc))

st.subheader("Saved filters")
saved = [f for f in filters.list_filters(store, group) if not filters.is_adhoc_filter(f.name)]
if not saved:
    common.empty_state("No saved filter yet.", "Write an expression above and save it.")
for f in saved:
    c1, c2, c3 = st.columns([2, 6, 1])
    c1.markdown(f"**{f.name}**")
    c2.code(f.filter_expression, language=None)
    if c3.button("Delete", key=f"filters_delete_{f.name}"):
        filters.delete_filter(store, group, f.name)
        common.flash(f"Deleted filter {f.name!r}.")
        st.rerun()
