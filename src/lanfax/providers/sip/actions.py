"""What a SIP call's sans-IO cores (:mod:`.callcore`, :mod:`.invite`) ask of their adapter,
and what they are given: the actions they return, the settings of one call, and the error an
action the call's state does not allow raises."""

from __future__ import annotations

from dataclasses import dataclass, field

from lanfax.providers.common import CutReason
from lanfax.providers.sip.dialog import Ids
from lanfax.providers.sip.message import Request, Response
from lanfax.providers.sip.sdp import Media, T38Params

__all__ = [
    "Action",
    "CallSettings",
    "CallStateError",
    "Ended",
    "Note",
    "Respond",
    "Ring",
    "SendAck",
    "SendRequest",
    "UseMedia",
]

Address = tuple[str, int]


class CallStateError(RuntimeError):
    """An action the call's state does not allow (a bug in the caller of the core)."""


# -- actions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendRequest:
    """Start a client transaction for ``request`` towards ``dest``; feed its final response
    (and any repeated 2xx) back with :meth:`CallCore.response_received`."""

    request: Request
    dest: Address


@dataclass(frozen=True, slots=True)
class SendAck:
    """Send the ACK of a 2xx directly (§13.2.2.4: it has no transaction of its own)."""

    ack: Request
    dest: Address


@dataclass(frozen=True, slots=True)
class Respond:
    """Answer within the server transaction of the request ``response`` answers."""

    response: Response


@dataclass(frozen=True, slots=True)
class UseMedia:
    """The far end's media is now ``media``: start on it, or switch to it."""

    media: Media


@dataclass(frozen=True, slots=True)
class Ended:
    """The call is over (``cut`` None: T.30 completed and we hung up): end the media."""

    cut: CutReason | None


@dataclass(frozen=True, slots=True)
class Note:
    """A line for the device's log."""

    message: str


@dataclass(frozen=True, slots=True)
class Ring:
    """Their call rings here (again): ``count`` rings so far, this one included."""

    count: int


Action = SendRequest | SendAck | Respond | UseMedia | Ended | Note | Ring


@dataclass(frozen=True, slots=True)
class CallSettings:
    """What the provider decides for one call, and how our requests are addressed."""

    via_host: str
    via_port: int
    transport: str
    contact: str
    #: Where a request goes when the dialog's route set and target name no host.
    next_hop: Address
    sdp_address: str
    codecs: tuple[str, ...]
    #: The T.38 parameters we offer and accept (None: the call takes no T.38 at all).
    t38: T38Params | None
    #: Whether we offer T.38 by re-INVITE ourselves once the call is up on audio.
    offers_t38: bool
    ids: Ids = field(default_factory=Ids)
    #: Seconds between rings of their call while we have not answered.
    ring_interval: float = 6.0
