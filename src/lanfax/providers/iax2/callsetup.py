"""An IAX2 call before its answer, sans-IO: the outgoing dial and the incoming ring.

:class:`Iax2Call` speaks the protocol (frames, sequencing, retransmission); this module makes
the decisions a fax line takes around it until the call is answered, in the shape of
:mod:`lanfax.providers.sip.transaction`: call :mod:`events <.events>` and "now" in, small
frozen :data:`actions <SetupAction>` out, and a timer as data (:meth:`Dialer.next_deadline`,
:meth:`Dialer.poll`). The cores drive their :class:`Iax2Call` themselves (``dial``,
``accept``, ``answer``, ``hangup``), so what they want sent is in the call's outbox for the
owner to flush after every entry point.

* :class:`Dialer` (outgoing): NEW, then ACCEPT and RINGING, until ANSWER. It gives up after
  ``answer_timeout`` (HANGUP cause 19, "no answer"), on CONTROL/BUSY or CONGESTION (HANGUP
  cause 17: those only signal the condition, as a busy tone does, and leave the clearing to
  the caller), on the owner's abort (cause 16), and when the far end rejects, hangs up or
  stops answering (:func:`.outcome.signalling_outcome` names the status).
* :class:`Ringer` (incoming): ACCEPT and RINGING go out at once; the line rings every
  ``ring_interval`` until the owner answers (CONTROL/ANSWER) or stops it (HANGUP), or the
  caller leaves (HANGUP, INVAL, or its frames go unacknowledged).

A method the current state does not allow raises :class:`IllegalAction` (as h11 raises
``LocalProtocolError``): the owner asks :attr:`Dialer.dialing` / :attr:`Ringer.answerable`
first. Events that arrive after the set-up ended are not an error: the network may still
deliver a frame sent before our HANGUP crossed it; they are returned to nobody (``[]``), and
after an answer the owner routes the call's events to the media instead.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from lanfax.model.codes import ProviderStatus
from lanfax.providers.iax2.call import CallState, Iax2Call, IllegalAction
from lanfax.providers.iax2.events import (
    Accepted,
    Answered,
    Busy,
    CallEvent,
    Closed,
    Congestion,
    HungUp,
    LinkLost,
    Rejected,
    Ringing,
)
from lanfax.providers.iax2.frames import Cause, MediaFormat
from lanfax.providers.iax2.outcome import signalling_outcome

__all__ = [
    "Connected",
    "Dialer",
    "Failed",
    "IllegalAction",
    "Note",
    "Ring",
    "RingEnded",
    "RingHeard",
    "Ringer",
    "SetupAction",
]


# -- actions -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Note:
    """A line for the call's log."""

    text: str


@dataclass(frozen=True, slots=True)
class RingHeard:
    """Outgoing: the far end rings (CONTROL/RINGING)."""


@dataclass(frozen=True, slots=True)
class Connected:
    """The call is answered (by the far end, or by us): the fax may start."""


@dataclass(frozen=True, slots=True)
class Failed:
    """Outgoing: the call ended before it was answered, with the status to report."""

    status: ProviderStatus
    text: str


@dataclass(frozen=True, slots=True)
class Ring:
    """Incoming: report ring number ``count`` (1, 2, ...) to the service."""

    count: int


@dataclass(frozen=True, slots=True)
class RingEnded:
    """Incoming: the ringing is over without an answer (the caller left, or the owner
    stopped it); the line is free again."""

    reason: str


SetupAction = Note | RingHeard | Connected | Failed | Ring | RingEnded


class Phase(enum.Enum):
    IDLE = "idle"  # built, nothing sent yet
    ACTIVE = "active"  # dialing (outgoing) or ringing (incoming)
    ANSWERED = "answered"
    ENDED = "ended"  # failed, left, or stopped before an answer


#: Events that mean the far end is gone (the call is CLOSED on the wire).
_GONE = (HungUp, LinkLost, Closed)


