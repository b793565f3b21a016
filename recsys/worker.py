"""The process-wide training worker: one thread running queued jobs in order, stop requests, memory sampling.

Example::

    training_queue().submit(version_arn, train_version, store, version_arn, None)
    CANCELLATIONS.request(version_arn)       # the running job sees it at its next check
    with MemorySampler() as memory:
        fit()
    memory.peak_mb

The worker knows nothing of recipes or resources: `recsys.runs` decides what a job does. Trainings queue on
one thread so callers (the workbench, the CLI, the API) stay responsive and two fits never compete for RAM.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import tracemalloc
from typing import Any, Callable

import psutil

logger = logging.getLogger(__name__)


class TrainingQueue:
    """One worker thread that runs queued jobs in order (FIFO), each known by a key (its version ARN)."""

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pending: set[str] = set()
        self.current: str | None = None

    def submit(self, key: str, job: Callable[..., Any], *args: Any) -> None:
        """Queue `job(*args)` under `key`; the worker thread starts on first use."""
        with self._lock:
            self._pending.add(key)
            self._queue.put((key, job, args))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="recsys-training", daemon=True)
                self._thread.start()

    def owns(self, key: str) -> bool:
        """True while the job queued under `key` waits or runs."""
        with self._lock:
            return key in self._pending

    def _run(self) -> None:
        while True:
            key, job, args = self._queue.get()
            self.current = key
            try:
                job(*args)
            except Exception:  # jobs record their own failures; this only guards the thread
                logger.exception("training worker failed on %s", key)
            finally:
                self.current = None
                with self._lock:
                    self._pending.discard(key)
                self._queue.task_done()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until every queued job has ended; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                if not self._pending:
                    return True
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.05)


_QUEUE: TrainingQueue | None = None
_QUEUE_LOCK = threading.Lock()


def training_queue() -> TrainingQueue:
    """The process-wide training queue (created on first use)."""
    global _QUEUE
    with _QUEUE_LOCK:
        if _QUEUE is None:
            _QUEUE = TrainingQueue()
        return _QUEUE


class Cancellations:
    """The keys whose stop was asked for in this process; `lock` also serialises a job's start with a stop."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._keys: set[str] = set()

    def request(self, key: str) -> None:
        self._keys.add(key)

    def requested(self, key: str) -> bool:
        return key in self._keys

    def forget(self, key: str) -> None:
        self._keys.discard(key)


CANCELLATIONS = Cancellations()


class MemorySampler:
    """Peak resident memory of this process, sampled every `interval` seconds in a thread (psutil)."""

    def __init__(self, interval: float = 0.05):
        self.interval = interval
        self._stop = threading.Event()
        self.start_rss = self.peak_rss = 0
        self._thread: threading.Thread | None = None
        self._proc: psutil.Process | None = None

    def __enter__(self) -> "MemorySampler":
        try:
            self._proc = psutil.Process()
            self.start_rss = self.peak_rss = self._proc.memory_info().rss
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        except psutil.Error:  # no access to this process' counters: fall back to Python allocations only
            self._proc = None
            tracemalloc.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.peak_rss = max(self.peak_rss, self._proc.memory_info().rss)
            except psutil.Error:  # pragma: no cover - process gone
                return

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._proc is not None:
            self.peak_rss = max(self.peak_rss, self._proc.memory_info().rss)
            if self._thread:
                self._thread.join()
        else:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            self.peak_rss = peak

    @property
    def peak_mb(self) -> float:
        return round(self.peak_rss / 2**20, 1)

    @property
    def delta_mb(self) -> float:
        return round((self.peak_rss - self.start_rss) / 2**20, 1)
