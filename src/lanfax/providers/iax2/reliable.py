"""The reliable half of one IAX2 call (RFC 5456 section 7), as pure code: sequence numbers,
acknowledgements, the retransmission list and the outbox. :class:`~.call.Iax2Call` keeps
the call's states and asks this for every frame it sends and every full frame it takes.

Every full frame that takes a sequence number must be acknowledged. Ours stay in the
retransmission list until an ACK with their timestamp arrives, or any full frame whose
``iseqno`` is past them (the implicit acknowledgement); each retransmission sets the R bit and
doubles the wait, up to ``Timers.retransmit_tries`` sends. Frames from the peer are taken in
``oseqno`` order: a repeat of one already taken is ACKed again and dropped, one from the
future is dropped with a VNAK so the peer resends what we missed.
"""

from __future__ import annotations

from dataclasses import dataclass

from lanfax.providers.iax2.frames import (
    FrameType,
    FullFrame,
    IaxCommand,
    Ies,
    encode,
    frame_name,
    increments_sequence,
)

__all__ = ["Link", "Timers", "seq_before"]


@dataclass(frozen=True, slots=True)
class Timers:
    """Retransmission and keep-alive timing (seconds)."""

    retransmit_first: float = 0.25
    retransmit_max: float = 4.0
    #: Transmissions of one full frame before the peer is declared gone.
    retransmit_tries: int = 6
    ping_interval: float = 2.0
    lagrq_interval: float = 10.0


@dataclass(slots=True)
class _Pending:
    """A full frame waiting for its acknowledgement."""

    frame: FullFrame
    next_at: float
    wait: float
    tries: int = 1


def seq_before(seq: int, ack: int) -> bool:
    """``seq`` is acknowledged by an ``iseqno`` of ``ack`` (mod-256 window of 128)."""
    return 0 < (ack - seq) % 256 <= 128


class Link:
    """One call's sequencing, acknowledgements, retransmissions and outbox (see the module
    doc). ``stats`` is the call's counter dict (``retransmitted``, ``duplicates``,
    ``out_of_order`` are counted here)."""

    def __init__(self, local_call: int, now: float, timers: Timers, stats: dict[str, int]) -> None:
        self.local_call = local_call
        self.remote_call = 0
        self.timers = timers
        self.stats = stats
        self.start = now
        self.last_ts = 0
        self.oseq = 0
        self.iseq = 0
        self.pending: list[_Pending] = []
        self.outbox: list[bytes] = []

    def ms(self, now: float) -> int:
        """Our timestamp: milliseconds since the call began, never going backwards."""
        ts = max(int((now - self.start) * 1000), self.last_ts)
        self.last_ts = ts
        return ts & 0xFFFFFFFF

    def send(
        self,
        now: float,
        frame_type: int,
        subclass: int,
        *,
        ies: Ies | None = None,
        data: bytes = b"",
        timestamp: int | None = None,
    ) -> FullFrame:
        frame = FullFrame(
            source_call=self.local_call,
            dest_call=self.remote_call,
            timestamp=self.ms(now) if timestamp is None else timestamp,
            oseqno=self.oseq,
            iseqno=self.iseq,
            frame_type=frame_type,
            subclass=subclass,
            data=data,
            ies=ies or Ies(),
        )
        self.outbox.append(encode(frame))
        if increments_sequence(frame_type, subclass):
            self.oseq = (self.oseq + 1) & 0xFF
            wait = self.timers.retransmit_first
            self.pending.append(_Pending(frame, now + wait, wait))
        return frame

    def ack(self, frame: FullFrame) -> None:
        """ACK carries the acknowledged frame's timestamp (RFC 5456 section 8.4.4)."""
        self._reply(frame, IaxCommand.ACK)

    def inval(self, frame: FullFrame) -> None:
        self._reply(frame, IaxCommand.INVAL)

    def _reply(self, frame: FullFrame, command: IaxCommand) -> None:
        reply = FullFrame(
            self.local_call,
            frame.source_call,
            frame.timestamp,
            self.oseq,
            self.iseq,
            FrameType.IAX,
            command,
        )
        self.outbox.append(encode(reply))

    def take_datagrams(self) -> list[bytes]:
        """Everything the call wants sent since the last call, in order."""
        out, self.outbox = self.outbox, []
        return out

    def restart(self) -> None:
        """Start the call's sequencing again (a NEW sent again with a call token)."""
        self.pending.clear()
        self.oseq = 0
        self.iseq = 0
        self.remote_call = 0

    # -- timers -----------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        return min((p.next_at for p in self.pending), default=None)

    def retransmit(self, now: float) -> str | None:
        """Send again what is due at ``now``; a description of the frame that was never
        acknowledged when one ran out of tries (the peer is gone), else None."""
        for p in list(self.pending):
            if p.next_at > now:
                continue
            if p.tries >= self.timers.retransmit_tries:
                return (
                    f"{frame_name(p.frame.frame_type, p.frame.subclass)} "
                    f"was never acknowledged ({p.tries} tries)"
                )
            p.tries += 1
            p.wait = min(p.wait * 2, self.timers.retransmit_max)
            p.next_at = now + p.wait
            self.stats["retransmitted"] += 1
            again = FullFrame(
                p.frame.source_call,
                self.remote_call,
                p.frame.timestamp,
                p.frame.oseqno,
                self.iseq,
                p.frame.frame_type,
                p.frame.subclass,
                retransmitted=True,
                data=p.frame.data,
                ies=p.frame.ies,
            )
            self.outbox.append(encode(again))
        return None

    # -- receiving ----------------------------------------------------------------------------

    def acknowledged(self, frame: FullFrame) -> None:
        """Drop our pending frames this one acknowledges: every full frame's ``iseqno`` (an
        ACK's included) is the next sequence number the peer expects from us. An ACK's
        timestamp is not used to match: several of our frames may share a millisecond."""
        self.pending = [p for p in self.pending if not seq_before(p.frame.oseqno, frame.iseqno)]

    def resend_from(self, seq: int, now: float) -> None:
        """A VNAK: everything from ``seq`` on goes again at the next poll."""
        for p in self.pending:
            if not seq_before(p.frame.oseqno, seq):
                p.next_at = now

    def take_in_order(self, frame: FullFrame, now: float) -> bool:
        """Whether ``frame`` (one that takes a sequence number) is the next one from the
        peer: then it is ACKed and counted. A repeat is ACKed again, one from the future is
        answered with a VNAK; both are dropped (False)."""
        if frame.oseqno != self.iseq:
            if seq_before(frame.oseqno, self.iseq):
                self.stats["duplicates"] += 1
                self.ack(frame)
            else:
                self.stats["out_of_order"] += 1
                self.send(now, FrameType.IAX, IaxCommand.VNAK)
            return False
        self.iseq = (self.iseq + 1) & 0xFF
        self.ack(frame)
        return True
