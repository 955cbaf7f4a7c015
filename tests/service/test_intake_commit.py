"""The intake's one committer (#19 wave 7, lanfax.service.intake_commit), on a real store and
spool: vouched submissions that arrive together are taken in one trip and one commit, each
answered with its own jobs once they are durable; a submission that fails its checks fails
alone (its error named by its file's label, its files removed); a common commit that fails is
taken apart (each submission in its own savepoint), so that only the submission that made it
fail fails; a request cancelled before its trip leaves nothing behind; each trip makes its
documents durable with one syncfs, after their renames and before their commit, and a failed
syncfs fails its trip with nothing left behind (#19 wave 8).
"""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.support.faxes import make_fax_tiff
from tests.support.stores import open_test_store

from lanfax.model.audit import AuditEntry
from lanfax.model.clock import SystemClock
from lanfax.model.errors import DocumentError, FaxError, InsufficientStorage
from lanfax.service import intake
from lanfax.service import spool as spool_module
from lanfax.service.context import ServiceContext
from lanfax.service.spool import Spool
from lanfax.service.submit import Submitter, parse_submission
from lanfax.store.api import JobQuery


@pytest.fixture(scope="module")
def tiff(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_fax_tiff(tmp_path_factory.mktemp("in"), pages=2).read_bytes()


class _Bench:
    def __init__(self, tmp_path: Path, tiff: bytes) -> None:
        self.tiff = tiff
        self.spool = Spool(tmp_path / "data")
        self.spool.create()
        self.store = open_test_store(tmp_path)
        self.ctx = ServiceContext(self.store, self.spool, SystemClock(), UTC)
        self.submitter = Submitter(self.ctx, max_workers=1)
        self.submitter.min_free_bytes = 0
        self.conversions: list[float] = []
        self.submitter.on_conversion = self.conversions.append

    async def submit(
        self, number: str, *, audit: list[AuditEntry] | None = None, recipients: int = 1
    ) -> tuple[str, list[Any]]:
        """A vouched submission, as the API's prepared path makes it (vouch, submit, unvouch)."""
        ready = intake.stage_checked(self.spool.tmp, self.tiff, max_pages=10)
        assert ready is not None
        params = {"recipients": [{"recipient_number": number}] * recipients}
        self.submitter.vouch(ready)
        try:
            return await self.submitter.submit(
                parse_submission(params),
                [ready.path],
                user_name="u",
                stage_dir=ready.path,
                labels=[f"file part 1 ({number}.tif)"],
                audit=audit or [],
            )
        finally:
            self.submitter.unvouch(ready.path)

    def jobs(self) -> dict[str, Any]:
        return {j.recipient_number: j for j in self.store.list_jobs(JobQuery(limit=1000))}

    def close(self) -> None:
        self.submitter.close()
        self.ctx.close_executor()
        self.store.close()


@pytest.fixture
def bench(tmp_path: Path, tiff: bytes) -> Iterator[_Bench]:
    b = _Bench(tmp_path, tiff)
    try:
        yield b
    finally:
        b.close()


@asynccontextmanager
async def _started(bench: _Bench) -> AsyncIterator[None]:
    await bench.ctx.start()
    yield


def _run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_submissions_arriving_together_share_a_trip_and_a_commit(bench: _Bench) -> None:
    async def body() -> list[tuple[str, list[Any]]]:
        async with _started(bench):
            return list(await asyncio.gather(*(bench.submit(f"5{i:03d}") for i in range(20))))

    answers = _run(body())
    committer = bench.submitter._committer
    assert committer.taken == 20
    assert committer.trips < 20  # taken together (the first alone, the rest as they waited)
    group_commits = getattr(bench.store, "group_commits", None)
    if group_commits is not None:  # the SQL store counts its commits, and what they held
        assert group_commits == committer.trips
        assert bench.store.group_submissions == 20
    stored = bench.jobs()
    assert len(stored) == 20
    for i, (broadcast_id, jobs) in enumerate(answers):
        (job,) = jobs
        assert job.recipient_number == f"5{i:03d}" and job.broadcast_id == broadcast_id
        assert stored[job.recipient_number].job_id == job.job_id
        document = bench.spool.root / job.document_path
        assert document.read_bytes() == bench.tiff and document.parent == bench.spool.docs
    assert list(bench.spool.tmp.iterdir()) == []
    assert bench.submitter._vouched == {}
    assert len(bench.conversions) == 20  # /metrics' conversion figure, one per document


def test_a_submission_that_fails_its_checks_fails_alone(bench: _Bench) -> None:
    bench.submitter.max_recipient_pages = 5  # 3 recipients x 2 pages: over

    async def body() -> list[Any]:
        async with _started(bench):
            return list(
                await asyncio.gather(
                    bench.submit("6001"),
                    bench.submit("6002", recipients=3),
                    bench.submit("6003"),
                    return_exceptions=True,
                )
            )

    first, refused, third = _run(body())
    assert isinstance(refused, InsufficientStorage), refused
    assert "6 pages" in refused.message
    assert sorted(bench.jobs()) == ["6001", "6003"]
    assert [j.recipient_number for j in first[1]] == ["6001"]
    assert [j.recipient_number for j in third[1]] == ["6003"]
    docs = sorted(p.name for p in bench.spool.docs.iterdir())
    assert docs == sorted(f"{a[0]}.tif" for a in (first, third))  # the refused one's: gone
    assert list(bench.spool.tmp.iterdir()) == []


def test_too_many_pages_is_named_by_the_files_label(bench: _Bench) -> None:
    bench.submitter.limits = type(bench.submitter.limits)(max_pages=1)

    async def body() -> Any:
        async with _started(bench):
            return await bench.submit("6101")

    with pytest.raises(DocumentError) as caught:
        _run(body())
    assert caught.value.message == "the document has 2 pages, more than the 1 allowed"
    assert bench.jobs() == {}
    assert list(bench.spool.tmp.iterdir()) == [] and list(bench.spool.docs.iterdir()) == []


def test_a_failed_common_commit_fails_only_the_submission_that_failed_it(bench: _Bench) -> None:
    # An audit entry the store cannot write (its detail is no JSON): that submission's rows
    # fail the common commit, and only that submission when they are committed alone.
    bad = AuditEntry(datetime.now(UTC), "u", "", "submit", detail={"x": object()})

    async def body() -> list[Any]:
        async with _started(bench):
            return list(
                await asyncio.gather(
                    bench.submit("6201"),
                    bench.submit("6202"),
                    bench.submit("6203", audit=[bad]),
                    bench.submit("6204"),
                    return_exceptions=True,
                )
            )

    answers = _run(body())
    assert isinstance(answers[2], FaxError | TypeError | ValueError), answers[2]
    ok = [a for i, a in enumerate(answers) if i != 2]
    assert all(isinstance(a, tuple) for a in ok), answers
    assert sorted(bench.jobs()) == ["6201", "6202", "6204"]
    assert bench.submitter._committer.trips >= 1
    docs = {p.name for p in bench.spool.docs.iterdir()}
    assert docs == {f"{a[0]}.tif" for a in ok}  # the failed one's document removed
    assert list(bench.spool.tmp.iterdir()) == []


def test_a_request_cancelled_before_its_trip_leaves_nothing(bench: _Bench) -> None:
    async def body() -> None:
        async with _started(bench):
            task = asyncio.ensure_future(bench.submit("6301"))
            await asyncio.sleep(0)  # queued: its trip is scheduled, not yet begun
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # The next submission's trip comes after the one that left it out.
            await bench.submit("6302")

    _run(body())
    assert sorted(bench.jobs()) == ["6302"]
    assert list(bench.spool.tmp.iterdir()) == []
    assert len(list(bench.spool.docs.iterdir())) == 1


def test_a_submission_right_after_a_trip_ends_is_taken(bench: _Bench) -> None:
    """The next submission made as soon as the last one of a trip is answered (before the
    trip's task has been seen to end) starts a trip of its own: it is not left waiting for a
    trip that has already finished."""

    async def body() -> list[str]:
        async with _started(bench):
            answers = [await bench.submit(f"7{i:03d}") for i in range(3)]
            return [jobs[0].recipient_number for _broadcast, jobs in answers]

    assert _run(body()) == ["7000", "7001", "7002"]
    assert bench.submitter._committer.trips == 3
    assert sorted(bench.jobs()) == ["7000", "7001", "7002"]


def test_a_trips_documents_are_made_durable_by_one_syncfs_before_its_commit(
    bench: _Bench, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#19 wave 8: the workers write without an fsync; each trip makes its whole group
    durable with one syncfs of the spool's filesystem, after the renames into spool/docs and
    before the commit of any of the group's jobs (durability before acknowledgement)."""
    real_syncfs, real_fsync = spool_module.syncfs, os.fsync
    seen: list[tuple[set[str], set[str]]] = []  # per syncfs: (documents there, jobs stored)
    fsynced: list[str] = []

    def recording_syncfs(path: Path, fd: int | None = None) -> None:  # recorded, not replaced
        assert path == bench.spool.docs
        stored = {j.document_path for j in bench.store.list_jobs(JobQuery(limit=1000))}
        seen.append(({p.name for p in bench.spool.docs.iterdir()}, stored))
        real_syncfs(path, fd)

    def recording_fsync(fd: int) -> None:
        fsynced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(spool_module, "syncfs", recording_syncfs)
    monkeypatch.setattr(os, "fsync", recording_fsync)

    async def body() -> list[tuple[str, list[Any]]]:
        async with _started(bench):
            return list(await asyncio.gather(*(bench.submit(f"8{i:03d}") for i in range(12))))

    answers = _run(body())
    committer = bench.submitter._committer
    assert committer.trips < 12  # several documents shared a trip
    if getattr(bench.store, "group_commits", None) is not None:  # a SQL store's group commit
        assert len(seen) == committer.trips  # one syncfs per trip
    documents = {f"docs/{broadcast}.tif" for broadcast, _jobs in answers}
    for document in documents:
        # Some syncfs came after this document's rename and before its job's commit.
        assert any(
            document.removeprefix("docs/") in docs and document not in stored
            for docs, stored in seen
        ), document
    assert seen[-1][1] < documents  # the last sync came before the last commit
    assert {j.document_path for j in bench.jobs().values()} == documents
    assert not [p for p in fsynced if "/spool/" in p]  # no document fsynced one by one


def test_a_failed_syncfs_fails_its_trip_and_leaves_nothing(
    bench: _Bench, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writeback error reported by syncfs (EIO: a document may not be on disk) fails every
    submission of that trip before its commit: no job, no document; the next trip works."""
    real_syncfs = spool_module.syncfs
    failures = [OSError(errno.EIO, "syncfs: Input/output error")]

    def failing_once(path: Path, fd: int | None = None) -> None:  # the real call, then its error
        real_syncfs(path, fd)
        if failures:
            raise failures.pop()

    monkeypatch.setattr(spool_module, "syncfs", failing_once)

    async def body() -> tuple[list[Any], Any]:
        async with _started(bench):
            first = list(
                await asyncio.gather(
                    *(bench.submit(f"81{i:02d}") for i in range(4)), return_exceptions=True
                )
            )
            return first, await bench.submit("8200")

    first, after = _run(body())
    failed = [a for a in first if isinstance(a, OSError)]
    ok = [a for a in first if not isinstance(a, BaseException)]
    assert failed and len(failed) + len(ok) == 4, first
    assert all(a.errno == errno.EIO for a in failed)
    assert sorted(bench.jobs()) == sorted(
        [j.recipient_number for _b, jobs in ok for j in jobs] + ["8200"]
    )
    docs = {p.name for p in bench.spool.docs.iterdir()}
    assert docs == {f"{broadcast}.tif" for broadcast, _jobs in [*ok, after]}
    assert list(bench.spool.tmp.iterdir()) == []
    assert bench.submitter._vouched == {}
