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
from collections.abc import Sequence
from pathlib import Path

import pytest
from tests.support.held import VIRTUAL, Forgetful, held_first
from tests.support.inproc import run, running_service, set_line, submit, wait_status

from lanfax.model.codes import EventId, JobType, QueueStatus
from lanfax.model.events import NewEvent
from lanfax.store.api import JobQuery


def _receiving(events: Sequence[NewEvent]) -> bool:
    return any(e.event_id is EventId.RECEIVING for e in events)


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
            forgetful = Forgetful(svc.devices.providers[0][1], "receive")
            forgetful.install()
            # The pipeline's store write of FEI_RECEIVING (in a worker thread) is between
            # start_job and receive.
            async with held_first(svc.ctx.store, "append_events", _receiving) as window:
                (job,) = await submit(svc, fax_tiff, receiver)
                await asyncio.wait_for(window.entered.wait(), 60)
                dev = svc.devices.devices[rx_device]
                (rx_id,) = [e.job_id for e in window.asked[0] if e.event_id is EventId.RECEIVING]
                assert dev.job_id == rx_id and dev.handle is not None, "start_job not returned"
                assert dev.live.job_type is JobType.RECEIVE

                stopping = asyncio.create_task(svc.inbound.stop())
                for _ in range(10):  # an abort the old code sent would be on its way now
                    await asyncio.sleep(0)
                assert not stopping.done(), "stop() returned with the receive not ended"
                window.open()
                await asyncio.wait_for(stopping, 60)

            assert forgetful.begun == set(), "the call was answered after the stop"
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
            assert forgetful.begun == set()

    run(body(), timeout=180)
