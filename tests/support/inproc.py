"""Run a FaxService inside the test process, with a ManualClock and the test provider.

Tests are plain functions that call :func:`run` on a coroutine; inside, ``async with
running_service(tmp_path, ...) as svc`` gives a started service and stops it afterwards.
Waiting is on the service's own event stream, with a timeout, never on bare sleeps.
"""

from __future__ import annotations

import asyncio
import os
import tomllib
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from tests.support.testprovider import TestProvider

from lanfax.model.clock import ManualClock
from lanfax.model.codes import PortOpenMode, QueueStatus
from lanfax.model.jobs import Job
from lanfax.service.core import FaxService
from lanfax.service.settings import settings_from_mapping
from lanfax.service.submit import parse_submission

T = TypeVar("T")

TEST_PROVIDER = "tests.support.testprovider:TestProvider"


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run a test coroutine on a fresh loop, failing it after ``timeout`` seconds."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def toml_settings(tmp_path: Path, toml_text: str = "") -> Any:
    doc = tomllib.loads(toml_text) if toml_text else {}
    doc.setdefault("providers", [{"type": TEST_PROVIDER}])
    doc.setdefault("server", {})["data"] = str(tmp_path / "data")
    store = chosen_store_url(tmp_path)  # (#17) LANFAX_TEST_STORE=memory
    if store is not None:
        doc["server"].setdefault("database", store)
    return settings_from_mapping(doc, source="test")


#: LANFAX_TEST_STORE: the store the in-process services of the tests use (#17). "sqlite" (or
#: unset): the default, a database file in the data directory; "memory": the in-memory store,
#: named after the test's directory, so that a service restarted within one test finds its
#: jobs again (as in one process it would in a file). A test that names its own database, or
#: runs a real `lanfax serve` process (kill -9 and restart: durability across processes, the
#: SQL store's subject), keeps it.
TEST_STORES = ("sqlite", "memory")


def chosen_store_url(tmp_path: Path) -> str | None:
    """The store URL LANFAX_TEST_STORE asks for (None: the service's default)."""
    kind = os.environ.get("LANFAX_TEST_STORE", "") or "sqlite"
    if kind not in TEST_STORES:
        raise ValueError(f"LANFAX_TEST_STORE={kind!r}: use one of {', '.join(TEST_STORES)}")
    return f"memory://{tmp_path}" if kind == "memory" else None


@asynccontextmanager
async def running_service(
    tmp_path: Path,
    toml_text: str = "",
    *,
    clock: ManualClock | None = None,
    tz: Any = UTC,
) -> AsyncIterator[FaxService]:
    svc = FaxService(
        toml_settings(tmp_path, toml_text),
        clock=clock or ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC)),
        tz=tz,
    )
    await svc.start()
    try:
        yield svc
    finally:
        await svc.stop()


def provider_of(svc: FaxService, index: int = 0) -> TestProvider:
    provider = svc.devices.providers[index][1]
    assert isinstance(provider, TestProvider)
    return provider


async def submit(svc: FaxService, tiff: Path, *numbers: str, **common: Any) -> list[Job]:
    """Submit ``tiff`` (copied, since a fax-ready upload is moved into the spool)."""
    params = {"recipients": [{"recipient_number": n} for n in numbers], **common}
    stage = svc.spool.new_stage()
    staged = stage / "000"
    staged.write_bytes(tiff.read_bytes())
    _, jobs = await svc.submit(parse_submission(params), [staged], stage_dir=stage)
    return jobs


async def wait_job(
    svc: FaxService,
    job_id: int,
    pred: Callable[[Job], bool],
    timeout: float = 30.0,
) -> Job:
    """Wait until job ``job_id`` satisfies ``pred``; re-checked after every event."""
    events = svc.subscribe(svc.ctx.bus.published_seq)

    async def check() -> Job:
        while True:
            job = await svc.get_job(job_id)
            if pred(job):
                return job
            await anext(events)

    try:
        return await asyncio.wait_for(check(), timeout)
    except TimeoutError:
        job = await svc.get_job(job_id)
        raise AssertionError(f"job {job_id} never got there; it is {job}") from None
    finally:
        await events.aclose()


async def wait_status(
    svc: FaxService, job_id: int, *statuses: QueueStatus, timeout: float = 30.0
) -> Job:
    return await wait_job(svc, job_id, lambda j: j.queue_status in statuses, timeout)


async def wait_until(
    svc: FaxService, cond: Callable[[], bool], timeout: float = 30.0, what: str = "condition"
) -> None:
    """Wait until ``cond()`` holds; re-checked after every event."""
    events = svc.subscribe(svc.ctx.bus.published_seq)

    async def check() -> None:
        while not cond():
            await anext(events)

    try:
        await asyncio.wait_for(check(), timeout)
    except TimeoutError:
        raise AssertionError(f"{what} never became true") from None
    finally:
        await events.aclose()


async def set_line(
    svc: FaxService, number: str, flags: list[str], *, rings: int | None = None
) -> int:
    """Set the port of line ``number`` as an administrator does (a modify handle, the
    port's ``flags`` and, if given, ``rings``, the handle closed); its device id.
    ``set_line(svc, "201", ["receive"], rings=1)``: the line only receives, at the first
    ring (a line that may send could be given a job to its own number: busy)."""
    (port,) = [p for p in svc.ports() if p.number == number]
    handle = svc.open_port(port.device_id, PortOpenMode.MODIFY)
    try:
        changes: dict[str, Any] = {"flags": flags}
        if rings is not None:
            changes["rings"] = rings
        await svc.set_port(port.device_id, handle, changes)
    finally:
        svc.close_handle(handle)
    return port.device_id
