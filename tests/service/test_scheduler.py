"""Unit tests for the scheduler core, one rule at a time, with fixed datetimes.

The server zone is Europe/Berlin so that the discount period is checked across the 2026 DST
switches (29 March 02:00 CET -> 03:00 CEST; 25 October 03:00 CEST -> 02:00 CET).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lanfax.model.codes import FailureClass, JobType, Priority, QueueStatus, ScheduleAction
from lanfax.model.config import ServerConfig
from lanfax.model.errors import InvalidInput
from lanfax.model.jobs import Job
from lanfax.model.transitions import Trigger, target
from lanfax.service.outbound import ANY, OutboundGroup, OutboundRule, OutboundTable
from lanfax.service.scheduler import (
    DeviceView,
    Dispatch,
    Expire,
    after_attempt,
    canonical_number,
    dispatch_changes,
    eligible_at,
    expire_transition,
    in_discount_period,
    next_discount_start,
    own_key,
    plan,
)

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Berlin (CET)
CFG = ServerConfig()


def job(
    job_id: int,
    number: str = "+49301111",
    *,
    status: QueueStatus = QueueStatus.PENDING,
    priority: Priority = Priority.NORMAL,
    submitted: datetime = T0,
    **kw: object,
) -> Job:
    return Job(
        job_id=job_id,
        job_type=kw.pop("job_type", JobType.SEND),  # type: ignore[arg-type]
        queue_status=status,
        submitted_at=submitted,
        recipient_number=number,
        priority=priority,
        **kw,  # type: ignore[arg-type]
    )


def dev(
    device_id: int, priority: int = 1, *, idle: bool = True, can_send: bool = True
) -> DeviceView:
    return DeviceView(device_id=device_id, can_send=can_send, idle=idle, priority=priority)


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN).astimezone(UTC)  # type: ignore[arg-type,misc]


# -- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canon"),
    [
        ("+49 (30) 123-45", "+493012345"),
        (" 030/123.45 ", "03012345"),
        ("*31#0301234", "*31#0301234"),
        ("[0] 12", "012"),
    ],
)
def test_canonical_number_drops_formatting(raw: str, canon: str) -> None:
    assert canonical_number(raw) == canon


@pytest.mark.parametrize("raw", ["", "   ", "--", "1-800-FLOWERS", "49+30", "+", "12;3"])
def test_canonical_number_refuses_undiallable(raw: str) -> None:
    with pytest.raises(InvalidInput) as info:
        canonical_number(raw)
    assert info.value.hint


# -- discount period -------------------------------------------------------------------------


def cheap(start: str, stop: str) -> ServerConfig:
    return CFG.with_changes({"start_cheap_time": start, "stop_cheap_time": stop})


@pytest.mark.parametrize(
    ("hh", "mm", "ss", "inside"),
    [
        (19, 59, 59, False),
        (20, 0, 0, True),
        (23, 59, 0, True),
        (0, 0, 0, True),
        (6, 59, 59, True),
        (7, 0, 0, False),
        (12, 0, 0, False),
    ],
)
def test_discount_period_crossing_midnight(hh: int, mm: int, ss: int, inside: bool) -> None:
    local = datetime(2026, 3, 10, hh, mm, ss, tzinfo=BERLIN)
    assert in_discount_period(local, cheap("20:00", "07:00")) is inside


@pytest.mark.parametrize(("hh", "inside"), [(8, False), (9, True), (16, True), (17, False)])
def test_discount_period_within_a_day(hh: int, inside: bool) -> None:
    local = datetime(2026, 3, 10, hh, 0, tzinfo=BERLIN)
    assert in_discount_period(local, cheap("09:00", "17:00")) is inside


@pytest.mark.parametrize("hh", [0, 7, 12, 23])
def test_discount_period_start_equals_stop_is_always(hh: int) -> None:
    local = datetime(2026, 3, 10, hh, 0, tzinfo=BERLIN)
    assert in_discount_period(local, cheap("12:00", "12:00"))


def test_next_discount_start_before_and_after_spring_dst() -> None:
    cfg = cheap("20:00", "07:00")
    # Saturday 28 March (CET, +1): 20:00 local is 19:00 UTC.
    assert next_discount_start(datetime(2026, 3, 28, 12, tzinfo=UTC), cfg, BERLIN) == datetime(
        2026, 3, 28, 19, tzinfo=UTC
    )
    # Sunday 29 March (CEST, +2): 20:00 local is 18:00 UTC.
    assert next_discount_start(datetime(2026, 3, 29, 12, tzinfo=UTC), cfg, BERLIN) == datetime(
        2026, 3, 29, 18, tzinfo=UTC
    )


def test_next_discount_start_inside_returns_now() -> None:
    now = berlin(2026, 3, 10, 23, 30)
    assert next_discount_start(now, cheap("20:00", "07:00"), BERLIN) == now


def test_next_discount_start_in_skipped_hour_starts_at_the_switch() -> None:
    # 02:30 does not exist on 29 March 2026 in Berlin: the clock jumps 02:00 -> 03:00, which
    # is inside [02:30, 05:00), so the period begins at the switch, 01:00 UTC.
    now = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    got = next_discount_start(now, cheap("02:30", "05:00"), BERLIN)
    assert got == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


def test_next_discount_start_window_entirely_skipped_moves_to_next_day() -> None:
    now = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    got = next_discount_start(now, cheap("02:10", "02:40"), BERLIN)
    # Monday 30 March, 02:10 CEST.
    assert got == berlin(2026, 3, 30, 2, 10)


def test_next_discount_start_repeated_hour_uses_first_occurrence() -> None:
    # 25 October 2026: 02:30 happens twice; the first is CEST (+2) = 00:30 UTC.
    now = datetime(2026, 10, 24, 23, 0, tzinfo=UTC)
    got = next_discount_start(now, cheap("02:30", "05:00"), BERLIN)
    assert got == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_naive_now_is_refused() -> None:
    with pytest.raises(InvalidInput):
        next_discount_start(datetime(2026, 3, 10, 12), CFG, BERLIN)


# -- eligibility -----------------------------------------------------------------------------


def test_eligible_now_for_schedule_now() -> None:
    assert eligible_at(job(1), CFG, T0, BERLIN) == T0


def test_eligible_at_specific_time() -> None:
    later = T0 + timedelta(hours=3)
    j = job(1, schedule_action=ScheduleAction.SPECIFIC_TIME, schedule_time=later)
    assert eligible_at(j, CFG, T0, BERLIN) == later
    assert eligible_at(j, CFG, later + timedelta(minutes=1), BERLIN) == later + timedelta(minutes=1)


def test_eligible_after_retry_delay() -> None:
    later = T0 + timedelta(minutes=10)
    j = job(1, status=QueueStatus.RETRYING, next_attempt_at=later)
    assert eligible_at(j, CFG, T0, BERLIN) == later


def test_eligible_in_discount_period() -> None:
    j = job(1, schedule_action=ScheduleAction.DISCOUNT_PERIOD)
    assert eligible_at(j, CFG, T0, BERLIN) == berlin(2026, 3, 10, 20, 0)


def test_discount_retry_that_lands_after_the_period_waits_for_the_next_one() -> None:
    j = job(
        1,
        status=QueueStatus.RETRYING,
        schedule_action=ScheduleAction.DISCOUNT_PERIOD,
        next_attempt_at=berlin(2026, 3, 11, 7, 5),
    )
    assert eligible_at(j, CFG, berlin(2026, 3, 11, 6, 58), BERLIN) == berlin(2026, 3, 11, 20, 0)


@pytest.mark.parametrize(
    "status",
    [QueueStatus.PAUSED, QueueStatus.IN_PROGRESS, QueueStatus.COMPLETED, QueueStatus.FAILED,
     QueueStatus.CANCELING, QueueStatus.DELETING, QueueStatus.RETRIES_EXCEEDED],
)  # fmt: skip
def test_never_eligible_outside_waiting_states(status: QueueStatus) -> None:
    assert eligible_at(job(1, status=status), CFG, T0, BERLIN) is None


def test_receive_jobs_are_never_dispatched() -> None:
    j = job(1, job_type=JobType.RECEIVE)
    assert eligible_at(j, CFG, T0, BERLIN) is None
    assert plan(T0, [j], [dev(1)], CFG, BERLIN).dispatch == ()


# -- plan --------------------------------------------------------------------------------------


def test_priority_then_submission_then_id() -> None:
    jobs = [
        job(5, "1", priority=Priority.LOW, submitted=T0 - timedelta(hours=1)),
        job(4, "2", submitted=T0),
        job(3, "3", submitted=T0 - timedelta(minutes=1)),
        job(2, "4", priority=Priority.HIGH, submitted=T0),
        job(1, "5", submitted=T0),
    ]
    p = plan(T0, jobs, [dev(1)], CFG, BERLIN)
    assert p.dispatch == (Dispatch(2, 1),)
    order = [d.job_id for d in plan(T0, jobs, [dev(i) for i in range(5)], CFG, BERLIN).dispatch]
    assert order == [2, 3, 1, 4, 5]


def test_devices_by_priority_then_id_and_only_idle_senders() -> None:
    devices = [
        dev(7, 2),
        dev(3, 2),
        dev(9, 1, idle=False),
        dev(8, 1, can_send=False),
        dev(5, 1),
    ]
    jobs = [job(i, str(i)) for i in (1, 2, 3, 4)]
    p = plan(T0, jobs, devices, CFG, BERLIN)
    assert p.dispatch == (Dispatch(1, 5), Dispatch(2, 3), Dispatch(3, 7))


def test_never_two_calls_to_one_number() -> None:
    jobs = [
        job(1, "+49 30 1111", status=QueueStatus.IN_PROGRESS, device_id=1),
        job(2, "+49301111"),
        job(3, "0302222"),
        job(4, "030-2222"),
        job(5, "0303333"),
    ]
    p = plan(T0, jobs, [dev(2), dev(3), dev(4)], CFG, BERLIN)
    # 2 waits on the call to the same number; 4 on 3 (same number, different spelling); the
    # jobs behind them still go (no head-of-line blocking).
    assert p.dispatch == (Dispatch(3, 2), Dispatch(5, 3))


# -- a line never dials itself while another line could send (the two-line set-up) --------


def line(device_id: int, number: str, priority: int = 1, *, idle: bool = True) -> DeviceView:
    return DeviceView(device_id, True, idle, priority, own_key(number))


def test_a_free_line_does_not_dial_its_own_number_another_line_does() -> None:
    # Line 100 (device 1) comes first by priority; a fax to 100 leaves on 101 instead.
    p = plan(T0, [job(1, "100")], [line(1, "100"), line(2, "101", 2)], CFG, BERLIN)
    assert p.dispatch == (Dispatch(1, 2),)
    # The number as people type it is the same number.
    p = plan(T0, [job(1, "1-01")], [line(1, " (1) 01 "), line(2, "100", 2)], CFG, BERLIN)
    assert p.dispatch == (Dispatch(1, 2),)


def test_a_job_to_a_lines_own_number_waits_for_the_other_line() -> None:
    # 100 is busy sending; 101 is free but the fax is to 101: it waits for 100 (no
    # wake-up of its own: the end of 100's call plans again), and the job behind it to
    # another number takes 101 (no head-of-line blocking).
    busy = [line(1, "100", idle=False), line(2, "101")]
    p = plan(T0, [job(1, "101")], busy, CFG, BERLIN)
    assert p.dispatch == () and p.next_wakeup == T0 + timedelta(days=CFG.dirty_days)
    p = plan(T0, [job(1, "101"), job(2, "555")], busy, CFG, BERLIN)
    assert p.dispatch == (Dispatch(2, 2),)
    # 100 free again: 100 dials 101.
    p = plan(T0, [job(1, "101")], [line(1, "100"), line(2, "101")], CFG, BERLIN)
    assert p.dispatch == (Dispatch(1, 1),)


def test_a_line_dials_itself_only_when_no_other_line_may_send_the_job() -> None:
    receive_only = DeviceView(1, False, True, 1, own_key("100"))
    p = plan(T0, [job(1, "101")], [receive_only, line(2, "101")], CFG, BERLIN)
    assert p.dispatch == (Dispatch(1, 2, dials_itself=True),)
    # A line without a number of its own counts as another line.
    unnumbered = [line(1, "101"), DeviceView(2, True, False, 1)]
    assert plan(T0, [job(1, "101")], unnumbered, CFG, BERLIN).dispatch == ()
    # Lines without numbers: nothing changes (every DeviceView made without own_key).
    p = plan(T0, [job(1, "101")], [dev(1), dev(2)], CFG, BERLIN)
    assert p.dispatch == (Dispatch(1, 1),)


def test_the_outgoing_route_decides_which_other_lines_count() -> None:
    # Numbers to 10x are routed to line 101 alone: only it may send them, so it dials
    # itself; with 100 in the route (after 101), 100 takes the job, or it waits for 100.
    only_101 = OutboundTable.build([], [OutboundRule(ANY, ANY, device=2)], None)
    both = OutboundTable.build(
        [OutboundGroup("lines", (2, 1))], [OutboundRule(ANY, ANY, group="lines")], None
    )
    lines = [line(1, "100"), line(2, "101")]
    p = plan(T0, [job(1, "101")], lines, CFG, BERLIN, only_101)
    assert p.dispatch == (Dispatch(1, 2, dials_itself=True),)
    assert plan(T0, [job(1, "101")], lines, CFG, BERLIN, both).dispatch == (Dispatch(1, 1),)
    busy_100 = [line(1, "100", idle=False), line(2, "101")]
    assert plan(T0, [job(1, "101")], busy_100, CFG, BERLIN, both).dispatch == ()


def test_in_a_cluster_another_nodes_lines_count_as_other_lines() -> None:
    # #18: this node (0) has line 101 alone; other live nodes share the queue (elsewhere),
    # with lines it does not see. A fax to 101 is theirs to send (one of them may have
    # another line), not 101's to dial itself; the job behind it to another number takes
    # 101 (the line is not held for a job it will not dial).
    alone = [line(1, "101")]
    p = plan(T0, [job(1, "101"), job(2, "555")], alone, CFG, BERLIN, elsewhere=True)
    assert p.dispatch == (Dispatch(2, 1),)
    assert p.next_wakeup == T0 + timedelta(days=CFG.dirty_days)
    # Alone in the cluster (nobody else alive): it dials itself, as on one node.
    p = plan(T0, [job(1, "101")], alone, CFG, BERLIN)
    assert p.dispatch == (Dispatch(1, 1, dials_itself=True),)
    # A route that names only this node's lines: no other node may send the job, so 101
    # dials itself even with others alive; a route naming another node's line (node 1's
    # first device, 65537) waits for that line.
    mine_only = OutboundTable.build([], [OutboundRule(ANY, ANY, device=1)], None)
    p = plan(T0, [job(1, "101")], alone, CFG, BERLIN, mine_only, elsewhere=True)
    assert p.dispatch == (Dispatch(1, 1, dials_itself=True),)
    with_node_1 = OutboundTable.build(
        [OutboundGroup("lines", (1, 65537))], [OutboundRule(ANY, ANY, group="lines")], None
    )
    assert plan(T0, [job(1, "101")], alone, CFG, BERLIN, with_node_1, elsewhere=True).dispatch == ()
    # A fax to another number leaves on 101 as always.
    p = plan(T0, [job(1, "555")], alone, CFG, BERLIN, elsewhere=True)
    assert p.dispatch == (Dispatch(1, 1),)


def test_paused_queue_dispatches_nothing_but_still_expires() -> None:
    cfg = CFG.with_changes({"pause_server_queue": True, "dirty_days": 2})
    old = job(1, "1", submitted=T0 - timedelta(days=2))
    fresh = job(2, "2", submitted=T0 - timedelta(days=1))
    p = plan(T0, [old, fresh], [dev(1)], cfg, BERLIN)
    assert p.dispatch == ()
    assert p.expire == (Expire(1),)
    assert p.next_wakeup == fresh.submitted_at + timedelta(days=2)


def test_paused_job_never_dispatched_but_expires() -> None:
    cfg = CFG.with_changes({"dirty_days": 1})
    j = job(1, status=QueueStatus.PAUSED)
    p = plan(T0, [j], [dev(1)], cfg, BERLIN)
    assert p.dispatch == () and p.expire == ()
    assert p.next_wakeup == T0 + timedelta(days=1)
    later = plan(T0 + timedelta(days=1), [j], [dev(1)], cfg, BERLIN)
    assert later.expire == (Expire(1),)


def test_expired_job_is_not_dispatched() -> None:
    j = job(1, submitted=T0 - timedelta(days=CFG.dirty_days, seconds=1))
    p = plan(T0, [j], [dev(1)], CFG, BERLIN)
    assert p.dispatch == () and p.expire == (Expire(1),)
    t = expire_transition(j, CFG, T0)
    assert t.queue_status is QueueStatus.FAILED and f"{CFG.dirty_days} days" in t.status_text


def test_in_progress_jobs_do_not_expire() -> None:
    j = job(1, status=QueueStatus.IN_PROGRESS, submitted=T0 - timedelta(days=400))
    assert plan(T0, [j], [], CFG, BERLIN).expire == ()


def test_next_wakeup_is_earliest_future_event() -> None:
    t1 = T0 + timedelta(minutes=30)
    jobs = [
        job(1, "1", status=QueueStatus.RETRYING, next_attempt_at=T0 + timedelta(minutes=45)),
        job(2, "2", schedule_action=ScheduleAction.SPECIFIC_TIME, schedule_time=t1),
    ]
    assert plan(T0, jobs, [dev(1)], CFG, BERLIN).next_wakeup == t1


def test_next_wakeup_none_when_nothing_waits() -> None:
    assert (
        plan(T0, [job(1, status=QueueStatus.COMPLETED)], [dev(1)], CFG, BERLIN).next_wakeup is None
    )


def test_dispatch_changes_marks_in_progress_without_counting() -> None:
    ch = dispatch_changes(job(1, attempts=2), 4, T0)
    # The state is the DISPATCH trigger's (tests/model/test_transitions.py checks the table).
    assert target(Trigger.DISPATCH) is QueueStatus.IN_PROGRESS and ch.device_id == 4
    assert "attempts" not in ch.as_dict()


# -- after a call -------------------------------------------------------------------------------


def test_success_completes() -> None:
    t = after_attempt(job(1), None, CFG, T0, pages_done=3)
    assert (t.queue_status, t.attempts, t.pages_done, t.completed_at) == (
        QueueStatus.COMPLETED, 1, 3, T0
    )  # fmt: skip


@pytest.mark.parametrize("failure", [f for f in FailureClass if f.permanent])
def test_permanent_failure_fails_at_once(failure: FailureClass) -> None:
    t = after_attempt(job(1), failure, CFG, T0)
    assert t.queue_status is QueueStatus.FAILED and t.last_failure is failure
    assert t.next_attempt_at is None


@pytest.mark.parametrize("failure", [f for f in FailureClass if not f.permanent])
def test_transient_failure_retries_until_retries_used(failure: FailureClass) -> None:
    cfg = CFG.with_changes({"retries": 2, "retry_delay": 15})
    j = job(1)
    outcomes = []
    now = T0
    while True:
        t = after_attempt(j, failure, cfg, now)
        outcomes.append(t.queue_status)
        if t.queue_status is not QueueStatus.RETRYING:
            break
        assert t.next_attempt_at == now + timedelta(minutes=15)
        now = t.next_attempt_at
        j = j.replace(attempts=t.attempts, queue_status=t.queue_status)
    # 1 call + 2 retries = 3 calls.
    assert outcomes == [QueueStatus.RETRYING, QueueStatus.RETRYING, QueueStatus.RETRIES_EXCEEDED]
    assert t.attempts == 3


def test_zero_retries_gives_up_after_the_first_call() -> None:
    t = after_attempt(job(1), FailureClass.BUSY, CFG.with_changes({"retries": 0}), T0)
    assert t.queue_status is QueueStatus.RETRIES_EXCEEDED and t.attempts == 1
