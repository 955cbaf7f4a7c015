"""One request cannot fill the disk (issue #14, item 5): with cover pages the body of a
broadcast is stored once and each recipient's cover page apart, joined only when the line
(or a download, or the archive) needs the whole fax; recipients x pages and the spool's size
are bounded, with a 507 giving the figures. Real conversions, real calls on virtual lines."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from tests.providers.helpers import tiff_pixels
from tests.support.faxes import make_fax_tiff
from tests.support.inproc import run, running_service, wait_status

from lanfax.model.codes import QueueStatus
from lanfax.model.errors import InsufficientStorage
from lanfax.model.jobs import Job
from lanfax.service.core import FaxService
from lanfax.service.submit import parse_submission

FINAL = (QueueStatus.COMPLETED, QueueStatus.FAILED, QueueStatus.RETRIES_EXCEEDED)


def _toml(tmp_path: Path, net: str, server: str = "") -> str:
    robot = tmp_path / "robot"
    robot.mkdir(exist_ok=True)
    return f"""
[server]
{server}
[settings]
branding = false
[[providers]]
type = "virtual"
network = "{net}"
robot_dir = "{robot}"
lines = [{{ number = "100" }}, {{ number = "101" }}]
"""


@pytest.fixture(scope="module")
def body(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fax_tiff(tmp_path_factory.mktemp("body"), pages=4)


async def _submit(svc: FaxService, doc: Path, numbers: list[str], **extra: object) -> list[Job]:
    stage = svc.spool.new_stage()
    staged = stage / "000"
    staged.write_bytes(doc.read_bytes())
    params = {"recipients": [{"recipient_number": n} for n in numbers], **extra}
    _, jobs = await svc.submit(parse_submission(params), [staged], stage_dir=stage)
    return jobs


def _docs_bytes(svc: FaxService) -> int:
    return sum(p.stat().st_size for p in svc.spool.docs.iterdir())


def test_a_cover_page_broadcast_stores_the_body_once(tmp_path: Path, body: Path) -> None:
    async def body_() -> None:
        async with running_service(tmp_path, _toml(tmp_path, "bounds-cover")) as svc:
            await svc.set_config({"pause_server_queue": True})
            jobs = await _submit(svc, body, ["*30"] * 6, cover_page={"subject": "Hello"})
            files = sorted(svc.spool.docs.iterdir())
            # One body, six one-page covers; no copy of the body per recipient.
            assert len(files) == 7, files
            body_size = body.stat().st_size
            assert _docs_bytes(svc) < 2 * body_size + 6 * 40_000
            assert all(j.page_count == 5 for j in jobs)
            # The whole fax of one job, as a download gives it: its cover, then the body.
            whole = await svc.job_document(jobs[0].job_id)
            pages = tiff_pixels(whole)
            assert len(pages) == 5
            for got, want in zip(pages[1:], tiff_pixels(body), strict=True):
                assert np.array_equal(got, want)
            whole.unlink()
            # Sent: the robot at the far end receives cover + body, five pages.
            await svc.set_config({"pause_server_queue": False})
            for job in jobs:
                done = await wait_status(svc, job.job_id, *FINAL, timeout=120)
                assert done.queue_status is QueueStatus.COMPLETED and done.pages_done == 5
            received = sorted((tmp_path / "robot").glob("robot-*.tif"))
            assert len(received) == 6
            assert all(len(tiff_pixels(r)) == 5 for r in received)
            assert not list(svc.spool.tmp.glob("send-*"))  # the joined files are gone
            # Deleting the jobs removes the covers, and the body with the last one.
            for job in jobs[:-1]:
                await svc.delete(job.job_id)
            assert len(list(svc.spool.docs.iterdir())) == 2
            await svc.delete(jobs[-1].job_id)
            assert list(svc.spool.docs.iterdir()) == []

    run(body_(), timeout=300)


def test_recipients_times_pages_is_bounded(tmp_path: Path, body: Path) -> None:
    async def body_() -> None:
        toml = _toml(tmp_path, "bounds-rp", "max_recipient_pages = 30")
        async with running_service(tmp_path, toml) as svc:
            await svc.set_config({"pause_server_queue": True})
            with pytest.raises(InsufficientStorage) as caught:
                await _submit(svc, body, ["555"] * 7, cover_page={})
            err = caught.value
            assert err.http_status == 507
            assert "7 recipient(s) x 5 page(s) is 35 pages" in err.message
            assert "server.max_recipient_pages" in err.message
            assert list(svc.spool.docs.iterdir()) == []
            assert len(await _submit(svc, body, ["555"] * 6)) == 6  # 24 pages: fine

    run(body_(), timeout=120)


def test_the_spool_size_is_bounded(tmp_path: Path, body: Path) -> None:
    async def body_() -> None:
        toml = _toml(tmp_path, "bounds-spool", "max_spool_mb = 1")
        async with running_service(tmp_path, toml) as svc:
            await svc.set_config({"pause_server_queue": True})
            big = tmp_path / "big.txt"
            big.write_bytes(b"x" * (1100 * 1024))  # staged size counts before conversion
            await _submit(svc, body, ["555"])
            before = sorted(svc.spool.docs.iterdir())
            with pytest.raises(InsufficientStorage) as caught:
                await _submit(svc, big, ["555"])
            assert caught.value.http_status == 507
            assert "of the 1 MB allowed (server.max_spool_mb)" in caught.value.message
            assert sorted(svc.spool.docs.iterdir()) == before
            assert not list(svc.spool.tmp.iterdir())

    run(body_(), timeout=120)


def test_507_reaches_the_http_client_as_problem_json(tmp_path: Path) -> None:
    """The error type is mapped once: 507 insufficient-storage."""
    err = InsufficientStorage("full", hint="free space")
    problem = err.to_problem()
    assert problem["status"] == 507 and problem["type"].endswith("insufficient-storage")
    asyncio.run(asyncio.sleep(0))
