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

This module holds the jobs (one per recipient, cover pages, the commit); the document (the
fast path of a fax-ready TIFF, the conversion pool, :func:`start_forkserver_quietly`) is in
:mod:`lanfax.service.submit_document`, the base class of :class:`Submitter`.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from lanfax.documents.cover import TemplateStore
from lanfax.documents.types import ConversionLimits, ConversionResult
from lanfax.model.codes import DeliveryReportType, EventId, JobType, QueueStatus
from lanfax.model.errors import InsufficientStorage, InvalidInput
from lanfax.model.events import NewEvent
from lanfax.model.jobs import CoverPageInfo, Job
from lanfax.service import covers, docs, uploads
from lanfax.service.context import Committed, ServiceContext
from lanfax.service.intake_commit import VouchedCommitter
from lanfax.service.spool import fsync_dir, token_hex
from lanfax.service.spoolroom import SpoolRoom
from lanfax.service.submission import (
    MAX_RECIPIENTS,
    Submission,
    contact_references,
    parse_submission,
    recipient_cover_page,
)
from lanfax.service.submit_document import (
    DocumentMaker,
    _check_pages,
    _relabel,
    start_forkserver_quietly,
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

#: For the intake's one committer (lanfax.service.intake_commit, #19 wave 7): the same checks.
check_pages, relabel = _check_pages, _relabel


class Submitter(DocumentMaker):
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
