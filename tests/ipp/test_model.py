"""The pure FaxOut decisions: tel: URIs with dial strings, fax attributes to lanfax terms,
and one IPP job-state for a broadcast's jobs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from tests.support.ipp import cover, tel

from lanfax.model.codes import JobType, QueueStatus
from lanfax.model.jobs import Job
from lanfax.service.ipp.codec import Attribute, Group, GroupTag, Status, Tag, attr, collection
from lanfax.service.ipp.model import (
    IppError,
    JobState,
    broadcast_state,
    fax_request,
    parse_tel,
    transmission_status,
)


@pytest.mark.parametrize(
    ("uri", "pre", "post", "number"),
    [
        ("tel:101", "", "", "101"),
        ("tel:+49-30-123.456", "", "", "+49-30-123.456"),
        ("TEL:(030) 1234", "", "", "(030) 1234"),
        ("tel:1234;phone-context=+4930", "", "", "1234"),
        ("tel:%2B4930123", "", "", "+4930123"),
        ("tel:1234", "0", "", "01234"),
        ("tel:1234", "", "#99", "1234#99"),
        ("tel:*30", "", "", "*30"),
    ],
)
def test_parse_tel(uri: str, pre: str, post: str, number: str) -> None:
    assert parse_tel(uri, pre, post) == number


@pytest.mark.parametrize(
    ("uri", "pre", "status"),
    [
        ("mailto:a@b.c", "", Status.URI_SCHEME_NOT_SUPPORTED),
        ("101", "", Status.URI_SCHEME_NOT_SUPPORTED),
        ("tel:", "", Status.ATTRIBUTES_OR_VALUES_NOT_SUPPORTED),
        ("tel:call-me", "", Status.ATTRIBUTES_OR_VALUES_NOT_SUPPORTED),
        ("tel:12+3", "", Status.ATTRIBUTES_OR_VALUES_NOT_SUPPORTED),
        ("tel:123", "9,", Status.ATTRIBUTES_OR_VALUES_NOT_SUPPORTED),
        ("tel:+49123", "0", Status.CONFLICTING_ATTRIBUTES),
    ],
)
def test_parse_tel_refusals(uri: str, pre: str, status: Status) -> None:
    with pytest.raises(IppError) as info:
        parse_tel(uri, pre)
    assert info.value.status == status and info.value.message


def test_fax_request() -> None:
    groups = [
        Group(
            GroupTag.JOB,
            (
                tel("101", "102", pre=""),
                cover(from_name="Ada", to_name="Bob", subject="S", message="M", logo="x"),
                attr("number-of-retries", Tag.INTEGER, 2),
                attr("retry-interval", Tag.INTEGER, 61),
            ),
        )
    ]
    fax = fax_request(groups)
    assert [d.number for d in fax.destinations] == ["101", "102"]
    assert all(d.to_name == "Bob" for d in fax.destinations)
    assert fax.cover is not None and fax.cover.sdr_name == "Ada" and fax.cover.note == "M"
    assert (fax.retries, fax.retry_delay_min) == (2, 2)
    assert fax_request([]).destinations == ()


@pytest.mark.parametrize(
    ("attribute", "status"),
    [
        (Attribute("destination-uris", (attr("x", Tag.TEXT, "y").values[0],)), Status.BAD_REQUEST),
        (
            Attribute("destination-uris", (collection(attr("pre-dial-string", Tag.TEXT, "9")),)),
            Status.BAD_REQUEST,
        ),
        (
            Attribute("cover-sheet-info", (collection(attr("fax-color", Tag.TEXT, "x")),)),
            Status.ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
        ),
        (cover(subject="x" * 300), Status.REQUEST_VALUE_TOO_LONG),
        (attr("number-of-retries", Tag.INTEGER, 1, 2), Status.BAD_REQUEST),
        (attr("retry-interval", Tag.TEXT, "soon"), Status.BAD_REQUEST),
        (tel(*[str(100 + i) for i in range(101)]), Status.ATTRIBUTES_OR_VALUES_NOT_SUPPORTED),
    ],
)
def test_fax_request_refusals(attribute: Attribute, status: Status) -> None:
    with pytest.raises(IppError) as info:
        fax_request([Group(GroupTag.JOB, (attribute,))])
    assert info.value.status == status


T0 = datetime(2026, 12, 4, tzinfo=UTC)


def _job(status: QueueStatus, **kw: object) -> Job:
    base = Job(job_id=1, job_type=JobType.SEND, queue_status=status, submitted_at=T0)
    return replace(base, **kw)  # type: ignore[arg-type]


Q = QueueStatus


@pytest.mark.parametrize(
    ("statuses", "state", "reason"),
    [
        ([Q.PENDING], JobState.PENDING, "none"),
        ([Q.PENDING, Q.IN_PROGRESS], JobState.PROCESSING, "job-printing"),
        ([Q.PAUSED, Q.PAUSED], JobState.PENDING_HELD, "job-hold-until-specified"),
        ([Q.COMPLETED, Q.COMPLETED], JobState.COMPLETED, "job-completed-successfully"),
        ([Q.COMPLETED, Q.FAILED], JobState.COMPLETED, "job-completed-with-errors"),
        ([Q.FAILED, Q.RETRIES_EXCEEDED], JobState.ABORTED, "aborted-by-system"),
        ([Q.COMPLETED, Q.CANCELED], JobState.CANCELED, "job-canceled-by-user"),
        ([Q.CANCELING], JobState.PROCESSING, "job-printing"),
        ([], JobState.ABORTED, "aborted-by-system"),
    ],
)
def test_broadcast_state(statuses: list[QueueStatus], state: JobState, reason: str) -> None:
    progress = broadcast_state([_job(s, pages_done=1) for s in statuses])
    assert progress.state == state
    assert reason in progress.reasons
    assert progress.pages_done == len(statuses)


def test_a_retry_due_is_processing() -> None:
    waiting = _job(Q.RETRYING, attempts=1, status_text="busy; will retry in 10 min")
    progress = broadcast_state([waiting])
    assert progress.state == JobState.PROCESSING and "retry" in progress.message
    assert transmission_status(waiting) == 4
    assert [transmission_status(_job(s)) for s in (Q.COMPLETED, Q.CANCELED, Q.FAILED)] == [9, 7, 8]
