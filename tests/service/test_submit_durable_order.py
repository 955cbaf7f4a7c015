"""The order that makes a submission's 201 mean "on disk" (#19), with the cuts of wave 5:
the document is fsynced, renamed into spool/docs, and spool/docs is fsynced once per group
commit, before that commit; a single upload is staged as one plain file (no directory) and
nothing of it is left behind, whatever became of the submission.

Recorded, not replaced: every fsync, rename and commit really happens; the test sees in
which order (SQLAlchemy's ``commit`` event fires before the driver's COMMIT)."""

from __future__ import annotations

import asyncio
import os
import threading
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from tests.support.faxes import make_fax_tiff, tiff_entry, tiff_ifds
from tests.support.stores import on_commit

from lanfax.model.clock import SystemClock
from lanfax.model.errors import DocumentError
from lanfax.service import uploads
from lanfax.service.context import ServiceContext
from lanfax.service.spool import Spool
from lanfax.service.submit import Submitter, parse_submission
from lanfax.store import open_store
from lanfax.store.api import JobQuery
from lanfax.store.sql import SqlStore

SUBMITTERS = 8


class Rig:
    """A submitter on a real SQLite store, recording (in one list, in order) every fsync of
    spool/docs, every rename into it, every group the store commits and every commit."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.spool = Spool(tmp_path / "data")
        self.spool.create()
        store = open_store(f"sqlite:///{tmp_path / 'lanfax.db'}")
        assert isinstance(store, SqlStore)
        self.store = store
        self.ctx = ServiceContext(store, self.spool, SystemClock(), UTC)
        self.submitter = Submitter(self.ctx, max_workers=1)
        self.submitter.min_free_bytes = 0
        self.log: list[tuple[str, Any]] = []
        lock = threading.Lock()
        docs = str(self.spool.docs)
        real_fsync, real_replace = os.fsync, os.replace
        real_group = store._commit_group

        def fsync(fd: int) -> None:
            path = os.readlink(f"/proc/self/fd/{fd}")
            real_fsync(fd)
            if path == docs:
                with lock:
                    self.log.append(("sync docs", None))

        def replace(src: Any, dst: Any) -> None:
            real_replace(src, dst)
            if os.path.dirname(dst) == docs:
                with lock:
                    self.log.append(("rename", os.path.basename(dst)))

        def group(batch: list[Any]) -> None:
            with lock:
                names = [os.path.basename(r["document_path"]) for s in batch for r in s.rows]
                self.log.append(("group", names))
            real_group(batch)

        def commit(_conn: Any) -> None:
            with lock:
                self.log.append(("commit", None))

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)
        monkeypatch.setattr(store, "_commit_group", group)
        on_commit(store, lambda: commit(None))

    def close(self) -> None:
        self.submitter.close()
        self.ctx.close_executor()
        self.store.close()


def _submission(number: str) -> Any:
    return parse_submission({"recipients": [{"recipient_number": number}]})


def _reader(data: bytes) -> Any:
    async def read() -> bytes:
        return data

    return read


def test_docs_is_fsynced_once_per_group_commit_after_its_renames_and_before_its_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiff = make_fax_tiff(tmp_path / "in").read_bytes()

    async def body() -> None:
        rig = Rig(tmp_path, monkeypatch)
        await rig.ctx.start()
        try:

            async def one(k: int) -> list[int]:
                deferred = await uploads.read_uploads(rig.ctx, [("d", _reader(tiff))])
                _, jobs = await rig.submitter.submit(
                    _submission(f"90{k:02d}"),
                    deferred.paths,
                    user_name="u",
                    stage_dir=deferred.stage,
                    write_first=deferred.write,
                )
                return [j.job_id for j in jobs]

            rig.log.clear()
            for _ in range(3):  # rounds of concurrent submissions: some share a group
                await asyncio.gather(*(one(k) for k in range(SUBMITTERS)))
            assert len(rig.store.list_jobs(JobQuery(limit=100))) == 3 * SUBMITTERS
        finally:
            rig.close()
        log = rig.log
        groups = [i for i, (what, _) in enumerate(log) if what == "group"]
        assert sum(len(log[i][1]) for i in groups) == 3 * SUBMITTERS
        for n, at in enumerate(groups):
            end = groups[n + 1] if n + 1 < len(groups) else len(log)
            mine = log[at:end]
            # Exactly one fsync of spool/docs for the group, then its commit.
            assert [w for w, _ in mine if w in ("sync docs", "commit")] == ["sync docs", "commit"]
            synced = at + next(i for i, (w, _) in enumerate(mine) if w == "sync docs")
            # Every document of the group was renamed into spool/docs before that fsync.
            renamed = {name for w, name in log[:synced] if w == "rename"}
            assert set(log[at][1]) <= renamed, (log[at][1], renamed)

    asyncio.run(body())


def _damaged_page_2(tmp_path: Path) -> bytes:
    data = bytearray(make_fax_tiff(tmp_path / "three", pages=3).read_bytes())
    ifd = tiff_ifds(bytes(data))[1]
    _, offset = tiff_entry(bytes(data), ifd, 273)
    _, count = tiff_entry(bytes(data), ifd, 279)
    data[offset + count // 3 : offset + count] = os.urandom(count - count // 3)
    return bytes(data)


@pytest.mark.parametrize("kind", ["fax-ready", "converted", "damaged"])
def test_a_single_upload_is_one_plain_file_and_nothing_is_left_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """No stage directory for the HTTP route's single upload (#19): the plain file in
    spool/tmp becomes the document (fax-ready), is converted and removed (a text), or is
    removed with the refusal, which names the broken page of a multi-page TIFF."""
    data = {
        "fax-ready": lambda: make_fax_tiff(tmp_path / "in").read_bytes(),
        "converted": lambda: b"a plain text letter\n" * 20,
        "damaged": lambda: _damaged_page_2(tmp_path),
    }[kind]()

    async def body() -> None:
        rig = Rig(tmp_path, monkeypatch)
        await rig.ctx.start()
        made: list[str] = []
        real_mkdir = os.mkdir

        def mkdir(path: Any, *args: Any, **kw: Any) -> None:
            made.append(str(path))
            real_mkdir(path, *args, **kw)

        try:
            deferred = await uploads.read_uploads(rig.ctx, [("file part 1 (d)", _reader(data))])
            assert deferred.paths == [deferred.stage]
            assert deferred.stage.parent == rig.spool.tmp
            monkeypatch.setattr(os, "mkdir", mkdir)
            submit = rig.submitter.submit(
                _submission("100"),
                deferred.paths,
                user_name="u",
                stage_dir=deferred.stage,
                labels=["file part 1 (d)"],
                write_first=deferred.write,
            )
            if kind == "damaged":
                with pytest.raises(DocumentError, match=r"page 2 of the TIFF: .*damaged") as exc:
                    await submit
                assert "spool" not in exc.value.message  # the upload is named, never its path
                assert list(rig.spool.docs.iterdir()) == []
            else:
                _, (job,) = await submit
                doc = rig.spool.resolve(job.document_path)
                assert (doc.read_bytes() == data) is (kind == "fax-ready")
            assert not [m for m in made if m.startswith(str(rig.spool.tmp))]
            assert list(rig.spool.tmp.iterdir()) == []
        finally:
            rig.close()

    asyncio.run(body())
