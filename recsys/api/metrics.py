"""In-process request metrics for the API server, rendered in the Prometheus text format.

Example::

    metrics = Metrics()
    metrics.observe("GetRecommendations", 200, 0.0042)
    print(metrics.render())          # counters, a latency histogram and p50/p90/p99 per operation

Percentiles come from the most recent `window` requests of each operation. With `--workers N` every worker
process keeps its own numbers (scrape each worker, or run one worker per port).
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import defaultdict, deque

import numpy as np

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
QUANTILES = (0.5, 0.9, 0.99)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return repr(float(value)) if value != int(value) else str(int(value))


class _Latency:
    __slots__ = ("buckets", "count", "total", "recent")

    def __init__(self, window: int):
        self.buckets = [0] * len(BUCKETS)
        self.count = 0
        self.total = 0.0
        self.recent: deque[float] = deque(maxlen=window)


class Metrics:
    """Request counts by operation and status, and latency by operation; thread-safe."""

    def __init__(self, window: int = 4096):
        self.window = window
        self.started = time.time()
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, int], int] = defaultdict(int)
        self._latency: dict[str, _Latency] = {}

    def observe(self, operation: str, status: int, seconds: float) -> None:
        with self._lock:
            self._counts[(operation, status)] += 1
            latency = self._latency.get(operation)
            if latency is None:
                latency = self._latency[operation] = _Latency(self.window)
            index = bisect.bisect_left(BUCKETS, seconds)
            if index < len(BUCKETS):
                latency.buckets[index] += 1
            latency.count += 1
            latency.total += seconds
            latency.recent.append(seconds)

    def percentiles(self, operation: str) -> dict[float, float]:
        """{0.5: p50, 0.9: p90, 0.99: p99} in seconds over the recent window (empty if no requests)."""
        with self._lock:
            latency = self._latency.get(operation)
            recent = list(latency.recent) if latency else []
        if not recent:
            return {}
        values = np.quantile(np.asarray(recent), QUANTILES)
        return dict(zip(QUANTILES, (float(v) for v in values)))

    def count(self, operation: str, status: int | None = None) -> int:
        with self._lock:
            return sum(n for (op, st), n in self._counts.items() if op == operation and status in (None, st))

    def render(self) -> str:
        """All metrics in the Prometheus text exposition format (version 0.0.4)."""
        with self._lock:
            counts = sorted(self._counts.items())
            latencies = {op: (list(l.buckets), l.count, l.total) for op, l in sorted(self._latency.items())}
        lines = [
            "# HELP recsys_api_requests_total API requests by operation and HTTP status.",
            "# TYPE recsys_api_requests_total counter",
        ]
        for (operation, status), n in counts:
            lines.append(f'recsys_api_requests_total{{operation="{_label(operation)}",status="{status}"}} {n}')
        lines += [
            "# HELP recsys_api_request_duration_seconds Time from request received to response sent.",
            "# TYPE recsys_api_request_duration_seconds histogram",
        ]
        for operation, (buckets, count, total) in latencies.items():
            op = _label(operation)
            cumulative = 0
            for bound, n in zip(BUCKETS, buckets):
                cumulative += n
                lines.append(
                    f'recsys_api_request_duration_seconds_bucket{{operation="{op}",le="{bound}"}} {cumulative}'
                )
            lines.append(f'recsys_api_request_duration_seconds_bucket{{operation="{op}",le="+Inf"}} {count}')
            lines.append(f'recsys_api_request_duration_seconds_sum{{operation="{op}"}} {total!r}')
            lines.append(f'recsys_api_request_duration_seconds_count{{operation="{op}"}} {count}')
        lines += [
            f"# HELP recsys_api_request_latency_seconds Latency percentiles over the last {self.window} requests.",
            "# TYPE recsys_api_request_latency_seconds summary",
        ]
        for operation, (_, count, total) in latencies.items():
            op = _label(operation)
            for q, value in self.percentiles(operation).items():
                lines.append(f'recsys_api_request_latency_seconds{{operation="{op}",quantile="{q}"}} {value!r}')
            lines.append(f'recsys_api_request_latency_seconds_sum{{operation="{op}"}} {total!r}')
            lines.append(f'recsys_api_request_latency_seconds_count{{operation="{op}"}} {count}')
        lines += [
            "# HELP recsys_api_uptime_seconds Seconds since the server started.",
            "# TYPE recsys_api_uptime_seconds gauge",
            f"recsys_api_uptime_seconds {_number(round(time.time() - self.started, 3))}",
        ]
        return "\n".join(lines) + "\n"