class Dialer:
    """An outgoing call from NEW to ANSWER.

    ``peer`` ("host:port") names the far end in the texts. The answer timeout runs from
    :meth:`dial` (the time the NEW went out), whatever the far end says meanwhile: RINGING
    does not extend it, as a caller hanging up after so many seconds would not.
    """

    def __init__(self, call: Iax2Call, *, answer_timeout: float, peer: str) -> None:
        if not call.outgoing:
            raise IllegalAction("a Dialer drives an outgoing call", hint="use a Ringer")
        self.call = call
        self.answer_timeout = answer_timeout
        self.peer = peer
        self.phase = Phase.IDLE
        self._deadline: float | None = None

    @property
    def dialing(self) -> bool:
        """True from :meth:`dial` until the call is answered or has failed."""
        return self.phase is Phase.ACTIVE

    def _require_dialing(self, what: str) -> None:
        if self.phase is not Phase.ACTIVE:
            raise IllegalAction(
                f"{what} while the outgoing call is {self.phase.value}",
                hint="only a call that is dialing can be aborted or timed",
            )

    def dial(
        self,
        now: float,
        number: str,
        *,
        calling_number: str = "",
        calling_name: str = "",
        calltoken: bool = False,
    ) -> list[SetupAction]:
        """Send NEW to ``number`` and start the answer timeout."""
        if self.phase is not Phase.IDLE:
            raise IllegalAction(f"dial() on a call that is {self.phase.value}", hint="dial once")
        self.call.dial(
            now,
            number,
            calling_number=calling_number,
            calling_name=calling_name,
            calltoken=calltoken,
        )
        self.phase = Phase.ACTIVE
        self._deadline = now + self.answer_timeout
        return []

    def event(self, event: CallEvent, now: float) -> list[SetupAction]:
        """Take one event of the call."""
        if self.phase is not Phase.ACTIVE:
            return []  # late: the set-up is decided (see the module docstring)
        if isinstance(event, Answered):
            self.phase = Phase.ANSWERED
            return [Connected()]
        if isinstance(event, Accepted):
            fmt = MediaFormat(event.media_format).name
            return [Note(f"call {self.call.local_call} accepted by {self.peer}, format {fmt}")]
        if isinstance(event, Ringing):
            return [RingHeard()]
        if isinstance(event, Busy | Congestion):
            # The far end signals busy in-band and leaves the clearing to us.
            self.call.hangup(now, Cause.USER_BUSY)
            if isinstance(event, Busy):
                return self._fail(ProviderStatus.BUSY, "busy")
            return self._fail(ProviderStatus.LINE_UNAVAILABLE, "congestion")
        if isinstance(event, Rejected | HungUp | LinkLost):
            # The call is over on the wire already (or hung up by the call itself, as for a
            # format we did not offer or an authentication we cannot give).
            return self._fail(*signalling_outcome(event, self.peer))
        return []  # PROCEEDING, lag measurements, Closed after a failure...

    def abort(self, now: float) -> list[SetupAction]:
        """The owner gives up (the job was aborted): HANGUP, cause 16."""
        self._require_dialing("abort()")
        self.call.hangup(now, Cause.NORMAL_CLEARING)
        return self._fail(ProviderStatus.USER_ABORT, "aborted while dialing")

    def next_deadline(self) -> float | None:
        """When :meth:`poll` has something to do (the answer timeout), or None."""
        return self._deadline if self.phase is Phase.ACTIVE else None

    def poll(self, now: float) -> list[SetupAction]:
        """Run the answer timeout if it is due at ``now``."""
        if self.phase is not Phase.ACTIVE or self._deadline is None or now < self._deadline:
            return []
        self.call.hangup(now, Cause.NO_ANSWER)
        return self._fail(ProviderStatus.NO_ANSWER, f"no answer in {self.answer_timeout:g} s")

    def _fail(self, status: ProviderStatus, text: str) -> list[SetupAction]:
        self.phase = Phase.ENDED
        return [Failed(status, text)]


