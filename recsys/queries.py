"""Read-only SQL over a dataset group's tables: counts, distinct values, rankings and searches that SQLite
answers from an index or a b-tree count, so the workbench never reads a large table to show a number.

Example::

    row_counts(store, "shop")                 # {'Interactions': 100000, 'Items': 1682}
    active_users(store, "shop", limit=10)     # the ten most active user ids
    context_options(store, "shop")            # {'DEVICE_TYPE': ['mobile', 'tablet', ...]}
    data_version(store, "shop")               # a cheap fingerprint: the cache key of the pages' reads

Tables and their bookkeeping columns (``_seq``, ``_source``) are laid out by `recsys.datasets`, which also
holds the writes and the frame readers; every query here works on the tables it creates.
"""

from __future__ import annotations

import numpy as np
from sqlite_utils.db import quote_identifier as _q

from recsys import datasets
from recsys.columns import INTERACTIONS, ITEMS, USERS
from recsys.exceptions import NotFoundError
from recsys.store import Store


CONTEXT_VALUES = 200


def context_options(store: Store, group: str, *, since_seq: int | None = None) -> dict[str, list[str]]:
    """Each contextual field of the Interactions schema with the values seen in the data (first 200, sorted).

    `since_seq` looks only at interactions written after that `_seq` (to update an earlier answer: the first
    200 of the union of two answers is the answer for the union of their rows).
    """
    found = dataset_table(store, group, INTERACTIONS)
    if found is None:
        return {}
    table, schema = found
    where, params = "", []
    if since_seq is not None:
        where, params = " AND _seq > ?", [int(since_seq)]
    options = {}
    with store.reading() as db:
        for field in schema.context_fields:
            name = getattr(field, "name", field)
            # SQLite's BINARY collation orders UTF-8 text by code point, as Python's sorted() does.
            rows = db.execute(f"SELECT DISTINCT CAST({_q(name)} AS TEXT) AS v FROM {_q(table)} "
                              f"WHERE {_q(name)} IS NOT NULL{where} ORDER BY v LIMIT {CONTEXT_VALUES}",
                              params).fetchall()
            options[name] = [str(r[0]) for r in rows]
    return options


def merge_context_options(old: dict[str, list[str]], new: dict[str, list[str]]) -> dict[str, list[str]]:
    """`context_options` of two sets of rows combined."""
    return {name: sorted(set(old.get(name, [])) | set(new.get(name, [])))[:CONTEXT_VALUES]
            for name in dict.fromkeys([*old, *new])}


def search_users(store: Store, group: str, query: str, limit: int = 50) -> list[str]:
    """User ids whose id or any attribute contains `query` (case-insensitive); active users when empty.

    Searched in SQL (the Users table by id, or the interactions by activity when there is no Users table),
    so a search costs one indexed query, not a read of the table.
    """
    query = (query or "").strip().lower()
    found = dataset_table(store, group, USERS)
    with store.reading() as db:
        if found is not None:
            table, schema = found
            if db.execute(f"SELECT EXISTS (SELECT 1 FROM {_q(table)})").fetchone()[0]:
                sql = f"SELECT {_q(schema.id_field)} FROM {_q(table)}"
                params: list = []
                if query:
                    text = " || ' ' || ".join(f"coalesce(CAST({_q(n)} AS TEXT), 'nan')" for n in schema.names)
                    sql += f" WHERE instr(lower({text}), ?) > 0"
                    params.append(query)
                sql += f" ORDER BY {_q(schema.id_field)} LIMIT ?"
                params.append(int(limit))
                return [str(r[0]) for r in db.execute(sql, params).fetchall()]
    return _ranked_ids(store, group, "USER_ID", query=query, limit=limit)


def _ranked_ids(store: Store, group: str, column: str, *, query: str = "", limit: int | None = None) -> list[str]:
    """Ids of an interactions column by number of interactions (most first, ties by id), in SQL."""
    found = dataset_table(store, group, INTERACTIONS)
    if found is None:
        return []
    table, _ = found
    sql = f"SELECT {column}, count(*) AS n FROM {_q(table)} GROUP BY {column}"
    params: list = []
    if query:
        sql += f" HAVING instr(lower({column}), ?) > 0"
        params.append(query)
    sql += f" ORDER BY n DESC, {column}"
    if limit:
        sql += " LIMIT ?"
        params.append(int(limit))
    with store.reading() as db:
        return [str(r[0]) for r in db.execute(sql, params).fetchall()]


