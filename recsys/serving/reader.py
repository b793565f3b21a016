"""The few reads every request makes, over one persistent read-only SQLite connection per thread (`READER`).

A request must cost a few milliseconds and opening a connection costs about one, so the serving path keeps one
per (thread, workspace) and reuses what it read until the database changes.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from typing import Any, Callable

import numpy as np
import pandas as pd

from recsys import columns as C
from recsys import datasets
from recsys.exceptions import NotFoundError

SEQ = "_seq"


class _Local(threading.local):
    """Per thread: one `_ThreadState` per workspace database."""

    def __init__(self):
        self.states: dict[str, _ThreadState] = {}


class _ThreadState:
    """One thread's read-only connection to one workspace and what it read since the database last changed."""

    __slots__ = ("conn", "version", "cache", "pinned")

    def __init__(self, conn):
        self.conn = conn
        self.version = None
        self.cache: dict = {}
        self.pinned = False


# Entries kept per thread between two writes to the workspace (campaigns, filters, one entry per user read).
READ_CACHE_SIZE = 8192
_MISSING = object()


class HotReader:
    """The few reads every request makes, over one persistent read-only SQLite connection per thread.

    Opening a connection costs about a millisecond, more than the reads themselves, so the serving path keeps
    one per (thread, workspace). Reads see every committed write (WAL, autocommit). Used for: the campaign
    record, the newest ACTIVE version of a solution ($LATEST), filters, dataset signatures and one user's
    interactions.

    Their answers are reused until the database changes: SQLite's ``PRAGMA data_version`` (a few microseconds)
    moves whenever any other connection commits, so a put_events, a campaign update or an import is seen by the
    very next read, and a workspace that is only read costs one pragma per lookup instead of a query.
    """

    def __init__(self):
        self._local = _Local()
        self._tables: dict[tuple[str, str], tuple[str, tuple]] = {}

    def _state(self, store) -> _ThreadState:
        states = self._local.states
        key = str(store.db_path)
        state = states.get(key)
        if state is None:
            conn = sqlite3.connect(store.db_path, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA query_only=1")
            state = states[key] = _ThreadState(conn)
        return state

    def conn(self, store):
        return self._state(store).conn

    @contextlib.contextmanager
    def snapshot(self, store):
        """One request: inside the block this thread checks for writes once, on entry (a request answers from
        the state of the workspace when it started; the next request sees every write committed before it)."""
        state = self._state(store)
        if state.pinned:
            yield
            return
        self.fresh(store)
        state.pinned = True
        try:
            yield
        finally:
            state.pinned = False

    def fresh(self, store) -> dict:
        """This thread's cache of reads for `store`, emptied when the database changed since the last call."""
        state = self._state(store)
        if state.pinned:
            return state.cache
        version = state.conn.execute("PRAGMA data_version").fetchone()[0]
        if version != state.version or len(state.cache) > READ_CACHE_SIZE:
            state.cache = {}
            state.version = version
        return state.cache

    def cached(self, store, key, load: Callable[[], Any]) -> Any:
        """`load()` (a read of the database), reused until the database changes."""
        cache = self.fresh(store)
        found = cache.get(key, _MISSING)
        if found is _MISSING:
            found = cache[key] = load()
        return found

    def resource(self, store, arn: str) -> dict | None:
        """The stored resource with this ARN (as `Store.find_resource` returns it), or None. Shared: do not modify."""
        return self.cached(store, ("resource", arn), lambda: self._read_resource(store, arn))

    def _read_resource(self, store, arn: str) -> dict | None:
        cursor = self.conn(store).execute("SELECT * FROM resources WHERE arn = ?", [arn])
        row = cursor.fetchone()
        if row is None:
            return None
        names = [d[0] for d in cursor.description]
        return store._row_to_resource(dict(zip(names, row)))

    def latest_active_version(self, store, group: str, solution: str) -> str | None:
        """ARN of the newest ACTIVE version of `solution` (None when it has none)."""
        return self.cached(store, ("latest", group, solution), lambda: self._read_latest(store, group, solution))

    def _read_latest(self, store, group: str, solution: str) -> str | None:
        pattern = solution.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%"
        row = self.conn(store).execute(
            "SELECT arn FROM resources WHERE type = 'solution-version' AND group_name = ? AND status = 'ACTIVE' "
            "AND name LIKE ? ESCAPE '\\' ORDER BY created_at DESC, id DESC LIMIT 1", [group, pattern]).fetchone()
        return row[0] if row else None

    def max_rowid(self, store, table: str):
        """Largest rowid of `table` (a dataset signature); raises when the table is gone."""
        return self.cached(store, ("max_rowid", table), lambda: self.conn(store).execute(
            f'SELECT MAX(rowid) FROM "{table}"').fetchone()[0])

    def user_events(self, store, group: str, user_id: str, since_seq: int | None,
                    columns: frozenset | None = None) -> pd.DataFrame | None:
        """One user's interactions (after `since_seq` when given), oldest first; None when there are none.

        `columns` (upper-case field names) keeps only those fields: a filter needs ITEM_ID and the fields it
        tests, and building each column of the frame costs more than reading it.
        The frame is shared by the requests that read it before the next write: do not modify it."""
        return self.cached(store, ("events", group, str(user_id), since_seq, columns),
                           lambda: self._read_user_events(store, group, user_id, since_seq, columns))

    def _read_user_events(self, store, group: str, user_id: str, since_seq: int | None,
                          columns: frozenset | None = None) -> pd.DataFrame | None:
        for attempt in range(2):
            table, fields = self._interactions(store, group, refresh=attempt > 0)
            if table is None:
                return None
            if columns is not None:
                fields = tuple((name, kind) for name, kind in fields if name.upper() in columns)
            names = [name for name, _ in fields]
            sql = (f"SELECT {', '.join(quote(n) for n in names)} FROM {quote(table)} WHERE {C.USER_ID} = ?"
                   + (f" AND {SEQ} > ?" if since_seq else "") + f" ORDER BY {C.TIMESTAMP}, {SEQ}")
            params = [str(user_id)] + ([int(since_seq)] if since_seq else [])
            try:
                rows = self.conn(store).execute(sql, params).fetchall()
            except Exception:  # noqa: BLE001 - table replaced or schema changed: look it up again
                if attempt:
                    raise
                continue
            if not rows:
                return None
            return _typed_frame(rows, fields)
        return None

    def _interactions(self, store, group: str, refresh: bool = False) -> tuple[str | None, tuple]:
        key = (str(store.home), group)
        found = None if refresh else self._tables.get(key)
        if found is None:
            try:
                dataset = datasets.get_dataset(store, group, C.INTERACTIONS)
            except NotFoundError:
                return None, ()
            fields = tuple((f.name, f.type) for f in dataset["schema"].fields)
            found = (dataset["table"], fields)
            self._tables[key] = found
        return found


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _typed_frame(rows: list, fields: tuple) -> pd.DataFrame:
    """Rows of the interactions table as a frame typed like `read_interactions` (built from arrays: ~2x faster
    than from Series)."""
    columns = list(zip(*rows))
    data = {}
    for (name, kind), values in zip(fields, columns):
        if kind in ("int", "long"):
            data[name] = (pd.array(values, dtype="Int64") if any(v is None for v in values)
                          else np.asarray(values, dtype=np.int64))
        elif kind in ("float", "double"):
            data[name] = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
        elif kind == "boolean":
            data[name] = pd.array([None if v is None else bool(v) for v in values], dtype="boolean")
        else:
            data[name] = pd.array(values, dtype="str")
    return pd.DataFrame(data)


READER = HotReader()
