"""The queue-state table, pair by pair, and the one function that applies a change."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lanfax.model.codes import (
    FINAL_QUEUE_STATES,
    DeviceStatus,
    FailureClass,
    JobType,
    QueueStatus,
)
from lanfax.model.errors import Conflict, InvalidInput
from lanfax.model.jobs import Job
from lanfax.model.transitions import (
    APPLIES_TO,
    DELETABLE,
    INITIAL,
    TRANSITIONS,
    UNSET,
    JobPatch,
    Trigger,
    advance,
    next_state,
    sources,
    target,
)

S = QueueStatus
T = Trigger
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

# The table written out by hand, pair by pair, from what control.py, scheduler.py,
# dispatcher.py, inbound.py, routing.py and recovery.py allowed before the table existed
# (their ``expect`` sets). Every pair not listed must be a Conflict.
WAITING = (S.PENDING, S.RETRYING, S.NO_LINE)
ON_CALL = (S.IN_PROGRESS, S.CANCELING)
EXPECTED: dict[tuple[QueueStatus, Trigger], QueueStatus] = {
    **{(s, T.DISPATCH): S.IN_PROGRESS for s in WAITING},
    **{(s, T.NO_LINE): S.NO_LINE for s in WAITING},
    (S.NO_LINE, T.LINE_BACK): S.PENDING,
    **{(s, T.EXPIRE): S.FAILED for s in (*WAITING, S.PAUSED)},
    **{(s, T.PAUSE): S.PAUSED for s in WAITING},
    (S.PAUSED, T.RESUME): S.PENDING,
    (S.PAUSED, T.RESUME_RETRY): S.RETRYING,
    **{(s, T.CANCEL): S.CANCELED for s in (*WAITING, S.PAUSED)},
    (S.IN_PROGRESS, T.ABORT): S.CANCELING,
    (S.IN_PROGRESS, T.PROGRESS): S.IN_PROGRESS,
    (S.CANCELING, T.PROGRESS): S.CANCELING,
    **{(s, T.DELIVER): S.COMPLETED for s in ON_CALL},
    **{(s, T.FAIL): S.FAILED for s in ON_CALL},
    **{(s, T.RETRY): S.RETRYING for s in ON_CALL},
    **{(s, T.GIVE_UP): S.RETRIES_EXCEEDED for s in ON_CALL},
    **{(s, T.CALL_CANCELED): S.CANCELED for s in ON_CALL},
    (S.FAILED, T.RESTART): S.PENDING,
    (S.RETRIES_EXCEEDED, T.RESTART): S.PENDING,
    (S.IN_PROGRESS, T.RECEIVED): S.ROUTING,
    (S.IN_PROGRESS, T.RECEIVE_FAILED): S.FAILED,
    (S.ROUTING, T.ROUTE_STEP): S.ROUTING,
    (S.ROUTING, T.ROUTED): S.COMPLETED,
}
PAIRS = [(s, t) for s in QueueStatus for t in Trigger]
# Which jobs each trigger is for, written out by hand: a send job's triggers, and a received
# fax's (routing: RECEIVE, or ROUTING once a method failed).
SEND, RX, ROUTING = JobType.SEND, JobType.RECEIVE, JobType.ROUTING
EXPECTED_KINDS: dict[Trigger, set[JobType]] = {
    **{t: {SEND} for t in Trigger},
    T.PROGRESS: {SEND, RX},
    T.RECEIVED: {RX},
    T.RECEIVE_FAILED: {RX},
    T.ROUTE_STEP: {RX, ROUTING},
    T.ROUTED: {RX, ROUTING},
}


def make_job(state: QueueStatus, job_type: JobType = JobType.SEND, **kw: object) -> Job:
    return Job(
        job_id=7,
        job_type=job_type,
        queue_status=state,
        submitted_at=T0,
        recipient_number="101",
        status_text="before",
        extra={"k": 1},
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(("state", "trigger"), PAIRS, ids=[f"{s.name}-{t.name}" for s, t in PAIRS])
def test_every_state_and_trigger(state: QueueStatus, trigger: Trigger) -> None:
    job = make_job(state, min(EXPECTED_KINDS[trigger]))
    want = EXPECTED.get((state, trigger))
    assert next_state(state, trigger) is want
    if want is None:
        with pytest.raises(Conflict) as info:
            advance(job, trigger, JobPatch(status_text="after"))
        err = info.value
        assert "job 7" in err.message and state.name.lower() in err.message
        assert trigger.value in err.message and err.hint
        assert err.detail == {"job_id": 7, "queue_status": state.name, "trigger": trigger.value}
    else:
        moved = advance(job, trigger, JobPatch(status_text="after"))
        assert moved == job.replace(queue_status=want, status_text="after")


def test_the_table_is_exactly_the_expected_one() -> None:
    listed = {(s, t): n for s, row in TRANSITIONS.items() for t, n in row.items()}
    assert listed == EXPECTED
    assert set(TRANSITIONS) == set(QueueStatus)
    assert APPLIES_TO == EXPECTED_KINDS


KINDS = [(t, k) for t in Trigger for k in JobType]


@pytest.mark.parametrize(("trigger", "kind"), KINDS, ids=[f"{t.name}-{k.name}" for t, k in KINDS])
def test_every_trigger_and_job_type(trigger: Trigger, kind: JobType) -> None:
    """A trigger fired at the wrong kind of job (pause a received fax, route a send job) is a
    Conflict even in a state where it could fire."""
    state = min(sources(trigger))
    job = make_job(state, kind)
    if kind in EXPECTED_KINDS[trigger]:
        assert advance(job, trigger).queue_status is EXPECTED[(state, trigger)]
        return
    with pytest.raises(Conflict) as info:
        advance(job, trigger)
    err = info.value
    assert f"a {kind.name.lower()} job" in err.message and trigger.value in err.message
    assert err.hint and err.detail["job_type"] == kind.name


def test_the_sets_the_services_kept_are_the_tables() -> None:
    # What scheduler.py, control.py, dispatcher.py, inbound.py and routing.py had as sets.
    assert sources(T.DISPATCH) == {S.PENDING, S.RETRYING, S.NO_LINE}
    assert sources(T.EXPIRE) == sources(T.DISPATCH) | {S.PAUSED}
    assert sources(T.PAUSE) == sources(T.DISPATCH)
    assert sources(T.CANCEL) == sources(T.DISPATCH) | {S.PAUSED}
    assert sources(T.RESTART) == {S.FAILED, S.RETRIES_EXCEEDED}
    assert sources(T.RESUME) == sources(T.RESUME_RETRY) == {S.PAUSED}
    assert sources(T.ABORT) == {S.IN_PROGRESS}
    for outcome in (T.DELIVER, T.FAIL, T.RETRY, T.GIVE_UP, T.CALL_CANCELED, T.PROGRESS):
        assert sources(outcome) == {S.IN_PROGRESS, S.CANCELING}
    assert sources(T.RECEIVED) == sources(T.RECEIVE_FAILED) == {S.IN_PROGRESS}
    assert sources(T.ROUTE_STEP) == sources(T.ROUTED) == {S.ROUTING}
    assert FINAL_QUEUE_STATES | {S.ROUTING} == DELETABLE


@pytest.mark.parametrize("trigger", list(Trigger))
def test_every_trigger_fires_somewhere_and_has_its_target(trigger: Trigger) -> None:
    assert sources(trigger)
    targets = {EXPECTED[(s, trigger)] for s in sources(trigger)}
    if trigger is T.PROGRESS:  # keeps the state it fires in
        assert target(trigger) is None and targets == {S.IN_PROGRESS, S.CANCELING}
    else:
        assert targets == {target(trigger)}


def test_finished_jobs_leave_only_by_restart_and_never_through_deleting() -> None:
    for state in (S.COMPLETED, S.CANCELED, S.DELETING):
        assert TRANSITIONS[state] == {}
    for state in (S.FAILED, S.RETRIES_EXCEEDED):
        assert set(TRANSITIONS[state]) == {T.RESTART}
    assert all(S.DELETING not in row.values() for row in TRANSITIONS.values())


def _reachable(start: QueueStatus) -> set[QueueStatus]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in TRANSITIONS[todo.pop()].values():
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_every_state_but_deleting_is_reachable_and_no_job_is_trapped() -> None:
    reach = set().union(*(_reachable(s) for s in INITIAL.values()))
    assert reach == set(QueueStatus) - {S.DELETING}
    for state in reach - FINAL_QUEUE_STATES:
        # From wherever a job is, something can finish it (no state without a way out).
        assert _reachable(state) & FINAL_QUEUE_STATES, state


def test_expect_narrows_what_the_table_allows() -> None:
    job = make_job(S.PAUSED)
    assert advance(job, T.EXPIRE).queue_status is S.FAILED
    with pytest.raises(Conflict) as info:
        advance(job, T.EXPIRE, expect=frozenset({S.PENDING}))
    assert info.value.message == "job 7 is paused, not pending" and info.value.hint
    assert info.value.detail == {"job_id": 7, "queue_status": "PAUSED"}
    # The table is checked even when expect would allow it.
    with pytest.raises(Conflict):
        advance(job, T.DISPATCH, expect=frozenset({S.PAUSED}))


def test_a_patch_writes_what_is_set_and_none_is_a_value() -> None:
    job = make_job(S.IN_PROGRESS, device_id=3, next_attempt_at=T0, last_failure=FailureClass.BUSY)
    patch = JobPatch(next_attempt_at=None, last_failure=None, device_status=DeviceStatus.SENDING)
    assert patch.as_dict() == {
        "next_attempt_at": None,
        "last_failure": None,
        "device_status": DeviceStatus.SENDING,
    }
    moved = advance(job, T.PROGRESS, patch)
    assert moved == job.replace(
        next_attempt_at=None, last_failure=None, device_status=DeviceStatus.SENDING
    )
    assert moved.device_id == 3 and moved.extra == {"k": 1} and moved.status_text == "before"
    assert advance(job, T.PROGRESS) == job
    more = patch.but(status_text="x")
    assert more.status_text == "x" and patch.status_text is UNSET


def test_a_patch_has_every_job_field_but_the_id_and_the_state() -> None:
    fields = {f.name for f in dataclasses.fields(JobPatch)}
    assert fields == {f.name for f in dataclasses.fields(Job)} - {"job_id", "queue_status"}
    assert JobPatch().as_dict() == {}


@pytest.mark.parametrize(
    ("values", "word"),
    [
        ({"no_such_field": 1}, "no_such_field"),
        ({"job_id": 12345}, "job_id"),
        ({"queue_status": QueueStatus.COMPLETED}, "Trigger"),
    ],
)
def test_a_patch_from_names_refuses_what_a_change_cannot_set(
    values: dict[str, object], word: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        JobPatch.of(values)
    assert info.value.hint and word in f"{info.value.message} {info.value.hint}"
    with pytest.raises(TypeError):
        JobPatch(**values)  # type: ignore[arg-type]


def test_a_patch_from_names_is_the_typed_one() -> None:
    assert JobPatch.of({"attempts": 2, "completed_at": None}) == JobPatch(
        attempts=2, completed_at=None
    )


@given(
    kind=st.sampled_from(sorted(INITIAL)),
    triggers=st.lists(st.sampled_from(Trigger), max_size=30),
)
def test_random_walks_follow_the_table(kind: JobType, triggers: list[Trigger]) -> None:
    """Whatever a racing writer fires, a new job of either kind moves only along the table,
    and a refused trigger leaves it exactly as it was."""
    job = make_job(INITIAL[kind], kind)
    for i, trigger in enumerate(triggers):
        before = job
        try:
            job = advance(job, trigger, JobPatch(attempts=i))
        except Conflict:
            legal = (before.queue_status, trigger) in EXPECTED
            assert not legal or kind not in EXPECTED_KINDS[trigger]
            assert job is before
            continue
        assert kind in EXPECTED_KINDS[trigger]
        assert job.queue_status is EXPECTED[(before.queue_status, trigger)]
        assert job.attempts == i


def test_an_untyped_change_is_refused_with_a_clear_message() -> None:
    job = make_job(S.PENDING)
    with pytest.raises(TypeError, match="takes a Trigger and a JobPatch, not dict"):
        advance(job, {"queue_status": S.PAUSED})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not Trigger and dict"):
        advance(job, T.PAUSE, {"status_text": "x"})  # type: ignore[arg-type]