class Ringer:
    """An incoming call from the owner taking it (ACCEPT + RINGING) until it is answered,
    stopped, or the caller leaves.

    Ring 1 is reported at :meth:`start`, ring n+1 ``ring_interval`` seconds after ring n.
    The ringing never ends by itself: how many rings to wait is the service's decision.
    """

    def __init__(self, call: Iax2Call, *, ring_interval: float) -> None:
        if call.outgoing:
            raise IllegalAction("a Ringer drives an incoming call", hint="use a Dialer")
        if ring_interval <= 0:
            raise IllegalAction(f"ring_interval must be positive, got {ring_interval}")
        self.call = call
        self.ring_interval = ring_interval
        self.phase = Phase.IDLE
        self.rings = 0
        self._next_ring: float | None = None

    @property
    def ringing(self) -> bool:
        """True from :meth:`start` until answered, stopped, or the caller left."""
        return self.phase is Phase.ACTIVE

    @property
    def answerable(self) -> bool:
        """:meth:`answer` is allowed now."""
        return self.phase is Phase.ACTIVE and self.call.state is CallState.ACCEPTED

    def start(self, now: float) -> list[SetupAction]:
        """Take the offered call: ACCEPT with its format, RINGING, and ring 1."""
        if self.phase is not Phase.IDLE or self.call.state is not CallState.OFFERED:
            raise IllegalAction(
                f"start() on a call that is {self.phase.value} ({self.call.state.value})",
                hint="a Ringer starts once, on an offered call",
            )
        self.call.accept(now)
        self.phase = Phase.ACTIVE
        return self._ring(now)

    def _ring(self, now: float) -> list[SetupAction]:
        self.rings += 1
        self._next_ring = now + self.ring_interval
        return [Ring(self.rings)]

    def event(self, event: CallEvent, now: float) -> list[SetupAction]:
        """Take one event of the call."""
        if self.phase is not Phase.ACTIVE:
            return []  # after the answer the media gets the events; after the end, nobody
        if isinstance(event, _GONE):
            if isinstance(event, HungUp):
                return self._end(now, "the caller hung up")
            if isinstance(event, LinkLost):
                return self._end(now, f"the caller is gone: {event.what}")
            return self._end(now, "the call is over on the wire")
        return []

    def answer(self, now: float) -> list[SetupAction]:
        """Pick up (CONTROL/ANSWER); the call's events are the media's from here on."""
        if not self.answerable:
            raise IllegalAction(
                f"answer() on a call that is {self.phase.value} ({self.call.state.value})",
                hint="answer only while answerable is true",
            )
        self.call.answer(now)
        self.phase = Phase.ANSWERED
        self._next_ring = None
        return [Connected()]

    def stop(self, now: float, cause: int = Cause.NO_ANSWER) -> list[SetupAction]:
        """Stop ringing without answering: HANGUP with ``cause``."""
        if self.phase is not Phase.ACTIVE:
            raise IllegalAction(
                f"stop() on a call that is {self.phase.value}", hint="stop only while ringing"
            )
        return self._end(now, "not answered", cause)

    def next_deadline(self) -> float | None:
        """When the next ring is due, or None once the ringing is over."""
        return self._next_ring if self.phase is Phase.ACTIVE else None

    def poll(self, now: float) -> list[SetupAction]:
        """Report the next ring if it is due at ``now``."""
        if self.phase is not Phase.ACTIVE or self._next_ring is None or now < self._next_ring:
            return []
        if self.call.state is not CallState.ACCEPTED:
            # Someone else ended the call on the wire (a shutdown hanging everything up).
            return self._end(now, f"the call is {self.call.state.value}")
        return self._ring(now)

    def _end(self, now: float, reason: str, cause: int = Cause.NO_ANSWER) -> list[SetupAction]:
        self.phase = Phase.ENDED
        self._next_ring = None
        if self.call.state is not CallState.CLOSED:
            self.call.hangup(now, cause)  # a no-op once our HANGUP is on its way
        return [RingEnded(reason)]
