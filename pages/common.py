"""Shared pieces of the workbench pages: the workspace, the chosen dataset group, cached loaders, empty states.

Pages import this module; it holds the only Streamlit caching in the app, so pages stay plain layout.
"""

from __future__ import annotations

import os

import streamlit as st

from recsys.store import Store

GROUP_KEY = "group"


@st.cache_resource
def _store(home: str | None) -> Store:
    return Store(home)


def get_store() -> Store:
    """The workspace of this app ($RECSYS_HOME or data/workspace), opened once per process."""
    return _store(os.environ.get("RECSYS_HOME"))


def group_names() -> list[str]:
    return [g["name"] for g in get_store().list_dataset_groups()]


def current_group() -> str | None:
    """The dataset group picked in the sidebar (the first group when none is picked yet)."""
    names = group_names()
    chosen = st.session_state.get(GROUP_KEY)
    if chosen in names:
        return chosen
    if names:
        st.session_state[GROUP_KEY] = names[0]
        return names[0]
    return None


def group_picker() -> str | None:
    """The shared sidebar selector of the dataset group."""
    names = group_names()
    if not names:
        st.sidebar.caption("No dataset group yet.")
        return None
    current = current_group()
    st.sidebar.selectbox("Dataset group", names, index=names.index(current), key=GROUP_KEY)
    return st.session_state[GROUP_KEY]


def require_group() -> str | None:
    """The current group, or an empty state that says what to do next (and None)."""
    group = current_group()
    if group is None:
        empty_state(
            "The workspace has no dataset group yet.",
            "Load the demo data with `python -m recsys demo`, or create a group and import a file on the Data page.",
        )
    return group


FLASH_KEY = "flash_message"


def flash(message: str) -> None:
    """Keep a confirmation for the next run: messages written just before st.rerun() would never be seen."""
    st.session_state[FLASH_KEY] = message


def show_flash() -> None:
    """Show (once) the confirmation kept by `flash`."""
    message = st.session_state.pop(FLASH_KEY, None)
    if message:
        st.success(message)


def empty_state(message: str, next_step: str) -> None:
    st.info(f"{message}\n\n**Next step:** {next_step}")


def download_button(frame, label: str, file_name: str, key: str | None = None) -> None:
    """Every table can be downloaded as CSV."""
    st.download_button(label, frame.to_csv(index=False).encode("utf-8"), file_name=file_name,
                       mime="text/csv", key=key or f"dl-{file_name}")


def param_widgets(recipe_cls, key_prefix: str) -> dict:
    """One widget per hyperparameter of a recipe, each with its one-line explanation; returns changed values."""
    chosen = {}
    for name, info in recipe_cls.param_info.items():
        key = f"{key_prefix}_{recipe_cls.name}_{name}"
        label = f"`{name}`"
        if info.kind == "bool":
            value = st.checkbox(label, value=bool(info.default), help=info.help, key=key)
        elif info.kind == "str" and info.choices:
            value = st.selectbox(label, list(info.choices), index=list(info.choices).index(info.default)
                                 if info.default in info.choices else 0, help=info.help, key=key)
        elif info.kind == "int" and info.default is not None:
            low, high = (info.range or (None, None))
            value = st.number_input(label, value=int(info.default), min_value=low, max_value=high, step=1,
                                    help=info.help, key=key)
        elif info.kind == "float" and info.default is not None:
            low, high = (info.range or (None, None))
            value = st.number_input(label, value=float(info.default),
                                    min_value=None if low is None else float(low),
                                    max_value=None if high is None else float(high),
                                    help=info.help, key=key, format="%g")
        else:
            text = st.text_input(label, value="" if info.default is None else str(info.default), help=info.help,
                                 key=key)
            value = None if text.strip() in ("", "None") else text
        if value != info.default:
            chosen[name] = value
    return chosen


@st.cache_data(ttl=600, show_spinner="Profiling the data...")
def _profile(group: str, version: tuple, home: str) -> dict:
    from recsys import profile

    return profile.profile_group(get_store(), group)


def cached_profile(group: str) -> dict:
    """The data profile of a group, recomputed only when its data changes."""
    from recsys import workspace

    store = get_store()
    return _profile(group, workspace.data_version(store, group), str(store.home))
