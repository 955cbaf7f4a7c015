"""Inbound: ring -> answered after the port's Rings -> RECEIVE job -> fax in inbox/."""

from __future__ import annotations

from pathlib import Path

from tests.support.inproc import run, running_service, set_line, submit, wait_job, wait_status

from lanfax.model.codes import EventId, JobType, QueueStatus
from lanfax.model.jobs import Job
from lanfax.store.api import JobQuery


async def _receive_jobs(svc: object) -> list[Job]:
    from lanfax.service.core import FaxService

    assert isinstance(svc, FaxService)
    kinds = frozenset({JobType.RECEIVE, JobType.FAIL_RECEIVE})
    return await svc.list_jobs(JobQuery(job_types=kinds))


def test_ring_answer_receive_route(tmp_path: Path, fax_tiff_3: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path) as svc:
            receiver = await set_line(svc, "201", ["receive"], rings=3)
            sender = next(p for p in svc.ports() if p.number == "200")
            (job,) = await submit(svc, fax_tiff_3, "201")
            sent = await wait_status(svc, job.job_id, QueueStatus.COMPLETED, QueueStatus.RETRYING)
            assert sent.queue_status is QueueStatus.COMPLETED
            assert sent.device_id == sender.device_id
            rx_id = sent.job_id + 1  # the receive job is the next one created
            rx = await wait_status(svc, rx_id, QueueStatus.COMPLETED)
            rx = await wait_job(svc, rx_id, lambda j: "routed to" in j.status_text)
            assert [j.job_id for j in await _receive_jobs(svc)] == [rx_id]
            assert rx.job_type is JobType.RECEIVE
            assert rx.queue_status is QueueStatus.COMPLETED
            assert rx.device_id == receiver
            assert rx.page_count == 3
            assert rx.remote_ident == sender.tsid  # UseDeviceTsid: the sending line's TSID
            # The caller's name, when the line tells it (a modem's NAME=), stays on the fax.
            assert rx.extra["caller_name"] == f"Line {rx.caller_id}"
            received = svc.spool.resolve(rx.document_path)
            assert received.read_bytes() == fax_tiff_3.read_bytes()
            inbox = list(svc.spool.inbox.glob("*.tif"))
            assert len(inbox) == 1 and inbox[0].read_bytes() == fax_tiff_3.read_bytes()
            assert not list(svc.spool.inbox.glob(".*"))  # no partial copies left behind
            events = [e for e in await svc.events_after(0) if e.device_id == receiver]
            kinds = [e.event_id for e in events]
            answered = kinds.index(EventId.ANSWERED)
            assert kinds[:answered].count(EventId.RINGING) == 3
            assert events[answered].detail["caller_name"] == rx.extra["caller_name"]
            assert EventId.COMPLETED in kinds[answered:]
            # The page data of a received fax is its first page.
            data, width, height = await svc.page_data(rx.job_id)
            assert (width, height) == (1728, 2292) and data[:2] in (b"II", b"MM")

    run(body())


def test_a_port_without_receive_lets_it_ring(tmp_path: Path, fax_tiff: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path) as svc:
            await set_line(svc, "201", [], rings=1)
            (job,) = await submit(svc, fax_tiff, "201")
            done = await wait_status(svc, job.job_id, QueueStatus.RETRYING, QueueStatus.FAILED)
            assert done.status_text.startswith("no answer")
            assert await _receive_jobs(svc) == []
            rings = [e for e in await svc.events_after(0) if e.event_id is EventId.RINGING]
            assert len(rings) >= 2

    run(body())
