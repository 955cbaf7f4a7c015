"""Job, Event and JSON values to and from table rows; every rule about representation lives here.

Invalid values (a naive datetime, something JSON cannot hold, an unknown field) raise
:class:`~lanfax.model.errors.InvalidInput` before anything is written.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from lanfax.model.codes import (
    DeliveryReportType,
    DeviceStatus,
    EventId,
    FailureClass,
    JobType,
    Priority,
    QueueStatus,
    ScheduleAction,
)
from lanfax.model.errors import InvalidInput, StoreError
from lanfax.model.events import Event, NewEvent
from lanfax.model.jobs import CoverPageInfo, Job
from lanfax.store.api import AuditEntry

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

JOB_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Job))
_COVER_FIELDS = {f.name for f in dataclasses.fields(CoverPageInfo)}

# Fields whose Python value is an enum stored as an integer.
_INT_ENUMS: dict[str, type[Any]] = {
    "job_type": JobType,
    "queue_status": QueueStatus,
    "device_status": DeviceStatus,
    "schedule_action": ScheduleAction,
    "delivery_report_type": DeliveryReportType,
    "priority": Priority,
}
_TIMES = ("submitted_at", "schedule_time", "next_attempt_at", "started_at", "completed_at")


def to_micros(when: datetime, what: str = "datetime") -> int:
    """Aware datetime -> integer microseconds since the epoch (exact)."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise InvalidInput(
            f"{what} {when.isoformat()} has no time zone",
            hint="use an aware datetime, e.g. datetime.now(UTC)",
        )
    return (when - _EPOCH) // _US


