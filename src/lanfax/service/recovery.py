"""Crash recovery, run once at start before anything is dispatched.

A send job left IN_PROGRESS was on the line when the service died: its call is counted as a
failed attempt (DISCONNECTED, through the scheduler's ``after_attempt``), so it is retried (from
the page after the last one the far end confirmed, committed as ``pages_done``) or gives up. It
is COMPLETED only if the far end had confirmed its last page: dialling it again would send the
fax twice. A job left CANCELING is CANCELED.

A receive job left IN_PROGRESS keeps the pages that reached the disk (counted in its file).
If the far end had said its last stored page was the last one (EOP, committed as
``extra["last_page"]``), the fax is whole: it becomes a RECEIVE job in queue state ROUTING and
is routed like any other; otherwise it becomes FAIL_RECEIVE with its page count.

Several nodes (#18): start-up recovery settles only this node's jobs (those it held a lease
on, and those on a call without a lease on a device of its own or of a dead node); the jobs of
a node that died are settled the same way by a live node once their lease expires
(:func:`take_over`, with the heartbeat), counted in ``lanfax_lease_takeovers_total``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from lanfax.documents.tiffio import read_tags
from lanfax.model.codes import DeviceStatus, EventId, FailureClass, JobType, QueueStatus
from lanfax.model.events import NewEvent
from lanfax.model.jobs import Job
from lanfax.model.transitions import JobPatch, Trigger, target
from lanfax.service import scheduler
from lanfax.service.context import ServiceContext
from lanfax.store.api import JobChange
from lanfax.store.leases import LeaseLost, Takeover

log = logging.getLogger("lanfax.init")

#: Jobs taken back per store call (the store accepts up to 10,000).
_TAKEOVER_PAGE = 1000

_INTERRUPTED = frozenset({QueueStatus.IN_PROGRESS, QueueStatus.CANCELING})


async def recover(ctx: ServiceContext, skip: Callable[[Job], bool] | None = None) -> int:
    """Settle every job of this node interrupted by a crash; returns how many were changed.

    #18: a job this node held a lease on (its earlier process died on the call) is taken back
    at a new epoch and settled with a fenced write that gives the lease back. A job another
    node holds is that node's: left alone (if that node is dead, a live node takes it over
    once its lease expires, :func:`take_over`). A job on a call without a lease (a receive,
    or a send of a version before leases) is settled unless ``skip`` says it is on a call of
    another node that is alive (its device names it).
    """
    leases = ctx.leases
    mine: list[Takeover] = []
    while True:
        got = await leases.take_over(own=True, limit=_TAKEOVER_PAGE)
        mine += got
        if len(got) < _TAKEOVER_PAGE:
            break
    taken = {t.job.job_id for t in mine}
    jobs = [
        j
        for j in await ctx.run(ctx.store.unfinished_jobs)
        if j.queue_status in _INTERRUPTED and j.job_id not in taken
    ]
    owners = await leases.owners([j.job_id for j in jobs])
    now = ctx.clock.now()
    reason = "service restarted during the call"
    changes: list[JobChange] = []
    for job in jobs:
        owner = owners.get(job.job_id)
        if owner is not None:
            log.info("job %d is on a call of node %r: left to it", job.job_id, owner)
            continue
        if skip is not None and skip(job):
            log.info("job %d is on a call of another live node: left to it", job.job_id)
            continue
        changes.append(await settlement(ctx, job, now, reason))
    fenced = [(t.lease, await settlement(ctx, t.job, now, reason)) for t in mine]
    if changes:
        await ctx.run(ctx.store.update_jobs, changes)
    if fenced:
        await ctx.run(leases.store.update_fenced, fenced, release=True)
        for lease, _ch in fenced:
            leases.forget(lease)
    if changes or fenced:
        await ctx.bus.pump()
        log.warning("recovered %d job(s) interrupted by a stop", len(changes) + len(fenced))
    return len(changes) + len(fenced)


async def take_over(ctx: ServiceContext, on_takeover: Callable[[int], None] | None = None) -> int:
    """Settle the calls of dead nodes (#18): jobs on a call whose owner's lease expired are
    claimed (a new epoch fences the old owner out) and settled exactly as :func:`recover`
    settles a crash (a send keeps its confirmed pages, a retry resumes after them; a receive
    keeps the pages on disk), each with a fenced write that gives the lease back. Runs with
    the node's heartbeat; returns how many jobs it settled. ``on_takeover(n)`` counts them
    (the lease-takeover metric)."""
    leases = ctx.leases
    done = 0
    while True:
        got = await leases.take_over(limit=100)
        # Taken over earlier but not settled (the store failed): settled first.
        for t in [*leases.unsettled.values(), *got]:
            leases.unsettled[t.job.job_id] = t
            now = ctx.clock.now()
            reason = f"node {t.previous_owner!r} stopped during the call (its lease expired)"
            change = await settlement(ctx, t.job, now, reason)
            try:
                await leases.write(t.lease, change, release=True)
            except LeaseLost:  # another node took it over meanwhile: its business now
                leases.forget(t.lease)
                del leases.unsettled[t.job.job_id]
                continue
            # (Another store error propagates: the job stays in ``unsettled``, its lease
            # renewed with the heartbeat, and the next round settles it.)
            del leases.unsettled[t.job.job_id]
            done += 1
            if on_takeover is not None:
                on_takeover(1)
            log.warning(
                "job %d taken over from node %r, whose lease expired: %s",
                t.job.job_id,
                t.previous_owner,
                change.trigger.name.lower(),
            )
        if len(got) < 100:
            return done


async def take_over_unleased(
    ctx: ServiceContext,
    dead: Callable[[int], bool],
    on_takeover: Callable[[int], None] | None = None,
) -> int:
    """Settle the calls without a lease (receives, and sends of a version before leases) on
    devices of nodes for whose number ``dead`` is true (device ids name their node):
    claimed (so two live nodes never settle one), then settled as :func:`recover` settles a
    crash. The candidates come from this node's copy of the queue (kept in step with the
    database); the claim checks each against the committed state. How many were settled."""
    leases = ctx.leases
    ids = [
        j.job_id
        for j in ctx.unfinished.values()
        if j.queue_status in _INTERRUPTED and j.device_id and dead(j.device_id >> 16)
    ]
    done = 0
    for start in range(0, len(ids), 100):
        part = ids[start : start + 100]
        for job, lease in await leases.claim(job_ids=part, statuses=_INTERRUPTED, limit=len(part)):
            node = (job.device_id or 0) >> 16
            reason = f"node number {node} stopped during the call"
            change = await settlement(ctx, job, ctx.clock.now(), reason)
            try:
                await leases.write(lease, change, release=True)
            except LeaseLost:
                leases.forget(lease)
                continue
            done += 1
            if on_takeover is not None:
                on_takeover(1)
            log.warning("job %d on a call of dead node number %d: settled", job.job_id, node)
    return done


async def settlement(ctx: ServiceContext, job: Job, now: datetime, reason: str) -> JobChange:
    """How a job a crash left on a call is settled (one function for start-up recovery and
    for a takeover): the change, with its event, that ends the interrupted call."""
    detail: dict[str, object] = {"reason": reason}
    event = EventId.DISCONNECTED
    trigger: Trigger
    patch: JobPatch
    if job.job_type is JobType.RECEIVE:
        path = ctx.spool.received_path(job.job_id)
        size = path.stat().st_size if path.exists() else 0
        pages = await ctx.run(_stored_pages, path) if size else 0
        whole = bool(job.extra.get("last_page")) and pages >= job.pages_done > 0
        common = JobPatch(
            completed_at=now,
            size=size,
            page_count=pages,
            pages_done=pages,
            document_path=ctx.spool.relative(path) if size else "",
        )
        if whole:
            trigger = Trigger.RECEIVED
            patch = common.but(
                device_status=DeviceStatus.COMPLETED,
                status_text=f"received {pages} page(s) (the service restarted before recording it)",
            )
            event = EventId.COMPLETED
            detail["pages"] = pages
        else:
            trigger = Trigger.RECEIVE_FAILED
            patch = common.but(
                job_type=JobType.FAIL_RECEIVE,
                device_status=DeviceStatus.DISCONNECTED,
                status_text=f"the service stopped during the receive; {pages} page(s) kept",
            )
    elif job.page_count and job.pages_done >= job.page_count:
        # The far end confirmed the last page before the outcome was written.
        t = scheduler.after_attempt(job, None, ctx.config, now, pages_done=job.pages_done)
        trigger = t.trigger
        patch = t.patch().but(
            device_status=DeviceStatus.COMPLETED,
            status_text="sent (every page was confirmed before the service stopped)",
        )
        event = EventId.COMPLETED
    elif job.queue_status is QueueStatus.CANCELING:
        trigger = Trigger.CALL_CANCELED
        patch = JobPatch(
            completed_at=now,
            device_status=DeviceStatus.DISCONNECTED,
            status_text="canceled (the service stopped during the call)",
        )
    else:
        t = scheduler.after_attempt(
            job, FailureClass.DISCONNECTED, ctx.config, now, pages_done=job.pages_done
        )
        trigger = t.trigger
        patch = t.patch().but(
            device_status=DeviceStatus.DISCONNECTED,
            status_text=f"the service stopped during the call; {t.status_text}",
        )
    status = target(trigger)
    assert status is not None
    detail["queue_status"] = status.name.lower()
    return JobChange(
        job.job_id,
        trigger,
        patch,
        expect=_INTERRUPTED,
        events=(NewEvent(event, job.device_id or 0, job.job_id, detail),),
    )


def _stored_pages(path: Path) -> int:
    """Pages in a received TIFF (the directories libtiff can read; 0 if it cannot open it)."""
    return len(read_tags(path) or [])
