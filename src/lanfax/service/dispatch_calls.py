"""The dispatcher's writes about the calls in progress (split out of
``service/dispatcher.py``; :class:`CallWrites` is a base of
:class:`~lanfax.service.dispatcher.Dispatcher` and shares its state).

* A call's progress (:meth:`CallWrites.status`, from the provider): the line's live status,
  each change of FS_* state with its event, and every page the far end confirmed, committed
  while the call goes on (issue #14: a retry starts after it).
* #18: every write about a call is fenced on the job's lease; a lease found lost aborts the
  call, and nothing more is written about it (the node that took the job over settles it).
* Conditions that must not spin: a job whose claim failed is held back with a growing delay;
  a failing write is logged once, not once per try, until it clears.
"""

from __future__ import annotations

import asyncio
import logging

from lanfax.model.codes import DeviceStatus, EventId, ProviderStatus, QueueStatus
from lanfax.model.errors import Conflict, FaxError
from lanfax.model.jobs import Job
from lanfax.model.transitions import JobPatch, Trigger
from lanfax.providers.api import FaxDevStatus
from lanfax.service.context import ServiceContext
from lanfax.service.devices import Device, DeviceManager
from lanfax.service.dispatch_outcome import scheduler_change
from lanfax.service.holdback import HeldBack
from lanfax.store.api import JobChange
from lanfax.store.leases import Lease, LeaseLost

__all__ = ["RETRY_FIRST", "RETRY_MAX", "CallWrites"]

log = logging.getLogger("lanfax.outbound")

#: Back-off (real seconds) of a failing store write: first delay, and the longest.
RETRY_FIRST = 0.2
RETRY_MAX = 30.0


