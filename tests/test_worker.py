"""The training worker: jobs run one at a time in the order queued, a failing job does not stop the thread,
and the memory sampler sees an allocation made while it runs."""

import threading

import numpy as np

from recsys.worker import Cancellations, MemorySampler, TrainingQueue


def test_jobs_run_one_at_a_time_in_order_and_a_failure_does_not_stop_the_worker():
    worker = TrainingQueue()
    gate = threading.Event()
    done: list[str] = []
    running = []

    def job(name: str) -> None:
        running.append(name)
        assert len(running) == 1, "two jobs ran at once"
        gate.wait(timeout=10)
        done.append(name)
        running.remove(name)

    def failing() -> None:
        raise RuntimeError("a job that fails")

    worker.submit("a", job, "a")
    worker.submit("boom", failing)
    worker.submit("b", job, "b")
    assert worker.owns("a") and worker.owns("boom") and worker.owns("b")
    gate.set()
    assert worker.join(timeout=30)
    assert done == ["a", "b"]
    assert not worker.owns("a") and not worker.owns("b") and not worker.owns("boom")


def test_join_times_out_while_a_job_still_runs():
    worker = TrainingQueue()
    release = threading.Event()
    worker.submit("slow", release.wait, 10)
    assert worker.join(timeout=0.2) is False
    release.set()
    assert worker.join(timeout=10)


def test_a_stop_request_is_seen_until_forgotten():
    flags = Cancellations()
    assert not flags.requested("arn:1")
    flags.request("arn:1")
    assert flags.requested("arn:1") and not flags.requested("arn:2")
    flags.forget("arn:1")
    assert not flags.requested("arn:1")


def test_memory_sampler_sees_a_large_allocation():
    with MemorySampler(interval=0.01) as memory:
        block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
        block[::4096] += 1
    assert memory.delta_mb >= 32
    assert memory.peak_mb >= memory.delta_mb
