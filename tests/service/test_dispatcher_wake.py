"""The dispatcher's wake-up on a submission (#19): with the queue paused or every line busy,
it plans over the jobs just submitted, not over the whole queue, and nothing else changes:
a job without a line is still marked, a deadline still brings a plan over every job, and
the queue is planned as a whole (in its order) as soon as a line is idle."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.support.inproc import provider_of, run, running_service, submit, wait_status
from tests.support.stores import open_test_store

from lanfax.model.clock import ManualClock, SystemClock
from lanfax.model.codes import PortOpenMode, QueueStatus
from lanfax.model.jobs import Job
from lanfax.service import context, scheduler
from lanfax.service.context import ServiceContext
from lanfax.service.spool import Spool

FINAL = (QueueStatus.COMPLETED, QueueStatus.FAILED, QueueStatus.RETRIES_EXCEEDED)


async def planned_soon(seen: list[list[int]], cond: Any, what: str) -> None:
    """Wait (polling: a plan publishes no event) until ``cond(seen)`` holds."""
    for _ in range(3000):
        if cond(seen):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never planned: {what}; plans: {seen}")


@pytest.fixture
def planned(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[int]]]:
    """The job ids of every plan the scheduler makes, in order."""
    seen: list[list[int]] = []
    real = scheduler.plan

    def recording(now: datetime, jobs: Sequence[Job], *args: Any, **kwargs: Any) -> scheduler.Plan:
        seen.append(sorted(j.job_id for j in jobs))
        return real(now, jobs, *args, **kwargs)

    monkeypatch.setattr(scheduler, "plan", recording)
    yield seen


def test_a_submission_to_a_paused_queue_plans_its_own_jobs_only(
    tmp_path: Path, fax_tiff: Path, planned: list[list[int]]
) -> None:
    async def body() -> None:
        async with running_service(tmp_path, "[settings]\npause_server_queue = true\n") as svc:
            many = await submit(svc, fax_tiff, *(f"55{i:03d}" for i in range(40)))
            await planned_soon(planned, lambda ps: any(many[-1].job_id in p for p in ps), "the 40")
            (one,) = await submit(svc, fax_tiff, "777")
            await planned_soon(planned, lambda ps: [one.job_id] in ps, "the new job alone")
            assert all(len(p) <= 40 for p in planned), "the whole queue was planned again"
            assert provider_of(svc).calls == []
            # Unpausing is a change of its own: the whole queue is planned and sent.
            await svc.set_config({"PauseServerQueue": False})
            for job in (*many[:2], one):
                done = await wait_status(svc, job.job_id, *FINAL, timeout=60)
                assert done.queue_status is QueueStatus.COMPLETED
            assert any(len(p) == 41 for p in planned)

    run(body(), timeout=120)


def test_a_job_submitted_while_every_line_is_busy_goes_when_one_frees(
    tmp_path: Path, fax_tiff: Path, planned: list[list[int]]
) -> None:
    async def body() -> None:
        async with running_service(tmp_path) as svc:
            provider = provider_of(svc)
            provider.gate = asyncio.Event()  # every call stays up until the gate opens
            a, b = await submit(svc, fax_tiff, "551", "552")
            await wait_status(svc, a.job_id, QueueStatus.IN_PROGRESS)
            await wait_status(svc, b.job_id, QueueStatus.IN_PROGRESS)
            assert svc.dispatcher._only_new_matter()  # every line is busy
            (c,) = await submit(svc, fax_tiff, "553")
            await planned_soon(planned, lambda ps: any(c.job_id in p for p in ps), "the new job")
            assert (await svc.get_job(c.job_id)).queue_status is QueueStatus.PENDING
            provider.gate.set()
            for job in (a, b, c):
                done = await wait_status(svc, job.job_id, *FINAL)
                assert done.queue_status is QueueStatus.COMPLETED

    run(body())


def test_a_new_job_without_a_line_is_marked_by_the_small_plan(
    tmp_path: Path, fax_tiff: Path, planned: list[list[int]]
) -> None:
    async def body() -> None:
        async with running_service(tmp_path) as svc:
            for port in svc.ports():  # no line may send: every port receives only
                handle = svc.open_port(port.device_id, PortOpenMode.MODIFY)
                await svc.set_port(port.device_id, handle, {"flags": ["receive"]})
                svc.close_handle(handle)
            (first,) = await submit(svc, fax_tiff, "551")
            await wait_status(svc, first.job_id, QueueStatus.NO_LINE)
            assert svc.dispatcher._only_new_matter()  # no line can send
            (job,) = await submit(svc, fax_tiff, "552")
            marked = await wait_status(svc, job.job_id, QueueStatus.NO_LINE)
            assert marked.status_text
            assert provider_of(svc).calls == []

    run(body())


def test_a_deadline_passed_brings_a_plan_over_every_job(
    tmp_path: Path, fax_tiff: Path, planned: list[list[int]]
) -> None:
    """Once the last plan's wake-up time came (here: the first job's expiry after
    DirtyDays), a submission's wake-up plans the whole queue: the expired job is expired."""
    clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))

    async def body() -> None:
        toml = "[settings]\npause_server_queue = true\ndirty_days = 1\n"
        async with running_service(tmp_path, toml, clock=clock) as svc:
            (old,) = await submit(svc, fax_tiff, "551")
            await planned_soon(
                planned, lambda ps: any(old.job_id in p for p in ps), "the first job"
            )
            assert svc.dispatcher._only_new_matter()  # paused, no deadline yet
            clock.advance(timedelta(days=1, seconds=1))
            assert not svc.dispatcher._only_new_matter()  # the first job's expiry came
            (new,) = await submit(svc, fax_tiff, "552")
            expired = await wait_status(svc, old.job_id, *FINAL)
            assert expired.queue_status is QueueStatus.FAILED
            assert (await svc.get_job(new.job_id)).queue_status is QueueStatus.PENDING

    run(body())


def test_the_new_jobs_told_between_two_plans_are_bounded(tmp_path: Path) -> None:
    """Where no dispatcher takes them (a context alone), the list stays bounded: past the
    bound the next plan is over every job."""
    spool = Spool(tmp_path / "data")
    spool.create()
    store = open_test_store(tmp_path)
    ctx = ServiceContext(store, spool, SystemClock(), UTC)
    try:
        assert ctx.take_wake_reasons() is None  # nothing planned yet: a plan over all
        ctx.wake_for_new([])
        assert ctx.take_wake_reasons() == []
        fake = [object()] * (context._MAX_NEW_JOBS // 2)
        ctx.wake_for_new(fake)  # type: ignore[arg-type]
        assert ctx.take_wake_reasons() == fake
        ctx.wake_for_new(fake)  # type: ignore[arg-type]
        ctx.wake_for_new(fake)  # type: ignore[arg-type]
        ctx.wake_for_new(fake)  # type: ignore[arg-type]
        assert ctx.take_wake_reasons() is None
        ctx.wake()
        ctx.wake_for_new(fake)  # type: ignore[arg-type]
        assert ctx.take_wake_reasons() is None  # something else woke it too
    finally:
        ctx.close_executor()
        store.close()
