"""A line never dials its own number while another line could send the fax (the README's
two-line set-up, over the real virtual lines and real T.30).

With lines 100 and 101 both allowed to send, a fax to 101 submitted while 100 is on a call
used to leave on 101 itself: a sure BUSY and a retry ten minutes later. It waits for 100 now.
Only when no other line may send it (100 receives only) does 101 dial itself, as a real
network would be asked to, and the job's status, its DIALING event and the log say so.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from tests.support.inproc import run, running_service, set_line, submit, wait_status

from lanfax.model.codes import QueueStatus
from lanfax.service.core import FaxService

TWO_LINES = """
[settings]
branding = false
[[providers]]
type = "virtual"
network = "{net}"
lines = [{{ number = "100" }}, {{ number = "101" }}]
"""


def _device(svc: FaxService, number: str) -> int:
    (port,) = [p for p in svc.ports() if p.number == number]
    return port.device_id


def test_a_fax_to_101_while_100_is_busy_waits_for_100(tmp_path: Path, fax_tiff: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path, TWO_LINES.format(net="own-wait")) as svc:
            # 100 (first by device id) takes a call that rings unanswered for 3 s.
            (ringing,) = await submit(svc, fax_tiff, "*11")
            on_call = await wait_status(svc, ringing.job_id, QueueStatus.IN_PROGRESS)
            assert on_call.device_id == _device(svc, "100")
            (job,) = await submit(svc, fax_tiff, "101")
            done = await wait_status(
                svc, job.job_id, QueueStatus.COMPLETED, QueueStatus.RETRYING, timeout=60
            )
            assert done.queue_status is QueueStatus.COMPLETED, done.status_text
            assert done.device_id == _device(svc, "100") and done.attempts == 1
            assert done.last_failure is None
            # The ringing call ended first (no answer): 101 was never dialled from 101.
            first = await svc.get_job(ringing.job_id)
            assert first.started_at is not None and done.started_at is not None
            assert first.started_at <= done.started_at

    run(body(), timeout=120)


def test_101_dials_itself_only_when_no_other_line_may_send(
    tmp_path: Path, fax_tiff: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def body() -> None:
        async with running_service(tmp_path, TWO_LINES.format(net="own-only")) as svc:
            await set_line(svc, "100", ["receive"])
            events = svc.subscribe(svc.ctx.bus.published_seq)
            with caplog.at_level(logging.WARNING, logger="lanfax.outbound"):
                (job,) = await submit(svc, fax_tiff, "101")
                done = await wait_status(
                    svc, job.job_id, QueueStatus.RETRYING, QueueStatus.COMPLETED, timeout=60
                )
            # Dialled as asked (a real network answers BUSY), and said so.
            assert done.queue_status is QueueStatus.RETRYING and done.device_id == _device(
                svc, "101"
            )
            said = [r.getMessage() for r in caplog.records if r.name == "lanfax.outbound"]
            assert any(f"job {job.job_id}: dialing 101 from that line itself" in m for m in said), (
                said
            )
            dialing = None
            while dialing is None:
                event = await anext(events)
                if event.job_id == job.job_id and event.event_id.name == "DIALING":
                    dialing = event
            await events.aclose()
            assert dialing.detail.get("dials_itself") is True

    run(body(), timeout=120)


def test_a_cluster_node_leaves_a_fax_to_its_only_lines_number_to_the_other_nodes(
    tmp_path: Path, fax_tiff: Path
) -> None:
    """#18: with other live nodes sharing the queue, their lines (which this node does not
    see) may send a fax to 101: 101 does not dial itself, the fax waits for them (and a fax
    to another number still leaves on 101). Once this node is alone again, 101 dials itself
    as on one node. (The other nodes are what the heartbeat tells the dispatcher on
    PostgreSQL, ``others_alive``; a node on SQLite, as here, never changes it itself.)"""

    async def body() -> None:
        async with running_service(tmp_path, TWO_LINES.format(net="own-cluster")) as svc:
            await set_line(svc, "100", ["receive"])
            svc.dispatcher.others_alive = True
            (job,) = await submit(svc, fax_tiff, "101")
            (other,) = await submit(svc, fax_tiff, "*30")  # the virtual network's fax robot
            sent = await wait_status(
                svc, other.job_id, QueueStatus.COMPLETED, QueueStatus.RETRYING, timeout=60
            )
            assert sent.queue_status is QueueStatus.COMPLETED and sent.device_id == _device(
                svc, "101"
            )
            waiting = await svc.get_job(job.job_id)
            assert waiting.queue_status is QueueStatus.PENDING and waiting.attempts == 0, waiting
            assert waiting.status_text == ""
            svc.dispatcher.others_alive = False
            svc.ctx.wake()
            done = await wait_status(
                svc, job.job_id, QueueStatus.RETRYING, QueueStatus.COMPLETED, timeout=60
            )
            assert done.queue_status is QueueStatus.RETRYING and done.device_id == _device(
                svc, "101"
            )
            assert done.status_text.startswith("the line was busy") and done.attempts == 1, done

    run(body(), timeout=120)
