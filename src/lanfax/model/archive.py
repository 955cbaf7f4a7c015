"""Archived faxes and the activity log, as the client API sees them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lanfax.model.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    """One archived fax (incoming or outgoing) with its metadata.

    ``number`` is the far end's number (the recipient of a sent fax, the caller id of a
    received one); ``remote_ident`` its station id (CSID of the receiver, TSID of the sender);
    ``local_ident`` ours. ``result`` is the job's final queue state (``completed``,
    ``failed``, ``retries_exceeded``, ``canceled``).
    """

    archive_id: int
    direction: str  # "incoming" | "outgoing"
    job_id: int
    completed_at: datetime
    archived_at: datetime
    submitted_at: datetime | None = None
    user_name: str = ""
    number: str = ""
    recipient_name: str = ""
    sender_name: str = ""
    remote_ident: str = ""
    local_ident: str = ""
    caller_id: str = ""
    device_id: int = 0
    pages: int = 0
    size: int = 0
    duration: float = 0.0
    result: str = ""
    status_text: str = ""
    bit_rate: int = 0
    ecm: bool = False
    document_name: str = ""
    path: str = ""


@dataclass(frozen=True, slots=True)
class ActivityRecord:
    """One call, inbound or outbound (the activity log)."""

    activity_id: int
    at: datetime
    direction: str  # "incoming" | "outgoing"
    job_id: int
    device_id: int = 0
    number: str = ""
    remote_ident: str = ""
    caller_id: str = ""
    user_name: str = ""
    pages: int = 0
    duration: float = 0.0
    result: str = ""
    status_text: str = ""
    bit_rate: int = 0
    ecm: bool = False


# -- queries (#17: moved here from lanfax.store.archive, which re-exports them) --

#: The two archives.
DIRECTIONS = ("incoming", "outgoing")
#: The largest page an archive search returns.
MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class ArchiveQuery:
    """A page of one archive. ``number`` and ``ident`` match as prefixes; ``user`` exactly;
    ``since`` <= completed_at < ``until``."""

    direction: str
    since: datetime | None = None
    until: datetime | None = None
    number: str = ""
    ident: str = ""
    user: str = ""
    limit: int = 50
    cursor: str = ""
    #: Only entries nobody owns (``user_name`` empty: the server inbox, #13).
    unassigned: bool = False


def check_direction(direction: str) -> str:
    """``direction`` when it names an archive, else InvalidInput (422)."""
    if direction not in DIRECTIONS:
        raise InvalidInput(f"{direction!r} is not an archive", hint="use 'incoming' or 'outgoing'")
    return direction
