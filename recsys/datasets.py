"""Dataset tables: one SQLite table per (dataset group, dataset type), created from its schema; writes and reads.

Layout (ARCHITECTURE "Dataset tables"): table ``ds_<group_id>_<type>`` (``ds_3_interactions``) with the
schema's fields as columns (Personalize names, verbatim) plus bookkeeping columns:

- Interactions: ``_seq`` (INTEGER PRIMARY KEY: insertion order; a FULL import that empties the table keeps
  counting from the previous maximum, so "newer than a model" is always ``_seq > model_seq``), ``_source`` ('bulk' from imports, 'stream' from PutEvents),
  ``_event_id`` (unique when set: PutEvents de-duplication) and ``_session_id`` (session stitching).
  Indexes: (USER_ID, TIMESTAMP), ITEM_ID, TIMESTAMP.
- Items / Users: the id is the PRIMARY KEY (writes upsert), plus ``_source``.

Bulk writes go through ``TableWriter.write_blocks(frame_to_blocks(frame, columns))``: multi-row INSERT
statements (200 rows each), about half the CPU of one statement per row.

The dataset itself is a generic store resource of type ``dataset`` named after the type (``Interactions``),
whose body holds ``schema`` (the JSON text) and ``table``. Readers return frames with Personalize column
names, interactions in chronological order (TIMESTAMP, then insertion order).
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlite_utils
from sqlite_utils.db import quote_identifier as _q

from recsys.columns import INTERACTIONS, ITEM_ID, ITEMS, TIMESTAMP, USER_ID, USERS
from recsys.exceptions import ConflictError, NotFoundError, ValidationError
from recsys.schema import Schema, default_schema, normalize_dataset_type, parse_schema

log = logging.getLogger(__name__)

RESOURCE_TYPE = "dataset"
BULK, STREAM = "bulk", "stream"
SOURCES = (BULK, STREAM)
FULL, INCREMENTAL = "FULL", "INCREMENTAL"
MODES = (FULL, INCREMENTAL)
SEQ, SOURCE, EVENT_ID, SESSION_ID = "_seq", "_source", "_event_id", "_session_id"
BOOKKEEPING = {INTERACTIONS: (SEQ, SOURCE, EVENT_ID, SESSION_ID), ITEMS: (SOURCE,), USERS: (SOURCE,)}


def table_name(group_id: int, dataset_type: str) -> str:
    """The SQLite table of a dataset: ``ds_<group_id>_<type>``."""
    return f"ds_{int(group_id)}_{normalize_dataset_type(dataset_type).lower()}"


def _create_table_sql(table: str, schema: Schema) -> str:
    cols = []
    if schema.dataset_type == INTERACTIONS:
        cols.append(f"{SEQ} INTEGER PRIMARY KEY")
    for f in schema.fields:
        col = f"{_q(f.name)} {f.sqlite_type}"
        if f.name == schema.id_field and schema.dataset_type != INTERACTIONS:
            col += " PRIMARY KEY NOT NULL"
        elif not f.nullable:
            col += " NOT NULL"
        cols.append(col)
    cols.append(f"{SOURCE} TEXT NOT NULL DEFAULT '{BULK}'")
    if schema.dataset_type == INTERACTIONS:
        cols += [f"{EVENT_ID} TEXT", f"{SESSION_ID} TEXT"]
    return f"CREATE TABLE {_q(table)} (\n  " + ",\n  ".join(cols) + "\n)"


def _index_sql(table: str, schema: Schema) -> list[str]:
    if schema.dataset_type != INTERACTIONS:
        return []
    t = _q(table)
    return [
        f'CREATE INDEX IF NOT EXISTS "{table}_user_time" ON {t} ({USER_ID}, {TIMESTAMP})',
        f'CREATE INDEX IF NOT EXISTS "{table}_item" ON {t} ({ITEM_ID})',
        f'CREATE INDEX IF NOT EXISTS "{table}_time" ON {t} ({TIMESTAMP})',
        f'CREATE UNIQUE INDEX IF NOT EXISTS "{table}_event_id" ON {t} ({EVENT_ID}) WHERE {EVENT_ID} IS NOT NULL',
        f'CREATE INDEX IF NOT EXISTS "{table}_session" ON {t} ({SESSION_ID}) WHERE {SESSION_ID} IS NOT NULL',
    ]


def _index_names(table: str) -> list[str]:
    return [f"{table}_{suffix}" for suffix in ("user_time", "item", "time", "event_id", "session")]


# -- dataset resources --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _parse_cached(dataset_type: str, schema_json: str) -> Schema:
    return parse_schema(dataset_type, schema_json)


def _info_from_body(body: dict) -> dict:
    schema = _parse_cached(body["datasetType"], body["schema"])
    return {"table": body["table"], "schema": schema, "dataset_type": schema.dataset_type}


def create_dataset(store, group: str, dataset_type: str, schema: Schema | str | dict | None = None) -> dict:
    """Create a group's dataset of a type (default schema for the group's domain) and its table.

    ConflictError if the group already has a dataset of that type.
    """
    dtype = normalize_dataset_type(dataset_type)
    grp = store.get_dataset_group(group)
    if schema is None:
        schema = default_schema(dtype, grp.get("domain"))
    elif not isinstance(schema, Schema):
        schema = parse_schema(dtype, schema, domain=grp.get("domain"))
    elif schema.dataset_type != dtype:
        raise ValidationError(f"Schema is for {schema.dataset_type}, not {dtype}; pass a {dtype} schema.")
    try:
        store.get_resource(RESOURCE_TYPE, group, dtype)
    except NotFoundError:
        pass
    else:
        raise ConflictError(f"Dataset group {group!r} already has an {dtype} dataset; import into it, or delete "
                            "it first to change its schema.")
    table = table_name(grp["id"], dtype)
    with store.transaction() as db:
        db.execute(f"DROP TABLE IF EXISTS {_q(table)}")
        db.execute(_create_table_sql(table, schema))
        for sql in _index_sql(table, schema):
            db.execute(sql)
    body = {"datasetType": dtype, "schema": schema.to_json(), "table": table, "domain": grp.get("domain")}
    try:
        store.create_resource(RESOURCE_TYPE, group, dtype, body)
    except BaseException:
        with store.transaction() as db:
            db.execute(f"DROP TABLE IF EXISTS {_q(table)}")
        raise
    return get_dataset(store, group, dtype)


def get_dataset(store, group: str, dataset_type: str) -> dict:
    """The dataset resource, with its parsed `schema` (a Schema) and `schema_json`; NotFoundError if absent."""
    dtype = normalize_dataset_type(dataset_type)
    try:
        resource = store.get_resource(RESOURCE_TYPE, group, dtype)
    except NotFoundError:
        store.get_dataset_group(group)  # a clearer error if the group itself is missing
        raise NotFoundError(f"Dataset group {group!r} has no {dtype} dataset yet; import a file into it "
                            f"(recsys import --group {group} --type {dtype.lower()} FILE) or create it.") from None
    resource["schema_json"] = resource["schema"]
    resource["schema"] = _parse_cached(dtype, resource["schema"])
    return resource


def get_or_create_dataset(store, group: str, dataset_type: str, schema: Schema | str | dict | None = None) -> dict:
    """The dataset, created (with `schema` or the default) if absent. A different `schema` for an existing
    dataset is a ConflictError."""
    dtype = normalize_dataset_type(dataset_type)
    try:
        existing = get_dataset(store, group, dtype)
    except NotFoundError:
        try:
            return create_dataset(store, group, dtype, schema)
        except ConflictError:  # created concurrently
            existing = get_dataset(store, group, dtype)
    if schema is not None:
        wanted = schema if isinstance(schema, Schema) else parse_schema(dtype, schema)
        if wanted.fields != existing["schema"].fields:
            raise ConflictError(
                f"The {dtype} dataset of {group!r} already has a different schema ({', '.join(existing['schema'].names)}); "
                "import without a schema, or delete the dataset to change it.")
    return existing


def list_datasets(store, group: str) -> list[dict]:
    store.get_dataset_group(group)
    return [get_dataset(store, group, r["name"]) for r in store.list_resources(RESOURCE_TYPE, group)]


def delete_dataset(store, group: str, dataset_type: str) -> None:
    """Drop a dataset's table and its resource (all of its rows, bulk and streamed)."""
    ds = get_dataset(store, group, dataset_type)
    with store.transaction() as db:
        db.execute(f"DROP TABLE IF EXISTS {_q(ds['table'])}")
    store.delete_resource(RESOURCE_TYPE, group, ds["schema"].dataset_type)


