"""The inbound pipeline: a ringing line becomes a RECEIVE job, a fax on disk, a routed fax.

Ring -> FEI_RINGING. When the port has RECEIVE and the call has rung ``Rings`` times, the
service answers: a RECEIVE job is committed IN_PROGRESS (FEI_ANSWERED), the provider receives
into ``spool/received/<job>.tif``, and the outcome is committed (FEI_COMPLETED with the job in
queue state ROUTING, or a FAIL_RECEIVE job that keeps the pages already on disk). A received
fax is then handed to the :class:`InboundRouter` (the service's is
:class:`lanfax.service.routing.RoutingJobs`), which owns it until every routing method enabled
on the device succeeded: the job is not final before that, so a crash cannot lose it.

Durability (issue #14): every page stored is committed on the job as it arrives
(``pages_done``, and ``extra["last_page"]`` once the far end said EOP), and the received file
and its directory are fsynced before the outcome is committed; so after a crash the recovery
routes a receive whose last page arrived and keeps the page count of a partial one. The
outcome is written with retries while the store fails.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Protocol

from lanfax.model.codes import (
    NO_JOB,
    DeviceStatus,
    EventId,
    JobType,
    ProviderStatus,
    QueueStatus,
)
from lanfax.model.errors import Conflict, FaxError, StoreError
from lanfax.model.events import NewEvent
from lanfax.model.jobs import Job
from lanfax.model.transitions import INITIAL, JobPatch, Trigger
from lanfax.providers.api import (
    CallResult,
    FaxDevStatus,
    FaxReceive,
    IncomingCall,
    SendOptions,
)
from lanfax.service.context import ServiceContext
from lanfax.service.devices import Device, DeviceManager
from lanfax.service.line_idle import line_idle
from lanfax.service.spool import fsync_dir, fsync_file
from lanfax.service.trace import INBOUND, trace_level
from lanfax.store.api import JobChange

log = logging.getLogger("lanfax.inbound")

_RUNNING = frozenset({QueueStatus.IN_PROGRESS})


class InboundRouter(Protocol):
    """Takes over a received fax, committed as a job in queue state ROUTING."""

    def received(self, job: Job) -> None:
        """Route ``job`` (now or later) and move it to COMPLETED when every route succeeded.
        Must not block: the routing runs in the router's own tasks."""
        ...

    def screen(self, caller_id: str) -> str | None:
        """Why a ringing call must not be answered (the block list), or None."""
        ...

    def screen_tsid(self, tsid: str) -> str | None:
        """Why an answered call must be cut once the far end gave its TSID, or None. Pure
        and quick: a provider may call it on its media thread (FaxReceive.screen)."""
        ...

    @property
    def max_pages(self) -> int | None:
        """Pages a received fax may have; a longer one is cut after them (None: no limit)."""
        ...


