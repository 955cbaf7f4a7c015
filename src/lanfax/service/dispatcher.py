"""The dispatcher: asks the scheduler what to do, and runs each send on its device.

One asyncio task plans: it calls :func:`lanfax.service.scheduler.plan` whenever something
changed (``ServiceContext.wake``) and at the plan's ``next_wakeup``, expires what DirtyDays
retired and starts a task per dispatch. A send task is: record IN_PROGRESS (one transaction
with FEI_DIALING) -> ``start_job`` -> ``send`` -> record the outcome through
:func:`~lanfax.service.scheduler.after_attempt` (one transaction with the outcome's event) ->
``end_job`` -> FEI_IDLE. The job is committed IN_PROGRESS *before* the call, so after a crash
the recovery counts the attempt; it is COMPLETED only from a provider result saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lanfax.engine.options import MAX_HEADER
from lanfax.model.codes import (
    NO_JOB,
    PROVIDER_OUTCOME,
    DeviceStatus,
    EventId,
    FailureClass,
    JobType,
    ProviderStatus,
    QueueStatus,
)
from lanfax.model.errors import Conflict, FaxError
from lanfax.model.events import NewEvent
from lanfax.model.jobs import Job
from lanfax.providers.api import CallResult, FaxDevStatus, FaxSend, SendOptions
from lanfax.service import dialing, scheduler
from lanfax.service.context import ServiceContext
from lanfax.service.devices import Device, DeviceManager
from lanfax.service.dialing import DialingRules
from lanfax.service.outbound import OutboundTable
from lanfax.service.trace import OUTBOUND, trace_level
from lanfax.store.api import JobChange

log = logging.getLogger("lanfax.outbound")

#: Longest real-time sleep between plans, so a wall-clock jump is noticed eventually.
MAX_IDLE_SECONDS = 30.0
#: Shortest real-time rest after a plan: a burst of submissions costs one plan per gap,
#: not one per job (a line waits at most this long for the next job).
PLAN_GAP = 0.01

_RUNNING = frozenset({QueueStatus.IN_PROGRESS, QueueStatus.CANCELING})


def branding_header(job: Job, tsid: str) -> str:
    """The header line drawn on every sent page when Branding is on.

    spandsp draws the date, the time, our TSID and the page number beside this text itself, so
    the text says who sends to whom. It must fit the engine's limit (T.30's 50 characters of
    printable ASCII), whatever names a user typed: accents are dropped, anything else that is
    not printable ASCII becomes "?", and the text is cut to the limit rather than failing the
    send.
    """
    sender = job.sender_name or job.sender_company or tsid
    recipient = job.recipient_name or job.recipient_number
    text = f"FROM: {sender}  TO: {recipient}"
    letters = (c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    printable = "".join(c if 0x20 <= ord(c) < 0x7F else "?" for c in letters)
    return printable[:MAX_HEADER].rstrip()


class Dispatcher:
    """Runs the queue. ``start()`` launches the planning task; ``stop()`` ends it and waits
    for the calls in progress (aborting them when asked to)."""

    #: The outgoing routing table in force (groups and rules, #13); the service sets it and
    #: replaces it when an administrator changes it. None: every job may use every device.
    outbound: OutboundTable | None = None

    def __init__(
        self,
        ctx: ServiceContext,
        devices: DeviceManager,
        *,
        dialing_rules: DialingRules | None = None,
    ) -> None:
        self.ctx = ctx
        self.devices = devices
        #: What the line dials for a job's number ([dialing]; the defaults rewrite nothing).
        self.dialing = dialing_rules or DialingRules()
        self._task: asyncio.Task[None] | None = None
        self._calls: dict[int, asyncio.Task[None]] = {}
        self._cancel_requested: set[int] = set()
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="lanfax-dispatcher")

    async def stop(self, *, abort_calls: bool = True) -> None:
        """Stop planning; abort (or let finish) the calls in progress, and wait for them."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if abort_calls:
            for dev in self.devices.devices.values():
                if dev.handle is not None:
                    with contextlib.suppress(Exception):
                        await dev.provider.abort(dev.handle)
        if self._calls:
            await asyncio.gather(*self._calls.values(), return_exceptions=True)

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    # -- planning ---------------------------------------------------------------------------

    async def _loop(self) -> None:
        wake = self.ctx.wake_event
        while not self._stopping:
            wake.clear()
            began = time.perf_counter()
            try:
                next_wakeup = await self.plan_once()
            except FaxError:
                log.exception("planning failed; trying again shortly")
                next_wakeup = None
            # A plan is O(queue). With a huge queue and a stream of submissions, planning
            # back to back would starve the API on this loop: rest as long as planning took,
            # and at least PLAN_GAP (changes meanwhile are coalesced into the next plan).
            spent = time.perf_counter() - began
            await asyncio.sleep(min(max(spent, PLAN_GAP), 1.0))
            timeout = MAX_IDLE_SECONDS
            if next_wakeup is not None:
                delta = (next_wakeup - self.ctx.clock.now()).total_seconds()
                timeout = min(max(delta, 0.0), MAX_IDLE_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)

    async def plan_once(self) -> datetime | None:
        """One planning round: expire, dispatch; returns when to plan again at the latest."""
        ctx = self.ctx
        now = ctx.clock.now()
        jobs = list(ctx.unfinished.values())
        p = scheduler.plan(now, jobs, self.devices.views(), ctx.config, ctx.tz, self.outbound)
        for nl in p.no_line:  # no device of the job's outgoing route can send (#13)
            job = ctx.unfinished.get(nl.job_id)
            if job is not None:
                fields: dict[str, object] = {
                    "queue_status": QueueStatus.NO_LINE,
                    "status_text": nl.status_text,
                }
                detail: dict[str, object] = {"reason": nl.status_text}
                with contextlib.suppress(Conflict):  # changed meanwhile: the next plan sees it
                    await ctx.update_job(
                        scheduler_change(
                            job,
                            fields,
                            EventId.LINE_UNAVAILABLE,
                            detail,
                            expect=scheduler.DISPATCHABLE,
                        )
                    )
        for job_id in p.line_back:  # its route can send again; it waits for a free line
            job = ctx.unfinished.get(job_id)
            if job is not None:
                back: dict[str, object] = {"queue_status": QueueStatus.PENDING, "status_text": ""}
                with contextlib.suppress(Conflict):
                    await ctx.update_job(
                        scheduler_change(job, back, EventId.JOB_CHANGED, {"line": "available"})
                    )
        if p.expire:
            changes = []
            for exp in p.expire:
                job = ctx.unfinished.get(exp.job_id)
                if job is None:
                    continue
                t = scheduler.expire_transition(job, ctx.config, now)
                changes.append(
                    scheduler_change(job, t.changes(), EventId.DELETED, {"reason": "expired"})
                )
            for change in changes:
                # One by one: a job changed meanwhile (paused, canceled) is simply skipped.
                with contextlib.suppress(Conflict):
                    await ctx.update_job(change)
        for d in p.dispatch:
            job = ctx.unfinished.get(d.job_id)
            dev = self.devices.devices.get(d.device_id)
            if job is None or dev is None or dev.busy or d.job_id in self._calls:
                continue
            dev.busy = True  # before any await: nobody else may take this line now
            dev.job_id = job.job_id
            self._calls[job.job_id] = asyncio.create_task(
                self._send(job, dev), name=f"lanfax-send-{job.job_id}"
            )
        return p.next_wakeup

    # -- one send -----------------------------------------------------------------------------

    async def _send(self, job: Job, dev: Device) -> None:
        ctx = self.ctx
        try:
            try:
                changes = scheduler.dispatch_changes(job, dev.device_id, ctx.clock.now())
                changes["device_status"] = DeviceStatus.DIALING
                job = await ctx.update_job(
                    scheduler_change(
                        job,
                        changes,
                        EventId.DIALING,
                        {"number": job.recipient_number},
                        device_id=dev.device_id,
                        expect=scheduler.DISPATCHABLE,
                    )
                )
            except Conflict:
                return  # paused or canceled between the plan and now: nothing to do
            dev.set_live(
                status=DeviceStatus.DIALING,
                job_id=job.job_id,
                job_type=JobType.SEND,
                phone_number=job.recipient_number,
                recipient_name=job.recipient_name,
                sender_name=job.sender_name,
                document_name=job.document_name,
                user_name=job.user_name,
                total_pages=job.page_count,
                current_page=0,
                size=job.size,
                start_time=job.started_at,
                submitted_time=job.submitted_at,
            )
            result = await self._call(job, dev)
            await self._finish(job, dev, result)
        except Exception:  # a bug here must not kill the dispatcher; the job is recovered
            log.exception("send of job %d failed unexpectedly", job.job_id)
            with contextlib.suppress(FaxError):
                await self._finish(job, dev, _result(ProviderStatus.FATAL_ERROR, "internal error"))
        finally:
            if dev.handle is not None:
                try:
                    await dev.provider.end_job(dev.handle)
                except Exception:
                    log.exception("end_job failed on device %d", dev.device_id)
            dev.handle = None
            dev.busy = False
            dev.job_id = None
            dev.set_live(
                status=DeviceStatus.AVAILABLE,
                job_id=None,
                job_type=JobType.UNKNOWN,
                current_page=0,
                phone_number="",
                status_string="",
            )
            self._calls.pop(job.job_id, None)
            self._cancel_requested.discard(job.job_id)
            with contextlib.suppress(FaxError):
                await ctx.emit([NewEvent(EventId.IDLE, dev.device_id, NO_JOB)])
            ctx.wake()

    async def _call(self, job: Job, dev: Device) -> CallResult:
        ctx = self.ctx
        try:
            dev.handle = await dev.provider.start_job(dev.local_id)
        except FaxError as exc:
            return _result(ProviderStatus.LINE_UNAVAILABLE, exc.message)
        if job.job_id in self._cancel_requested:
            return _result(ProviderStatus.USER_ABORT, "canceled before dialing")
        tsid = job.tsid
        if ctx.config.use_device_tsid or not tsid:
            tsid = dev.port.tsid or tsid
        header = branding_header(job, tsid) if ctx.config.branding else None
        fax = FaxSend(
            file_name=ctx.spool.resolve(job.document_path),
            receiver_number=dialing.dial_string(job.recipient_number, self.dialing),
            caller_name=job.sender_name,
            caller_number=tsid,
            receiver_name=job.recipient_name,
            branding=ctx.config.branding,
            call_handle=job.call_handle,
            options=SendOptions(page_header=header, trace_level=trace_level(OUTBOUND)),
        )

        def in_progress() -> None:
            self.status(dev, FaxDevStatus(ProviderStatus.TRANSMITTING))

        return await dev.provider.send(dev.handle, fax, in_progress)

    async def _finish(self, job: Job, dev: Device, result: CallResult) -> None:
        ctx = self.ctx
        now = ctx.clock.now()
        status_id = result.status.status_id
        device_status, event_id, failure = PROVIDER_OUTCOME.get(
            status_id, (DeviceStatus.FATAL_ERROR, EventId.FATAL_ERROR, FailureClass.FATAL)
        )
        canceled = job.job_id in self._cancel_requested and not result.ok
        if self._stopping and failure is FailureClass.ABORTED and not canceled:
            # Aborted because the service is stopping, not by a person: try again later.
            device_status, event_id = DeviceStatus.DISCONNECTED, EventId.DISCONNECTED
            failure = FailureClass.DISCONNECTED
        changes: dict[str, Any]
        if canceled:
            final = QueueStatus.CANCELED
            changes = {
                "queue_status": QueueStatus.CANCELED,
                "completed_at": now,
                "status_text": "canceled during the call",
                "pages_done": result.pages,
            }
        else:
            t = scheduler.after_attempt(job, failure, ctx.config, now, pages_done=result.pages)
            final = t.queue_status
            changes = t.changes()
            if result.status.string_id and failure is not None:
                changes["status_text"] = f"{t.status_text} ({result.status.string_id})"
        changes.update(
            device_status=device_status,
            remote_ident=result.remote_ident or result.status.csi,
            bit_rate=result.bit_rate,
            ecm=result.ecm,
        )
        if result.compression:
            changes["compression"] = result.compression
        # What the provider says about the call itself (modem, T.30 result, and its own
        # details such as a SIP retry recipe), kept on the job for `lanfax job show`.
        call = {
            "modem": result.modem,
            "t30_code": result.t30_code,
            "t30_text": result.t30_text,
            "duration": round(result.duration, 3),
            **_jsonable(result.extra),
        }
        changes["extra"] = {**job.extra, "last_call": call}
        detail = {"queue_status": final.name.lower(), "pages": result.pages}
        await ctx.update_job(
            scheduler_change(
                job, changes, event_id, detail, device_id=dev.device_id, expect=_RUNNING
            )
        )
        log.info(
            "job %d to %s: %s (%d pages)",
            job.job_id,
            job.recipient_number,
            status_id.name,
            result.pages,
        )

    # -- control from the service -------------------------------------------------------------

    def is_running(self, job_id: int) -> bool:
        return job_id in self._calls

    async def abort(self, job_id: int) -> bool:
        """Abort the call of ``job_id`` if it is running; True if it was."""
        if job_id not in self._calls:
            return False
        self._cancel_requested.add(job_id)
        for dev in self.devices.devices.values():
            if dev.job_id == job_id and dev.handle is not None:
                dev.set_live(status=DeviceStatus.ABORTING)
                await dev.provider.abort(dev.handle)
        return True

    def status(self, dev: Device, status: FaxDevStatus) -> None:
        """Progress of a send (from the provider): update the live status, and record a
        change of FS_* state on the job with its event."""
        mapped = {
            ProviderStatus.DIALING: (DeviceStatus.DIALING, EventId.DIALING),
            ProviderStatus.TRANSMITTING: (DeviceStatus.SENDING, EventId.SENDING),
        }.get(status.status_id)
        page = status.page_count
        if mapped is None:
            if page:
                dev.set_live(current_page=page)
            return
        device_status, event_id = mapped
        changed = dev.live.status != device_status
        dev.set_live(
            status=device_status,
            current_page=page or dev.live.current_page,
            status_string=status.string_id,
        )
        job = self.ctx.unfinished.get(dev.job_id or -1)
        if changed and job is not None and job.queue_status is QueueStatus.IN_PROGRESS:
            change = scheduler_change(
                job,
                {"device_status": device_status},
                event_id,
                {},
                device_id=dev.device_id,
                expect=_RUNNING,
            )
            asyncio.get_running_loop().create_task(self._quiet_update(change))

    async def _quiet_update(self, change: JobChange) -> None:
        with contextlib.suppress(Conflict):
            await self.ctx.update_job(change)


def scheduler_change(
    job: Job,
    changes: dict[str, object],
    event_id: EventId,
    detail: dict[str, object],
    *,
    device_id: int = 0,
    expect: frozenset[QueueStatus] | None = None,
) -> JobChange:
    """A JobChange for ``job`` with one event."""
    return JobChange(
        job.job_id,
        changes,
        expect=expect if expect is not None else frozenset({job.queue_status}),
        events=(NewEvent(event_id, device_id or (job.device_id or 0), job.job_id, detail),),
    )


def _result(status: ProviderStatus, text: str) -> CallResult:
    return CallResult(FaxDevStatus(status, string_id=text))


def _jsonable(value: Any) -> Any:
    """``value`` reduced to what the store keeps exactly (JSON scalars, lists, string-keyed
    dicts); anything else becomes its text, so a provider's detail never fails a job update."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)
