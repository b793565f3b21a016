"""Atomic file and directory writes: a reader sees the old content or the new, never half of either.

Every write goes to a temporary name beside its target (same directory, so `os.replace` is a rename on one
file system) and is renamed into place only when complete; a failure or an interrupt removes the temporary.
A process killed mid-write leaves a temporary named ``.<target name>.tmp-<owner token>-<hex>``, which
`remove_all_leftovers` (called by `recsys.recovery.recover` when the workspace is opened) deletes once that
owner process is gone (`recsys.owners`).

The environment's failures (a full disk, a read-only or unwritable workspace, a damaged database or model
file) become one `EnvironmentProblem` naming the path and the fix, here and in the Store's connections
(`environment_errors`), rather than OSError or sqlite3 tracebacks.

Example::

    atomic_write(path, json.dumps(report))
    with atomic_path(artifact_dir, directory=True) as tmp:
        model.save(tmp)
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

from recsys import owners
from recsys.exceptions import EnvironmentProblem

TEMP_MARK = ".tmp-"

DISK_FULL = "disk full"
READ_ONLY = "read-only"
NO_PERMISSION = "no permission"
DISK_ERROR = "disk error"
DAMAGED = "damaged"
_LOW_SPACE_BYTES = 1 << 20

_FIXES = {
    DISK_FULL: "The disk is full: cannot write {path} ({detail}). Free space on that disk, or move the workspace "
               "(--home / RECSYS_HOME), then retry; what was stored before is intact.",
    READ_ONLY: "The workspace is read-only: cannot write {path} ({detail}). Make it writable, or point --home / "
               "RECSYS_HOME at a writable directory; nothing was changed.",
    NO_PERMISSION: "No permission to write {path} ({detail}). Run as the workspace's owner or fix its permissions "
                   "(chmod/chown); nothing was changed.",
    DISK_ERROR: "The disk failed while writing {path} ({detail}). Check the disk (free space, `dmesg`) and retry; "
                "what was stored before is intact.",
    DAMAGED: "The workspace database {path} is damaged ({detail}). Restore it from a backup (or try "
             "`sqlite3 {path} .recover`).",
}


def _read_only_or_unwritable(directory: Path) -> str | None:
    """READ_ONLY when `directory` is on a read-only file system, NO_PERMISSION when it is not writable."""
    try:
        if os.statvfs(directory).f_flag & os.ST_RDONLY:
            return READ_ONLY
    except OSError:
        return None
    return None if os.access(directory, os.W_OK) else NO_PERMISSION


def _low_on_space(directory: Path) -> bool:
    try:
        return shutil.disk_usage(directory).free < _LOW_SPACE_BYTES
    except OSError:
        return False


def environment_problem(exc: BaseException, path: str | os.PathLike | None = None) -> EnvironmentProblem | None:
    """The EnvironmentProblem that `exc` (an OSError or a sqlite3 error) is, or None when it is something else
    (a missing file, a locked database, a bug). `path` is the file being written, when `exc` does not say."""
    if isinstance(exc, EnvironmentProblem):
        return exc
    kind = None
    if isinstance(exc, OSError):
        path = exc.filename or path
        detail = exc.strerror or str(exc)
        kind = {errno.ENOSPC: DISK_FULL, errno.EDQUOT: DISK_FULL, errno.EROFS: READ_ONLY,
                errno.EACCES: NO_PERMISSION, errno.EPERM: NO_PERMISSION, errno.EIO: DISK_ERROR}.get(exc.errno)
        if kind == NO_PERMISSION and path is not None:
            kind = _read_only_or_unwritable(Path(path).parent) or NO_PERMISSION
    elif isinstance(exc, sqlite3.Error):
        detail = str(exc)
        text = detail.lower()
        directory = Path(path).parent if path is not None else None
        if "database or disk is full" in text:
            kind = DISK_FULL
        elif "readonly database" in text or "read-only" in text:
            kind = (directory and _read_only_or_unwritable(directory)) or READ_ONLY
        elif "unable to open database file" in text and directory is not None and directory.is_dir():
            kind = _read_only_or_unwritable(directory)
        elif "disk i/o error" in text:
            kind = DISK_FULL if directory is not None and _low_on_space(directory) else DISK_ERROR
        elif "malformed" in text or "file is not a database" in text:
            kind = DAMAGED
    if kind is None:
        return None
    return EnvironmentProblem(_FIXES[kind].format(path=path or "the workspace", detail=detail), path=path and str(path),
                              kind=kind)


@contextlib.contextmanager
def environment_errors(path: str | os.PathLike | None = None) -> Iterator[None]:
    """Re-raise the environment's OSErrors and sqlite3 errors inside the block as one EnvironmentProblem."""
    try:
        yield
    except (OSError, sqlite3.Error) as exc:
        problem = environment_problem(exc, path)
        if problem is None:
            raise
        raise problem from exc


