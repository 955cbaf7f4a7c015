"""An intake worker's share of a submission (#19, lanfax.service.intake) and the seam it uses.

``stage_checked`` writes and checks a fax-ready TIFF into the spool's ``tmp`` without an fsync
(#19 wave 8: main makes a whole group durable at once) and leaves nothing behind for anything
else; a file an intake worker vouched for is taken without a second scan, the file and its
rename made durable by the committer's one ``syncfs`` before the commit, and the jobs are
committed as for any submission. ``sweep`` removes only a dead worker's files.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC
from pathlib import Path

import pytest
from tests.support.faxes import make_fax_tiff
from tests.support.stores import open_test_store

from lanfax.model.clock import SystemClock
from lanfax.service import faxcheck, intake
from lanfax.service import spool as spool_module
from lanfax.service.context import ServiceContext
from lanfax.service.spool import Spool
from lanfax.service.submit import Submitter, parse_submission
from lanfax.store.api import JobQuery


@pytest.fixture
def tiff(tmp_path: Path) -> bytes:
    return make_fax_tiff(tmp_path / "in", pages=2).read_bytes()


def test_a_fax_ready_tiff_is_staged_and_checked_not_fsynced(
    tmp_path: Path, tiff: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def recording(fd: int) -> None:  # recorded, not replaced: the fsync still happens
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording)
    out = tmp_path / "tmp"
    out.mkdir()
    ready = intake.stage_checked(out, tiff, max_pages=10)
    assert ready is not None
    assert ready.path.parent == out
    assert ready.path.name.startswith(f"intake-{os.getpid()}-")
    assert ready.path.read_bytes() == tiff
    assert (ready.pages, ready.size) == (2, len(tiff))
    assert synced == []  # main makes it durable, with the rest of its group (#19 wave 8)
    again = intake.stage_checked(out, tiff, max_pages=10, sync=True)
    assert again is not None
    assert synced == [str(again.path)]


@pytest.mark.parametrize("what", ["text", "cut", "too many pages", "empty"])
def test_anything_else_is_left_to_main_and_leaves_nothing(
    tmp_path: Path, tiff: bytes, what: str
) -> None:
    data = {
        "text": b"hello, not a TIFF",
        "cut": tiff[: len(tiff) // 2],
        "too many pages": tiff,
        "empty": b"",
    }[what]
    out = tmp_path / "tmp"
    out.mkdir()
    assert intake.stage_checked(out, data, max_pages=1) is None
    assert list(out.iterdir()) == []


def test_sweep_removes_only_that_workers_files(tmp_path: Path) -> None:
    for name in ("intake-11-a", "intake-11-b", "intake-111-c", "intake-12-d", "000"):
        (tmp_path / name).write_bytes(b"x")
    assert intake.sweep(tmp_path, 11) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["000", "intake-111-c", "intake-12-d"]


def test_a_vouched_file_is_committed_without_a_second_scan_made_durable_by_syncfs(
    tmp_path: Path, tiff: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path / "data")
    spool.create()
    store = open_test_store(tmp_path)
    ctx = ServiceContext(store, spool, SystemClock(), UTC)
    submitter = Submitter(ctx, max_workers=1)
    submitter.min_free_bytes = 0
    synced: list[str] = []
    real_scan, real_fsync = faxcheck.scan, os.fsync

    def recording(fd: int) -> None:  # recorded, not replaced: the fsync still happens
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording)
    real_syncfs = spool_module.syncfs
    synced_fs: list[Path] = []

    def recording_syncfs(path: Path, fd: int | None = None) -> None:  # recorded, not replaced
        synced_fs.append(path)
        real_syncfs(path, fd)

    monkeypatch.setattr(spool_module, "syncfs", recording_syncfs)
    ready = intake.stage_checked(spool.tmp, tiff, max_pages=10)
    assert ready is not None
    assert synced == []  # not the worker's (#19 wave 8)
    scanned: list[Path] = []

    def scanning(path: Path, *args: object) -> faxcheck.Scan:  # recorded, not replaced
        scanned.append(path)
        return real_scan(path, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(faxcheck, "scan", scanning)
    submission = parse_submission({"recipients": [{"recipient_number": "100"}]})

    async def body() -> None:
        await ctx.start()
        submitter.vouch(ready)
        try:
            _broadcast, jobs = await submitter.submit(
                submission, [ready.path], user_name="u", stage_dir=ready.path
            )
        finally:
            submitter.unvouch(ready.path)
        assert [j.page_count for j in jobs] == [2]
        assert scanned == []
        # The file and its rename into spool/docs made durable before the commit by one
        # syncfs of the spool's filesystem (the committer's trip), not by fsyncs.
        assert synced_fs == [spool.docs]
        assert synced == []
        # An unvouched file of the same kind is scanned and fsynced as before.
        again = intake.stage_checked(spool.tmp, tiff, max_pages=10)
        assert again is not None
        synced.clear()
        scanned.clear()
        await submitter.submit(submission, [again.path], user_name="u", stage_dir=again.path)
        assert scanned == [again.path]
        assert str(again.path) in synced

    try:
        synced.clear()  # from here: main's fsyncs
        asyncio.run(body())
    finally:
        submitter.close()
        ctx.close_executor()
        store.close()
    reopened = open_test_store(tmp_path)
    try:
        listed = reopened.list_jobs(JobQuery(limit=10))
    finally:
        reopened.close()
    assert len(listed) == 2
    assert not ready.path.exists()  # moved into spool/docs
    assert (spool.root / listed[0].document_path).read_bytes() == tiff
    assert list(spool.tmp.iterdir()) == []
    assert submitter._vouched == {}


def test_a_staged_file_is_not_readable_by_others(tmp_path: Path, tiff: bytes) -> None:
    ready = intake.stage_checked(tmp_path, tiff, max_pages=10)
    assert ready is not None
    assert ready.path.stat().st_mode & 0o777 == 0o640
