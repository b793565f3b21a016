"""Filters: write filter expressions with live validation, try them on a user, and save them as named filters."""

import streamlit as st

from pages import common
from recsys import filters, workspace
from recsys.exceptions import FilterSyntaxError, RecsysError

st.title("Filters")
store = common.get_store()
common.show_flash()
group = common.require_group()
if group is None:
    st.stop()

st.caption("Personalize's filter language, with no limit on the number of filters, fields or history length. "
           'Example: `EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase") | '
           'INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ($CATEGORY)`')

expression = st.text_area("Filter expression", 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")',
                          height=100, key="filters_expression")
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
        users = common.cached_search_users(group, "", limit=200)
        user_id = st.selectbox("As user", ["(none)"] + users, key="filters_try_user")
        item_id = st.text_input("Current item (for CurrentItem.X)", key="filters_try_item")
        values = {p: st.text_input(f"${p}", key=f"filters_value_{p}", help='e.g. "a","b" or 100')
                  for p in sorted(compiled.parameters)}
        try:
            _, frame = workspace.try_filter(store, group, expression,
                                            user_id=None if user_id == "(none)" else user_id,
                                            item_id=item_id or None,
                                            filter_values={k: v for k, v in values.items() if v},
                                            items=common.cached_items(group), users=common.cached_users(group),
                                            catalogue=common.cached_catalogue(group))
            passing = int(frame["passes"].sum())
            st.metric("Items that pass", f"{passing:,} of {len(frame):,}")
            left, right = st.columns(2)
            left.caption("Pass")
            left.dataframe(frame[frame["passes"]].drop(columns="passes").head(100), hide_index=True, width="stretch")
            right.caption("Removed")
            right.dataframe(frame[~frame["passes"]].drop(columns="passes").head(100), hide_index=True, width="stretch")
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
