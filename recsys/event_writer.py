"""Streamed events into the Interactions table: one transaction per PutEvents call, session stitching, and
the spool that keeps events durably while a long import holds SQLite's write lock.

Example::

    write_events(store, "shop", ["USER_ID", "ITEM_ID", "TIMESTAMP"], [["u1", "i9", 1700000000]], "s-1", "u1")
    drain_spool(store)          # what an import calls when it has committed

SQLite has one writer at a time, and a 10-million-row import holds the lock for longer than a PutEvents
caller should wait. Such events go to a small SQLite file of their own (its own lock, durable on return)
and are moved into the dataset, in order, by the next write that gets the lock: the next PutEvents, the
start and end of an import, the start of a training, or the next start of the workspace (`recsys.recovery`).
Every spooled event carries an event id, so a move interrupted between the two commits cannot record it twice.

A spooled batch that can no longer be written (its dataset's schema changed, its group was deleted) cannot stop
the others: it moves to the spool's dead letters with the reason, and `retry_dead_letters` /
`drop_dead_letters` (``recsys events spool``, the Campaigns & Events page) deal with it. Validation is
`recsys.events`' job; rows arrive here checked and typed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
import uuid

from recsys.columns import INTERACTIONS
from recsys.datasets import EVENT_ID, INCREMENTAL, STREAM, TableWriter, dataset_info, stitch_session
from recsys.exceptions import EnvironmentProblem, NotFoundError, RecsysError
from recsys.store import SPOOL_NAME

log = logging.getLogger(__name__)

SPOOL_AFTER_SECONDS = 2.0


def write_events(store, group: str, columns: list[str], rows: list[list], session_id: str,
                 user_id: str | None) -> dict:
    """Write one batch of checked events (spooled ones first); {"recorded", "stitched"} or, when a long write
    holds the lock for more than SPOOL_AFTER_SECONDS, {"recorded", "stitched": 0, "spooled": True}."""
    try:
        with spool_first(store, wait=SPOOL_AFTER_SECONDS) as db:  # events spooled earlier go first, in order
            recorded, stitched = _write_batch(db, group, columns, rows, session_id, user_id)
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise
        # A long import holds the write lock: keep the events durably in the spool rather than fail the call.
        _spool(store, group, columns, rows, session_id, user_id)
        return {"recorded": len(rows), "stitched": 0, "spooled": True}
    return {"recorded": recorded, "stitched": int(stitched)}


@contextlib.contextmanager
def spool_first(store, wait: float | None = None):
    """A write transaction (`store.transaction`) that first moves the spooled events into their datasets, so
    every stream write (PutEvents, PutItems, PutUsers) keeps the spool flowing."""
    with store.transaction(wait=wait) as db:
        replay = _replay_spool(store, db)
        yield db
    _settle(store, replay)


def _write_batch(db, group: str, columns: list[str], rows: list[list], session_id: str,
                 user_id: str | None) -> tuple[int, int]:
    """Insert one PutEvents batch (duplicate eventIds ignored) and stitch the session; (recorded, stitched)."""
    info = dataset_info(db, group, INTERACTIONS)
    before = db.conn.total_changes
    writer = TableWriter(db, info, mode=INCREMENTAL, source=STREAM, or_ignore=True)
    writer.write(columns, rows)
    recorded = db.conn.total_changes - before
    stitched = 0
    if user_id is not None and user_id != session_id:
        stitched = stitch_session(db, info["table"], session_id, user_id)
    return recorded, int(stitched)


# -- the spool ----------------------------------------------------------------------------------------------


def _spool_connect(store) -> sqlite3.Connection:
    conn = sqlite3.connect(store.home / SPOOL_NAME, timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY, group_name TEXT NOT NULL, "
                 "batch TEXT NOT NULL)")
    conn.execute("CREATE TABLE IF NOT EXISTS dead_letters (id INTEGER PRIMARY KEY, spool_id INTEGER, "
                 "group_name TEXT NOT NULL, batch TEXT NOT NULL, reason TEXT NOT NULL, failed_at REAL NOT NULL)")
    return conn


def _spool(store, group: str, columns: list[str], rows: list[list], session_id: str, user_id: str | None) -> None:
    if EVENT_ID in columns:
        k = columns.index(EVENT_ID)
        for row in rows:
            row[k] = row[k] if row[k] is not None else f"spooled-{uuid.uuid4()}"
    batch = json.dumps({"columns": columns, "rows": rows, "session_id": session_id, "user_id": user_id},
                       default=str)
    conn = _spool_connect(store)
    try:
        conn.execute("INSERT INTO spool (group_name, batch) VALUES (?, ?)", [group, batch])
    finally:
        conn.close()
    log.warning("PutEvents for group %s spooled (%d events): the dataset is locked by a long write", group,
                len(rows))


def _spool_query(store, sql: str, params: list | tuple = ()) -> list:
    if not (store.home / SPOOL_NAME).exists():
        return []
    conn = _spool_connect(store)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def spooled_count(store, group: str | None = None) -> int:
    """Event batches waiting in the spool (of one dataset group, or all); 0 when there is no spool."""
    if group is None:
        rows = _spool_query(store, "SELECT count(*) FROM spool")
    else:
        rows = _spool_query(store, "SELECT count(*) FROM spool WHERE group_name = ?", [group])
    return rows[0][0] if rows else 0


def dead_letters(store, group: str | None = None) -> list[dict]:
    """Spooled batches that could not be written, oldest first: ``{id, group, events, reason, failed_at,
    session_id, user_id}``."""
    sql = "SELECT id, group_name, batch, reason, failed_at FROM dead_letters"
    params: list = []
    if group is not None:
        sql += " WHERE group_name = ?"
        params.append(group)
    out = []
    for id_, grp, raw, reason, failed_at in _spool_query(store, sql + " ORDER BY id", params):
        try:
            batch = json.loads(raw)
            events, session, user = len(batch.get("rows") or ()), batch.get("session_id"), batch.get("user_id")
        except (ValueError, AttributeError):
            events, session, user = 0, None, None
        out.append({"id": id_, "group": grp, "events": events, "reason": reason, "failed_at": failed_at,
                    "session_id": session, "user_id": user})
    return out


def drain_spool(store, *, wait: float | None = None) -> int:
    """Move spooled event batches into their datasets, oldest first, in one transaction; returns how many moved.

    A batch that cannot be written goes to the dead letters with its reason and the others move on. `wait`:
    seconds to wait for another writer (default the store's busy timeout) before sqlite3.OperationalError.
    """
    if spooled_count(store) == 0:
        return 0
    with store.transaction(wait=wait) as db:
        replay = _replay_spool(store, db)
    _settle(store, replay)
    return len(replay.moved)


def drain_spool_if_free(store, *, wait: float = 5.0) -> int:
    """`drain_spool` for callers that must not fail for it (an import, a training, a start): when another
    writer holds the lock past `wait` seconds, or anything else goes wrong, it logs and returns 0; the next
    write or start drains again."""
    try:
        return drain_spool(store, wait=wait)
    except Exception:
        log.warning("spooled events not moved now (%s); the next write or start moves them", store.home,
                    exc_info=True)
        return 0


class SpoolMover:
    """Moves spooled events in every `interval` seconds from a daemon thread (the API server runs one), so events
    spooled during another process' import, killed before its end-of-import drain, never wait for a next write.

    Example::

        mover = SpoolMover(store).start()
        ...
        mover.stop()
    """

    def __init__(self, store, interval: float = 5.0):
        self.store, self.interval = store, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "SpoolMover":
        self._thread = threading.Thread(target=self._run, name="recsys-spool-mover", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if (self.store.home / SPOOL_NAME).exists() and spooled_count(self.store):
                drain_spool_if_free(self.store, wait=0)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


class _Replay:
    """What a replay did inside a transaction, applied to the spool once that transaction has committed."""

    def __init__(self) -> None:
        self.moved: list[int] = []
        self.dead: list[tuple[int, str, str, str]] = []   # (spool id, group, batch, reason)


# sqlite3 errors that come from the machine or a lock, not from a batch: never a reason to set a batch aside.
_ENVIRONMENT_WORDS = ("disk", "full", "readonly", "read-only", "locked", "busy", "interrupted", "i/o")


def _batch_problem(exc: BaseException) -> str | None:
    """Why a spooled batch cannot be written, or None when `exc` is not the batch's fault."""
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        if any(word in text for word in _ENVIRONMENT_WORDS):
            return None
        return f"the dataset no longer accepts these events ({exc}); its schema changed since they were spooled"
    if isinstance(exc, sqlite3.IntegrityError):
        return f"the dataset refused these events ({exc})"
    if isinstance(exc, EnvironmentProblem):
        return None
    if isinstance(exc, RecsysError):
        return str(exc)
    if isinstance(exc, (KeyError, TypeError, ValueError)):
        return f"the spooled batch is damaged ({type(exc).__name__}: {exc})"
    return None


def _replay_spool(store, db) -> _Replay:
    """Write the spooled batches inside the caller's transaction, each under a savepoint: one that fails is
    rolled back alone and set aside. The caller then calls `_settle` once it has committed (see the module note
    on why that order is safe)."""
    replay = _Replay()
    pending = _spool_query(store, "SELECT id, group_name, batch FROM spool ORDER BY id")
    for spool_id, group, raw in pending:
        db.execute("SAVEPOINT spooled_batch")
        try:
            batch = json.loads(raw)
            _write_batch(db, group, batch["columns"], batch["rows"], batch["session_id"], batch["user_id"])
        except Exception as exc:
            db.execute("ROLLBACK TO spooled_batch")
            db.execute("RELEASE spooled_batch")
            reason = _batch_problem(exc)
            if reason is None:
                raise
            log.warning("spooled events of group %s set aside: %s", group, reason)
            replay.dead.append((spool_id, group, raw, reason))
        else:
            db.execute("RELEASE spooled_batch")
            replay.moved.append(spool_id)
    return replay


def _settle(store, replay: _Replay) -> None:
    """After the dataset transaction committed: forget the moved batches, move the failed ones to the dead
    letters (one spool transaction)."""
    if not replay.moved and not replay.dead:
        return
    conn = _spool_connect(store)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("DELETE FROM spool WHERE id = ?", [[i] for i in replay.moved])
        now = time.time()
        for spool_id, group, raw, reason in replay.dead:
            conn.execute("INSERT INTO dead_letters (spool_id, group_name, batch, reason, failed_at) "
                         "VALUES (?, ?, ?, ?, ?)", [spool_id, group, raw, reason, now])
            conn.execute("DELETE FROM spool WHERE id = ?", [spool_id])
        conn.execute("COMMIT")
    finally:
        conn.close()


def retry_dead_letters(store, ids: list[int] | None = None) -> dict:
    """Put dead letters (all, or those `ids`) back in the spool and drain it: ``{"retried", "moved",
    "failed"}``, where the failed ones are dead letters again, with their new reason."""
    rows = _dead_rows(store, ids)
    if not rows:
        return {"retried": 0, "moved": 0, "failed": 0}
    conn = _spool_connect(store)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for id_, group, raw in rows:
            conn.execute("INSERT INTO spool (group_name, batch) VALUES (?, ?)", [group, raw])
            conn.execute("DELETE FROM dead_letters WHERE id = ?", [id_])
        conn.execute("COMMIT")
    finally:
        conn.close()
    before = len(dead_letters(store))
    moved = drain_spool(store)
    failed = len(dead_letters(store)) - before
    return {"retried": len(rows), "moved": moved, "failed": failed}


def drop_dead_letters(store, ids: list[int] | None = None) -> int:
    """Delete dead letters (all, or those `ids`) for good; returns how many."""
    rows = _dead_rows(store, ids)
    if rows:
        conn = _spool_connect(store)
        try:
            conn.executemany("DELETE FROM dead_letters WHERE id = ?", [[r[0]] for r in rows])
        finally:
            conn.close()
    return len(rows)


def _dead_rows(store, ids: list[int] | None) -> list:
    rows = _spool_query(store, "SELECT id, group_name, batch FROM dead_letters ORDER BY id")
    if ids is None:
        return rows
    wanted = {int(i) for i in ids}
    missing = wanted - {r[0] for r in rows}
    if missing:
        raise NotFoundError(f"No dead letter with id {', '.join(map(str, sorted(missing)))} in the event spool; "
                            "list them with `recsys events spool list`.")
    return [r for r in rows if r[0] in wanted]
