"""Widgets several pages share: item and user pickers searchable by name or attribute, and the filter builder.

Not a page of its own (app.py lists the pages); the pages import it like `pages.common`.
"""

from __future__ import annotations

import streamlit as st

from pages import common
from recsys import cleaning, datasets, display, queries
from recsys.columns import ITEMS
from recsys.exceptions import NotFoundError, RecsysError
from recsys.filters import builder

ANY_EVENT = "(any event)"
NO_FIELD = "(none)"


def item_names(group: str, item_ids) -> dict[str, str]:
    """{item id: name} of some items (an indexed read of their Items rows, by the group's display column)."""
    ids = [str(i) for i in item_ids]
    return display.item_names(common.get_store(), group, ids) if ids else {}


def search_items(group: str, query: str, limit: int = 50) -> list[str]:
    """Items matching a search by id or name, the most popular (cached per data version) when it is empty;
    never the group's excluded items (fees, postage...), which no model knows."""
    store = common.get_store()
    excluded = set(cleaning.excluded_items(store, group))
    if not query.strip():
        found = common.cached_popular_items(group, limit + len(excluded))
    else:
        found = queries.search_items(store, group, query, limit=limit + len(excluded),
                                     name_column=display.display_column(store, group))
    return [i for i in found if i not in excluded][:limit]


def item_picker(group: str, label: str, key: str, *, default_query: str = "") -> str | None:
    """One item, found by id or name; None when nothing matches."""
    query = st.text_input(f"Search {label.lower()} by id or name", default_query, key=f"{key}_query")
    found = search_items(group, query)
    if not found:
        st.caption("No item matches this search.")
        return None
    names = item_names(group, found)
    return st.selectbox(label, found, format_func=lambda i: display.label(i, names), key=key)


def items_picker(group: str, label: str, key: str, *, default: list[str] | None = None) -> list[str]:
    """Several items, found by id or name (the choices stay while the search changes)."""
    query = st.text_input(f"Search {label.lower()} by id or name", key=f"{key}_query")
    found = search_items(group, query)
    chosen = st.session_state.get(key, default or [])
    options = list(dict.fromkeys([*chosen, *found]))
    names = item_names(group, options)
    if key not in st.session_state and default:
        st.session_state[key] = default
    return st.multiselect(label, options, format_func=lambda i: display.label(i, names), key=key)


def user_picker(group: str, label: str, key: str) -> str | None:
    """One user, found by id or any Users attribute (the most active users when the search is empty)."""
    query = st.text_input(f"Search {label.lower()}s by id or attribute", key=f"{key}_query",
                          help="Matches the user id or any field of the Users dataset (e.g. a country).")
    matches = common.cached_search_users(group, query, limit=100)
    if not matches:
        st.caption("No user matches this search.")
        return None
    return st.selectbox(label, matches, key=key)


def filter_builder(group: str, key: str) -> str | None:
    """Point-and-click rules that write a filter expression; returns it (None when no rule is chosen)."""
    store = common.get_store()
    event_types = common.cached_event_types(group)
    try:
        schema = datasets.get_dataset(store, group, ITEMS)["schema"]
    except NotFoundError:
        schema = None
    fields = builder.builder_fields(common.cached_items(group), schema)
    seen = st.multiselect("Exclude items the user interacted with", [ANY_EVENT] + list(event_types),
                          key=f"{key}_seen", help="Any event, or only some event types (those in the data).")
    include, ranges = {}, {}
    c1, c2 = st.columns(2)
    categorical = fields["categorical"]
    field = c1.selectbox("Only items whose field", [NO_FIELD] + list(categorical), key=f"{key}_field",
                         disabled=not categorical, help="A categorical field of the Items dataset.")
    if field != NO_FIELD:
        include[field] = c2.multiselect("is one of", categorical[field], key=f"{key}_values_{field}")
    numeric = fields["numeric"]
    c1, c2, c3 = st.columns([2, 1, 1])
    number = c1.selectbox("Only items whose number", [NO_FIELD] + list(numeric), key=f"{key}_number",
                          disabled=not numeric, help="A numeric field of the Items dataset, e.g. PRICE.")
    if number != NO_FIELD:
        low, high = numeric[number]
        chosen_low = c2.number_input("is at least", value=low, key=f"{key}_low_{number}", format="%g")
        chosen_high = c3.number_input("and at most", value=high, key=f"{key}_high_{number}", format="%g")
        ranges[number] = (None if chosen_low <= low else chosen_low, None if chosen_high >= high else chosen_high)
        if ranges[number] == (None, None):
            del ranges[number]
    if not (seen or any(include.values()) or ranges):
        return None
    try:
        return builder.build_expression(exclude_event_types=["*" if t == ANY_EVENT else t for t in seen],
                                        include=include, ranges=ranges)
    except RecsysError as exc:
        st.error(str(exc))
        return None
