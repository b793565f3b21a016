"""The machinery both batch job kinds share: a job's working directory, its resumable chunk loop and the move of
finished files into place (`recsys.serving.batch` runs the jobs).

Example::

    job = BatchRun(store, "batch-inference-job", "shop", "nightly", body, resume=True, input_path=path)
    stats = job.stream(path, process_chunk, chunk_size=1000, progress=None)
    job.publish(Path("recs.jsonl"), None, stats)
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Callable, Iterator

from recsys.exceptions import ConflictError, NotFoundError
from recsys.failpoints import failpoint
from recsys.files import atomic_path
from recsys.resources import BatchJob
from recsys.store import (
    ACTIVE, CREATE_FAILED, CREATE_IN_PROGRESS, CREATE_PENDING, RUNNING_STATUSES, Store, validate_name,
)


WORK_OUTPUT = "output.jsonl"   # in the job's working directory: the lines so far, then the whole output
WORK_CSV = "output.csv"
PUBLISHING = "publishing"      # the stage while finished files move into place
_HEAD_BYTES = 1 << 20


def input_fingerprint(path: Path) -> dict:
    """What identifies a job's input file: resolved path, size, modification time and a hash of its first MiB."""
    stat = path.stat()
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        digest.update(fh.read(_HEAD_BYTES))
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "head_sha256": digest.hexdigest()}


def work_dir(store: Store, kind: str, group: str, name: str) -> Path:
    """The working directory of a batch job in the workspace (its output while it runs)."""
    return store.artifacts_dir / "batch" / kind / group / name


