"""The IPP FaxOut vocabulary and its pure decisions (PWG 5100.15 over RFC 8011).

Everything here is a pure function of its arguments: reading a job's fax attributes
(``destination-uris``, ``cover-sheet-info``, retries) into lanfax terms, a ``tel:`` URI into a
number, and a broadcast's lanfax jobs into one IPP job-state. A refusal is an
:class:`IppError` carrying the status RFC 8011 names and a message a person can read.
"""

from __future__ import annotations

import enum
import re
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lanfax.model.codes import QueueStatus
from lanfax.model.jobs import CoverPageInfo, Job
from lanfax.service.ipp.codec import Attribute, Group, Status, Tag, Value


class Op(enum.IntEnum):
    """The operations this printer answers (RFC 8011 5.2-5.3, PWG 5100.11)."""

    PRINT_JOB = 0x0002
    VALIDATE_JOB = 0x0004
    CREATE_JOB = 0x0005
    SEND_DOCUMENT = 0x0006
    CANCEL_JOB = 0x0008
    GET_JOB_ATTRIBUTES = 0x0009
    GET_JOBS = 0x000A
    GET_PRINTER_ATTRIBUTES = 0x000B
    CANCEL_MY_JOBS = 0x0039
    CLOSE_JOB = 0x003B
    IDENTIFY_PRINTER = 0x003C


class JobState(enum.IntEnum):
    PENDING = 3
    PENDING_HELD = 4
    PROCESSING = 5
    PROCESSING_STOPPED = 6
    CANCELED = 7
    ABORTED = 8
    COMPLETED = 9


FINAL_JOB_STATES = frozenset({JobState.CANCELED, JobState.ABORTED, JobState.COMPLETED})


class IppError(Exception):
    """An operation refused with ``status`` and a readable ``message``."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


#: Document formats accepted (PWG 5100.15 asks for at least these); octet-stream is sniffed.
DOCUMENT_FORMATS = (
    "application/octet-stream",
    "application/pdf",
    "application/postscript",
    "image/jpeg",
    "image/png",
    "image/tiff",
    "image/pwg-raster",
    "image/urf",
    "text/plain",
)

#: Longest cover-sheet texts (``from-name-supported`` and friends advertise them).
MAX_NAME = 127
MAX_SUBJECT = 255
MAX_MESSAGE = 1023
#: Most numbers one print job may fax (``multiple-destination-uris-supported``).
MAX_DESTINATIONS = 100
MAX_RETRIES = 99
#: retry-interval is in seconds on the wire; lanfax retries in whole minutes.
MAX_RETRY_INTERVAL = 1440 * 60


@dataclass(frozen=True, slots=True)
class Destination:
    number: str
    uri: str
    to_name: str = ""


@dataclass(frozen=True, slots=True)
class FaxRequest:
    """What a job's attributes ask for, in lanfax terms."""

    destinations: tuple[Destination, ...] = ()
    cover: CoverPageInfo | None = None
    retries: int | None = None
    retry_delay_min: int | None = None


# -- reading values ----------------------------------------------------------------------------

_STRING_TAGS = {Tag.TEXT, Tag.NAME, Tag.KEYWORD, Tag.URI, Tag.MIME_TYPE, Tag.CHARSET}


def one(attr: Attribute, *tags: int) -> Value:
    """The single value of ``attr``, whose tag must be one of ``tags``."""
    if len(attr.values) != 1:
        raise IppError(Status.BAD_REQUEST, f"attribute {attr.name!r} must have exactly one value")
    value = attr.values[0]
    if value.tag not in tags:
        raise IppError(
            Status.BAD_REQUEST,
            f"attribute {attr.name!r} has the wrong syntax (tag 0x{value.tag:02X})",
        )
    return value


def text_of(attr: Attribute, limit: int = 1023) -> str:
    v = one(attr, Tag.TEXT, Tag.NAME, Tag.TEXT_LANG, Tag.NAME_LANG, Tag.KEYWORD)
    text = v.value[0] if isinstance(v.value, tuple) else v.value
    assert isinstance(text, str)
    if len(text) > limit:
        raise IppError(
            Status.REQUEST_VALUE_TOO_LONG,
            f"{attr.name!r} is {len(text)} characters long; at most {limit} are accepted",
        )
    return text


def int_of(attr: Attribute, lo: int, hi: int) -> int:
    v = one(attr, Tag.INTEGER)
    assert isinstance(v.value, int)
    if not lo <= v.value <= hi:
        raise IppError(
            Status.ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
            f"{attr.name} = {v.value} is out of range; use {lo} to {hi}",
        )
    return v.value


