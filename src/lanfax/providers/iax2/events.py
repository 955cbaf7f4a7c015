"""What an IAX2 call tells its owner: small immutable events (sans-IO, like h11's)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Accepted",
    "Answered",
    "Audio",
    "Busy",
    "CallEvent",
    "Closed",
    "Congestion",
    "HungUp",
    "Incoming",
    "LagMeasured",
    "LinkLost",
    "Proceeding",
    "Rejected",
    "Ringing",
]


class CallEvent:
    """Base class of call events."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Incoming(CallEvent):
    """A NEW arrived and a format was chosen; the owner accepts (and rings) or rejects it."""

    called_number: str
    calling_number: str
    calling_name: str
    username: str
    media_format: int


@dataclass(frozen=True, slots=True)
class Accepted(CallEvent):
    """The far end took our NEW (ACCEPT) with this voice format."""

    media_format: int


@dataclass(frozen=True, slots=True)
class Proceeding(CallEvent):
    """CONTROL/PROCEEDING or PROGRESS: the far end is working on it."""


@dataclass(frozen=True, slots=True)
class Ringing(CallEvent):
    """CONTROL/RINGING: the far end is ringing."""


@dataclass(frozen=True, slots=True)
class Answered(CallEvent):
    """CONTROL/ANSWER: the far end picked up (outgoing), or we did (incoming)."""


@dataclass(frozen=True, slots=True)
class Busy(CallEvent):
    """CONTROL/BUSY."""


@dataclass(frozen=True, slots=True)
class Congestion(CallEvent):
    """CONTROL/CONGESTION: no circuit on the far side."""


@dataclass(frozen=True, slots=True)
class Audio(CallEvent):
    """Voice from the far end: ``payload`` in ``media_format`` at full ``timestamp`` (ms)."""

    timestamp: int
    media_format: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Rejected(CallEvent):
    """REJECT (or an authentication we could not give): the call never started."""

    cause: str
    cause_code: int | None
    #: True when authentication failed or could not be done (no secret, unknown method).
    auth: bool = False


@dataclass(frozen=True, slots=True)
class HungUp(CallEvent):
    """The far end hung up (HANGUP), or said it does not know this call (INVAL)."""

    cause: str
    cause_code: int | None


@dataclass(frozen=True, slots=True)
class LinkLost(CallEvent):
    """A full frame was never acknowledged after every retransmission: the peer is gone."""

    what: str


@dataclass(frozen=True, slots=True)
class LagMeasured(CallEvent):
    """A PONG or LAGRP came back: the round trip in milliseconds."""

    round_trip_ms: int


@dataclass(frozen=True, slots=True)
class Closed(CallEvent):
    """The call is over on the wire (our HANGUP acknowledged, or given up); forget it."""
