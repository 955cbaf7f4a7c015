"""A stop that lands between the inbound pipeline's ``start_job`` and ``receive`` (#19, the
receive side of test_abort_before_send).

The provider API's ``abort`` ends "the call in progress"; a provider need not honour an abort
of a job it has only opened, before ``receive`` was called. So the pipeline holds such an
abort (the service stopping) and honours it itself: the call is never answered, the receive
job ends as a failed receive without pages, and the provider's ``abort`` only ever reaches a
call it has. (Without this, the stop's abort went to a job not yet receiving, a provider that
ignores it then answered the call, and the stop waited for the whole fax.)

The window is held open for real: the pipeline commits FEI_RECEIVING (a store write in a
worker thread) between the two calls; the test holds that write until the stop has been
handled. The provider is the test provider and the real virtual lines, each with a
``receive`` and ``abort`` that, like a provider that does not remember an early abort,
ignores (and records) an abort of a handle whose ``receive`` has not begun.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.support.inproc import run, running_service, set_line, submit, wait_status

from lanfax.model.codes import EventId, JobType, QueueStatus
from lanfax.model.events import NewEvent
from lanfax.providers.api import CallResult, FaxProvider, FaxReceive, JobHandle
from lanfax.service.core import FaxService
from lanfax.store.api import JobQuery


@dataclass
class Forgetful:
    """A provider's ``receive`` and ``abort`` wrapped: an abort of a handle whose receive has
    not begun is recorded in ``early`` and ignored, as a provider may do."""

    provider: FaxProvider
    receiving: set[int] = field(default_factory=set)
    early: list[JobHandle] = field(default_factory=list)

    def install(self) -> None:
        receive, abort = self.provider.receive, self.provider.abort

        async def receive_first(handle: JobHandle, fax: FaxReceive) -> CallResult:
            self.receiving.add(id(handle))
            return await receive(handle, fax)

        async def abort_if_receiving(handle: JobHandle) -> None:
            if id(handle) not in self.receiving:
                self.early.append(handle)
                return
            await abort(handle)

        self.provider.receive = receive_first  # type: ignore[method-assign]
        self.provider.abort = abort_if_receiving  # type: ignore[method-assign]


@dataclass
class Window:
    """Holds the pipeline between ``start_job`` and ``receive``: the first store write of an
    FEI_RECEIVING event (in a worker thread) waits until :meth:`open` is called."""

    entered: asyncio.Event
    released: threading.Event
    held: list[int] = field(default_factory=list)

    def open(self) -> None:
        self.released.set()


@asynccontextmanager
async def held_before_receive(svc: FaxService) -> AsyncIterator[Window]:
    loop = asyncio.get_running_loop()
    window = Window(asyncio.Event(), threading.Event())
    store = svc.ctx.store
    append: Callable[[Sequence[NewEvent]], Any] = store.append_events

    def held(events: Sequence[NewEvent]) -> Any:
        receiving = [e for e in events if e.event_id is EventId.RECEIVING]
        if receiving and not window.held:
            window.held.append(receiving[0].job_id)
            loop.call_soon_threadsafe(window.entered.set)
            if not window.released.wait(60):
                raise AssertionError("the test never opened the window")
        return append(events)

    store.append_events = held  # type: ignore[method-assign]
    try:
        yield window
    finally:
        window.open()
        store.append_events = append  # type: ignore[method-assign]


VIRTUAL = """
[[providers]]
type = "virtual"
lines = [{number = "100"}, {number = "101"}]
"""


@pytest.mark.parametrize(
    ("toml_text", "receiver"),
    [("", "201"), (VIRTUAL, "101")],
    ids=["test-provider", "virtual-lines"],
)
def test_a_stop_before_receive_answers_nothing(
    tmp_path: Path, fax_tiff: Path, toml_text: str, receiver: str
) -> None:
    async def body() -> None:
        async with running_service(tmp_path, toml_text) as svc:
            rx_device = await set_line(svc, receiver, ["receive"], rings=1)
            forgetful = Forgetful(svc.devices.providers[0][1])
            forgetful.install()
            async with held_before_receive(svc) as window:
                (job,) = await submit(svc, fax_tiff, receiver)
                await asyncio.wait_for(window.entered.wait(), 60)
                dev = svc.devices.devices[rx_device]
                (rx_id,) = window.held
                assert dev.job_id == rx_id and dev.handle is not None, "start_job not returned"
                assert dev.live.job_type is JobType.RECEIVE

                stopping = asyncio.create_task(svc.inbound.stop())
                for _ in range(10):  # an abort the old code sent would be on its way now
                    await asyncio.sleep(0)
                assert not stopping.done(), "stop() returned with the receive not ended"
                window.open()
                await asyncio.wait_for(stopping, 60)

            assert forgetful.receiving == set(), "the call was answered after the stop"
            assert forgetful.early == [], "the provider was asked to abort a call it did not have"
            rx = await svc.get_job(rx_id)
            assert rx is not None
            assert rx.job_type is JobType.FAIL_RECEIVE, rx
            assert rx.queue_status is QueueStatus.FAILED, rx
            assert rx.pages_done == 0 and rx.document_path == ""
            assert "the service is stopping" in rx.status_text
            # The line is free again, and the caller, still ringing, is not answered any more
            # (the pipeline is stopped): its call ends unanswered, and the only receive job
            # is the one above.
            assert dev.handle is None and not dev.busy and dev.job_id is None
            sent = await wait_status(
                svc, job.job_id, QueueStatus.RETRYING, QueueStatus.COMPLETED, timeout=60
            )
            assert sent.queue_status is QueueStatus.RETRYING, sent
            assert sent.pages_done == 0 and "answer" in sent.status_text, sent.status_text
            kinds = frozenset({JobType.RECEIVE, JobType.FAIL_RECEIVE})
            receives = await svc.list_jobs(JobQuery(job_types=kinds))
            assert [r.job_id for r in receives] == [rx_id]
            assert forgetful.receiving == set()

    run(body(), timeout=180)
