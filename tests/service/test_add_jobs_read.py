"""ServiceContext.add_jobs hands the event bus the new events without a trip of the bus's
own (#19): as the store stored them when it can tell (SQLite, memory), else read in the
commit's trip (PostgreSQL). Either way they are published once, in order, before add_jobs
returns; and a read that fails after the commit neither fails the submission (its jobs are
committed) nor loses the events."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.support.stores import open_test_store

from lanfax.model.clock import SystemClock
from lanfax.model.codes import EventId, JobType, QueueStatus
from lanfax.model.events import Event, NewEvent
from lanfax.model.jobs import Job
from lanfax.service.context import ServiceContext
from lanfax.service.spool import Spool


def _job(n: int) -> Job:
    return Job(0, JobType.SEND, QueueStatus.PENDING, datetime.now(UTC), recipient_number=str(n))


@pytest.mark.parametrize("store_tells", [True, False], ids=["stored", "read-back"])
def test_add_jobs_publishes_its_events_and_survives_a_failed_read(
    tmp_path: Path, store_tells: bool
) -> None:
    async def body() -> None:
        spool = Spool(tmp_path / "data")
        spool.create()
        store = open_test_store(tmp_path)
        ctx = ServiceContext(store, spool, SystemClock(), UTC)
        await ctx.start()
        events_after = store.events_after
        add = store.add_jobs_and_events
        calls: list[int] = []
        broken = False

        def counted(seq: int, limit: int) -> list[Event]:
            calls.append(seq)
            if broken and len(calls) == 1:
                raise OSError("the read after the commit failed")
            return events_after(seq, limit)

        def as_postgres(*args: Any) -> tuple[list[Job], list[Event]]:
            return add(*args)[0], []  # a store that cannot tell its cursors are consecutive

        store.events_after = counted  # type: ignore[method-assign]
        if not store_tells:
            store.add_jobs_and_events = as_postgres  # type: ignore[method-assign]
        stream = ctx.bus.subscribe(ctx.bus.published_seq)
        got: list[Event] = []

        async def take() -> None:
            while len(got) < 2:
                got.append(await anext(stream))

        taker = asyncio.create_task(take())
        try:
            for _ in range(100):  # the subscriber's own backlog read, before the writes
                if calls:
                    break
                await asyncio.sleep(0.01)
            calls.clear()
            queued = [NewEvent(EventId.JOB_QUEUED, job_id=0)]
            first = await ctx.add_jobs([_job(1)], queued)
            # No read at all when the store told its events; else one, in the commit's trip.
            assert len(calls) == (0 if store_tells else 1)
            broken, calls = True, []
            second = await ctx.add_jobs([_job(2)], queued)
            # Told: nothing read. Read back: the failed read, then pump's own.
            assert len(calls) == (0 if store_tells else 2)
            await asyncio.wait_for(taker, 10)
            assert [e.job_id for e in got] == [first[0].job_id, second[0].job_id]
            assert [e.event_id for e in got] == [EventId.JOB_QUEUED] * 2
            assert store.get_job(second[0].job_id) is not None
        finally:
            taker.cancel()
            await stream.aclose()
            ctx.close_executor()
            store.close()

    asyncio.run(body())
