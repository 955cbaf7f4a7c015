"""The wire shape is the contract between server and client: round trips and clear errors."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lanfax.model import (
    CoverPageInfo,
    DeviceStatus,
    FailureClass,
    InvalidInput,
    Job,
    JobParams,
    JobType,
    PortFlags,
    PortInfo,
    Priority,
    QueueStatus,
    ScheduleAction,
)
from lanfax.model.wire import datetime_from_wire, from_wire, to_wire

aware = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
text = st.text(max_size=30)


@st.composite
def jobs(draw: st.DrawFn) -> Job:
    return Job(
        job_id=draw(st.integers(1, 2**31)),
        job_type=draw(st.sampled_from(JobType)),
        queue_status=draw(st.sampled_from(QueueStatus)),
        submitted_at=draw(aware),
        user_name=draw(text),
        device_status=draw(st.sampled_from(DeviceStatus)),
        page_count=draw(st.integers(0, 1000)),
        recipient_number=draw(text),
        priority=draw(st.sampled_from(Priority)),
        schedule_action=draw(st.sampled_from(ScheduleAction)),
        schedule_time=draw(st.none() | aware),
        cover_page=draw(st.none() | st.builds(CoverPageInfo, rec_name=text, note=text)),
        last_failure=draw(st.none() | st.sampled_from(FailureClass)),
        ecm=draw(st.booleans()),
        extra=draw(st.dictionaries(st.text(max_size=5), st.integers() | text, max_size=3)),
    )


@given(jobs())
def test_job_round_trips(job: Job) -> None:
    assert from_wire(Job, to_wire(job)) == job


@given(st.sampled_from(list(PortFlags)), st.sampled_from(list(PortFlags)))
def test_flags_are_lists_of_names(a: PortFlags, b: PortFlags) -> None:
    port = PortInfo(device_id=1, device_name="x", flags=a | b)
    wire = to_wire(port)
    assert isinstance(wire["flags"], list)
    assert set(wire["flags"]) == {m.name.lower() for m in PortFlags if m.value and m in (a | b)}
    assert from_wire(PortInfo, wire) == port


def test_enums_are_lower_case_names_and_numbers_are_accepted() -> None:
    job = Job(
        job_id=3,
        job_type=JobType.SEND,
        queue_status=QueueStatus.RETRIES_EXCEEDED,
        submitted_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    wire = to_wire(job)
    assert wire["queue_status"] == "retries_exceeded"
    assert wire["submitted_at"] == "2026-01-01T00:00:00Z"
    wire["queue_status"] = int(QueueStatus.RETRIES_EXCEEDED)
    assert from_wire(Job, wire).queue_status is QueueStatus.RETRIES_EXCEEDED


def test_times_with_offsets_become_utc_and_naive_times_are_refused() -> None:
    t = datetime_from_wire("2026-11-21T19:30:00+01:00")
    assert t == datetime(2026, 11, 21, 18, 30, tzinfo=UTC)
    assert t.utcoffset() == timedelta(0)
    with pytest.raises(InvalidInput) as info:
        datetime_from_wire("2026-11-21T19:30:00", "schedule_time")
    assert "schedule_time" in info.value.message and info.value.hint
    with pytest.raises(InvalidInput):
        datetime_from_wire("tomorrow", "schedule_time")
    assert datetime_from_wire(datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))) == (
        datetime(2026, 1, 1, tzinfo=UTC)
    )


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"recipient_number": "1", "priority": "urgent"}, "priority"),
        ({"recipient_number": 101}, "recipient_number"),
        ({"recipient_name": "x"}, "recipient_number"),
        ({"recipient_number": "1", "bogus": 1}, "bogus"),
        ({"recipient_number": "1", "schedule_time": "soon"}, "schedule_time"),
    ],
)
def test_strict_decoding_names_the_bad_field(body: dict[str, object], needle: str) -> None:
    with pytest.raises(InvalidInput) as info:
        from_wire(JobParams, body, strict=True)
    assert needle in info.value.message
    assert info.value.hint


def test_lenient_decoding_ignores_unknown_fields() -> None:
    params = from_wire(JobParams, {"recipient_number": "5", "from_a_newer_server": True})
    assert params == JobParams(recipient_number="5")


def test_every_model_dataclass_field_has_a_wire_form() -> None:
    job = Job(
        job_id=1,
        job_type=JobType.SEND,
        queue_status=QueueStatus.PENDING,
        submitted_at=datetime(2026, 1, 1, tzinfo=UTC),
        cover_page=CoverPageInfo(),
    )
    wire = to_wire(job)
    assert set(wire) == {f.name for f in dataclasses.fields(Job)}


_ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 2**40),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.sampled_from(["pending", "PENDING", " in-progress ", "high", "fine", "1", "send"]),
    st.lists(st.sampled_from(["a", 1, None]), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from(["2026-11-21T18:30:00Z", "2026-11-21T18:30:00", "yesterday"]),
)


@given(st.sampled_from([f.name for f in dataclasses.fields(Job)]), _ANY_VALUE)
def test_compiled_field_decoders_answer_as_the_general_decoder(name: str, value: object) -> None:
    """from_wire compiles each field's decoder once (for speed); for any value, it returns
    what the general type dispatch returns, or refuses it with the same message."""
    import typing

    from lanfax.model import wire

    tp = typing.get_type_hints(Job)[name]
    decode, _required = wire._decoders(Job)[name]

    def outcome(f: typing.Callable[[], object]) -> tuple[str, object]:
        try:
            return ("ok", f())
        except InvalidInput as exc:
            return ("refused", str(exc))

    assert outcome(lambda: decode(value, name)) == outcome(lambda: wire._decode(tp, value, name))


@given(st.lists(jobs(), max_size=3))
def test_compiled_encoders_answer_as_the_general_encoder(items: list[Job]) -> None:
    """to_wire compiles an encoder per type; the wire form is still the rules' (enums by
    lower-case name, times ISO 8601 UTC with Z, nested dataclasses as objects)."""
    import enum

    from lanfax.model.wire import datetime_to_wire, enum_to_wire

    def rule(v: object) -> object:
        if isinstance(v, enum.Enum):
            return enum_to_wire(v)
        if isinstance(v, datetime):
            return datetime_to_wire(v)
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: rule(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, dict):
            return {str(k): rule(x) for k, x in v.items()}
        return v

    for job in items:
        assert to_wire(job) == rule(job)
