"""Recovery at start: interrupted calls are counted and retried, never completed; interrupted
receives keep their pages as FAIL_RECEIVE; staged uploads are removed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tests.support.inproc import run, running_service
from tests.support.stores import open_test_store

from lanfax.model.codes import FailureClass, JobType, QueueStatus
from lanfax.model.jobs import Job


def test_interrupted_jobs_are_settled(tmp_path: Path, fax_tiff: Path) -> None:
    now = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    # A first run creates the data directory and the database.
    run(_noop(tmp_path))
    data = tmp_path / "data"
    store = open_test_store(tmp_path)  # the service's: SQLite, or LANFAX_TEST_STORE's
    store.open()
    send, cancel, recv = store.add_jobs(
        [
            Job(
                0,
                JobType.SEND,
                QueueStatus.IN_PROGRESS,
                now,
                recipient_number="555",
                attempts=1,
                device_id=1,
                started_at=now,
            ),
            Job(
                0,
                JobType.SEND,
                QueueStatus.CANCELING,
                now,
                recipient_number="556",
                device_id=2,
                started_at=now,
            ),
            Job(0, JobType.RECEIVE, QueueStatus.IN_PROGRESS, now, device_id=2, started_at=now),
        ]
    )
    store.close()
    partial = data / "spool" / "received" / f"{recv.job_id}.tif"
    partial.write_bytes(fax_tiff.read_bytes())
    orphan = data / "spool" / "tmp" / "abandoned"
    orphan.mkdir()
    (orphan / "000").write_bytes(b"half an upload")

    async def body() -> None:
        async with running_service(tmp_path, "[settings]\npause_server_queue = true\n") as svc:
            s = await svc.get_job(send.job_id)
            assert s.queue_status is QueueStatus.RETRYING
            assert s.attempts == 2
            assert s.last_failure is FailureClass.DISCONNECTED
            c = await svc.get_job(cancel.job_id)
            assert c.queue_status is QueueStatus.CANCELED
            r = await svc.get_job(recv.job_id)
            assert (r.job_type, r.queue_status) == (JobType.FAIL_RECEIVE, QueueStatus.FAILED)
            assert svc.spool.resolve(r.document_path).read_bytes() == fax_tiff.read_bytes()
            assert not orphan.exists()

    run(body())


async def _noop(tmp_path: Path) -> None:
    async with running_service(tmp_path):
        pass
