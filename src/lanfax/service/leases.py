"""This node's leases on jobs (issue #18): ``ctx.leases``, for every worker of the service.

A worker (the dispatcher for sends; routing, receipts and archive catch-up the same way)
claims a job before it works on it, and fences every write it makes about the job on the
lease (owner node and epoch), so that a node that lost its lease (stalled, cut off, and taken
over) can never commit::

    claimed = await ctx.leases.claim(
        statuses={QueueStatus.ROUTING}, job_ids=[job.job_id], limit=1,
        change=lambda job: JobChange(job.job_id, Trigger..., JobPatch(...), events=(...)),
    )
    for job, lease in claimed:          # empty: another node has it, or its state changed
        try:
            await ctx.leases.write(lease, progress_change)            # as often as needed
            await ctx.leases.write(lease, outcome_change, release=True)  # the end
        except LeaseLost:
            ...                         # another node owns the job now: drop the work

Every write keeps the service's job copy (``ctx.unfinished``) and event bus in step, as
:meth:`ServiceContext.update_jobs` does. The leases are renewed with the node's heartbeat
(:meth:`renew`, every lease of the node in one statement); a job whose lease was lost is
reported to the callbacks registered with :meth:`on_lost` (the dispatcher aborts its call).
A claim with no ``change`` only takes the lease (write the first change with :meth:`write`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Sequence
from datetime import timedelta

from lanfax.model.codes import QueueStatus
from lanfax.model.jobs import Job
from lanfax.service.context import ServiceContext
from lanfax.store.api import JobChange
from lanfax.store.leases import (
    DISPATCHABLE,
    ON_CALL,
    ClaimChange,
    Lease,
    LeaseLost,
    Leases,
    Takeover,
    open_leases,
)

__all__ = ["DISPATCHABLE", "ON_CALL", "Lease", "LeaseLost", "NodeLeases", "Takeover"]

log = logging.getLogger("lanfax.init")


class NodeLeases:
    """Claims, fenced writes, renewals and takeovers for node ``node`` with leases of
    ``ttl`` (``[node] lease_s``), on ``ctx``'s store, clock and job copy."""

    def __init__(self, ctx: ServiceContext, node: str, ttl: timedelta) -> None:
        self.ctx = ctx
        self.node = node
        self.ttl = ttl
        self.store: Leases = open_leases(ctx.store)
        #: The leases this node's workers hold now (job id -> lease).
        self.held: dict[int, Lease] = {}
        self._lost: list[Callable[[int], None]] = []
        #: Jobs of dead nodes this node took over and has not settled yet (the store failed
        #: while settling them: lanfax.service.recovery.take_over tries again).
        self.unsettled: dict[int, Takeover] = {}
        self._reading = asyncio.Lock()

    def on_lost(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(job_id)`` when a renewal finds that a lease is no longer ours."""
        self._lost.append(callback)

    async def claim(
        self,
        *,
        job_ids: Collection[int] | None = None,
        statuses: Collection[QueueStatus] = DISPATCHABLE,
        limit: int = 100,
        change: ClaimChange | None = None,
        one_call_per_number: bool = False,
    ) -> list[tuple[Job, Lease]]:
        """Claim free jobs (see :meth:`lanfax.store.leases.SqlLeases.claim`), applying
        ``change`` to each in the same transaction; the jobs as committed with their leases."""
        ctx = self.ctx
        got = await ctx.run(
            self.store.claim,
            self.node,
            ctx.clock.now(),
            self.ttl,
            job_ids=job_ids,
            statuses=statuses,
            limit=limit,
            change=change,
            one_call_per_number=one_call_per_number,
        )
        for _job, lease in got:
            self.held[lease.job_id] = lease
        if got and change is not None:
            await self._committed([job for job, _lease in got])
        return got

    async def write(self, lease: Lease, change: JobChange, *, release: bool = False) -> Job:
        """Commit ``change`` fenced on ``lease`` (LeaseLost when it is no longer held: write
        nothing more about the job); ``release`` gives the lease back in the same
        transaction."""
        (job,) = await self.write_many([(lease, change)], release=release)
        return job

    async def write_many(
        self, changes: Sequence[tuple[Lease, JobChange]], *, release: bool = False
    ) -> list[Job]:
        """Several fenced changes in one transaction, all or nothing."""
        jobs, _events = await self.ctx.run(self.store.update_fenced, changes, release=release)
        if release:
            for lease, _ch in changes:
                self.forget(lease)
        await self._committed(jobs)
        return jobs

    async def release(self, lease: Lease) -> bool:
        """Give a lease back without writing (the work did not start); False if it was lost."""
        self.forget(lease)
        return await self.ctx.run(self.store.release, lease)

    def forget(self, lease: Lease) -> None:
        """Stop tracking a lease (this node lost it, or gave it back)."""
        if self.held.get(lease.job_id) == lease:
            del self.held[lease.job_id]

    async def renew(self) -> int:
        """Extend every lease of this node (with the heartbeat); leases found lost are
        dropped and reported to the :meth:`on_lost` callbacks. How many were renewed."""
        ctx = self.ctx
        if not self.held:
            return 0  # nothing to renew: no write (a lease left over runs out, as it should)
        n = await ctx.run(self.store.renew, self.node, ctx.clock.now(), self.ttl)
        if n != len(self.held):  # some lost, or leftovers counted: look which
            still = set(await ctx.run(self.store.held_by, self.node))
            gone = [
                lease for job_id, lease in self.held.items() if (job_id, lease.epoch) not in still
            ]
            for lease in gone:
                del self.held[lease.job_id]
                log.error(
                    "node %r lost its lease on job %d (another node took it over)",
                    self.node,
                    lease.job_id,
                )
                for callback in self._lost:
                    callback(lease.job_id)
        return n

    async def take_over(
        self, *, statuses: Collection[QueueStatus] = ON_CALL, limit: int = 100, own: bool = False
    ) -> list[Takeover]:
        """Take the jobs in ``statuses`` whose owner's lease expired (``own``: this node's
        own, left by its earlier process); the caller settles them (lanfax.service.recovery)
        and writes each outcome with :meth:`write` (``release=True``)."""
        ctx = self.ctx
        got = await ctx.run(
            self.store.take_over,
            self.node,
            ctx.clock.now(),
            self.ttl,
            statuses=statuses,
            limit=limit,
            own=own,
        )
        for t in got:
            self.held[t.lease.job_id] = t.lease
        return got

    async def owners(self, job_ids: Collection[int]) -> dict[int, str]:
        return await self.ctx.run(self.store.owners, job_ids)

    def absorb(self, jobs: Sequence[Job]) -> None:
        """Put jobs as another node committed them into this node's copy of the queue (final
        ones leave it), and plan again. Unlike this node's own writes, the job-change
        listeners are not told (this node's metrics count what this node did)."""
        ctx = self.ctx
        for job in jobs:
            if job.is_final:
                ctx.unfinished.pop(job.job_id, None)
            else:
                ctx.unfinished[job.job_id] = job
        ctx.wake()

    async def read_again(
        self, job_ids: Collection[int], *, keep: Callable[[int], bool] | None = None
    ) -> list[Job]:
        """Read ``job_ids`` as committed and :meth:`absorb` them (a deleted one leaves the
        copy; one for which ``keep`` is true keeps this node's copy); the jobs read.

        One read at a time, each absorbed before the next begins: a slow read can never put
        back a state older than one a later read found (every commit with events makes a
        later read, so the copy ends as the database is)."""
        ctx = self.ctx
        async with self._reading:
            jobs = await ctx.run(self.store.jobs, job_ids)
            self.absorb([j for j in jobs if keep is None or not keep(j.job_id)])
            for job_id in set(job_ids) - {j.job_id for j in jobs}:
                ctx.unfinished.pop(job_id, None)
        return jobs

    async def _committed(self, jobs: Sequence[Job]) -> None:
        """What ServiceContext.update_jobs does after its commit: remember, publish, wake."""
        ctx = self.ctx
        ctx._remember(jobs)
        await ctx.bus.pump()
        ctx.wake()
