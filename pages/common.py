"""Shared pieces of the workbench pages: the workspace, the chosen dataset group, cached loaders, empty states.

Pages import this module; it holds the only Streamlit caching in the app, so pages stay plain layout.
"""

from __future__ import annotations

import contextlib
import logging
import os
import traceback

import numpy as np
import pandas as pd
import streamlit as st

from recsys import datasets, queries, workspace
from recsys.evaluation import comparisons
from recsys.exceptions import NotFoundError, RecsysError
from recsys.recovery import recover
from recsys.store import Store

log = logging.getLogger("recsys.workbench")

GROUP_KEY = "group"
# A group chosen by a page (e.g. just created): applied before the sidebar picker exists in the next run, since a
# widget's value cannot be set once the widget has been drawn (StreamlitWidgetAlreadyInstantiatedError).
PENDING_GROUP_KEY = "group_pending"
# Choices worth keeping when the user switches page and comes back (versions, recipes, users...) are widgets
# with a key and `persist_state=KEEP` (Streamlit otherwise forgets a widget's value when its page is left).
KEEP = "session"
UNEXPECTED = "Something unexpected went wrong here; it was logged, and the details below help to report it."


@st.cache_resource
def _store(home: str | None) -> Store:
    store = Store(home)
    recover(store)  # jobs a killed process left running end as they truly ended
    return store


def get_store() -> Store:
    """The workspace of this app ($RECSYS_HOME or data/workspace), opened once per process; a workspace that
    cannot be opened (a full disk, read-only) stops the page with its one-line reason."""
    try:
        return _store(os.environ.get("RECSYS_HOME"))
    except RecsysError as exc:
        st.error(str(exc))
        st.stop()


def group_names() -> list[str]:
    return [g["name"] for g in get_store().list_dataset_groups()]


def leave_legacy_pages_mode() -> None:
    """Rerun through app.py when Streamlit ran a page file on its own.

    A fresh server opened on a deep link (/data) runs pages/data.py by itself, in Streamlit's old
    pages-folder mode (every file of pages/ listed, no sidebar picker, no guard), until app.py has called
    st.navigation once. The flag is Streamlit's own; when it is set, clearing it and rerunning runs app.py.
    """
    try:
        from streamlit import runtime
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without the old mode
        return
    if getattr(PagesManager, "uses_pages_directory", False) and runtime.exists():
        PagesManager.uses_pages_directory = False
        st.rerun()


def select_group(name: str) -> None:
    """Make `name` the current group from the next run on (call it before `st.rerun()`)."""
    st.session_state[PENDING_GROUP_KEY] = name


def current_group() -> str | None:
    """The dataset group picked in the sidebar (the first group when none is picked yet)."""
    leave_legacy_pages_mode()
    names = group_names()
    pending = st.session_state.pop(PENDING_GROUP_KEY, None)
    if pending in names:
        st.session_state[GROUP_KEY] = pending
    chosen = st.session_state.get(GROUP_KEY)
    if chosen in names:
        return chosen
    if names:
        st.session_state[GROUP_KEY] = names[0]
        return names[0]
    return None


def group_picker() -> str | None:
    """The shared sidebar selector of the dataset group."""
    current = current_group()
    names = group_names()
    if not names:
        st.sidebar.caption("No dataset group yet.")
        return None
    st.sidebar.selectbox("Dataset group", names, index=names.index(current), key=GROUP_KEY)
    return st.session_state[GROUP_KEY]


@contextlib.contextmanager
def guard(where: str = "page"):
    """Show an unexpected error as one plain sentence with the traceback in a collapsed expander, and log it.

    Wraps every page (app.py) and every auto-refreshing fragment; st.stop() and st.rerun() pass through (they
    are not `Exception`s). Also usable as a decorator. Bugs it catches are still bugs: the app tests fail on them.
    """
    try:
        yield
    except Exception:  # noqa: BLE001 - the last line of defence between a bug and the user's screen
        log.exception("unexpected error in the workbench (%s)", where)
        st.error(UNEXPECTED, icon=":material/error:")
        with st.expander("Details of the error", expanded=False):
            st.code(traceback.format_exc(), language="text")


