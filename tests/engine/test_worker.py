"""The one part-worker thread every engine batch hands the second half of its tick to."""

from __future__ import annotations

import threading

import pytest

from lanfax.engine._worker import PartWorker
from lanfax.model.errors import EngineError


def test_runs_jobs_in_turn_on_its_own_thread_and_ends_on_none() -> None:
    worker = PartWorker("lanfax-engine-test")
    worker.start()
    seen: list[str] = []

    def job(n: int) -> int:
        seen.append(threading.current_thread().name)
        return n * 2

    for n in (1, 2, 3):
        worker.submit(lambda n=n: job(n))
        assert worker.wait() == n * 2
    worker.submit(None)
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert seen == ["lanfax-engine-test"] * 3


def test_a_job_that_raises_is_an_engine_error_and_the_next_job_still_runs() -> None:
    worker = PartWorker()
    worker.start()

    def broken() -> int:
        raise ValueError("boom")

    worker.submit(broken)
    with pytest.raises(EngineError, match=r"batch thread failed.*boom"):
        worker.wait()
    worker.submit(lambda: 7)
    assert worker.wait() == 7
    worker.submit(None)
    worker.join(timeout=10)


def test_every_batch_uses_this_one_worker_class() -> None:
    from lanfax.engine import batch, lines

    assert lines._Worker is PartWorker
    assert not hasattr(batch, "_Worker")
    assert not hasattr(batch, "_PartWorker")
