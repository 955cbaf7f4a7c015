"""The FaxOut printer's operations over the fax service (PWG 5100.15, RFC 8011).

:class:`FaxOut` takes a decoded request, the authenticated caller and the printer's URIs,
and returns the response :class:`~lanfax.service.ipp.codec.Message`; the HTTP adapter
(:mod:`lanfax.api.ipp`) only moves bytes. Every refusal is an IPP status with a
``status-message`` a person can read, and a refused request queues nothing: the job row is
written only once the fax (or the draft) is committed.

A printed job with destinations becomes one lanfax broadcast (one job per number, sharing the
document) through the same submission path as ``POST /api/v1/jobs``; its IPP state follows
that broadcast's jobs. A printed job without destinations becomes a draft of its owner.
Rights are the API's: submitting needs job_submit (and submit_normal), seeing or canceling
another user's printed job needs query_jobs / manage_jobs.

Three modules: this one answers the operations; :mod:`lanfax.service.ipp.faxout_docs` stages a
printed document and faxes it or keeps it as a draft; :mod:`lanfax.service.ipp.envelope` holds
the responses' envelope (:class:`Endpoint` and :func:`error_response` are importable from here
too).
"""

from __future__ import annotations

import logging
import uuid as uuidlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lanfax import __version__
from lanfax.model.codes import AccessRightEx, DeviceStatus, PortFlags
from lanfax.model.drafts import (
    IPP_ABORTED,
    IPP_CANCELED,
    IPP_DRAFT,
    IPP_FAXING,
    IPP_INCOMING,
    IppJob,
)
from lanfax.model.errors import (
    Conflict,
    FaxError,
)
from lanfax.model.jobs import Job, JobQuery
from lanfax.service.ipp import intake, jobview, printer
from lanfax.service.ipp import request as rq
from lanfax.service.ipp.codec import (
    Group,
    GroupTag,
    Message,
    Status,
    Tag,
)
from lanfax.service.ipp.envelope import (
    Endpoint,
    Result,
    check_operation_group,
    error_response,
    fax_status,
    operation_group,
    response_version,
)
from lanfax.service.ipp.faxout_docs import DocumentIntake
from lanfax.service.ipp.model import (
    FINAL_JOB_STATES,
    FaxRequest,
    IppError,
    Op,
    Progress,
    broadcast_state,
    fax_request,
    one,
)
from lanfax.service.rights import Caller, right_name

if TYPE_CHECKING:
    from lanfax.service.core import FaxService

__all__ = ["Endpoint", "FaxOut", "error_response"]

log = logging.getLogger("lanfax.ipp")

#: The job attributes answered to Print-Job, Create-Job and Send-Document.
_CREATED = [
    "job-id",
    "job-uri",
    "job-state",
    "job-state-reasons",
    "job-state-message",
    "lanfax-draft-id",
]

#: Settings namespace holding the printer's stable UUID.
_NS = "ipp.printer"
_MAX_JOB_NAME = 255