def require_group() -> str | None:
    """The current group, or an empty state that says what to do next (and None)."""
    group = current_group()
    if group is None:
        empty_state(
            "The workspace has no dataset group yet.",
            "Load the demo data with the button on **Home**, or create a group and import a file on the **Data** "
            "page.",
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


def number(value, spec: str = ",") -> str:
    """A number formatted for a metric, or "—" when there is none yet (e.g. the sparsity of an empty dataset)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "—"
    return format(value, spec)


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """A table as a person reads it: columns the data has no value in are left out (EVENT_TYPE of data without
    event types), and the other missing cells are blank, where Streamlit would print "None"."""
    kept = frame.loc[:, frame.notna().any(axis=0) | (frame.shape[0] == 0)]
    gaps = [c for c in kept.columns if kept[c].isna().any()]
    return kept.assign(**{c: kept[c].map(_cell, na_action="ignore").where(kept[c].notna(), "").astype(str)
                          for c in gaps}) if gaps else kept


def _cell(value) -> str:
    """A value of a column turned to text (it has blanks; one type per column, as Arrow needs), numbers as
    Streamlit would have shown them: 0.1058, 7.441, 12."""
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else str(round(float(value), 4))
    return str(value)


def empty_state(message: str, next_step: str) -> None:
    st.info(f"{message}\n\n**Next step:** {next_step}")


def download_button(frame, label: str, file_name: str, key: str | None = None) -> None:
    """Every table can be downloaded as CSV."""
    st.download_button(label, frame.to_csv(index=False).encode("utf-8"), file_name=file_name,
                       mime="text/csv", key=key or f"dl-{file_name}")


# Words that keep their capitals when a parameter name is turned into a label.
_LABEL_WORDS = {"l2": "L2", "als": "ALS", "ease": "EASE", "lsa": "LSA", "knn": "kNN", "lr": "learning rate",
                "svd": "SVD", "all": "(all)", "k": "k", "min": "minimum", "max": "maximum", "reg": "regularisation"}


def param_label(name: str) -> str:
    """A hyperparameter's name in words: `popularity_discount_factor` -> "Popularity discount factor"."""
    words = [_LABEL_WORDS.get(w, w) for w in name.split("_")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def param_value(value) -> str:
    """A hyperparameter's value as shown: an unset one (None: the recipe decides) reads "not set"."""
    return "not set" if value is None else str(value)


def param_help(name: str, info) -> str:
    """The recipe's own explanation of a hyperparameter, with its API name and default."""
    return f"{info.help[:1].upper()}{info.help[1:]}. API name `{name}`, default `{param_value(info.default)}`."


def recipe_label(recipe_cls) -> str:
    """A recipe as a person picks it: its id and the first use case it serves ("aws-sims · Frequently bought...")."""
    cases = getattr(recipe_cls, "use_cases", ()) or ()
    return f"{recipe_cls.name} · {cases[0]}" if cases else recipe_cls.name


def recipe_help(recipe_cls) -> str:
    """What a recipe does and Personalize's use cases it serves, for a tooltip or caption."""
    cases = getattr(recipe_cls, "use_cases", ()) or ()
    text = (getattr(recipe_cls, "description", "") or "") + f" Type {recipe_cls.recipe_type}."
    return text + (" Use cases: " + "; ".join(cases) + "." if cases else "")


def param_widgets(recipe_cls, key_prefix: str) -> dict:
    """One widget per hyperparameter of a recipe, labelled in words with its explanation; returns changed values."""
    chosen = {}
    for name, info in recipe_cls.param_info.items():
        key = f"{key_prefix}_{recipe_cls.name}_{name}"
        label, helptext = param_label(name), param_help(name, info)
        if info.kind == "bool":
            value = st.checkbox(label, value=bool(info.default), help=helptext, key=key, persist_state=KEEP)
        elif info.kind == "str" and info.choices:
            value = st.selectbox(label, list(info.choices), index=list(info.choices).index(info.default)
                                 if info.default in info.choices else 0, help=helptext, key=key, persist_state=KEEP)
        elif info.kind == "int" and info.default is not None:
            low, high = (info.range or (None, None))
            value = st.number_input(label, value=int(info.default), min_value=low, max_value=high, step=1,
                                    help=helptext, key=key, persist_state=KEEP)
        elif info.kind == "float" and info.default is not None:
            low, high = (info.range or (None, None))
            value = st.number_input(label, value=float(info.default),
                                    min_value=None if low is None else float(low),
                                    max_value=None if high is None else float(high),
                                    help=helptext, key=key, format="%g", persist_state=KEEP)
        else:
            text = st.text_input(label, value="" if info.default is None else str(info.default), help=helptext,
                                 key=key, persist_state=KEEP)
            value = None if text.strip() in ("", "None") else text
        if value != info.default:
            chosen[name] = value
    return chosen


# -- cached reads ------------------------------------------------------------------------------------------
# Every page reruns top to bottom on each click, so reads that scan a dataset are cached here, keyed on the
# group's data version (`recsys.queries.data_version`: a few indexed lookups, changes with every import or
# event). Frames are kept with st.cache_resource (no copy per rerun; callers must not modify them in place);
# small answers with st.cache_data. Entries also expire after ENTITY_TTL seconds, to bound memory and as a
# safety net for writes made outside the product. Answers over the interactions that new
# events only extend (context values, event types, the catalogue) are updated from the new rows (`_incremental`)
# instead of re-reading a million rows after each event.

ENTITY_TTL = 600


def data_version(group: str) -> tuple:
    """The cheap fingerprint of a group's data that keys every cached read below."""
    return queries.data_version(get_store(), group)


# Profiling reads every interaction (seconds at a million rows): on large groups a profile is reused for up to
# PROFILE_MAX_AGE seconds while only new events arrive, instead of being recomputed after every event.
LARGE_GROUP_INTERACTIONS = 50_000
PROFILE_MAX_AGE = 300


@st.cache_data(ttl=PROFILE_MAX_AGE, max_entries=32, show_spinner="Profiling the data...")
def _profile(group: str, version: tuple, home: str, max_age: float) -> dict:
    return workspace.group_profile(get_store(), group, version, max_age=max_age)


def cached_profile(group: str) -> dict:
    """The data profile of a group, recomputed when its data changes.

    On groups of more than LARGE_GROUP_INTERACTIONS interactions, a profile less than PROFILE_MAX_AGE seconds
    old is kept while only streamed events are added; it then says how many (`newer_events`).
    """
    store = get_store()
    version = data_version(group)
    rows = _row_counts(group, version, str(store.home)).get("Interactions", 0)
    max_age = PROFILE_MAX_AGE if rows > LARGE_GROUP_INTERACTIONS else 0.0
    return _profile(group, version, str(store.home), max_age)


@st.cache_data(ttl=ENTITY_TTL, max_entries=64, show_spinner=False)
def _row_counts(group: str, version: tuple, home: str) -> dict:
    return queries.row_counts(get_store(), group)


@st.cache_data(ttl=ENTITY_TTL, max_entries=64, show_spinner=False)
def _distinct_ids(group: str, version: tuple, home: str) -> dict:
    return queries.distinct_ids(get_store(), group)


def cached_group_status(group: str) -> dict:
    """`workspace.group_status` with the counts cached per data version (resources are read live)."""
    store = get_store()
    version, home = data_version(group), str(store.home)
    return workspace.group_status(store, group, counts=_row_counts(group, version, home),
                                  distinct=_distinct_ids(group, version, home))


@st.cache_resource(show_spinner=False)
def _incremental_memo() -> dict:
    """Answers that new events only extend, by (kind, workspace, group): {version, base, seq, value}."""
    return {}


def _incremental(kind: str, group: str, full, since, merge):
    """An answer over all interactions, updated from the rows after the last answer when only events were added.

    `full()` computes it, `since(seq)` computes it over the interactions after `_seq` `seq`, `merge(old, new)`
    combines two answers. Anything but new events (imports, deletions, item/user changes) recomputes it.
    """
    version = data_version(group)
    base = queries.version_without_newest_event(version)
    seq = queries.newest_event(version)
    memo = _incremental_memo()
    key = (kind, str(get_store().home), group)
    entry = memo.get(key)
    if entry is not None and entry["version"] == version:
        return entry["value"]
    if entry is not None and entry["base"] == base and entry["seq"] <= seq:
        value = merge(entry["value"], since(entry["seq"]))
    else:
        value = full()
    memo[key] = {"version": version, "base": base, "seq": seq, "value": value}
    return value


def cached_context_options(group: str) -> dict[str, list[str]]:
    """The contextual fields of a group and the values seen in its interactions (do not modify the lists)."""
    store = get_store()
    return _incremental("context_options", group, lambda: queries.context_options(store, group),
                        lambda seq: queries.context_options(store, group, since_seq=seq),
                        queries.merge_context_options)


def cached_event_types(group: str) -> list[str]:
    """The event types of a group's interactions, most frequent first."""
    store = get_store()
    counts = _incremental("event_type_counts", group, lambda: queries.event_type_counts(store, group),
                          lambda seq: queries.event_type_counts(store, group, since_seq=seq),
                          lambda old, new: {k: old.get(k, 0) + new.get(k, 0) for k in dict.fromkeys([*old, *new])})
    return queries.ranked_event_types(counts)


@st.cache_data(ttl=ENTITY_TTL, max_entries=256, show_spinner=False)
def _search_users(group: str, query: str, limit: int, version: tuple, home: str) -> list[str]:
    return queries.search_users(get_store(), group, query, limit=limit)


def cached_search_users(group: str, query: str, limit: int = 50) -> list[str]:
    """`queries.search_users`, cached per query and data version."""
    return _search_users(group, query or "", int(limit), data_version(group), str(get_store().home))


@st.cache_data(ttl=ENTITY_TTL, max_entries=64, show_spinner=False)
def _popular_items(group: str, limit: int, version: tuple, home: str) -> list[str]:
    return queries.popular_items(get_store(), group, limit)


def cached_popular_items(group: str, limit: int = 10) -> list[str]:
    """Item ids by number of interactions, most popular first."""
    return _popular_items(group, int(limit), data_version(group), str(get_store().home))


@st.cache_resource(ttl=ENTITY_TTL, max_entries=8, show_spinner=False)
def _items(group: str, version: tuple, home: str):
    return workspace.items_frame(get_store(), group)


def cached_items(group: str):
    """The group's Items frame (or None), shared by all sessions: do not modify it in place."""
    return _items(group, _entity_version(group), str(get_store().home))


@st.cache_resource(ttl=ENTITY_TTL, max_entries=8, show_spinner=False)
def _users(group: str, version: tuple, home: str):
    try:
        return datasets.read_users(get_store(), group)
    except NotFoundError:
        return None


def cached_users(group: str):
    """The group's Users frame (or None), shared by all sessions: do not modify it in place."""
    return _users(group, _entity_version(group), str(get_store().home))


def _entity_version(group: str) -> tuple:
    """The data version without the newest event: Items and Users frames stay cached while events arrive."""
    return tuple(map(str, queries.version_without_newest_event(data_version(group))))


def cached_catalogue(group: str):
    """Sorted ids of every item of the group (interactions and Items table): do not modify the array."""
    store = get_store()
    return _incremental("catalogue", group, lambda: queries.catalogue_ids(store, group),
                        lambda seq: queries.catalogue_ids(store, group, since_seq=seq),
                        lambda old, new: np.union1d(old, new).astype(object) if len(new) else old)


@st.cache_resource(max_entries=64, show_spinner=False)
def _evaluation_report(arn: str, updated_at: float, home: str):
    return workspace.evaluation_reports(get_store(), [arn]).get(arn)


@st.cache_resource(max_entries=32, show_spinner="Comparing the versions...")
def _comparisons(key: tuple, metric: str, home: str) -> list:
    reports = {label: _evaluation_report(arn, updated_at, home) for label, arn, updated_at in key}
    return comparisons({label: r for label, r in reports.items() if r is not None}, metric)


def cached_comparisons(named_versions: dict[str, dict], metric: str) -> list:
    """`recsys.evaluation.comparisons` of versions ({label: version}), bootstrapped once per versions and metric."""
    key = tuple((label, v.arn, v.updated_at) for label, v in named_versions.items())
    return _comparisons(key, metric, str(get_store().home))


def cached_evaluation_reports(versions: list[dict]) -> dict:
    """The stored EvaluationReport of each version (by ARN), read once per version update: do not modify them."""
    home = str(get_store().home)
    reports = {}
    for v in versions:
        report = _evaluation_report(v.arn, v.updated_at, home)
        if report is not None:
            reports[v.arn] = report
    return reports
