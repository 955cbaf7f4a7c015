"""Nothing sent twice (issue #14, items 1, 3, 4): page progress committed as the far end
confirms each page, retries that start after the last confirmed page, an outcome that is
written however long the store fails, and no hot loop on an incurable job.

Real spandsp calls on virtual lines, with a ManualClock to jump the retry delay.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.providers.helpers import tiff_pixels
from tests.support.faxes import make_fax_tiff
from tests.support.inproc import run, running_service, set_line, submit, wait_job, wait_status
from tests.support.smallfs import small_fs

from lanfax.model.clock import ManualClock
from lanfax.model.codes import JobType, QueueStatus
from lanfax.model.errors import InsufficientStorage
from lanfax.model.jobs import Job
from lanfax.service.core import FaxService
from lanfax.store.api import JobQuery

FINAL = (
    QueueStatus.COMPLETED,
    QueueStatus.FAILED,
    QueueStatus.RETRIES_EXCEEDED,
    QueueStatus.CANCELED,
)

VIRTUAL = """
[settings]
retries = 5
retry_delay = 1
branding = false
[[providers]]
type = "virtual"
network = "{net}"
lines = [{{ number = "100" }}, {{ number = "101" }}]
"""


@pytest.fixture(scope="module")
def five_pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five pages that differ from each other ("lanfax test page N of 5")."""
    return make_fax_tiff(tmp_path_factory.mktemp("five"), pages=5)


async def _received(svc: FaxService) -> list[Job]:
    jobs = await svc.list_jobs(JobQuery())
    return [j for j in jobs if j.job_type in (JobType.RECEIVE, JobType.FAIL_RECEIVE)]


def _page_origins(svc: FaxService, source: Path, jobs: list[Job]) -> list[int]:
    """For every page line 101 stored, in order, which page of ``source`` it is (1-based)."""
    pages = tiff_pixels(source)
    out: list[int] = []
    for job in sorted(jobs, key=lambda j: j.job_id):
        assert job.document_path, job
        for got in tiff_pixels(svc.spool.resolve(job.document_path)):
            same = [
                n
                for n, page in enumerate(pages, 1)
                if page.shape == got.shape and np.array_equal(page, got)
            ]
            assert len(same) == 1, f"a page of job {job.job_id} matches pages {same}"
            out.append(same[0])
    return out


def test_a_dropping_line_gets_every_page_exactly_once(tmp_path: Path, five_pages: Path) -> None:
    """``*312#101`` drops the line once 101 stored (and the caller heard confirmed) page 2 of
    each call. Resending from page 1 it could never complete; resuming after the last
    confirmed page it completes on the third call, and 101 holds pages 1-5 once each."""
    clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))

    async def body() -> None:
        toml = VIRTUAL.format(net="progress-drop")
        async with running_service(tmp_path, toml, clock=clock) as svc:
            await set_line(svc, "101", ["receive"])
            (job,) = await submit(svc, five_pages, "*312#101")
            seen: list[tuple[QueueStatus, int]] = []
            for _attempt in range(6):
                done = await wait_status(svc, job.job_id, QueueStatus.RETRYING, *FINAL, timeout=120)
                seen.append((done.queue_status, done.pages_done))
                if done.queue_status in FINAL:
                    break

                async def lines_idle() -> None:
                    # Line 101 finishes recording its receive after the sender hung up; a
                    # retry before that would find it busy (a fair outcome, not this test's).
                    while any(d.busy for d in svc.devices.devices.values()):
                        await asyncio.sleep(0.02)

                await asyncio.wait_for(lines_idle(), 30)
                clock.advance(61)
                svc.wake()
                await wait_job(
                    svc, job.job_id, lambda j: j.queue_status is not QueueStatus.RETRYING, 60
                )
            assert done.queue_status is QueueStatus.COMPLETED, (done, seen)
            assert done.attempts == 3, seen
            assert done.pages_done == 5
            assert seen == [
                (QueueStatus.RETRYING, 2),
                (QueueStatus.RETRYING, 4),
                (QueueStatus.COMPLETED, 5),
            ]
            assert done.extra["last_call"]["first_page"] == 5

            async def three_receives() -> list[Job]:
                while True:
                    rx = await _received(svc)
                    if len(rx) == 3 and all(
                        j.queue_status is not QueueStatus.IN_PROGRESS for j in rx
                    ):
                        return rx
                    await asyncio.sleep(0.05)

            rx = await asyncio.wait_for(three_receives(), 30)
            assert [j.page_count for j in sorted(rx, key=lambda j: j.job_id)] == [2, 2, 1]
            assert _page_origins(svc, five_pages, rx) == [1, 2, 3, 4, 5]

    run(body(), timeout=400)