def members(v: Value) -> dict[str, Attribute]:
    assert isinstance(v.value, tuple)
    return {m.name: m for m in v.value if isinstance(m, Attribute)}


# -- tel: URIs --------------------------------------------------------------------------------

_TEL_CHARS = re.compile(r"^\+?[0-9*#().\- ]+$")
_DIAL_CHARS = re.compile(r"^[0-9*#().\- ]*$")


def parse_tel(uri: str, pre_dial: str = "", post_dial: str = "") -> str:
    """The number a ``tel:`` URI (RFC 3966) names, with PWG 5100.15's pre- and post-dial
    strings around it. Parameters (``;phone-context=``, ``;isub=``) are not dialled.

    Raises IppError: client-error-uri-scheme-not-supported for another scheme,
    client-error-attributes-or-values-not-supported for a number that cannot be dialled."""
    scheme, sep, rest = uri.partition(":")
    if not sep or scheme.lower() != "tel":
        raise IppError(
            Status.URI_SCHEME_NOT_SUPPORTED,
            f"destination-uri {uri!r} is not a tel: URI (this printer faxes; "
            "write tel:+4930123456 or tel:101)",
        )
    number = urllib.parse.unquote(rest.split(";", 1)[0]).strip()
    if not number or not _TEL_CHARS.match(number) or not any(c.isdigit() for c in number):
        raise IppError(
            Status.ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
            f"destination-uri {uri!r} does not hold a fax number "
            "(digits, an optional leading +, and - . ( ) as separators)",
        )
    for name, extra in (("pre-dial-string", pre_dial), ("post-dial-string", post_dial)):
        if not _DIAL_CHARS.match(extra):
            raise IppError(
                Status.ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
                f"{name} {extra!r} holds characters a fax line cannot dial "
                "(digits, * and # only; lanfax lines do not pause)",
            )
    if pre_dial.strip() and number.startswith("+"):
        raise IppError(
            Status.CONFLICTING_ATTRIBUTES,
            f"a pre-dial-string cannot come before the international number {number!r}",
        )
    return f"{pre_dial.strip()}{number}{post_dial.strip()}"


def _destination(v: Value) -> Destination:
    if v.tag != Tag.BEGIN_COLLECTION:
        raise IppError(Status.BAD_REQUEST, "destination-uris values must be collections")
    m = members(v)
    uri_attr = m.get("destination-uri")
    if uri_attr is None:
        raise IppError(Status.BAD_REQUEST, "a destination-uris entry has no destination-uri")
    uri = one(uri_attr, Tag.URI).value
    assert isinstance(uri, str)
    pre = text_of(m["pre-dial-string"], 32) if "pre-dial-string" in m else ""
    post = text_of(m["post-dial-string"], 32) if "post-dial-string" in m else ""
    number = parse_tel(uri, pre, post)
    if len(number) > 64:
        raise IppError(
            Status.REQUEST_VALUE_TOO_LONG, f"the fax number of {uri!r} is longer than 64 characters"
        )
    return Destination(number, uri)


_COVER_MEMBERS = {
    "from-name": ("sdr_name", MAX_NAME),
    "to-name": ("rec_name", MAX_NAME),
    "subject": ("subject", MAX_SUBJECT),
    "message": ("note", MAX_MESSAGE),
    "organization-name": ("sdr_company", MAX_NAME),
}
#: Members accepted and not shown (a logo is a URI to fetch: never fetched by this server).
_COVER_IGNORED = {"logo", "date-time"}


def cover_sheet(v: Value) -> CoverPageInfo:
    if v.tag != Tag.BEGIN_COLLECTION:
        raise IppError(Status.BAD_REQUEST, "cover-sheet-info must be a collection")
    fields: dict[str, str] = {}
    for name, member in members(v).items():
        if name in _COVER_IGNORED:
            continue
        if name not in _COVER_MEMBERS:
            raise IppError(
                Status.ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
                f"cover-sheet-info member {name!r} is not supported "
                f"(supported: {', '.join(sorted(_COVER_MEMBERS))})",
            )
        field, limit = _COVER_MEMBERS[name]
        fields[field] = text_of(member, limit)
    return CoverPageInfo(
        sdr_name=fields.get("sdr_name", ""),
        rec_name=fields.get("rec_name", ""),
        subject=fields.get("subject", ""),
        note=fields.get("note", ""),
        sdr_company=fields.get("sdr_company", ""),
    )


