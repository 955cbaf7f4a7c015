"""What a routing attempt means for its received fax, decided without I/O
(``service/routing_outcome.py``, split out of ``service/routing.py``): the rules the routing
jobs' end-to-end tests exercise through real methods, here one by one with the job, the
methods' outcome and "now" given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lanfax.model.codes import EventId, JobType, QueueStatus
from lanfax.model.jobs import Job
from lanfax.model.transitions import Trigger
from lanfax.routing import MethodOutcome, RouteResult, RoutingOutcome
from lanfax.service.routing import RoutingSettings, fax_route
from lanfax.service.routing_outcome import (
    is_routing,
    lost_file,
    route_outcome,
    routing_state,
)

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
SETTINGS = RoutingSettings(retry_base=60.0, retry_cap=3600.0, max_attempts=3)
MAIL, FOLDER = "{00000000-0000-0000-0000-00000000000a}", "{00000000-0000-0000-0000-00000000000b}"


def _job(**kw: object) -> Job:
    base: dict[str, object] = {
        "job_id": 9,
        "job_type": JobType.RECEIVE,
        "queue_status": QueueStatus.ROUTING,
        "submitted_at": T0,
        "recipient_number": "201",
        "page_count": 2,
        "device_id": 4,
    }
    base.update(kw)
    return Job(**base)  # type: ignore[arg-type]


def _ran(*results: tuple[str, RouteResult]) -> RoutingOutcome:
    return RoutingOutcome(9, tuple(MethodOutcome(g, g[-2:-1], r) for g, r in results))


def test_every_method_done_routes_the_fax_with_where_it_went() -> None:
    ok = RouteResult(ok=True, reason="stored as /srv/fax/1.tif", owner="ann")
    out = route_outcome(_job(), {"done": [MAIL]}, _ran((FOLDER, ok)), "ann", T0, SETTINGS)
    assert out.routed and out.trigger is Trigger.ROUTED
    assert out.summary == "stored as /srv/fax/1.tif"
    assert out.patch.job_type is JobType.RECEIVE and out.patch.user_name == "ann"
    assert out.patch.status_text == "received 2 page(s); routed to stored as /srv/fax/1.tif"
    assert out.patch.extra == {"routing": {"done": [MAIL, FOLDER], "attempts": 0}}
    assert out.event.event_id is EventId.JOB_CHANGED and out.event.job_id == 9


def test_a_retryable_failure_is_tried_again_later_and_only_it() -> None:
    down = RouteResult.failure("the mail server is down", retryable=True)
    out = route_outcome(
        _job(attempts=1), {}, _ran((FOLDER, RouteResult.success()), (MAIL, down)), "", T0, SETTINGS
    )
    assert not out.routed and out.trigger is Trigger.ROUTE_STEP and out.attempts == 2
    routing = out.patch.extra["routing"]  # type: ignore[index]
    assert routing["done"] == [FOLDER] and routing["pending"] == [MAIL] == routing["retry"]
    assert routing["held"] is False
    when = out.patch.next_attempt_at
    assert isinstance(when, datetime) and T0 < when <= T0 + timedelta(hours=1)
    assert out.patch.job_type is JobType.ROUTING
    assert out.summary == "a: the mail server is down"
    assert out.event.event_id is EventId.ROUTING
    assert out.event.detail == {"errors": {MAIL: out.summary}, "attempts": 2, "held": False}


def test_a_failure_no_retry_cures_or_too_many_attempts_hold_the_fax() -> None:
    refused = RouteResult.failure("the password was refused", retryable=False)
    out = route_outcome(_job(), {}, _ran((MAIL, refused)), "", T0, SETTINGS)
    assert out.patch.next_attempt_at is None and out.patch.extra["routing"]["held"]  # type: ignore[index]
    assert "waiting for an administrator" in str(out.patch.status_text)
    down = RouteResult.failure("down", retryable=True)
    last = route_outcome(_job(attempts=2), {}, _ran((MAIL, down)), "", T0, SETTINGS)
    assert last.attempts == 3 and last.patch.next_attempt_at is None
    assert last.patch.extra["routing"]["held"]  # type: ignore[index]


def test_a_method_that_succeeds_later_clears_its_earlier_error() -> None:
    state = {"errors": {MAIL: "a: down"}, "retry": [MAIL], "pending": [MAIL]}
    out = route_outcome(_job(), state, _ran((MAIL, RouteResult.success())), "", T0, SETTINGS)
    assert out.routed and out.summary == "no routing method enabled"


def test_the_routing_state_the_lost_file_and_the_fax_route() -> None:
    job = _job(extra={"routing": {"done": [MAIL]}, "other": 1})
    assert routing_state(job) == {"done": [MAIL]} and routing_state(_job()) == {}
    assert is_routing(job) and not is_routing(_job(queue_status=QueueStatus.COMPLETED))
    patch, event = lost_file(job, routing_state(job), "the document is gone")
    assert patch.next_attempt_at is None and patch.job_type is JobType.ROUTING
    assert patch.extra == {"routing": {"done": [MAIL], "held": True, "gone": True}, "other": 1}
    assert event.detail == {"errors": {"file": "the document is gone"}, "held": True}
    route = fax_route(_job(remote_ident="+49 30 1"), "Line 201")
    assert (route.job_id, route.tsid, route.device_name, route.device_id) == (
        9,
        "+49 30 1",
        "Line 201",
        4,
    )
