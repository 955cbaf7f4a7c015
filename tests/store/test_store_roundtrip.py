"""Every Job field survives the store unchanged, on both backends (hypothesis over Job values)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lanfax.model.codes import (
    DeliveryReportType,
    DeviceStatus,
    FailureClass,
    JobType,
    Priority,
    QueueStatus,
    ScheduleAction,
)
from lanfax.model.jobs import CoverPageInfo, Job
from lanfax.model.transitions import APPLIES_TO, TRANSITIONS, JobPatch, Trigger, sources
from lanfax.store import JobChange
from lanfax.store.sql import SqlStore

ZONES = [
    UTC,
    ZoneInfo("Europe/Berlin"),
    ZoneInfo("America/St_Johns"),
    timezone(timedelta(hours=13)),
]
text = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"]), max_size=40)
when = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.sampled_from(ZONES)
)
maybe_when = st.none() | when
int32 = st.integers(0, 2**31 - 1)
int64 = st.integers(-(2**63), 2**63 - 1)
json_scalar = (
    st.none() | st.booleans() | int64 | st.floats(allow_nan=False, allow_infinity=False) | text
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)

covers = st.builds(
    CoverPageInfo,
    **{
        f.name: (maybe_when if f.name == "time_sent" else st.booleans() if f.type == "bool"
                 else int32 if f.type == "int" else text)
        for f in dataclasses.fields(CoverPageInfo)
    },
)  # fmt: skip

JOB_STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "job_id": st.just(0),
    "job_type": st.sampled_from(JobType),
    "queue_status": st.sampled_from(QueueStatus),
    "submitted_at": when,
    "device_status": st.sampled_from(DeviceStatus),
    "size": st.integers(0, 2**63 - 1),
    "schedule_action": st.sampled_from(ScheduleAction),
    "schedule_time": maybe_when,
    "delivery_report_type": st.sampled_from(DeliveryReportType),
    "priority": st.sampled_from(Priority),
    "cover_page": st.none() | covers,
    "next_attempt_at": maybe_when,
    "started_at": maybe_when,
    "completed_at": maybe_when,
    "device_id": st.none() | int64,
    "last_failure": st.none() | st.sampled_from(FailureClass),
    "ecm": st.booleans(),
    "extra": st.dictionaries(text, json_value, max_size=5),
}
for _f in dataclasses.fields(Job):
    if _f.name not in JOB_STRATEGIES:
        JOB_STRATEGIES[_f.name] = int32 if _f.type == "int" else text
jobs = st.builds(Job, **JOB_STRATEGIES)


def _times(job: Job) -> list[datetime]:
    out = [getattr(job, n) for n in ("submitted_at", "schedule_time", "next_attempt_at",
                                     "started_at", "completed_at")]  # fmt: skip
    if job.cover_page is not None:
        out.append(job.cover_page.time_sent)
    return [t for t in out if t is not None]


def _in_utc(job: Job) -> Job:
    """``job`` with every datetime converted to UTC: the store hands back the same instant in
    UTC. (Comparing across zones directly is wrong for times in a DST gap or fold: PEP 495
    makes those unequal to every datetime in another zone.)"""

    def utc(t: datetime | None) -> datetime | None:
        return None if t is None else t.astimezone(UTC)

    cover = job.cover_page
    if cover is not None:
        cover = dataclasses.replace(cover, time_sent=utc(cover.time_sent))
    return job.replace(
        submitted_at=utc(job.submitted_at),
        schedule_time=utc(job.schedule_time),
        next_attempt_at=utc(job.next_attempt_at),
        started_at=utc(job.started_at),
        completed_at=utc(job.completed_at),
        cover_page=cover,
    )


def test_every_field_is_covered() -> None:
    assert set(JOB_STRATEGIES) == {f.name for f in dataclasses.fields(Job)}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(job=jobs, other=jobs, data=st.data())
def test_job_round_trips(store: SqlStore, job: Job, other: Job, data: st.DataObject) -> None:
    (added,) = store.add_jobs([job])
    back = store.get_job(added.job_id)
    assert back == added == _in_utc(job.replace(job_id=added.job_id))
    assert back is not None
    for t in _times(back):
        assert t.tzinfo is UTC  # handed back as UTC, whatever zone it was given in
    # An update that rewrites every field round-trips too: the queue state through a trigger
    # that may fire where the job is (the transitions table, for a job of its kind), every
    # other field by the patch.
    trigger = data.draw(st.sampled_from(Trigger))
    start = data.draw(st.sampled_from(sorted(sources(trigger))))
    kind = data.draw(st.sampled_from(sorted(APPLIES_TO[trigger])))
    (mover,) = store.add_jobs([job.replace(queue_status=start, job_type=kind)])
    changes = {
        f.name: getattr(other, f.name)
        for f in dataclasses.fields(Job)
        if f.name not in ("job_id", "queue_status")
    }
    (changed,), _ = store.update_jobs([JobChange(mover.job_id, trigger, JobPatch.of(changes))])
    want = other.replace(job_id=mover.job_id, queue_status=TRANSITIONS[start][trigger])
    assert store.get_job(mover.job_id) == changed == _in_utc(want)


@settings(max_examples=200, deadline=None)
@given(job=jobs, job_id=st.integers(1, 2**40), loose=st.booleans())
def test_the_added_job_is_what_reading_its_row_gives(job: Job, job_id: int, loose: bool) -> None:
    """#19: an insert hands its jobs back by :func:`codec.stored_job`, which keeps the
    job's own values where they are already canonical: it must equal, field by field and
    type by type, what :func:`codec.row_to_job` makes of the row (``loose``: enums and
    bools given as plain ints, as a caller may), and never share the caller's extra."""
    from lanfax.store import codec

    if loose:
        job = job.replace(job_type=int(job.job_type), priority=int(job.priority), ecm=int(job.ecm))
    row = codec.job_to_row(job)
    want = codec.row_to_job({"job_id": job_id, **row})
    got = codec.stored_job(job, job_id, row)
    assert got == want and repr(got) == repr(want)
    for f in dataclasses.fields(Job):
        assert type(getattr(got, f.name)) is type(getattr(want, f.name)), f.name
    assert got.extra is not job.extra
