"""A line's job is over: the one "device idle again" step that ends every send of the
dispatcher and every receive of the inbound pipeline (one copy, so the two cannot drift)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

from lanfax.model.codes import NO_JOB, DeviceStatus, EventId, JobType
from lanfax.model.errors import FaxError
from lanfax.model.events import NewEvent
from lanfax.service.context import ServiceContext
from lanfax.service.devices import Device


async def line_idle(
    ctx: ServiceContext,
    dev: Device,
    log: logging.Logger,
    *,
    then: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """End the provider's job on ``dev`` (a failure is logged on ``log``, the line is freed
    anyway), free the line (not busy, no job, no ringing call counted) and clear its live
    state; then ``then`` (the caller's own bookkeeping, done before anyone hears of the idle
    line), FEI_IDLE, and a wake-up for the dispatcher (the line may take the next job)."""
    if dev.handle is not None:
        try:
            await dev.provider.end_job(dev.handle)
        except Exception:
            log.exception("end_job failed on device %d", dev.device_id)
    dev.handle = None
    dev.busy = False
    dev.job_id = None
    dev.rings.clear()
    dev.set_live(
        status=DeviceStatus.AVAILABLE,
        job_id=None,
        job_type=JobType.UNKNOWN,
        current_page=0,
        caller_id="",
        phone_number="",
        status_string="",
    )
    if then is not None:
        await then()
    with contextlib.suppress(FaxError):
        await ctx.emit([NewEvent(EventId.IDLE, dev.device_id, NO_JOB)])
    ctx.wake()