def search_items(store: Store, group: str, query: str, limit: int = 50, *, name_column: str | None = None) -> list[str]:
    """Item ids whose id (or `name_column` of the Items table) contains `query`, case-insensitive; popular items
    first when empty. Items named in the Items table come first, then matching ids seen only in interactions."""
    query = (query or "").strip().lower()
    if not query:
        return popular_items(store, group, limit)
    found = dataset_table(store, group, ITEMS)
    ids: list[str] = []
    if found is not None:
        table, schema = found
        key = _q(schema.id_field)
        text = key if not name_column or not schema.has(name_column) else \
            f"{key} || ' ' || coalesce(CAST({_q(schema.field(name_column).name)} AS TEXT), '')"
        with store.reading() as db:
            ids = [str(r[0]) for r in db.execute(f"SELECT {key} FROM {_q(table)} WHERE instr(lower({text}), ?) > 0 "
                                                 f"ORDER BY {key} LIMIT ?", [query, int(limit)]).fetchall()]
    if len(ids) < limit:
        ids += [i for i in _ranked_ids(store, group, "ITEM_ID", query=query, limit=limit) if i not in set(ids)]
    return ids[:limit]


def active_users(store: Store, group: str, limit: int | None = None) -> list[str]:
    """User ids by activity, most active first (ties by id); counted in SQL on the user index."""
    return _ranked_ids(store, group, "USER_ID", limit=limit)


def popular_items(store: Store, group: str, limit: int = 10) -> list[str]:
    """Item ids by number of interactions, most popular first (ties by id); counted in SQL on the item index."""
    return _ranked_ids(store, group, "ITEM_ID", limit=limit)


def event_types(store: Store, group: str) -> list[str]:
    """The event types in a group's interactions, most frequent first (ties by name)."""
    return ranked_event_types(event_type_counts(store, group))


def event_type_counts(store: Store, group: str, *, since_seq: int | None = None) -> dict[str, int]:
    """Interactions per event type (only those written after `since_seq` when given); {} without EVENT_TYPE."""
    found = dataset_table(store, group, INTERACTIONS)
    if found is None or not found[1].has("EVENT_TYPE"):
        return {}
    sql = f"SELECT EVENT_TYPE, count(*) FROM {_q(found[0])} WHERE EVENT_TYPE IS NOT NULL"
    params: list = []
    if since_seq is not None:
        sql += " AND _seq > ?"
        params.append(int(since_seq))
    with store.reading() as db:
        return {str(k): int(n) for k, n in db.execute(sql + " GROUP BY EVENT_TYPE", params).fetchall()}


def ranked_event_types(counts: dict[str, int]) -> list[str]:
    """Event types most frequent first, ties by name."""
    return sorted(counts, key=lambda k: (-counts[k], k))


def catalogue_ids(store: Store, group: str, *, since_seq: int | None = None):
    """Sorted ids of every item in the interactions or the Items table (from the item index, not the rows).

    `since_seq`: only the items of interactions written after that `_seq` (to extend an earlier answer).
    """
    ids = set()
    with store.reading() as db:
        for dataset_type in (INTERACTIONS,) if since_seq is not None else (INTERACTIONS, ITEMS):
            found = dataset_table(store, group, dataset_type)
            if found is None:
                continue
            sql, params = f"SELECT DISTINCT ITEM_ID FROM {_q(found[0])}", []
            if since_seq is not None:
                sql, params = sql + " WHERE _seq > ?", [int(since_seq)]
            ids.update(str(r[0]) for r in db.execute(sql, params))
    return np.asarray(sorted(ids), dtype=object)


