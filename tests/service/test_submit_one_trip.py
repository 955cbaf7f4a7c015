"""A fax-ready submission without cover pages takes one trip to the thread pool (#19): the
TIFF checked, fsynced, moved into spool/docs, the stage removed and the jobs committed
together. What fails in that trip (the store, the page bound) leaves no document behind and
commits nothing; the uploads route stages files without an fsync of their own, and the file
that becomes the document is fsynced before it is moved."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from tests.support.faxes import make_fax_tiff
from tests.support.stores import open_test_store

from lanfax.model.clock import SystemClock
from lanfax.model.codes import EventId
from lanfax.model.errors import InsufficientStorage, InvalidInput, StoreError
from lanfax.model.events import Event
from lanfax.service import uploads
from lanfax.service.context import ServiceContext
from lanfax.service.spool import Spool
from lanfax.service.submit import Submitter, parse_submission
from lanfax.store.api import JobQuery


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.spool = Spool(tmp_path / "data")
        self.spool.create()
        self.store = open_test_store(tmp_path)
        self.ctx = ServiceContext(self.store, self.spool, SystemClock(), UTC)
        self.submitter = Submitter(self.ctx, max_workers=1)
        self.submitter.min_free_bytes = 0
        self.trips: list[str] = []
        run = self.ctx.run

        async def counted(fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
            self.trips.append(getattr(fn, "__name__", repr(fn)))
            return await run(fn, *args, **kw)

        self.ctx.run = counted  # type: ignore[method-assign]

    def close(self) -> None:
        self.submitter.close()
        self.ctx.close_executor()
        self.store.close()


def _submission(*numbers: str) -> Any:
    return parse_submission({"recipients": [{"recipient_number": n} for n in numbers]})


def test_a_fax_ready_submission_is_one_trip_and_its_events_are_published(
    tmp_path: Path,
) -> None:
    tiff = make_fax_tiff(tmp_path / "in").read_bytes()

    async def body() -> None:
        rig = Rig(tmp_path)
        await rig.ctx.start()
        stream = rig.ctx.bus.subscribe(rig.ctx.bus.published_seq)
        try:

            async def read() -> bytes:
                return tiff

            stage, staged = await uploads.stage_uploads(rig.ctx, [("d", read)], durable=False)
            rig.trips.clear()
            _, jobs = await rig.submitter.submit(
                _submission("100", "101"), staged, user_name="u", stage_dir=stage
            )
            assert rig.trips == ["_take_ready"]  # the document and the jobs: one trip
            assert not stage.exists()
            assert [j.recipient_number for j in jobs] == ["100", "101"]
            doc = rig.spool.resolve(jobs[0].document_path)
            assert doc.read_bytes() == tiff
            stored = rig.store.list_jobs(JobQuery(limit=10))
            assert [j.job_id for j in stored] == [j.job_id for j in jobs]
            got: list[Event] = [await asyncio.wait_for(anext(stream), 10) for _ in range(2)]
            assert [(e.event_id, e.job_id) for e in got] == [
                (EventId.JOB_QUEUED, j.job_id) for j in jobs
            ]
        finally:
            await stream.aclose()
            rig.close()

    asyncio.run(body())


@pytest.mark.parametrize("failure", ["store", "pages"])
def test_a_failure_in_the_trip_leaves_no_document_and_no_job(tmp_path: Path, failure: str) -> None:
    tiff = make_fax_tiff(tmp_path / "in").read_bytes()

    async def body() -> None:
        rig = Rig(tmp_path)
        await rig.ctx.start()
        try:
            if failure == "store":

                def refuse(*_args: Any, **_kw: Any) -> Any:
                    raise StoreError("the database refused", hint="test")

                rig.store.add_jobs = refuse  # type: ignore[method-assign]
                rig.store.add_jobs_and_events = refuse  # type: ignore[method-assign]
                expected: type[Exception] = StoreError
            else:
                rig.submitter.max_recipient_pages = 1  # two recipients x one page: too many
                expected = InsufficientStorage

            async def read() -> bytes:
                return tiff

            stage, staged = await uploads.stage_uploads(rig.ctx, [("d", read)], durable=False)
            with pytest.raises(expected):
                await rig.submitter.submit(
                    _submission("100", "101"), staged, user_name="u", stage_dir=stage
                )
            assert list(rig.spool.docs.iterdir()) == []
            assert not stage.exists()
            assert rig.store.list_jobs(JobQuery(limit=10)) == []
        finally:
            rig.close()

    asyncio.run(body())


def test_the_staged_upload_is_fsynced_before_it_becomes_the_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recorded, not replaced: every fsync still happens; the test sees on which files."""
    tiff = make_fax_tiff(tmp_path / "in").read_bytes()
    synced: list[str] = []
    real_fsync = os.fsync

    def recording(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording)

    async def body() -> None:
        rig = Rig(tmp_path)
        await rig.ctx.start()
        try:

            async def read() -> bytes:
                return tiff

            synced.clear()  # what the start-up synced
            stage, staged = await uploads.stage_uploads(rig.ctx, [("d", read)], durable=False)
            assert synced == []  # staged without an fsync
            await rig.submitter.submit(_submission("100"), staged, user_name="u", stage_dir=stage)
        finally:
            rig.close()

    asyncio.run(body())
    staged_file = str(tmp_path / "data")
    assert any(p.startswith(staged_file) and "/tmp/" in p and p.endswith("/000") for p in synced)
    first = next(i for i, p in enumerate(synced) if p.endswith("/000"))
    docs_dir = next(i for i, p in enumerate(synced) if p.endswith("/docs"))
    assert first < docs_dir  # the file's data before the rename is made durable


