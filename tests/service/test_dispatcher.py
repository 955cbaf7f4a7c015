"""The dispatcher with the test provider and a ManualClock: retries, failures, the discount
period, one call per number, device priority."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.inproc import (
    provider_of,
    run,
    running_service,
    submit,
    wait_status,
    wait_until,
)

from lanfax.engine import SessionOptions
from lanfax.model.clock import ManualClock
from lanfax.model.codes import (
    DeviceStatus,
    FailureClass,
    PortOpenMode,
    QueueStatus,
)

FINAL = (QueueStatus.COMPLETED, QueueStatus.FAILED, QueueStatus.RETRIES_EXCEEDED)


def test_a_job_is_sent_and_completed(tmp_path: Path, fax_tiff_3: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path) as svc:
            (job,) = await submit(svc, fax_tiff_3, "555 12-34", sender_name="Alice")
            done = await wait_status(svc, job.job_id, *FINAL)
            assert done.queue_status is QueueStatus.COMPLETED
            assert done.attempts == 1
            assert done.pages_done == 3
            assert done.device_status is DeviceStatus.COMPLETED
            assert done.completed_at is not None
            # The provider's own account of the call is kept on the job.
            last_call = done.extra["last_call"]
            assert (last_call["modem"], last_call["t30_text"]) == ("V.17", "OK")
            assert last_call["recipe"] == "default"
            assert last_call["pair"] == [1, 2] and last_call["odd"] == "nan"
            calls = provider_of(svc).calls
            assert [c["number"] for c in calls] == ["555 12-34"]
            # Branding is on by default: the header names the sender.
            assert "Alice" in (calls[0]["header"] or "")

    run(body())


def test_retry_waits_for_retry_delay(tmp_path: Path, fax_tiff: Path) -> None:
    clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))

    async def body() -> None:
        toml = "[settings]\nretries = 3\nretry_delay = 10\n"
        async with running_service(tmp_path, toml, clock=clock) as svc:
            # 90071: busy on the first call, then answered.
            (job,) = await submit(svc, fax_tiff, "90071")
            retrying = await wait_status(svc, job.job_id, QueueStatus.RETRYING)
            assert retrying.attempts == 1
            assert retrying.last_failure is FailureClass.BUSY
            assert retrying.next_attempt_at == clock.now() + timedelta(minutes=10)
            # Planning again before the delay has passed makes no call.
            await svc.dispatcher.plan_once()
            clock.advance(timedelta(minutes=9))
            await svc.dispatcher.plan_once()
            assert len(provider_of(svc).calls) == 1
            clock.advance(timedelta(minutes=1))
            svc.wake()
            done = await wait_status(svc, job.job_id, *FINAL)
            assert done.queue_status is QueueStatus.COMPLETED
            assert done.attempts == 2
            assert len(provider_of(svc).calls) == 2

    run(body())


def test_retries_exceeded(tmp_path: Path, fax_tiff: Path) -> None:
    clock = ManualClock()

    async def body() -> None:
        async with running_service(tmp_path, "[settings]\nretries = 1\n", clock=clock) as svc:
            (job,) = await submit(svc, fax_tiff, "9001")  # always busy
            await wait_status(svc, job.job_id, QueueStatus.RETRYING)
            clock.advance(timedelta(minutes=svc.get_config().retry_delay))
            svc.wake()
            done = await wait_status(svc, job.job_id, *FINAL)
            assert done.queue_status is QueueStatus.RETRIES_EXCEEDED
            assert done.attempts == 2
            assert done.device_status is DeviceStatus.BUSY

    run(body())


def test_permanent_failure_is_not_retried(tmp_path: Path, fax_tiff: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path, "[settings]\nretries = 5\n") as svc:
            (job,) = await submit(svc, fax_tiff, "9003")  # bad address
            done = await wait_status(svc, job.job_id, *FINAL)
            assert done.queue_status is QueueStatus.FAILED
            assert done.last_failure is FailureClass.BAD_ADDRESS
            assert done.attempts == 1

    run(body())


def test_discount_period_holds_the_job_until_it_starts(tmp_path: Path, fax_tiff: Path) -> None:
    clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))

    async def body() -> None:
        toml = '[settings]\nstart_cheap_time = "20:00"\nstop_cheap_time = "07:00"\n'
        async with running_service(tmp_path, toml, clock=clock) as svc:
            (job,) = await submit(svc, fax_tiff, "555", schedule_action="discount_period")
            await svc.dispatcher.plan_once()
            assert provider_of(svc).calls == []
            assert (await svc.get_job(job.job_id)).queue_status is QueueStatus.PENDING
            clock.set(datetime(2026, 1, 5, 19, 59, tzinfo=UTC))
            await svc.dispatcher.plan_once()
            assert provider_of(svc).calls == []
            clock.set(datetime(2026, 1, 5, 20, 0, tzinfo=UTC))
            svc.wake()
            done = await wait_status(svc, job.job_id, *FINAL)
            assert done.queue_status is QueueStatus.COMPLETED
            assert done.started_at == datetime(2026, 1, 5, 20, 0, tzinfo=UTC)

    run(body())


def test_specific_time(tmp_path: Path, fax_tiff: Path) -> None:
    clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))

    async def body() -> None:
        async with running_service(tmp_path, clock=clock) as svc:
            (job,) = await submit(
                svc,
                fax_tiff,
                "555",
                schedule_action="specific_time",
                schedule_time="2026-01-05T12:30:00+02:00",
            )
            await svc.dispatcher.plan_once()
            assert provider_of(svc).calls == []
            clock.set(datetime(2026, 1, 5, 10, 30, tzinfo=UTC))
            svc.wake()
            done = await wait_status(svc, job.job_id, *FINAL)
            assert done.queue_status is QueueStatus.COMPLETED

    run(body())


def test_two_jobs_to_one_number_never_at_once(tmp_path: Path, fax_tiff: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path) as svc:
            provider = provider_of(svc)
            provider.gate = asyncio.Event()  # every call stays up until the gate opens
            a, b = await submit(svc, fax_tiff, "555-1", "5551")  # the same number, written twice
            (c,) = await submit(svc, fax_tiff, "777")
            await wait_status(svc, a.job_id, QueueStatus.IN_PROGRESS)
            await wait_status(svc, c.job_id, QueueStatus.IN_PROGRESS)
            await svc.dispatcher.plan_once()
            # Both lines are now busy with a and c; b waits although it was submitted before c.
            assert (await svc.get_job(b.job_id)).queue_status is QueueStatus.PENDING
            provider.gate.set()
            for job in (a, b, c):
                assert (await wait_status(svc, job.job_id, *FINAL)).queue_status is (
                    QueueStatus.COMPLETED
                )
            order = [call["number"] for call in provider.calls]
            assert sorted(order) == ["555-1", "5551", "777"]

    run(body())


def test_the_idle_device_of_highest_priority_is_chosen(tmp_path: Path, fax_tiff: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path) as svc:
            first, second = (p.device_id for p in svc.ports())
            for device_id, prio in ((first, 5), (second, 1)):
                handle = svc.open_port(device_id, PortOpenMode.MODIFY)
                await svc.set_port(device_id, handle, {"priority": prio})
                svc.close_handle(handle)
            (job,) = await submit(svc, fax_tiff, "555")
            done = await wait_status(svc, job.job_id, *FINAL)
            assert done.device_id == second

    run(body())


def test_queue_paused_dispatches_nothing_until_unpaused(tmp_path: Path, fax_tiff: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path, "[settings]\npause_server_queue = true\n") as svc:
            (job,) = await submit(svc, fax_tiff, "555")
            await svc.dispatcher.plan_once()
            assert provider_of(svc).calls == []
            await svc.set_config({"PauseServerQueue": False})
            done = await wait_status(svc, job.job_id, *FINAL)
            assert done.queue_status is QueueStatus.COMPLETED

    run(body())


def test_a_send_only_port_is_used_and_a_disabled_one_is_not(tmp_path: Path, fax_tiff: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path) as svc:
            first, second = (p.device_id for p in svc.ports())
            handle = svc.open_port(first, PortOpenMode.MODIFY)
            await svc.set_port(first, handle, {"flags": ["receive"]})
            jobs = await submit(svc, fax_tiff, "555", "556", "557")
            for job in jobs:
                done = await wait_status(svc, job.job_id, *FINAL)
                assert done.device_id == second
            await wait_until(svc, lambda: not svc.dispatcher.active_calls, what="lines idle")

    run(body())


def test_branding_header_fits_the_engine_whatever_the_names(tmp_path: Path, fax_tiff: Path) -> None:
    """A long or non-ASCII sender name must not fail the send: spandsp takes at most 50
    printable ASCII characters of header text (the header used to exceed it and every send
    failed as an internal error)."""

    async def body() -> None:
        async with running_service(tmp_path) as svc:
            long_name = "Dr. Jürgen Müller-Lüdenscheidt, Ärztehaus am Schloßpark — Praxis 3"
            (job,) = await submit(svc, fax_tiff, "555 98-76", sender_name=long_name)
            done = await wait_status(svc, job.job_id, *FINAL)
            assert done.queue_status is QueueStatus.COMPLETED
            header = provider_of(svc).calls[0]["header"] or ""
            assert 0 < len(header) <= 50
            assert all(0x20 <= ord(c) < 0x7F for c in header)
            assert header.startswith("FROM: Dr. Jurgen Muller-Ludenscheidt")
            # The engine, which refused the old header, accepts this one.
            assert SessionOptions(page_header=header).page_header == header

    run(body())