def from_micros(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _json_default(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON")


def dump_json(value: Any, what: str) -> str:
    """Strict JSON text (no NaN, only str keys), or InvalidInput naming ``what``."""
    try:
        return json.dumps(
            value, default=_json_default, allow_nan=False, ensure_ascii=False, sort_keys=True
        )
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"{what} cannot be stored: {exc}",
            hint="use only JSON values: str, int, float, bool, None, lists, dicts with str keys",
        ) from None


def load_json(text: str) -> Any:
    return json.loads(text)


def check_json(value: Mapping[str, Any], what: str) -> None:
    # json turns tuples into lists and int keys into str keys silently; a value that would
    # come back different is refused so that what is stored is exactly what was given.
    checked_json(value, what)


def checked_json(value: Mapping[str, Any], what: str) -> str:
    """:func:`check_json` and :func:`dump_json` in one: the text, dumped once (#19)."""
    if not value and type(value) is dict:
        return "{}"  # most jobs' extra: nothing to dump, nothing that could differ
    text = dump_json(value, what)
    if load_json(text) != value:
        raise InvalidInput(
            f"{what} would not read back unchanged from JSON",
            hint="use lists (not tuples) and str keys",
        )
    return text


_INT32 = frozenset({"page_count", "attempts", "pages_done", "bit_rate"})
_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1


def _check_scalar(name: str, value: Any) -> None:
    """Refuse what one of the backends could not store, with the same error on both."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInput(f"{name} contains a NUL character", hint="remove it")
    elif isinstance(value, bool):
        pass
    elif isinstance(value, int):
        limit = _INT32_MAX if name in _INT32 else _INT64_MAX
        if not -limit - 1 <= value <= limit:
            raise InvalidInput(f"{name} = {value} is out of range", hint=f"at most {limit}")


def _cover_to_json(cover: CoverPageInfo) -> str:
    d = dataclasses.asdict(cover)
    if cover.time_sent is not None:
        d["time_sent"] = to_micros(cover.time_sent, "cover_page.time_sent")
    return dump_json(d, "cover_page")


def _cover_from_json(text: str) -> CoverPageInfo:
    d = load_json(text)
    d = {k: v for k, v in d.items() if k in _COVER_FIELDS}  # tolerate fields from newer versions
    if d.get("time_sent") is not None:
        d["time_sent"] = from_micros(d["time_sent"])
    return CoverPageInfo(**d)


#: How job_to_row writes each column (#19: decided once, not by a chain of tests per column).
_TIME, _ENUM, _FAILURE, _COVER, _EXTRA, _SCALAR = range(6)
_WRITE_PLAN: tuple[tuple[str, int], ...] = tuple(
    (
        name,
        _TIME
        if name in _TIMES
        else _ENUM
        if name in _INT_ENUMS
        else _FAILURE
        if name == "last_failure"
        else _COVER
        if name == "cover_page"
        else _EXTRA
        if name == "extra"
        else _SCALAR,
    )
    for name in JOB_FIELDS
    if name != "job_id"
)


def job_to_row(job: Job) -> dict[str, Any]:
    """Every column of ``jobs`` except job_id."""
    row: dict[str, Any] = {}
    for name, kind in _WRITE_PLAN:
        value = getattr(job, name)
        if kind == _SCALAR:
            if value.__class__ is not str or "\x00" in value:
                _check_scalar(name, value)
            row[name] = value
        elif kind == _TIME:
            row[name] = None if value is None else to_micros(value, name)
        elif kind == _ENUM:
            row[name] = int(value)
        elif kind == _FAILURE:
            row[name] = None if value is None else FailureClass(value).value
        elif kind == _COVER:
            row[name] = None if value is None else _cover_to_json(value)
        else:
            if not isinstance(value, dict):
                raise InvalidInput("extra must be a dict", hint="pass a dict of JSON values")
            row[name] = checked_json(value, "extra")
    return row


def stored_job(job: Job, job_id: int, row: Mapping[str, Any]) -> Job:
    """``row_to_job({"job_id": job_id, **row})`` for the ``row`` that :func:`job_to_row`
    made of ``job``: the job as the store hands it back after an insert (#19: without
    converting back the values that are already what reading the row gives: UTC times,
    enum members, bools; a new ``extra`` all the same, never the caller's dict)."""
    if not _ROW_PLAN:
        _ROW_PLAN.extend(_row_plan())
    values: list[Any] = [job_id]
    for name, convert in _ROW_PLAN[1:]:  # in field order, job_id first
        value = getattr(job, name)
        if convert is None:
            values.append(row[name])
        elif name == "extra":
            values.append({} if row[name] == "{}" else convert(row[name]))
        elif value is None and name in _OR_NONE:
            values.append(None)
        elif type(value) is datetime and value.tzinfo is UTC and not value.fold:
            values.append(value)  # exact: a datetime holds whole microseconds
        elif type(value) is _KEEP_TYPE.get(name):
            values.append(value)  # an enum member (or bool) is what converting gives back
        else:
            values.append(convert(row[name]))
    return Job(*values)


def _or_none(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else convert(value)


def _row_plan() -> list[tuple[str, Callable[[Any], Any] | None]]:
    """Each job column (in the order of Job's fields, job_id first) with its converter
    (None: as stored), decided once: a 100-job page then costs one call per converted column
    instead of a chain of tests per column."""
    plan: list[tuple[str, Callable[[Any], Any] | None]] = []
    for name in JOB_FIELDS:
        convert: Callable[[Any], Any] | None
        if name in _TIMES:
            convert = _or_none(from_micros)
        elif name in _INT_ENUMS:
            convert = _INT_ENUMS[name]
        elif name == "last_failure":
            convert = _or_none(FailureClass)
        elif name == "cover_page":
            convert = _or_none(_cover_from_json)
        elif name == "extra":
            convert = load_json
        elif name == "ecm":
            convert = bool
        else:
            convert = None
        plan.append((name, convert))
    return plan


_ROW_PLAN: list[tuple[str, Callable[[Any], Any] | None]] = []
#: The columns read back as None when they hold None.
_OR_NONE = frozenset({*_TIMES, "last_failure", "cover_page"})
#: The columns read back as a value of one type that the job's own value may already be.
_KEEP_TYPE: dict[str, type[Any]] = {**_INT_ENUMS, "last_failure": FailureClass, "ecm": bool}


def row_to_job(row: Mapping[Any, Any]) -> Job:
    if not _ROW_PLAN:
        _ROW_PLAN.extend(_row_plan())
    # Positional, in field order (#19: a keyword call cost a fifth more).
    return Job(
        *[row[name] if convert is None else convert(row[name]) for name, convert in _ROW_PLAN]
    )


def event_to_row(
    timestamp: datetime, event_id: EventId, device_id: int, job_id: int, detail: Any
) -> dict[str, Any]:
    if not isinstance(detail, dict):
        raise InvalidInput("an event's detail must be a dict", hint="pass a dict of JSON values")
    text = checked_json(detail, "event detail")
    return {
        "timestamp": to_micros(timestamp, "event timestamp"),
        "event_id": int(EventId(event_id)),
        "device_id": int(device_id),
        "job_id": int(job_id),
        "detail": text,
    }


def event_rows(
    timestamp: datetime, events: Sequence[NewEvent], job_ids: Sequence[int] = ()
) -> list[dict[str, Any]]:
    """The rows of ``events`` (every store's); a job_id of 0 becomes ``job_ids[i]`` (the i-th
    event's job)."""
    rows = []
    for i, ev in enumerate(events):
        job_id = ev.job_id
        if job_id == 0:
            if i >= len(job_ids):
                raise InvalidInput(
                    f"event {i} has job_id 0 but there is no job at index {i}",
                    hint="give the event's job id, or NO_JOB for none",
                )
            job_id = job_ids[i]
        rows.append(event_to_row(timestamp, ev.event_id, ev.device_id, job_id, ev.detail))
    return rows


def audit_to_row(entry: AuditEntry) -> dict[str, Any]:
    return {
        "at": to_micros(entry.at, "at"),
        "user_name": entry.user_name,
        "address": entry.address,
        "action": entry.action,
        "target": entry.target,
        "outcome": entry.outcome,
        "detail": dump_json(dict(entry.detail), "audit detail"),
    }


def row_to_event(row: Mapping[Any, Any]) -> Event:
    try:
        event_id = EventId(row["event_id"])
    except ValueError:
        raise StoreError(
            f"event {row['seq']} has unknown id {row['event_id']}",
            hint="the database was written by a newer lanfax; upgrade",
        ) from None
    return Event(
        seq=row["seq"],
        timestamp=from_micros(row["timestamp"]),
        event_id=event_id,
        device_id=row["device_id"],
        job_id=row["job_id"],
        detail=load_json(row["detail"]),
    )
