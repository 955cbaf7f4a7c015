"""Job control: pause, resume, cancel (also of a call in progress), restart, delete."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.support.inproc import (
    provider_of,
    run,
    running_service,
    submit,
    wait_job,
    wait_status,
)

from lanfax.model.codes import DeviceStatus, EventId, QueueStatus
from lanfax.model.errors import Conflict, NotFound

PAUSED_QUEUE = "[settings]\npause_server_queue = true\n"


def test_pause_resume_cancel_a_queued_job(tmp_path: Path, fax_tiff: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path, PAUSED_QUEUE) as svc:
            (job,) = await submit(svc, fax_tiff, "555")
            paused = await svc.pause(job.job_id)
            assert paused.queue_status is QueueStatus.PAUSED
            # A paused job is not sent even when the queue runs.
            await svc.set_config({"pause_server_queue": False})
            await svc.dispatcher.plan_once()
            assert provider_of(svc).calls == []
            await svc.set_config({"pause_server_queue": True})
            resumed = await svc.resume(job.job_id)
            assert resumed.queue_status is QueueStatus.PENDING
            canceled = await svc.cancel(job.job_id)
            assert canceled.queue_status is QueueStatus.CANCELED
            with pytest.raises(Conflict, match="canceled"):
                await svc.pause(job.job_id)
            with pytest.raises(Conflict):
                await svc.resume(job.job_id)
            await svc.delete(job.job_id)
            with pytest.raises(NotFound):
                await svc.get_job(job.job_id)
            kinds = [ev.event_id for ev in await svc.events_after(0) if ev.job_id == job.job_id]
            assert kinds[0] is EventId.JOB_QUEUED and kinds[-1] is EventId.DELETED
            assert kinds.count(EventId.JOB_CHANGED) == 3  # pause, resume, cancel

    run(body())


def test_resume_of_a_job_paused_while_retrying_keeps_its_delay(
    tmp_path: Path, fax_tiff: Path
) -> None:
    async def body() -> None:
        async with running_service(tmp_path) as svc:
            (job,) = await submit(svc, fax_tiff, "9001")
            retrying = await wait_status(svc, job.job_id, QueueStatus.RETRYING)
            await svc.pause(job.job_id)
            resumed = await svc.resume(job.job_id)
            assert resumed.queue_status is QueueStatus.RETRYING
            assert resumed.next_attempt_at == retrying.next_attempt_at

    run(body())


def test_cancel_aborts_the_call_in_progress(tmp_path: Path, fax_tiff: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path) as svc:
            (job,) = await submit(svc, fax_tiff, "9009600000")  # a ten-minute call
            await wait_job(svc, job.job_id, lambda j: j.device_status is DeviceStatus.SENDING)
            with pytest.raises(Conflict, match="in_progress"):
                await svc.pause(job.job_id)
            await svc.cancel(job.job_id)
            done = await wait_status(svc, job.job_id, QueueStatus.CANCELED)
            assert done.completed_at is not None
            assert [c["status"] for c in provider_of(svc).calls] == ["user_abort"]
            # The line is free again.
            await wait_job(svc, job.job_id, lambda j: not svc.dispatcher.active_calls)

    run(body())


def test_restart_a_failed_job(tmp_path: Path, fax_tiff: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path) as svc:
            (job,) = await submit(svc, fax_tiff, "9003")
            failed = await wait_status(svc, job.job_id, QueueStatus.FAILED)
            assert failed.attempts == 1
            with pytest.raises(Conflict, match=r"finished|failed"):
                await svc.cancel(job.job_id)
            await svc.set_config({"pause_server_queue": True})
            restarted = await svc.restart(job.job_id)
            assert restarted.queue_status is QueueStatus.PENDING
            assert restarted.attempts == 0
            assert restarted.last_failure is None
            with pytest.raises(Conflict, match="pending"):
                await svc.restart(job.job_id)
            with pytest.raises(Conflict, match="finished"):
                await svc.delete(job.job_id)

    run(body())


def test_control_of_unknown_job_is_not_found(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path) as svc:
            for action in (svc.pause, svc.resume, svc.cancel, svc.restart, svc.delete):
                with pytest.raises(NotFound):
                    await action(424242)

    run(body())


def test_stop_aborts_calls_and_recovery_counts_them(tmp_path: Path, fax_tiff: Path) -> None:
    """A clean stop during a call: the call is aborted; the job is retried after restart."""

    async def body() -> None:
        async with running_service(tmp_path) as svc:
            (job,) = await submit(svc, fax_tiff, "9009600000")
            await wait_status(svc, job.job_id, QueueStatus.IN_PROGRESS)
        async with running_service(tmp_path, PAUSED_QUEUE) as svc:
            after = await svc.get_job(job.job_id)
            assert after.queue_status is not QueueStatus.IN_PROGRESS
            assert after.queue_status is not QueueStatus.COMPLETED
            assert after.attempts == 1

    run(body())


def test_many_jobs_all_finish(tmp_path: Path, fax_tiff: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path) as svc:
            jobs = await submit(svc, fax_tiff, *[f"5{n:03d}" for n in range(30)])
            assert len({j.broadcast_id for j in jobs}) == 1
            assert len({j.document_path for j in jobs}) == 1
            results = await asyncio.gather(
                *(wait_status(svc, j.job_id, QueueStatus.COMPLETED, timeout=20) for j in jobs)
            )
            assert all(r.attempts == 1 for r in results)
            assert len(provider_of(svc).calls) == 30

    run(body())
