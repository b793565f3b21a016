"""The workspace: one directory holding the SQLite database (`recsys.db`) and the `artifacts/` of trained models.

Example::

    store = Store("data/workspace")
    store.create_dataset_group("shop", domain="ECOMMERCE")
    store.create_resource("filter", "shop", "no-purchased", {"filterExpression": "..."})

Every call opens a short-lived connection (SQLite in WAL mode with a busy timeout), so one Store can be
shared by threads (API server, background training, Streamlit sessions).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import sqlite_utils

from recsys.exceptions import ConflictError, NotFoundError, ValidationError
from recsys.files import environment_errors

DEFAULT_HOME = Path("data") / "workspace"
DB_NAME = "recsys.db"
BUSY_TIMEOUT_SECONDS = 30.0

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]*$")
DOMAINS = ("ECOMMERCE", "VIDEO_ON_DEMAND")

# Resource statuses, as Personalize names them.
CREATE_PENDING = "CREATE PENDING"
CREATE_IN_PROGRESS = "CREATE IN_PROGRESS"
ACTIVE = "ACTIVE"
CREATE_FAILED = "CREATE FAILED"
CREATE_STOPPING = "CREATE STOPPING"
CREATE_STOPPED = "CREATE STOPPED"
STATUSES = (CREATE_PENDING, CREATE_IN_PROGRESS, ACTIVE, CREATE_FAILED, CREATE_STOPPING, CREATE_STOPPED)

migrations = sqlite_utils.Migrations("recsys")


@migrations()
def m001_dataset_groups_and_resources(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE dataset_groups (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            domain TEXT,
            arn TEXT NOT NULL UNIQUE,
            created_at REAL NOT NULL
        )"""
    )
    db.execute(
        """
        CREATE TABLE resources (
            id INTEGER PRIMARY KEY,
            type TEXT NOT NULL,
            group_name TEXT NOT NULL,
            name TEXT NOT NULL,
            arn TEXT NOT NULL UNIQUE,
            status TEXT NOT NULL,
            failure_reason TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            body TEXT NOT NULL DEFAULT '{}',
            UNIQUE (type, group_name, name)
        )"""
    )
    db.execute("CREATE INDEX resources_by_group ON resources (group_name, type)")


def validate_name(name: Any, what: str = "name") -> str:
    """Check a resource name against Personalize's rule and return it."""
    if not isinstance(name, str) or not 1 <= len(name) <= 63 or not NAME_PATTERN.match(name):
        raise ValidationError(
            f"Invalid {what} {name!r}: use 1-63 characters, letters, digits, '-' and '_', "
            "starting with a letter or digit."
        )
    return name


def make_arn(resource_type: str, group: str, name: str) -> str:
    """The ARN-like id of a resource: `arn:recsys:<type>/<group>/<name>`."""
    return f"arn:recsys:{resource_type}/{group}/{name}"


class _Connection(sqlite3.Connection):
    """A connection whose `with conn:` never commits an enclosing Store.transaction() early."""

    managed = False

    def __exit__(self, exc_type, exc, tb):
        if self.managed:
            return False
        return super().__exit__(exc_type, exc, tb)


