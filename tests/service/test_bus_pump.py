"""The event bus's pumps coalesce (#19): writers queued behind one read share the next one,
and every event is still published once, in order, before each writer's pump returns."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from lanfax.model.codes import EventId
from lanfax.model.events import Event
from lanfax.service.bus import _PAGE, EventBus

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Log:
    """The store's event table, and a gate that holds every read until the test opens it."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.reads = 0
        self.gate = asyncio.Event()

    def commit(self) -> None:
        self.events.append(Event(len(self.events) + 1, T0, EventId.CONFIG_CHANGED))

    def events_after(self, seq: int, limit: int) -> list[Event]:
        self.reads += 1
        return [e for e in self.events if e.seq > seq][:limit]

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        await self.gate.wait()
        return fn(*args)


def bus_over(log: Log) -> EventBus:
    return EventBus(log, log.run)  # type: ignore[arg-type]  # only events_after is used


def test_writers_queued_behind_a_read_share_the_next_one() -> None:
    async def body() -> None:
        log = Log()
        bus = bus_over(log)
        seen: list[int] = []
        sub = bus.subscribe(0)
        reader = asyncio.create_task(_take(sub, 6, seen))
        await asyncio.sleep(0)  # the subscriber registers (its backlog read waits at the gate)
        log.commit()
        first = asyncio.create_task(bus.pump())  # its read waits at the gate
        await asyncio.sleep(0)
        later = []
        for _ in range(5):  # five more writers commit and pump while that read is held
            log.commit()
            later.append(asyncio.create_task(bus.pump()))
        await asyncio.sleep(0)
        log.gate.set()
        await asyncio.wait_for(asyncio.gather(first, *later), 10)
        # the subscriber's backlog read, the first writer's read, one for the five others
        assert log.reads == 3
        assert bus.published_seq == 6
        await asyncio.wait_for(reader, 10)
        assert seen == [1, 2, 3, 4, 5, 6]
        await sub.aclose()

    asyncio.run(body())


def test_a_pump_after_a_finished_read_reads_again() -> None:
    async def body() -> None:
        log = Log()
        log.gate.set()
        bus = bus_over(log)
        for n in range(1, 4):
            log.commit()
            await bus.pump()
            assert bus.published_seq == n  # each writer's event is published on return
        assert log.reads == 3

    asyncio.run(body())


def test_a_failed_read_leaves_the_next_pump_to_read() -> None:
    async def body() -> None:
        log = Log()
        log.gate.set()
        bus = bus_over(log)
        broken = True
        events_after = log.events_after

        def flaky(seq: int, limit: int) -> list[Event]:
            if broken:
                raise OSError("the disk went away")
            return events_after(seq, limit)

        log.events_after = flaky  # type: ignore[method-assign]
        log.commit()
        with pytest.raises(OSError, match="went away"):
            await bus.pump()
        broken = False
        await bus.pump()
        assert bus.published_seq == 1

    asyncio.run(body())


def test_a_read_made_after_the_commit_is_published_without_another_read() -> None:
    """A writer's read in its own trip to the pool (EventBus.reader, #19): pump publishes it
    as it is, in order, once, reading nothing itself."""

    async def body() -> None:
        log = Log()
        log.gate.set()
        bus = bus_over(log)
        seen: list[int] = []
        sub = bus.subscribe(0)
        taker = asyncio.create_task(_take(sub, 5, seen))
        await asyncio.sleep(0)
        reads = log.reads
        for _ in range(3):
            read = bus.reader()  # taken on the loop before the trip
            log.commit()  # the writer's commit, then its read, in the trip
            await bus.pump(read())
        assert log.reads == reads + 3  # the three readers' reads, none by pump
        assert bus.published_seq == 3
        # Two writers whose reads overlap: the second holds the first's event too.
        first, second = bus.reader(), bus.reader()
        log.commit()
        early = first()
        log.commit()
        late = second()
        await bus.pump(late)
        await bus.pump(early)  # nothing new in it: published already, not again
        assert bus.published_seq == 5
        await asyncio.wait_for(taker, 10)
        assert seen == [1, 2, 3, 4, 5]
        await sub.aclose()

    asyncio.run(body())


def test_a_full_page_read_is_not_trusted_to_be_complete() -> None:
    async def body() -> None:
        log = Log()
        log.gate.set()
        bus = bus_over(log)
        read = bus.reader()
        for _ in range(_PAGE + 3):
            log.commit()
        got = read()
        assert len(got[1]) == _PAGE  # a page: there may be more
        reads = log.reads
        await bus.pump(got)
        assert log.reads > reads  # pump read the rest itself
        assert bus.published_seq == _PAGE + 3

    asyncio.run(body())


async def _take(stream: Any, n: int, into: list[int]) -> None:
    while len(into) < n:
        into.append((await anext(stream)).seq)
