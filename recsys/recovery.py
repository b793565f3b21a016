"""Start-up recovery of a workspace: jobs whose process is gone end as they truly ended, leftovers go, spooled
events move in. The CLI, `serve` and the workbench call `recover` when they open a workspace.

Example::

    report = recover(store)          # a few milliseconds when nothing was interrupted
    report.versions, report.imports, report.batch_jobs, report.temporaries, str(report)

A job is interrupted when the process recorded as its owner no longer holds its lock in the workspace
(`recsys.owners`): killed, crashed, or its machine restarted. Several processes may share a workspace (a
``serve`` and the workbench): the jobs and temporary files of a live one are never touched.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from recsys import owners
from recsys.exceptions import EnvironmentProblem
from recsys.files import remove_all_leftovers, temp_owner
from recsys.store import CREATE_FAILED, CREATE_PENDING, SPOOL_NAME, Store

log = logging.getLogger(__name__)

# A temporary of a process that never took its lock (it ran no job) is left alone this long: it may be mid-write.
YOUNG_TEMPORARY_SECONDS = 60.0


@dataclass
class Recovery:
    """What one `recover` call did."""

    versions: list[str] = field(default_factory=list)     # solution versions ended (FAILED, or STOPPED)
    imports: list[str] = field(default_factory=list)      # import jobs marked CREATE FAILED
    batch_jobs: list[str] = field(default_factory=list)   # batch inference / segment jobs ended
    other_jobs: list[str] = field(default_factory=list)   # any other job (dataset export, data deletion) failed
    temporaries: int = 0                                  # leftover temporary files and directories removed
    events_moved: int = 0                                 # spooled PutEvents batches moved into their datasets
    seconds: float = 0.0

    def __bool__(self) -> bool:
        return bool(self.versions or self.imports or self.batch_jobs or self.other_jobs or self.temporaries
                    or self.events_moved)

    def __str__(self) -> str:
        parts = [f"{len(v)} {what}" for v, what in ((self.versions, "interrupted training(s) ended"),
                                                   (self.imports, "interrupted import(s) marked failed"),
                                                   (self.batch_jobs, "interrupted batch job(s) ended"),
                                                   (self.other_jobs, "other interrupted job(s) marked failed")) if v]
        if self.temporaries:
            parts.append(f"{self.temporaries} leftover temporary file(s) removed")
        if self.events_moved:
            parts.append(f"{self.events_moved} spooled event batch(es) moved in")
        return "Recovered the workspace: " + ", ".join(parts) + "." if parts else "Nothing to recover."


def _in_use(home: Path, path: Path) -> bool:
    """A temporary a live process may still be writing."""
    token = temp_owner(path)
    if token is None:  # written before temporaries named their owner
        return False
    if owners.has_lock_file(home, token):
        return owners.alive(home, token)
    try:
        return time.time() - path.stat().st_mtime < YOUNG_TEMPORARY_SECONDS
    except OSError:
        return False


def _recover_other_jobs(store: Store) -> list[str]:
    """Jobs of the other kinds (the control plane's dataset export and data deletion jobs) whose process is gone
    become CREATE FAILED: each is safe to run again (an export rewrites its file atomically, a deletion deletes in
    one transaction what is still there)."""
    ended = []
    for job in store.interrupted_jobs():
        reason = (f"interrupted: the process that ran it stopped (killed or crashed) while it was "
                  f"{'queued' if job['status'] == CREATE_PENDING else 'running'}; run it again (it starts over).")
        if store.end_interrupted(job, CREATE_FAILED, reason):
            ended.append(job["arn"])
    return ended


def recover(store: Store, *, log_report: bool = True) -> Recovery:
    """End every job whose process is gone, remove leftover temporaries and move spooled events in.

    Safe to call from any number of processes at once and cheap when there is nothing to do. A workspace that
    cannot be written (read-only, full) is left as it is: recovery is then logged as skipped, never raised.
    What was recovered is logged as a warning, unless the caller shows the report itself (`log_report=False`).
    """
    started = time.perf_counter()
    report = Recovery()
    try:
        store.job_owner()  # this process' lock first: its own jobs and temporaries are never taken for leftovers
        if store.has_running_jobs():
            # Imported here: a CLI command with nothing to recover does not pay for loading pandas and the recipes.
            from recsys.ingest import recover_import_jobs
            from recsys.runs import recover_interrupted
            from recsys.serving.batch import recover_batch_jobs

            report.versions = recover_interrupted(store)
            report.imports = recover_import_jobs(store)
            report.batch_jobs = recover_batch_jobs(store)
            report.other_jobs = _recover_other_jobs(store)
        report.temporaries = remove_all_leftovers(store.home, in_use=lambda p: _in_use(store.home, p))
        owners.reap(store.home)
    except (OSError, sqlite3.Error, EnvironmentProblem) as exc:  # read-only, full: nothing can be recorded now
        log.warning("workspace recovery skipped for %s: %s", store.home, exc)
        return report
    if (store.home / SPOOL_NAME).exists():
        from recsys.event_writer import drain_spool_if_free

        report.events_moved = drain_spool_if_free(store, wait=0)
    report.seconds = round(time.perf_counter() - started, 4)
    if report and log_report:
        log.warning("%s (%s)", report, store.home)
    return report
