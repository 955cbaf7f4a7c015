"""Outgoing routing: which rule a number falls under, and the scheduler's device choice.

The matching is checked case by case; the scheduler's use of it by a clock-injected
simulation (as in test_scheduler_props.py): plan, start the dispatched calls, end some, move
the clock, plan again, and check every plan against the routing rules computed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lanfax.model.codes import JobType, QueueStatus
from lanfax.model.config import ServerConfig
from lanfax.model.errors import InvalidInput
from lanfax.model.jobs import Job
from lanfax.service.dialing import DialingRules
from lanfax.service.numbers import number_key
from lanfax.service.outbound import (
    ALL_DEVICES,
    ANY,
    OutboundGroup,
    OutboundRule,
    OutboundTable,
    check_code,
)
from lanfax.service.scheduler import DeviceView, Plan, after_attempt, plan

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
CFG = ServerConfig()
BERLIN_SITE = DialingRules(country_code="49", area_code="30")


def job(job_id: int, number: str, **kw: object) -> Job:
    return Job(
        job_id=job_id,
        job_type=JobType.SEND,
        queue_status=kw.pop("status", QueueStatus.PENDING),  # type: ignore[arg-type]
        submitted_at=T0 + timedelta(seconds=job_id),
        recipient_number=number,
        **kw,  # type: ignore[arg-type]
    )


def dev(device_id: int, *, idle: bool = True, can_send: bool = True, prio: int = 1) -> DeviceView:
    return DeviceView(device_id, can_send, idle, prio)


# -- which rule ---------------------------------------------------------------------------------


TABLE = OutboundTable.build(
    [OutboundGroup("Berlin", (3, 2)), OutboundGroup("Empty"), OutboundGroup("UK", (4,))],
    [
        OutboundRule("49", ANY, group="UK"),
        OutboundRule("49", "30", group="Berlin"),
        OutboundRule("49", "40", group="Empty"),  # inactive: falls back to +49 (all areas)
        OutboundRule("1", ANY, device=2),
        OutboundRule("1242", ANY, device=3),  # the Bahamas: longer code wins over "1"
    ],
    BERLIN_SITE,
)


@pytest.mark.parametrize(
    ("number", "country", "area", "devices"),
    [
        ("+49 30 1234567", "49", "30", (3, 2)),
        ("030 1234567", "49", "30", (3, 2)),  # national form, site in Germany
        ("1234567", "49", "30", (3, 2)),  # local: the site's own area (Berlin)
        ("0049 30 1234567", "49", "30", (3, 2)),  # international prefix
        ("+49 40 1234567", "49", ANY, (4,)),  # the 40 rule's group is empty: inactive
        ("+49 89 1234567", "49", ANY, (4,)),
        ("+1 212 5550100", "1", ANY, (2,)),
        ("+1 242 5550100", "1242", ANY, (3,)),
        ("+44 20 79460000", ANY, ANY, None),  # no rule for the UK: All devices
        ("101", ANY, ANY, None),  # an internal extension has no country
        ("*30", ANY, ANY, None),  # a service code neither
    ],
)
def test_most_specific_active_rule_wins(
    number: str, country: str, area: str, devices: tuple[int, ...] | None
) -> None:
    route = TABLE.route(number)
    assert (route.rule.country_code, route.rule.area_code) == (country, area)
    assert route.devices == devices


def test_numbers_have_no_country_without_the_site_country() -> None:
    table = OutboundTable.build(rules=[OutboundRule("49", ANY, device=1)])
    assert table.route("+49301234").rule.country_code == "49"
    # Without [dialing] country_code a national number cannot be placed: all countries.
    assert table.route("0301234567").rule.is_default
    assert table.country_digits("0301234567") is None
    assert table.country_digits("+49301234") == "49301234"


def test_default_rule_can_point_elsewhere_and_an_empty_default_group_means_no_line() -> None:
    table = OutboundTable.build(
        [OutboundGroup("Nothing")], [OutboundRule(ANY, ANY, group="Nothing")]
    )
    route = table.route("+33 1 23456789")
    assert route.rule.is_default and route.devices == ()
    p = plan(T0, [job(1, "+33123456789")], [dev(1), dev(2)], CFG, UTC, table)
    assert p.dispatch == ()
    assert [n.job_id for n in p.no_line] == [1]


@pytest.mark.parametrize(
    ("value", "name", "ok"),
    [
        ("49", "country_code", "49"),
        ("+49", "country_code", "49"),
        (49, "country_code", "49"),
        ("*", "country_code", ANY),
        ("all", "area_code", ANY),
        ("0", "country_code", None),
        ("1234", "country_code", None),
        ("4x", "country_code", None),
        ("030", "area_code", "030"),
        ("12345678", "area_code", None),
        (True, "area_code", None),
    ],
)
def test_codes_are_checked(value: object, name: str, ok: str | None) -> None:
    if ok is not None:
        assert check_code(value, name) == ok
        return
    with pytest.raises(InvalidInput) as info:
        check_code(value, name)
    assert info.value.detail["field"] == name
    assert info.value.message.startswith(name)


# -- the scheduler's choice -------------------------------------------------------------------


def test_job_waits_for_its_group_even_with_other_devices_idle() -> None:
    table = OutboundTable.build(
        [OutboundGroup("Berlin", (3, 2))], [OutboundRule("49", "30", group="Berlin")], BERLIN_SITE
    )
    jobs = [job(1, "+49301111"), job(2, "+44201111")]
    # Devices 3 and 2 busy: job 1 waits although 1 and 4 are idle; job 2 is not held up.
    p = plan(T0, jobs, [dev(1), dev(2, idle=False), dev(3, idle=False), dev(4)], CFG, UTC, table)
    assert [(d.job_id, d.device_id) for d in p.dispatch] == [(2, 1)]
    assert p.no_line == ()
    # Device 3 busy, 2 idle: the second in the group's order is used.
    p = plan(T0, jobs[:1], [dev(1), dev(2), dev(3, idle=False)], CFG, UTC, table)
    assert [(d.job_id, d.device_id) for d in p.dispatch] == [(1, 2)]
    # Both idle: the group's order (3 first), not the port priority.
    p = plan(T0, jobs[:1], [dev(1), dev(2, prio=0), dev(3, prio=9)], CFG, UTC, table)
    assert [(d.job_id, d.device_id) for d in p.dispatch] == [(1, 3)]


def test_no_line_when_no_device_of_the_group_can_send() -> None:
    table = OutboundTable.build(
        [OutboundGroup("Fax", (5, 6))], [OutboundRule("49", ANY, group="Fax")], BERLIN_SITE
    )
    devices = [dev(1), dev(5, can_send=False)]  # 6 is gone (its provider was removed)
    p = plan(T0, [job(1, "+49891111")], devices, CFG, UTC, table)
    assert p.dispatch == ()
    (nl,) = p.no_line
    assert nl.job_id == 1 and nl.status_text.startswith("no line")
    # Recorded already: not reported again (no write per plan).
    waiting = job(1, "+49891111", status=QueueStatus.NO_LINE, status_text=nl.status_text)
    assert plan(T0, [waiting], devices, CFG, UTC, table).no_line == ()
    # A device of the group can send again: the NO_LINE job is dialled on it.
    p = plan(T0, [waiting], [dev(1), dev(5)], CFG, UTC, table)
    assert [(d.job_id, d.device_id) for d in p.dispatch] == [(1, 5)]
    # A paused queue or a job not yet due is not "no line": it is not waiting for a line.
    paused = CFG.with_changes({"pause_server_queue": True})
    assert plan(T0, [job(1, "+49891111")], devices, paused, UTC, table).no_line == ()


def test_the_default_table_uses_every_device_and_says_no_line_without_one() -> None:
    table = OutboundTable.build()
    assert table.trivial and not TABLE.trivial
    p = plan(T0, [job(1, "+49301111")], [dev(2), dev(1, prio=0)], CFG, UTC, table)
    assert [(d.job_id, d.device_id) for d in p.dispatch] == [(1, 1)]
    p = plan(T0, [job(1, "+49301111")], [dev(1, can_send=False)], CFG, UTC, table)
    assert p.dispatch == () and [n.job_id for n in p.no_line] == [1]
    assert "all countries -> group 'All devices'" in p.no_line[0].status_text


def test_without_a_table_every_device_serves_every_job() -> None:
    p = plan(T0, [job(1, "+49301111")], [dev(2), dev(1, prio=0)], CFG, UTC, None)
    assert [(d.job_id, d.device_id) for d in p.dispatch] == [(1, 1)]


# -- simulation ---------------------------------------------------------------------------------

NUMBERS = [
    "+49 30 1111",
    "030 2222",
    "3333333",  # local: Berlin
    "+49 40 4444",
    "+49 89 5555",
    "+1 212 6666",
    "+1 242 7777",
    "+44 20 8888",
    "101",
    "*30",
]


@dataclass
class World:
    now: datetime
    table: OutboundTable
    devices: list[DeviceView]
    jobs: dict[int, Job]
    running: dict[int, int] = field(default_factory=dict)  # device -> job
    dialled_on: dict[int, list[int]] = field(default_factory=dict)  # job -> devices
    age: dict[int, int] = field(default_factory=dict)  # device -> rounds on the call

    def views(self) -> list[DeviceView]:
        return [
            DeviceView(d.device_id, d.can_send, d.device_id not in self.running, d.priority)
            for d in self.devices
        ]


@st.composite
def worlds(draw: st.DrawFn) -> World:
    n = draw(st.integers(1, 5))
    devices = [
        DeviceView(i, draw(st.booleans()) or draw(st.booleans()), True, draw(st.integers(1, 3)))
        for i in range(1, n + 1)
    ]
    ids = st.integers(1, n + 1)  # n + 1: a device that is gone
    groups = [
        OutboundGroup(name, tuple(draw(st.lists(ids, max_size=3, unique=True))))
        for name in ("A", "B", "C")
    ]
    targets = st.sampled_from(["A", "B", "C", ALL_DEVICES]).map(lambda g: {"group": g}) | ids.map(
        lambda d: {"device": d}
    )
    rules = []
    for country, area in (
        ("49", ANY),
        ("49", "30"),
        ("49", "40"),
        ("1", ANY),
        ("1242", ANY),
        (ANY, ANY),
    ):
        if draw(st.booleans()):
            rules.append(OutboundRule(country, area, **draw(targets)))
    table = OutboundTable.build(groups, rules, BERLIN_SITE)
    jobs = {
        i: job(i, draw(st.sampled_from(NUMBERS))) for i in range(1, draw(st.integers(1, 10)) + 1)
    }
    return World(T0, table, devices, jobs)


def check(w: World, p: Plan) -> None:
    views = {d.device_id: d for d in w.views()}
    sendable = {d for d, v in views.items() if v.can_send}
    taken: set[int] = set()
    dispatched = {d.job_id: d.device_id for d in p.dispatch}
    for d in p.dispatch:
        route = w.table.route(w.jobs[d.job_id].recipient_number)
        order = (
            [v.device_id for v in sorted(views.values(), key=lambda v: (v.priority, v.device_id))]
            if route.devices is None
            else list(route.devices)
        )
        assert d.device_id in order, f"job {d.job_id} dialled outside its route"
        # Every device before it in the route's order was not free for it.
        for before in order[: order.index(d.device_id)]:
            v = views.get(before)
            assert v is None or not (v.can_send and v.idle) or before in taken
        taken.add(d.device_id)
    busy_numbers = {
        number_key(j.recipient_number)
        for j in w.jobs.values()
        if j.queue_status is QueueStatus.IN_PROGRESS
    }
    # A number dialled in this plan is busy for the jobs ranked after it.
    busy_numbers |= {number_key(w.jobs[j].recipient_number) for j in dispatched}
    no_line = {n.job_id for n in p.no_line}
    for j in w.jobs.values():
        if j.queue_status not in (QueueStatus.PENDING, QueueStatus.RETRYING, QueueStatus.NO_LINE):
            continue
        route = w.table.route(j.recipient_number)
        usable = sendable if route.devices is None else sendable & set(route.devices)
        if not usable:
            assert j.job_id not in dispatched
            assert (j.job_id in no_line) == (j.queue_status is not QueueStatus.NO_LINE)
            continue
        assert j.job_id not in no_line
        # A job that had no line and has one again goes back to pending (unless dialled now).
        wants_back = j.queue_status is QueueStatus.NO_LINE and j.job_id not in dispatched
        assert (j.job_id in p.line_back) == wants_back
        if j.job_id in dispatched or number_key(j.recipient_number) in busy_numbers:
            continue
        # Left waiting with its number free: every usable device of its route was busy
        # or taken by a job dispatched in this plan.
        for d in usable:
            assert not views[d].idle or d in taken, f"job {j.job_id} starved with {d} free"


@settings(max_examples=150, deadline=None)
@given(world=worlds(), data=st.data())
def test_simulated_queue_dials_only_on_the_rules_devices(world: World, data: st.DataObject) -> None:
    w = world
    for _ in range(200):
        p = plan(w.now, list(w.jobs.values()), w.views(), CFG, UTC, w.table)
        check(w, p)
        if not w.running and not p.dispatch and not p.no_line:
            break
        for nl in p.no_line:
            w.jobs[nl.job_id] = w.jobs[nl.job_id].replace(
                queue_status=QueueStatus.NO_LINE, status_text=nl.status_text
            )
        for job_id in p.line_back:
            w.jobs[job_id] = w.jobs[job_id].replace(queue_status=QueueStatus.PENDING)
        for d in p.dispatch:
            w.running[d.device_id] = d.job_id
            w.age[d.device_id] = 0
            w.dialled_on.setdefault(d.job_id, []).append(d.device_id)
            w.jobs[d.job_id] = w.jobs[d.job_id].replace(
                queue_status=QueueStatus.IN_PROGRESS, device_id=d.device_id
            )
        for device_id in sorted(w.running):
            w.age[device_id] += 1
            # A call lasts at most three rounds, so the simulation always moves on.
            if w.age[device_id] > 3 or data.draw(st.booleans(), label="call ends"):
                job_id = w.running.pop(device_id)
                t = after_attempt(w.jobs[job_id], None, CFG, w.now)  # delivered
                w.jobs[job_id] = w.jobs[job_id].replace(device_id=None, **t.changes())
        if data.draw(st.integers(0, 9), label="a device changes") == 0:
            # An administrator toggles a device's send flag: lines go and come back.
            i = data.draw(st.integers(0, len(w.devices) - 1), label="device")
            d = w.devices[i]
            w.devices[i] = DeviceView(d.device_id, not d.can_send, d.idle, d.priority)
        w.now += timedelta(minutes=1)
    else:
        raise AssertionError("the simulation did not settle")
    # Settled: every job was sent or has no line; none was ever dialled outside its route.
    for j in w.jobs.values():
        route = w.table.route(j.recipient_number)
        if route.devices is not None:
            assert set(w.dialled_on.get(j.job_id, [])) <= set(route.devices)
        assert j.queue_status in (QueueStatus.COMPLETED, QueueStatus.NO_LINE), j