def _publish(source: Path, final: Path) -> None:
    """Move a finished file into place atomically (copied then renamed when `final` is on another disk)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(source, final)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        with atomic_path(final) as tmp:
            shutil.copyfile(source, tmp)
        source.unlink()


def _resume_point(partial: Path) -> tuple[int, int]:
    """Complete lines already in `partial` (a trailing half line is cut off) and how many carry an error."""
    if not partial.exists():
        return 0, 0
    done = failed = 0
    good_bytes = 0
    with open(partial, "rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                break
            try:
                record = json.loads(raw)
            except ValueError:
                break
            done += 1
            good_bytes += len(raw)
            if record.get("error"):
                failed += 1
    with open(partial, "r+b") as fh:
        fh.truncate(good_bytes)
    return done, failed


def _count_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as fh:
        for raw in fh:
            if raw.strip():
                n += 1
    return n


def _input_lines(path: Path, skip: int) -> Iterator[str]:
    """Non-blank lines of the input file after the first `skip` of them."""
    seen = 0
    with open(path, "r", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.strip():
                continue
            seen += 1
            if seen > skip:
                yield line.rstrip("\r\n")


def _chunks(lines: Iterator[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# What a resumed run must share with the interrupted one (besides the input file's fingerprint).
_RESUME_KEYS = ("solution_version_arn", "num_results", "filter_arn", "job_config", "exclude_seen")


def _input_difference(recorded: dict | None, current: dict) -> str | None:
    if not recorded:
        return None
    if recorded.get("path") != current["path"]:
        return f"the input is {current['path']}, not {recorded.get('path')}"
    if recorded.get("size") != current["size"]:
        return f"the input file changed size ({recorded.get('size'):,} -> {current['size']:,} bytes)"
    if recorded.get("head_sha256") != current["head_sha256"] or recorded.get("mtime_ns") != current["mtime_ns"]:
        return "the input file was modified since the interrupted run"
    return None


class BatchRun:
    """Resource bookkeeping, the job's working directory and the resumable chunk loop shared by both kinds."""

    def __init__(self, store: Store, kind: str, group: str, name: str, body: dict, resume: bool, input_path: Path):
        validate_name(name, "job name")
        self.store, self.kind, self.group, self.name = store, kind, group, name
        self.work = work_dir(store, kind, group, name)
        body = {**body, "input": input_fingerprint(input_path), "owner": store.job_owner(), "stage": "running"}
        try:
            existing = store.get_resource(kind, group, name)
        except NotFoundError:
            existing = None
        queued = existing is not None and existing["status"] == CREATE_PENDING and (
            (existing.get("owner") or {}).get("token") == body["owner"]["token"] or not store.owner_alive(existing))
        self.resuming = existing is not None and not queued
        if not self.resuming:  # new, or queued (the control plane's record) and started now: from the first line
            shutil.rmtree(self.work, ignore_errors=True)  # a job of that name was deleted: its files go with it
            if existing is None:
                store.create_resource(kind, group, name, body, status=CREATE_IN_PROGRESS)
            else:
                store.update_resource(kind, group, name, status=CREATE_IN_PROGRESS, body=body)
            return
        if existing["status"] == ACTIVE or not resume:
            raise ConflictError(f"A {kind} named {name!r} already exists in {group!r}; pick another job name.")
        if existing["status"] in RUNNING_STATUSES and store.owner_alive(existing):
            owner = existing.get("owner") or {}
            raise ConflictError(f"{kind} {name!r} is running (process {owner.get('pid')} on {owner.get('host')}); "
                                "wait for it to finish, or pick another job name.")
        changed = [k for k in _RESUME_KEYS if k in existing and existing.get(k) != body.get(k)]
        differs = _input_difference(existing.get("input"), body["input"])
        if changed or differs:
            what = "; ".join([*([f"{', '.join(changed)} differ from the interrupted run"] if changed else []),
                              *([differs] if differs else [])])
            raise ConflictError(
                f"Cannot resume {kind} {name!r}: {what}. Rerun it with the same input and settings to continue, "
                "or pick another job name to start afresh."
            )
        store.update_resource(kind, group, name, status=CREATE_IN_PROGRESS, body=body)

    def update(self, **body) -> None:
        self.store.update_resource(self.kind, self.group, self.name, body=body)

    def fail(self, exc: BaseException) -> None:
        self.store.update_resource(self.kind, self.group, self.name, status=CREATE_FAILED, failure_reason=str(exc))

    def finish(self, **body) -> BatchJob:
        return BatchJob.from_record(self.store.update_resource(self.kind, self.group, self.name, status=ACTIVE,
                                                               body=body))

    @property
    def output(self) -> Path:
        return self.work / WORK_OUTPUT

    def stream(self, input_path: Path, process: Callable[[list[str], int], list[dict]], chunk_size: int,
               progress) -> dict:
        """Run `process(lines, number of the first line)` over the input chunk by chunk into the job's working
        output, after the lines an interrupted run of this job completed."""
        partial = self.output
        self.work.mkdir(parents=True, exist_ok=True)
        if not self.resuming:
            partial.unlink(missing_ok=True)
        done, failed = _resume_point(partial)
        total = _count_lines(input_path)
        resumed_from = done
        started = time.perf_counter()
        self.update(lines_total=total, lines_done=done, lines_failed=failed, resumed_from=resumed_from,
                    progress={"percent": round(100 * done / total, 1) if total else 100.0})
        with open(partial, "a", encoding="utf-8") as out:
            for chunk in _chunks(_input_lines(input_path, done), chunk_size):
                records = process(chunk, done)
                out.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
                out.flush()
                os.fsync(out.fileno())
                done += len(records)
                failed += sum(1 for r in records if r.get("error"))
                percent = round(100 * done / total, 1) if total else 100.0
                self.update(lines_done=done, lines_failed=failed, progress={"percent": percent})
                failpoint("batch:chunk")
                if progress is not None:
                    progress(done, total)
        seconds = time.perf_counter() - started
        return {"lines_total": total, "lines_done": done, "lines_failed": failed, "resumed_from": resumed_from,
                "seconds": round(seconds, 3),
                "lines_per_second": round((done - resumed_from) / seconds, 1) if seconds > 0 else None}


    def publish(self, output_path: Path, csv_path: Path | None, stats: dict) -> dict:
        """Move the finished output (and CSV) into place and mark the job ACTIVE. The stats are recorded first,
        so a job killed while its files move is known to have finished (`recover_batch_jobs`)."""
        self.update(**stats, stage=PUBLISHING)
        failpoint("batch:publishing")
        _publish(self.output, output_path)
        if csv_path is not None:
            _publish(self.work / WORK_CSV, csv_path)
        job = self.finish(stage="done", progress={"percent": 100.0})
        shutil.rmtree(self.work, ignore_errors=True)
        return job
