"""Who runs a job: a process holds a lock file in the workspace while it lives, and the jobs and temporary files
it starts carry its token, so any process can tell an interrupted job from one that is still running.

Example::

    owner = claim(store.home)           # {"token": "3f9a0c...", "pid": 4242, "host": "box"}: locked until exit
    alive(store.home, owner["token"])   # True while that process lives, from any process

The lock is an ``flock`` on ``<workspace>/owners/<token>.lock``. The kernel releases it when the process ends,
however it ends (``kill -9`` included), so there is no heartbeat to keep, and a reused pid cannot pass for the
dead process: the token is random per process. Several processes (a ``serve``, the workbench, a CLI import)
may share a workspace; each one's jobs stay untouched while it lives. On a file system without ``flock`` the
record says ``"lock": false`` and liveness falls back to the pid and its start time on the same host.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import socket
import threading
import time
from pathlib import Path

import psutil

OWNERS_DIR = "owners"
_SUFFIX = ".lock"
_NEW_SUFFIX = ".lock.new"
_STALE_NEW_SECONDS = 60.0

_token = secrets.token_hex(6)
_held: dict[str, int] = {}   # workspace directory -> this process' locked file descriptor (-1: no flock there)
_NO_FLOCK = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL, errno.EBADF)  # EBADF: NFS wants O_RDWR
_guard = threading.Lock()


def token() -> str:
    """This process' token (random, 12 hex digits; a forked child gets its own)."""
    return _token


def _after_fork_in_child() -> None:
    # The child inherits the parent's locked descriptors (one lock, shared); it is a new owner of its own.
    global _token, _held
    _token = secrets.token_hex(6)
    _held = {}


os.register_at_fork(after_in_child=_after_fork_in_child)


def _directory(home: str | os.PathLike) -> Path:
    return Path(home) / OWNERS_DIR


def claim(home: str | os.PathLike) -> dict:
    """Hold this process' lock in the workspace `home` (once; kept until the process ends) and return the owner
    record a job stores: ``{"token", "pid", "host"}``."""
    key = str(Path(home).resolve())
    with _guard:
        if key not in _held:
            directory = _directory(key)
            directory.mkdir(parents=True, exist_ok=True)
            # Locked under a name no one checks, then renamed: another process never sees our lock file unlocked.
            new = directory / f"{_token}{_NEW_SUFFIX}"
            new.write_text(f"pid {os.getpid()} on {socket.gethostname()}\n")
            # Held open read-only: a process holding no file open for writing lets the workspace's file system be
            # remounted read-only under it (flock does not need write access on a local file system).
            fd = os.open(new, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.replace(new, directory / f"{_token}{_SUFFIX}")
            except OSError as exc:
                os.close(fd)
                with contextlib.suppress(OSError):
                    new.unlink()
                if exc.errno not in _NO_FLOCK:
                    raise
                fd = -1
            except BaseException:
                os.close(fd)
                with contextlib.suppress(OSError):
                    new.unlink()
                raise
            _held[key] = fd
        locked = _held[key] >= 0
    return {"token": _token, "pid": os.getpid(), "host": socket.gethostname(), "started": _started(os.getpid()),
            "lock": locked}


def _started(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def try_claim(home: str | os.PathLike) -> dict | None:
    """`claim`, or None where the workspace cannot hold a lock file (read-only): nothing can run there anyway."""
    try:
        return claim(home)
    except OSError:
        return None


def has_lock_file(home: str | os.PathLike, owner_token: str) -> bool:
    return (_directory(home) / f"{owner_token}{_SUFFIX}").exists()


def alive(home: str | os.PathLike, owner_token: str | None, record: dict | None = None) -> bool:
    """Whether the process with `owner_token` still runs (holds its lock in `home`). No token (a job recorded
    before owners were kept) or no lock file means gone; a lock that cannot be tested counts as alive, so a
    live process' job is never taken for an interrupted one. `record` (the job's owner record) answers for an
    owner that could not lock (``"lock": false``)."""
    if not owner_token:
        return False
    if owner_token == _token:
        return True
    if record is not None and record.get("lock") is False:
        return _process_alive(record)
    path = _directory(home) / f"{owner_token}{_SUFFIX}"
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    try:
        # A shared probe: it fails while the owner holds its exclusive lock, needs only read access (NFS too), and
        # probes of several processes at once do not fail each other.
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:  # BlockingIOError: held; anything else: cannot tell, so alive
        return True
    finally:
        os.close(fd)  # closing drops the probe's lock, if it got one
    return False


def _process_alive(record: dict) -> bool:
    """An owner without a lock: alive while its pid runs with the same start time (another host: cannot tell)."""
    if record.get("host") != socket.gethostname():
        return True
    pid, started = record.get("pid"), record.get("started")
    if not isinstance(pid, int) or not psutil.pid_exists(pid):
        return False
    now_started = _started(pid)
    return started is None or now_started is None or abs(now_started - float(started)) < 1.0


def reap(home: str | os.PathLike) -> int:
    """Delete the lock files of processes that have ended; returns how many."""
    directory = _directory(home)
    if not directory.is_dir():
        return 0
    removed = 0
    now = time.time()
    for path in directory.iterdir():
        name = path.name
        try:
            if name.endswith(_NEW_SUFFIX):
                if now - path.stat().st_mtime > _STALE_NEW_SECONDS:
                    path.unlink()
                    removed += 1
            elif name.endswith(_SUFFIX) and not alive(home, name[: -len(_SUFFIX)]):
                path.unlink()
                removed += 1
        except OSError:
            continue
    return removed
