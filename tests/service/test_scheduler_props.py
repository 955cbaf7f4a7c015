"""Property tests for the scheduler core (hypothesis).

The simulation drives the scheduler the way the service's runtime does: plan, record the
dispatches and expiries, end some calls with random outcomes, move the clock (to the plan's
``next_wakeup`` when nothing is running), and plan again. Every plan is checked against the
rules, computed here independently of the scheduler's own code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from random import Random
from zoneinfo import ZoneInfo

from hypothesis import event, given, settings
from hypothesis import strategies as st

from lanfax.model.codes import FailureClass, JobType, Priority, QueueStatus, ScheduleAction
from lanfax.model.config import ServerConfig
from lanfax.model.jobs import Job
from lanfax.service.scheduler import (
    DeviceView,
    Plan,
    after_attempt,
    canonical_number,
    eligible_at,
    expire_transition,
    in_discount_period,
    next_discount_start,
    own_key,
    plan,
)

BERLIN = ZoneInfo("Europe/Berlin")
ZONES: list[ZoneInfo] = [
    BERLIN,
    ZoneInfo("America/New_York"),
    ZoneInfo("Australia/Lord_Howe"),
    ZoneInfo("UTC"),
]
WAITING = {QueueStatus.PENDING, QueueStatus.RETRYING, QueueStatus.NO_LINE}
# Different spellings of three numbers: the scheduler must see through the formatting.
NUMBERS = ["+49 30 1111", "+49301111", "030-2222", "030 2222", "(030) 3333", "0303333", "4444"]
hhmm = st.builds(
    lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 15, 30, 59])
)
instants = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
)


# -- numbers and discount period ---------------------------------------------------------------


@given(
    digits=st.text("0123456789", min_size=1, max_size=15),
    plus=st.booleans(),
    noise=st.lists(st.sampled_from([" ", "-", ".", "(", ")", "/"]), max_size=6),
    data=st.data(),
)
def test_formatting_never_changes_the_canonical_number(
    digits: str, plus: bool, noise: list[str], data: st.DataObject
) -> None:
    chars = list(digits)
    for ch in noise:
        chars.insert(data.draw(st.integers(0, len(chars))), ch)
    raw = ("+" if plus else "") + "".join(chars)
    assert canonical_number(raw) == ("+" if plus else "") + digits


@settings(max_examples=150, deadline=None)
@given(now=instants, start=hhmm, stop=hhmm, tz=st.sampled_from(ZONES))
def test_next_discount_start_is_the_first_cheap_instant(
    now: datetime, start: str, stop: str, tz: ZoneInfo
) -> None:
    cfg = ServerConfig().with_changes({"start_cheap_time": start, "stop_cheap_time": stop})
    got = next_discount_start(now, cfg, tz)
    assert got >= now
    assert in_discount_period(got.astimezone(tz), cfg)
    if got > now:
        assert not in_discount_period((got - timedelta(seconds=1)).astimezone(tz), cfg)
        # No cheap minute was skipped between now and the answer.
        t = now
        while t < got:
            assert not in_discount_period(t.astimezone(tz), cfg), (t, got)
            t += timedelta(minutes=1)


# -- the simulation ------------------------------------------------------------------------------


@dataclass
class World:
    now: datetime
    config: ServerConfig
    tz: ZoneInfo
    jobs: dict[int, Job]
    devices: list[DeviceView]
    running: dict[int, int] = field(default_factory=dict)  # device_id -> job_id
    age: dict[int, int] = field(default_factory=dict)  # device_id -> plans since dispatch
    dispatches: dict[int, int] = field(default_factory=dict)  # job_id -> calls started

    def views(self) -> list[DeviceView]:
        return [
            DeviceView(d.device_id, d.can_send, d.device_id not in self.running, d.priority)
            for d in self.devices
        ]


@st.composite
def worlds(draw: st.DrawFn) -> World:
    start = draw(instants)
    config = ServerConfig().with_changes(
        {
            "retries": draw(st.integers(0, 3)),
            "retry_delay": draw(st.sampled_from([0, 1, 10, 90])),
            "dirty_days": draw(st.integers(1, 3)),
            "start_cheap_time": draw(hhmm),
            "stop_cheap_time": draw(hhmm),
            "pause_server_queue": draw(st.booleans()) and draw(st.booleans()),
        }
    )
    jobs = {}
    for job_id in range(1, draw(st.integers(1, 12)) + 1):
        action = draw(st.sampled_from(ScheduleAction))
        jobs[job_id] = Job(
            job_id=job_id,
            job_type=draw(st.sampled_from([JobType.SEND] * 5 + [JobType.RECEIVE])),
            queue_status=draw(st.sampled_from([QueueStatus.PENDING] * 6 + [QueueStatus.PAUSED])),
            submitted_at=start - timedelta(minutes=draw(st.integers(0, 3000))),
            recipient_number=draw(st.sampled_from(NUMBERS)),
            priority=draw(st.sampled_from(Priority)),
            schedule_action=action,
            schedule_time=(
                start + timedelta(minutes=draw(st.integers(-60, 3000)))
                if action is ScheduleAction.SPECIFIC_TIME
                else None
            ),
        )
    devices = [
        DeviceView(i, draw(st.booleans()) or i == 1, True, draw(st.integers(0, 3)))
        for i in range(1, draw(st.integers(1, 3)) + 1)
    ]
    return World(start, config, draw(st.sampled_from(ZONES)), jobs, devices)


def order(job: Job) -> tuple[int, datetime, int]:
    return (-int(job.priority), job.submitted_at, job.job_id)


def expired(job: Job, w: World) -> bool:
    return job.submitted_at + timedelta(days=w.config.dirty_days) <= w.now


def check_plan(w: World, p: Plan) -> None:
    jobs = w.jobs
    free = {d.device_id for d in w.views() if d.can_send and d.idle}
    busy = {
        canonical_number(j.recipient_number)
        for j in jobs.values()
        if j.queue_status is QueueStatus.IN_PROGRESS
    }
    # Expiry: exactly the waiting or paused SEND jobs past DirtyDays, paused queue or not.
    want_expired = {
        j.job_id
        for j in jobs.values()
        if j.job_type is JobType.SEND
        and j.queue_status in WAITING | {QueueStatus.PAUSED}
        and expired(j, w)
    }
    assert {e.job_id for e in p.expire} == want_expired
    if w.config.pause_server_queue:
        assert p.dispatch == ()
    chosen = [jobs[d.job_id] for d in p.dispatch]
    assert len({d.job_id for d in p.dispatch}) == len(p.dispatch)
    assert len({d.device_id for d in p.dispatch}) == len(p.dispatch)
    assert {d.device_id for d in p.dispatch} <= free
    keys = [canonical_number(j.recipient_number) for j in chosen]
    assert len(set(keys)) == len(keys), "two calls to one number"
    assert not set(keys) & busy, "a call to a number already on a call"
    for j in chosen:
        assert j.job_type is JobType.SEND and j.queue_status in WAITING
        assert not expired(j, w)
        assert eligible_at(j, w.config, w.now, w.tz) == w.now
        assert j.last_failure is None or not j.last_failure.permanent
        assert w.dispatches.get(j.job_id, 0) <= w.config.retries, "retries exceeded"
    # Devices: the best-ranked free devices are the ones used.
    ranked = sorted(
        (d for d in w.views() if d.device_id in free), key=lambda d: (d.priority, d.device_id)
    )
    assert [d.device_id for d in p.dispatch] == [d.device_id for d in ranked[: len(p.dispatch)]]
    # No starvation, priorities: an eligible job left waiting with its number free means the
    # devices ran out on jobs ranked before it; a job waiting on a number dispatched in this
    # plan was outranked by the job calling that number.
    if w.config.pause_server_queue:
        return
    for j in jobs.values():
        if j.job_id in {d.job_id for d in p.dispatch} or j.job_id in want_expired:
            continue
        if eligible_at(j, w.config, w.now, w.tz) != w.now:
            continue
        key = canonical_number(j.recipient_number)
        if key in busy:
            continue
        if key in keys:
            assert order(chosen[keys.index(key)]) < order(j)
            continue
        assert len(p.dispatch) == len(free), f"job {j.job_id} starved with a device free"
        assert all(order(c) < order(j) for c in chosen), "a lower-ranked job went first"


def check_wakeup(w: World, p: Plan) -> None:
    dispatched = {d.job_id for d in p.dispatch} | {e.job_id for e in p.expire}
    future: list[datetime] = []
    for j in w.jobs.values():
        if j.job_id in dispatched or j.job_type is not JobType.SEND:
            continue
        if j.queue_status in WAITING | {QueueStatus.PAUSED}:
            future.append(j.submitted_at + timedelta(days=w.config.dirty_days))
        t = eligible_at(j, w.config, w.now, w.tz)
        if t is not None and t > w.now and not w.config.pause_server_queue:
            future.append(t)
    if p.next_wakeup is None:
        assert not future, "a future eligibility or expiry has no wake-up"
    else:
        assert p.next_wakeup > w.now and p.next_wakeup == min(future)


def end_call(w: World, device_id: int, outcome: FailureClass | None) -> None:
    job_id = w.running.pop(device_id)
    w.age.pop(device_id)
    job = w.jobs[job_id]
    t = after_attempt(job, outcome, w.config, w.now)
    assert t.attempts == job.attempts + 1 == w.dispatches[job_id]
    assert t.attempts <= w.config.retries + 1
    if outcome is None:
        assert t.queue_status is QueueStatus.COMPLETED
    elif outcome.permanent:
        assert t.queue_status is QueueStatus.FAILED, "a permanent failure must not be retried"
    elif t.attempts <= w.config.retries:
        assert t.queue_status is QueueStatus.RETRYING
        assert t.next_attempt_at == w.now + timedelta(minutes=w.config.retry_delay)
    else:
        assert t.queue_status is QueueStatus.RETRIES_EXCEEDED
    w.jobs[job_id] = job.replace(device_id=None, **t.changes())


@settings(max_examples=200, deadline=None)
@given(world=worlds(), data=st.data())
def test_simulated_queue_obeys_every_rule(world: World, data: st.DataObject) -> None:
    w = world
    toggles = 0
    for _ in range(400):
        p = plan(w.now, list(w.jobs.values()), w.views(), w.config, w.tz)
        check_plan(w, p)
        check_wakeup(w, p)
        for e in p.expire:
            w.jobs[e.job_id] = w.jobs[e.job_id].replace(
                **expire_transition(w.jobs[e.job_id], w.config, w.now).changes()
            )
        for d in p.dispatch:
            assert d.job_id not in w.running.values(), "dispatched twice concurrently"
            w.running[d.device_id] = d.job_id
            w.age[d.device_id] = 0
            w.dispatches[d.job_id] = w.dispatches.get(d.job_id, 0) + 1
            w.jobs[d.job_id] = w.jobs[d.job_id].replace(
                queue_status=QueueStatus.IN_PROGRESS, device_id=d.device_id
            )
        ended = False
        for device_id in sorted(w.running):
            w.age[device_id] += 1
            # A call lasts at most three rounds, so the simulation always moves on.
            if w.age[device_id] > 3 or data.draw(st.booleans(), label="call ends"):
                outcome = data.draw(st.none() | st.sampled_from(FailureClass), label="outcome")
                end_call(w, device_id, outcome)
                ended = True
        if toggles < 4 and data.draw(st.integers(0, 15), label="toggle pause") == 0:
            toggles += 1
            w.config = w.config.with_changes(
                {"pause_server_queue": not w.config.pause_server_queue}
            )
            continue  # a configuration change: plan again at once
        if ended and not w.running:
            continue  # the end of a call: plan again at once
        if w.running:
            w.now += timedelta(minutes=data.draw(st.integers(0, 120), label="call time"))
        elif p.dispatch or p.expire:
            continue  # something changed: plan again at once
        elif p.next_wakeup is not None:
            w.now = p.next_wakeup
        else:
            break
    else:
        raise AssertionError("the simulation did not settle")
    calls = sum(w.dispatches.values())
    event(f"calls: {'0' if not calls else '1-3' if calls < 4 else '4-9' if calls < 10 else '10+'}")
    event(f"retried: {any(n > 1 for n in w.dispatches.values())}")
    # Settled: nothing runs and nothing will ever become eligible or expire, so every SEND job
    # that was waiting is now final (sent, failed, exceeded or expired).
    for j in w.jobs.values():
        if j.job_type is JobType.SEND:
            assert j.queue_status.is_final, j


@settings(max_examples=150, deadline=None)
@given(world=worlds(), rnd=st.randoms(use_true_random=False))
def test_the_plan_does_not_depend_on_the_order_of_the_jobs(world: World, rnd: Random) -> None:
    """plan() sorts only the jobs it could dial now (it runs after every submission, over
    the whole queue): the answer must still be the same for any order of its input."""
    jobs = list(world.jobs.values())
    first = plan(world.now, jobs, world.views(), world.config, world.tz)
    rnd.shuffle(jobs)
    assert plan(world.now, jobs, world.views(), world.config, world.tz) == first


# -- lines with numbers of their own: never dial yourself while another line could ----------

LINE_NUMBERS = [None, "0303333", "(030) 3333", "4444", "030 2222"]


@given(
    numbers=st.lists(st.sampled_from(NUMBERS), min_size=1, max_size=8),
    lines=st.lists(
        st.tuples(st.sampled_from(LINE_NUMBERS), st.booleans(), st.booleans()),
        min_size=1,
        max_size=4,
    ),
)
@settings(max_examples=300, deadline=None)
def test_a_line_dials_its_own_number_only_when_no_other_line_may_send(
    numbers: list[str], lines: list[tuple[str | None, bool, bool]]
) -> None:
    now = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    jobs = [
        Job(
            job_id=i,
            job_type=JobType.SEND,
            queue_status=QueueStatus.PENDING,
            submitted_at=now,
            recipient_number=n,
        )
        for i, n in enumerate(numbers, 1)
    ]
    devices = [
        DeviceView(i, can_send, idle, 1, own_key(n) if n else None)
        for i, (n, can_send, idle) in enumerate(lines, 1)
    ]
    by_id = {d.device_id: d for d in devices}
    p = plan(now, jobs, devices, ServerConfig(), BERLIN)
    free = {d.device_id for d in devices if d.can_send and d.idle}
    assert len({d.device_id for d in p.dispatch}) == len(p.dispatch) <= len(free)
    keys = [canonical_number(jobs[d.job_id - 1].recipient_number) for d in p.dispatch]
    assert len(set(keys)) == len(keys), "two calls to one number"
    for d, key in zip(p.dispatch, keys, strict=True):
        line = by_id[d.device_id]
        assert line.device_id in free
        others = [x for x in devices if x.can_send and x.own_key != key]
        assert d.dials_itself is (line.own_key == key)
        assert not d.dials_itself or not others, "dialled itself though another line could"
    # A job is left waiting only with a reason: its number taken in this plan, or no free
    # line left but its own number's (it then waits for another line that may send it).
    used = {d.device_id for d in p.dispatch}
    dispatched = {d.job_id for d in p.dispatch}
    for j in jobs:
        key = canonical_number(j.recipient_number)
        if j.job_id in dispatched or key in keys:
            continue
        idle_other = [x for x in free - used if by_id[x].own_key != key]
        assert not idle_other, "a free line of another number was left idle"
        if free - used:  # only lines of its own number are free: another may send it
            assert any(x.can_send and x.own_key != key for x in devices)
