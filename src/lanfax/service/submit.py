"""Submission: validate a request, make one fax document, commit one job per recipient.

The order is what makes "queued" mean "on disk": the uploads are staged in ``spool/tmp``
(fsync'ed), turned into one TIFF Class F for the whole broadcast (a fax-ready TIFF is used as
it is; anything else is converted in a process pool), moved to ``spool/docs/<broadcast>.tif``
(fsync'ed with its directory), and only then are all the jobs added with their FEI_JOB_QUEUED
events in ONE store transaction. The caller hears the job ids after that commit.

With a cover page, the body is made the same way (once) but into ``spool/tmp``; each
recipient then gets its own ``spool/docs/<broadcast>-<i>.tif`` (its cover page, then the
body's compressed pages copied as they are, see lanfax.service.covers), all fsynced before
the commit; the body is removed after.

#19 (wave 5): a single upload is staged as one plain file; the fast path (a fax-ready TIFF)
takes one trip to the thread pool, where the file is checked in one pass
(:mod:`lanfax.service.faxcheck`), fsynced and renamed into ``spool/docs``; the directory's
fsync is made once per group commit, before it (``Spool.sync_docs``). Beside this module:
:mod:`lanfax.service.submission` (the params validated, pure) and
:mod:`lanfax.service.spoolroom` (min_free_mb, max_spool_mb).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import multiprocessing
import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from lanfax.documents.cover import TemplateStore
from lanfax.documents.types import MAX_LENGTH, ConversionLimits, ConversionResult
from lanfax.model.codes import DeliveryReportType, EventId, JobType, QueueStatus
from lanfax.model.errors import DocumentError, InsufficientStorage, InvalidInput
from lanfax.model.events import NewEvent
from lanfax.model.jobs import CoverPageInfo, Job
from lanfax.service import covers, docs, faxcheck, uploads
from lanfax.service.context import Committed, ServiceContext
from lanfax.service.intake_commit import VouchedCommitter
from lanfax.service.spool import fsync_dir, fsync_file, token_hex
from lanfax.service.spoolroom import SpoolRoom
from lanfax.service.submission import (
    MAX_RECIPIENTS,
    Submission,
    contact_references,
    parse_submission,
    recipient_cover_page,
)
from lanfax.store.api import AuditEntry

__all__ = [  # what callers import from here since before the split (#19)
    "MAX_RECIPIENTS",
    "Submission",
    "Submitter",
    "contact_references",
    "parse_submission",
    "start_forkserver_quietly",
]

T = TypeVar("T")
log = logging.getLogger("lanfax.init")


def _finish_file(path: Path) -> None:
    fsync_file(path)
    fsync_dir(path.parent)


def start_forkserver_quietly() -> None:
    """Start multiprocessing's fork server ignoring SIGINT and SIGTERM, so that neither Ctrl-C
    nor systemd's stop (SIGTERM to the whole group) kills it or a worker: the service ends
    them itself when it stops. The fork server reports each worker's exit to the pool, so its
    death alone breaks the pool; and a worker is born with its dispositions (an ignored signal
    survives exec and fork; a blocked mask would not survive the spawn), so no signal can hit
    it before its initializer (``docs.worker_init``) runs. The service's own SIGINT and
    SIGTERM are blocked for that moment, so one that arrives meanwhile stays pending and
    reaches the restored handler. Only the main thread may change handlers; elsewhere (a
    service embedded in a thread) the workers' initializer does what it can."""
    import signal
    import threading
    from multiprocessing import forkserver

    if threading.current_thread() is not threading.main_thread():
        forkserver.ensure_running()
        return
    signals = (signal.SIGINT, signal.SIGTERM)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, set(signals))
    handlers = {sig: signal.signal(sig, signal.SIG_IGN) for sig in signals}
    # The fork server dies with the service (lanfax.service.forkguard): started from the main
    # thread, so its death signal follows the process, not a thread that may end earlier.
    preload = list(getattr(forkserver._forkserver, "_preload_modules", []))
    if "lanfax.service.forkguard" not in preload:
        forkserver.set_forkserver_preload([*preload, "lanfax.service.forkguard"])
    os.environ["LANFAX_FORKSERVER_GUARD"] = "1"
    try:
        forkserver.ensure_running()
    finally:
        os.environ.pop("LANFAX_FORKSERVER_GUARD", None)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