class Store:
    """A workspace directory: `recsys.db` (SQLite, WAL) and `artifacts/`."""

    def __init__(self, home: str | os.PathLike | None = None):
        self.home = Path(home or os.environ.get("RECSYS_HOME") or DEFAULT_HOME).resolve()
        self.db_path = self.home / DB_NAME
        self.artifacts_dir = self.home / "artifacts"
        self._migrate_lock = threading.Lock()
        with environment_errors(self.db_path), self._migrate_lock:
            self.artifacts_dir.mkdir(parents=True, exist_ok=True)
            db = self.connect()
            try:
                db.execute("PRAGMA journal_mode=WAL")
                migrations.apply(db)
            finally:
                db.close()

    def __repr__(self) -> str:
        return f"<Store {self.home}>"

    # -- connections ---------------------------------------------------------------------------------

    def connect(self) -> sqlite_utils.Database:
        """A new connection (caller closes it): WAL, busy timeout, foreign keys, autocommit outside transactions.

        A full disk, a read-only workspace or a damaged database raises EnvironmentProblem, here and in
        `transaction` and `reading`, for everything run inside them."""
        with environment_errors(self.db_path):
            conn = sqlite3.connect(
                self.db_path,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,
                check_same_thread=False,
                factory=_Connection,
            )
            try:
                conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
                conn.execute("PRAGMA foreign_keys=ON")
                conn.execute("PRAGMA synchronous=NORMAL")
            except BaseException:
                conn.close()
                raise
        return sqlite_utils.Database(conn)

    @contextlib.contextmanager
    def transaction(self, wait: float | None = None) -> Iterator[sqlite_utils.Database]:
        """One write transaction (`BEGIN IMMEDIATE`): everything inside commits together or not at all.

        `wait`: seconds to wait for another writer before sqlite3.OperationalError ("database is locked");
        default BUSY_TIMEOUT_SECONDS.
        """
        db = self.connect()
        conn = db.conn
        try:
            with environment_errors(self.db_path):
                if wait is not None:
                    conn.execute(f"PRAGMA busy_timeout={max(0, int(wait * 1000))}")
                conn.execute("BEGIN IMMEDIATE")
                conn.managed = True
                try:
                    yield db
                except BaseException:
                    conn.managed = False
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                conn.managed = False
                conn.execute("COMMIT")
        finally:
            db.close()

    @contextlib.contextmanager
    def reading(self) -> Iterator[sqlite_utils.Database]:
        """A connection for reads, closed on exit."""
        db = self.connect()
        try:
            with environment_errors(self.db_path):
                yield db
        finally:
            db.close()

    # -- dataset groups ------------------------------------------------------------------------------

    def create_dataset_group(self, name: str, domain: str | None = None) -> dict:
        """Create a dataset group (a tenant). `domain` is ECOMMERCE, VIDEO_ON_DEMAND or None (custom)."""
        validate_name(name, "dataset group name")
        if domain is not None:
            domain = domain.upper()
            if domain not in DOMAINS:
                raise ValidationError(f"Invalid domain {domain!r}: use one of {', '.join(DOMAINS)}, or none for custom.")
        row = {"name": name, "domain": domain, "arn": make_arn("dataset-group", name, name), "created_at": time.time()}
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM dataset_groups WHERE name = ?", [name]).fetchone():
                raise ConflictError(f"Dataset group {name!r} already exists; pick another name or use it.")
            cursor = db.execute(
                "INSERT INTO dataset_groups (name, domain, arn, created_at) VALUES (?, ?, ?, ?)",
                [row["name"], row["domain"], row["arn"], row["created_at"]],
            )
            row["id"] = cursor.lastrowid
        return row

    def get_dataset_group(self, name: str) -> dict:
        """The dataset group called `name`; NotFoundError names the existing groups."""
        with self.reading() as db:
            rows = list(db.query("SELECT * FROM dataset_groups WHERE name = ?", [name]))
        if not rows:
            known = ", ".join(g["name"] for g in self.list_dataset_groups()) or "none yet"
            raise NotFoundError(f"Dataset group {name!r} does not exist (existing: {known}); create it first.")
        return rows[0]

    def list_dataset_groups(self) -> list[dict]:
        with self.reading() as db:
            return list(db.query("SELECT * FROM dataset_groups ORDER BY name"))

    def delete_dataset_group(self, name: str) -> None:
        """Delete a group, its resources and its dataset tables."""
        group = self.get_dataset_group(name)
        with self.transaction() as db:
            for (table,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ?", [f"ds\\_{group['id']}\\_%"]
            ).fetchall():
                if table.startswith(f"ds_{group['id']}_"):
                    db.execute(f'DROP TABLE "{table}"')
            db.execute("DELETE FROM resources WHERE group_name = ?", [name])
            db.execute("DELETE FROM dataset_groups WHERE name = ?", [name])

    # -- generic resources ---------------------------------------------------------------------------

    @staticmethod
    def _row_to_resource(row: dict) -> dict:
        body = json.loads(row.get("body") or "{}")
        resource = {
            "type": row["type"],
            "group": row["group_name"],
            "name": row["name"],
            "arn": row["arn"],
            "status": row["status"],
            "failure_reason": row["failure_reason"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }
        body.update(resource)
        return body

    def create_resource(
        self,
        resource_type: str,
        group: str,
        name: str,
        body: dict | None = None,
        status: str = ACTIVE,
        arn: str | None = None,
    ) -> dict:
        """Store a new resource; ConflictError if one of that type and name exists in the group."""
        if status not in STATUSES:
            raise ValidationError(f"Invalid status {status!r}: use one of {', '.join(STATUSES)}.")
        arn = arn or make_arn(resource_type, group, name)
        now = time.time()
        payload = json.dumps(body or {}, default=str)
        with self.transaction() as db:
            exists = db.execute(
                "SELECT 1 FROM resources WHERE (type = ? AND group_name = ? AND name = ?) OR arn = ?",
                [resource_type, group, name, arn],
            ).fetchone()
            if exists:
                raise ConflictError(f"A {resource_type} named {name!r} already exists in {group!r}; pick another name.")
            db.execute(
                "INSERT INTO resources (type, group_name, name, arn, status, created_at, updated_at, body) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [resource_type, group, name, arn, status, now, now, payload],
            )
        return self.get_resource(resource_type, group, name)

    def get_resource(self, resource_type: str, group: str, name: str) -> dict:
        with self.reading() as db:
            rows = list(
                db.query(
                    "SELECT * FROM resources WHERE type = ? AND group_name = ? AND name = ?",
                    [resource_type, group, name],
                )
            )
        if not rows:
            raise NotFoundError(f"No {resource_type} named {name!r} in dataset group {group!r}.")
        return self._row_to_resource(rows[0])

    def find_resource(self, arn: str) -> dict:
        """The resource with this ARN; NotFoundError otherwise."""
        with self.reading() as db:
            rows = list(db.query("SELECT * FROM resources WHERE arn = ?", [arn]))
        if not rows:
            raise NotFoundError(f"No resource with ARN {arn!r}.")
        return self._row_to_resource(rows[0])

    def list_resources(self, resource_type: str, group: str | None = None) -> list[dict]:
        """Resources of a type (in one group, or all), newest first."""
        sql = "SELECT * FROM resources WHERE type = ?"
        params: list[Any] = [resource_type]
        if group is not None:
            sql += " AND group_name = ?"
            params.append(group)
        with self.reading() as db:
            rows = list(db.query(sql + " ORDER BY created_at DESC, id DESC", params))
        return [self._row_to_resource(r) for r in rows]

    def update_resource(
        self,
        resource_type: str,
        group: str,
        name: str,
        *,
        status: str | None = None,
        body: dict | None = None,
        failure_reason: str | None = None,
    ) -> dict:
        """Change a resource's status and merge `body` into its JSON body."""
        if status is not None and status not in STATUSES:
            raise ValidationError(f"Invalid status {status!r}: use one of {', '.join(STATUSES)}.")
        with self.transaction() as db:
            row = db.execute(
                "SELECT body FROM resources WHERE type = ? AND group_name = ? AND name = ?",
                [resource_type, group, name],
            ).fetchone()
            if row is None:
                raise NotFoundError(f"No {resource_type} named {name!r} in dataset group {group!r}.")
            merged = json.loads(row[0] or "{}")
            merged.update(body or {})
            sets = ["body = ?", "updated_at = ?"]
            params: list[Any] = [json.dumps(merged, default=str), time.time()]
            if status is not None:
                sets.append("status = ?")
                params.append(status)
            if failure_reason is not None:
                sets.append("failure_reason = ?")
                params.append(failure_reason)
            db.execute(
                f"UPDATE resources SET {', '.join(sets)} WHERE type = ? AND group_name = ? AND name = ?",
                params + [resource_type, group, name],
            )
        return self.get_resource(resource_type, group, name)

    def delete_resource(self, resource_type: str, group: str, name: str) -> None:
        with self.transaction() as db:
            cursor = db.execute(
                "DELETE FROM resources WHERE type = ? AND group_name = ? AND name = ?", [resource_type, group, name]
            )
            if cursor.rowcount == 0:
                raise NotFoundError(f"No {resource_type} named {name!r} in dataset group {group!r}.")

    # -- artifacts -----------------------------------------------------------------------------------

    def artifact_path(self, *parts: str) -> Path:
        """A path under `artifacts/` (parent directories created)."""
        path = self.artifacts_dir.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
