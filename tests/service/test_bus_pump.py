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
from lanfax.service.bus import EventBus

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


async def _take(stream: Any, n: int, into: list[int]) -> None:
    while len(into) < n:
        into.append((await anext(stream)).seq)
