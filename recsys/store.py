"""The workspace: one directory holding the SQLite database (`recsys.db`) and the `artifacts/` of trained models.

Example::

    store = Store("data/workspace")
    store.create_dataset_group("shop", domain="ECOMMERCE")
    store.create_resource("filter", "shop", "no-purchased", {"filterExpression": "..."})

Every call opens a short-lived connection (SQLite in WAL mode with a busy timeout), so one Store can be
shared by threads (API server, background training, Streamlit sessions). Resources have AWS-shaped ARNs
(`store.arn(type, group, name)`, formatted by `recsys.resources.Arn`) with the workspace's region and account;
`find_resource` also accepts other regions and accounts and the first releases' `arn:recsys:` ARNs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import sqlite_utils

from recsys import owners
from recsys.exceptions import ConflictError, NotFoundError, ValidationError
from recsys.files import environment_errors
from recsys.resources import (  # noqa: F401 - the statuses and the name rule are used through this module too
    ACTIVE, CREATE_FAILED, CREATE_IN_PROGRESS, CREATE_PENDING, CREATE_STOPPED, CREATE_STOPPING, DEFAULT_ACCOUNT,
    DEFAULT_REGION, NAME_PATTERN, STATUSES, Arn, validate_name,
)

DEFAULT_HOME = Path("data") / "workspace"
DB_NAME = "recsys.db"
SPOOL_NAME = "events-spool.db"   # PutEvents batches kept while a long write holds the lock (`recsys.event_writer`)
BUSY_TIMEOUT_SECONDS = 30.0

DOMAINS = ("ECOMMERCE", "VIDEO_ON_DEMAND")

log = logging.getLogger(__name__)

# A job in one of these is run by a process (its `owner`); `interrupted_jobs` finds those whose process is gone.
RUNNING_STATUSES = (CREATE_PENDING, CREATE_IN_PROGRESS, CREATE_STOPPING)

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


# Types whose names are unique per dataset group only: AWS spells the group in their ARNs
# (`dataset/<group>/INTERACTIONS`). Every other type's names are unique per workspace, as in AWS.
PER_GROUP_TYPES = ("dataset",)
REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+-\d+$")
ACCOUNT_PATTERN = re.compile(r"^\d{12}$")


@migrations()
def m002_aws_arns(db: sqlite_utils.Database) -> None:
    """AWS-shaped ARNs; names unique per workspace and type; the old ARNs kept as aliases; settings and tags.

    Names that the old per-group rule allowed twice (a filter `top` in two groups) cannot keep one ARN each:
    the oldest keeps its name, the others become `<name>-<group>` (their old ARNs still resolve, and the
    renames are logged and listed in the `renamed_resources` setting).
    """
    db.execute("CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    region = os.environ.get("RECSYS_REGION") or DEFAULT_REGION
    account = os.environ.get("RECSYS_ACCOUNT_ID") or DEFAULT_ACCOUNT
    _check_region_account(region, account)
    db.execute("INSERT INTO settings (key, value) VALUES ('region', ?), ('account', ?)", [region, account])
    db.execute("CREATE TABLE arn_aliases (alias TEXT PRIMARY KEY, arn TEXT NOT NULL)")
    db.execute("CREATE TABLE tags (arn TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (arn, key))")

    def new_arn(resource_type: str, group: str, name: str) -> str:
        return str(Arn.of(resource_type, name, group, region=region, account=account))

    mapping: dict[str, str] = {}
    for name, old in db.execute("SELECT name, arn FROM dataset_groups").fetchall():
        mapping[old] = new_arn("dataset-group", name, name)
        db.execute("UPDATE dataset_groups SET arn = ? WHERE name = ?", [mapping[old], name])
    renames = _rename_collisions(db)
    rows = db.execute("SELECT id, type, group_name, name, arn FROM resources ORDER BY id").fetchall()
    for rid, rtype, group, name, old in rows:
        if rtype == "solution-version":
            solution, _, version_id = name.partition("/")
            name = f"{renames.get(('solution', group, solution), solution)}/{version_id}"
        else:
            name = renames.get((rtype, group, name), name)
        mapping[old] = new_arn(rtype, group, name)
        db.execute("UPDATE resources SET name = ?, arn = ? WHERE id = ?", [name, mapping[old], rid])
    for rid, rtype, group, body in db.execute("SELECT id, type, group_name, body FROM resources").fetchall():
        data = _rewrite_arns(json.loads(body or "{}"), mapping)
        if rtype == "solution-version" and ("solution", group, data.get("solution")) in renames:
            old_solution = data["solution"]
            data["solution"] = renames[("solution", group, old_solution)]
            parts = Path(data.get("artifact") or "").parts
            if parts[:3] == ("models", group, old_solution):  # the model files move with their solution
                data["artifact"] = str(Path("models", group, data["solution"], *parts[3:]))
        db.execute("UPDATE resources SET body = ? WHERE id = ?", [json.dumps(data, default=str), rid])
    db.conn.executemany("INSERT OR REPLACE INTO arn_aliases (alias, arn) VALUES (?, ?)",
                   [(old, new) for old, new in mapping.items() if old != new])
    per_group = ", ".join(f"'{t}'" for t in PER_GROUP_TYPES)
    db.execute(f"CREATE UNIQUE INDEX resources_name_per_workspace ON resources (type, name) "
               f"WHERE type NOT IN ({per_group})")
    if renames:
        listed = [{"type": t, "group": g, "old": o, "new": n} for (t, g, o), n in renames.items()]
        db.execute("INSERT INTO settings (key, value) VALUES ('renamed_resources', ?)", [json.dumps(listed)])
        home = Path(db.execute("PRAGMA database_list").fetchone()[2]).parent
        for (rtype, group, old), new in renames.items():
            log.warning("Renamed %s %r of dataset group %r to %r: names are now unique per workspace", rtype, old,
                        group, new)
            if rtype == "solution":  # trained models live under their solution's name
                for kind in ("models", "evaluations"):
                    source = home / "artifacts" / kind / group / old
                    if source.exists():
                        os.replace(source, source.with_name(new))


def _rename_collisions(db: sqlite_utils.Database) -> dict[tuple[str, str, str], str]:
    """{(type, group, old name): new name} for every resource whose name another group already uses."""
    per_group = ", ".join(f"'{t}'" for t in PER_GROUP_TYPES + ("solution-version",))
    taken: dict[str, set[str]] = {}
    for rtype, name in db.execute(f"SELECT type, name FROM resources WHERE type NOT IN ({per_group})").fetchall():
        taken.setdefault(rtype, set()).add(name)
    renames = {}
    seen: set[tuple[str, str]] = set()
    for rtype, group, name in db.execute(
            f"SELECT type, group_name, name FROM resources WHERE type NOT IN ({per_group}) ORDER BY id").fetchall():
        if (rtype, name) not in seen:
            seen.add((rtype, name))
            continue
        base, n = f"{name}-{group}"[:63], 1
        new = base
        while new in taken[rtype]:
            n += 1
            new = f"{base[:60]}-{n}"
        taken[rtype].add(new)
        renames[(rtype, group, name)] = new
    return renames


def _rewrite_arns(value: Any, mapping: dict[str, str]) -> Any:
    """`value` (a JSON body) with every old ARN it holds spelled the new way (`.../$LATEST` forms too)."""
    if isinstance(value, dict):
        return {k: _rewrite_arns(v, mapping) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite_arns(v, mapping) for v in value]
    if isinstance(value, str) and value.startswith("arn:recsys:"):
        if value in mapping:
            return mapping[value]
        head, _, tail = value.rpartition("/")
        if head in mapping:
            return f"{mapping[head]}/{tail}"
        parsed = Arn.try_parse(value)
        if parsed is not None and parsed.resource_type == "recipe":
            return str(Arn.recipe(parsed.name))
    return value


def _check_region_account(region: str, account: str) -> None:
    if not REGION_PATTERN.match(region):
        raise ValidationError(f"Invalid region {region!r} (RECSYS_REGION): use an AWS region name such as us-east-1.")
    if not ACCOUNT_PATTERN.match(account):
        raise ValidationError(f"Invalid account {account!r} (RECSYS_ACCOUNT_ID): use 12 digits, e.g. 000000000000.")


@migrations()
def m003_resources_by_status(db: sqlite_utils.Database) -> None:
    # Recovery looks for running jobs at every start: an index keeps that one lookup whatever the history.
    db.execute("CREATE INDEX resources_by_status ON resources (status)")


def make_arn(resource_type: str, group: str, name: str) -> str:
    """The first releases' ARN, `arn:recsys:<type>/<group>/<name>`: still resolvable, no longer stored.

    New code asks the workspace for the AWS-shaped ARN: `store.arn(type, group, name)`.
    """
    return str(Arn.legacy_of(resource_type, group, name))


def _private_file(path: Path, create: bool = True) -> None:
    """Make `path` readable by its owner only (0600), creating it empty first when asked: the workspace
    database holds the API keys' secrets."""
    if create and not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    if path.exists() and path.stat().st_mode & 0o077:
        try:
            os.chmod(path, 0o600)
        except OSError as exc:  # a read-only workspace is still readable; say why its mode stays
            log.warning("Could not make %s private (chmod 600): %s", path, exc)


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
            _private_file(self.db_path)
            db = self.connect()
            try:
                db.execute("PRAGMA journal_mode=WAL")
                migrations.apply(db)
                settings = dict(db.execute("SELECT key, value FROM settings").fetchall())
            finally:
                db.close()
        for suffix in ("-wal", "-shm"):  # SQLite gives them the database's mode; older workspaces had 0644
            _private_file(self.db_path.with_name(DB_NAME + suffix), create=False)
        self.region: str = settings["region"]
        self.account: str = settings["account"]

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
        row = {"name": name, "domain": domain, "arn": self.arn("dataset-group", name, name), "created_at": time.time()}
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
            db.execute("DELETE FROM tags WHERE arn IN (SELECT arn FROM resources WHERE group_name = ?) OR arn = ?",
                       [name, group["arn"]])
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
        """Store a new resource; ConflictError if one of that type and name exists in the group.

        A job created PENDING or IN_PROGRESS is owned by this process (``owner``, see `job_owner`) unless `body`
        names its owner: the process that creates a job runs it (on a worker thread), so when that process is
        gone the job is interrupted (`interrupted_jobs`)."""
        if status not in STATUSES:
            raise ValidationError(f"Invalid status {status!r}: use one of {', '.join(STATUSES)}.")
        arn = arn or self.arn(resource_type, group, name)
        now = time.time()
        body = dict(body or {})
        if status in RUNNING_STATUSES and "owner" not in body:
            body["owner"] = self.job_owner()
        payload = json.dumps(body, default=str)
        with self.transaction() as db:
            exists = db.execute(
                "SELECT group_name FROM resources WHERE (type = ? AND group_name = ? AND name = ?) OR arn = ?",
                [resource_type, group, name, arn],
            ).fetchone()
            if exists:
                where = f"in {group!r}" if exists[0] == group else f"in dataset group {exists[0]!r}"
                raise ConflictError(f"A {resource_type} named {name!r} already exists {where}; names are unique per "
                                    "workspace and type (as in AWS): pick another name.")
            db.execute(
                "INSERT INTO resources (type, group_name, name, arn, status, created_at, updated_at, body) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [resource_type, group, name, arn, status, now, now, payload],
            )
        return self.get_resource(resource_type, group, name)

    def name_for(self, resource_type: str, group: str, base: str) -> str:
        """A name for a resource the product names itself (e.g. a solution per recipe): `base` unless another
        dataset group already has a `resource_type` of that name (names are unique per workspace), then
        `<base>-<group>` (the rule the ARN migration applied to names used in two groups)."""
        with self.reading() as db:
            owner = db.execute("SELECT group_name FROM resources WHERE type = ? AND name = ?",
                               [resource_type, base]).fetchone()
        if owner is None or owner[0] == group or resource_type in PER_GROUP_TYPES:
            return base
        return f"{base}-{group}"[:63]

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
        """The resource with this ARN, spelled with any region and account, or an old `arn:recsys:` ARN;
        NotFoundError otherwise."""
        with self.reading() as db:
            rows = list(db.query("SELECT * FROM resources WHERE arn = ?", [arn]))
            if not rows:
                parsed = Arn.try_parse(arn)
                canonical = self._canonical(db, parsed) if parsed is not None else None
                if canonical is not None and canonical != arn:
                    rows = list(db.query("SELECT * FROM resources WHERE arn = ?", [canonical]))
                # an old ARN names its group: it never resolves to a same-named resource of another group
                if rows and parsed.legacy and parsed.group not in (None, rows[0]["group_name"]):
                    rows = []
        if not rows:
            raise NotFoundError(f"No resource with ARN {arn!r}.")
        return self._row_to_resource(rows[0])

    def find_typed(self, arn: str):
        """The resource with this ARN as its frozen dataclass (`recsys.resources`: Campaign, Solution, ...)."""
        from recsys.resources import typed

        return typed(self.find_resource(arn), self)

    # -- ARNs ----------------------------------------------------------------------------------------

    def arn(self, resource_type: str, group: str, name: str) -> str:
        """The AWS-shaped ARN of a resource of this workspace (its region and account)."""
        return str(Arn.of(resource_type, name, group, region=self.region, account=self.account))

    def canonical_arn(self, arn: str) -> str | None:
        """How this workspace spells the resource `arn` names (whatever its region, account or age), or None
        when `arn` is not an ARN. The resource may not exist."""
        parsed = Arn.try_parse(arn)
        if parsed is None:
            return None
        with self.reading() as db:
            return self._canonical(db, parsed)

    def _canonical(self, db: sqlite_utils.Database, parsed: Arn) -> str | None:
        if parsed.legacy:
            alias = db.execute("SELECT arn FROM arn_aliases WHERE alias = ?", [str(parsed)]).fetchone()
            if alias:
                return alias[0]
            if parsed.group is None:
                return str(Arn(parsed.resource_type, parsed.name, region="", account=""))
        return self.arn(parsed.resource_type, parsed.group, parsed.name)

    def find_dataset_group(self, arn: str) -> dict:
        """The dataset group with this ARN (any region/account, or an old ARN); NotFoundError otherwise."""
        canonical = self.canonical_arn(arn)
        with self.reading() as db:
            rows = list(db.query("SELECT * FROM dataset_groups WHERE arn = ?", [canonical or arn]))
        if not rows:
            raise NotFoundError(f"No dataset group with ARN {arn!r}.")
        return rows[0]

    # -- settings and tags ---------------------------------------------------------------------------

    def setting(self, key: str, default: str | None = None) -> str | None:
        with self.reading() as db:
            row = db.execute("SELECT value FROM settings WHERE key = ?", [key]).fetchone()
        return row[0] if row else default

    def set_setting(self, key: str, value: str | None) -> None:
        """Set (or with None, remove) a workspace setting. The region and account are fixed at creation
        (RECSYS_REGION, RECSYS_ACCOUNT_ID): every stored ARN carries them."""
        if key in ("region", "account"):
            raise ValidationError(f"The workspace {key} is fixed when the workspace is created "
                                  "(RECSYS_REGION / RECSYS_ACCOUNT_ID); it is part of every stored ARN.")
        with self.transaction() as db:
            if value is None:
                db.execute("DELETE FROM settings WHERE key = ?", [key])
            else:
                db.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", [key, str(value)])

    def tag(self, arn: str, tags: dict[str, str]) -> None:
        with self.transaction() as db:
            db.conn.executemany("INSERT OR REPLACE INTO tags (arn, key, value) VALUES (?, ?, ?)",
                           [(arn, k, v) for k, v in tags.items()])

    def untag(self, arn: str, keys: list[str]) -> None:
        with self.transaction() as db:
            db.conn.executemany("DELETE FROM tags WHERE arn = ? AND key = ?", [(arn, k) for k in keys])

    def tags(self, arn: str) -> dict[str, str]:
        with self.reading() as db:
            return dict(db.execute("SELECT key, value FROM tags WHERE arn = ? ORDER BY key", [arn]).fetchall())

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
        db: sqlite_utils.Database | None = None,
    ) -> dict:
        """Change a resource's status and merge `body` into its JSON body.

        `db`: a connection inside the caller's `transaction()`, so the change commits with the caller's other
        writes (an import job's status with its rows); the resource is then returned as this transaction sees it.
        """
        if status is not None and status not in STATUSES:
            raise ValidationError(f"Invalid status {status!r}: use one of {', '.join(STATUSES)}.")
        if db is not None:
            return self._update_resource_in(db, resource_type, group, name, status, body, failure_reason)
        with self.transaction() as tx:
            self._update_resource_in(tx, resource_type, group, name, status, body, failure_reason)
        return self.get_resource(resource_type, group, name)

    def _update_resource_in(self, db, resource_type, group, name, status, body, failure_reason) -> dict:
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
        rows = list(db.query("SELECT * FROM resources WHERE type = ? AND group_name = ? AND name = ?",
                             [resource_type, group, name]))
        return self._row_to_resource(rows[0])

    def delete_resource(self, resource_type: str, group: str, name: str) -> None:
        with self.transaction() as db:
            cursor = db.execute(
                "DELETE FROM resources WHERE type = ? AND group_name = ? AND name = ?", [resource_type, group, name]
            )
            if cursor.rowcount == 0:
                raise NotFoundError(f"No {resource_type} named {name!r} in dataset group {group!r}.")
            db.execute("DELETE FROM tags WHERE arn = ?", [self.arn(resource_type, group, name)])

    # -- jobs and the processes that run them ------------------------------------------------------------

    def job_owner(self) -> dict:
        """The owner record a job started now keeps in its body (``owner``): this process, which holds its lock
        in the workspace for as long as it lives (`recsys.owners`)."""
        return owners.claim(self.home)

    def owner_alive(self, resource: dict) -> bool:
        """Whether the process that runs the job `resource` still lives (False when it recorded no owner)."""
        owner = resource.get("owner") or {}
        return owners.alive(self.home, owner.get("token"), owner)

    def has_running_jobs(self) -> bool:
        """Whether any job is PENDING, IN_PROGRESS or STOPPING (one indexed lookup)."""
        marks = ", ".join("?" for _ in RUNNING_STATUSES)
        with self.reading() as db:
            return db.execute(f"SELECT EXISTS (SELECT 1 FROM resources WHERE status IN ({marks}))",
                              list(RUNNING_STATUSES)).fetchone()[0] == 1

    def interrupted_jobs(self, resource_type: str | None = None) -> list[dict]:
        """Resources (of a type, or of any) left PENDING, IN_PROGRESS or STOPPING by a process that has ended,
        oldest first."""
        marks = ", ".join("?" for _ in RUNNING_STATUSES)
        of_type = " AND type = ?" if resource_type is not None else ""
        params = [*RUNNING_STATUSES, *([resource_type] if resource_type is not None else [])]
        with self.reading() as db:
            rows = list(db.query(f"SELECT * FROM resources WHERE status IN ({marks}){of_type} ORDER BY created_at, id",
                                 params))
        jobs = [self._row_to_resource(r) for r in rows]
        return [job for job in jobs if not self.owner_alive(job)]

    def end_interrupted(self, job: dict, status: str, reason: str | None, body: dict | None = None) -> bool:
        """Record how the interrupted `job` ended, unless it moved on since it was read (another process
        recovered it, or it was resumed); True when this call recorded it."""
        with self.transaction() as db:
            row = db.execute("SELECT status, body FROM resources WHERE arn = ?", [job["arn"]]).fetchone()
            if row is None or row[0] not in RUNNING_STATUSES:
                return False
            owner = (json.loads(row[1] or "{}").get("owner") or {}).get("token")
            if owner != (job.get("owner") or {}).get("token"):
                return False
            self._update_resource_in(db, job["type"], job["group"], job["name"], status, body, reason)
        return True

    # -- artifacts -----------------------------------------------------------------------------------

    def artifact_path(self, *parts: str) -> Path:
        """A path under `artifacts/` (parent directories created)."""
        path = self.artifacts_dir.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