def dataset_info(db: sqlite_utils.Database, group: str, dataset_type: str) -> dict:
    """Table name and schema of a dataset, read through an open connection (inside a transaction)."""
    dtype = normalize_dataset_type(dataset_type)
    row = db.execute("SELECT body FROM resources WHERE type = ? AND group_name = ? AND name = ?",
                     [RESOURCE_TYPE, group, dtype]).fetchone()
    if row is None:
        raise NotFoundError(f"Dataset group {group!r} has no {dtype} dataset yet; create it or import a file first.")
    return _info_from_body(json.loads(row[0]))


# -- writing ------------------------------------------------------------------------------------------------


class TableWriter:
    """Writes rows into one dataset table inside a caller's transaction.

    ``begin()`` applies the mode (FULL: delete the bulk rows, drop interaction indexes for a fast load),
    ``write()`` inserts (interactions: append) or upserts by id (items, users), ``finish()`` rebuilds the
    indexes. Nothing commits here: the caller's ``store.transaction()`` does, all or nothing.

    A bulk INCREMENTAL load of interactions also drops the indexes (and ``finish()`` rebuilds them) once it
    is big against the table: when ``expected_rows`` (an estimate) or the rows written so far reach half the
    rows already there. Keeping five indexes up to date costs about three times a rebuild per row.
    """

    def __init__(self, db: sqlite_utils.Database, info: dict, *, mode: str = INCREMENTAL, source: str = BULK,
                 or_ignore: bool = False, expected_rows: int | None = None):
        if mode not in MODES:
            raise ValidationError(f"Invalid import mode {mode!r}: use FULL or INCREMENTAL.")
        if source not in SOURCES:
            raise ValidationError(f"Invalid source {source!r}: use 'bulk' or 'stream'.")
        if mode == FULL and source != BULK:
            raise ValidationError("FULL mode replaces bulk data only; streamed rows are always INCREMENTAL.")
        self.db, self.table, self.schema = db, info["table"], info["schema"]
        self.mode, self.source, self.or_ignore = mode, source, or_ignore
        self.interactions = self.schema.dataset_type == INTERACTIONS
        self.rows_written = 0
        self._dropped_indexes = False
        self._placeholder: int | None = None
        self.expected_rows = expected_rows
        self._drop_after: int | None = None   # INCREMENTAL: drop the indexes once this many rows are written

    def begin(self) -> None:
        t = _q(self.table)
        if self.mode == FULL:
            prev_max = self.db.execute(f"SELECT max(rowid) FROM {t}").fetchone()[0] if self.interactions else None
            has_stream = self.db.execute(f"SELECT EXISTS (SELECT 1 FROM {t} WHERE {SOURCE} != ?)", [BULK]).fetchone()[0]
            if has_stream:
                self.db.execute(f"DELETE FROM {t} WHERE {SOURCE} = ?", [BULK])
            else:
                self.db.execute(f"DELETE FROM {t}")
            if self.interactions:
                for index in _index_names(self.table):
                    self.db.execute(f"DROP INDEX IF EXISTS {_q(index)}")
                self._dropped_indexes = True
                if prev_max and not has_stream:
                    self._placeholder = self._insert_placeholder(prev_max)
        elif self.interactions and self.source == BULK and not self.or_ignore:
            lo, hi = self.db.execute(f"SELECT min(rowid), max(rowid) FROM {t}").fetchone()
            existing = (hi - lo + 1) if hi is not None else 0   # an upper bound, without a scan
            self._drop_after = existing // 2
            if self.expected_rows is not None and self.expected_rows >= self._drop_after:
                self._drop_indexes()

    def _drop_indexes(self) -> None:
        for index in _index_names(self.table):
            self.db.execute(f"DROP INDEX IF EXISTS {_q(index)}")
        self._dropped_indexes = True
        self._drop_after = None

    def _before_write(self, n: int) -> None:
        if self._drop_after is not None and self.rows_written + n >= self._drop_after:
            self._drop_indexes()

    def _insert_placeholder(self, seq: int) -> int:
        """Keep `_seq` monotonic over an emptied table: a row at the old maximum, deleted in finish()."""
        values = {SEQ: seq, SOURCE: BULK}
        for f in self.schema.fields:
            if not f.nullable:
                values[f.name] = "" if f.type == "string" else 0
        cols = ", ".join(_q(c) for c in values)
        self.db.execute(f"INSERT INTO {_q(self.table)} ({cols}) VALUES ({', '.join('?' for _ in values)})",
                        list(values.values()))
        return seq

    def write(self, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """Insert rows (tuples in `columns` order; `_source` is set from the writer). Returns the rows sent."""
        cols = list(columns)
        col_sql = ", ".join(_q(c) for c in cols + [SOURCE])
        marks = ", ".join(["?"] * len(cols) + [f"'{self.source}'"])
        if self.interactions:
            verb = "INSERT OR IGNORE" if self.or_ignore else "INSERT"
            sql = f"{verb} INTO {_q(self.table)} ({col_sql}) VALUES ({marks})"
        else:
            key = self.schema.id_field
            sql = (f"INSERT INTO {_q(self.table)} ({col_sql}) VALUES ({marks}) "
                   f"ON CONFLICT({_q(key)}) DO UPDATE SET {self._upsert_updates(cols)}")
        if not isinstance(rows, (list, tuple)):
            rows = list(rows)
        self._before_write(len(rows))
        self.db.conn.executemany(sql, rows)
        self.rows_written += len(rows)
        return len(rows)

    def _insert_sql(self, cols: list[str], n_rows: int) -> str:
        col_sql = ", ".join(_q(c) for c in cols + [SOURCE])
        one = "(" + ", ".join(["?"] * len(cols) + [f"'{self.source}'"]) + ")"
        values = ", ".join([one] * n_rows)
        if self.interactions:
            verb = "INSERT OR IGNORE" if self.or_ignore else "INSERT"
            return f"{verb} INTO {_q(self.table)} ({col_sql}) VALUES {values}"
        return (f"INSERT INTO {_q(self.table)} ({col_sql}) VALUES {values} "
                f"ON CONFLICT({_q(self.schema.id_field)}) DO UPDATE SET {self._upsert_updates(cols)}")

    def _upsert_updates(self, cols: list[str]) -> str:
        """SET clause of an Items/Users upsert. An updated row also moves to a new, highest rowid, so
        max(rowid) changes with every write and stays a complete change signature for caches."""
        key = self.schema.id_field
        updates = [f"{_q(c)} = excluded.{_q(c)}" for c in cols + [SOURCE] if c != key]
        updates.append(f"rowid = (SELECT max(rowid) + 1 FROM {_q(self.table)})")
        return ", ".join(updates)

    def write_blocks(self, blocks: "RowBlocks") -> int:
        """Insert a RowBlocks (see `frame_to_blocks`): multi-row INSERT statements, about twice as fast as
        one statement per row. Same semantics as `write` (rows in order; upserts apply in order)."""
        cols = list(blocks.columns)
        self._before_write(blocks.n)
        if blocks.blocks:
            self.db.conn.executemany(self._insert_sql(cols, blocks.per_statement), blocks.blocks)
        if blocks.tail:
            self.db.conn.executemany(self._insert_sql(cols, 1), blocks.tail)
        self.rows_written += blocks.n
        return blocks.n

    def finish(self) -> None:
        if self._placeholder is not None:
            self.db.execute(f"DELETE FROM {_q(self.table)} WHERE {SEQ} = ?", [self._placeholder])
            self._placeholder = None
        for sql in _index_sql(self.table, self.schema):
            self.db.execute(sql)
        self._dropped_indexes = False


def frame_to_rows(frame: pd.DataFrame, columns: Sequence[str]) -> Iterable[tuple]:
    """Rows of Python values (None for missing) of a frame's columns, ready for sqlite3."""
    lists = []
    for col in columns:
        s = frame[col]
        mask = s.isna().to_numpy()
        has_na = bool(mask.any())
        if s.dtype.kind == "b" and not has_na:
            values = s.astype("int64").tolist()
        elif s.dtype.kind in "iu" and not has_na:
            values = s.tolist()
        else:
            arr = s.astype(object).to_numpy(copy=True)
            if has_na:
                arr[mask] = None
            values = arr.tolist()
            if s.dtype.kind == "b":
                values = [None if v is None else int(v) for v in values]
        lists.append(values)
    return zip(*lists)


MAX_STATEMENT_VARIABLES = 999   # SQLite's historical minimum limit on ? parameters per statement
ROWS_PER_STATEMENT = 200


@dataclass
class RowBlocks:
    """Rows ready for `TableWriter.write_blocks`: `blocks` are flat parameter lists of `per_statement`
    rows each (row-major), `tail` the remaining rows one list each; `n` rows in all."""

    columns: tuple[str, ...]
    per_statement: int
    blocks: list
    tail: list
    n: int


def _object_column(s: pd.Series) -> np.ndarray:
    """A column as an object array of Python values (None for missing; equal strings share one object)."""
    n = len(s)
    dtype = s.dtype
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        try:
            arr = pa.array(s.array)
            if isinstance(arr, pa.ChunkedArray):
                arr = arr.combine_chunks()
            enc = arr.dictionary_encode()
            uniques = enc.dictionary.to_pylist()
            idx = enc.indices.fill_null(len(uniques)).to_numpy(zero_copy_only=False)
            return np.asarray(uniques + [None], dtype=object)[idx]
        except (TypeError, ValueError):
            pass
    mask = s.isna().to_numpy()
    has_na = bool(mask.any())
    if dtype.kind == "b" or str(dtype) == "boolean":
        out = np.empty(n, dtype=object)
        out[:] = s.to_numpy(dtype="int64", na_value=0).tolist()
    elif dtype.kind in "iu" and not has_na:
        out = np.empty(n, dtype=object)
        out[:] = s.to_numpy().tolist()
    elif dtype.kind == "f":
        out = np.empty(n, dtype=object)
        out[:] = s.to_numpy(dtype="float64").tolist()
    else:
        out = s.astype(object).to_numpy(copy=True)
    if has_na:
        out[mask] = None
    return out


def frame_to_blocks(frame: pd.DataFrame, columns: Sequence[str], per_statement: int | None = None) -> RowBlocks:
    """A frame's columns as RowBlocks (Python values, None for missing), for `TableWriter.write_blocks`."""
    columns = tuple(columns)
    n, width = len(frame), len(columns)
    if per_statement is None:
        per_statement = max(1, min(ROWS_PER_STATEMENT, (MAX_STATEMENT_VARIABLES - 1) // max(1, width)))
    grid = np.empty((n, width), dtype=object)
    for j, col in enumerate(columns):
        grid[:, j] = _object_column(frame[col])
    full = n // per_statement * per_statement
    blocks: list = []
    step = per_statement * max(1, 8192 // per_statement)  # short C calls: the GIL passes to the writer thread
    for start in range(0, full, step):
        blocks += grid[start:min(start + step, full)].reshape(-1, per_statement * width).tolist()
    tail = grid[full:].tolist()
    return RowBlocks(columns, per_statement, blocks, tail, n)


def write_frame(db: sqlite_utils.Database, group: str, dataset_type: str, frame: pd.DataFrame, *,
                mode: str = INCREMENTAL, source: str = BULK) -> int:
    """Write a frame of already-validated rows (Personalize columns) into a dataset, in the caller's transaction.

    FULL replaces the dataset's bulk rows; INCREMENTAL appends interactions and upserts items/users by id.
    Columns not in the schema are an error; schema columns absent from the frame are written as NULL.
    """
    info = dataset_info(db, group, dataset_type)
    schema = info["schema"]
    unknown = [c for c in frame.columns if not schema.has(c) and c not in (EVENT_ID, SESSION_ID)]
    if unknown:
        raise ValidationError(f"Columns {unknown} are not in the {schema.dataset_type} schema "
                              f"(fields: {', '.join(schema.names)}).")
    columns = [c for c in frame.columns]
    writer = TableWriter(db, info, mode=mode, source=source)
    writer.begin()
    n = writer.write_blocks(frame_to_blocks(frame, columns))
    writer.finish()
    return n


# -- reading ------------------------------------------------------------------------------------------------


def stitch_session(db: sqlite_utils.Database, table: str, session_id: str, user_id: str) -> int:
    """Re-attribute a session's streamed anonymous events (USER_ID = the session id) to `user_id`; how many."""
    cur = db.execute(
        f"UPDATE {_q(table)} SET {USER_ID} = ? WHERE {SESSION_ID} = ? AND {USER_ID} = ? AND {SOURCE} = ?",
        [user_id, session_id, session_id, STREAM])
    return int(cur.rowcount)


def _frame_from_cursor(cursor, names: list[str], schema: Schema, chunk: int = 250_000) -> pd.DataFrame:
    """A typed frame from a cursor, converted chunk by chunk (compact arrow strings, numpy numbers)."""
    frames = []
    while True:
        rows = cursor.fetchmany(chunk)
        if not rows:
            break
        columns = list(zip(*rows))
        del rows
        frames.append(pd.DataFrame({name: _typed(list(values), name, schema) for name, values in zip(names, columns)},
                                   columns=names))
    if not frames:
        return pd.DataFrame({name: _typed([], name, schema) for name in names}, columns=names)
    if len(frames) == 1:
        return frames[0]
    out = pd.concat(frames, ignore_index=True)
    for name in names:  # concat may widen Int64/boolean mixes: restore the column types
        if out[name].dtype != frames[0][name].dtype and all(f[name].dtype == frames[0][name].dtype for f in frames):
            out[name] = out[name].astype(frames[0][name].dtype)
    return out


def _typed(values: list, name: str, schema: Schema) -> pd.Series:
    if name == SEQ:
        return pd.Series(np.asarray(values, dtype="int64"))
    if name in (SOURCE, EVENT_ID, SESSION_ID):
        return pd.Series(values, dtype="str")
    f = schema.field(name)
    if f.type in ("int", "long"):
        if f.nullable and any(v is None for v in values):
            return pd.Series(values, dtype="Int64")
        return pd.Series(np.asarray(values, dtype="int64"))
    if f.type in ("float", "double"):
        return pd.Series(np.asarray([np.nan if v is None else v for v in values], dtype="float64"))
    if f.type == "boolean":
        return pd.Series([None if v is None else bool(v) for v in values], dtype="boolean")
    return pd.Series(values, dtype="str")


def _select(store, group: str, dataset_type: str, columns: Sequence[str] | None, bookkeeping: bool):
    ds = get_dataset(store, group, dataset_type)
    schema: Schema = ds["schema"]
    if columns is None:
        names = list(schema.names)
        if bookkeeping:
            names += list(BOOKKEEPING[schema.dataset_type])
    else:
        names = []
        for c in columns:
            names.append(c if c in BOOKKEEPING[schema.dataset_type] else schema.field(c).name)
    return ds, schema, names


def read_interactions(store, group: str, *, user_id: str | None = None, since_seq: int | None = None,
                      columns: Sequence[str] | None = None, source: str | None = None,
                      bookkeeping: bool = False) -> pd.DataFrame:
    """Interactions of a group in chronological order (TIMESTAMP, then insertion order).

    `user_id` keeps one user's rows, `since_seq` rows written after that sequence number (see `max_seq`),
    `source` only 'bulk' or 'stream' rows; `bookkeeping=True` adds `_seq`, `_source`, `_event_id`,
    `_session_id`. An empty dataset gives an empty frame with the schema's columns.
    """
    ds, schema, names = _select(store, group, INTERACTIONS, columns, bookkeeping)
    select = list(dict.fromkeys(names + [TIMESTAMP, SEQ]))
    where, params = [], []
    if user_id is not None:
        where.append(f"{USER_ID} = ?")
        params.append(str(user_id))
    if since_seq is not None:
        where.append(f"{SEQ} > ?")
        params.append(int(since_seq))
    if source is not None:
        where.append(f"{SOURCE} = ?")
        params.append(source)
    sql = f"SELECT {', '.join(_q(c) for c in select)} FROM {_q(ds['table'])}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    if user_id is not None:
        sql += f" ORDER BY {TIMESTAMP}, {SEQ}"
    else:
        sql += f" ORDER BY {SEQ}"
    with store.reading() as db:
        frame = _frame_from_cursor(db.conn.execute(sql, params), select, schema)
    if user_id is None and len(frame) > 1:
        ts = frame[TIMESTAMP].to_numpy()
        if (np.diff(ts) < 0).any():
            order = np.argsort(ts, kind="stable")
            frame = frame.take(order)
    return frame[names].reset_index(drop=True)


def user_history(store, group: str, user_id: str, limit: int | None = None,
                 columns: Sequence[str] | None = None) -> pd.DataFrame:
    """One user's interactions, oldest first; `limit` keeps the most recent `limit` (uses the user index)."""
    with store.reading() as db:
        try:
            info = dataset_info(db, group, INTERACTIONS)
        except NotFoundError:
            store.get_dataset_group(group)
            raise
        schema: Schema = info["schema"]
        if columns is None:
            names = list(schema.names)
        else:
            names = [c if c in BOOKKEEPING[INTERACTIONS] else schema.field(c).name for c in columns]
        select = list(dict.fromkeys(names + [TIMESTAMP, SEQ]))
        sql = (f"SELECT {', '.join(_q(c) for c in select)} FROM {_q(info['table'])} WHERE {USER_ID} = ? "
               f"ORDER BY {TIMESTAMP} DESC, {SEQ} DESC")
        params: list[Any] = [str(user_id)]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        rows = db.conn.execute(sql, params).fetchall()
    rows.reverse()
    frame = _frame_from_cursor(_ListCursor(rows), select, schema)
    return frame[names] if len(names) != len(select) else frame


class _ListCursor:
    """fetchmany() over an already fetched list."""

    def __init__(self, rows: list):
        self._rows = rows

    def fetchmany(self, size: int) -> list:
        out, self._rows = self._rows[:size], self._rows[size:]
        return out


def _read_entities(store, group: str, dataset_type: str, columns, bookkeeping, ids=None) -> pd.DataFrame:
    ds, schema, names = _select(store, group, dataset_type, columns, bookkeeping)
    select = f"SELECT {', '.join(_q(c) for c in names)} FROM {_q(ds['table'])}"
    key = _q(schema.id_field)
    with store.reading() as db:
        if ids is None:
            return _frame_from_cursor(db.conn.execute(f"{select} ORDER BY {key}"), names, schema)
        wanted, rows = sorted({str(i) for i in ids}), []
        for start in range(0, len(wanted), 500):  # sorted chunks by the primary key: rows come back sorted
            chunk = wanted[start:start + 500]
            rows += db.conn.execute(f"{select} WHERE {key} IN ({', '.join('?' * len(chunk))}) ORDER BY {key}",
                                    chunk).fetchall()
        return _frame_from_cursor(_ListCursor(rows), names, schema)


def read_items(store, group: str, *, columns: Sequence[str] | None = None, bookkeeping: bool = False,
               ids=None) -> pd.DataFrame:
    """The Items dataset, one row per item, sorted by ITEM_ID; `ids` reads only those items (by the key)."""
    return _read_entities(store, group, ITEMS, columns, bookkeeping, ids)


def read_users(store, group: str, *, columns: Sequence[str] | None = None, bookkeeping: bool = False) -> pd.DataFrame:
    """The Users dataset, one row per user, sorted by USER_ID."""
    return _read_entities(store, group, USERS, columns, bookkeeping)


def max_seq(store, group: str) -> int:
    """The newest interaction sequence number (0 when there are none); rows with `_seq > n` are newer."""
    try:
        ds = get_dataset(store, group, INTERACTIONS)
    except NotFoundError:
        return 0
    with store.reading() as db:
        row = db.execute(f"SELECT max({SEQ}) FROM {_q(ds['table'])}").fetchone()
    return int(row[0] or 0)


def count_rows(store, group: str, dataset_type: str) -> dict:
    """Row counts of one dataset: {'total', 'bulk', 'stream'}."""
    ds = get_dataset(store, group, dataset_type)
    with store.reading() as db:
        rows = db.execute(f"SELECT {SOURCE}, count(*) FROM {_q(ds['table'])} GROUP BY {SOURCE}").fetchall()
    counts = {BULK: 0, STREAM: 0}
    counts.update({k: int(v) for k, v in rows})
    counts["total"] = counts[BULK] + counts[STREAM]
    return counts


def dataset_counts(store, group: str) -> dict[str, int]:
    """Row count of each existing dataset of a group, e.g. {'Interactions': 100000, 'Items': 1682}."""
    return {ds["schema"].dataset_type: count_rows(store, group, ds["schema"].dataset_type)["total"]
            for ds in list_datasets(store, group)}


def delete_users(store, group: str, user_ids) -> int:
    """Delete every interaction and the Users row of each of `user_ids` (Personalize's data deletion job), in one
    transaction; returns how many rows went. A dataset the group does not have is skipped. Models trained
    before keep what they learnt until the next training."""
    wanted = sorted({str(u) for u in user_ids})
    deleted = 0
    with store.transaction() as db:
        for dataset_type in (INTERACTIONS, USERS):
            try:
                table = dataset_info(db, group, dataset_type)["table"]
            except NotFoundError:
                continue
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                cursor = db.execute(f"DELETE FROM {_q(table)} WHERE {USER_ID} IN ({', '.join('?' * len(chunk))})",
                                    chunk)
                deleted += cursor.rowcount
    return deleted
