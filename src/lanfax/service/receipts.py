"""Delivery receipts of send jobs, and the transmission report.

:class:`Receipts` watches job changes (``ServiceContext.on_jobs_changed``). A send job whose
DeliveryReportType is e-mail or inbox owes a receipt when it reaches a final state
(completed, failed, retries exceeded, canceled) and - with ``[receipts] on_retry`` - after
each failed attempt that leaves retries. A broadcast submitted with ``receipt_summary`` owes
ONE receipt, when the last of its jobs is final, listing every recipient.

A receipt is first committed to the ``receipts`` table (idempotent by its key), then:

* inbox: that is all - it is in the submitter's list (``GET /api/v1/receipts``);
* e-mail: it is ``pending`` until mailed through the ``[receipts]`` SMTP server with
  :func:`lanfax.routing.builtin.mail.send`; a failure that may pass (server down, 4xx) is
  retried with doubling delays up to ``max_tries``, then the receipt is ``failed``. Either way
  it is logged; the job is never held or failed by its receipt.

Durability: the job's final state is committed before its receipt (they are different
transactions), so the start-up catch-up looks for final jobs of the last days that asked
for a receipt and have none - the job's final state with no receipt row IS the marker - and
pending e-mails are picked up from the table. A receipt owed at SIGKILL time is sent after
the restart (at least once: one mailed just before the kill may be mailed again, with the
same Message-ID).

Several nodes on one database (#18): receipts are made by the node that saw the job end
(and, by any node, for a job whose node died before making it: ``catch_up_every``); making
one twice is harmless (idempotent by key). Mailing is claimed: a node takes a pending receipt
with one atomic update (``tries`` + 1, ``next_try_at`` set to the claim's end, 5 minutes)
before it mails it, and writes the outcome only while its claim holds (fenced on ``tries``),
so each try is made by exactly one node; a node that dies mailing leaves the receipt to the
others when its claim ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
import tempfile
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from lanfax.model.codes import DeliveryReportType, JobType, QueueStatus
from lanfax.model.errors import ConfigError, Conflict, FaxError
from lanfax.model.jobs import Job, JobQuery
from lanfax.model.receipts import Receipt
from lanfax.routing.builtin import mail
from lanfax.routing.schema import email_address
from lanfax.service.context import ServiceContext
from lanfax.service.receipt_text import (
    ReceiptSettings,
    build_message,
    compose,
    report_fields,
)
from lanfax.store.api import ReceiptStore
from lanfax.store.codec import to_micros

log = logging.getLogger("lanfax.outbound")

#: How far back the start-up catch-up looks for final jobs whose receipt was never made.
CATCH_UP = timedelta(days=3)
#: Longest real-time sleep of the mailer between looks at the table.
MAX_IDLE_SECONDS = 30.0
#: #18: a node's claim on a receipt it is mailing (longer than any SMTP exchange takes).
CLAIM = timedelta(minutes=5)
#: #18: a job that ended this long ago without its receipt is owed by a node that died.
CATCH_UP_GRACE = timedelta(seconds=30)
#: Job states a transmission report describes.
REPORTABLE = frozenset({QueueStatus.COMPLETED, QueueStatus.FAILED, QueueStatus.RETRIES_EXCEEDED})
#: The submission parameter (kept in ``job.extra``) asking for one receipt per broadcast.
SUMMARY_KEY = "receipt_summary"
#: ``job.extra`` key choosing the receipt's attachment for that job ("first_page", "report",
#: "none"), over ``[receipts] attach`` (set by the e-mail to fax gateway).
ATTACH_KEY = "receipt_attach"
#: ``job.extra`` key holding the Message-ID of the mail a job came from (e-mail to fax): its
#: receipt is threaded under that mail.
MESSAGE_ID_KEY = "smtp_message_id"
#: Receipt kinds about jobs (others are notices: see :meth:`Receipts.add_notice`).
JOB_KINDS = ("final", "attempt", "summary")


def wants_receipt(job: Job) -> bool:
    return job.job_type is JobType.SEND and job.delivery_report_type is not DeliveryReportType.NONE


def report_pdf(job: Job, fields: dict[str, Any], tiff: Path | None) -> bytes:
    """The transmission report of ``job`` as PDF bytes (blocking)."""
    from lanfax.documents.report import render_report

    with tempfile.TemporaryDirectory(prefix="lanfax-report-") as tmp:
        out = Path(tmp) / f"report-{job.job_id}.pdf"
        render_report(fields, tiff if tiff is not None and tiff.is_file() else None, out)
        return out.read_bytes()


def first_page_pdf(tiff: Path) -> bytes:
    """The first page of the fax at ``tiff`` as a one-page PDF (blocking)."""
    from lanfax.documents import first_page, tiff_to_pdf

    data, _, _ = first_page(tiff)
    with tempfile.TemporaryDirectory(prefix="lanfax-receipt-") as tmp:
        page = Path(tmp) / "page1.tif"
        page.write_bytes(data)
        out = Path(tmp) / "page1.pdf"
        tiff_to_pdf(page, out)
        return out.read_bytes()


class Receipts:
    """Makes, stores and mails receipts. ``start()`` / ``stop()`` on the service's loop."""

    def __init__(self, ctx: ServiceContext, settings: ReceiptSettings) -> None:
        self.ctx = ctx
        self.settings = settings
        self._jobs: asyncio.Queue[tuple[str, Job]] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._round = asyncio.Condition()
        self._begun = 0  # mailer rounds begun ...
        self._done = 0  # ... and the number of the last one ended
        self._tasks: list[asyncio.Task[None]] = []
        #: #18: how long a node's claim on a receipt lasts (the longest a try may take
        #: before another node may try it), and how often (seconds) a node of a cluster
        #: looks for receipts another node owed when it died (None: one node, only at start).
        self.lease = CLAIM
        self.catch_up_every: float | None = None
        #: Set when no other node is alive at start: every pending receipt is tried at once
        #: (a claim of this node's earlier process, which died mailing, is cleared with the
        #: waits of the retries; with other nodes alive a claim may be theirs: it runs out).
        self.retry_claimed_at_start = False
        self._next_catch_up = 0.0
        ctx.on_jobs_changed(self._changed)

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        since = self.ctx.clock.now() - CATCH_UP
        if self.retry_claimed_at_start:
            now = self.ctx.clock.now()
            waiting = [
                r
                for r in await self.ctx.run(self.db.pending)
                if r.next_try_at is not None and r.next_try_at > now
            ]
            for r in waiting:
                await self.ctx.run(self.db.update, r.receipt_id, next_try_at=None)
            if waiting:
                log.info("%d pending receipt(s) tried again at start", len(waiting))
        for job in await self.ctx.run(self.db.owed_jobs, since):
            self._jobs.put_nowait(("final", job))
        if self.settings.on_retry:
            for job in list(self.ctx.unfinished.values()):
                if job.queue_status is QueueStatus.RETRYING and wants_receipt(job):
                    self._jobs.put_nowait(("attempt", job))
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._compose_loop(), name="lanfax-receipts"),
            loop.create_task(self._mail_loop(), name="lanfax-receipt-mail"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    @property
    def db(self) -> ReceiptStore:
        """The store's receipts (any store: the interface, #17)."""
        return self.ctx.store.receipts

    def wake(self) -> None:
        """Look at the pending e-mails now (after a test moved a ManualClock, for instance)."""
        self._wake.set()

    async def idle(self) -> None:
        """Wait until every job change seen so far has its receipt made, and the mailer has
        been through every receipt due now (tests)."""
        await self._jobs.join()
        async with self._round:
            target = self._begun + 1  # a round that begins after this call
            self._wake.set()
            await self._round.wait_for(lambda: self._done >= target)

    # -- watching jobs ------------------------------------------------------------------------

    def _changed(self, jobs: Sequence[Job]) -> None:
        for job in jobs:
            if not wants_receipt(job):
                continue
            if job.is_final:
                self._jobs.put_nowait(("final", job))
            elif (
                job.queue_status is QueueStatus.RETRYING
                and job.last_failure is not None
                and self.settings.on_retry
            ):
                self._jobs.put_nowait(("attempt", job))

    async def _compose_loop(self) -> None:
        while True:
            kind, job = await self._jobs.get()
            try:
                await self._make(kind, job)
            except FaxError as exc:
                log.error("receipt for job %d not made: %s", job.job_id, exc.message)
            except Exception:  # a bug must not stop receipts for every later job
                log.exception("receipt for job %d not made", job.job_id)
            finally:
                self._jobs.task_done()

    async def _make(self, kind: str, job: Job) -> None:
        summary = bool(job.extra.get(SUMMARY_KEY)) and bool(job.broadcast_id)
        if summary:
            if kind != "final":
                return  # a summary broadcast owes one receipt, at its end
            query = JobQuery(limit=1000, broadcast_id=job.broadcast_id)
            jobs = await self.ctx.run(self.ctx.store.list_jobs, query)
            if not jobs or not all(j.is_final for j in jobs):
                return  # the last job to end makes the summary
            last = max(to_micros(j.completed_at or j.submitted_at) for j in jobs)
            key = f"summary:{job.broadcast_id}:{last}"
            owner = next((j for j in jobs if wants_receipt(j)), job)
            await self._add("summary", key, owner, jobs)
            return
        if kind == "final":
            key = f"final:{job.job_id}:{to_micros(job.completed_at or job.submitted_at)}"
        else:
            key = f"attempt:{job.job_id}:{job.attempts}"
        await self._add(kind, key, job, [job])

    async def _add(self, kind: str, key: str, owner: Job, jobs: Sequence[Job]) -> None:
        ctx = self.ctx
        subject, body, facts = compose(kind, jobs, ctx.config, ctx.tz)
        email = owner.delivery_report_type is DeliveryReportType.EMAIL
        address = owner.delivery_report_address.strip() if email else ""
        state, error = ("pending", "") if email else ("stored", "")
        if email:
            try:
                email_address(address)
            except ConfigError as exc:
                state, error = "failed", f"DeliveryReportAddress: {exc.message}"
        receipt = Receipt(
            receipt_id=0,
            kind=kind,
            job_id=owner.job_id,
            created_at=ctx.clock.now(),
            broadcast_id=owner.broadcast_id,
            user_name=owner.user_name,
            delivery="email" if email else "inbox",
            address=address,
            state=state,
            last_error=error,
            subject=subject,
            body=body,
            facts=facts,
        )
        stored, new = await ctx.run(self.db.add, receipt, key)
        if not new:
            return
        if error:
            log.error(
                "receipt %d for job %d not mailed: %s", stored.receipt_id, owner.job_id, error
            )
        else:
            log.info("receipt %d for job %d: %s", stored.receipt_id, owner.job_id, subject)
        if state == "pending":
            self._wake.set()

    async def add_notice(
        self,
        kind: str,
        key: str,
        *,
        user_name: str,
        address: str,
        subject: str,
        body: str,
        job_id: int = 0,
        broadcast_id: str = "",
        facts: dict[str, Any] | None = None,
    ) -> bool:
        """Commit a mail that is not a job's receipt (the e-mail to fax gateway's "accepted"
        and "refused" replies) and have the mailer send it, with the receipts' retries.
        Idempotent by ``key``; returns whether it is new."""
        ctx = self.ctx
        state, error = "pending", ""
        try:
            email_address(address)
        except ConfigError as exc:
            state, error = "failed", f"address: {exc.message}"
        notice = Receipt(
            receipt_id=0,
            kind=kind,
            job_id=job_id,
            created_at=ctx.clock.now(),
            broadcast_id=broadcast_id,
            user_name=user_name,
            delivery="email",
            address=address,
            state=state,
            last_error=error,
            subject=subject,
            body=body,
            facts=dict(facts or {}),
        )
        stored, new = await ctx.run(self.db.add, notice, key)
        if new and error:
            log.error("%s %d not mailed: %s", kind, stored.receipt_id, error)
        elif new:
            log.info("%s %d to %s: %s", kind, stored.receipt_id, address, subject)
            self._wake.set()
        return new

    # -- mailing ------------------------------------------------------------------------------

    async def _mail_loop(self) -> None:
        while True:
            self._wake.clear()
            self._begun += 1
            this_round = self._begun
            next_at: datetime | None = None
            try:
                for r in await self.ctx.run(self.db.pending):
                    now = self.ctx.clock.now()
                    if r.next_try_at is not None and r.next_try_at > now:
                        # A later retry, or another node's claim: look again when it is due
                        # (a node that died mailing it leaves it to the others then).
                        next_at = r.next_try_at if next_at is None else min(next_at, r.next_try_at)
                        continue
                    await self._mail(r)
                await self._catch_up_now()
            except FaxError as exc:
                log.error("receipts: %s", exc.message)
            async with self._round:
                self._done = this_round
                self._round.notify_all()
            timeout = MAX_IDLE_SECONDS
            if next_at is not None:
                delta = (next_at - self.ctx.clock.now()).total_seconds()
                timeout = min(max(delta, 0.0), MAX_IDLE_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _attachments(self, r: Receipt) -> list[tuple[str, bytes]]:
        if r.kind not in JOB_KINDS:
            return []  # a notice (e-mail to fax: accepted, refused) has no fax to show
        ids = [j["job_id"] for j in r.facts.get("jobs", [])] or [r.job_id]
        jobs = [j for j in [await self.ctx.get_job(i) for i in ids] if j is not None]
        # A submission may choose the attachment (e-mail to fax: the transmission report).
        how = next(
            (str(j.extra[ATTACH_KEY]) for j in jobs if ATTACH_KEY in j.extra),
            self.settings.attach,
        )
        if how == "none":
            return []
        out: list[tuple[str, bytes]] = []
        for job in jobs:
            tiff = None
            if job.document_path:
                tiff = await self.ctx.run(self.ctx.spool.resolve, job.document_path)
            if how == "report":
                fields = report_fields(job, self.ctx.config, self.ctx.tz)
                data = await self.ctx.run_heavy(report_pdf, job, fields, tiff)
                out.append((f"report-{job.job_id}.pdf", data))
            elif tiff is not None and await self.ctx.run(tiff.is_file):
                out.append(
                    (f"fax-{job.job_id}-page1.pdf", await self.ctx.run(first_page_pdf, tiff))
                )
                break  # a broadcast's jobs share one document: its first page once
        return out

    async def _in_reply_to(self, r: Receipt) -> str:
        """The Message-ID of the mail a receipt answers (e-mail to fax), or ""."""
        found = r.facts.get("message_id")
        if not found and r.kind in JOB_KINDS and r.job_id:
            job = await self.ctx.get_job(r.job_id)
            found = job.extra.get(MESSAGE_ID_KEY) if job is not None else None
        return str(found or "")

    async def _mail(self, pending: Receipt) -> None:
        ctx = self.ctx
        if not self.settings.mail_enabled:
            error = "no mail server for receipts: set smtp_host and sender in [receipts]"
            await ctx.run(self.db.update, pending.receipt_id, state="failed", last_error=error)
            log.error(
                "receipt %d for job %d not mailed: %s", pending.receipt_id, pending.job_id, error
            )
            return
        # #18: claimed first (tries + 1, next_try_at = the lease), so that of several nodes
        # mailing from one table exactly one tries it; every write after is fenced on tries.
        now = ctx.clock.now()
        claimed = await ctx.run(self.db.claim, pending.receipt_id, now, now + self.lease)
        if claimed is None:
            return  # another node has it (or it is no longer pending)
        r = claimed
        tries = r.tries
        info = self.settings.smtp_info()
        server = f"{info['smtp_host']}:{info['smtp_port']}"
        try:
            attachments = await self._attachments(r)
        except FaxError as exc:  # the document is unreadable: the receipt still goes
            log.warning("receipt %d: no attachment: %s", r.receipt_id, exc.message)
            attachments = []
        msg = build_message(
            key=f"{r.receipt_id}:{r.created_at.isoformat()}",
            subject=r.subject,
            body=r.body,
            sender=self.settings.sender,
            to=r.address,
            job_id=r.job_id,
            now=ctx.clock.now(),
            attachments=attachments,
            in_reply_to=await self._in_reply_to(r),
        )
        try:
            refused = await asyncio.to_thread(mail.send, msg, info)
        except (smtplib.SMTPException, OSError) as exc:
            result = mail.classify(exc, server)
            now = ctx.clock.now()
            if result.retryable and tries < self.settings.max_tries:
                delay = self.settings.backoff(tries)
                await self._settle(
                    r,
                    last_error=result.reason,
                    next_try_at=now + timedelta(seconds=delay),
                )
                log.warning(
                    "receipt %d for job %d: %s; trying again in %.0f s (try %d of %d)",
                    r.receipt_id,
                    r.job_id,
                    result.reason,
                    delay,
                    tries,
                    self.settings.max_tries,
                )
            else:
                await self._settle(r, state="failed", last_error=result.reason)
                log.error(
                    "receipt %d for job %d given up after %d tries: %s",
                    r.receipt_id,
                    r.job_id,
                    tries,
                    result.reason,
                )
            return
        error = "; ".join(f"{a}: {c} {m!r}" for a, (c, m) in refused.items()) if refused else ""
        await self._settle(
            r, state="sent", sent_at=ctx.clock.now(), next_try_at=None, last_error=error
        )
        log.info(
            "receipt %d for job %d mailed to %s via %s", r.receipt_id, r.job_id, r.address, server
        )

    async def _settle(self, r: Receipt, **changes: Any) -> None:
        """Write a try's outcome, fenced on the claim (#18); a node whose claim ran out (its
        mail server took longer than the lease) leaves the row to the node that has it."""
        if not await self.ctx.run(self.db.settle, r.receipt_id, r.tries, **changes):
            log.warning(
                "receipt %d: the outcome of try %d is not written: another node took the"
                " receipt over (the try outlasted its %.0f s claim)",
                r.receipt_id,
                r.tries,
                self.lease.total_seconds(),
            )

    async def _catch_up_now(self) -> None:
        """With several nodes (``catch_up_every`` set): every so often, make the receipts of
        final jobs that have none and ended more than :data:`CATCH_UP_GRACE` ago (their node
        died between the job's end and its receipt). Idempotent by key: two nodes catching
        up at once make one receipt."""
        every = self.catch_up_every
        if every is None:
            return
        loop_now = asyncio.get_running_loop().time()
        if loop_now < self._next_catch_up:
            return
        self._next_catch_up = loop_now + every
        now = self.ctx.clock.now()
        try:
            owed = await self.ctx.run(self.db.owed_jobs, now - CATCH_UP)
        except FaxError as exc:
            log.error("receipts catch-up: %s", exc.message)
            return
        for job in owed:
            if (job.completed_at or job.submitted_at) <= now - CATCH_UP_GRACE:
                self._jobs.put_nowait(("final", job))

    # -- queries ----------------------------------------------------------------------------

    async def list_for(
        self, user_name: str | None, *, before: int | None = None, limit: int = 100
    ) -> list[Receipt]:
        return await self.ctx.run(self.db.list_for, user_name, before=before, limit=limit)

    async def report(self, job: Job) -> bytes:
        """The transmission report of a completed or failed send job, as PDF bytes."""
        if job.job_type is not JobType.SEND or job.queue_status not in REPORTABLE:
            raise Conflict(
                f"job {job.job_id} is {job.queue_status.name.lower()}: "
                "a transmission report is made for a completed or failed send job",
                hint="wait until the job has ended (see its queue_status), then ask again",
            )
        tiff = None
        if job.document_path:
            tiff = await self.ctx.run(self.ctx.spool.resolve, job.document_path)
        fields = report_fields(job, self.ctx.config, self.ctx.tz)
        return await self.ctx.run_heavy(report_pdf, job, fields, tiff)