def test_progress_is_committed_page_by_page(tmp_path: Path, five_pages: Path) -> None:
    """While the call goes on, the job's pages_done follows the pages the far end confirmed
    (so a crash mid-call loses none of them)."""

    async def body() -> None:
        toml = VIRTUAL.format(net="progress-commit")
        async with running_service(tmp_path, toml) as svc:
            await set_line(svc, "101", ["receive"])
            seen: list[int] = []

            def note(jobs: Any) -> None:
                # Every committed change of a job passes here (the in-memory copy's listener).
                for j in jobs:
                    if j.job_id == job_id[0] and j.queue_status is QueueStatus.IN_PROGRESS:
                        seen.append(j.pages_done)

            job_id = [0]
            svc.ctx.on_jobs_changed(note)
            (job,) = await submit(svc, five_pages, "101")
            job_id[0] = job.job_id
            done = await wait_status(svc, job.job_id, *FINAL, timeout=120)
            assert done.queue_status is QueueStatus.COMPLETED and done.pages_done == 5
            # Committed while IN_PROGRESS, in order. Pages confirmed while a write is under
            # way are coalesced into the next write, so not every number need appear.
            assert seen == sorted(seen), seen
            assert any(0 < n < 5 for n in seen), seen
            stored = await svc.ctx.run(svc.ctx.store.get_job, job.job_id)
            assert stored is not None and stored.pages_done == 5

    run(body(), timeout=200)


def test_a_job_whose_last_page_was_confirmed_is_not_dialled_again(
    tmp_path: Path, five_pages: Path
) -> None:
    """The service died after the far end confirmed the last page, before the outcome was
    written: at the next start the job is COMPLETED, and nothing is dialled."""

    async def body() -> None:
        toml = VIRTUAL.format(net="progress-restart")
        async with running_service(tmp_path, toml) as svc:
            await set_line(svc, "101", ["receive"])
            await svc.set_config({"pause_server_queue": True})
            (job,) = await submit(svc, five_pages, "101")
            # What a crash right after the last MCF leaves in the store.
            await svc.ctx.run(
                svc.ctx.store.update_jobs,
                [_in_progress(job, pages_done=5)],
            )
        async with running_service(tmp_path, toml) as svc:
            done = await svc.get_job(job.job_id)
            assert done.queue_status is QueueStatus.COMPLETED, done
            assert done.pages_done == 5 and done.attempts == 1
            assert await _received(svc) == []

    run(body(), timeout=120)


def test_a_partly_sent_job_resumes_after_a_restart(tmp_path: Path, five_pages: Path) -> None:
    """Killed after 3 confirmed pages: the retry sends pages 4 and 5 only."""
    clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))

    async def body() -> None:
        toml = VIRTUAL.format(net="progress-resume")
        async with running_service(tmp_path, toml, clock=clock) as svc:
            await set_line(svc, "101", ["receive"])
            await svc.set_config({"pause_server_queue": True})
            (job,) = await submit(svc, five_pages, "101")
            await svc.ctx.run(svc.ctx.store.update_jobs, [_in_progress(job, pages_done=3)])
        async with running_service(tmp_path, toml, clock=clock) as svc:
            await set_line(svc, "101", ["receive"])
            after = await svc.get_job(job.job_id)
            assert after.queue_status is QueueStatus.RETRYING and after.pages_done == 3
            await svc.set_config({"pause_server_queue": False})
            clock.advance(61)
            svc.wake()
            done = await wait_status(svc, job.job_id, *FINAL, timeout=120)
            assert done.queue_status is QueueStatus.COMPLETED and done.pages_done == 5
            assert done.extra["last_call"]["first_page"] == 4

            async def one_receive() -> list[Job]:
                while True:
                    rx = [j for j in await _received(svc) if j.queue_status in FINAL]
                    if rx:
                        return rx
                    await asyncio.sleep(0.05)

            rx = await asyncio.wait_for(one_receive(), 30)
            assert _page_origins(svc, five_pages, rx) == [4, 5]

    run(body(), timeout=200)


def _in_progress(job: Job, *, pages_done: int) -> Any:
    from lanfax.model.transitions import JobPatch, Trigger
    from lanfax.store.api import JobChange

    return JobChange(
        job.job_id,
        Trigger.DISPATCH,  # to IN_PROGRESS
        JobPatch(
            device_id=1,
            started_at=datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
            pages_done=pages_done,
        ),
    )


