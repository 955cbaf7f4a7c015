"""The scheduler core: which queued job is dialled on which device, and when to look again.

Pure functions over immutable values: no I/O, no asyncio, no clock of its own. The service's
runtime calls :func:`plan` whenever something changes (a job is added, a call ends, a device
goes idle, the configuration changes) and again at the :attr:`Plan.next_wakeup` it returns;
it records each :class:`Dispatch` (see :func:`dispatch_changes`) before starting the call, and
feeds the call's outcome to :func:`after_attempt`.

Rules (see docs and tests/service/test_scheduler*.py):

* Only SEND jobs in PENDING, RETRYING or NO_LINE are dispatchable, and only once eligible
  (:func:`eligible_at`). NO_LINE means "waiting for a line", so it is treated like PENDING.
* Order: priority (HIGH, NORMAL, LOW), then submission time, then job id.
* Never two calls to the same number (:func:`~lanfax.service.numbers.canonical_number`): a
  job whose number is on a call, or already dispatched in this plan, waits; the jobs behind it
  are still considered (no head-of-line blocking).
* Each idle send-capable device takes at most one job per plan; devices are used in order of
  their priority (lower number first), then device id.
* Outgoing routing (``routes``, :mod:`lanfax.service.outbound`): a job is dialled only on
  the first idle device of its rule's route, in the route's order (a group's own order, or
  port priority for All devices); with none idle it waits. When no device of the route can
  send at all (not send-capable, or gone), the job is reported in :attr:`Plan.no_line` (queue
  state NO_LINE) and keeps waiting: it is dialled as soon as its route has a usable device
  (and goes back to PENDING, :attr:`Plan.line_back`, while that device is busy).
  Without ``routes`` every job may use every device.
* A line never dials its own number (:attr:`DeviceView.own_key`, the same canonical number)
  while another line of the job's route could send the job: the next free line of the route
  takes it, or, with all of them busy, the job waits for one (dialling itself is a sure
  BUSY and a retry minutes later). Only when no other line of the route can send at all is
  the line's own number dialled from it, as a real network would be asked to, and the
  dispatch says so (:attr:`Dispatch.dials_itself`, logged and in the job's status text).
  With other live nodes sharing the queue (``elsewhere``, #18) their lines, which this node
  does not see, count as other lines of a route that is All devices or names a device this
  node does not have: the job waits for them instead of a line here dialling itself.
* PauseServerQueue: nothing is dispatched; expiry still applies.
* DirtyDays: a job that is not running and not final expires ``dirty_days`` after submission.
* Discount period: StartCheapTime <= local time < StopCheapTime, in the server's time zone,
  crossing midnight when start > stop. **start == stop means always cheap**: a zero-length
  window would otherwise leave every DISCOUNT_PERIOD job to expire unsent, which no
  administrator wants; "always" is the reading that loses nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from lanfax.model.codes import FailureClass, JobType, QueueStatus, ScheduleAction
from lanfax.model.config import ServerConfig
from lanfax.model.devices import node_of_device
from lanfax.model.errors import InvalidInput
from lanfax.model.jobs import Job
from lanfax.model.transitions import JobPatch, Trigger, sources, target
from lanfax.service.numbers import canonical_number, number_key
from lanfax.service.outbound import DEFAULT_RULE, OutboundTable, Route

__all__ = [
    "DISPATCHABLE",
    "EXPIRABLE",
    "DeviceView",
    "Dispatch",
    "Expire",
    "JobTransition",
    "NoLine",
    "Plan",
    "after_attempt",
    "canonical_number",
    "dispatch_changes",
    "eligible_at",
    "expire_transition",
    "expires_at",
    "in_discount_period",
    "next_discount_start",
    "own_key",
    "plan",
]

#: Queue states from which a SEND job may be dialled (once eligible): where DISPATCH may fire
#: (:data:`lanfax.model.transitions.TRANSITIONS`).
DISPATCHABLE = sources(Trigger.DISPATCH)
#: Queue states in which DirtyDays applies: waiting, not on a call and not being removed.
EXPIRABLE = sources(Trigger.EXPIRE)


@functools.lru_cache(maxsize=4096)
def own_key(number: str) -> str | None:
    """A line's own number as :attr:`DeviceView.own_key` (None for a line without one).
    Cached: the views are made at every plan, the numbers seldom change."""
    return number_key(number) if number.strip() else None


@dataclass(frozen=True, slots=True)
class DeviceView:
    """What the scheduler needs to know about one device."""

    device_id: int
    can_send: bool
    idle: bool
    #: Lower number is chosen first; ties are broken by device_id.
    priority: int
    #: The line's own number as the scheduler keys numbers (:func:`number_key`), or None
    #: when the line has none: a job to this number is not dialled from this line while
    #: another line could send it.
    own_key: str | None = None


@dataclass(frozen=True, slots=True)
class Dispatch:
    job_id: int
    device_id: int
    #: The line dials its own number: no other line of the job's route can send it.
    dials_itself: bool = False


@dataclass(frozen=True, slots=True)
class Expire:
    """DirtyDays passed: the job goes to FAILED (see :func:`expire_transition`)."""

    job_id: int


@dataclass(frozen=True, slots=True)
class NoLine:
    """The job could be dialled now, but no device of its outgoing route can send at all:
    record it as NO_LINE with ``status_text`` (it stays dispatchable)."""

    job_id: int
    status_text: str


@dataclass(frozen=True, slots=True)
class Plan:
    dispatch: tuple[Dispatch, ...]
    expire: tuple[Expire, ...]
    #: The earliest future instant at which a job becomes eligible or expires; None if none.
    next_wakeup: datetime | None
    #: Jobs not yet in NO_LINE (or with another reason) that have no usable line now.
    no_line: tuple[NoLine, ...] = ()
    #: Jobs in NO_LINE whose route has a usable line again but that wait for it to be
    #: free: back to PENDING (a job dispatched in this plan is not listed).
    line_back: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class JobTransition:
    """What a job becomes after a call (or after expiring): ``trigger`` and :meth:`patch`
    make a :class:`lanfax.store.api.JobChange`; :meth:`changes` is the same as a dict with
    the queue state it leads to (for :meth:`Job.replace` in simulations)."""

    trigger: Trigger
    next_attempt_at: datetime | None
    attempts: int
    last_failure: FailureClass | None
    status_text: str
    completed_at: datetime | None = None
    pages_done: int = 0

    @property
    def queue_status(self) -> QueueStatus:
        """The state the trigger leads to (the same from every state it may fire in)."""
        state = target(self.trigger)
        assert state is not None, self.trigger
        return state

    def patch(self) -> JobPatch:
        return JobPatch(
            next_attempt_at=self.next_attempt_at,
            attempts=self.attempts,
            last_failure=self.last_failure,
            status_text=self.status_text,
            completed_at=self.completed_at,
            pages_done=self.pages_done,
        )

    def changes(self) -> dict[str, Any]:
        return {"queue_status": self.queue_status, **self.patch().as_dict()}


def _aware(when: datetime, what: str) -> datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        raise InvalidInput(
            f"{what} {when.isoformat()} has no time zone",
            hint="pass an aware datetime (the clock's now() is UTC)",
        )
    return when


# -- discount period ------------------------------------------------------------------------


def _minutes(hm: tuple[int, int]) -> int:
    return hm[0] * 60 + hm[1]


def in_discount_period(local: datetime, config: ServerConfig) -> bool:
    """Whether wall-clock time ``local`` (already in the server's zone) is in the discount
    period [StartCheapTime, StopCheapTime). Crosses midnight when start > stop; always true
    when start == stop (see the module docstring)."""
    start, stop = _minutes(config.cheap_start), _minutes(config.cheap_stop)
    # Seconds matter at the stop edge: 06:59:30 is still cheap when stop is 07:00.
    t = local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60
    if start == stop:
        return True
    if start < stop:
        return start <= t < stop
    return t >= start or t < stop


def _utc_offset_at(instant: datetime, tz: tzinfo) -> timedelta:
    off = instant.astimezone(tz).utcoffset()
    return off if off is not None else timedelta(0)


def _transitions_on(day: date, tz: tzinfo) -> list[datetime]:
    """UTC instants during local ``day`` at which the zone's offset changes (DST switches).

    zoneinfo does not expose its transitions, so find the one in the day by bisection on the
    offset, to the second. A day with two changes (none exist in practice) yields one.
    """
    a = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    b = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    off_b = _utc_offset_at(b, tz)
    if _utc_offset_at(a, tz) == off_b:
        return []
    lo, hi = a, b  # offset(lo) != off_b, offset(hi) == off_b
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if mid <= lo:
            break
        if _utc_offset_at(mid, tz) == off_b:
            hi = mid
        else:
            lo = mid
    return [hi]


def next_discount_start(now: datetime, config: ServerConfig, tz: tzinfo) -> datetime:
    """The earliest instant >= ``now`` (UTC result) inside the discount period in zone ``tz``.

    ``now`` itself when it is already inside. Exact across DST changes: when the start time
    falls into a skipped hour the period begins at the switch; when it occurs twice, at the
    first occurrence.
    """
    now = _aware(now, "now").astimezone(UTC)
    if in_discount_period(now.astimezone(tz), config):
        return now
    h, m = config.cheap_start
    today = now.astimezone(tz).date()
    # Whether local time is in the period changes only where the wall clock reaches the start
    # or stop time, or jumps (DST). So the answer is one of those instants: try them all.
    candidates: list[datetime] = []
    for offset in range(-1, 4):
        day = today + timedelta(days=offset)
        for fold in (0, 1):
            local = datetime.combine(day, time(h, m), tzinfo=tz).replace(fold=fold)
            candidates.append(local.astimezone(UTC))
        candidates.extend(_transitions_on(day, tz))
    good = [c for c in candidates if c >= now and in_discount_period(c.astimezone(tz), config)]
    if not good:  # pragma: no cover - a non-empty window recurs at least every other day
        raise AssertionError("no discount period within three days")
    return min(good)


# -- eligibility, expiry ----------------------------------------------------------------------


def expires_at(job: Job, config: ServerConfig) -> datetime:
    """When DirtyDays runs out for ``job``: ``dirty_days`` after submission."""
    return _aware(job.submitted_at, "submitted_at") + timedelta(days=config.dirty_days)


def eligible_at(job: Job, config: ServerConfig, now: datetime, tz: tzinfo) -> datetime | None:
    """The earliest instant >= ``now`` at which ``job`` may be dialled; exactly ``now`` when
    it may be dialled now. None when it never will be without someone acting: not a SEND job,
    not in a dispatchable state (paused, running, final, ...).

    Constraints combine: not before ``next_attempt_at`` (the retry delay), not before
    ``schedule_time`` (SPECIFIC_TIME; a missing time means now), and inside the discount
    period (DISCOUNT_PERIOD). Neither DirtyDays nor PauseServerQueue is considered here.
    """
    now = _aware(now, "now").astimezone(UTC)
    if job.job_type is not JobType.SEND or job.queue_status not in DISPATCHABLE:
        return None
    t = now
    if job.next_attempt_at is not None:
        t = max(t, _aware(job.next_attempt_at, "next_attempt_at").astimezone(UTC))
    if job.schedule_action is ScheduleAction.SPECIFIC_TIME and job.schedule_time is not None:
        t = max(t, _aware(job.schedule_time, "schedule_time").astimezone(UTC))
    if job.schedule_action is ScheduleAction.DISCOUNT_PERIOD:
        t = next_discount_start(t, config, tz)
    return t


def expire_transition(job: Job, config: ServerConfig, now: datetime) -> JobTransition:
    """What an :class:`Expire` does to ``job``: FAILED, "expired after N days"."""
    days = config.dirty_days
    return JobTransition(
        trigger=Trigger.EXPIRE,
        next_attempt_at=None,
        attempts=job.attempts,
        last_failure=job.last_failure,
        status_text=f"expired after {days} day{'s' if days != 1 else ''} in the queue",
        completed_at=_aware(now, "now"),
        pages_done=job.pages_done,
    )


# -- the plan ---------------------------------------------------------------------------------


def _job_order(job: Job) -> tuple[int, datetime, int]:
    return (-int(job.priority), job.submitted_at, job.job_id)


_ALL_ROUTE = Route(DEFAULT_RULE, None)


def _no_line_text(route: Route) -> str:
    return f"no line: no device of the outgoing route {route.describe()} can send"


def plan(
    now: datetime,
    jobs: Sequence[Job],
    devices: Sequence[DeviceView],
    config: ServerConfig,
    tz: tzinfo,
    routes: OutboundTable | None = None,
    *,
    elsewhere: bool = False,
) -> Plan:
    """Decide what to do at ``now`` given every unfinished job and every device.

    ``jobs`` must include the IN_PROGRESS ones (their numbers are busy). The result dispatches
    each chosen job to a distinct idle send-capable device, never two jobs to one canonical
    number and never to a number on a call, and expires jobs past DirtyDays (an expired job is
    not dispatched). ``next_wakeup`` is the earliest instant after ``now`` at which a job not
    dispatched now becomes eligible or expires (eligibility is ignored while the queue is
    paused: un-pausing is a configuration change, after which the runtime plans again).

    With ``routes`` (the outgoing routing table), a job is dispatched only to the first idle
    device of its route, in the route's order, and a job whose route has no send-capable
    device at all is listed in ``no_line`` (unless it already says so).

    ``elsewhere``: other live nodes share the queue, with lines not in ``devices`` (a line
    here dials its own number only for a route that has no line on another node).
    """
    now = _aware(now, "now").astimezone(UTC)
    free = sorted(
        (d for d in devices if d.can_send and d.idle), key=lambda d: (d.priority, d.device_id)
    )
    paused = config.pause_server_queue
    dirty = timedelta(days=config.dirty_days)
    sendable = {d.device_id for d in devices if d.can_send}
    #: The own numbers of the lines that may send (none: nothing to avoid, no cost).
    own_keys = {d.device_id: d.own_key for d in devices if d.can_send and d.own_key}

    def route_of(job: Job) -> Route:
        assert routes is not None
        return routes.route(job.recipient_number)  # memoized by the table

    no_line: list[NoLine] = []
    line_back: list[int] = []
    lines_of: dict[tuple[int, ...] | None, bool] = {}  # a route's devices -> any can send
    # The runtime plans after every submission, over the whole queue: keep the pass over
    # every job cheap (no sort, no number canonicalisation) and sort only the jobs that
    # could be dialled right now, when there is a line to dial them on.
    expired: list[Job] = []
    ready: list[tuple[Job, datetime]] = []  # eligible now: (job, expiry)
    soonest: datetime | None = None
    for job in jobs:
        if job.job_type is not JobType.SEND or job.queue_status not in EXPIRABLE:
            continue
        submitted = job.submitted_at
        if submitted.tzinfo is not UTC:
            submitted = _aware(submitted, "submitted_at").astimezone(UTC)
        expiry = submitted + dirty
        if expiry <= now:
            expired.append(job)
            continue
        if paused:
            when = None
        elif job.next_attempt_at is None and job.schedule_action is ScheduleAction.NOW:
            # eligible_at's answer for the common case, without its checks per job.
            when = now if job.queue_status in DISPATCHABLE else None
        else:
            when = eligible_at(job, config, now, tz)
        usable = True
        if routes is not None and when is not None and when <= now:
            # Only the default rule to All devices (most servers): no lookup per job.
            route = _ALL_ROUTE if routes.trivial else route_of(job)
            usable = lines_of.get(route.devices)  # type: ignore[assignment]
            if usable is None:
                devs = route.devices
                usable = lines_of[devs] = bool(
                    sendable if devs is None else sendable.intersection(devs)
                )
            if not usable:
                text = _no_line_text(route)
                if job.queue_status is not QueueStatus.NO_LINE or job.status_text != text:
                    no_line.append(NoLine(job.job_id, text))
            elif job.queue_status is QueueStatus.NO_LINE:
                line_back.append(job.job_id)
        if usable and when is not None and when <= now and free:
            ready.append((job, expiry))
            continue
        # Not dispatched. Waiting on a device or on the number needs no wake-up time: the
        # end of a call or an idle device makes the runtime plan again.
        if soonest is None or expiry < soonest:
            soonest = expiry
        if when is not None and now < when < soonest:
            soonest = when
    dispatch: list[Dispatch] = []
    if ready:
        busy_numbers = {
            number_key(j.recipient_number)
            for j in jobs
            if j.queue_status is QueueStatus.IN_PROGRESS and j.job_type is JobType.SEND
        }
        ready.sort(key=lambda pair: _job_order(pair[0]))
        for job, expiry in ready:
            if free:
                # The route first: a job whose lines are all busy costs no canonicalisation.
                route = _ALL_ROUTE if routes is None or routes.trivial else route_of(job)
                index = 0 if route.devices is None else _first_idle(route, free)
                if index is not None:
                    key = number_key(job.recipient_number)
                    itself = False
                    if own_keys and free[index].own_key == key:
                        # That line would dial itself: another free line of the route, or
                        # wait for one; itself only when no other line could ever send it.
                        other = _first_idle(route, free, avoid=key)
                        if other is not None:
                            index = other
                        elif _other_sender(route, sendable, own_keys, key) or (
                            elsewhere and _on_other_nodes(route, devices)
                        ):
                            index = None
                        else:
                            itself = True
                    if index is not None and key not in busy_numbers:
                        busy_numbers.add(key)
                        device_id = free.pop(index).device_id
                        dispatch.append(Dispatch(job.job_id, device_id, itself))
                        continue
            if soonest is None or expiry < soonest:
                soonest = expiry
    expired.sort(key=_job_order)
    dispatched = {d.job_id for d in dispatch}
    return Plan(
        tuple(dispatch),
        tuple(Expire(j.job_id) for j in expired),
        soonest,
        tuple(no_line),
        tuple(j for j in line_back if j not in dispatched),
    )


def _first_idle(
    route: Route, free: Sequence[DeviceView], *, avoid: str | None = None
) -> int | None:
    """Index in ``free`` (ranked by priority) of the device the route dials on: the first
    free one in the route's order (with ``avoid``, the first whose own number is not that
    one); None when every such device of the route is busy."""
    if route.devices is None:
        return next((i for i, d in enumerate(free) if avoid is None or d.own_key != avoid), None)
    where = {d.device_id: i for i, d in enumerate(free) if avoid is None or d.own_key != avoid}
    for device_id in route.devices:
        if device_id in where:
            return where[device_id]
    return None


def _on_other_nodes(route: Route, devices: Sequence[DeviceView]) -> bool:
    """Whether ``route`` may have lines on other nodes than the one whose ``devices`` these
    are: All devices, or a device of another node."""
    if route.devices is None:
        return True
    here = {node_of_device(d.device_id) for d in devices}
    return any(node_of_device(device_id) not in here for device_id in route.devices)


def _other_sender(
    route: Route, sendable: set[int], own_keys: Mapping[int, str | None], key: str
) -> bool:
    """Whether a line of ``route`` that may send, busy or not, has another number than
    ``key`` (the job may wait for it instead of a line dialling itself)."""
    lines = sendable if route.devices is None else sendable.intersection(route.devices)
    return any(own_keys.get(device_id) != key for device_id in lines)


def dispatch_changes(job: Job, device_id: int, now: datetime) -> JobPatch:
    """The fields that record a :class:`Dispatch` with :attr:`Trigger.DISPATCH` (which leads
    to IN_PROGRESS), written before the call starts. ``attempts`` is *not* increased here: it
    counts calls made and is advanced by :func:`after_attempt` when the call's outcome is
    known (after a crash, the runtime reports an IN_PROGRESS job's call as failed, which
    counts it)."""
    return JobPatch(device_id=device_id, started_at=_aware(now, "now"), next_attempt_at=None)


# -- after a call -----------------------------------------------------------------------------

_FAILURE_TEXT: Mapping[FailureClass, str] = {
    FailureClass.BUSY: "the line was busy",
    FailureClass.NO_ANSWER: "no answer",
    FailureClass.BAD_ADDRESS: "the number is not valid",
    FailureClass.NO_DIAL_TONE: "no dial tone",
    FailureClass.DISCONNECTED: "the call was disconnected",
    FailureClass.FATAL: "the call failed",
    FailureClass.NOT_FAX: "the far end is not a fax machine",
    FailureClass.LINE_UNAVAILABLE: "the line was unavailable",
    FailureClass.ABORTED: "the call was aborted",
}


def job_retries(job: Job, config: ServerConfig) -> tuple[int, int]:
    """``(retries, retry delay in minutes)`` for ``job``: its own (``extra["retries"]``,
    ``extra["retry_delay"]``, set by an IPP print job's number-of-retries/retry-interval)
    or the server's Retries and RetryDelay."""
    retries, delay = job.extra.get("retries"), job.extra.get("retry_delay")
    ok = isinstance(retries, int) and not isinstance(retries, bool) and 0 <= retries <= 99
    ok_delay = isinstance(delay, int) and not isinstance(delay, bool) and 0 <= delay <= 1440
    return (
        retries if ok else config.retries,  # type: ignore[return-value]
        delay if ok_delay else config.retry_delay,  # type: ignore[return-value]
    )


def after_attempt(
    job: Job,
    outcome: FailureClass | None,
    config: ServerConfig,
    now: datetime,
    *,
    pages_done: int = 0,
) -> JobTransition:
    """What ``job`` becomes after a call that ended with ``outcome`` (None: delivered).

    ``job.attempts`` is the number of calls made before this one; the result counts this one.
    Delivered -> COMPLETED. Permanent failure -> FAILED at once. Transient failure ->
    RETRYING with ``next_attempt_at = now + RetryDelay`` while ``attempts <= Retries`` (so at
    most ``Retries + 1`` calls in all), else RETRIES_EXCEEDED.
    """
    now = _aware(now, "now")
    attempts = job.attempts + 1
    calls = f"{attempts} call{'s' if attempts != 1 else ''}"
    if outcome is None:
        return JobTransition(Trigger.DELIVER, None, attempts, None, "sent", now, pages_done)
    reason = _FAILURE_TEXT.get(outcome, outcome.value)
    if outcome.permanent:
        return JobTransition(
            Trigger.FAIL, None, attempts, outcome, f"failed: {reason}", now, pages_done
        )
    retries, delay = job_retries(job, config)
    if attempts <= retries:
        return JobTransition(
            Trigger.RETRY,
            now + timedelta(minutes=delay),
            attempts,
            outcome,
            f"{reason}; will retry in {delay} min ({calls} made)",
            None,
            pages_done,
        )
    return JobTransition(
        Trigger.GIVE_UP,
        None,
        attempts,
        outcome,
        f"{reason}; gave up after {calls}",
        now,
        pages_done,
    )
