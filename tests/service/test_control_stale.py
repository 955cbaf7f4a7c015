"""Job control acting on a stale copy of a job: the transitions table is checked by the store
against the job as committed, so a copy that says "pending" cannot pause a job on the line
or restart one that was delivered meanwhile (#17 item 3)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.support.inproc import provider_of, run, running_service, submit, wait_status

from lanfax.model.codes import QueueStatus
from lanfax.model.errors import Conflict

FINAL = (QueueStatus.COMPLETED, QueueStatus.FAILED, QueueStatus.RETRIES_EXCEEDED)


def test_a_stale_copy_cannot_pause_a_job_on_the_line(tmp_path: Path, fax_tiff: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path) as svc:
            provider = provider_of(svc)
            provider.gate = asyncio.Event()  # the call stays up until the gate opens
            (stale,) = await submit(svc, fax_tiff, "555")
            assert stale.queue_status is QueueStatus.PENDING
            await wait_status(svc, stale.job_id, QueueStatus.IN_PROGRESS)
            with pytest.raises(Conflict) as info:
                await svc.control.pause(stale)
            assert "in_progress" in info.value.message and "paused" in info.value.message
            assert (await svc.get_job(stale.job_id)).queue_status is QueueStatus.IN_PROGRESS
            provider.gate.set()
            done = await wait_status(svc, stale.job_id, *FINAL)
            assert done.queue_status is QueueStatus.COMPLETED and "paused_from" not in done.extra

    run(body())


def test_a_stale_copy_cannot_restart_a_delivered_job(tmp_path: Path, fax_tiff: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path) as svc:
            (job,) = await submit(svc, fax_tiff, "555")
            done = await wait_status(svc, job.job_id, *FINAL)
            assert done.queue_status is QueueStatus.COMPLETED
            # A copy from before, as a client that read it as failed would hold.
            stale = done.replace(queue_status=QueueStatus.FAILED)
            with pytest.raises(Conflict) as info:
                await svc.control.restart(stale)
            assert "completed" in info.value.message
            assert await svc.get_job(job.job_id) == done
            assert len(provider_of(svc).calls) == 1

    run(body())


def test_a_stale_copy_cancels_the_call_it_did_not_know_of(tmp_path: Path, fax_tiff: Path) -> None:
    """Cancel from a "pending" copy of a job that is on the line: the store refuses CANCEL
    there, and job control tries again from the job as it is (ABORT, then CANCELED)."""

    async def body() -> None:
        async with running_service(tmp_path) as svc:
            provider = provider_of(svc)
            provider.gate = asyncio.Event()
            (stale,) = await submit(svc, fax_tiff, "555")
            await wait_status(svc, stale.job_id, QueueStatus.IN_PROGRESS)
            canceling = await svc.control.cancel(stale)
            assert canceling.queue_status is QueueStatus.CANCELING
            done = await wait_status(svc, stale.job_id, QueueStatus.CANCELED, timeout=30)
            assert done.status_text == "canceled during the call"
            assert [c["status"] for c in provider.calls] == ["user_abort"]

    run(body(), timeout=60)