def data_version(store: Store, group: str) -> tuple:
    """A cheap fingerprint of a group's data, the cache key of the pages' reads (a few indexed lookups).

    Per dataset: its table and when the dataset was (re)created; interactions: the oldest and newest `_seq`
    (every write appends a higher one, and `_seq` stays monotonic over FULL re-imports); items and users: row
    count and highest rowid (an upsert moves the row to a new highest rowid, so updates are seen too). Plus the
    newest import job, which catches FULL re-imports of Items/Users with the same ids.
    """
    parts = []
    try:
        found = datasets.list_datasets(store, group)
    except NotFoundError:
        return ()
    with store.reading() as db:
        for ds in found:
            table = _q(ds["table"])
            if ds["schema"].dataset_type == INTERACTIONS:
                # Two statements: SQLite answers a lone min() or max() of the primary key from the b-tree edge.
                stats = (db.execute(f"SELECT min(_seq) FROM {table}").fetchone()[0],
                         db.execute(f"SELECT max(_seq) FROM {table}").fetchone()[0])
            else:
                stats = (db.execute(f"SELECT count(*) FROM {table}").fetchone()[0],
                         db.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0])
            parts.append((ds["schema"].dataset_type, ds["table"], ds.get("created_at"), *stats))
    jobs = store.list_resources("dataset-import-job", group)
    newest_job = max((j["updated_at"] for j in jobs), default=None)
    return tuple(sorted(parts, key=str)) + (newest_job,)


def newest_event(version: tuple) -> int:
    """The newest interaction `_seq` recorded in a `data_version` (0 without interactions)."""
    for part in version:
        if isinstance(part, tuple) and part and part[0] == INTERACTIONS:
            return int(part[-1] or 0)
    return 0


def version_without_newest_event(version: tuple) -> list:
    """A `data_version` without the newest interaction: what streamed events leave unchanged."""
    return [list(part[:-1]) if isinstance(part, tuple) and part and part[0] == INTERACTIONS else part
            for part in version]


def interactions_after(store: Store, group: str, seq: int) -> int:
    """How many interactions were written after `_seq` `seq` (a range count on the primary key)."""
    found = dataset_table(store, group, INTERACTIONS)
    if found is None:
        return 0
    with store.reading() as db:
        return int(db.execute(f"SELECT count(*) FROM {_q(found[0])} WHERE _seq > ?", [int(seq)]).fetchone()[0])


def row_counts(store: Store, group: str) -> dict[str, int]:
    """Rows of each existing dataset of a group, e.g. {'Interactions': 100000, 'Items': 1682}.

    Same answer as `datasets.dataset_counts` from one `count(*)` per table (SQLite counts a b-tree without
    reading the rows), not a scan that groups by source.
    """
    out = {}
    try:
        found = datasets.list_datasets(store, group)
    except NotFoundError:
        return out
    with store.reading() as db:
        for ds in found:
            out[ds["schema"].dataset_type] = int(db.execute(f"SELECT count(*) FROM {_q(ds['table'])}").fetchone()[0])
    return out


def distinct_ids(store: Store, group: str) -> dict[str, int]:
    """Distinct users and items that have interactions: {'users': n, 'items': n} (counted on the id indexes).

    Not the Users/Items datasets' row counts: a group may have thousands of customers and no Users dataset.
    """
    found = dataset_table(store, group, INTERACTIONS)
    if found is None:
        return {"users": 0, "items": 0}
    table = _q(found[0])
    with store.reading() as db:
        return {"users": int(db.execute(f"SELECT count(DISTINCT USER_ID) FROM {table}").fetchone()[0]),
                "items": int(db.execute(f"SELECT count(DISTINCT ITEM_ID) FROM {table}").fetchone()[0])}


def dataset_table(store: Store, group: str, dataset_type: str):
    """(table name, Schema) of a group's dataset, or None when the group has no such dataset."""
    try:
        ds = datasets.get_dataset(store, group, dataset_type)
    except NotFoundError:
        return None
    return ds["table"], ds["schema"]


def missing_counts(store, table: str, schema) -> dict:
    """Missing values of every schema column of a table, counted in SQL (NULLs, and '' in strings): {field: n}."""
    terms = [f"coalesce(sum({_q(f.name)} IS NULL" + (f" OR {_q(f.name)} = ''" if f.type == "string" else "")
             + "), 0)" for f in schema.fields]
    with store.reading() as db:
        row = db.execute(f"SELECT {', '.join(terms)} FROM {_q(table)}").fetchone()
    return {f.name: int(n) for f, n in zip(schema.fields, row)}