class Submitter:
    """Turns submissions into committed jobs."""

    def __init__(
        self,
        ctx: ServiceContext,
        max_workers: int | None = None,
        *,
        limits: ConversionLimits | None = None,
        memory_bytes: int = 0,
    ) -> None:
        self.ctx = ctx
        self._max_workers = max_workers or max(1, min(os.cpu_count() or 1, 4))
        # One conversion per worker process: single-threaded conversions when there are several.
        self.limits = docs.pool_limits(limits or ConversionLimits(), self._max_workers)
        #: RLIMIT_AS of each worker (and of the converters it starts); 0: none.
        self.memory_bytes = memory_bytes
        #: Bounds of one submission and of the spool (InsufficientStorage, 507, beyond).
        self.max_recipient_pages = 100_000
        self.max_spool_bytes = 0
        self.min_free_bytes = 64 * 2**20
        #: Whether an e-mail receipt may go to an address (None: any), issue #14.
        self.receipt_allows: Callable[[str], bool] | None = None
        #: Told each successful conversion's duration in seconds (/metrics, #18).
        self.on_conversion: Callable[[float], None] | None = None
        self._pool: ProcessPoolExecutor | None = None
        self._templates: TemplateStore | None = None
        #: The spool's room (#19: spool/docs measured every few seconds, not per submission).
        self.room = SpoolRoom(ctx.spool.docs, ctx.clock)
        #: Staged files an intake worker already checked (#19, :meth:`vouch`).
        self._vouched: dict[Path, ConversionResult] = {}
        #: Their submissions, taken together in one trip to the pool (#19 wave 7), and
        #: the hop stamps of those that carry some.
        self._committer = VouchedCommitter(self)
        self._traces: dict[Path, list[float]] = {}

    def vouch(self, ready: ConversionResult, trace: list[float] | None = None) -> None:
        """``ready.path`` (staged) was written and checked in one pass by an intake worker
        (:func:`lanfax.service.intake.stage_checked`): it is taken as it is found there,
        without scanning it again (#19, wave 7); not fsynced there (wave 8): made durable
        before the commit that refers to it, by the committer's one ``syncfs`` per group
        (:meth:`lanfax.service.spool.Spool.sync_documents`), or by :meth:`_take_ready`'s
        fsync of the file when it goes another way (cover pages).
        Whoever vouches calls :meth:`unvouch` when the submission is over, whatever became
        of it. ``trace``: the submission's hop stamps, which the committer appends to
        (``lanfax.api.intake_wire.HOPS``)."""
        self._vouched[ready.path] = ready
        if trace is not None:
            self._traces[ready.path] = trace

    def unvouch(self, path: Path) -> None:
        self._vouched.pop(path, None)
        self._traces.pop(path, None)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _converter(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # forkserver: forking a process that runs threads (uvicorn, the store) is unsafe.
            mp = multiprocessing.get_context("forkserver")
            start_forkserver_quietly()  # issue #20: workers never see Ctrl-C
            self._pool = ProcessPoolExecutor(
                self._max_workers,
                mp_context=mp,
                # Quiet signals (#20: see docs.quiet_signals) and RLIMIT_AS (#14).
                initializer=docs.worker_init,
                initargs=(self.memory_bytes,),
            )
        return self._pool

    @property
    def wall_clock(self) -> float:
        """Real seconds one job in the pool may take before its worker is killed: the
        conversion's own limit (which the converter checks) and a margin for a worker that
        stopped checking (stuck in C code, stopped, swapping)."""
        return self.limits.timeout * 1.1 + 5.0

    def _discard_pool(self, pool: ProcessPoolExecutor) -> None:
        """Kill ``pool``'s workers and forget it; the next conversion builds a new one."""
        if self._pool is pool:
            self._pool = None
        # The executor has no public way to stop a running call: its processes are killed.
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            with contextlib.suppress(Exception):
                proc.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    async def _in_pool(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a conversion worker, bounded by :attr:`wall_clock`.

        A worker that dies (killed by the kernel for memory, crashed) breaks the whole
        pool: it is rebuilt, and the call is tried once more on the new pool, since the
        worker may have died of another submission's document. A second death, or a call
        over the wall clock, fails this call only (DocumentError); later conversions run on
        a fresh pool."""
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            pool = self._converter()
            try:
                return await asyncio.wait_for(
                    loop.run_in_executor(pool, functools.partial(fn, *args)), self.wall_clock
                )
            except TimeoutError:
                self._discard_pool(pool)
                log.warning("a conversion ran past %.0f s: its worker was killed", self.wall_clock)
                raise DocumentError(
                    f"the conversion took longer than {self.wall_clock:.0f} s and was stopped",
                    hint="send a simpler document (fewer pages, no huge images), or a PDF",
                ) from None
            except BrokenProcessPool:
                self._discard_pool(pool)
                log.warning("a conversion worker died (attempt %d); the pool is rebuilt", attempt)
        raise DocumentError(
            "the conversion process died while converting this document (out of memory?)",
            hint="send a simpler document (fewer pages, smaller images), or a PDF",
        )

    async def make_document(
        self,
        staged: Sequence[Path],
        broadcast_id: str,
        resolution: str,
        labels: Sequence[str] = (),
        out: Path | None = None,
        *,
        before: Callable[[], None] | None = None,
        after: Callable[[], None] | None = None,
        then: Callable[[ConversionResult], None] | None = None,
    ) -> ConversionResult:
        """One TIFF Class F for the broadcast at ``spool/docs/<broadcast>.tif`` (or ``out``),
        durable.

        ``before`` (a blocking check that may raise) runs first, always; ``after`` (blocking
        clean-up) runs only when the file was taken as it is, in the same trip to the thread
        pool as that fast path (#19: each trip costs more than the work of a small fax), and
        so does ``then`` (blocking, given the document in place: a submission commits its
        jobs there), after ``after``. If ``then`` raises, the document is removed again.
        ``then`` must make the document's rename into ``spool/docs`` durable before it
        relies on it (a submission's commit does, ``Spool.sync_docs``: once per group).

        A DocumentError names the input by ``labels`` (e.g. "file part 2 (scan.pdf)"), never
        by its staged path."""
        clock = self.ctx.clock
        began = clock.monotonic()
        spent = 0.0  # in ``then`` (a commit): not the conversion's time

        def timed_then(result: ConversionResult) -> None:
            nonlocal spent
            start = clock.monotonic()
            try:
                if then is not None:
                    then(result)
            finally:
                spent = clock.monotonic() - start

        try:
            result = await self._make_document(
                staged, broadcast_id, resolution, out, before, after, then and timed_then
            )
            if self.on_conversion is not None:  # /metrics (#18)
                self.on_conversion(clock.monotonic() - began - spent)
        except DocumentError as exc:
            raise _relabel(exc, staged, labels) from None
        except BaseException:
            # A conversion cut short (a full disk) may leave part of the file: no job has it.
            with contextlib.suppress(OSError):
                (out or self.ctx.spool.doc_path(broadcast_id)).unlink(missing_ok=True)
            raise
        if result.warnings:
            warnings = tuple(_relabel_text(w, staged, labels) for w in result.warnings)
            result = dataclasses.replace(result, warnings=warnings)
        return result

    async def _make_document(
        self,
        staged: Sequence[Path],
        broadcast_id: str,
        resolution: str,
        out: Path | None,
        before: Callable[[], None] | None = None,
        after: Callable[[], None] | None = None,
        then: Callable[[ConversionResult], None] | None = None,
    ) -> ConversionResult:
        ctx = self.ctx
        final = out or ctx.spool.doc_path(broadcast_id)
        if len(staged) == 1:
            # One trip to the thread pool for the whole fast path (tags, every page, commit):
            # each trip costs more than the checks on a small fax (#19).
            ready = await ctx.run(self._take_ready, staged[0], final, before, after, then)
            if ready is not None:
                return ready
        elif before is not None:
            await ctx.run(before)
        if not staged:
            raise InvalidInput("no document was sent", hint="add at least one file part")
        result = await self._in_pool(_convert, list(staged), final, resolution, self.limits)
        await ctx.run(_finish_file, final)
        return result

    def _take_ready(
        self,
        staged: Path,
        final: Path,
        before: Callable[[], None] | None = None,
        after: Callable[[], None] | None = None,
        then: Callable[[ConversionResult], None] | None = None,
    ) -> ConversionResult | None:
        """A TIFF Class F moved to ``final`` as it is (durably), or None: convert it.
        ``before`` runs first in any case, ``after`` and then ``then`` once the file is in
        place. With ``then`` and ``final`` in ``spool/docs``, the rename is made durable by
        ``then`` (a submission's group commit: ``Spool.sync_docs`` before its commit)."""
        if before is not None:
            before()
        # The tags and every page (its length and its coded data, #14) in one pass (#19).
        # Anything else (not a TIFF, not Class F, a first page longer than any paper) is
        # converted: the converter checks every page's pixels against its limits.
        vouched = self._vouched.pop(staged, None)  # an intake worker's scan (#19)
        if vouched is not None:
            found = faxcheck.Scan(vouched)
        else:
            found = faxcheck.scan(staged, MAX_LENGTH, self.limits.max_pages)
        ready, bad = found.ready, found.bad
        if ready is None:
            return None
        _check_pages(ready.pages, self.limits)
        if bad is not None and "rows" in bad[1]:
            return None  # too long: the converter fits it to paper, as for page 1
        if bad is not None:
            raise DocumentError(
                f"page {bad[0]} of the TIFF: {bad[1]}",
                hint="send the original document (PDF, image), or a TIFF that"
                " tiffinfo -D reads without errors",
            )
        # The staged file may not be durable yet (a submission's upload is not fsynced when
        # staged, #19; nor is an intake worker's, #19 wave 8): it is, before the rename that
        # makes it the job's document.
        uploads.make_durable(staged)
        spool = self.ctx.spool
        if then is not None and final.parent == spool.docs:
            # The rename is made durable by ``then``'s group commit, with one fsync of
            # spool/docs for every submission in the group (#19: Spool.sync_docs).
            os.replace(staged, final)
        else:
            spool.commit_file(staged, final)
        if after is not None:
            after()
        result = dataclasses.replace(ready, path=final)
        if then is not None:
            then(result)
        return result

    async def submit(
        self,
        submission: Submission,
        staged: Sequence[Path],
        *,
        user_name: str,
        stage_dir: Path | None = None,
        labels: Sequence[str] = (),
        audit: Sequence[AuditEntry] = (),
        broadcast_id: str | None = None,
        write_first: Callable[[], None] | None = None,
    ) -> tuple[str, list[Job]]:
        """Make the document and commit the jobs (with ``audit``, in the same transaction);
        returns (broadcast_id, jobs). ``broadcast_id`` (default: a new one) lets a caller
        that retries after a crash find out whether its jobs were committed.
        ``write_first`` (blocking: :meth:`lanfax.service.uploads.Deferred.write`) writes the
        ``staged`` files in the first trip to the thread pool, before anything reads them."""
        ctx = self.ctx
        broadcast_id = broadcast_id or token_hex(8)
        template = self._cover_template(submission, user_name)
        if (
            template is None
            and submission.cover_page is None
            and write_first is None
            and len(staged) == 1
            and stage_dir == staged[0]
            and staged[0] in self._vouched
        ):
            # #19 wave 7: an intake worker's prepared submission (its one document written
            # and checked there): with the others waiting, in one trip to the pool, one
            # syncfs (wave 8) and one commit (lanfax.service.intake_commit).
            jobs = await self._committer.submit(
                submission,
                staged[0],
                user_name=user_name,
                labels=labels,
                audit=audit,
                broadcast_id=broadcast_id,
            )
            return broadcast_id, jobs
        removed = stage_dir is None

        def remove_stage() -> None:  # in the fast path's trip to the pool, when it is taken
            nonlocal removed
            # A stage that is the upload itself (one plain file, #19) was moved as it is.
            if stage_dir is not None and list(staged) != [stage_dir]:
                uploads.discard_stage(stage_dir)
            removed = True

        committed: list[Committed] = []

        def commit_now(body: ConversionResult) -> None:
            # Without cover pages, the jobs are committed in the fast path's trip to the pool,
            # right after their document is in place (#19: one trip for the whole submission;
            # if this raises, make_document removes the document again).
            self._check_recipient_pages(submission, body.pages)
            each = len(submission.recipients)
            jobs, events = self._jobs_for(
                submission,
                broadcast_id,
                user_name,
                ctx.clock.now(),
                body,
                [body] * each,
                [{} for _ in range(each)],
            )
            # The document's rename into spool/docs is made durable before the commit, once
            # for the whole group commit (_take_ready left it to this commit, #19).
            committed.append(ctx.commit_jobs(jobs, events, audit, sync=ctx.spool.sync_docs))

        try:
            body = await self.make_document(
                staged,
                broadcast_id,
                submission.resolution,
                labels,
                before=functools.partial(self._check_room_now, staged, write_first),
                after=None if removed else remove_stage,
                then=commit_now if submission.cover_page is None else None,
            )
        finally:
            if not removed and stage_dir is not None:
                await ctx.run(uploads.discard_stage, stage_dir)
        if committed:
            return broadcast_id, await ctx.jobs_committed(committed[0])
        now = ctx.clock.now()
        try:
            self._check_recipient_pages(submission, body.pages)
        except BaseException:
            body.path.unlink(missing_ok=True)
            raise
        # The body is stored once; with cover pages each recipient has its own one-page
        # cover file, joined to the body only when the whole fax is needed (#14).
        docs_per_job = [body] * len(submission.recipients)
        extra_per_job: list[dict[str, Any]] = [{} for _ in submission.recipients]
        if submission.cover_page is not None:
            try:
                docs_per_job = await self._cover_documents(
                    submission, submission.cover_page, template, body, broadcast_id, now
                )
            except BaseException:
                body.path.unlink(missing_ok=True)
                raise
            extra_per_job = [{"body_path": ctx.spool.relative(body.path)} for _ in docs_per_job]
        jobs, events = self._jobs_for(
            submission, broadcast_id, user_name, now, body, docs_per_job, extra_per_job
        )
        try:
            added = await ctx.add_jobs(jobs, events, audit)
        except BaseException:
            # Not committed: the documents belong to no job.
            for d in {*docs_per_job, body}:
                d.path.unlink(missing_ok=True)
            raise
        return broadcast_id, added

    def _jobs_for(
        self,
        submission: Submission,
        broadcast_id: str,
        user_name: str,
        now: datetime,
        body: ConversionResult,
        docs_per_job: Sequence[ConversionResult],
        extra_per_job: Sequence[dict[str, Any]],
    ) -> tuple[list[Job], list[NewEvent]]:
        """One job per recipient (each with its document: the body, or its own cover +
        body), and each job's FEI_JOB_QUEUED event."""
        ctx = self.ctx
        jobs: list[Job] = []
        events: list[NewEvent] = []
        for p, doc, own in zip(submission.recipients, docs_per_job, extra_per_job, strict=True):
            whole_size = doc.size + (body.size if own else 0)
            whole_pages = doc.pages + (body.pages if own else 0)
            extra = dict(own)
            if submission.receipt_summary:
                extra["receipt_summary"] = True
            if body.warnings:  # what the pages do not show as asked (#15): kept on every job
                extra["warnings"] = list(body.warnings)
            jobs.append(
                Job(
                    job_id=0,
                    job_type=JobType.SEND,
                    queue_status=QueueStatus.PENDING,
                    submitted_at=now,
                    user_name=user_name,
                    size=whole_size,
                    page_count=whole_pages,
                    recipient_number=p.recipient_number,
                    recipient_name=p.recipient_name,
                    tsid=p.tsid,
                    sender_name=p.sender_name,
                    sender_company=p.sender_company,
                    sender_dept=p.sender_dept,
                    billing_code=p.billing_code,
                    schedule_action=p.schedule_action,
                    schedule_time=p.schedule_time,
                    delivery_report_type=p.delivery_report_type,
                    delivery_report_address=p.delivery_report_address,
                    document_name=p.document_name,
                    call_handle=p.call_handle,
                    priority=p.priority,
                    broadcast_id=broadcast_id,
                    document_path=ctx.spool.relative(doc.path),
                    cover_page=submission.cover_page,
                    compression=doc.compression,
                    extra={**submission.extra, **extra},
                )
            )
            events.append(NewEvent(EventId.JOB_QUEUED, 0, 0, {"broadcast_id": broadcast_id}))
        return jobs, events

    def _check_room_now(
        self, staged: Sequence[Path], write_first: Callable[[], None] | None = None
    ) -> None:
        """InsufficientStorage (507, with the figures) when the spool cannot take this
        submission: its disk would keep less than min_free_mb, or spool/docs is already
        at max_spool_mb. Checked before converting anything; blocking (in the pool).
        ``write_first``: the staged files are written first (#19: in this same trip)."""
        if write_first is not None:
            write_first()
        room = self.room
        room.max_spool_bytes, room.min_free_bytes = self.max_spool_bytes, self.min_free_bytes
        room.check(staged)

    def check_receipt_addresses(self, submission: Submission) -> None:
        """422 for an e-mail receipt to a domain the server does not mail receipts to (the
        HTTP API checks its submissions; the e-mail gateway answers the mail's own sender)."""
        if self.receipt_allows is None:
            return
        for i, p in enumerate(submission.recipients):
            address = p.delivery_report_address
            email = p.delivery_report_type is DeliveryReportType.EMAIL
            if email and address and not self.receipt_allows(address):
                raise InvalidInput(
                    f"recipients[{i}].delivery_report_address: receipts are not mailed to"
                    f" {address.rsplit('@', 1)[-1]}",
                    hint="use an address of your organisation's mail domain; an"
                    " administrator sets them with [receipts] allowed_domains",
                )

    def _check_recipient_pages(self, submission: Submission, pages: int) -> None:
        recipients = len(submission.recipients)
        cover = 1 if submission.cover_page is not None else 0
        total = recipients * (pages + cover)
        if total > self.max_recipient_pages:
            raise InsufficientStorage(
                f"{recipients} recipient(s) x {pages + cover} page(s) is {total} pages to send,"
                f" more than the {self.max_recipient_pages} one submission may hold"
                " (server.max_recipient_pages)",
                hint="send it in several submissions, or raise server.max_recipient_pages",
                recipients=recipients,
                pages=pages + cover,
            )

    def _cover_template(self, submission: Submission, user_name: str) -> Path | None:
        """The cover page template, checked before any conversion (ServerCp, unknown name)."""
        if submission.cover_page is None:
            return None
        if self._templates is None:
            self._templates = covers.template_store(self.ctx.spool.root.parent)
        return covers.choose_template(
            self._templates, submission.cover_page, user_name, self.ctx.config
        )

    async def _cover_documents(
        self,
        submission: Submission,
        info: CoverPageInfo,
        template: Path | None,
        body: ConversionResult,
        broadcast_id: str,
        now: datetime,
    ) -> list[ConversionResult]:
        """Each recipient's own cover page (one page, at the body's resolution and
        compression) at ``spool/docs/<broadcast>-<i>.tif``, fsynced with the directory; all
        or none. The body is not copied: it is joined to the cover when the line needs it."""
        ctx = self.ctx
        outs = [ctx.spool.job_doc_path(broadcast_id, i) for i in range(len(submission.recipients))]
        futures = [
            self._in_pool(
                covers.cover_document,
                covers.recipient_info(
                    recipient_cover_page(info, submission, i), p, now, ctx.tz, body.pages
                ),
                template,
                out,
                body.resolution,
                body.compression,
            )
            for i, (p, out) in enumerate(zip(submission.recipients, outs, strict=True))
        ]
        results = await asyncio.gather(*futures, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            for out in outs:
                out.unlink(missing_ok=True)
            raise failed[0]
        await ctx.run(fsync_dir, ctx.spool.docs)
        return [r for r in results if isinstance(r, ConversionResult)]


def _relabel(exc: DocumentError, staged: Sequence[Path], labels: Sequence[str]) -> DocumentError:
    """The converter names an input by its path or file name; those are the spool's
    business. Name it as the user knows it instead."""
    return DocumentError(_relabel_text(exc.message, staged, labels), hint=exc.hint, **exc.detail)


def _relabel_text(message: str, staged: Sequence[Path], labels: Sequence[str]) -> str:
    """``message`` with the staged inputs' paths and names replaced by the user's labels."""
    names = [str(label) for label in labels] or [f"file {i + 1}" for i in range(len(staged))]
    for path, label in zip(staged, names, strict=False):
        message = message.replace(str(path), label)
    for path, label in zip(staged, names, strict=False):
        if message.startswith(path.name):
            message = label + message[len(path.name) :]
            break
    return re.sub(r"\S*/spool/tmp(?:-[^/\s]+)?/\S*", "(the upload)", message)


def _check_pages(pages: int, limits: ConversionLimits) -> None:
    if pages > limits.max_pages:
        raise DocumentError(
            f"the document has {pages} pages, more than the {limits.max_pages} allowed",
            hint="send it in parts, or raise server.max_pages",
        )


def _convert(
    inputs: list[Path], out: Path, resolution: str, limits: ConversionLimits
) -> ConversionResult:
    """Runs in a worker process."""
    return docs.convert(inputs, out, resolution=resolution, limits=limits)


#: For the intake's one committer (lanfax.service.intake_commit, #19 wave 7): the same checks.
check_pages, relabel = _check_pages, _relabel
