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
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from lanfax.documents.tiffio import read_tags
from lanfax.model.codes import DeviceStatus, EventId, FailureClass, JobType, QueueStatus
from lanfax.model.events import NewEvent
from lanfax.model.jobs import Job
from lanfax.model.transitions import JobPatch, Trigger, target
from lanfax.service import scheduler
from lanfax.service.context import ServiceContext
from lanfax.store.api import JobChange

log = logging.getLogger("lanfax.init")

_INTERRUPTED = frozenset({QueueStatus.IN_PROGRESS, QueueStatus.CANCELING})


async def recover(ctx: ServiceContext, skip: Callable[[Job], bool] | None = None) -> int:
    """Settle every job interrupted by a crash; returns how many were changed. ``skip``
    (#18) leaves a job alone: one on a call of another node that is alive (its device names
    it), which is that node's, not a crash's."""
    jobs = await ctx.run(ctx.store.unfinished_jobs)
    now = ctx.clock.now()
    changes: list[JobChange] = []
    for job in jobs:
        if job.queue_status not in _INTERRUPTED:
            continue
        if skip is not None and skip(job):
            log.info("job %d is on a call of another live node: left to it", job.job_id)
            continue
        detail: dict[str, object] = {"reason": "service restarted during the call"}
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
                    status_text=f"received {pages} page(s) (the service restarted before"
                    " recording it)",
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
        changes.append(
            JobChange(
                job.job_id,
                trigger,
                patch,
                expect=_INTERRUPTED,
                events=(NewEvent(event, job.device_id or 0, job.job_id, detail),),
            )
        )
    if changes:
        await ctx.run(ctx.store.update_jobs, changes)
        await ctx.bus.pump()
        log.warning("recovered %d job(s) interrupted by a stop", len(changes))
    return len(changes)


def _stored_pages(path: Path) -> int:
    """Pages in a received TIFF (the directories libtiff can read; 0 if it cannot open it)."""
    return len(read_tags(path) or [])