@pytest.mark.parametrize("room", [True, False], ids=["queued", "no-room"])
def test_a_deferred_upload_is_staged_in_the_same_one_trip(tmp_path: Path, room: bool) -> None:
    """The HTTP route's single small upload (uploads.read_uploads): read, not written, until
    the submission's one trip writes it first; nothing is on disk before that trip, and a
    submission refused in it (the spool's room) leaves no stage and no document behind."""
    tiff = make_fax_tiff(tmp_path / "in").read_bytes()

    async def body() -> None:
        rig = Rig(tmp_path)
        await rig.ctx.start()
        if not room:
            rig.submitter.min_free_bytes = 2**62
        try:

            async def read() -> bytes:
                return tiff

            deferred = await uploads.read_uploads(rig.ctx, [("file part 1 (d.tif)", read)])
            assert not deferred.stage.exists()  # nothing written yet
            assert rig.trips == []
            submit = rig.submitter.submit(
                _submission("100"),
                deferred.paths,
                user_name="u",
                stage_dir=deferred.stage,
                write_first=deferred.write,
            )
            if room:
                _, jobs = await submit
                assert rig.trips == ["_take_ready"]  # staging, document and jobs: one trip
                assert rig.spool.resolve(jobs[0].document_path).read_bytes() == tiff
            else:
                with pytest.raises(InsufficientStorage):
                    await submit
                assert list(rig.spool.docs.iterdir()) == []
                assert rig.store.list_jobs(JobQuery(limit=10)) == []
            assert not deferred.stage.exists()
        finally:
            rig.close()

    asyncio.run(body())


def test_an_empty_deferred_upload_is_refused_by_its_label(tmp_path: Path) -> None:
    async def body() -> None:
        rig = Rig(tmp_path)
        try:

            async def empty() -> bytes:
                return b""

            with pytest.raises(InvalidInput, match=r"file part 1 \(d.tif\) is empty"):
                await uploads.read_uploads(rig.ctx, [("file part 1 (d.tif)", empty)])
            assert list(rig.spool.tmp.iterdir()) == []
        finally:
            rig.close()

    asyncio.run(body())


@pytest.mark.parametrize("outcome", ["queued", "converted", "no-room"])
def test_a_deferred_upload_is_opened_once_and_fsynced_once_before_its_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outcome: str
) -> None:
    """#19: the single upload is written and fsynced through one descriptor, and not
    opened again to be fsynced before it becomes the document (recorded, not replaced:
    every open and fsync still happens). Whatever the outcome (queued, handed to the
    converter, refused), nothing of it stays in the record of files already fsynced."""
    tiff = make_fax_tiff(tmp_path / "in").read_bytes()
    if outcome == "converted":  # a TIFF, not Class F: the converter makes a new document
        from PIL import Image

        Image.new("L", (300, 200), 255).save(tmp_path / "gray.tif")
        tiff = (tmp_path / "gray.tif").read_bytes()
    opened: list[str] = []
    synced: list[str] = []
    renamed: list[str] = []
    real_open, real_fsync, real_replace = os.open, os.fsync, os.replace

    def recording_open(path: Any, *args: Any, **kw: Any) -> int:
        opened.append(os.fspath(path))
        return real_open(path, *args, **kw)

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    def recording_replace(src: Any, dst: Any) -> None:
        renamed.append(os.fspath(src))
        real_replace(src, dst)

    async def body() -> None:
        rig = Rig(tmp_path)
        await rig.ctx.start()
        if outcome == "no-room":
            rig.submitter.min_free_bytes = 2**62
        try:

            async def read() -> bytes:
                return tiff

            deferred = await uploads.read_uploads(rig.ctx, [("file part 1 (d.tif)", read)])
            (path,) = deferred.paths
            monkeypatch.setattr(os, "open", recording_open)
            monkeypatch.setattr(os, "fsync", recording_fsync)
            monkeypatch.setattr(os, "replace", recording_replace)
            submit = rig.submitter.submit(
                _submission("100"),
                deferred.paths,
                user_name="u",
                stage_dir=deferred.stage,
                write_first=deferred.write,
            )
            if outcome == "no-room":
                with pytest.raises(InsufficientStorage):
                    await submit
            else:
                await submit
            monkeypatch.undo()
            assert opened.count(str(path)) == 1  # written, fsynced: one descriptor
            if outcome == "queued":
                assert synced.count(str(path)) == 1
                first = synced.index(str(path))
                assert renamed == [str(path)] and first < synced.index(str(rig.spool.docs))
            assert uploads._synced == set()
            assert not path.exists()
        finally:
            rig.close()

    asyncio.run(body())
