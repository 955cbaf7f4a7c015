"""The state every part of the running service shares, and the one way to change jobs.

:class:`ServiceContext` owns the store (called in worker threads), the spool, the event bus,
the effective ServerConfig and an in-memory copy of every unfinished job (the scheduler's
input, kept up to date by the only writer: this process). Every job change goes through
:meth:`ServiceContext.update_jobs` / :meth:`ServiceContext.add_jobs`, which commit the change
with its events in one transaction, refresh the copy, publish the events and wake the
dispatcher.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import tzinfo
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from lanfax.model.clock import Clock
from lanfax.model.config import ServerConfig
from lanfax.model.events import Event, NewEvent
from lanfax.model.jobs import Job
from lanfax.service.bus import EventBus, Prefetched
from lanfax.service.spool import Spool
from lanfax.store.api import AuditEntry, JobChange, Store

if TYPE_CHECKING:  # #18
    from lanfax.service.leases import NodeLeases

P = ParamSpec("P")
T = TypeVar("T")

#: What :meth:`ServiceContext.commit_jobs` returns: the jobs as stored, and the bus's read.
Committed = tuple[list[Job], Prefetched | None]

log = logging.getLogger("lanfax.init")

#: Most new jobs the dispatcher is told of between two plans (#19); beyond, it plans over all
#: (and the list cannot grow without bound where no dispatcher takes it).
_MAX_NEW_JOBS = 1000


class ServiceContext:
    """Shared runtime state. Create it, then ``await start()`` on the service's loop."""

    def __init__(self, store: Store, spool: Spool, clock: Clock, tz: tzinfo) -> None:
        self.store = store
        self.spool = spool
        self.clock = clock
        self.tz = tz
        self.config = ServerConfig()
        # Store calls block (SQLite, fsync); a few threads let reads overlap a commit. They
        # mostly wait (an fsync, or a submission waiting for the group commit it joined), so
        # there are enough for concurrent submissions to share a commit and have their
        # files' fsyncs in flight together (#19); 12 stays within the SQL store's connection
        # pool (5 + 10 overflow) with the heavy pool's 2.
        self._executor = ThreadPoolExecutor(max_workers=12, thread_name_prefix="lanfax-store")
        # Heavy work (password hashes, cover and report renders, archive conversions) has
        # its own small pool, so that it can never starve the store's commits (issue #14).
        self._heavy = ThreadPoolExecutor(max_workers=2, thread_name_prefix="lanfax-heavy")
        self.bus = EventBus(store, self.run)
        self.unfinished: dict[int, Job] = {}
        self._wake: asyncio.Event | None = None
        self._listeners: list[Callable[[Sequence[Job]], None]] = []
        #: #18: this node's leases on jobs (lanfax.service.leases), set by the service at start.
        self._leases: NodeLeases | None = None
        #: #18: other nodes commit to this store too (set by the service on PostgreSQL with
        #: a cluster listener): the job copy is then this node's planning input, kept in step
        #: from notifications, and one job read for an answer (:meth:`get_job`) comes from
        #: the store, so every node answers what is committed, never its copy's lag.
        self.shared = False
        #: #19: why the dispatcher was woken since it last looked: only these new jobs
        #: (committed submissions), or (None) anything else, which needs a plan over all.
        self._woken_for: list[Job] | None = None

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking call (the store, file I/O) in a worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    async def run_heavy(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run CPU-heavy work (scrypt, a render, a conversion) in the heavy pool (2 threads):
        it queues behind other heavy work, never in front of the store's calls."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._heavy, functools.partial(fn, *args, **kwargs))

    async def start(self) -> None:
        self._wake = asyncio.Event()
        await self.bus.start()

    def close_executor(self) -> None:
        self._heavy.shutdown(wait=True)
        self._executor.shutdown(wait=True)

    # -- #18: this node's leases on jobs ------------------------------------------------

    @property
    def leases(self) -> NodeLeases:
        """Claims, fenced writes and renewals for this node (lanfax.service.leases)."""
        if self._leases is None:
            raise RuntimeError("the node's leases are not set up (the service is not started)")
        return self._leases

    @leases.setter
    def leases(self, value: NodeLeases) -> None:
        self._leases = value

    # -- waking the dispatcher ----------------------------------------------------------

    @property
    def wake_event(self) -> asyncio.Event:
        if self._wake is None:
            raise RuntimeError("the service is not started")
        return self._wake

    def wake(self) -> None:
        """Ask the dispatcher to plan again (something changed, or the clock moved)."""
        self._woken_for = None
        if self._wake is not None:
            self._wake.set()

    def wake_for_new(self, jobs: Sequence[Job]) -> None:
        """Ask the dispatcher to plan again because ``jobs`` were committed, and nothing else
        changed (#19: it may then plan over these jobs only, see
        :meth:`lanfax.service.dispatcher.Dispatcher.plan_new`)."""
        if self._woken_for is not None:
            self._woken_for.extend(jobs)
            if len(self._woken_for) > _MAX_NEW_JOBS:  # a plan over all is as cheap by then
                self._woken_for = None
        if self._wake is not None:
            self._wake.set()

    def take_wake_reasons(self) -> list[Job] | None:
        """The jobs committed since the last call, when nothing else woke the dispatcher
        meanwhile; None when something else did (plan over every job). Called by the
        dispatcher as it clears :attr:`wake_event`."""
        woken, self._woken_for = self._woken_for, []
        return woken

    def on_jobs_changed(self, listener: Callable[[Sequence[Job]], None]) -> None:
        self._listeners.append(listener)

    # -- the job copy ---------------------------------------------------------------------

    def load_unfinished(self, jobs: Iterable[Job]) -> None:
        self.unfinished = {j.job_id: j for j in jobs if not j.is_final}

    def _remember(self, jobs: Sequence[Job]) -> None:
        for job in jobs:
            if job.is_final:
                self.unfinished.pop(job.job_id, None)
            else:
                self.unfinished[job.job_id] = job
        for listener in self._listeners:
            listener(jobs)

    # -- writes ----------------------------------------------------------------------------

    async def add_jobs(
        self, jobs: Sequence[Job], events: Sequence[NewEvent], audit: Sequence[AuditEntry] = ()
    ) -> list[Job]:
        """Commit new jobs with their events and audit entries (one transaction), then
        publish and wake."""
        committed = await self.run(self.commit_jobs, jobs, events, audit)
        return await self.jobs_committed(committed)

    def commit_jobs(
        self,
        jobs: Sequence[Job],
        events: Sequence[NewEvent],
        audit: Sequence[AuditEntry] = (),
        *,
        sync: Callable[[], None] | None = None,
    ) -> Committed:
        """The blocking half of :meth:`add_jobs`, for a worker thread (a caller already in
        one, #19: a submission's document and its jobs in one trip): the commit, and the new
        events for the bus (as the store stored them, else read back). Give what it returns
        to :meth:`jobs_committed`. ``sync`` is made durable before the commit, once for a
        group commit (:meth:`lanfax.store.api.Store.add_jobs_and_events`)."""
        if sync is None:
            added, stored = self.store.add_jobs_and_events(jobs, events, audit)
        else:
            added, stored = self.store.add_jobs_and_events(jobs, events, audit, sync=sync)
        return self._committed(added, stored)

    def commit_jobs_many(
        self,
        items: Sequence[tuple[Sequence[Job], Sequence[NewEvent], Sequence[AuditEntry]]],
        *,
        sync: Callable[[], None] | None = None,
    ) -> list[Committed | Exception]:
        """:meth:`commit_jobs` for several submissions given together (#19 wave 7: the
        intake's one committer), sharing a group commit; each one's result or error."""
        done = self.store.add_jobs_and_events_many(items, sync=sync)
        return [r if isinstance(r, Exception) else self._committed(*r) for r in done]

    def _committed(self, added: list[Job], stored: list[Event]) -> Committed:
        if stored:  # consecutive cursors: the bus publishes them without reading them back
            return added, (stored[0].seq - 1, stored)
        try:
            # The jobs are committed whatever the read does: a failed read is the bus's own
            # read again, in pump.
            return added, self.bus.reader()()
        except Exception:
            return added, None

    async def jobs_committed(self, committed: Committed) -> list[Job]:
        """The other half of :meth:`add_jobs`, on the loop: remember, publish, wake."""
        added, seen = committed
        self._remember(added)
        await self.bus.pump(seen)
        self.wake_for_new(added)
        return added

    async def update_jobs(self, changes: Sequence[JobChange]) -> list[Job]:
        """Commit job changes with their events (one transaction), then publish and wake.

        Raises Conflict (from the store, :func:`lanfax.model.transitions.advance`) when a
        change's trigger may not fire in the job's committed state or its ``expect`` does not
        hold; nothing is changed then.
        """
        updated, _events = await self.run(self.store.update_jobs, changes)
        self._remember(updated)
        await self.bus.pump()
        self.wake()
        return updated

    async def update_job(self, change: JobChange) -> Job:
        (job,) = await self.update_jobs([change])
        return job

    async def delete_jobs(self, job_ids: Sequence[int], events: Sequence[NewEvent]) -> int:
        n = await self.run(self.store.delete_jobs, job_ids, events)
        for job_id in job_ids:
            self.unfinished.pop(job_id, None)
        await self.bus.pump()
        return n

    async def emit(self, events: Sequence[NewEvent]) -> list[Event]:
        """Store events that change no job (ringing, idle, port changes) and publish them."""
        stored = await self.run(self.store.append_events, events)
        await self.bus.pump()
        return stored

    async def get_job(self, job_id: int) -> Job | None:
        """The job as committed. One node alone writes every change through this context,
        so its copy is the committed state once the writer's coroutine resumes; in a cluster
        (:attr:`shared`) a change another node committed reaches this node's copy only when
        its notification has been heard and read (and the node on a call keeps its own copy
        until it writes), so the store is read."""
        cached = None if self.shared else self.unfinished.get(job_id)
        if cached is not None:
            return cached
        return await self.run(self.store.get_job, job_id)

    async def refresh_job(self, job_id: int) -> Job | None:
        """The job as the store has it now, the unfinished cache set from it (a cached copy
        found stale by a Conflict is replaced, or dropped when the job is final or gone)."""
        job = await self.run(self.store.get_job, job_id)
        if job is None:
            self.unfinished.pop(job_id, None)
        else:
            self._remember([job])
        return job

    async def get_settings(self, namespace: str) -> dict[str, Any]:
        return await self.run(self.store.get_settings, namespace)

    async def put_settings(
        self, namespace: str, values: dict[str, Any], events: Sequence[NewEvent] = ()
    ) -> None:
        await self.run(self.store.put_settings, namespace, values, events)
        if events:
            await self.bus.pump()
