"""ServiceContext.add_jobs reads the new events in its commit's trip to the pool (#19): they
are published once, in order, before it returns; and a read that fails after the commit
neither fails the submission (its jobs are committed) nor loses the events."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from tests.support.stores import open_test_store

from lanfax.model.clock import SystemClock
from lanfax.model.codes import EventId, JobType, QueueStatus
from lanfax.model.events import Event, NewEvent
from lanfax.model.jobs import Job
from lanfax.service.context import ServiceContext
from lanfax.service.spool import Spool


def _job(n: int) -> Job:
    return Job(0, JobType.SEND, QueueStatus.PENDING, datetime.now(UTC), recipient_number=str(n))


def test_add_jobs_publishes_its_events_and_survives_a_failed_read(tmp_path: Path) -> None:
    async def body() -> None:
        spool = Spool(tmp_path / "data")
        spool.create()
        store = open_test_store(tmp_path)
        ctx = ServiceContext(store, spool, SystemClock(), UTC)
        await ctx.start()
        events_after = store.events_after
        calls: list[int] = []
        broken = False

        def counted(seq: int, limit: int) -> list[Event]:
            calls.append(seq)
            if broken and len(calls) == 1:
                raise OSError("the read after the commit failed")
            return events_after(seq, limit)

        store.events_after = counted  # type: ignore[method-assign]
        stream = ctx.bus.subscribe(ctx.bus.published_seq)
        try:
            queued = [NewEvent(EventId.JOB_QUEUED, job_id=0)]
            first = await ctx.add_jobs([_job(1)], queued)
            assert len(calls) == 1  # the read in the commit's trip, no second one
            broken, calls = True, []
            second = await ctx.add_jobs([_job(2)], queued)
            assert len(calls) == 2  # the failed read, then pump's own
            got = [await asyncio.wait_for(anext(stream), 10) for _ in range(2)]
            assert [e.job_id for e in got] == [first[0].job_id, second[0].job_id]
            assert [e.event_id for e in got] == [EventId.JOB_QUEUED] * 2
            assert store.get_job(second[0].job_id) is not None
        finally:
            await stream.aclose()
            ctx.close_executor()
            store.close()

    asyncio.run(body())
