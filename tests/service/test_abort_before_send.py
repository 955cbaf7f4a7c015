"""An abort that lands between the dispatcher's ``start_job`` and ``send`` (#19, health (a)).

The provider API's ``abort`` ends "the call in progress"; a provider need not honour an abort
of a job it has only opened, before ``send`` was called (the built-in ones remember it, a
third-party one may not). So the dispatcher holds such an abort and honours it itself: the
call is never dialled, and the provider's ``abort`` is only ever called on a call it has.

The window is held open for real: the dispatcher resolves the job's document in the spool
(a worker thread) between the two calls; the test holds that resolve until its abort (a
person's cancel through the service, the service stopping, a lost lease) has been handled.
The provider is the test provider (and, for a cancel, the real virtual lines too) with an
``abort`` that, like a provider that does not remember it, ignores (and records) an abort of a
handle whose ``send`` has not begun.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.support.held import VIRTUAL, Forgetful, Window, held_first
from tests.support.inproc import (
    run,
    running_service,
    submit,
    wait_status,
    wait_until,
)

from lanfax.model.codes import QueueStatus
from lanfax.model.jobs import Job
from lanfax.service.core import FaxService


@dataclass
class InWindow:
    """A running service whose dispatcher holds ``job`` between ``start_job`` and ``send``."""

    svc: FaxService
    forgetful: Forgetful
    window: Window
    job: Job


@asynccontextmanager
async def a_job_in_the_window(
    tmp_path: Path, fax_tiff: Path, toml_text: str = ""
) -> AsyncIterator[InWindow]:
    """A job to 555 submitted, and the dispatcher held between its ``start_job`` and
    ``send`` (the provider's job is open, the call not handed over)."""
    async with running_service(tmp_path, toml_text) as svc:
        forgetful = Forgetful(svc.devices.providers[0][1])
        forgetful.install()
        # The dispatcher's first resolve in the spool (of the job's document, in a worker
        # thread) is between start_job and send.
        async with held_first(svc.ctx.spool, "resolve") as window:
            (job,) = await submit(svc, fax_tiff, "555")
            await asyncio.wait_for(window.entered.wait(), 60)
            assert window.asked == [job.document_path]
            (dev,) = [d for d in svc.devices.devices.values() if d.job_id == job.job_id]
            assert dev.handle is not None, "start_job has not returned"
            assert svc.dispatcher.is_running(job.job_id)
            yield InWindow(svc, forgetful, window, job)


def _nothing_dialled(forgetful: Forgetful) -> None:
    assert getattr(forgetful.provider, "calls", []) == [], "the call was dialled after its abort"
    assert forgetful.begun == set(), "send was called after the abort"
    assert forgetful.early == [], "the provider was asked to abort a call it did not have"


@pytest.mark.parametrize(
    ("toml_text", "then"),
    [("", "556"), (VIRTUAL, "*30")],  # *30: the virtual network's fax robot
    ids=["test-provider", "virtual-lines"],
)
def test_a_cancel_before_send_is_held_and_nothing_is_dialled(
    tmp_path: Path, fax_tiff: Path, toml_text: str, then: str
) -> None:
    async def body() -> None:
        async with a_job_in_the_window(tmp_path, fax_tiff, toml_text) as held:
            svc, forgetful, window, job = held.svc, held.forgetful, held.window, held.job
            canceling = await svc.cancel(job.job_id)
            assert canceling.queue_status is QueueStatus.CANCELING
            window.open()
            done = await wait_status(
                svc, job.job_id, QueueStatus.CANCELED, QueueStatus.COMPLETED, timeout=60
            )
            assert done.queue_status is QueueStatus.CANCELED
            _nothing_dialled(forgetful)
            assert done.extra["last_call"]["t30_text"] == ""
            # The line is free again and sends the next job.
            (after,) = await submit(svc, fax_tiff, then)
            sent = await wait_status(
                svc, after.job_id, QueueStatus.COMPLETED, QueueStatus.FAILED, timeout=60
            )
            assert sent.queue_status is QueueStatus.COMPLETED, sent.status_text
            assert sent.pages_done == sent.page_count
            assert forgetful.begun and forgetful.early == []

    run(body(), timeout=180)


def test_a_stop_before_send_dials_nothing_and_the_job_is_tried_again(
    tmp_path: Path, fax_tiff: Path
) -> None:
    async def body() -> None:
        async with a_job_in_the_window(tmp_path, fax_tiff) as held:
            svc, forgetful, window, job = held.svc, held.forgetful, held.window, held.job
            stopping = asyncio.create_task(svc.dispatcher.stop(abort_calls=True))
            # The stop reaches its aborts once the planning task has ended.
            deadline = asyncio.get_running_loop().time() + 60
            while svc.dispatcher.planning:
                assert asyncio.get_running_loop().time() < deadline, "planning never ended"
                await asyncio.sleep(0.01)
            for _ in range(10):
                await asyncio.sleep(0)
            assert not stopping.done(), "stop() returned with the call not ended"
            window.open()
            await asyncio.wait_for(stopping, 60)
            _nothing_dialled(forgetful)
            after = await svc.get_job(job.job_id)
            # Aborted by the stop, not by a person: tried again later, neither failed nor
            # canceled, and the attempt counted.
            assert after.queue_status not in (
                QueueStatus.IN_PROGRESS,
                QueueStatus.CANCELED,
                QueueStatus.FAILED,
                QueueStatus.COMPLETED,
            ), after
            assert after.attempts == 1

    run(body(), timeout=180)


def test_a_lease_lost_before_send_dials_nothing(tmp_path: Path, fax_tiff: Path) -> None:
    async def body() -> None:
        async with a_job_in_the_window(tmp_path, fax_tiff) as held:
            svc, forgetful, window, job = held.svc, held.forgetful, held.window, held.job
            svc.dispatcher.lease_lost(job.job_id)
            for _ in range(10):  # an abort task the old code started would run now
                await asyncio.sleep(0)
            window.open()
            await wait_until(
                svc,
                lambda: not svc.dispatcher.is_running(job.job_id),
                timeout=60,
                what="the call's end",
            )
            _nothing_dialled(forgetful)
            # Nothing is written about a call whose lease was lost (the node that took the
            # job over settles it): the committed job is still the claimed one.
            after = await svc.get_job(job.job_id)
            assert after.queue_status is QueueStatus.IN_PROGRESS

    run(body(), timeout=180)
