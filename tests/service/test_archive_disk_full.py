"""The archive's disk fills (issue #14, item 6), on a real small filesystem: a 4 MB tmpfs
mounted as ArchiveDirectory (tests/support/smallfs.py; skipped where mounting is not allowed),
filled and emptied by the test while a service sends faxes from 200 to 201.

* The jobs complete all the same, the service keeps serving, and the error is clear: logged
  once per condition, and shown in the archive's state (``backlog`` of ``/archive/config``).
* Nothing is lost: the faxes wait and are archived by themselves once space is back (the retry
  timer), and a fax still waiting when the service stops is caught up at the next start, even
  days later (the backlog's mark), exactly once.
* A failed copy leaves no partial file behind to hold the space it took.
* A job whose fax waits for the archive cannot be deleted meanwhile (409): its file is the
  only copy the archive is waiting for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from tests.support.inproc import run, running_service, set_line, submit, wait_status
from tests.support.smallfs import small_fs

from lanfax.api.app import create_app
from lanfax.model.clock import ManualClock
from lanfax.model.codes import QueueStatus
from lanfax.model.errors import Conflict
from lanfax.service.core import FaxService
from lanfax.store.archive import ArchiveQuery

BACKLOG_NAMESPACE = "archive_backlog"  # lanfax.service.archive.BACKLOG_NAMESPACE


def _toml(archive_dir: Path) -> str:
    return f"""
[settings]
archive_outgoing_faxes = true
archive_directory = "{archive_dir}"
[security]
authentication = false
"""


async def _fax(svc: FaxService, tiff: Path) -> tuple[int, int]:
    """Send 200 -> 201; both jobs complete; returns (send job, receive job)."""
    (job,) = await submit(svc, tiff, "201")
    sent = await wait_status(svc, job.job_id, QueueStatus.COMPLETED, timeout=30)
    rx = await wait_status(svc, sent.job_id + 1, QueueStatus.COMPLETED, timeout=30)
    return sent.job_id, rx.job_id


async def _eventually(cond: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """The archive's retries publish no event: poll the condition, bounded by a timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} never happened")
        await asyncio.sleep(0.05)


async def _archived(svc: FaxService) -> dict[str, list[int]]:
    out = {}
    for d in ("incoming", "outgoing"):
        entries, _ = await svc.archiver.search(ArchiveQuery(d))
        out[d] = sorted(e.job_id for e in entries)
        for e in entries:
            assert Path(e.path).stat().st_size == e.size > 0
    return out


def _parts(archive_dir: Path) -> list[Path]:
    return [p for p in archive_dir.rglob("*.part")]


def test_a_full_archive_disk_loses_nothing_and_catches_up(
    tmp_path: Path, fax_tiff_3: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
    archive_dir = tmp_path / "faxarchive"
    caplog.set_level(logging.WARNING, logger="lanfax.init")

    def full_errors() -> list[str]:
        return [
            r.getMessage()
            for r in caplog.records
            if r.levelno == logging.ERROR and "archive's disk is full" in r.getMessage()
        ]

    async def body() -> None:
        with small_fs(archive_dir, "4m") as fs:
            async with running_service(tmp_path, _toml(archive_dir), clock=clock) as svc:
                svc.archiver.retry_every = 0.3
                await set_line(svc, "201", ["receive"], rings=1)
                fs.fill()
                # Two faxes while the disk is full: both jobs complete, the service serves.
                tx1, rx1 = await _fax(svc, fax_tiff_3)
                tx2, rx2 = await _fax(svc, fax_tiff_3)
                await svc.archiver.idle()
                state = svc.archiver.get_policies()["backlog"]
                assert state["waiting"] == {"incoming": 2, "outgoing": 2}, state
                assert "archive's disk is full" in state["error"], state
                assert str(archive_dir) in state["error"]
                assert state["since"] is not None
                # The same through the API (GET /archive/config), as an administrator sees it.
                transport = httpx.ASGITransport(app=create_app(svc), client=("127.0.0.1", 5000))
                async with httpx.AsyncClient(transport=transport, base_url="http://lanfax") as c:
                    r = await c.get("/api/v1/archive/config")
                assert r.status_code == 200, r.text
                wire = r.json()["backlog"]
                assert wire["waiting"] == {"incoming": 2, "outgoing": 2}, wire
                assert "archive's disk is full" in wire["error"] and wire["since"], wire
                assert await _archived(svc) == {"incoming": [], "outgoing": []}
                assert _parts(archive_dir) == []  # no partial copy keeps the space
                # Once per condition, not once per fax or per retry.
                await asyncio.sleep(4 * svc.archiver.retry_every)
                assert len(full_errors()) == 1, full_errors()
                assert (await svc.get_job(tx1)).queue_status is QueueStatus.COMPLETED
                assert (await svc.get_job(rx2)).queue_status is QueueStatus.COMPLETED
                # Its file is the archive's only copy: the job is not deleted meanwhile.
                with pytest.raises(Conflict, match="waits to be archived") as refused:
                    await svc.delete(rx1)
                assert refused.value.hint and "archive" in refused.value.hint
                assert (await svc.get_job(rx1)).document_path

                # Space is back: the retry archives them all, once.
                fs.empty()
                await _eventually(
                    lambda: not any(svc.archiver.get_policies()["backlog"]["waiting"].values()),
                    "the backlog drained",
                )
                assert await _archived(svc) == {"incoming": [rx1, rx2], "outgoing": [tx1, tx2]}
                await svc.delete(rx1)  # archived: the job may go, its archive entry stays
                assert await _archived(svc) == {"incoming": [rx1, rx2], "outgoing": [tx1, tx2]}
                state = svc.archiver.get_policies()["backlog"]
                assert state["error"] is None and state["since"] is None, state
                assert await svc.ctx.get_settings(BACKLOG_NAMESPACE) == {}
                assert any("archive caught up" in r.getMessage() for r in caplog.records)

                # Full again, and the service stops with a fax still waiting.
                fs.fill()
                tx3, rx3 = await _fax(svc, fax_tiff_3)
                await svc.archiver.idle()
                assert svc.archiver.get_policies()["backlog"]["waiting"]["incoming"] == 1
                assert "since" in await svc.ctx.get_settings(BACKLOG_NAMESPACE)
            # Three days later (beyond the start-up catch-up's one day), with room again.
            clock.advance(timedelta(days=3))
            fs.empty()
            async with running_service(tmp_path, _toml(archive_dir), clock=clock) as svc:
                await svc.archiver.idle()
                assert await _archived(svc) == {
                    "incoming": [rx1, rx2, rx3],
                    "outgoing": [tx1, tx2, tx3],
                }
                assert svc.archiver.get_policies()["backlog"]["since"] is None
                assert await svc.ctx.get_settings(BACKLOG_NAMESPACE) == {}
                assert _parts(archive_dir) == []

    run(body(), timeout=150)