class InboundPipeline:
    """Implements the device manager's ring/status notifications for receiving."""

    def __init__(self, ctx: ServiceContext, devices: DeviceManager, router: InboundRouter) -> None:
        self.ctx = ctx
        self.devices = devices
        self.router = router
        self.tasks: set[asyncio.Task[object]] = set()
        self.refused: set[str] = set()
        #: Pages stored so far per receive job (and whether the last one was EOP), as
        #: reported and as committed.
        self._progress: dict[int, tuple[int, bool]] = {}
        self._progress_written: dict[int, tuple[int, bool]] = {}
        #: A receive job's extra when it was created (the progress write keeps it).
        self._extra: dict[int, dict[str, Any]] = {}
        self._progress_lock = asyncio.Lock()
        self._stopping = False
        #: The devices whose call the provider has (``receive`` called): only those are
        #: aborted through the provider; an abort before is held (see :meth:`stop`).
        self._receiving: set[int] = set()
        #: Free space the received faxes' disk must keep for a call to be answered.
        self.min_free_bytes = 64 * 2**20
        self._had_room = True

    async def stop(self) -> None:
        """Answer no more calls; abort the receives in progress and wait for them. A receive
        whose provider does not have the call yet (between ``start_job`` and ``receive``) is
        not aborted through the provider, which need not honour an abort of a job it has only
        opened: it sees ``_stopping`` before ``receive`` and never answers (USER_ABORT)."""
        self._stopping = True
        for dev in self.devices.devices.values():
            if dev.handle is not None and dev.device_id in self._receiving:
                try:
                    await dev.provider.abort(dev.handle)
                except Exception:  # the stop goes on; the receive ends when its task does
                    log.warning(
                        "aborting the receive on device %d failed", dev.device_id, exc_info=True
                    )
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)

    def _spawn(self, coro: Coroutine[Any, Any, object], name: str) -> None:
        task: asyncio.Task[object] = asyncio.get_running_loop().create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def ring(self, dev: Device, call: IncomingCall) -> None:
        rings = call.ring_count
        dev.rings = {call.call_id: rings}
        refusal = self.router.screen(call.caller_id) if dev.can_receive else None
        if refusal is not None:
            # Providers have no "reject": the call is never answered (the caller sees no
            # answer), and FEI_CALL_BLACKLISTED is reported once per call.
            if call.call_id not in self.refused:
                self.refused.add(call.call_id)
                log.warning(
                    "call %s on device %d refused: %s", call.call_id, dev.device_id, refusal
                )
                event = NewEvent(
                    EventId.CALL_BLACKLISTED,
                    dev.device_id,
                    NO_JOB,
                    {"caller_id": call.caller_id, "reason": refusal},
                )
                self._spawn(self.ctx.emit([event]), "lanfax-blacklisted")
            return
        self._spawn(
            self.ctx.emit(
                [
                    NewEvent(
                        EventId.RINGING,
                        dev.device_id,
                        NO_JOB,
                        {"caller_id": call.caller_id, "rings": rings}
                        | ({"caller_name": call.caller_name} if call.caller_name else {}),
                    )
                ]
            ),
            "lanfax-ringing",
        )
        if dev.busy or not dev.can_receive or self._stopping:
            if not dev.busy:
                dev.set_live(status=DeviceStatus.RINGING, caller_id=call.caller_id)
            return
        if rings < max(dev.port.rings, 1):
            dev.set_live(status=DeviceStatus.RINGING, caller_id=call.caller_id)
            return
        dev.busy = True  # before any await: the dispatcher must not take this line now
        self._spawn(self._answer(dev, call), f"lanfax-receive-{dev.device_id}")

    async def _answer(self, dev: Device, call: IncomingCall) -> None:
        # The disk is asked in a worker thread (issue #14, item 7: no file work on the loop).
        if not await self.ctx.run(self._room_to_receive):
            # A fax the disk cannot hold would be confirmed page by page to the sender and
            # then lost: let it ring (the sender sees no answer and tries again later).
            dev.busy = False
            dev.set_live(status=DeviceStatus.RINGING, caller_id=call.caller_id)
            return
        await self._receive(dev, call)

    def _room_to_receive(self) -> bool:
        """Whether the received faxes' disk keeps ``min_free_bytes`` free (said once per
        change, not per ring)."""
        try:
            st = os.statvfs(self.ctx.spool.received)
            free = st.f_bavail * st.f_frsize
        except OSError:
            free = 0
        room = free >= self.min_free_bytes
        if room != self._had_room:
            self._had_room = room
            if room:
                log.warning("the spool's disk has room again: calls are answered")
            else:
                log.error(
                    "the spool's disk has %.1f MB free, less than %.0f MB (server.min_free_mb):"
                    " incoming calls are not answered",
                    free / 2**20,
                    self.min_free_bytes / 2**20,
                )
        return room

    def call_ended(self, dev: Device, call_id: str) -> None:
        dev.rings.pop(call_id, None)
        self.refused.discard(call_id)
        if not dev.busy:
            dev.set_live(status=DeviceStatus.AVAILABLE, caller_id="")

    def status(self, dev: Device, status: FaxDevStatus) -> None:
        if status.page_count:
            dev.set_live(current_page=status.page_count)
        job_id = dev.job_id
        if job_id is None or status.status_id is not ProviderStatus.RECEIVING:
            return
        mark = (status.pages_done, status.last_page)
        if mark > self._progress.get(job_id, (0, False)):
            self._progress[job_id] = mark
            self._spawn(self._record_progress(job_id), f"lanfax-rx-progress-{job_id}")

    async def _record_progress(self, job_id: int) -> None:
        """Commit the pages stored so far (a failed write is left to the next page or the
        outcome; the recovery counts the pages in the file anyway)."""
        async with self._progress_lock:
            mark = self._progress.get(job_id)
            if mark is None or mark <= self._progress_written.get(job_id, (0, False)):
                return
            pages, last = mark
            patch = JobPatch(pages_done=pages, page_count=pages)
            if last:
                patch = patch.but(extra={**self._extra.get(job_id, {}), "last_page": True})
            try:
                await self.ctx.update_job(
                    JobChange(job_id, Trigger.PROGRESS, patch, expect=_RUNNING)
                )
            except FaxError as exc:
                log.debug("cannot record page %d of receive job %d: %s", pages, job_id, exc)
                return
            self._progress_written[job_id] = mark

    async def _receive(self, dev: Device, call: IncomingCall) -> None:
        ctx = self.ctx
        now = ctx.clock.now()
        job: Job | None = None
        try:
            draft = Job(
                job_id=0,
                job_type=JobType.RECEIVE,
                queue_status=INITIAL[JobType.RECEIVE],  # IN_PROGRESS
                submitted_at=now,
                device_status=DeviceStatus.ANSWERED,
                started_at=now,
                device_id=dev.device_id,
                caller_id=call.caller_id,
                recipient_number=dev.port.csid or dev.offered.number,
                recipient_name=dev.port.device_name,
                routing_string=call.called_number,
                extra={"caller_name": call.caller_name} if call.caller_name else {},
            )
            (job,) = await ctx.add_jobs(
                [draft],
                [
                    NewEvent(
                        EventId.ANSWERED,
                        dev.device_id,
                        0,
                        {"caller_id": call.caller_id}
                        | ({"caller_name": call.caller_name} if call.caller_name else {}),
                    )
                ],
            )
            self._extra[job.job_id] = dict(job.extra)
            path = ctx.spool.received_path(job.job_id)
            dev.job_id = job.job_id
            dev.set_live(
                status=DeviceStatus.RECEIVING,
                job_id=job.job_id,
                job_type=JobType.RECEIVE,
                caller_id=call.caller_id,
                current_page=0,
                start_time=now,
            )
            try:
                dev.handle = await dev.provider.start_job(dev.local_id)
                await ctx.emit([NewEvent(EventId.RECEIVING, dev.device_id, job.job_id)])
                fax = FaxReceive(
                    path,
                    receiver_name=dev.port.device_name,
                    receiver_number=dev.port.csid,
                    options=SendOptions(trace_level=trace_level(INBOUND), trace_logger=INBOUND),
                    max_pages=self.router.max_pages,
                    screen=self.router.screen_tsid,
                )
                # The last look at a stop that came while the job was opened (the awaits
                # above): from the next line on the provider has the call, and an abort
                # goes to it.
                if self._stopping:
                    result = CallResult(
                        FaxDevStatus(ProviderStatus.USER_ABORT, string_id="the service is stopping")
                    )
                else:
                    self._receiving.add(dev.device_id)
                    result = await dev.provider.receive(dev.handle, fax)
            except FaxError as exc:
                result = CallResult(FaxDevStatus(ProviderStatus.FATAL_ERROR, string_id=exc.message))
            job = await self._record_durably(job, dev, path, result)
        except Exception:  # a bug here must not kill the service; the job is recovered
            log.exception("receive on device %d failed unexpectedly", dev.device_id)
        finally:
            if job is not None:
                self._progress.pop(job.job_id, None)
                self._progress_written.pop(job.job_id, None)
                self._extra.pop(job.job_id, None)
            self._receiving.discard(dev.device_id)
            await line_idle(ctx, dev, log)
        if job is not None and job.queue_status is QueueStatus.ROUTING:
            self.router.received(job)

    async def _record_durably(self, job: Job, dev: Device, path: Path, result: CallResult) -> Job:
        """:meth:`_record`, tried again with a growing delay while the store (or the disk)
        fails: the pages are on disk, the outcome must follow. Once the service stops, a
        few more tries, then the recovery settles the job from the file at the next start."""
        delay, tries_when_stopping, warned = 0.2, 0, False
        while True:
            try:
                recorded = await self._record(job, dev, path, result)
            except Conflict:
                raise
            except FaxError as exc:
                if self._stopping:
                    tries_when_stopping += 1
                    if tries_when_stopping > 3:
                        raise
                if not warned:
                    warned = True
                    log.warning(
                        "cannot record receive job %d (%s); trying again", job.job_id, exc.message
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            if warned:
                log.warning("receive job %d is recorded now", job.job_id)
            return recorded

    async def _record(self, job: Job, dev: Device, path: Path, result: CallResult) -> Job:
        ctx = self.ctx
        # The progress of the last pages first: a write still waiting for the previous one
        # (or not started: its task is spawned) would otherwise be overtaken by the outcome
        # and fail its ``expect``, and the last page's mark (``extra["last_page"]``) would
        # depend on the timing of the writes.
        await self._record_progress(job.job_id)
        now = ctx.clock.now()
        # The pages must be on disk before the job says so (ROUTING, or a failed receive that
        # keeps them): the file, then its directory entry.
        try:
            await ctx.run(_fsync_received, path)
        except OSError as exc:
            raise StoreError(
                f"cannot make the received file {path.name} durable: {exc.strerror}",
                hint="check the spool's disk (free space, errors)",
            ) from exc
        size = await ctx.run(_size, path)
        remote_ident = result.remote_ident or result.status.csi
        common = JobPatch(
            completed_at=now,
            page_count=result.pages,
            pages_done=result.pages,
            size=size,
            remote_ident=remote_ident,
            caller_id=result.status.caller_id or job.caller_id,
            bit_rate=result.bit_rate,
            ecm=result.ecm,
            compression=result.compression,
            document_path=ctx.spool.relative(path) if size else "",
        )
        pages = result.pages
        if result.status.status_id is ProviderStatus.CALL_BLACKLISTED:
            # Refused after phase B (the TSID is on the block list): a refused call, not a
            # fax. Whatever spandsp wrote is deleted; the job records who was refused.
            await ctx.run(path.unlink, True)
            trigger, pages = Trigger.RECEIVE_FAILED, 0
            patch = common.but(
                job_type=JobType.FAIL_RECEIVE,
                device_status=DeviceStatus.CALL_BLACKLISTED,
                status_text=f"{result.status.string_id}; the call was cut after answering,"
                " nothing kept",
                page_count=0,
                pages_done=0,
                size=0,
                document_path="",
            )
            event = EventId.CALL_BLACKLISTED
        elif result.ok and result.pages > 0:
            # Not final yet: the routing (lanfax.service.routing) completes it.
            trigger = Trigger.RECEIVED
            patch = common.but(
                device_status=DeviceStatus.COMPLETED,
                status_text=f"received {result.pages} page(s)",
            )
            event = EventId.COMPLETED
        else:
            # A call dropped mid-fax, or cut after [routing] policy.max_pages pages (the
            # provider says "more than N pages"): keep what arrived, as a failed receive,
            # which is not routed. A call said to be complete without a page is no fax
            # either (there would be nothing to route).
            reason = result.status.string_id or result.status.status_id.name.lower()
            if result.ok:
                reason = "the call ended without a page"
            trigger = Trigger.RECEIVE_FAILED
            patch = common.but(
                job_type=JobType.FAIL_RECEIVE,
                device_status=DeviceStatus.DISCONNECTED,
                status_text=f"receive failed after {result.pages} page(s): {reason}",
            )
            event = EventId.DISCONNECTED
        detail: dict[str, object] = {"pages": pages, "remote_ident": remote_ident}
        if event is EventId.CALL_BLACKLISTED:
            detail["reason"] = result.status.string_id
        return await ctx.update_job(
            JobChange(
                job.job_id,
                trigger,
                patch,
                expect=_RUNNING,
                events=(NewEvent(event, dev.device_id, job.job_id, detail),),
            )
        )


def _fsync_received(path: Path) -> None:
    """fsync a received file (if the call left one) and the directory that holds it."""
    if path.exists():
        fsync_file(path)
    fsync_dir(path.parent)


def _size(path: Path) -> int:
    """The received file's size, 0 when there is none (run off the event loop: #14 item 7)."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
