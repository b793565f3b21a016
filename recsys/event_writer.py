"""Streamed events into the Interactions table: one transaction per PutEvents call, session stitching, and
the spool that keeps events durably while a long import holds SQLite's write lock.

Example::

    write_events(store, "shop", ["USER_ID", "ITEM_ID", "TIMESTAMP"], [["u1", "i9", 1700000000]], "s-1", "u1")
    drain_spool(store)          # what an import calls when it has committed

SQLite has one writer at a time, and a 10-million-row import holds the lock for longer than a PutEvents
caller should wait. Such events go to a small SQLite file of their own (its own lock, durable on return)
and are moved into the dataset, in order, by the next write that gets the lock: the next PutEvents, or
the end of the import. Every spooled event carries an event id, so a move interrupted between the two
commits cannot record it twice. Validation is `recsys.events`' job; rows arrive here checked and typed.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid

from recsys.columns import INTERACTIONS
from recsys.datasets import EVENT_ID, INCREMENTAL, STREAM, TableWriter, dataset_info, stitch_session
from recsys.exceptions import NotFoundError

log = logging.getLogger(__name__)

SPOOL_AFTER_SECONDS = 2.0
SPOOL_NAME = "events-spool.db"


def write_events(store, group: str, columns: list[str], rows: list[list], session_id: str,
                 user_id: str | None) -> dict:
    """Write one batch of checked events (spooled ones first); {"recorded", "stitched"} or, when a long write
    holds the lock for more than SPOOL_AFTER_SECONDS, {"recorded", "stitched": 0, "spooled": True}."""
    try:
        with store.transaction(wait=SPOOL_AFTER_SECONDS) as db:
            moved = _replay_spool(store, db)  # events spooled earlier go first, in their order
            recorded, stitched = _write_batch(db, group, columns, rows, session_id, user_id)
        _delete_spooled(store, moved)
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise
        # A long import holds the write lock: keep the events durably in the spool rather than fail the call.
        _spool(store, group, columns, rows, session_id, user_id)
        return {"recorded": len(rows), "stitched": 0, "spooled": True}
    return {"recorded": recorded, "stitched": int(stitched)}


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


def spooled_count(store) -> int:
    """Events batches waiting in the spool (0 when there is none)."""
    if not (store.home / SPOOL_NAME).exists():
        return 0
    conn = _spool_connect(store)
    try:
        return conn.execute("SELECT count(*) FROM spool").fetchone()[0]
    finally:
        conn.close()


def drain_spool(store) -> int:
    """Move spooled event batches into their datasets, oldest first, in one transaction; returns how many."""
    if not (store.home / SPOOL_NAME).exists():
        return 0
    with store.transaction() as db:
        moved = _replay_spool(store, db)
    _delete_spooled(store, moved)
    return len(moved)


def _replay_spool(store, db) -> list[int]:
    """Write the spooled batches inside the caller's transaction; the caller deletes the returned spool ids
    once it has committed (see the module note on why that order is safe)."""
    if not (store.home / SPOOL_NAME).exists():
        return []
    conn = _spool_connect(store)
    try:
        pending = conn.execute("SELECT id, group_name, batch FROM spool ORDER BY id").fetchall()
    finally:
        conn.close()
    for _, group, raw in pending:
        batch = json.loads(raw)
        try:
            _write_batch(db, group, batch["columns"], batch["rows"], batch["session_id"], batch["user_id"])
        except NotFoundError:  # the group or its dataset was deleted since: nothing to keep
            log.warning("dropping spooled events of deleted dataset group %s", group)
    return [p[0] for p in pending]


def _delete_spooled(store, ids: list[int]) -> None:
    if not ids:
        return
    conn = _spool_connect(store)
    try:
        conn.executemany("DELETE FROM spool WHERE id = ?", [[i] for i in ids])
    finally:
        conn.close()
