"""Ports (handles, settings that persist), configuration, logging categories, the event bus."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from tests.support.inproc import run, running_service

from lanfax.model.codes import EventId, LogCategory, LogLevel, PortFlags, PortOpenMode
from lanfax.model.errors import ConfigError, Conflict, InvalidInput, NotFound
from lanfax.model.events import Event


def test_one_modifier_at_a_time(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path) as svc:
            dev = svc.ports()[0].device_id
            q1 = svc.open_port(dev, PortOpenMode.QUERY)
            q2 = svc.open_port(dev, PortOpenMode.QUERY)
            m1 = svc.open_port(dev, PortOpenMode.MODIFY)
            with pytest.raises(Conflict, match="already open"):
                svc.open_port(dev, PortOpenMode.MODIFY)
            # Another port is independent.
            other = svc.open_port(svc.ports()[1].device_id, PortOpenMode.MODIFY)
            with pytest.raises(Conflict, match="modify handle"):
                await svc.set_port(dev, q1, {"rings": 4})
            with pytest.raises(Conflict, match="modify handle"):
                await svc.set_port(dev, other, {"rings": 4})
            port = await svc.set_port(dev, m1, {"rings": 4, "tsid": "+49 30 1"})
            assert (port.rings, port.tsid) == (4, "+49 30 1")
            svc.close_handle(m1)
            with pytest.raises(NotFound):
                svc.close_handle(m1)
            m2 = svc.open_port(dev, PortOpenMode.MODIFY)
            assert m2 not in (q1, q2, m1)
            with pytest.raises(NotFound):
                svc.open_port(9999, PortOpenMode.QUERY)

    run(body())


def test_port_settings_are_validated_and_persist(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path) as svc:
            before = {p.device_id: p for p in svc.ports()}
            dev = min(before)
            h = svc.open_port(dev, PortOpenMode.MODIFY)
            for bad in ({"rings": -1}, {"flags": ["fly"]}, {"state": "busy"}, {"csid": 5}):
                with pytest.raises(InvalidInput):
                    await svc.set_port(dev, h, bad)
            await svc.set_port(
                dev,
                h,
                {"device_name": "Front desk", "flags": ["send"], "priority": 7, "csid": "42"},
            )
            events = [e for e in await svc.events_after(0) if e.event_id is EventId.PORT_CHANGED]
            assert len(events) == 1 and events[0].device_id == dev
        async with running_service(tmp_path) as svc:
            after = {p.device_id: p for p in svc.ports()}
            assert set(after) == set(before)  # ids are stable across restarts
            p = after[dev]
            assert (p.device_name, p.flags, p.priority, p.csid) == (
                "Front desk",
                PortFlags.SEND,
                7,
                "42",
            )
            assert p.rings == before[dev].rings

    run(body())


def test_config_is_validated_persisted_and_announced(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path, "[settings]\nretries = 7\n") as svc:
            assert svc.get_config().retries == 7
            with pytest.raises(ConfigError, match="retries"):
                await svc.set_config({"retries": -1})
            with pytest.raises(ConfigError, match="unknown setting"):
                await svc.set_config({"colour": "blue"})
            with pytest.raises(ConfigError, match="time of day"):
                await svc.set_config({"StartCheapTime": "25:00"})
            assert svc.get_config().retries == 7  # a refused change changes nothing
            new = await svc.set_config({"Retries": 2, "branding": "false"})
            assert (new.retries, new.branding) == (2, False)
            changed = [e for e in await svc.events_after(0) if e.event_id is EventId.CONFIG_CHANGED]
            assert changed[-1].detail["changed"] == ["branding", "retries"]
        # Stored values win over the file's initial ones after a restart.
        async with running_service(tmp_path, "[settings]\nretries = 7\n") as svc:
            assert (svc.get_config().retries, svc.get_config().branding) == (2, False)

    run(body())


def test_logging_categories_map_onto_loggers(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path) as svc:
            cats = {c.category: c for c in svc.get_logging()}
            assert set(cats) == set(LogCategory)
            await svc.set_logging([{"category": "outbound", "level": "max"}])
            assert logging.getLogger("lanfax.outbound").getEffectiveLevel() == logging.DEBUG
            with pytest.raises(InvalidInput):
                await svc.set_logging([{"category": "sideways", "level": "max"}])
            with pytest.raises(InvalidInput):
                await svc.set_logging([{"category": "inbound"}])
        async with running_service(tmp_path) as svc:
            cats = {c.category: c for c in svc.get_logging()}
            assert cats[LogCategory.OUTBOUND].level is LogLevel.MAX
            assert cats[LogCategory.INBOUND].level is LogLevel.MIN
            await svc.set_logging([{"category": "outbound", "level": "none"}])
            assert not logging.getLogger("lanfax.outbound").isEnabledFor(logging.CRITICAL)

    run(body())


def test_event_cursor_resume_gets_exactly_the_rest(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path) as svc:
            for n in range(12):
                await svc.set_config({"retries": n})
            everything = await svc.events_after(0)
            seqs = [e.seq for e in everything]
            assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
            cut = seqs[5]
            got: list[Event] = []
            stream = svc.subscribe(cut)
            # Backlog first ...
            for _ in range(len(seqs) - 6):
                got.append(await asyncio.wait_for(anext(stream), 5))
            assert [e.seq for e in got] == seqs[6:]
            # ... then live events, with no gap and no repeat at the boundary.
            await svc.set_config({"retries": 1})
            live = await asyncio.wait_for(anext(stream), 5)
            assert live.event_id is EventId.CONFIG_CHANGED
            assert live.seq > seqs[-1]
            await stream.aclose()

    run(body())


def test_many_concurrent_subscribers_see_the_same_events(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path) as svc:
            start = svc.ctx.bus.published_seq
            streams = [svc.subscribe(start) for _ in range(5)]

            async def take(stream: object, n: int) -> list[int]:
                out = []
                for _ in range(n):
                    out.append((await anext(stream)).seq)  # type: ignore[call-overload]
                return out

            readers = [asyncio.create_task(take(s, 20)) for s in streams]
            for n in range(20):
                await svc.set_config({"retries": n % 5})
            results = await asyncio.wait_for(asyncio.gather(*readers), 10)
            assert all(r == results[0] for r in results)
            assert len(set(results[0])) == 20
            for s in streams:
                await s.aclose()

    run(body())
