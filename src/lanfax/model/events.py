"""Events every client can follow (FAX_EVENT plus a cursor and a little detail)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lanfax.model.codes import NO_JOB, EventId


@dataclass(frozen=True, slots=True)
class Event:
    """One event. ``seq`` is the cursor: strictly increasing, never reused."""

    seq: int
    timestamp: datetime
    event_id: EventId
    device_id: int = 0
    job_id: int = NO_JOB
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event before the store has given it a cursor."""

    event_id: EventId
    device_id: int = 0
    job_id: int = NO_JOB
    detail: dict[str, Any] = field(default_factory=dict)
