"""Atomic file and directory writes: a reader sees the old content or the new, never half of either.

Every write goes to a temporary name beside its target (same directory, so `os.replace` is a rename on one
file system) and is renamed into place only when complete; a failure or an interrupt removes the temporary.
A process killed mid-write leaves a temporary named ``.<target name>.tmp-<owner token>-<hex>``, which
`remove_all_leftovers` (called by `recsys.recovery.recover` when the workspace is opened) deletes once that
owner process is gone (`recsys.owners`).

Example::

    atomic_write(path, json.dumps(report))
    with atomic_path(artifact_dir, directory=True) as tmp:
        model.save(tmp)
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

from recsys import owners

TEMP_MARK = ".tmp-"


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
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(final)
    if directory:
        tmp.mkdir()
    try:
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
