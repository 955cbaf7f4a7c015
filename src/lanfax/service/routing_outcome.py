"""What the routing of a received fax writes about its job, decided without I/O (split out
of ``service/routing.py``): the FAX_ROUTE a method is handed (:func:`fax_route`), the routing
state kept in ``job.extra["routing"]``, and above all what a routing attempt's outcome means
for the job (:func:`route_outcome`): routed (COMPLETED), or failed with its retry time, or
held for a person. :class:`~lanfax.service.routing.RoutingJobs` does the writes; these
functions only decide, from the job, the methods' outcome and "now".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lanfax.model.codes import EventId, JobType, QueueStatus
from lanfax.model.events import NewEvent
from lanfax.model.jobs import Job
from lanfax.model.transitions import JobPatch, Trigger
from lanfax.routing import FaxRoute, RoutingOutcome, next_retry
from lanfax.service.routing_settings import RoutingSettings

__all__ = [
    "RouteOutcome",
    "fax_route",
    "is_routing",
    "lost_file",
    "route_outcome",
    "routing_state",
]


def fax_route(job: Job, device_name: str) -> FaxRoute:
    """The FAX_ROUTE fields of a received fax's job."""
    received = job.completed_at or job.submitted_at
    started = job.started_at or received
    return FaxRoute(
        job_id=job.job_id,
        receive_time=received,
        page_count=job.page_count,
        elapsed_time=max((received - started).total_seconds(), 0.0),
        csid=job.recipient_number,
        tsid=job.remote_ident,
        caller_id=job.caller_id,
        routing_info=job.routing_string,
        receiver_name=job.recipient_name,
        receiver_number=job.recipient_number,
        device_name=device_name,
        device_id=job.device_id or 0,
    )


def is_routing(job: Job) -> bool:
    """``job`` is a received fax waiting for (or in) its routing."""
    return job.queue_status is QueueStatus.ROUTING and job.job_type in (
        JobType.RECEIVE,
        JobType.ROUTING,
    )


def routing_state(job: Job) -> dict[str, Any]:
    """A copy of the routing state kept on ``job`` (``extra["routing"]``; empty before the
    first attempt)."""
    state = job.extra.get("routing")
    return dict(state) if isinstance(state, Mapping) else {}


def lost_file(job: Job, state: Mapping[str, Any], message: str) -> tuple[JobPatch, NewEvent]:
    """The fax's file is gone from the spool: no retry brings it back, so the job is held
    for an administrator."""
    held = JobPatch(
        job_type=JobType.ROUTING,
        next_attempt_at=None,
        status_text=f"routing failed: {message}; waiting for an administrator",
        extra=dict(job.extra, routing=dict(state, held=True, gone=True)),
    )
    detail = {"errors": {"file": message}, "held": True}
    return held, NewEvent(EventId.ROUTING, job.device_id or 0, job.job_id, detail)


@dataclass(frozen=True, slots=True)
class RouteOutcome:
    """What a routing attempt means for its job: the change (trigger, patch, event),
    whether every method is done (``routed``), where it went or why it failed
    (``summary``), and the attempts counted."""

    trigger: Trigger
    patch: JobPatch
    event: NewEvent
    routed: bool
    summary: str
    attempts: int


def route_outcome(
    job: Job,
    state: Mapping[str, Any],
    outcome: RoutingOutcome,
    owner: str,
    now: datetime,
    settings: RoutingSettings,
) -> RouteOutcome:
    """The job's change once the methods of one attempt ran with ``outcome``.

    ``state``: the routing state before the attempt (:func:`routing_state`, with the
    methods done during it); ``owner``: the user the "route to a user" method gave the fax
    (kept even when another method failed: the fax is then in its owner's incoming queue as
    a routing job). Failed methods a retry may cure are tried again at
    :func:`~lanfax.routing.next_retry`'s time; when none may, or after too many attempts,
    the job is held for a person."""
    owned = JobPatch(user_name=owner) if owner else JobPatch()
    done = list(dict.fromkeys([*state.get("done", []), *outcome.succeeded]))
    errors: dict[str, str] = {
        g: e for g, e in state.get("errors", {}).items() if g not in outcome.succeeded
    }
    for r in outcome.failed:
        errors[r.guid] = f"{r.friendly_name or r.guid}: {r.result.reason}"
    for g in outcome.skipped:
        errors.pop(g, None)
    notes = [r.result.reason for r in outcome.results if r.result.ok and r.result.reason]
    received = f"received {job.page_count} page(s)"
    if not errors:
        where = "; ".join(notes) or "no routing method enabled"
        routed = owned.but(
            job_type=JobType.RECEIVE,
            next_attempt_at=None,
            status_text=f"{received}; routed to {where}",
            extra=dict(job.extra, routing={"done": done, "attempts": job.attempts}),
        )
        event = NewEvent(
            EventId.JOB_CHANGED,
            job.device_id or 0,
            job.job_id,
            {"routed": where, "methods": done},
        )
        return RouteOutcome(Trigger.ROUTED, routed, event, True, where, job.attempts)
    attempts = job.attempts + 1
    ran = {r.guid for r in outcome.results}
    earlier = set(state.get("retry", [])) - ran
    retry = sorted(g for g in set(outcome.retry_guids) | earlier if g in errors)
    when = None
    if retry:
        when = next_retry(
            attempts,
            now,
            base=timedelta(seconds=settings.retry_base),
            cap=timedelta(seconds=settings.retry_cap),
            max_attempts=settings.max_attempts,
        )
    held = when is None
    reason = "; ".join(errors.values())
    tail = (
        f"next try at {when.isoformat(timespec='seconds')}"
        if when is not None
        else "waiting for an administrator (fix the route, then retry)"
    )
    failed = owned.but(
        job_type=JobType.ROUTING,
        attempts=attempts,
        next_attempt_at=when,
        status_text=f"routing failed: {reason}; {tail}",
        extra=dict(
            job.extra,
            routing={
                "done": done,
                "pending": sorted(errors),
                "retry": retry,
                "errors": errors,
                "held": held,
                "last_attempt_at": now.isoformat(),
            },
        ),
    )
    detail = {"errors": errors, "attempts": attempts, "held": held}
    event = NewEvent(EventId.ROUTING, job.device_id or 0, job.job_id, detail)
    return RouteOutcome(Trigger.ROUTE_STEP, failed, event, False, reason, attempts)
