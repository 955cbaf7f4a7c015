"""Routing jobs: every received fax goes through the enabled routing methods, durably.

The inbound pipeline commits a received fax as a RECEIVE job in queue state ROUTING (in the
same transaction that records the call's outcome), then hands it to :class:`RoutingJobs`.
From there the job is owned here:

* every method enabled on the receiving device runs, in the global order
  (:meth:`lanfax.routing.RoutingManager.route_fax`);
* all succeeded -> the job is COMPLETED (one transaction, with an event);
* some failed -> the job becomes a ROUTING job (JobType.ROUTING, still queue state ROUTING),
  the failures are recorded in ``job.extra["routing"]`` and ``status_text``, and
  ``next_attempt_at`` is set by :func:`lanfax.routing.next_retry`; only the failed methods run
  again. A failure no retry can cure (a configuration error), or too many attempts, leaves
  the job held (``next_attempt_at`` None) until a person fixes the route and asks for a retry
  (:meth:`RoutingJobs.retry_now`; changing a device's routing configuration does it too), or
  deletes the job.

Several nodes on one database (#18): a routing job is claimed with a lease before its
methods run (``ctx.leases``), and every write about it is fenced on that lease; the outcome
(routed, or a failure with its retry time) gives the lease back. So each attempt runs on
exactly one node: the one that received the fax, as a rule (the others leave it to that
node for ``defer`` seconds, one lease); a retry falls to whichever node claims it first; a
node that died routing leaves the fax to the others when its lease runs out (each node reads
the routing jobs from the database every ``[node] lease_s``). The routing state (per-device
configuration, the global order) is re-read when another node changed it (a notification).

Durability: since the job is ROUTING (not final) before any method runs, a SIGKILL at any
point leaves a job that is routed again after the restart. Delivery is therefore at least
once: a method that finished just before the kill runs again (the folder route adds ``-1`` to
the name; the web hook's idempotency key lets a receiver drop the duplicate).

Four modules: this one runs the routing jobs; :mod:`lanfax.service.routing_outcome` decides,
without I/O, what an attempt's outcome means for its job; :mod:`lanfax.service.routing_settings`
validates ``[routing]``; :mod:`lanfax.service.routing_store` builds the routing manager with
its state in the service's store. Their public names are importable from here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from lanfax.model.codes import EventId, JobType, QueueStatus
from lanfax.model.errors import ConfigError, Conflict, FaxError, NotFound
from lanfax.model.events import NewEvent
from lanfax.model.jobs import Job, JobQuery
from lanfax.model.routing import GlobalRoutingInfo, RoutingMethod
from lanfax.model.transitions import JobPatch, Trigger
from lanfax.routing import (
    FileSetCallbacks,
    MethodOutcome,
    RoutingManager,
    RoutingOutcome,
    normalize_guid,
)
from lanfax.service.context import ServiceContext
from lanfax.service.devices import DeviceManager
from lanfax.service.holdback import HeldBack
from lanfax.service.leases import Lease
from lanfax.service.nodes import node_of_device
from lanfax.service.routing_outcome import (
    fax_route,
    is_routing,
    lost_file,
    route_outcome,
    routing_state,
)
from lanfax.service.routing_settings import RoutingSettings, parse_routing_settings
from lanfax.service.routing_store import StoreRoutingState, build_manager
from lanfax.store.api import JobChange

__all__ = [
    "RoutingJobs",
    "RoutingSettings",
    "StoreRoutingState",
    "build_manager",
    "fax_route",
    "open_routing",
    "parse_routing_settings",
]

log = logging.getLogger("lanfax.inbound")

#: Longest real-time sleep between looks at the routing queue (a wall-clock jump is noticed).
MAX_IDLE_SECONDS = 30.0
#: Faxes routed at the same time (each runs its methods one after another).
CONCURRENCY = 4
#: Back-off (real seconds) of a fax whose routing cannot run (spool or store failing).
HOLD_FIRST = 0.5
HOLD_MAX = 300.0

_ROUTING = frozenset({QueueStatus.ROUTING})
_ROUTING_TYPES = frozenset({JobType.RECEIVE, JobType.ROUTING})
#: #18: routing jobs read from the database per look (a cluster's backlog beyond this waits
#: for the next look).
SCAN_LIMIT = 500


class RoutingJobs:
    """Runs the routing of received faxes and retries the failed routes.

    ``device_name(device_id)`` names a device for FAX_ROUTE (the device manager knows).
    """

    def __init__(
        self,
        ctx: ServiceContext,
        manager: RoutingManager,
        callbacks: FileSetCallbacks,
        settings: RoutingSettings,
        devices: DeviceManager,
    ) -> None:
        self.ctx = ctx
        self.manager = manager
        self.callbacks = callbacks
        self.settings = settings
        self.devices = devices
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running: dict[int, asyncio.Task[None]] = {}
        self._stopping = False
        #: Faxes whose routing could not even start or be recorded (the spool unreadable, a
        #: store error): job id -> (loop time of the next try, the delay after that).
        self._held = HeldBack(HOLD_FIRST, HOLD_MAX)
        #: #18, several nodes: how often (seconds) to read the routing jobs from the database
        #: (None: one node, its own copy of the queue is the whole queue); the ones read there
        #: that this node's copy does not have (received on another node, which died or
        #: left a retry); jobs another node is routing now: job id -> loop time to look again.
        self.scan_every: float | None = None
        #: #18: this node's number (device ids name their node); a fax received on another
        #: node is left to that node for ``defer`` seconds after this node first saw it, so
        #: that the receiving node routes it, as a rule, without a race of claims.
        self.node_number: int | None = None
        self.defer = 0.0
        self._first_seen: dict[int, float] = {}
        self._found: dict[int, Job] = {}
        self._next_scan = 0.0
        self._elsewhere: dict[int, float] = {}
        ctx.on_jobs_changed(self._jobs_changed)

    # -- life cycle ---------------------------------------------------------------------------

    def device_name(self, device_id: int) -> str:
        dev = self.devices.devices.get(device_id)
        return dev.port.device_name if dev is not None else ""

    def screen(self, caller_id: str) -> str | None:
        """InboundRouter: the block list of ``[routing] policy`` (caller ids; a TSID is not
        known before the call is answered: :meth:`screen_tsid`)."""
        return self.settings.policy.refusal(caller_id, "")

    def screen_tsid(self, tsid: str) -> str | None:
        """InboundRouter: the block list for the far end's TSID, once T.30 gave it. Pure:
        a provider may call it on its media thread."""
        hit = self.settings.policy.block.match("", tsid)
        return None if hit is None else f"it matches the block list entry {hit!r}"

    @property
    def max_pages(self) -> int | None:
        """InboundRouter: ``[routing] policy.max_pages`` (None: no limit)."""
        return self.settings.policy.max_pages

    def received(self, job: Job) -> None:
        """InboundRouter: a fax was committed as a ROUTING job; route it now.

        The commit itself already put the job among the unfinished ones (and woke the loop,
        which may have routed it to completion since): ``job`` is the receiver's copy from
        before that, so it must never be put back, or a fax already routed would be taken
        for one still to route, routed again and again, each outcome refused as a conflict."""
        self.wake()

    async def start(self) -> None:
        """FaxRouteInitialize, FaxRouteDeviceChangeNotification for every device, then route
        whatever is waiting (faxes left ROUTING by a crash are due at once)."""
        await self.manager.start()
        for device_id in self.devices.devices:
            self.manager.device_changed(device_id, True)
        await self.ctx.run(self._clean_manifests)
        # #18: routing leases this node's earlier process held (it died routing them) are
        # given back at once: the node's lock says that process is gone.
        for t in await self.ctx.leases.take_over(statuses=_ROUTING, own=True):
            await self.ctx.leases.release(t.lease)
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="lanfax-routing")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._running:
            # A method interrupted here runs again after the restart (the job stays ROUTING).
            for task in self._running.values():
                task.cancel()
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    def wake(self) -> None:
        """Look at the routing queue now (a new fax, a test moved its clock, a fix)."""
        self._wake.set()

    async def idle(self) -> None:
        """Wait until no fax is being routed (its bookkeeping after the outcome included:
        the file manifest is dropped just after the outcome is committed)."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    def _jobs_changed(self, jobs: Sequence[Job]) -> None:
        if any(j.queue_status is QueueStatus.ROUTING for j in jobs):
            self._wake.set()

    def settings_changed(self, namespace: str | None) -> None:
        """Another node changed a settings namespace (#18): drop the routing state's copy of
        it (per-device routing configuration, the global order)."""
        state = self.manager.state
        if isinstance(state, StoreRoutingState) and (
            namespace is None or namespace.startswith(StoreRoutingState.PREFIXES)
        ):
            state.drop(namespace)
            self._wake.set()

    def _clean_manifests(self) -> None:
        """Drop file manifests of faxes that are no longer being routed (deleted, done)."""
        root = self.callbacks.root
        if root is None:
            return
        live = {j.job_id for j in self.ctx.unfinished.values() if is_routing(j)}
        for manifest in root.glob("job-*.json"):
            stem = manifest.stem.removeprefix("job-")
            if stem.isdigit() and int(stem) not in live:
                self.callbacks.forget(int(stem))

    # -- the loop ------------------------------------------------------------------------------

    def due(self, now: datetime) -> tuple[list[Job], datetime | None]:
        """Routing jobs to run now, and the earliest later time one becomes due."""
        ready: list[Job] = []
        later: datetime | None = None
        loop_now = asyncio.get_running_loop().time()
        candidates = [j for j in {**self._found, **self.ctx.unfinished}.values() if is_routing(j)]
        if self._first_seen:
            live = {j.job_id for j in candidates}
            self._first_seen = {k: t for k, t in self._first_seen.items() if k in live}
        for job in candidates:
            if job.job_id in self._running:
                continue
            if self._held.waits(job.job_id, loop_now):
                continue
            if self._elsewhere.get(job.job_id, 0.0) > loop_now:
                continue
            if self._deferred(job, loop_now):
                continue
            if job.next_attempt_at is None:
                if routing_state(job).get("held"):
                    continue
                ready.append(job)
            elif job.next_attempt_at <= now:
                ready.append(job)
            elif later is None or job.next_attempt_at < later:
                later = job.next_attempt_at
        ready.sort(key=lambda j: j.job_id)
        return ready, later

    def _deferred(self, job: Job, loop_now: float) -> bool:
        """A fax another node received, first seen here less than ``defer`` ago: its own
        node routes it (if that node died, this one claims it once the time is up)."""
        if self.node_number is None or self.defer <= 0:
            return False
        if node_of_device(job.device_id) in (None, self.node_number):
            return False
        until = self._first_seen.setdefault(job.job_id, loop_now) + self.defer
        if until <= loop_now:
            return False
        self._elsewhere.setdefault(job.job_id, until)  # wakes the loop then
        return True

    async def _scan(self) -> None:
        """#18, several nodes: read the routing jobs from the database every ``scan_every``
        seconds, so that a fax received on another node is routed here when that node died
        (its lease ran out) or left a retry that falls due. Claims decide who routes it."""
        every = self.scan_every
        loop_now = asyncio.get_running_loop().time()
        if every is None or loop_now < self._next_scan:
            return
        self._next_scan = loop_now + every
        query = JobQuery(limit=SCAN_LIMIT, statuses=_ROUTING, job_types=_ROUTING_TYPES)
        try:
            jobs = await self.ctx.run(self.ctx.store.list_jobs, query)
        except FaxError as exc:
            log.warning("routing jobs of other nodes not read: %s", exc.message)
            return
        self._found = {j.job_id: j for j in jobs if j.job_id not in self.ctx.unfinished}
        self._elsewhere = {k: t for k, t in self._elsewhere.items() if t > loop_now}

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            await self._scan()
            now = self.ctx.clock.now()
            ready, later = self.due(now)
            for job in ready:
                if len(self._running) >= CONCURRENCY:
                    break
                task = asyncio.get_running_loop().create_task(
                    self._route_job(job.job_id), name=f"lanfax-route-{job.job_id}"
                )
                self._running[job.job_id] = task
            timeout = MAX_IDLE_SECONDS
            if later is not None:
                timeout = min(max((later - now).total_seconds(), 0.0), MAX_IDLE_SECONDS)
            loop_now = asyncio.get_running_loop().time()
            timeout = self._held.timeout(timeout, loop_now)
            if self._elsewhere:
                timeout = min(timeout, max(min(self._elsewhere.values()) - loop_now, 0.0))
            if self.scan_every is not None:
                timeout = min(timeout, max(self._next_scan - loop_now, 0.0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _route_job(self, job_id: int) -> None:
        lease: Lease | None = None
        leases = self.ctx.leases
        try:
            # #18: claimed first, so that of several nodes exactly one routes it; every
            # write after is fenced on the lease, the last one gives it back.
            claimed = await leases.claim(statuses=_ROUTING, job_ids=[job_id], limit=1)
            self._found.pop(job_id, None)
            if not claimed:
                # Another node routes it now (look again once its lease could have run out),
                # or it is no longer waiting (routed, deleted, not due): take the store's copy
                # (as another node's job: this node's job-change listeners are not told).
                again = await leases.read_again([job_id])
                if again and is_routing(again[0]):
                    loop_now = asyncio.get_running_loop().time()
                    self._elsewhere[job_id] = loop_now + leases.ttl.total_seconds()
                self._held.release(job_id)
                return
            job, lease = claimed[0]
            if not is_routing(job):
                self._held.release(job_id)
                return
            await self.route(job, lease)
            if self._held.release(job_id):
                log.warning("routing fax %d works again", job_id)
        except FaxError as exc:
            # The spool or the store failed: not a routing method's failure, so no attempt is
            # counted; try again after a growing delay, saying so once (issue #14: a fax whose
            # file cannot be read used to be routed again at once, forever).
            self._hold(job_id, exc)
        except Exception:  # a bug must not stop the routing loop; the job stays ROUTING
            log.exception("routing fax %d failed unexpectedly", job_id)
            self._hold(job_id, None)
        finally:
            if lease is not None and leases.held.get(job_id) == lease:
                # Not given back by an outcome (a failure, or the service stopping): give it
                # back now, so that this node or another may route it again.
                with contextlib.suppress(FaxError):
                    await leases.release(lease)
            self._running.pop(job_id, None)
            self._wake.set()

    def _hold(self, job_id: int, exc: FaxError | None) -> None:
        first = self._held.hold(job_id, asyncio.get_running_loop().time())
        if first and exc is not None:
            log.error(
                "routing fax %d cannot run: %s; trying again with a growing delay",
                job_id,
                exc.message,
            )

    async def route(self, job: Job, lease: Lease | None = None) -> Job:
        """Run the methods this job still needs and record the outcome (one transaction).

        Methods run one at a time; after each success that is not the last, the progress is
        committed, so a crash in the middle repeats only the method that was running. With
        ``lease`` (#18: the claim of this node on the job), every write is fenced on it and
        the outcome gives it back."""
        state = routing_state(job)
        done = set(state.get("done", []))
        device_id = job.device_id or 0
        if state.get("pending") is None:
            wanted = [m.guid for m in self.manager.enum_routing_methods(device_id) if m.enabled]
        else:
            chosen = set(state["pending"] if state.get("manual") else state.get("retry", []))
            order = [g.guid for g in self.manager.enum_global_routing_info()]
            # A method no longer installed is reported by the manager (not retryable).
            wanted = [g for g in order if g in chosen] + sorted(chosen - set(order))
        wanted = [g for g in wanted if g not in done]
        try:
            path = await self.ctx.run(self.ctx.spool.resolve, job.document_path)
        except NotFound as exc:
            # No retry brings a lost file back: hold the fax for an administrator.
            log.error("received fax %d cannot be routed: %s", job.job_id, exc.message)
            held, event = lost_file(job, state, exc.message)
            return await self._update(job, Trigger.ROUTE_STEP, held, event, lease, True) or job
        fax = fax_route(job, self.device_name(device_id))
        results: list[MethodOutcome] = []
        skipped: list[str] = []
        owner = ""  # given by the "route to a user" method (#13): the fax's owner
        for i, guid in enumerate(wanted):
            one = await self.manager.route_fax(fax, [path], only={guid})
            results.extend(one.results)
            skipped.extend(one.skipped)
            owner = next((r.result.owner for r in one.results if r.result.owner), owner)
            if one.ok and one.results and i < len(wanted) - 1:
                done.add(guid)
                progress = dict(state, done=sorted(done))
                step = JobPatch(extra=dict(job.extra, routing=progress))
                if owner:
                    step = step.but(user_name=owner)
                saved = await self._update(job, Trigger.ROUTE_STEP, step, None, lease)
                if saved is None:
                    return job
                job, state = saved, progress
        outcome = RoutingOutcome(job.job_id, tuple(results), tuple(skipped))
        return await self._record(job, state, outcome, owner, lease)

    async def _record(
        self,
        job: Job,
        state: dict[str, Any],
        outcome: RoutingOutcome,
        owner: str = "",
        lease: Lease | None = None,
    ) -> Job:
        out = route_outcome(job, state, outcome, owner, self.ctx.clock.now(), self.settings)
        if out.routed:
            updated = await self._update(job, out.trigger, out.patch, out.event, lease, True)
            if updated is not None:
                await self.ctx.run(self.callbacks.forget, job.job_id)
                log.info("received fax %d routed to %s", job.job_id, out.summary)
            return updated or job
        log.warning(
            "routing of fax %d failed (attempt %d): %s", job.job_id, out.attempts, out.summary
        )
        return await self._update(job, out.trigger, out.patch, out.event, lease, True) or job

    async def _update(
        self,
        job: Job,
        trigger: Trigger,
        patch: JobPatch,
        event: NewEvent | None,
        lease: Lease | None = None,
        release: bool = False,
    ) -> Job | None:
        events = (event,) if event is not None else ()
        change = JobChange(job.job_id, trigger, patch, expect=_ROUTING, events=events)
        try:
            if lease is None:
                return await self.ctx.update_job(change)
            return await self.ctx.leases.write(lease, change, release=release)
        except (Conflict, NotFound):  # LeaseLost too: another node took the fax over
            log.info("fax %d changed while it was routed (deleted?); outcome dropped", job.job_id)
            # Our copy was stale: take the store's, so that a fax routed (or deleted)
            # meanwhile leaves the routing queue instead of being routed again.
            await self.ctx.refresh_job(job.job_id)
            return None

    # -- administration -------------------------------------------------------------------------

    async def retry_now(self, job_id: int) -> Job:
        """Route a routing job again now: every method that has not succeeded yet."""
        job = await self.ctx.get_job(job_id)
        if job is None:
            raise NotFound(f"there is no job {job_id}", hint="list the jobs to see their ids")
        if not is_routing(job):
            raise Conflict(
                f"job {job_id} is not waiting for routing",
                hint="only jobs in the routing state can be routed again",
                queue_status=job.queue_status.name.lower(),
            )
        state = routing_state(job)
        extra = dict(job.extra)
        if state:
            extra["routing"] = dict(state, held=False, manual=True)
        event = NewEvent(EventId.JOB_CHANGED, job.device_id or 0, job_id, {"routing": "retry"})
        updated = await self.ctx.update_job(
            JobChange(
                job_id,
                Trigger.ROUTE_STEP,
                JobPatch(next_attempt_at=None, extra=extra),
                expect=_ROUTING,
                events=(event,),
            )
        )
        self.wake()
        return updated

    async def device_config_changed(self, device_id: int) -> None:
        """The routing configuration of a device changed: held jobs of it try again now."""
        for job in list(self.ctx.unfinished.values()):
            if is_routing(job) and job.device_id == device_id and routing_state(job).get("held"):
                with contextlib.suppress(FaxError):
                    await self.retry_now(job.job_id)

    # -- the configuration calls, with the retry hook --------------------------------------------

    def global_methods(self) -> list[GlobalRoutingInfo]:
        return self.manager.enum_global_routing_info()

    async def set_priority(self, guid: str, priority: int) -> list[GlobalRoutingInfo]:
        await self.ctx.run(self.manager.set_priority, guid, priority)
        return self.manager.enum_global_routing_info()

    async def set_order(self, guids: Sequence[str]) -> list[GlobalRoutingInfo]:
        if isinstance(guids, str) or not isinstance(guids, Sequence):
            raise ConfigError("order must be a list of GUIDs", hint='{"order": ["{...}", ...]}')
        await self.ctx.run(self.manager.set_global_order, list(guids))
        return self.manager.enum_global_routing_info()

    def methods(self, device_id: int) -> list[RoutingMethod]:
        name = self.devices.get(device_id).port.device_name  # NotFound for an unknown device
        return self.manager.enum_routing_methods(device_id, name)

    async def enable(self, device_id: int, guid: str, enabled: bool) -> RoutingMethod:
        self.devices.get(device_id)
        await self.ctx.run(self.manager.enable_routing_method, guid, device_id, enabled)
        await self.device_config_changed(device_id)
        return self.method(device_id, guid)

    def method(self, device_id: int, guid: str) -> RoutingMethod:
        self.devices.get(device_id)
        self.manager.get_routing_info(guid, device_id)  # NotFound for an unknown GUID
        g = normalize_guid(guid)
        return next(m for m in self.methods(device_id) if m.guid == g)

    def get_info(self, device_id: int, guid: str) -> dict[str, Any]:
        self.devices.get(device_id)
        return self.manager.get_routing_info(guid, device_id, redact=True)

    async def set_info(self, device_id: int, guid: str, info: Mapping[str, Any]) -> dict[str, Any]:
        self.devices.get(device_id)
        await self.ctx.run(self.manager.set_routing_info, guid, device_id, info)
        await self.device_config_changed(device_id)
        return self.manager.get_routing_info(guid, device_id, redact=True)


async def open_routing(
    ctx: ServiceContext, data_dir: Path, settings: RoutingSettings, devices: DeviceManager
) -> RoutingJobs:
    """The service's routing: every installed extension, its state in the store."""
    manager, callbacks = await ctx.run(build_manager, ctx, data_dir, settings)
    return RoutingJobs(ctx, manager, callbacks, settings, devices)
