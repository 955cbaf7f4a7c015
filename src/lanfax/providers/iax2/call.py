"""One IAX2 call as a sans-IO state machine (RFC 5456 sections 6 and 7).

:class:`Iax2Call` takes received frames and "now" (monotonic seconds) and returns
:mod:`events <lanfax.providers.iax2.events>`; what it wants sent collects in an outbox that
the owner drains with :meth:`Iax2Call.take_datagrams`. Timers (retransmission, PING, LAGRQ)
are a pure model: :meth:`Iax2Call.poll` runs whatever is due at ``now`` and
:meth:`Iax2Call.next_deadline` says when to call it next.

Reliability (RFC 5456 section 7: sequence numbers, acknowledgements, retransmissions) is
:class:`.reliable.Link`'s; when a frame of ours runs out of retransmissions the peer is
declared gone (:class:`LinkLost`).
"""

from __future__ import annotations

import enum
import hashlib

from lanfax.model.errors import ProviderError
from lanfax.providers.iax2.events import (
    Accepted,
    Answered,
    Audio,
    Busy,
    CallEvent,
    Closed,
    Congestion,
    HungUp,
    Incoming,
    LagMeasured,
    LinkLost,
    Proceeding,
    Rejected,
    Ringing,
)
from lanfax.providers.iax2.frames import (
    AuthMethod,
    Cause,
    ControlCommand,
    FrameType,
    FullFrame,
    IaxCommand,
    Ie,
    Ies,
    MediaFormat,
    MiniFrame,
    encode,
    increments_sequence,
)
from lanfax.providers.iax2.reliable import Link, Timers

__all__ = ["CallState", "Iax2Call", "IllegalAction", "Timers"]

#: Formats lanfax can carry fax audio in, best first (slinear is lossless).
AUDIO_FORMATS = (MediaFormat.SLINEAR, MediaFormat.ULAW, MediaFormat.ALAW)
#: Cause text for the Q.931 codes we send.
CAUSE_TEXT: dict[int, str] = {
    Cause.NORMAL_CLEARING: "Normal Clearing",
    Cause.USER_BUSY: "User busy",
    Cause.NO_ANSWER: "No answer",
    Cause.CALL_REJECTED: "Call rejected",
    Cause.BEARER_NOT_AVAILABLE: "Bearer capability not available",
    Cause.NO_CIRCUIT_AVAILABLE: "No circuit available",
    Cause.TEMPORARY_FAILURE: "Temporary failure",
}


class IllegalAction(ProviderError):
    """The owner asked a call (or a set-up core) for something its state does not allow: a
    bug in the owner, never a network condition (h11's ``LocalProtocolError``)."""

    code = "iax2-illegal-action"


class CallState(enum.Enum):
    DIALING = "dialing"  # NEW sent, waiting for ACCEPT / REJECT / AUTHREQ
    OFFERED = "offered"  # incoming NEW taken, waiting for the owner to accept or reject
    ACCEPTED = "accepted"  # ACCEPT exchanged, not answered yet (ringing)
    UP = "up"  # answered: media flows
    HANGING_UP = "hanging_up"  # our HANGUP/REJECT sent, waiting for its ACK
    CLOSED = "closed"  # over on the wire