def damaged_file(path: str | os.PathLike, exc: BaseException, fix: str) -> EnvironmentProblem:
    """A file of ours that cannot be read back (edited, truncated): names it, what is wrong, and `fix`."""
    reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return EnvironmentProblem(f"The files at {path} are damaged or were edited ({type(exc).__name__}: {reason}). {fix}",
                              path=str(path), kind=DAMAGED)


def temp_name(final: Path) -> Path:
    """A fresh temporary path beside `final` that `remove_leftovers(final)` recognises; it names this process'
    owner token, so a cleanup never takes a live process' temporary for a leftover."""
    return final.with_name(f".{final.name}{TEMP_MARK}{owners.token()}-{secrets.token_hex(4)}")


def temp_owner(path: str | os.PathLike) -> str | None:
    """The owner token in a temporary's name (None for names from before tokens were written)."""
    tail = Path(path).name.rpartition(TEMP_MARK)[2]
    token, dash, _ = tail.partition("-")
    return token if dash and len(token) == 12 else None


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path to fill; on success it replaces `final` (a file, or a directory when
    `directory`), on any exception it is removed and `final` is left as it was."""
    final = Path(final)
    with environment_errors(final):
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_name(final)
        if directory:
            tmp.mkdir()
    try:
        with environment_errors(final):
            yield tmp
            if not directory:
                with open(tmp, "rb+") as fh:  # the data is on disk before the rename makes it visible
                    os.fsync(fh.fileno())
            if directory and final.exists():
                # A directory cannot be renamed over a non-empty one: move the old one aside first.
                old = temp_name(final)
                os.replace(final, old)
                os.replace(tmp, final)
                _remove(old)
            else:
                os.replace(tmp, final)
    finally:
        if tmp.exists():
            _remove(tmp)


def atomic_write(final: str | os.PathLike, data: str | bytes, *, encoding: str = "utf-8",
                 mode: int | None = None) -> Path:
    """Write `data` (text or bytes) to `final` atomically; `mode` sets the file's permissions (e.g. 0o600)."""
    final = Path(final)
    with atomic_path(final) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding=encoding)
        if mode is not None:
            os.chmod(tmp, mode)
    return final


def remove_leftovers(final: str | os.PathLike) -> int:
    """Delete the temporaries that interrupted atomic writes of `final` left behind; returns how many."""
    final = Path(final)
    if not final.parent.is_dir():
        return 0
    found = list(final.parent.glob(f".{final.name}{TEMP_MARK}*"))
    for path in found:
        _remove(path)
    return len(found)


def remove_all_leftovers(directory: str | os.PathLike, *, in_use: Callable[[Path], bool] | None = None) -> int:
    """Delete every temporary of an interrupted atomic write anywhere under `directory` (hidden names holding
    ``.tmp-``, ``..<name>.tmp-...`` included); returns how many. `in_use(path)` True keeps a temporary that a
    live process is still writing."""
    root = Path(directory)
    if not root.is_dir():
        return 0
    removed = 0
    for parent, dirs, files in os.walk(root):  # os.walk: a few times faster than Path.rglob on a big workspace
        for names, is_dir in ((dirs, True), (files, False)):
            for name in list(names):
                if not (name.startswith(".") and TEMP_MARK in name):
                    continue
                if is_dir:
                    names.remove(name)  # never walk into a temporary directory
                path = Path(parent, name)
                if in_use is None or not in_use(path):
                    _remove(path)
                    removed += 1
    return removed
