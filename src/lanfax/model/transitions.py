"""Where a job may go from where it is: the queue-state table, and the typed job change.

One table (:data:`TRANSITIONS`, shaped like h11's ``EVENT_TRIGGERED_TRANSITIONS``) says, for
each queue state, which :class:`Trigger` may fire in it and which state it leads to; as h11
keeps one table per role, :data:`APPLIES_TO` says which job types (a send job, a received
fax) each trigger is for. One function (:func:`advance`) applies a trigger and a
:class:`JobPatch` to a job, and is where an illegal change becomes a
:class:`~lanfax.model.errors.Conflict`: the store calls it inside the transaction that writes
the change, so the check is made against the job as committed, never against a copy that may
be stale. Everyone who needs "which states may X start from" asks :func:`sources` instead of
keeping a set of their own (job control still refuses early, from its copy, with a message
for people; the store's check is the one that holds).

Who fires what:

* the scheduler and the dispatcher (send jobs): DISPATCH, NO_LINE, LINE_BACK, EXPIRE, then on
  the call PROGRESS and one outcome (DELIVER, FAIL, RETRY, GIVE_UP, CALL_CANCELED);
* a person, through job control: PAUSE, RESUME, RESUME_RETRY, CANCEL, ABORT, RESTART;
* the inbound pipeline and the routing (received faxes): PROGRESS, RECEIVED,
  RECEIVE_FAILED, ROUTE_STEP, ROUTED;
* the crash recovery at start: the same outcomes, for a call the service died during.

A new job is not a transition: a send job is added PENDING, a received fax IN_PROGRESS
(:data:`INITIAL`). Deleting is not one either: a job leaves the table from a state in
:data:`DELETABLE`. DELETING (JS_DELETING) exists for the Windows values only; nothing enters it.

The table is a fact kept once (GUIDE: one source of truth); ``tests/model/test_transitions.py``
checks it state by state and trigger by trigger.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from lanfax.model.codes import (
    FINAL_QUEUE_STATES,
    DeliveryReportType,
    DeviceStatus,
    FailureClass,
    JobType,
    Priority,
    QueueStatus,
    ScheduleAction,
)
from lanfax.model.errors import Conflict, InvalidInput
from lanfax.model.jobs import CoverPageInfo, Job

__all__ = [
    "APPLIES_TO",
    "DELETABLE",
    "INITIAL",
    "TRANSITIONS",
    "UNSET",
    "JobPatch",
    "Trigger",
    "Unset",
    "advance",
    "next_state",
    "sources",
    "target",
]


class Trigger(enum.Enum):
    """What happens to a job. The value is the name used in messages and logs."""

    # -- the scheduler and the dispatcher (send jobs) --
    #: Picked for a line: the call starts.
    DISPATCH = "dispatch"
    #: No device of the job's outgoing route can send at all (it stays dispatchable).
    NO_LINE = "no_line"
    #: Its route can send again; it waits for a free line.
    LINE_BACK = "line_back"
    #: DirtyDays ran out while it waited.
    EXPIRE = "expire"
    #: Something about the call in progress (pages confirmed or stored, the device's status);
    #: the queue state stays.
    PROGRESS = "progress"
    #: The call ended: delivered (or every page had been confirmed).
    DELIVER = "deliver"
    #: The call ended with a permanent failure (or the document is gone).
    FAIL = "fail"
    #: The call ended with a transient failure and retries are left.
    RETRY = "retry"
    #: The call ended with a transient failure and no retry is left.
    GIVE_UP = "give_up"
    #: The call ended because a person canceled it.
    CALL_CANCELED = "call_canceled"
    # -- a person (job control) --
    PAUSE = "pause"
    #: Resume a job paused while it was pending (or waiting for a line).
    RESUME = "resume"
    #: Resume a job paused while it waited for its retry: it waits for the retry again.
    RESUME_RETRY = "resume_retry"
    #: Cancel a job that is not on a call.
    CANCEL = "cancel"
    #: Cancel a job on a call: it is CANCELING until the call ends (CALL_CANCELED).
    ABORT = "abort"
    RESTART = "restart"
    # -- receiving and routing --
    #: A received fax is whole on disk: it is routed next.
    RECEIVED = "received"
    #: A receive failed (dropped, refused after answering, cut after too many pages).
    RECEIVE_FAILED = "receive_failed"
    #: Routing went on: a method succeeded, failed, was held or is asked to run again.
    ROUTE_STEP = "route_step"
    #: Every routing method succeeded.
    ROUTED = "routed"


_S = QueueStatus
_T = Trigger
#: Send-job states from which the scheduler dials (once eligible).
_WAITING = (_S.PENDING, _S.RETRYING, _S.NO_LINE)
#: Where a call is: on the line, or on the line and being canceled. A call's outcome is
#: written from either (a cancel that came too late to stop a delivered fax leaves it
#: COMPLETED; one that came before the call failed leaves it CANCELED).
_ON_CALL = (_S.IN_PROGRESS, _S.CANCELING)


def _table() -> dict[QueueStatus, dict[Trigger, QueueStatus]]:
    t: dict[QueueStatus, dict[Trigger, QueueStatus]] = {s: {} for s in QueueStatus}
    for s in _WAITING:
        t[s].update(
            {
                _T.DISPATCH: _S.IN_PROGRESS,
                _T.NO_LINE: _S.NO_LINE,
                _T.EXPIRE: _S.FAILED,
                _T.PAUSE: _S.PAUSED,
                _T.CANCEL: _S.CANCELED,
            }
        )
    t[_S.NO_LINE][_T.LINE_BACK] = _S.PENDING
    t[_S.PAUSED].update(
        {
            _T.RESUME: _S.PENDING,
            _T.RESUME_RETRY: _S.RETRYING,
            _T.CANCEL: _S.CANCELED,
            _T.EXPIRE: _S.FAILED,
        }
    )
    for s in _ON_CALL:
        t[s].update(
            {
                _T.PROGRESS: s,
                _T.DELIVER: _S.COMPLETED,
                _T.FAIL: _S.FAILED,
                _T.RETRY: _S.RETRYING,
                _T.GIVE_UP: _S.RETRIES_EXCEEDED,
                _T.CALL_CANCELED: _S.CANCELED,
            }
        )
    t[_S.IN_PROGRESS].update(
        {
            _T.ABORT: _S.CANCELING,
            _T.RECEIVED: _S.ROUTING,
            _T.RECEIVE_FAILED: _S.FAILED,
        }
    )
    for s in (_S.FAILED, _S.RETRIES_EXCEEDED):
        t[s][_T.RESTART] = _S.PENDING
    t[_S.ROUTING].update({_T.ROUTE_STEP: _S.ROUTING, _T.ROUTED: _S.COMPLETED})
    return t


#: state -> {trigger: next state}. A pair not in it is illegal (a Conflict).
TRANSITIONS: Final[Mapping[QueueStatus, Mapping[Trigger, QueueStatus]]] = _table()

_SOURCES: Final[dict[Trigger, frozenset[QueueStatus]]] = {
    trig: frozenset(s for s, row in TRANSITIONS.items() if trig in row) for trig in Trigger
}

_SEND = frozenset({JobType.SEND})
_RECEIVED = frozenset({JobType.RECEIVE})
#: trigger -> the job types it is for (checked on the job's type before the change: a
#: change may set another, as RECEIVE_FAILED makes a RECEIVE job FAIL_RECEIVE).
APPLIES_TO: Final[Mapping[Trigger, frozenset[JobType]]] = {
    **{t: _SEND for t in Trigger},
    Trigger.PROGRESS: _SEND | _RECEIVED,
    Trigger.RECEIVED: _RECEIVED,
    Trigger.RECEIVE_FAILED: _RECEIVED,
    # A received fax being routed is RECEIVE, or ROUTING once a method failed.
    Trigger.ROUTE_STEP: _RECEIVED | {JobType.ROUTING},
    Trigger.ROUTED: _RECEIVED | {JobType.ROUTING},
}

#: The state a new job is added in, by job type (not a transition: see the module docstring).
INITIAL: Final[Mapping[JobType, QueueStatus]] = {
    JobType.SEND: QueueStatus.PENDING,
    JobType.RECEIVE: QueueStatus.IN_PROGRESS,
}

#: States a job may be deleted from: finished, or a received fax whose routing an
#: administrator gives up on.
DELETABLE: Final[frozenset[QueueStatus]] = FINAL_QUEUE_STATES | {QueueStatus.ROUTING}


def next_state(state: QueueStatus, trigger: Trigger) -> QueueStatus | None:
    """Where ``trigger`` leads from ``state``; None when it may not fire there."""
    return TRANSITIONS[state].get(trigger)


def sources(trigger: Trigger) -> frozenset[QueueStatus]:
    """Every state ``trigger`` may fire in (the ``expect`` of the old code)."""
    return _SOURCES[trigger]


def _one_target(trigger: Trigger) -> QueueStatus | None:
    targets = {TRANSITIONS[s][trigger] for s in _SOURCES[trigger]}
    return targets.pop() if len(targets) == 1 else None


_TARGETS: Final[dict[Trigger, QueueStatus | None]] = {t: _one_target(t) for t in Trigger}


def target(trigger: Trigger) -> QueueStatus | None:
    """The state ``trigger`` leads to when that is the same from every state it may fire
    in; None for a trigger that keeps the state (PROGRESS from IN_PROGRESS or CANCELING)."""
    return _TARGETS[trigger]


class Unset(enum.Enum):
    """The type of :data:`UNSET`: "this field is not changed" (None is a value to set)."""

    UNSET = "unset"


UNSET: Final = Unset.UNSET


@dataclass(frozen=True, slots=True)
class JobPatch:
    """The fields a change writes; every field left :data:`UNSET` keeps its value.

    Every :class:`~lanfax.model.jobs.Job` field but ``job_id`` (which never changes) and
    ``queue_status`` (which only a :class:`Trigger` changes, through :data:`TRANSITIONS`).
    A ``dict`` (``extra``) is replaced as a whole: pass the job's extra with your keys.
    """

    job_type: JobType | Unset = UNSET
    submitted_at: datetime | Unset = UNSET
    user_name: str | Unset = UNSET
    device_status: DeviceStatus | Unset = UNSET
    size: int | Unset = UNSET
    page_count: int | Unset = UNSET
    recipient_number: str | Unset = UNSET
    recipient_name: str | Unset = UNSET
    tsid: str | Unset = UNSET
    sender_name: str | Unset = UNSET
    sender_company: str | Unset = UNSET
    sender_dept: str | Unset = UNSET
    billing_code: str | Unset = UNSET
    schedule_action: ScheduleAction | Unset = UNSET
    schedule_time: datetime | Unset | None = UNSET
    delivery_report_type: DeliveryReportType | Unset = UNSET
    delivery_report_address: str | Unset = UNSET
    document_name: str | Unset = UNSET
    call_handle: str | Unset = UNSET
    priority: Priority | Unset = UNSET
    broadcast_id: str | Unset = UNSET
    document_path: str | Unset = UNSET
    cover_page: CoverPageInfo | Unset | None = UNSET
    attempts: int | Unset = UNSET
    next_attempt_at: datetime | Unset | None = UNSET
    started_at: datetime | Unset | None = UNSET
    completed_at: datetime | Unset | None = UNSET
    device_id: int | Unset | None = UNSET
    last_failure: FailureClass | Unset | None = UNSET
    status_text: str | Unset = UNSET
    pages_done: int | Unset = UNSET
    remote_ident: str | Unset = UNSET
    caller_id: str | Unset = UNSET
    routing_string: str | Unset = UNSET
    bit_rate: int | Unset = UNSET
    ecm: bool | Unset = UNSET
    compression: str | Unset = UNSET
    extra: dict[str, Any] | Unset = UNSET

    def as_dict(self) -> dict[str, Any]:
        """The fields set, by name (ready for :meth:`Job.replace`)."""
        out: dict[str, Any] = {}
        for f in _PATCH_FIELDS:
            value = getattr(self, f)
            if value is not UNSET:
                out[f] = value
        return out

    def but(self, **changes: Any) -> JobPatch:
        """This patch with more fields set (or replaced)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> JobPatch:
        """A patch from field names (tools, tests); an unknown field, ``job_id`` or
        ``queue_status`` raises :class:`~lanfax.model.errors.InvalidInput`."""
        bad = sorted(set(values) - set(_PATCH_FIELDS))
        if bad:
            if "queue_status" in bad:
                hint = "a queue state changes only through a Trigger (lanfax.model.transitions)"
            elif "job_id" in bad:
                hint = "a job's job_id never changes; leave it out"
            else:
                hint = f"a job has: {', '.join(_PATCH_FIELDS)}"
            raise InvalidInput(f"a job change cannot set {', '.join(bad)}", hint=hint)
        return cls(**values)