class Iax2Call:
    """One call's signalling, sequencing, timers and voice framing.

    ``local_call`` is our call number (1..32767). An outgoing call starts with :meth:`dial`;
    an incoming one is created by the endpoint and fed its NEW through :meth:`receive`.
    """

    def __init__(
        self,
        local_call: int,
        now: float,
        *,
        outgoing: bool,
        formats: tuple[int, ...] = (MediaFormat.SLINEAR,),
        username: str = "",
        secret: str = "",
        timers: Timers | None = None,
    ) -> None:
        self.local_call = local_call
        self.outgoing = outgoing
        self.formats = tuple(int(f) for f in formats)
        self.username = username
        self.secret = secret
        self.timers = timers or Timers()
        self.state = CallState.DIALING if outgoing else CallState.OFFERED
        #: The voice format of the call (set by ACCEPT).
        self.media_format = self.formats[0]
        self.hangup_cause: tuple[str, int | None] | None = None
        self.stats = {"retransmitted": 0, "duplicates": 0, "out_of_order": 0, "voice_rx": 0}
        self._link = Link(local_call, now, self.timers, self.stats)
        self._next_ping = now + self.timers.ping_interval
        self._next_lagrq = now + self.timers.lagrq_interval
        self._new_ies: Ies | None = None
        self._authenticated = False
        self._voice_ts: int | None = None
        self._voice_full_ts = -1
        self._rx_format: int | None = None
        self._rx_voice_ts = 0

    # -- sending ----------------------------------------------------------------------------

    @property
    def remote_call(self) -> int:
        """The peer's call number (0 until its first frame)."""
        return self._link.remote_call

    @remote_call.setter
    def remote_call(self, value: int) -> None:
        self._link.remote_call = value

    def _iax(
        self, now: float, command: IaxCommand, *pairs: tuple[int, bytes | str | int | None]
    ) -> None:
        self._link.send(now, FrameType.IAX, command, ies=Ies.build(*pairs))

    def take_datagrams(self) -> list[bytes]:
        """Everything the call wants sent since the last call, in order."""
        return self._link.take_datagrams()

    @property
    def unacknowledged(self) -> int:
        return len(self._link.pending)

    # -- the owner's actions ----------------------------------------------------------------

    def dial(
        self,
        now: float,
        called_number: str,
        *,
        calling_number: str = "",
        calling_name: str = "",
        calltoken: bool = False,
    ) -> None:
        """Send NEW (outgoing calls only)."""
        if not self.outgoing or self.state is not CallState.DIALING or self._new_ies is not None:
            raise IllegalAction(
                f"dial() is for a new outgoing call only, not an {self._kind()}",
                hint="create a call with Endpoint.new_call and dial it once",
            )
        capability = 0
        for f in self.formats:
            capability |= f
        self._new_ies = Ies.build(
            (Ie.VERSION, 2),
            (Ie.CALLED_NUMBER, called_number),
            (Ie.DNID, called_number),
            (Ie.CALLING_NUMBER, calling_number or None),
            (Ie.CALLING_NAME, calling_name or None),
            (Ie.USERNAME, self.username or None),
            (Ie.FORMAT, self.formats[0]),
            (Ie.CAPABILITY, capability),
            (Ie.CALLTOKEN, b"" if calltoken else None),
        )
        self._link.send(now, FrameType.IAX, IaxCommand.NEW, ies=self._new_ies)

    def accept(self, now: float, *, ring: bool = True) -> None:
        """Take an offered call: ACCEPT with the chosen format, then RINGING."""
        if self.state is not CallState.OFFERED:
            raise IllegalAction(f"accept() on an {self._kind()}", hint="accept an offered call")
        self.state = CallState.ACCEPTED
        self._iax(now, IaxCommand.ACCEPT, (Ie.FORMAT, self.media_format))
        if ring:
            self._link.send(now, FrameType.CONTROL, ControlCommand.RINGING)

    def answer(self, now: float) -> list[CallEvent]:
        """Pick up an offered or accepted incoming call (CONTROL/ANSWER); media may flow
        after this."""
        if self.outgoing or self.state not in (CallState.OFFERED, CallState.ACCEPTED):
            raise IllegalAction(
                f"answer() on an {self._kind()}", hint="answer an incoming call before it ends"
            )
        if self.state is CallState.OFFERED:
            self.accept(now, ring=False)
        self.state = CallState.UP
        self._link.send(now, FrameType.CONTROL, ControlCommand.ANSWER)
        return [Answered()]

    def reject(self, now: float, cause: int = Cause.CALL_REJECTED) -> None:
        """Refuse an offered call (REJECT with a cause)."""
        if self.state is not CallState.OFFERED:
            self.hangup(now, cause)
            return
        self._iax(now, IaxCommand.REJECT, *_cause_ies(cause))
        self.state = CallState.HANGING_UP

    def hangup(self, now: float, cause: int = Cause.NORMAL_CLEARING) -> None:
        """End the call (HANGUP with a cause); the call closes when the peer ACKs it.

        Always allowed: once the call is ending or over it does nothing, because both ends
        may hang up at once and an owner cleaning up cannot know who was first."""
        if self.state in (CallState.HANGING_UP, CallState.CLOSED):
            return
        if self.state is CallState.DIALING and self.remote_call == 0:
            # Nothing answered our NEW yet: there is nobody to hang up on.
            self._link.pending.clear()
            self.state = CallState.CLOSED
            return
        self._iax(now, IaxCommand.HANGUP, *_cause_ies(cause))
        self.state = CallState.HANGING_UP

    def send_voice(self, now: float, payload: bytes, samples: int) -> None:
        """One voice frame (``samples`` long, in :attr:`media_format`): a mini frame, or a
        full VOICE frame for the first one and whenever the timestamp's top 16 bits change
        (a mini frame carries only the low 16). Dropped unless the call is up: the media
        runs on its own clock and may tick once more after the far end hung up."""
        if self.state is not CallState.UP:
            return
        if self._voice_ts is None:
            # Voice time starts on a 20 ms boundary at the call time it begins.
            self._voice_ts = -(-self._link.ms(now) // 20) * 20
        ts = self._voice_ts & 0xFFFFFFFF
        self._voice_ts += max(1, samples // 8)
        if self._voice_full_ts < 0 or (ts >> 16) != (self._voice_full_ts >> 16):
            self._voice_full_ts = ts
            self._link.last_ts = max(self._link.last_ts, ts)
            self._link.send(now, FrameType.VOICE, self.media_format, data=payload, timestamp=ts)
        else:
            self._link.outbox.append(encode(MiniFrame(self.local_call, ts & 0xFFFF, payload)))

    def _kind(self) -> str:
        return f"{'outgoing' if self.outgoing else 'incoming'} call that is {self.state.value}"

    # -- timers -----------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        if self.state is CallState.CLOSED:
            return None
        link = self._link.next_deadline()
        times = [] if link is None else [link]
        if self.state in (CallState.ACCEPTED, CallState.UP):
            times += [self._next_ping, self._next_lagrq]
        return min(times) if times else None

    def poll(self, now: float) -> list[CallEvent]:
        """Run the timers due at ``now``: retransmissions, PING, LAGRQ."""
        events: list[CallEvent] = []
        if self.state is CallState.CLOSED:
            return events
        lost = self._link.retransmit(now)
        if lost is not None:
            return self._lost(lost)
        if self.state in (CallState.ACCEPTED, CallState.UP):
            if now >= self._next_ping:
                self._next_ping = now + self.timers.ping_interval
                self._iax(now, IaxCommand.PING)
            if now >= self._next_lagrq:
                self._next_lagrq = now + self.timers.lagrq_interval
                self._iax(now, IaxCommand.LAGRQ)
        return events

    def _lost(self, what: str) -> list[CallEvent]:
        was_closing = self.state is CallState.HANGING_UP
        self.state = CallState.CLOSED
        self._link.pending.clear()
        return [Closed()] if was_closing else [LinkLost(what), Closed()]

    # -- receiving ----------------------------------------------------------------------------

    def receive(self, frame: FullFrame | MiniFrame, now: float) -> list[CallEvent]:
        """Take one frame addressed to this call."""
        if isinstance(frame, MiniFrame):
            return self._mini(frame)
        if self.state is CallState.CLOSED:
            if frame.frame_type == FrameType.IAX and frame.subclass in (
                IaxCommand.HANGUP,
                IaxCommand.REJECT,
            ):
                self._link.ack(frame)  # the peer did not hear our ACK of its HANGUP: say it again
            elif increments_sequence(frame.frame_type, frame.subclass):
                self._link.inval(frame)  # the call is over here: tell the peer to drop it too
            return []
        if self.remote_call == 0:
            self.remote_call = frame.source_call
        self._link.acknowledged(frame)
        if frame.is_command(IaxCommand.ACK):
            return self._after_ack()
        if frame.is_command(IaxCommand.VNAK):
            self._link.resend_from(frame.iseqno, now)
            return []
        if frame.is_command(IaxCommand.INVAL):
            self.state = CallState.CLOSED
            self._link.pending.clear()
            return [HungUp("the peer does not know this call (INVAL)", None), Closed()]
        if not increments_sequence(frame.frame_type, frame.subclass):
            return []  # TXCNT / TXACC: nothing to do for us
        if not self._link.take_in_order(frame, now):
            return []
        if frame.frame_type == FrameType.IAX:
            return self._iax_frame(frame, now)
        if frame.frame_type == FrameType.CONTROL:
            return self._control(frame, now)
        if frame.frame_type == FrameType.VOICE:
            self._rx_format = frame.subclass
            self._rx_voice_ts = frame.timestamp
            self.stats["voice_rx"] += 1
            return [Audio(frame.timestamp, frame.subclass, frame.data)]
        return []  # DTMF, text, images...: not for a fax line

    def _after_ack(self) -> list[CallEvent]:
        if self.state is CallState.HANGING_UP and not self._link.pending:
            self.state = CallState.CLOSED
            return [Closed()]
        return []

    def _mini(self, frame: MiniFrame) -> list[CallEvent]:
        if self.state is not CallState.UP or self._rx_format is None:
            return []  # no full VOICE frame yet: the format is not known
        # The full timestamp: the top bits of the last one, wrapping forwards if needed.
        ts = (self._rx_voice_ts & ~0xFFFF) | frame.timestamp
        if ts < self._rx_voice_ts - 0x8000:
            ts += 0x10000
        self._rx_voice_ts = ts
        self.stats["voice_rx"] += 1
        return [Audio(ts, self._rx_format, frame.data)]

    def _iax_frame(self, frame: FullFrame, now: float) -> list[CallEvent]:
        cmd = frame.subclass
        ies = frame.ies
        if cmd == IaxCommand.NEW:
            return self._new(frame, now)
        if cmd == IaxCommand.PING:
            self._link.send(now, FrameType.IAX, IaxCommand.PONG, timestamp=frame.timestamp)
            return []
        if cmd == IaxCommand.LAGRQ:
            self._link.send(now, FrameType.IAX, IaxCommand.LAGRP, timestamp=frame.timestamp)
            return []
        if cmd in (IaxCommand.PONG, IaxCommand.LAGRP):
            return [LagMeasured(max(0, self._link.ms(now) - frame.timestamp))]
        if cmd == IaxCommand.ACCEPT and self.state is CallState.DIALING:
            fmt = ies.number(Ie.FORMAT, self.formats[0]) or self.formats[0]
            if fmt not in self.formats:
                self.hangup(now, Cause.BEARER_NOT_AVAILABLE)
                return [
                    Rejected(
                        f"the peer accepted with format {fmt:#x}, which we did not offer",
                        Cause.BEARER_NOT_AVAILABLE,
                    )
                ]
            self.media_format = fmt
            self.state = CallState.ACCEPTED
            return [Accepted(fmt)]
        if cmd == IaxCommand.AUTHREQ and self.state is CallState.DIALING:
            return self._authreq(frame, now)
        if cmd == IaxCommand.CALLTOKEN and self.state is CallState.DIALING:
            return self._calltoken(frame, now)
        if cmd in (IaxCommand.REJECT, IaxCommand.HANGUP):
            cause = ies.text(Ie.CAUSE)
            code = ies.number(Ie.CAUSECODE)
            self.hangup_cause = (cause, code)
            self.state = CallState.CLOSED
            self._link.pending.clear()
            if cmd == IaxCommand.REJECT:
                return [Rejected(cause or "rejected", code, auth=self._authenticated), Closed()]
            return [HungUp(cause or "hung up", code), Closed()]
        if cmd in (IaxCommand.TXREQ,):
            self._iax(now, IaxCommand.TXREJ)
            return []
        if cmd in (
            IaxCommand.QUELCH,
            IaxCommand.UNQUELCH,
            IaxCommand.UNSUPPORT,
            IaxCommand.TXREJ,
            IaxCommand.ACCEPT,
            IaxCommand.AUTHREQ,
        ):
            return []
        self._iax(now, IaxCommand.UNSUPPORT, (Ie.IAX_UNKNOWN, bytes((cmd & 0xFF,))))
        return []

    def _new(self, frame: FullFrame, now: float) -> list[CallEvent]:
        if self.outgoing or self.state is not CallState.OFFERED:
            return []
        ies = frame.ies
        wanted = ies.number(Ie.FORMAT, 0) or 0
        capability = ies.number(Ie.CAPABILITY, wanted) or wanted
        if wanted in self.formats:
            chosen: int | None = wanted
        else:
            chosen = next((f for f in self.formats if f & capability), None)
        if chosen is None:
            self.reject(now, Cause.BEARER_NOT_AVAILABLE)
            return []
        self.media_format = chosen
        return [
            Incoming(
                called_number=ies.text(Ie.CALLED_NUMBER) or ies.text(Ie.DNID),
                calling_number=ies.text(Ie.CALLING_NUMBER),
                calling_name=ies.text(Ie.CALLING_NAME),
                username=ies.text(Ie.USERNAME),
                media_format=chosen,
            )
        ]

    def _authreq(self, frame: FullFrame, now: float) -> list[CallEvent]:
        ies = frame.ies
        methods = AuthMethod(ies.number(Ie.AUTHMETHODS, 0) or 0)
        challenge = ies.text(Ie.CHALLENGE)
        if self._authenticated:
            reason = "the peer asked for authentication again: the secret is wrong"
        elif not self.secret:
            reason = f"the peer asks for authentication ({methods!r}) and no secret is configured"
        elif AuthMethod.MD5 in methods:
            digest = hashlib.md5((challenge + self.secret).encode("utf-8")).hexdigest()
            self._authenticated = True
            self._iax(
                now,
                IaxCommand.AUTHREP,
                (Ie.USERNAME, self.username or None),
                (Ie.MD5_RESULT, digest),
            )
            return []
        elif AuthMethod.PLAINTEXT in methods:
            self._authenticated = True
            self._iax(
                now,
                IaxCommand.AUTHREP,
                (Ie.USERNAME, self.username or None),
                (Ie.PASSWORD, self.secret),
            )
            return []
        else:
            reason = f"the peer offers only authentication methods we lack ({methods!r})"
        self.hangup(now, Cause.CALL_REJECTED)
        return [Rejected(reason, None, auth=True)]

    def _calltoken(self, frame: FullFrame, now: float) -> list[CallEvent]:
        """The peer wants a call token (Asterisk >= 1.6.2): send NEW again, carrying it."""
        token = frame.ies.get(Ie.CALLTOKEN) or b""
        if self._new_ies is None or not token:
            return []
        self._link.restart()
        items = tuple((k, v) for k, v in self._new_ies.items if k != Ie.CALLTOKEN)
        self._new_ies = Ies((*items, (int(Ie.CALLTOKEN), token)))
        self._link.send(now, FrameType.IAX, IaxCommand.NEW, ies=self._new_ies)
        return []

    def _control(self, frame: FullFrame, now: float) -> list[CallEvent]:
        sub = frame.subclass
        if sub == ControlCommand.RINGING:
            return [Ringing()]
        if sub == ControlCommand.ANSWER and self.state in (CallState.ACCEPTED, CallState.DIALING):
            self.state = CallState.UP
            return [Answered()]
        if sub in (ControlCommand.PROCEEDING, ControlCommand.PROGRESS):
            return [Proceeding()]
        if sub == ControlCommand.BUSY:
            return [Busy()]
        if sub == ControlCommand.CONGESTION:
            return [Congestion()]
        if sub == ControlCommand.HANGUP:
            self.hangup_cause = ("hung up", None)
            self.state = CallState.CLOSED
            self._link.pending.clear()
            return [HungUp("hung up", None), Closed()]
        return []


def _cause_ies(cause: int) -> tuple[tuple[int, bytes | str | int | None], ...]:
    return ((Ie.CAUSE, CAUSE_TEXT.get(cause)), (Ie.CAUSECODE, cause))