class FaxOut(DocumentIntake):
    """The IPP FaxOut printer of one fax service."""

    def __init__(self, service: FaxService, name: str = "lanfax") -> None:
        self.service = service
        self.name = name
        self._uuid: str | None = None
        #: Jobs being canceled/closed by one request at a time (Send-Document races).
        self._busy: set[int] = set()

    async def printer_uuid(self) -> str:
        if self._uuid is None:
            ctx = self.service.ctx
            rec = await ctx.get_settings(_NS)
            value = rec.get("uuid") if isinstance(rec, dict) else None
            if not isinstance(value, str):
                value = str(uuidlib.uuid4())
                await ctx.put_settings(_NS, {**(rec or {}), "uuid": value})
            self._uuid = value
        return self._uuid

    # -- dispatch ------------------------------------------------------------------------------

    async def handle(self, req: Message, caller: Caller, where: Endpoint) -> Message:
        """The response to ``req`` from ``caller``. Never raises for a client's mistake."""
        version = response_version(req)
        try:
            if req.version[0] not in (1, 2):
                raise IppError(
                    Status.VERSION_NOT_SUPPORTED,
                    f"IPP version {req.version[0]}.{req.version[1]} is not supported; "
                    "use 1.1 or 2.0",
                )
            check_operation_group(req)
            try:
                op = Op(req.code)
            except ValueError:
                raise IppError(
                    Status.OPERATION_NOT_SUPPORTED,
                    f"operation 0x{req.code:04X} is not supported by this fax printer",
                ) from None
            handler = getattr(self, "_" + op.name.lower())
            groups, message, status = await handler(req, caller, where)
            return Message(
                version, int(status), req.request_id, (operation_group(message), *groups)
            )
        except IppError as exc:
            return error_response(req.request_id, exc.status, exc.message, version)
        except FaxError as exc:
            status = fax_status(exc)
            if status is Status.INTERNAL_ERROR:
                log.error("IPP operation 0x%04X failed: %s", req.code, exc)
            text = exc.message + (f" ({exc.hint})" if exc.hint else "")
            return error_response(req.request_id, status, text, version)

    # -- helpers -------------------------------------------------------------------------------

    async def _get_job(self, job_id: int, caller: Caller, *, manage: bool) -> IppJob:
        job = await self.service.ctx.run(self.db.get_job, job_id)
        if job is None:
            raise IppError(Status.NOT_FOUND, f"there is no job {job_id} on this printer")
        right = AccessRightEx.MANAGE_JOBS if manage else AccessRightEx.QUERY_JOBS
        if job.user_name != caller.user and not caller.holds(right):
            raise IppError(
                Status.NOT_AUTHORIZED,
                f"job {job_id} belongs to another user; seeing or canceling it needs the "
                f"right {right_name(right)}",
            )
        return job

    def _validate(self, req: Message, caller: Caller) -> FaxRequest:
        """Everything Validate-Job, Print-Job and Create-Job check before doing anything."""
        rq.check_target_printer(req)
        rq.require_submit(caller)
        rq.check_compression(req)
        fax = fax_request(rq.job_groups(req))
        if fax.destinations:
            self._submission(fax, "check")  # the dialing rules, before anything is kept
        return fax

    # -- job state -----------------------------------------------------------------------------

    async def _progress(self, job: IppJob) -> tuple[Progress, list[Job]]:
        if job.state == IPP_FAXING:
            jobs = await self.service.list_jobs(JobQuery(limit=1000, broadcast_id=job.broadcast_id))
            return broadcast_state(jobs), jobs
        return jobview.stored_progress(job), []

    async def _job_attributes(
        self, job: IppJob, where: Endpoint, requested: Sequence[str] | None
    ) -> Group:
        progress, jobs = await self._progress(job)
        return jobview.job_group(
            job,
            progress,
            jobs,
            base=where.primary,
            up=self.service.started_at or job.created_at,
            now=self.service.clock.now(),
            requested=requested,
        )

    # -- operations ----------------------------------------------------------------------------
    # Each returns (groups after the operation group, status-message, status).

    async def _get_printer_attributes(
        self, req: Message, caller: Caller, where: Endpoint
    ) -> Result:
        rq.check_target_printer(req)
        svc = self.service
        ports = svc.ports()
        modems = [
            printer.Modem(p.device_name, p.number or p.tsid, f"{p.provider} line {p.device_name}")
            for p in ports
            if PortFlags.SEND in p.flags
        ]
        cfg = svc.ctx.config
        now = svc.clock.now()
        started = svc.started_at or now
        queued = await self.service.ctx.run(
            self.db.list_jobs, None, limit=1000, states=(IPP_INCOMING, IPP_FAXING)
        )
        facts = printer.PrinterFacts(
            uris=where.uris,
            uuid=await self.printer_uuid(),
            name=self.name,
            info="lanfax network fax printer",
            location="",
            make_and_model=f"lanfax {__version__} FaxOut",
            version=__version__,
            modems=modems,
            retries=cfg.retries,
            retry_delay_min=max(1, cfg.retry_delay),
            up_time=int((now - started).total_seconds()) + 1,
            now=now,
            processing=any(p.state in (DeviceStatus.DIALING, DeviceStatus.SENDING) for p in ports),
            queued=len(queued),
        )
        attrs = printer.select(printer.printer_attributes(facts), rq.requested(req))
        return [Group(GroupTag.PRINTER, tuple(attrs))], "successful-ok", Status.OK

    async def _identify_printer(self, req: Message, caller: Caller, where: Endpoint) -> Result:
        rq.check_target_printer(req)
        log.info(
            "Identify-Printer from %s (%s): this printer is lanfax's fax service",
            caller.user,
            caller.address,
        )
        return [], "this is the lanfax fax printer", Status.OK

    async def _validate_job(self, req: Message, caller: Caller, where: Endpoint) -> Result:
        self._validate(req, caller)
        rq.document_format(req)
        rq.job_name(req)
        return [], "the job would be accepted", Status.OK

    async def _print_job(self, req: Message, caller: Caller, where: Endpoint) -> Result:
        fax = self._validate(req, caller)
        fmt = rq.document_format(req)
        job = await self._accept_document(
            self._new_job(req, caller, fax), fax, req.data, fmt, caller
        )
        what = "faxing" if fax.destinations else "kept as a draft (no fax number was given)"
        return (
            [await self._job_attributes(job, where, _CREATED)],
            what,
            Status.OK,
        )

    async def _create_job(self, req: Message, caller: Caller, where: Endpoint) -> Result:
        fax = self._validate(req, caller)
        job = await self._save(self._new_job(req, caller, fax), state=IPP_INCOMING)
        return (
            [await self._job_attributes(job, where, _CREATED)],
            "waiting for the document",
            Status.OK,
        )

    async def _send_document(self, req: Message, caller: Caller, where: Endpoint) -> Result:
        job_id = rq.target_job(req)
        last = rq.op_attr(req, "last-document")
        if last is None:
            raise IppError(Status.BAD_REQUEST, "Send-Document needs last-document")
        is_last = one(last, Tag.BOOLEAN).value
        rq.require_submit(caller)
        rq.check_compression(req)
        job = await self._get_job(job_id, caller, manage=True)
        if job.user_name != caller.user:
            raise IppError(Status.NOT_AUTHORIZED, f"job {job_id} was created by another user")
        if job.state != IPP_INCOMING or job_id in self._busy:
            raise IppError(
                Status.MULTIPLE_DOCUMENT_JOBS_NOT_SUPPORTED
                if job.state in (IPP_FAXING, IPP_DRAFT)
                else Status.NOT_POSSIBLE,
                f"job {job_id} is not waiting for a document "
                "(one document per job; it may have been canceled)",
            )
        if not req.data:
            if is_last:
                job = await self._save(job, state=IPP_ABORTED, state_message="no document was sent")
                return (
                    [await self._job_attributes(job, where, None)],
                    "no document: job aborted",
                    Status.OK,
                )
            raise IppError(Status.BAD_REQUEST, "Send-Document carries no document data")
        fmt = rq.document_format(req)
        fax = intake.fax_from_json(job.attributes)
        self._busy.add(job_id)
        try:
            job = await self._accept_document(job, fax, req.data, fmt, caller)
        except (IppError, FaxError) as exc:
            # The job cannot print: it ends aborted with the reason, nothing queued.
            message = exc.message
            await self._save(job, state=IPP_ABORTED, state_message=message[:255])
            raise
        finally:
            self._busy.discard(job_id)
        return (
            [await self._job_attributes(job, where, _CREATED)],
            "document accepted",
            Status.OK,
        )

    async def _close_job(self, req: Message, caller: Caller, where: Endpoint) -> Result:
        job = await self._get_job(rq.target_job(req), caller, manage=True)
        if job.state == IPP_INCOMING and job.ipp_job_id not in self._busy:
            job = await self._save(job, state=IPP_ABORTED, state_message="closed with no document")
        return [], "closed", Status.OK

    async def _get_job_attributes(self, req: Message, caller: Caller, where: Endpoint) -> Result:
        job = await self._get_job(rq.target_job(req), caller, manage=False)
        return (
            [await self._job_attributes(job, where, rq.requested(req))],
            "successful-ok",
            Status.OK,
        )

    async def _get_jobs(self, req: Message, caller: Caller, where: Endpoint) -> Result:
        rq.check_target_printer(req)
        g = req.groups[0]
        which = "not-completed"
        if (a := g.get("which-jobs")) is not None:
            which = str(one(a, Tag.KEYWORD).value)
            if which not in ("completed", "not-completed", "all"):
                raise IppError(
                    Status.ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
                    f"which-jobs {which!r} is not supported (completed, not-completed, all)",
                )
        my_jobs = g.get("my-jobs")
        mine = my_jobs is not None and one(my_jobs, Tag.BOOLEAN).value is True
        limit = 1000
        if (a := g.get("limit")) is not None:
            v = one(a, Tag.INTEGER).value
            assert isinstance(v, int)
            limit = max(1, min(v, 1000))
        if not mine and not caller.holds(AccessRightEx.QUERY_JOBS):
            mine = True  # the own-jobs rule: a user sees its own printed jobs
        requested = rq.requested(req) or ["job-id", "job-uri"]
        rows = await self.service.ctx.run(
            self.db.list_jobs, caller.user if mine else None, limit=1000
        )
        out: list[Group] = []
        for job in rows:
            group = await self._job_attributes(job, where, None)
            state_attr = group.get("job-state")
            assert state_attr is not None
            final = state_attr.values[0].value in {int(s) for s in FINAL_JOB_STATES}
            if (which == "completed" and not final) or (which == "not-completed" and final):
                continue
            out.append(Group(GroupTag.JOB, tuple(printer.select(group.attributes, requested))))
            if len(out) >= limit:
                break
        return out, "successful-ok", Status.OK

    async def _cancel(self, job: IppJob) -> bool:
        """Cancel ``job``; False when it is already final."""
        progress, jobs = await self._progress(job)
        if progress.state in FINAL_JOB_STATES:
            return False
        if job.state == IPP_INCOMING:
            await self._save(job, state=IPP_CANCELED, state_message="canceled before its document")
            return True
        for j in jobs:
            if not j.queue_status.is_final:
                try:
                    await self.service.cancel(j.job_id)
                except Conflict:
                    continue  # ended meanwhile
        return True

    async def _cancel_job(self, req: Message, caller: Caller, where: Endpoint) -> Result:
        job = await self._get_job(rq.target_job(req), caller, manage=True)
        if not await self._cancel(job):
            progress, _ = await self._progress(job)
            raise IppError(
                Status.NOT_POSSIBLE,
                f"job {job.ipp_job_id} is already {progress.state.name.lower()} "
                "and cannot be canceled",
            )
        return [], "canceled", Status.OK

    async def _cancel_my_jobs(self, req: Message, caller: Caller, where: Endpoint) -> Result:
        rq.check_target_printer(req)
        rows = await self.service.ctx.run(
            self.db.list_jobs, caller.user, limit=1000, states=(IPP_INCOMING, IPP_FAXING)
        )
        n = 0
        for job in rows:
            n += await self._cancel(job)
        return [], f"{n} job(s) canceled", Status.OK
