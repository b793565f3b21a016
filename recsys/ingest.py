"""Bulk import jobs: read a file (CSV/.gz, Parquet, JSON lines, Avro) in chunks, map and validate every row
against the dataset's schema, and write the accepted rows in one transaction (all or nothing).

Example::

    job = import_file(store, "shop", "Interactions", "u.data", header=False,
                      column_map={"0": "USER_ID", "1": "ITEM_ID", "2": "EVENT_VALUE", "3": "TIMESTAMP"})
    job.rows_accepted, job.rows_rejected, job.rejects_path

Semantics [AP §2.1]: ``FULL`` replaces the dataset's *bulk* rows (rows streamed with PutEvents/PutItems/
PutUsers survive); ``INCREMENTAL`` appends interactions and upserts items/users by id. The job fails, and
nothing is written, when more than ``max_rejected_fraction`` of the rows are rejected.

Row numbers in rejects: the 1-based record number in the file, counting a CSV header as record 1 (so the
first data row of a CSV with a header is row 2, as in a spreadsheet); for Parquet, Avro and headerless CSV
the first record is row 1; for JSON lines it is the line number.

Column mapping: ``column_map={"CustomerID": "USER_ID", ...}`` renames source columns; without a header the
columns are named by position, ``"0"``, ``"1"``, ... Source columns matching schema fields (case-insensitive)
need no mapping; other columns are ignored (listed in ``job.ignored_columns``). ``date_columns`` are parsed
as dates (ISO 8601 by default, or ``date_format``; naive times are taken as UTC) into epoch seconds.
``exclude={"InvoiceNo": "^C"}`` drops rows whose column matches a regular expression (e.g. cancelled
invoices); they are listed in the rejects file with reason ``excluded: ...`` and counted in
``rows_excluded``, not in the rejected share.

Speed and memory (bench/ingest.py): a reader thread parses (pyarrow's CSV reader, 1 MiB blocks), validates
and turns each chunk into multi-row INSERT parameter lists (`datasets.frame_to_blocks`); the calling thread
only runs SQLite: the inserts, then the index rebuild (FULL, and INCREMENTAL loads big against the table,
see `TableWriter`) and the commit. At most three chunks are in memory at once, plus a 64 MiB page cache.
"""

from __future__ import annotations

import csv
import itertools
import logging
import os
import queue
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from recsys import resources, validation
from recsys.columns import INTERACTIONS, TIMESTAMP
from recsys.datasets import (
    BULK, FULL, MODES, TableWriter, count_rows, create_dataset, delete_dataset, frame_to_blocks, get_dataset,
    get_or_create_dataset,
)
from recsys.event_writer import SPOOL_AFTER_SECONDS, drain_spool_if_free, spooled_count
from recsys.exceptions import ConflictError, ImportFailed, NotFoundError, ValidationError
from recsys.failpoints import failpoint
from recsys.files import environment_problem, temp_name
from recsys.readers import estimate_rows, read_chunks
from recsys.schema import Schema, normalize_dataset_type
from recsys.store import ACTIVE, CREATE_FAILED, CREATE_IN_PROGRESS, validate_name
from recsys.validation import plan_columns, validate_frame

log = logging.getLogger(__name__)

RESOURCE_TYPE = "dataset-import-job"
REJECT_COLUMNS = ("row", "field", "reason")   # then the source columns, as read
SQLITE_CACHE_KIB = 65_536           # page cache of the import connection (bounded memory at any file size)

Progress = Callable[[int, "int | None"], Any]


@dataclass
class ImportJob:
    """The record of one import: what was read, accepted, rejected, and why it failed if it did."""

    name: str
    group: str
    dataset_type: str
    mode: str
    path: str
    format: str = ""
    status: str = CREATE_IN_PROGRESS
    arn: str = ""
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    rows_excluded: int = 0
    failure_reason: str | None = None
    rejects_path: str | None = None
    first_rejects: list = field(default_factory=list)
    ignored_columns: list = field(default_factory=list)
    column_map: dict = field(default_factory=dict)
    fixed_timestamp: int | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def rejected_fraction(self) -> float:
        base = self.rows_read - self.rows_excluded
        return self.rows_rejected / base if base > 0 else 0.0


# -- the job ------------------------------------------------------------------------------------------------


_DONE = object()