def fax_request(groups: Sequence[Group]) -> FaxRequest:
    """The fax attributes of a Print-Job/Create-Job/Validate-Job request (operation and job
    groups; the job group wins)."""
    found: dict[str, Attribute] = {}
    for g in groups:
        for a in g.attributes:
            found[a.name] = a
    destinations: tuple[Destination, ...] = ()
    if "destination-uris" in found:
        values = found["destination-uris"].values
        if len(values) > MAX_DESTINATIONS:
            raise IppError(
                Status.ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
                f"{len(values)} destinations in one job; at most {MAX_DESTINATIONS}",
            )
        destinations = tuple(_destination(v) for v in values)
    cover = (
        cover_sheet(one(found["cover-sheet-info"], Tag.BEGIN_COLLECTION))
        if ("cover-sheet-info" in found)
        else None
    )
    if cover is not None and cover.rec_name and destinations:
        destinations = tuple(Destination(d.number, d.uri, cover.rec_name) for d in destinations)
    retries = (
        int_of(found["number-of-retries"], 0, MAX_RETRIES)
        if ("number-of-retries" in found)
        else None
    )
    delay = None
    if "retry-interval" in found:
        seconds = int_of(found["retry-interval"], 0, MAX_RETRY_INTERVAL)
        delay = (seconds + 59) // 60  # lanfax waits whole minutes; never less than asked
    return FaxRequest(destinations, cover, retries, delay)


# -- job state ----------------------------------------------------------------------------------

_ACTIVE = {QueueStatus.IN_PROGRESS, QueueStatus.CANCELING, QueueStatus.DELETING}


@dataclass(frozen=True, slots=True)
class Progress:
    state: JobState
    reasons: tuple[str, ...]
    message: str
    pages_done: int


def broadcast_state(jobs: Iterable[Job]) -> Progress:
    """One IPP job-state for the lanfax jobs of a broadcast (one per destination).

    Not all final: processing if a call is under way or was made, pending-held if every job
    is paused, else pending. All final: canceled if any was canceled, completed if all were
    sent, completed with errors if some were, aborted if none was."""
    js = list(jobs)
    pages = sum(j.pages_done for j in js)
    if not js:
        return Progress(JobState.ABORTED, ("aborted-by-system",), "the fax jobs were removed", 0)
    done = [j for j in js if j.queue_status.is_final]
    sent = sum(1 for j in js if j.queue_status is QueueStatus.COMPLETED)
    n = len(js)
    if len(done) < n:
        live = [j for j in js if not j.queue_status.is_final]
        if any(j.queue_status in _ACTIVE for j in live):
            texts = [j.status_text for j in live if j.queue_status in _ACTIVE and j.status_text]
            return Progress(
                JobState.PROCESSING,
                ("job-printing",),
                texts[0] if texts else f"faxing: {sent} of {n} sent",
                pages,
            )
        if all(j.queue_status is QueueStatus.PAUSED for j in live):
            return Progress(JobState.PENDING_HELD, ("job-hold-until-specified",), "paused", pages)
        if any(j.attempts for j in live):
            texts = [j.status_text for j in live if j.status_text]
            return Progress(
                JobState.PROCESSING,
                ("job-printing",),
                texts[0] if texts else f"waiting to retry: {sent} of {n} sent",
                pages,
            )
        return Progress(JobState.PENDING, ("none",), f"queued: {n} fax job(s)", pages)
    if any(j.queue_status is QueueStatus.CANCELED for j in js):
        return Progress(
            JobState.CANCELED, ("job-canceled-by-user",), f"canceled: {sent} of {n} sent", pages
        )
    if sent == n:
        return Progress(
            JobState.COMPLETED,
            ("job-completed-successfully",),
            "sent" if n == 1 else f"sent to all {n} numbers",
            pages,
        )
    failed = [j.status_text for j in js if j.queue_status is not QueueStatus.COMPLETED]
    why = failed[0] if failed and failed[0] else "failed"
    if sent:
        return Progress(
            JobState.COMPLETED, ("job-completed-with-errors",), f"{sent} of {n} sent; {why}", pages
        )
    return Progress(JobState.ABORTED, ("aborted-by-system",), why, pages)


#: transmission-status (PWG 5100.15 destination-statuses) of one lanfax job: pending (3),
#: pending-retry (4), processing (5), canceled (7), aborted (8), completed (9).
def transmission_status(job: Job) -> int:
    q = job.queue_status
    if q is QueueStatus.COMPLETED:
        return 9
    if q is QueueStatus.CANCELED:
        return 7
    if q.is_final:
        return 8
    if q in _ACTIVE:
        return 5
    if q is QueueStatus.RETRYING:
        return 4
    return 3
