"""Long control-plane operations (dataset imports, batch jobs) run one at a time on a background thread, so the
Create* call answers at once and clients poll Describe*, as with Personalize.

Example::

    jobs = BackgroundJobs()
    jobs.submit(arn, {"status": "CREATE PENDING", ...}, work)   # work() runs later, in order
    jobs.pending(arn)      # the record to describe until the library has stored its own

A job's library function (`import_file`, `create_batch_inference_job`) writes the stored record once it
starts; until then the job is known only here, as CREATE PENDING. Describe looks in the store first, then
here, then in the store again, so a job is never missing in between.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)


class BackgroundJobs:
    """A FIFO of jobs on one daemon thread, with the records of those not started yet."""

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue()
        self._pending: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._busy = 0

    def submit(self, arn: str, record: dict, work: Callable[[], None]) -> None:
        """Queue `work`; `record` answers for `arn` until `work` has stored the job itself (then call `started`)."""
        with self._lock:
            self._pending[arn] = dict(record)
            self._busy += 1
            self._queue.put((arn, work))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="recsys-control-jobs", daemon=True)
                self._thread.start()

    def pending(self, arn: str) -> dict | None:
        with self._lock:
            record = self._pending.get(arn)
            return dict(record) if record is not None else None

    def pending_records(self) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self._pending.values()]

    def started(self, arn: str) -> None:
        """The job's own record is stored now: stop answering for it."""
        with self._lock:
            self._pending.pop(arn, None)

    def _run(self) -> None:
        while True:
            arn, work = self._queue.get()
            try:
                work()
            except Exception:  # work records its own failures; this only keeps the thread alive
                log.exception("background job %s failed", arn)
            finally:
                with self._lock:
                    self._pending.pop(arn, None)
                    self._busy -= 1

    def join(self, timeout: float = 60.0) -> bool:
        """Wait until every queued job has ended (tests); False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._busy == 0:
                    return True
            time.sleep(0.05)
        return False