def prefetch(iterator: Iterator, depth: int = 2) -> Iterator:
    """Run `iterator` in a background thread, `depth` items ahead (file parsing and validation overlap the
    SQLite writes on a second core). Exceptions are re-raised in the consumer; closing the generator stops
    the thread."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce():
        try:
            for item in iterator:
                while not stop.is_set():
                    try:
                        q.put((True, item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put((True, _DONE))
        except BaseException as exc:  # handed to the consumer
            q.put((False, exc))

    thread = threading.Thread(target=produce, name="recsys-import-reader", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)


def _job_name(dataset_type: str) -> str:
    return f"import-{dataset_type.lower()}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"


def _save_job(store, job: ImportJob, status: str | None = None, db=None) -> None:
    body = job.to_dict()
    if status is not None:
        job.status = status
        body["status"] = status
    store.update_resource(RESOURCE_TYPE, job.group, job.name, status=job.status, body=body,
                          failure_reason=job.failure_reason, db=db)


def _check_fixed_timestamp(columns, schema: Schema, column_map: Mapping | None, value) -> int:
    """The one TIMESTAMP given to every row, checked: the schema has the field and no column of the file gives it."""
    if not schema.has(TIMESTAMP):
        raise ValidationError(f"The {schema.dataset_type} schema has no TIMESTAMP field; a fixed timestamp is only "
                              "for Interactions.")
    mapped = [str(src) for src, dst in (column_map or {}).items() if str(dst).upper() == TIMESTAMP]
    named = [str(c) for c in columns if str(c).upper() == TIMESTAMP and str(c) not in (column_map or {})]
    if mapped or named:
        raise ValidationError(f"The file's column {(mapped or named)[0]!r} gives TIMESTAMP; drop the fixed timestamp "
                              "(--fixed-timestamp), or the mapping of that column.")
    try:
        stamp = int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"Fixed timestamp {value!r} is not a whole number of epoch seconds (e.g. "
                              f"{int(time.time())}, or 'now' on the command line).") from None
    if stamp < 0:
        raise ValidationError(f"Fixed timestamp {stamp} is before 1970; give epoch seconds such as {int(time.time())}.")
    return stamp


def get_import_job(store, group: str, name: str) -> resources.ImportJob:
    """The stored import job (the typed resource the API describes), after it ran."""
    return resources.ImportJob.from_record(store.get_resource(RESOURCE_TYPE, group, name), store)


def list_import_jobs(store, group: str | None = None) -> list[resources.ImportJob]:
    return [resources.ImportJob.from_record(r, store) for r in store.list_resources(RESOURCE_TYPE, group)]


def import_file(
    store,
    group: str,
    dataset_type: str,
    path: str | os.PathLike,
    *,
    mode: str = FULL,
    column_map: Mapping[str | int, str] | None = None,
    date_columns: Sequence[str] = (),
    date_format: str | None = None,
    exclude: Mapping[str, str] | None = None,
    schema: Schema | str | dict | None = None,
    file_format: str | None = None,
    delimiter: str | None = None,
    header: bool = True,
    max_rejected_fraction: float = 0.1,
    chunk_size: int = 200_000,
    progress: Progress | None = None,
    job_name: str | None = None,
    fixed_timestamp: int | None = None,
) -> ImportJob:
    """Import a file into a dataset as one atomic job; returns the finished ImportJob (status ACTIVE).

    `fixed_timestamp` (epoch seconds, e.g. ``int(time.time())``) is the TIMESTAMP of every row of a file that has
    no time at all (play counts, ratings exports): the rows keep their file order, which the recipes and the
    evaluation split use to order events of equal time. Refused when a column of the file gives TIMESTAMP.

    Raises ImportFailed (a ValidationError, `.job` attached, status CREATE FAILED) when the file cannot be
    read, required columns are missing, or more than `max_rejected_fraction` of the rows are rejected; any
    other exception (including KeyboardInterrupt, or one raised by `progress`) is re-raised after the job is
    marked failed. In every failure case the dataset keeps its previous rows.
    """
    started = time.monotonic()
    dtype = normalize_dataset_type(dataset_type)
    mode = str(mode).upper()
    if mode not in MODES:
        raise ValidationError(f"Invalid import mode {mode!r}: use FULL or INCREMENTAL.")
    if not 0 <= float(max_rejected_fraction) <= 1:
        raise ValidationError(f"max_rejected_fraction {max_rejected_fraction!r} must be between 0 and 1.")
    if int(chunk_size) < 1:
        raise ValidationError(f"chunk_size {chunk_size!r} must be at least 1.")
    store.get_dataset_group(group)
    name = validate_name(job_name, "import job name") if job_name else _job_name(dtype)
    try:
        dataset = get_or_create_dataset(store, group, dtype, schema)
    except ConflictError as conflict:
        if schema is None:
            raise
        # A dataset that holds no rows yet (a failed first import made it with the default schema) takes the
        # schema given now; one with rows keeps its own.
        try:
            dataset = save_schema(store, group, dtype, schema)
        except ValidationError:
            raise conflict from None
    ds_schema: Schema = dataset["schema"]
    info = {"table": dataset["table"], "schema": ds_schema}
    job = ImportJob(name=name, group=group, dataset_type=dtype, mode=mode, path=str(path),
                    column_map={str(k): v for k, v in (column_map or {}).items()})
    # Events PutEvents spooled earlier go in first: a killed import or a quiet tracker must not keep them unseen.
    drain_spool_if_free(store)
    resource = store.create_resource(RESOURCE_TYPE, group, name, job.to_dict(), status=CREATE_IN_PROGRESS)
    job.arn = resource["arn"]
    rejects_final = store.artifact_path("imports", f"{name}.rejected.csv")
    # Streamed to a temporary beside it, published even when the job fails (the rejects say why), so not
    # atomic_path; the temporary's name is one `remove_leftovers` recognises after a crash.
    rejects_tmp = temp_name(rejects_final)
    rej_fh = None
    try:
        chunks, job.format, total = read_chunks(path, file_format=file_format, delimiter=delimiter, header=header,
                                                chunk_size=int(chunk_size))
        first = next(chunks, None)
        if first is None:
            raise ValidationError(f"{Path(path).name} has no data rows.")
        if fixed_timestamp is not None:
            job.fixed_timestamp = _check_fixed_timestamp(first[1].columns, ds_schema, column_map, fixed_timestamp)
            first = (first[0], first[1].assign(**{TIMESTAMP: str(job.fixed_timestamp)}))
            chunks = ((row, raw.assign(**{TIMESTAMP: str(job.fixed_timestamp)})) for row, raw in chunks)
        plan = plan_columns(first[1].columns, ds_schema, column_map, date_columns, exclude)
        job.ignored_columns = plan.ignored
        columns = [f.name for f in ds_schema.fields if f.name in plan.sources]
        rej_fh = open(rejects_tmp, "w", encoding="utf-8", newline="")
        rej_writer = csv.writer(rej_fh)
        raw_columns = [c for c in first[1].columns if not str(c).startswith("__")]
        rej_writer.writerow(list(REJECT_COLUMNS) + raw_columns)

        def validated():
            """Parse, validate and convert to SQLite rows: runs in the prefetch thread."""
            for first_row, raw in itertools.chain([first], chunks):
                typed, verdicts = validate_frame(raw, ds_schema, plan, date_format=date_format)
                bad = verdicts.bad
                if verdicts.any:
                    typed = typed.loc[~bad]
                rejects: list = []
                excluded: list = []
                if verdicts.any:  # the rejects file's rows: (row, field, reason, source values...)
                    pos = np.flatnonzero(bad)
                    if "__line__" in raw.columns:
                        rows = raw["__line__"].to_numpy()[pos]
                    else:
                        rows = first_row + pos
                    rejects = list(zip(rows.tolist(), verdicts.field[pos].tolist(), verdicts.reason[pos].tolist(),
                                       *validation.raw_columns(raw, pos, raw_columns)))
                    excluded = verdicts.excluded[pos].tolist()
                yield len(raw), rejects, excluded, frame_to_blocks(typed, columns)

        with store.transaction() as db:
            db.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            writer = TableWriter(db, info, mode=mode, source=BULK,
                                 expected_rows=total if total is not None else estimate_rows(path, job.format))
            writer.begin()
            feed = prefetch(validated(), depth=1)
            try:
                for n_raw, rejects, excluded, rows_ok in feed:
                    job.rows_read += n_raw
                    if rejects:
                        rej_writer.writerows(rejects)
                        n_excl = sum(excluded)
                        job.rows_excluded += n_excl
                        job.rows_rejected += len(rejects) - n_excl
                        for rec, ex in zip(rejects, excluded):
                            if len(job.first_rejects) >= 10:
                                break
                            if not ex:
                                job.first_rejects.append({"row": int(rec[0]), "field": rec[1], "reason": rec[2]})
                    if rows_ok.n:
                        job.rows_accepted += writer.write_blocks(rows_ok)
                        failpoint("import:writing")
                    if progress is not None:
                        progress(job.rows_read, total)
            finally:
                feed.close()
            if job.rows_read == 0:
                raise ValidationError(f"{Path(path).name} has no data rows.")
            if job.rejected_fraction > max_rejected_fraction:
                raise ValidationError(_too_many_rejects_message(job, max_rejected_fraction))
            if job.rows_accepted == 0:
                raise ValidationError(f"No row of {Path(path).name} was accepted ({job.rows_rejected:,} rejected, "
                                      f"{job.rows_excluded:,} excluded); nothing imported.{_first_reasons(job)}")
            writer.finish()
            rej_fh.close()
            rej_fh = None
            if job.rows_rejected or job.rows_excluded:
                os.replace(rejects_tmp, rejects_final)
                job.rejects_path = str(rejects_final)
            else:
                rejects_tmp.unlink(missing_ok=True)
            job.seconds = round(time.monotonic() - started, 3)
            # The job's ACTIVE row commits with the rows: a kill after COMMIT cannot leave imported data behind a
            # job that says IN_PROGRESS (a user would import it again, twice the rows).
            _save_job(store, job, ACTIVE, db=db)
            store.update_resource("dataset", group, dtype, body={"lastImportJob": name, "lastImportAt": time.time()},
                                  db=db)
            failpoint("import:before-commit")
        failpoint("import:after-commit")
        if dtype == INTERACTIONS:  # the events PutEvents spooled while this import held the lock
            drain_spool_if_free(store)
        log.info("import %s: %d rows accepted, %d rejected, %d excluded in %.1f s", name, job.rows_accepted,
                 job.rows_rejected, job.rows_excluded, job.seconds)
        return job
    except BaseException as exc:
        if rej_fh is not None:
            rej_fh.close()
            if job.rows_rejected or job.rows_excluded:
                os.replace(rejects_tmp, rejects_final)
                job.rejects_path = str(rejects_final)
        rejects_tmp.unlink(missing_ok=True)
        job.seconds = round(time.monotonic() - started, 3)
        job.rows_accepted = 0
        problem = environment_problem(exc)   # a full disk, a read-only workspace: one line naming the fix
        if isinstance(exc, ValidationError) or problem is not None:
            job.failure_reason = str(problem or exc)
        else:
            job.failure_reason = f"interrupted after {job.rows_read:,} rows: {type(exc).__name__}: {exc}"[:2000]
        try:
            _save_job(store, job, CREATE_FAILED)
        except Exception:  # never hide the original failure
            log.exception("could not record the failure of import job %s", name)
        if isinstance(exc, ValidationError):
            raise ImportFailed(f"Import job {name} failed: {exc}", job) from exc
        if problem is not None and problem is not exc:
            raise problem from exc
        raise


def save_schema(store, group: str, dataset_type: str, schema) -> dict:
    """Create a dataset with `schema`, or replace the schema of one that holds no rows yet.

    Events waiting in the spool count as rows: they are moved in first, and while they cannot be (a long import
    holds the lock) the schema stays, so a spooled batch never meets a schema it was not checked against."""
    try:
        existing = get_dataset(store, group, dataset_type)
    except NotFoundError:
        return create_dataset(store, group, dataset_type, schema)
    waiting = 0
    if existing["schema"].dataset_type == INTERACTIONS:
        drain_spool_if_free(store, wait=SPOOL_AFTER_SECONDS)  # else refused below
        waiting = spooled_count(store, group)
    if waiting:
        raise ConflictError(f"{waiting:,} batches of events for {group!r} wait in the spool while a long import "
                            "holds the workspace; change the schema once the import has finished.")
    rows = count_rows(store, group, dataset_type)["total"]
    if rows:
        raise ValidationError(f"The {dataset_type} dataset of {group!r} holds {rows:,} rows; its schema can only "
                              "be replaced while it is empty. Create a new dataset group for the new schema.")
    delete_dataset(store, group, dataset_type)
    return create_dataset(store, group, dataset_type, schema)


def recover_import_jobs(store) -> list[str]:
    """End the import jobs whose process is gone (killed or crashed); returns their ARNs. Such a job never
    committed (its ACTIVE status commits with its rows), so the dataset holds its previous rows."""
    ended = []
    for job in store.interrupted_jobs(RESOURCE_TYPE):
        reason = ("interrupted: the process that ran it stopped (killed or crashed) during the import, before it "
                  "committed; nothing was imported and the dataset keeps its previous rows. Run the import again.")
        if store.end_interrupted(job, CREATE_FAILED, reason, {"status": CREATE_FAILED, "rows_accepted": 0,
                                                              "failure_reason": reason}):
            ended.append(job["arn"])
    return ended


def _first_reasons(job: ImportJob) -> str:
    if not job.first_rejects:
        return ""
    return " First reasons: " + "; ".join(f"row {r['row']} {r['field']}: {r['reason']}" for r in job.first_rejects[:3]) + "."


def _too_many_rejects_message(job: ImportJob, limit: float) -> str:
    return (f"{job.rows_rejected:,} of {job.rows_read - job.rows_excluded:,} rows rejected "
            f"({job.rejected_fraction:.1%} > the {limit:.0%} allowed); nothing imported.{_first_reasons(job)} "
            "Fix the file or the mapping, or allow a larger share of rejected rows (max_rejected_fraction).")
