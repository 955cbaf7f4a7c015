"""The dispatcher: asks the scheduler what to do, and runs each send on its device.

One asyncio task plans: it calls :func:`lanfax.service.scheduler.plan` whenever something
changed (``ServiceContext.wake``) and at the plan's ``next_wakeup``, expires what DirtyDays
retired and starts a task per dispatch. A send task is: record IN_PROGRESS (one transaction
with FEI_DIALING) -> ``start_job`` -> ``send`` -> record the outcome through
:func:`~lanfax.service.scheduler.after_attempt` (one transaction with the outcome's event) ->
``end_job`` -> FEI_IDLE. The job is committed IN_PROGRESS *before* the call, so after a crash
the recovery counts the attempt; it is COMPLETED only from a provider result saying so, or once
the far end confirmed its last page.

Nothing sent twice, nothing lost (issue #14):

* every page the far end confirms (MCF; ``FaxDevStatus.pages_done`` from the provider) is
  committed on the job as ``pages_done`` while the call goes on, and a retry starts after it
  (``SendOptions.first_page``), as HylaFAX does; a job whose last page was confirmed is
  COMPLETED whatever the end of the call looked like;
* the outcome of a call is written with retries and a growing back-off while the store fails;
  meanwhile the job stays in :attr:`Dispatcher._calls`, so it is never dialled again;
* a job whose claim fails (a store error) is held back with a growing back-off instead of being
  planned again every :data:`PLAN_GAP`; a job whose document is gone fails at once (nothing can
  cure it). Each condition is logged once, not once per loop.

Several nodes on one database (issue #18): the IN_PROGRESS write *is* the claim of a lease on
the job (``ctx.leases.claim``: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, one transaction), so
no two nodes ever dial one job: a job another node holds, or whose committed state is no
longer dispatchable (paused, canceled on another node), is not claimed, and this node's copy
of it is read again. Every later write about the call (its device states, the pages
confirmed, its outcome) is fenced on the lease's owner and epoch; the outcome gives the lease
back in the same transaction. A fenced write refused (:class:`~lanfax.store.leases.LeaseLost`:
another node took the job over after this node's lease expired), or a renewal that finds the
lease gone, aborts the call and writes nothing more about it.

An abort (a person's cancel, a lost lease, the service stopping) reaches the provider only
once the provider has the call, that is once ``send`` was called: a provider need not honour
an abort of a job it has only opened (``start_job``), so an abort that lands before is held
and honoured by the dispatcher itself, which then never dials (``USER_ABORT``, "canceled
before dialing").

Three modules: this one plans and runs the sends; :mod:`lanfax.service.dispatch_outcome`
decides, without I/O, what a call's end means for its job (and what the line is handed);
:mod:`lanfax.service.dispatch_calls` writes a call's progress, fences the writes on its lease
and keeps failing conditions from spinning (a base of :class:`Dispatcher`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from lanfax.model.codes import (
    DeviceStatus,
    EventId,
    JobType,
    ProviderStatus,
)
from lanfax.model.errors import Conflict, FaxError, NotFound
from lanfax.model.jobs import Job
from lanfax.model.transitions import JobPatch, Trigger
from lanfax.providers.api import CallResult, FaxDevStatus
from lanfax.service import covers, scheduler
from lanfax.service.context import ServiceContext
from lanfax.service.devices import Device, DeviceManager
from lanfax.service.dialing import DialingRules
from lanfax.service.dispatch_calls import RETRY_FIRST, RETRY_MAX, CallWrites
from lanfax.service.dispatch_outcome import (
    call_outcome,
    call_result,
    fax_send,
    resume_after,
    scheduler_change,
)
from lanfax.service.holdback import HeldBack
from lanfax.service.line_idle import line_idle
from lanfax.service.outbound import OutboundTable
from lanfax.store.api import JobChange
from lanfax.store.leases import DISPATCHABLE, Lease, LeaseLost

log = logging.getLogger("lanfax.outbound")

#: Longest real-time sleep between plans, so a wall-clock jump is noticed eventually.
MAX_IDLE_SECONDS = 30.0
#: Shortest real-time rest after a plan: a burst of submissions costs one plan per gap,
#: not one per job (a line waits at most this long for the next job).
PLAN_GAP = 0.01

#: Writes still tried for an outcome once the service is stopping (then recovery settles it).
RETRIES_WHEN_STOPPING = 3


class Dispatcher(CallWrites):
    """Runs the queue. ``start()`` launches the planning task; ``stop()`` ends it and waits
    for the calls in progress (aborting them when asked to)."""

    #: The outgoing routing table in force (groups and rules, #13); the service sets it and
    #: replaces it when an administrator changes it. None: every job may use every device.
    outbound: OutboundTable | None = None
    #: #18: other live nodes share the queue (set with each heartbeat). A job this node has
    #: no line for may have one on another node: it is not marked NO_LINE then (the node
    #: that has a line dials it; two nodes would otherwise rewrite its state in turn).
    others_alive: bool = False

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
        #: Pages confirmed so far (document numbering) of each job on the line, as reported
        #: by its provider, and as committed.
        self._progress: dict[int, int] = {}
        self._progress_written: dict[int, int] = {}
        self._progress_locks: dict[int, asyncio.Lock] = {}
        #: Jobs held back after a failed claim, with a growing delay.
        self._held = HeldBack(RETRY_FIRST, RETRY_MAX)
        #: Conditions already logged (logged once each, until they clear).
        self._logged: set[str] = set()
        #: The joined cover + body file of a job on the line (removed after the call).
        self._joined: dict[int, Path] = {}
        #: #18: the lease of each job on a call, and the jobs whose lease was lost (their call
        #: is aborted and nothing more is written about them).
        self._leases: dict[int, Lease] = {}
        self._lost: set[int] = set()
        #: #19: when the queue was last planned as a whole, and the wake-up that plan (and
        #: the plans of new jobs since) asked for.
        self._planned_at: datetime | None = None
        self._next_wakeup: datetime | None = None
        #: The jobs whose call the provider has (``send`` called): only those are aborted
        #: through the provider; an abort before is held (see :meth:`_abort_held`).
        self._sending: set[int] = set()
        #: stop(abort_calls=True) was called: a call not yet handed over is never dialled.
        self._abort_all = False

    def start(self) -> None:
        self.ctx.leases.on_lost(self.lease_lost)
        self._task = asyncio.create_task(self._loop(), name="lanfax-dispatcher")

    async def stop(self, *, abort_calls: bool = True) -> None:
        """Stop planning; abort (or let finish) the calls in progress, and wait for them."""
        self._stopping = True
        self._abort_all = self._abort_all or abort_calls
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if abort_calls:
            for dev in self.devices.devices.values():
                if dev.handle is not None and not self._before_send(dev):
                    try:
                        await dev.provider.abort(dev.handle)
                    except Exception:  # the stop goes on; the call ends when its task does
                        log.warning(
                            "aborting the call on device %d failed", dev.device_id, exc_info=True
                        )
        if self._calls:
            await asyncio.gather(*self._calls.values(), return_exceptions=True)

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    @property
    def planning(self) -> bool:
        """Whether the planning task runs (started, and not ended by :meth:`stop`)."""
        return self._task is not None and not self._task.done()

    # -- planning ---------------------------------------------------------------------------

    async def _loop(self) -> None:
        wake = self.ctx.wake_event
        while not self._stopping:
            wake.clear()
            new = self.ctx.take_wake_reasons()
            began = time.perf_counter()
            try:
                if new and self._only_new_matter():
                    next_wakeup = await self.plan_new(new)
                else:
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
            timeout = self._held.timeout(timeout, asyncio.get_running_loop().time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)

    def _only_new_matter(self) -> bool:
        """Whether a plan over the jobs just submitted is the plan over every job (#19).

        It is when nothing else changed since the last plan (the caller knows), none of its
        deadlines came (the next wake-up it asked for, a held job's retry) and no job could
        be dialled now anyway: the queue is paused or no line that can send is idle. Then
        every older job's part of the plan stands as it was, and the scheduler's answer
        for each job depends on that job alone (its expiry, its route's lines, its next
        eligible time). With an idle line the whole queue is planned, in its order."""
        ctx = self.ctx
        if self._planned_at is None or (
            self._next_wakeup is not None and ctx.clock.now() >= self._next_wakeup
        ):
            return False
        loop_now = asyncio.get_running_loop().time()
        if self._held.any_due(loop_now):
            return False
        if ctx.config.pause_server_queue:
            return True
        return not any(d.can_send and not d.busy for d in self.devices.devices.values())

    async def plan_new(self, jobs: Sequence[Job]) -> datetime | None:
        """A planning round over ``jobs`` only (just submitted), when
        :meth:`_only_new_matter`: marks those without a line, expires what is already past
        DirtyDays; returns when to plan again at the latest (the earlier of the last plan's
        time and theirs)."""
        current = [j for j in (self.ctx.unfinished.get(job.job_id) for job in jobs) if j]
        planned = await self.plan_once(current)
        if self._next_wakeup is None or (planned is not None and planned < self._next_wakeup):
            self._next_wakeup = planned
        return self._next_wakeup

    async def plan_once(self, only: Sequence[Job] | None = None) -> datetime | None:
        """One planning round: expire, dispatch; returns when to plan again at the latest.
        ``only``: these jobs (:meth:`plan_new`), not the whole queue."""
        ctx = self.ctx
        now = ctx.clock.now()
        loop_now = asyncio.get_running_loop().time()
        if only is None:
            held = self._held.waiting(loop_now)
            jobs = [j for j in ctx.unfinished.values() if j.job_id not in held]
        else:
            jobs = list(only)
        p = scheduler.plan(
            now,
            jobs,
            self.devices.views(),
            ctx.config,
            ctx.tz,
            self.outbound,
            elsewhere=self.others_alive,
        )
        if only is None:
            self._planned_at, self._next_wakeup = now, p.next_wakeup
        if self.others_alive:
            p = replace(p, no_line=(), line_back=())
        for nl in p.no_line:  # no device of the job's outgoing route can send (#13)
            job = ctx.unfinished.get(nl.job_id)
            if job is not None:
                detail: dict[str, object] = {"reason": nl.status_text}
                with contextlib.suppress(Conflict):  # changed meanwhile: the next plan sees it
                    await ctx.update_job(
                        scheduler_change(
                            job,
                            Trigger.NO_LINE,
                            JobPatch(status_text=nl.status_text),
                            EventId.LINE_UNAVAILABLE,
                            detail,
                        )
                    )
        for job_id in p.line_back:  # its route can send again; it waits for a free line
            job = ctx.unfinished.get(job_id)
            if job is not None:
                with contextlib.suppress(Conflict):
                    await ctx.update_job(
                        scheduler_change(
                            job,
                            Trigger.LINE_BACK,
                            JobPatch(status_text=""),
                            EventId.JOB_CHANGED,
                            {"line": "available"},
                        )
                    )
        if p.expire:
            changes = []
            for exp in p.expire:
                job = ctx.unfinished.get(exp.job_id)
                if job is None:
                    continue
                t = scheduler.expire_transition(job, ctx.config, now)
                changes.append(
                    scheduler_change(
                        job,
                        t.trigger,
                        t.patch(),
                        EventId.DELETED,
                        {"reason": "expired"},
                        # Its state as planned: one paused or canceled meanwhile is skipped
                        # (the next plan sees it as it is now).
                        expect=frozenset({job.queue_status}),
                    )
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
                self._send(job, dev, d.dials_itself), name=f"lanfax-send-{job.job_id}"
            )
        return p.next_wakeup

    # -- one send -----------------------------------------------------------------------------

    async def _send(self, job: Job, dev: Device, dials_itself: bool = False) -> None:
        """One send on ``dev``; ``dials_itself``: the line dials its own number (no other
        line of the job's route can send it), which the job's status and the log say."""
        ctx = self.ctx
        try:
            try:
                now = ctx.clock.now()

                def dispatch(current: Job) -> JobChange:
                    # From the job as committed (another node may have changed it).
                    patch = scheduler.dispatch_changes(current, dev.device_id, now)
                    detail: dict[str, object] = {"number": current.recipient_number}
                    if dials_itself:
                        patch = patch.but(status_text=_dials_itself(current, dev))
                        detail["dials_itself"] = True
                    return scheduler_change(
                        current,
                        Trigger.DISPATCH,
                        patch.but(device_status=DeviceStatus.DIALING),
                        EventId.DIALING,
                        detail,
                        device_id=dev.device_id,
                    )

                claimed = await ctx.leases.claim(
                    job_ids=(job.job_id,),
                    statuses=DISPATCHABLE,
                    limit=1,
                    change=dispatch,
                    # Never two calls to one number, whichever node has the other (#18).
                    one_call_per_number=True,
                )
                if not claimed:
                    # Paused or canceled between the plan and now, or taken by another node:
                    # nothing to do here; the copy of the job is read again.
                    self._release_hold(job.job_id)
                    await ctx.leases.read_again([job.job_id])
                    return
                ((job, lease),) = claimed
                self._leases[job.job_id] = lease
                if dials_itself:
                    log.warning("job %d: %s", job.job_id, _dials_itself(job, dev))
            except FaxError as exc:
                # The store failed: hold the job back (growing delay) rather than planning
                # it again at once, and say so once.
                self._hold(job.job_id, exc)
                return
            self._release_hold(job.job_id)
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
            await self._finish_durably(job, dev, result)
        except Exception:  # a bug here must not kill the dispatcher; the job is recovered
            log.exception("send of job %d failed unexpectedly", job.job_id)
            with contextlib.suppress(FaxError):
                await self._finish(
                    job, dev, call_result(ProviderStatus.FATAL_ERROR, "internal error")
                )
        finally:
            joined = self._joined.pop(job.job_id, None)
            if joined is not None:
                with contextlib.suppress(OSError):
                    await ctx.run(joined.unlink, True)
            self._progress.pop(job.job_id, None)
            self._progress_written.pop(job.job_id, None)
            self._progress_locks.pop(job.job_id, None)
            for condition in ("progress", "status", "gone"):
                self._logged.discard(f"{condition}:{job.job_id}")
            await line_idle(ctx, dev, log, then=lambda: self._call_ended(job.job_id))

    async def _call_ended(self, job_id: int) -> None:
        """The dispatcher's part of a line going idle after ``job_id``'s call (see
        :func:`~lanfax.service.line_idle.line_idle`): the job is off the line. A job whose
        lease was lost is read again first (another node settled it: its copy as it is),
        so that once :meth:`is_running` says False this node's copy is no longer the call's
        and the job is planned from what was committed."""
        if job_id in self._lost:
            with contextlib.suppress(FaxError):
                await self.ctx.leases.read_again([job_id])
        self._calls.pop(job_id, None)
        self._sending.discard(job_id)
        self._cancel_requested.discard(job_id)
        self._lost.discard(job_id)
        lease_left = self._leases.pop(job_id, None)
        if lease_left is not None:
            self.ctx.leases.forget(lease_left)

    async def _call(self, job: Job, dev: Device) -> CallResult:
        ctx = self.ctx
        try:
            dev.handle = await dev.provider.start_job(dev.local_id)
        except FaxError as exc:
            return call_result(ProviderStatus.LINE_UNAVAILABLE, exc.message)
        held = self._abort_held(job.job_id)
        if held is not None:
            return call_result(ProviderStatus.USER_ABORT, held)
        if job.page_count and job.pages_done >= job.page_count:
            # The far end confirmed every page before the outcome could be written (the
            # service died): the fax was delivered, dialling again would send it twice.
            return call_result(ProviderStatus.COMPLETED, "every page was confirmed before")
        tsid = job.tsid
        if ctx.config.use_device_tsid or not tsid:
            tsid = dev.port.tsid or tsid
        try:
            document = await ctx.run(ctx.spool.resolve, job.document_path)
            body = covers.body_path(job.extra)
            if body:
                # A cover page of its own in front of the broadcast's shared body: joined
                # for this call only, into spool/tmp (removed after the call).
                joined = ctx.spool.tmp / f"send-{job.job_id}-{secrets.token_hex(4)}.tif"
                body_file = await ctx.run(ctx.spool.resolve, body)
                await ctx.run(covers.join, document, body_file, joined)
                self._joined[job.job_id] = joined
                document = joined
        except NotFound as exc:
            return call_result(ProviderStatus.FATAL_ERROR, exc.message, gone=True)
        # A retry starts after the last page the far end confirmed (committed page by page).
        fax = fax_send(job, document, tsid, ctx.config, self.dialing)
        self._progress[job.job_id] = resume_after(job)
        self._progress_written[job.job_id] = job.pages_done

        def in_progress() -> None:
            self.status(dev, FaxDevStatus(ProviderStatus.TRANSMITTING))

        # The last look at an abort held while the call was prepared (the awaits above):
        # from the next line on the provider has the call, and an abort goes to it.
        held = self._abort_held(job.job_id)
        if held is not None:
            return call_result(ProviderStatus.USER_ABORT, held)
        self._sending.add(job.job_id)
        return await dev.provider.send(dev.handle, fax, in_progress)

    def _abort_held(self, job_id: int) -> str | None:
        """Why the call of ``job_id``, not yet handed to its provider, must not be dialled
        (an abort that landed before ``send``), or None."""
        if job_id in self._cancel_requested:
            return "canceled before dialing"
        if job_id in self._lost:
            return "the lease was lost before dialing"
        if self._abort_all:
            return "the service is stopping"
        return None

    async def _finish_durably(self, job: Job, dev: Device, result: CallResult) -> None:
        """Write the outcome of the call, trying again with a growing delay while the store
        fails. The job stays in ``_calls`` meanwhile, so it is never dialled again before its
        outcome is on disk; once the service is stopping a few more tries are made, then the
        recovery at the next start settles the job from what was committed (its pages)."""
        delay = RETRY_FIRST
        tries_when_stopping = 0
        condition = f"finish:{job.job_id}"
        while True:
            try:
                await self._finish(job, dev, result)
            except LeaseLost as exc:
                self._lease_lost_in_write(job.job_id, exc)
                return
            except Conflict:
                raise
            except FaxError as exc:
                if self._stopping:
                    tries_when_stopping += 1
                    if tries_when_stopping > RETRIES_WHEN_STOPPING:
                        log.error(
                            "the outcome of job %d could not be written (%s); the next start"
                            " settles it",
                            job.job_id,
                            exc.message,
                        )
                        return
                self._log_once(
                    condition,
                    "cannot write the outcome of job %d (%s); trying again, the job is not"
                    " dialled meanwhile",
                    job.job_id,
                    exc.message,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            if self._clear_logged(condition):
                log.warning("the outcome of job %d is written now", job.job_id)
            return

    async def _finish(self, job: Job, dev: Device, result: CallResult) -> None:
        ctx = self.ctx
        out = call_outcome(
            job,
            result,
            progress=self._progress.get(job.job_id, 0),
            cancel_requested=job.job_id in self._cancel_requested,
            stopping=self._stopping,
            config=ctx.config,
            now=ctx.clock.now(),
            device_id=dev.device_id,
        )
        if out.gone:
            self._log_once(
                f"gone:{job.job_id}", "job %d failed: %s", job.job_id, result.status.string_id
            )
        status_id, pages, change = out.status_id, out.pages, out.change
        if job.job_id in self._lost:
            log.warning(
                "job %d: its lease was lost during the call; its outcome (%s) is not written",
                job.job_id,
                status_id.name,
            )
            return
        # Out of _leases while the outcome is written: a progress write of this call still
        # in flight, refused once the outcome gave the lease back, is then seen as late,
        # not as a lost lease.
        lease = self._leases.pop(job.job_id, None)
        if lease is None:  # not claimed (a bug): never write an outcome unfenced
            raise LeaseLost(f"job {job.job_id} has no lease", hint="it is not this node's")
        try:
            await ctx.leases.write(lease, change, release=True)
        except BaseException:
            self._leases.setdefault(job.job_id, lease)  # the next try writes with it again
            raise
        log.info(
            "job %d to %s: %s (%d pages)",
            job.job_id,
            job.recipient_number,
            status_id.name,
            pages,
        )

    # -- control from the service -------------------------------------------------------------

    def is_running(self, job_id: int) -> bool:
        return job_id in self._calls

    async def abort(self, job_id: int) -> bool:
        """Abort the call of ``job_id`` if it is running; True if it was."""
        if job_id not in self._calls:
            return False
        if job_id in self._cancel_requested:
            return True  # asked already (#18: heard twice, notification and event)
        self._cancel_requested.add(job_id)
        for dev in self.devices.devices.values():
            if dev.job_id == job_id and dev.handle is not None:
                dev.set_live(status=DeviceStatus.ABORTING)
                if not self._before_send(dev):
                    await dev.provider.abort(dev.handle)
        return True


def _dials_itself(job: Job, dev: Device) -> str:
    """The job's status text when its line dials the line's own number."""
    return (
        f"dialing {job.recipient_number} from that line itself ({dev.port.device_name}):"
        " no other line may send this job"
    )