class CallWrites:
    """Progress, leases and quiet conditions of the calls in progress. The state is the
    dispatcher's, set in its ``__init__``."""

    ctx: ServiceContext
    devices: DeviceManager
    _calls: dict[int, asyncio.Task[None]]
    #: Pages confirmed so far (document numbering) of each job on the line, as reported
    #: by its provider, and as committed.
    _progress: dict[int, int]
    _progress_written: dict[int, int]
    _progress_locks: dict[int, asyncio.Lock]
    #: Jobs held back after a failed claim, with a growing delay.
    _held: HeldBack
    #: Conditions already logged (logged once each, until they clear).
    _logged: set[str]
    #: #18: the lease of each job on a call, and the jobs whose lease was lost.
    _leases: dict[int, Lease]
    _lost: set[int]
    #: The jobs whose call the provider has (``send`` called); an abort before is held.
    _sending: set[int]

    # -- a call's progress ----------------------------------------------------------------

    def status(self, dev: Device, status: FaxDevStatus) -> None:
        """Progress of a send (from the provider): update the live status, and record a
        change of FS_* state on the job with its event."""
        mapped = {
            ProviderStatus.DIALING: (DeviceStatus.DIALING, EventId.DIALING),
            ProviderStatus.TRANSMITTING: (DeviceStatus.SENDING, EventId.SENDING),
        }.get(status.status_id)
        page = status.page_count
        if dev.job_id is not None and status.pages_done > self._progress.get(dev.job_id, 0):
            self._progress[dev.job_id] = status.pages_done
            asyncio.get_running_loop().create_task(self._record_progress(dev.job_id))
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
                Trigger.PROGRESS,
                JobPatch(device_status=device_status),
                event_id,
                {},
                device_id=dev.device_id,
            )
            asyncio.get_running_loop().create_task(self._quiet_update(change))

    async def _quiet_update(self, change: JobChange) -> None:
        try:
            await self._fenced(change)
        except Conflict:  # LeaseLost included (_fenced dealt with it)
            pass
        except FaxError as exc:  # a status change is not worth a failure: the outcome follows
            self._log_once(
                f"status:{change.job_id}",
                "cannot record the status of job %d (%s)",
                change.job_id,
                exc.message,
            )

    async def progress_recorded(self, dev: Device) -> None:
        """Return once the pages confirmed so far on ``dev``'s call are committed (or their
        write failed: logged, and the outcome carries them): see
        ``ServiceCallbacks.progress_recorded``."""
        if dev.job_id is not None:
            await self._record_progress(dev.job_id)

    async def _record_progress(self, job_id: int) -> None:
        """Commit the pages the far end confirmed so far (one write at a time per job; a
        failed write is left to the next page or to the outcome, which carries them too)."""
        lock = self._progress_locks.setdefault(job_id, asyncio.Lock())
        async with lock:
            pages = self._progress.get(job_id, 0)
            if pages <= self._progress_written.get(job_id, 0):
                return
            try:
                await self._fenced(JobChange(job_id, Trigger.PROGRESS, JobPatch(pages_done=pages)))
            except Conflict:  # LeaseLost included (_fenced dealt with it)
                return
            except FaxError as exc:
                self._log_once(
                    f"progress:{job_id}",
                    "cannot record page %d of job %d (%s)",
                    pages,
                    job_id,
                    exc.message,
                )
                return
            if job_id in self._progress:
                self._progress_written[job_id] = pages

    # -- #18: the leases of the calls ------------------------------------------------------------

    async def _fenced(self, change: JobChange) -> Job:
        """Commit a change about a job on a call, fenced on its lease (LeaseLost if lost)."""
        if change.job_id in self._lost:
            raise LeaseLost(f"the lease on job {change.job_id} was lost", hint="write nothing")
        lease = self._leases.get(change.job_id)
        if lease is None:
            raise Conflict(f"job {change.job_id} is not on a call of this node")
        try:
            return await self.ctx.leases.write(lease, change)
        except LeaseLost as exc:
            # Lost only if this is still the call's lease: a write of a call that has
            # ended (its outcome gave the lease back, or a later call holds a new one) is
            # merely late.
            if self._leases.get(change.job_id) == lease:
                self._lease_lost_in_write(change.job_id, exc)
            raise

    def lease_lost(self, job_id: int) -> None:
        """The lease on ``job_id`` is gone (a renewal found it taken over): abort its call and
        write nothing more about it (the node that took it over settles it)."""
        if job_id not in self._calls or job_id in self._lost:
            return
        self._lost.add(job_id)
        log.error("job %d: this node lost its lease; its call is aborted", job_id)
        for dev in self.devices.devices.values():
            if dev.job_id == job_id and dev.handle is not None:
                dev.set_live(status=DeviceStatus.ABORTING)
                if not self._before_send(dev):
                    asyncio.get_running_loop().create_task(self._abort_quietly(dev))

    def _lease_lost_in_write(self, job_id: int, exc: FaxError) -> None:
        if job_id in self._calls and job_id not in self._lost:
            log.error("job %d: %s", job_id, exc.message)
        self.lease_lost(job_id)

    def _before_send(self, dev: Device) -> bool:
        """``dev`` carries a send of this dispatcher whose provider does not have the call
        yet (``send`` not called): an abort is held until then, not passed to the provider,
        which need not honour an abort of a job it has only opened."""
        return dev.job_id in self._calls and dev.job_id not in self._sending

    async def _abort_quietly(self, dev: Device) -> None:
        if dev.handle is None or self._before_send(dev):
            return
        try:
            await dev.provider.abort(dev.handle)
        except Exception:  # the call ends when its task does; nothing is written about it
            log.warning("aborting the call on device %d failed", dev.device_id, exc_info=True)

    # -- conditions that must not spin ----------------------------------------------------------

    def _hold(self, job_id: int, exc: FaxError) -> None:
        """Keep ``job_id`` out of the plans for a growing while (its claim failed)."""
        self._held.hold(job_id, asyncio.get_running_loop().time())
        self._log_once(
            f"claim:{job_id}",
            "cannot start job %d (%s); trying again with a growing delay",
            job_id,
            exc.message,
        )

    def _release_hold(self, job_id: int) -> None:
        if self._held.release(job_id) and self._clear_logged(f"claim:{job_id}"):
            log.warning("job %d could be started again", job_id)

    def _log_once(self, condition: str, message: str, *args: object) -> None:
        """Log ``message`` (a warning) the first time ``condition`` is seen, then stay quiet
        about it until :meth:`_clear_logged`."""
        if condition in self._logged:
            log.debug(message, *args)
            return
        self._logged.add(condition)
        log.warning(message, *args)

    def _clear_logged(self, condition: str) -> bool:
        if condition in self._logged:
            self._logged.discard(condition)
            return True
        return False