_PATCH_FIELDS: Final[tuple[str, ...]] = tuple(f.name for f in dataclasses.fields(JobPatch))
#: The empty patch (a trigger alone).
NOTHING: Final = JobPatch()


def _name(state: QueueStatus) -> str:
    return state.name.lower()


def advance(
    job: Job,
    trigger: Trigger,
    patch: JobPatch = NOTHING,
    expect: frozenset[QueueStatus] | None = None,
) -> Job:
    """``job`` after ``trigger`` with ``patch``: the one place a change is checked.

    Raises :class:`~lanfax.model.errors.Conflict` when ``trigger`` may not fire in the job's
    state (:data:`TRANSITIONS`) or is not for its type (:data:`APPLIES_TO`), or when
    ``expect`` (a writer's narrower guard: the state it saw when it decided) does not hold.
    Call it on the job as committed, inside the transaction that writes the result.
    """
    if not isinstance(trigger, Trigger) or not isinstance(patch, JobPatch):
        # Code written for the untyped JobChange(job_id, {...}) says so here, not with an
        # "unhashable type" from deep inside.
        raise TypeError(
            f"a job change takes a Trigger and a JobPatch, not {type(trigger).__name__} and"
            f" {type(patch).__name__}: JobChange(job_id, Trigger.X, JobPatch(field=...))"
        )
    state = job.queue_status
    if expect is not None and state not in expect:
        wanted = ", ".join(sorted(_name(s) for s in expect))
        raise Conflict(
            f"job {job.job_id} is {_name(state)}, not {wanted}",
            hint="its state changed meanwhile; reload the job and try again",
            job_id=job.job_id,
            queue_status=state.name,
        )
    new = TRANSITIONS[state].get(trigger)
    if new is None:
        allowed = ", ".join(sorted(_name(s) for s in _SOURCES[trigger])) or "no state"
        raise Conflict(
            f"job {job.job_id} is {_name(state)}: {trigger.value} is allowed only from {allowed}",
            hint="its state changed meanwhile; reload the job and try again",
            job_id=job.job_id,
            queue_status=state.name,
            trigger=trigger.value,
        )
    kinds = APPLIES_TO[trigger]
    if job.job_type not in kinds:
        allowed = " or ".join(sorted(k.name.lower() for k in kinds))
        raise Conflict(
            f"job {job.job_id} is a {job.job_type.name.lower()} job: {trigger.value} is only"
            f" for {allowed} jobs",
            hint="reload the job: it is not the kind of job this action is for",
            job_id=job.job_id,
            job_type=job.job_type.name,
            trigger=trigger.value,
        )
    return job.replace(**patch.as_dict(), queue_status=new)
