"""Crash recovery, run once at start before anything is dispatched.

A send job left IN_PROGRESS was on the line when the service died: its call is counted as a
failed attempt (DISCONNECTED, through the scheduler's ``after_attempt``), so it is retried or
gives up, and it is never reported COMPLETED (that needs a provider result that was committed).
A job left CANCELING is CANCELED. A receive job left IN_PROGRESS becomes FAIL_RECEIVE,
keeping whatever pages reached the disk.
"""

from __future__ import annotations

import logging

from lanfax.model.codes import DeviceStatus, EventId, FailureClass, JobType, QueueStatus
from lanfax.model.events import NewEvent
from lanfax.service import scheduler
from lanfax.service.context import ServiceContext
from lanfax.store.api import JobChange

log = logging.getLogger("lanfax.init")

_INTERRUPTED = frozenset({QueueStatus.IN_PROGRESS, QueueStatus.CANCELING})


async def recover(ctx: ServiceContext) -> int:
    """Settle every job interrupted by a crash; returns how many were changed."""
    jobs = await ctx.run(ctx.store.unfinished_jobs)
    now = ctx.clock.now()
    changes: list[JobChange] = []
    for job in jobs:
        if job.queue_status not in _INTERRUPTED:
            continue
        detail: dict[str, object] = {"reason": "service restarted during the call"}
        if job.job_type is JobType.RECEIVE:
            path = ctx.spool.received_path(job.job_id)
            size = path.stat().st_size if path.exists() else 0
            fields: dict[str, object] = {
                "job_type": JobType.FAIL_RECEIVE,
                "queue_status": QueueStatus.FAILED,
                "device_status": DeviceStatus.DISCONNECTED,
                "completed_at": now,
                "size": size,
                "document_path": ctx.spool.relative(path) if size else "",
                "status_text": "the service stopped during the receive; partial fax kept",
            }
        elif job.queue_status is QueueStatus.CANCELING:
            fields = {
                "queue_status": QueueStatus.CANCELED,
                "completed_at": now,
                "device_status": DeviceStatus.DISCONNECTED,
                "status_text": "canceled (the service stopped during the call)",
            }
        else:
            t = scheduler.after_attempt(
                job, FailureClass.DISCONNECTED, ctx.config, now, pages_done=job.pages_done
            )
            fields = dict(t.changes(), device_status=DeviceStatus.DISCONNECTED)
            fields["status_text"] = f"the service stopped during the call; {t.status_text}"
        status = fields["queue_status"]
        assert isinstance(status, QueueStatus)
        detail["queue_status"] = status.name.lower()
        changes.append(
            JobChange(
                job.job_id,
                fields,
                expect=_INTERRUPTED,
                events=(NewEvent(EventId.DISCONNECTED, job.device_id or 0, job.job_id, detail),),
            )
        )
    if changes:
        await ctx.run(ctx.store.update_jobs, changes)
        await ctx.bus.pump()
        log.warning("recovered %d job(s) interrupted by a stop", len(changes))
    return len(changes)
