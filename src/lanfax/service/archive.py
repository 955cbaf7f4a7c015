"""The incoming and outgoing archives, their retention, and the activity log.

:class:`Archiver` watches job changes (``ServiceContext.on_jobs_changed``):

* a send or receive job leaving IN_PROGRESS ended a call: one activity row;
* a received fax that finished routing (COMPLETED), and - when ArchiveOutgoingFaxes is on -
  a send job that reached a final state after dialling, is archived: its TIFF copied
  atomically to ``<ArchiveDirectory>/<incoming|outgoing>/<YYYY>/<MM>/<job>.tif`` (default
  ArchiveDirectory: ``<data>/archive``), then its entry committed (idempotent per job).

The work runs in one task, off the job's own transaction: a crash in between is caught up
at the next start (final jobs of the last day without an entry are archived then).

Several nodes on one database (#18): the node that ended a job archives it; the catch-up
(at start, and with several nodes every ``catch_up_every`` seconds for faxes that ended more
than :data:`CATCH_UP_GRACE` ago, which a dead node left) claims each job with a lease before
archiving it and gives the lease back after, so of several nodes catching up one archives
it. Archiving stays idempotent (one entry per job and direction, the same file name), so the
rare overlap of a slow node and another's catch-up costs a copy, never a second entry.

A fax whose archiving fails (the archive's disk is full, the directory cannot be written:
issue #14) is not lost: the job itself is already final and its file stays in the spool; the
fax waits in a backlog that is tried again every :data:`RETRY_EVERY` seconds (and at once
after any later fax was archived), the error is logged once per condition and shown in
``get_policies()["backlog"]`` (``GET /archive/config``). The completion time of the oldest
waiting fax is kept in the settings (namespace ``archive_backlog``), so that a restart
catches up from there, however long the disk stayed full.
Retention (per archive, settings namespace ``archive``): entries older than ``max_age_days``
go, and when the archive holds more than ``high_watermark_mb``, the oldest go until it holds
at most ``low_watermark_mb`` (the Windows quota model). An entry's row is deleted before
its file, so no entry ever points to a missing file.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import errno
import io
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from lanfax.model.archive import ActivityRecord, ArchiveEntry, ArchiveQuery, check_direction
from lanfax.model.codes import FINAL_QUEUE_STATES, NO_JOB, EventId, JobType, QueueStatus
from lanfax.model.errors import (
    ConfigError,
    Conflict,
    FaxError,
    InsufficientStorage,
    InvalidInput,
    NotFound,
)
from lanfax.model.events import NewEvent
from lanfax.model.jobs import Job
from lanfax.service import covers
from lanfax.service.context import ServiceContext
from lanfax.service.leases import Lease
from lanfax.service.spool import copy_atomically
from lanfax.store.api import ArchiveStore

log = logging.getLogger("lanfax.init")

NAMESPACE = "archive"
#: How far back the start-up catch-up looks for final jobs that were never archived.
CATCH_UP = timedelta(days=1)
#: Retention also runs this often when nothing is archived.
RETENTION_EVERY = 3600.0
#: Seconds between two tries of the faxes whose archiving failed (issue #14: a full disk).
RETRY_EVERY = 30.0
#: Settings namespace of the backlog's mark: ``{"since": <ISO time>}`` while faxes wait.
BACKLOG_NAMESPACE = "archive_backlog"
#: #18: a fax that ended this long ago and is still not archived was left by a node that died
#: (or waits in that node's backlog): the others' catch-up claims it.
CATCH_UP_GRACE = timedelta(seconds=30)
_POLICY_KEYS = {"enabled", "max_age_days", "high_watermark_mb", "low_watermark_mb"}
_CALL_TYPES = (JobType.SEND, JobType.RECEIVE)
_SENT = frozenset({QueueStatus.COMPLETED, QueueStatus.FAILED, QueueStatus.RETRIES_EXCEEDED})
DEFAULT_POLICY: dict[str, Any] = {
    "enabled": True,
    "max_age_days": 0,
    "high_watermark_mb": 0,
    "low_watermark_mb": 0,
}


def check_policy(direction: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate one archive's retention policy; returns it complete."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"{direction}: expected an object", hint='e.g. {"max_age_days": 90}')
    unknown = sorted(set(values) - _POLICY_KEYS)
    if unknown:
        raise ConfigError(
            f"{direction}: unknown archive setting(s) {', '.join(unknown)}",
            hint=f"known: {', '.join(sorted(_POLICY_KEYS))}",
        )
    out = dict(DEFAULT_POLICY, **values)
    if not isinstance(out["enabled"], bool):
        raise ConfigError(f"{direction}.enabled must be true or false", hint="true / false")
    for key in ("max_age_days", "high_watermark_mb", "low_watermark_mb"):
        v = out[key]
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            raise ConfigError(f"{direction}.{key}: {v!r}", hint="a number >= 0 (0: no limit)")
    if out["high_watermark_mb"] and not out["low_watermark_mb"] <= out["high_watermark_mb"]:
        raise ConfigError(
            f"{direction}: low_watermark_mb is above high_watermark_mb",
            hint="the low watermark is where cleaning stops; keep it at or below the high one",
        )
    return out


class Archiver:
    """Archives finished faxes, enforces retention, records calls. ``start()`` / ``stop()``."""

    def __init__(self, ctx: ServiceContext, data_dir: Path) -> None:
        self.ctx = ctx
        self.data_dir = data_dir
        self._queue: asyncio.Queue[tuple[str, Job]] = asyncio.Queue()
        self._in_call: set[int] = set()
        self._task: asyncio.Task[None] | None = None
        self.policies: dict[str, dict[str, Any]] = {d: dict(DEFAULT_POLICY) for d in _DIRS}
        # Faxes whose archiving failed, tried again later (issue #14): (direction, job) -> job.
        self._backlog: dict[tuple[str, int], Job] = {}
        self._backlog_error: str | None = None
        self._backlog_marked: datetime | None = None
        self._next_retry = 0.0
        self._disk_full = False
        self.retry_every = RETRY_EVERY
        #: #18, several nodes: how often (seconds) to look for faxes a dead node left
        #: unarchived (None: one node, only at start), and this node's claims on the faxes
        #: its catch-up archives (job id -> lease, given back once archived).
        self.catch_up_every: float | None = None
        self._claims: dict[int, Lease] = {}
        self._next_catch_up = 0.0
        ctx.on_jobs_changed(self._changed)

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        saved = await self.ctx.get_settings(NAMESPACE)
        for d in _DIRS:
            try:
                self.policies[d] = check_policy(d, saved.get(d, {}))
            except ConfigError as exc:
                log.error("stored archive policy ignored: %s", exc)
        running = QueueStatus.IN_PROGRESS
        jobs = self.ctx.unfinished.values()
        self._in_call = {j.job_id for j in jobs if j.queue_status is running}
        since = self.ctx.clock.now() - CATCH_UP
        mark = (await self.ctx.get_settings(BACKLOG_NAMESPACE)).get("since")
        if isinstance(mark, str):
            # Faxes waited for the archive's disk when the service stopped: catch up from there.
            try:
                self._backlog_marked = datetime.fromisoformat(mark)
                since = min(since, self._backlog_marked)
            except (TypeError, ValueError):
                log.error("archive backlog mark %r ignored", mark)
        await self._catch_up(since)
        if self.catch_up_every is not None:
            self._next_catch_up = asyncio.get_running_loop().time() + self.catch_up_every
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="lanfax-archive")

    async def _catch_up(self, since: datetime) -> None:
        """Archive the final jobs completed since ``since`` that have no entry (a crash
        between a job's end and its archiving). With several nodes (#18), each is claimed
        with a lease first, so that of several nodes catching up at once one archives it,
        and a job that ended less than :data:`CATCH_UP_GRACE` ago is left to the node that
        ended it."""
        now = self.ctx.clock.now()
        for d in _DIRS:
            jobs = await self.ctx.run(self.db.unarchived, d, since)
            if self.catch_up_every is not None:
                jobs = [j for j in jobs if (j.completed_at or now) <= now - CATCH_UP_GRACE]
            ids = [
                j.job_id
                for j in jobs
                if j.job_id not in self._claims and (d, j.job_id) not in self._backlog
            ]
            if not ids:
                continue
            if self.catch_up_every is None:  # one node: nobody to share the work with
                for job in jobs:
                    if job.job_id in ids:
                        self._enqueue_archive(job)
                continue
            # (A claim skips a job whose next_attempt_at is ahead - one canceled while it
            # waited for a retry - until that time; the next look archives it.)
            claimed = await self.ctx.leases.claim(
                statuses=FINAL_QUEUE_STATES, job_ids=ids, limit=len(ids)
            )
            for job, lease in claimed:
                self._claims[job.job_id] = lease
                self._enqueue_archive(job)

    async def _release(self, job_id: int) -> None:
        """Give back the catch-up's claim on a job (archived, or nothing left to do)."""
        lease = self._claims.pop(job_id, None)
        if lease is not None:
            try:
                await self.ctx.leases.release(lease)
            except FaxError as exc:  # it runs out by itself
                log.warning("archive: the claim on job %d not given back: %s", job_id, exc)

    async def _periodic_catch_up(self) -> None:
        every = self.catch_up_every
        loop_now = asyncio.get_running_loop().time()
        if every is None or loop_now < self._next_catch_up:
            return
        self._next_catch_up = loop_now + every
        try:
            await self._catch_up(self.ctx.clock.now() - CATCH_UP)
        except FaxError as exc:
            log.error("archive catch-up: %s", exc.message)

    async def stop(self) -> None:
        if self._task is not None:
            await self._queue.join()  # what is already queued is archived before the stop
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def idle(self) -> None:
        """Wait until everything queued so far is archived (tests, benchmarks)."""
        await self._queue.join()

    @property
    def db(self) -> ArchiveStore:
        """The store's archive (any store: the interface, #17)."""
        return self.ctx.store.archive

    def directory(self) -> Path:
        """ArchiveDirectory, or ``<data>/archive``."""
        configured = self.ctx.config.archive_directory
        return Path(configured) if configured else self.data_dir / "archive"

    # -- watching jobs ------------------------------------------------------------------------

    def _changed(self, jobs: Any) -> None:
        for job in jobs:
            if job.job_type not in (*_CALL_TYPES, JobType.FAIL_RECEIVE):
                continue
            if job.queue_status is QueueStatus.IN_PROGRESS:
                self._in_call.add(job.job_id)
            elif job.job_id in self._in_call:
                self._in_call.discard(job.job_id)
                self._queue.put_nowait(("call", job))
            if job.is_final:
                self._enqueue_archive(job)

    def _enqueue_archive(self, job: Job) -> None:
        if job.job_type is JobType.RECEIVE and job.queue_status is QueueStatus.COMPLETED:
            self._queue.put_nowait(("incoming", job))
        elif job.job_type is JobType.SEND and (
            job.queue_status in _SENT or (job.attempts and job.is_final)
        ):
            self._queue.put_nowait(("outgoing", job))

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._periodic_catch_up()
            wait = RETENTION_EVERY
            if self._backlog:
                wait = max(min(wait, self._next_retry - loop.time()), 0.0)
            if self.catch_up_every is not None:
                wait = max(min(wait, self._next_catch_up - loop.time()), 0.0)
            try:
                kind, job = await asyncio.wait_for(self._queue.get(), wait)
            except TimeoutError:
                if self._backlog:
                    await self._retry_backlog()
                else:
                    for d in _DIRS:
                        await self._retention_logged(d)
                continue
            try:
                if kind == "call":
                    await self.ctx.run(self.db.log_call, self._call_record(job))
                elif not self._wanted(kind):
                    await self._release(job.job_id)
                elif await self._archive_or_wait(kind, job):
                    await self._retention_logged(kind)
                    if self._backlog:
                        await self._retry_backlog()  # that one fitted: there may be room again
                if not self._backlog and self._backlog_marked and self._queue.empty():
                    await self._mark_backlog()  # the start-up catch-up is done: clear the mark
            except (FaxError, OSError) as exc:
                log.error("archiving %s job %d failed: %s", kind, job.job_id, exc)
            except Exception:  # a bug must not stop archiving; the catch-up retries it
                log.exception("archiving %s job %d failed unexpectedly", kind, job.job_id)
            finally:
                self._queue.task_done()

    async def _archive_or_wait(self, direction: str, job: Job) -> bool:
        """Archive one fax; when that fails in a way a later try may cure, it waits in the
        backlog (the error logged once per condition). True when it was archived."""
        try:
            await self.archive(direction, job)
        except NotFound as exc:  # its file is gone (the job was deleted): nothing to wait for
            log.error("archiving %s job %d failed: %s", direction, job.job_id, exc)
            self._backlog.pop((direction, job.job_id), None)
            await self._release(job.job_id)
            return False
        except (FaxError, OSError) as exc:
            await self._wait(direction, job, exc)  # a claim is kept while it waits
            return False
        self._disk_full = False
        self._backlog.pop((direction, job.job_id), None)
        await self._release(job.job_id)
        return True

    async def _wait(self, direction: str, job: Job, exc: BaseException) -> None:
        first = not self._backlog
        self._backlog[(direction, job.job_id)] = job
        self._next_retry = asyncio.get_running_loop().time() + self.retry_every
        error = self._describe(exc)
        if error != self._backlog_error:
            self._backlog_error = error
            log.error(
                "archiving %s fax (job %d) failed: %s; %d fax(es) wait, tried again every "
                "%g s (they stay in the spool, nothing is lost)",
                direction,
                job.job_id,
                error,
                len(self._backlog),
                self.retry_every,
            )
        if first or self._backlog_marked is None:
            await self._mark_backlog()

    def _describe(self, exc: BaseException) -> str:
        self._disk_full = True
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return f"the archive's disk is full ({self.directory()}: {exc.strerror})"
        if isinstance(exc, InsufficientStorage):
            return f"the database's disk is full ({exc})"
        self._disk_full = False
        return str(exc) or type(exc).__name__

    async def _mark_backlog(self) -> None:
        """Keep (or clear) the completion time of the oldest waiting fax in the settings,
        so that a restart catches up from there. Best effort: the mark is a hint."""
        waiting = [j.completed_at or self.ctx.clock.now() for j in self._backlog.values()]
        since = min(waiting) if waiting else None
        if since is not None and self._backlog_marked is not None:
            since = min(since, self._backlog_marked)
        try:
            await self.ctx.put_settings(
                BACKLOG_NAMESPACE, {"since": since.isoformat()} if since else {}
            )
        except FaxError as exc:
            log.error("the archive backlog mark could not be written: %s", exc)
            return
        self._backlog_marked = since

    async def _retry_backlog(self) -> None:
        """Try the waiting faxes again, oldest first; stop at the first that still fails."""
        done = 0
        for (direction, job_id), job in sorted(self._backlog.items(), key=lambda kv: kv[0][1]):
            try:
                archived = await self._archive_or_wait(direction, job)
            except Exception:  # a bug must not stop archiving
                log.exception("archiving %s job %d failed unexpectedly", direction, job_id)
                self._backlog.pop((direction, job_id), None)
                continue
            if not archived and self._disk_full:
                break  # the others would fail the same way: next time
            done += archived
        if done:
            for d in _DIRS:
                await self._retention_logged(d)
        if not self._backlog:
            if self._backlog_error is not None:
                log.warning("archive caught up: the waiting faxes are archived")
            self._backlog_error = None
            if self._backlog_marked is not None:
                await self._mark_backlog()

    def check_deletable(self, job_id: int) -> None:
        """Conflict while the job's fax waits for the archive: deleting the job would delete
        the only copy the archive is waiting for (issue #14)."""
        for direction, waiting in self._backlog:
            if waiting == job_id:
                raise Conflict(
                    f"job {job_id} waits to be archived ({direction}): {self._backlog_error}",
                    hint="delete it once the archive has room again (the backlog of "
                    "GET /api/v1/archive/config)",
                )

    def backlog(self) -> dict[str, Any]:
        """The faxes waiting for the archive (issue #14), as shown by ``get_policies()``."""
        return {
            "waiting": {d: sum(1 for k in self._backlog if k[0] == d) for d in _DIRS},
            "error": self._backlog_error,
            "since": self._backlog_marked,
        }

    def _wanted(self, direction: str) -> bool:
        if direction == "outgoing":
            return self.ctx.config.archive_outgoing_faxes
        return bool(self.policies["incoming"]["enabled"])

    # -- archiving ----------------------------------------------------------------------------

    def _call_record(self, job: Job) -> ActivityRecord:
        now = self.ctx.clock.now()
        end = job.completed_at or now
        outgoing = job.job_type is JobType.SEND
        if outgoing:
            result = (
                "completed"
                if job.queue_status is QueueStatus.COMPLETED
                else (job.last_failure.value if job.last_failure else job.queue_status.name.lower())
            )
        else:
            result = "received" if job.job_type is JobType.RECEIVE else "failed"
        return ActivityRecord(
            activity_id=0,
            at=end,
            direction="outgoing" if outgoing else "incoming",
            job_id=job.job_id,
            device_id=job.device_id or 0,
            number=job.recipient_number if outgoing else job.caller_id,
            remote_ident=job.remote_ident,
            caller_id=job.caller_id,
            user_name=job.user_name,
            pages=job.pages_done,
            duration=max((end - job.started_at).total_seconds(), 0.0) if job.started_at else 0.0,
            result=result,
            status_text=job.status_text,
            bit_rate=job.bit_rate,
            ecm=job.ecm,
        )

    async def archive(self, direction: str, job: Job) -> ArchiveEntry | None:
        """Copy the job's fax into the archive and commit its entry (idempotent)."""
        existing = await self.ctx.run(self.db.find, direction, job.job_id)
        if existing is not None:
            return existing
        if not job.document_path:
            return None
        src = await self.ctx.run(self.ctx.spool.resolve, job.document_path)  # or NotFound
        done = job.completed_at or self.ctx.clock.now()
        folder = self.directory() / direction / f"{done:%Y}" / f"{done:%m}"
        body = covers.body_path(job.extra)
        if body:
            # The job's own cover page and the broadcast's shared body, joined (issue #14).
            joined = self.ctx.spool.tmp / f"archive-{job.job_id}.tif"
            try:
                body_file = await self.ctx.run(self.ctx.spool.resolve, body)
                await self.ctx.run(covers.join, src, body_file, joined)
                dest = await self.ctx.run(copy_atomically, joined, folder, f"{job.job_id}.tif")
            finally:
                await self.ctx.run(joined.unlink, True)
        else:
            dest = await self.ctx.run(copy_atomically, src, folder, f"{job.job_id}.tif")
        outgoing = direction == "outgoing"
        entry = ArchiveEntry(
            archive_id=0,
            direction=direction,
            job_id=job.job_id,
            completed_at=done,
            archived_at=self.ctx.clock.now(),
            submitted_at=job.submitted_at,
            user_name=job.user_name,
            number=job.recipient_number if outgoing else job.caller_id,
            recipient_name=job.recipient_name,
            sender_name=job.sender_name,
            remote_ident=job.remote_ident,
            local_ident=job.tsid if outgoing else job.recipient_number,
            caller_id=job.caller_id,
            device_id=job.device_id or 0,
            pages=job.pages_done or job.page_count,
            size=await self.ctx.run(lambda: dest.stat().st_size),
            duration=max((done - job.started_at).total_seconds(), 0.0) if job.started_at else 0.0,
            result=job.queue_status.name.lower(),
            status_text=job.status_text,
            bit_rate=job.bit_rate,
            ecm=job.ecm,
            document_name=job.document_name,
            path=str(dest),
        )
        return await self.ctx.run(self.db.add, entry)

    # -- retention ----------------------------------------------------------------------------

    async def _retention_logged(self, direction: str) -> None:
        try:
            removed = await self.retention(direction)
        except (FaxError, OSError) as exc:
            log.error("archive retention (%s) failed: %s", direction, exc)
            return
        if removed:
            log.info("archive retention removed %d %s fax(es)", removed, direction)

    async def retention(self, direction: str) -> int:
        """Apply the age limit, then the size quota; returns how many entries went."""
        policy = self.policies[direction]
        removed = 0
        if policy["max_age_days"]:
            before = self.ctx.clock.now() - timedelta(days=policy["max_age_days"])
            while batch := await self.ctx.run(self.db.oldest, direction, 500, before):
                removed += await self._remove(batch)
        high = policy["high_watermark_mb"] * 1024 * 1024
        if high:
            low = policy["low_watermark_mb"] * 1024 * 1024
            _, size = await self.ctx.run(self.db.totals, direction)
            if size > high:
                while size > low:
                    batch = await self.ctx.run(self.db.oldest, direction, 100)
                    if not batch:
                        break
                    take = []
                    for e in batch:
                        if size <= low:
                            break
                        take.append(e)
                        size -= e.size
                    removed += await self._remove(take)
        return removed

    async def _remove(self, entries: list[ArchiveEntry]) -> int:
        n = await self.ctx.run(self.db.delete, [e.archive_id for e in entries])
        for e in entries:
            with contextlib.suppress(FileNotFoundError):
                await self.ctx.run(os.unlink, e.path)
        return n

    # -- what the API calls -------------------------------------------------------------------

    def get_policies(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory()),
            "archive_outgoing_faxes": self.ctx.config.archive_outgoing_faxes,
            **{d: dict(p) for d, p in self.policies.items()},
            "backlog": self.backlog(),
        }

    async def set_policies(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(changes, Mapping) or not set(changes) <= set(_DIRS) or not changes:
            raise ConfigError(
                'expected {"incoming": {...}, "outgoing": {...}}',
                hint='e.g. {"incoming": {"max_age_days": 90, "high_watermark_mb": 500}}',
            )
        new = {d: check_policy(d, {**self.policies[d], **changes.get(d, {})}) for d in _DIRS}
        await self.ctx.put_settings(
            NAMESPACE,
            new,
            [NewEvent(EventId.CONFIG_CHANGED, 0, NO_JOB, {"changed": ["archive"]})],
        )
        self.policies = new
        for d in _DIRS:
            await self._retention_logged(d)
        return self.get_policies()

    async def search(self, query: ArchiveQuery) -> tuple[list[ArchiveEntry], str | None]:
        return await self.ctx.run(self.db.search, query)

    async def entry(self, direction: str, archive_id: int) -> ArchiveEntry:
        check_direction(direction)
        found = await self.ctx.run(self.db.get, archive_id)
        if found is None or found.direction != direction:
            raise NotFound(
                f"there is no {direction} archive entry {archive_id}",
                hint="search the archive to see the ids",
            )
        return found

    async def document(self, direction: str, archive_id: int, fmt: str) -> Path:
        """The archived fax as TIFF (the file itself) or PDF (a new temporary file that the
        caller removes)."""
        entry = await self.entry(direction, archive_id)
        path = Path(entry.path)
        if not await self.ctx.run(path.exists):
            raise NotFound(
                f"the file of archive entry {archive_id} is missing: {path}",
                hint="it was removed outside lanfax; delete the entry",
            )
        if fmt == "tiff":
            return path
        if fmt != "pdf":
            raise InvalidInput(f"format {fmt!r} is not offered", hint="use tiff or pdf")
        from lanfax import documents

        fd, tmp = tempfile.mkstemp(prefix="archive-", suffix=".pdf", dir=self.ctx.spool.tmp)
        os.close(fd)
        try:
            await self.ctx.run_heavy(documents.tiff_to_pdf, path, Path(tmp))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return Path(tmp)

    async def delete(self, direction: str, archive_id: int) -> None:
        entry = await self.entry(direction, archive_id)
        await self._remove([entry])

    def activity_csv(self, since: datetime | None, until: datetime | None) -> Iterator[str]:
        """The activity log as CSV text chunks (blocking: iterate it in a worker thread)."""
        columns = [
            "activity_id", "at", "direction", "job_id", "device_id", "number", "remote_ident",
            "caller_id", "user_name", "pages", "duration", "result", "status_text", "bit_rate",
            "ecm",
        ]  # fmt: skip
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(columns)
        for n, rec in enumerate(self.db.activity(since, until), start=1):
            row = [_cell(getattr(rec, c)) for c in columns]
            row[1] = rec.at.isoformat().replace("+00:00", "Z")
            writer.writerow(row)
            if n % 500 == 0:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue()


def _cell(value: object) -> object:
    """A CSV cell a spreadsheet will not run (issue #14: formula injection). Text that starts
    with = + - @ or a tab/CR (a remote ident, a caller id, a status text from the far end)
    is prefixed with an apostrophe, which spreadsheets show as text; numbers stay numbers."""
    if isinstance(value, str) and value and value[0] in "=+-@\t\r":
        return "'" + value
    return value


_DIRS = ("incoming", "outgoing")