def test_an_outcome_is_written_however_long_the_store_fails(
    tmp_path: Path, five_pages: Path
) -> None:
    """The database's disk (a real 8 MB tmpfs) fills up as the call starts: the outcome of
    the call cannot be committed. The dispatcher tries again with a growing delay, never
    dials the job again meanwhile (the robot far end counts the calls), and the outcome
    lands once space is back."""
    with small_fs(tmp_path / "dbfs") as fs:

        async def body() -> None:
            robot = tmp_path / "robot"
            robot.mkdir()
            toml = VIRTUAL.format(net="progress-finish") + f'robot_dir = "{robot}"\n'
            toml = f'[server]\ndatabase = "sqlite:///{fs.root}/lanfax.db"\n' + toml
            async with running_service(tmp_path, toml) as svc:
                filled: list[int] = []

                def fill_on_start(jobs: Any) -> None:
                    if not filled and any(j.queue_status is QueueStatus.IN_PROGRESS for j in jobs):
                        filled.append(fs.fill())

                svc.ctx.on_jobs_changed(fill_on_start)
                (job,) = await submit(svc, five_pages, "*30")
                condition = f"finish:{job.job_id}"

                async def refused() -> None:
                    while condition not in svc.dispatcher._logged:
                        await asyncio.sleep(0.05)

                await asyncio.wait_for(refused(), 60)
                assert filled
                # Several more tries fail; the job is still on its line, not dialled again.
                await asyncio.sleep(2.0)
                assert svc.dispatcher.is_running(job.job_id)
                assert len(list(robot.glob("robot-*.tif"))) == 1
                # A request meanwhile gets a clear 507, not a 500.
                with pytest.raises(InsufficientStorage, match="database's disk is full"):
                    await svc.set_config({"retries": 7})
                fs.empty()
                done = await wait_status(svc, job.job_id, *FINAL, timeout=60)
                assert done.queue_status is QueueStatus.COMPLETED and done.attempts == 1
                assert done.pages_done == 5
                assert condition not in svc.dispatcher._logged
                assert len(list(robot.glob("robot-*.tif"))) == 1

        run(body(), timeout=200)


def test_a_claim_the_store_refuses_backs_off_and_logs_once(
    tmp_path: Path, five_pages: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The database's disk is full when a job is due: its claim fails. The dispatcher used
    to plan it again every 10 ms, logging a traceback each time; now it holds the job back
    with a growing delay, says so once, and sends it once space is back."""
    clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    with small_fs(tmp_path / "dbfs") as fs:

        async def body() -> None:
            toml = VIRTUAL.format(net="progress-claim")
            toml = f'[server]\ndatabase = "sqlite:///{fs.root}/lanfax.db"\n' + toml
            async with running_service(tmp_path, toml, clock=clock) as svc:
                (job,) = await submit(
                    svc,
                    five_pages,
                    "*30",
                    schedule_action="specific_time",
                    schedule_time="2026-01-05T10:00:00+00:00",
                )
                fs.fill()
                caplog.clear()
                with caplog.at_level(logging.DEBUG, logger="lanfax.outbound"):
                    clock.advance(3601)
                    svc.wake()
                    await asyncio.sleep(3.0)
                    loud = [
                        r
                        for r in caplog.records
                        if r.name == "lanfax.outbound" and r.levelno >= logging.WARNING
                    ]
                    tries = [r for r in caplog.records if "cannot start job" in r.getMessage()]
                assert len(loud) == 1, [r.getMessage() for r in loud]
                assert "cannot start job" in loud[0].getMessage()
                # 0.2 + 0.4 + 0.8 + 1.6 s: a handful of tries in 3 s, not hundreds.
                assert 2 <= len(tries) <= 6, len(tries)
                fs.empty()
                done = await wait_status(svc, job.job_id, *FINAL, timeout=60)
                assert done.queue_status is QueueStatus.COMPLETED and done.attempts == 1

        run(body(), timeout=200)


def test_a_job_whose_document_is_gone_fails_at_once(
    tmp_path: Path, five_pages: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing cures a document that left the spool: the job fails on its first try,
    nothing is dialled, and one line says why (it used to be retried until Retries ran out,
    with a traceback each time)."""

    async def body() -> None:
        robot = tmp_path / "robot"
        robot.mkdir()
        toml = VIRTUAL.format(net="progress-gone") + f'robot_dir = "{robot}"\n'
        async with running_service(tmp_path, toml) as svc:
            await svc.set_config({"pause_server_queue": True})
            (job,) = await submit(svc, five_pages, "*30")
            svc.spool.resolve(job.document_path).unlink()
            with caplog.at_level(logging.INFO, logger="lanfax.outbound"):
                await svc.set_config({"pause_server_queue": False})
                done = await wait_status(svc, job.job_id, *FINAL, timeout=60)
            assert done.queue_status is QueueStatus.FAILED, done
            assert "not in the spool" in done.status_text
            assert not list(robot.glob("robot-*.tif"))
            errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
            assert errors == [], [r.getMessage() for r in errors]

    run(body(), timeout=120)
