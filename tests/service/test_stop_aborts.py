"""Stopping with a call on the line: a provider whose abort fails is logged, not swallowed
(#17 item 6), and the stop still goes on."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from tests.support.inproc import (
    provider_of,
    run,
    running_service,
    set_line,
    submit,
    wait_status,
    wait_until,
)

from lanfax.model.codes import DeviceStatus, QueueStatus
from lanfax.model.errors import ProviderError
from lanfax.providers.api import CallResult, FaxReceive, JobHandle


async def _refuse(handle: JobHandle) -> None:
    raise ProviderError("the line does not answer", hint="check the provider")


def _warnings(caplog: pytest.LogCaptureFixture, name: str, text: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == name and r.levelno == logging.WARNING and text in r.getMessage()
    ]


def test_a_failed_abort_of_a_send_is_logged_and_the_stop_goes_on(
    tmp_path: Path, fax_tiff: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def body() -> None:
        async with running_service(tmp_path) as svc:
            provider = provider_of(svc)
            provider.gate = asyncio.Event()  # the call stays up until the gate opens
            (job,) = await submit(svc, fax_tiff, "555")
            on_call = await wait_status(svc, job.job_id, QueueStatus.IN_PROGRESS)
            # On the line: the provider has the call (an abort before its send is held by
            # the dispatcher and never reaches the provider).
            (dev,) = [d for d in svc.devices.devices.values() if d.job_id == job.job_id]
            await wait_until(
                svc, lambda: dev.live.status is DeviceStatus.SENDING, what="the call on the line"
            )
            provider.abort = _refuse  # type: ignore[method-assign]
            with caplog.at_level(logging.WARNING, logger="lanfax.outbound"):
                stopping = asyncio.create_task(svc.dispatcher.stop(abort_calls=True))
                deadline = asyncio.get_running_loop().time() + 30
                while not _warnings(caplog, "lanfax.outbound", "aborting the call"):
                    assert not stopping.done(), "stop() returned with the call still up"
                    assert asyncio.get_running_loop().time() < deadline, "nothing was logged"
                    await asyncio.sleep(0.01)
                provider.gate.set()  # the call ends by itself; stop() waits for it
                await asyncio.wait_for(stopping, 30)
            (record,) = _warnings(caplog, "lanfax.outbound", "aborting the call")
            assert f"device {on_call.device_id}" in record.getMessage()
            assert record.exc_info is not None and record.exc_info[0] is ProviderError
            assert not svc.dispatcher.is_running(job.job_id)
            done = await svc.get_job(job.job_id)
            assert done is not None and done.queue_status is QueueStatus.COMPLETED

    run(body(), timeout=120)


def test_a_failed_abort_of_a_receive_is_logged_and_the_stop_goes_on(
    tmp_path: Path, fax_tiff: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def body() -> None:
        async with running_service(tmp_path) as svc:
            provider = provider_of(svc)
            rx_device = await set_line(svc, "201", ["receive"], rings=1)
            # A receive on the line (the provider has the call: an abort before its receive
            # is held by the pipeline and never reaches the provider), which lasts until the
            # test lets it go on.
            on_line, release = asyncio.Event(), asyncio.Event()
            receive = provider.receive

            async def long_receive(handle: JobHandle, fax: FaxReceive) -> CallResult:
                on_line.set()
                await release.wait()
                return await receive(handle, fax)

            provider.receive = long_receive  # type: ignore[method-assign]
            await submit(svc, fax_tiff, "201")
            await asyncio.wait_for(on_line.wait(), 30)
            provider.abort = _refuse  # type: ignore[method-assign]
            with caplog.at_level(logging.WARNING, logger="lanfax.inbound"):
                stopping = asyncio.create_task(svc.inbound.stop())
                deadline = asyncio.get_running_loop().time() + 30
                while not _warnings(caplog, "lanfax.inbound", "aborting the receive"):
                    assert not stopping.done(), "stop() returned with the receive still up"
                    assert asyncio.get_running_loop().time() < deadline, "nothing was logged"
                    await asyncio.sleep(0.01)
                release.set()  # the receive ends by itself; stop() waits for it
                await asyncio.wait_for(stopping, 30)
            (record,) = _warnings(caplog, "lanfax.inbound", "aborting the receive")
            assert f"device {rx_device}" in record.getMessage()
            assert record.exc_info is not None and record.exc_info[0] is ProviderError
            assert svc.devices.devices[rx_device].handle is None

    run(body(), timeout=120)
