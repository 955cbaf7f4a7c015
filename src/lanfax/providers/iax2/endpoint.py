"""Many IAX2 calls over one UDP port, sans-IO: demultiplexing by call number.

:class:`Endpoint` takes datagrams with their source address and "now", hands each frame to
its :class:`~lanfax.providers.iax2.call.Iax2Call` (creating one for an incoming NEW), and
collects what the calls want sent with their destinations. Full frames name our call
number in their destination field; mini frames and a NEW name only the peer's, so those are
found by (address, peer call number).

A call that closed stays known for ``linger`` seconds, so that a retransmitted HANGUP still
gets its ACK; a frame for a call we never had is answered with INVAL, as RFC 5456 says.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from lanfax.providers.iax2.call import CallState, Iax2Call, Timers
from lanfax.providers.iax2.events import CallEvent, Closed
from lanfax.providers.iax2.frames import (
    MAX_CALL_NUMBER,
    FrameError,
    FrameType,
    FullFrame,
    IaxCommand,
    MediaFormat,
    MetaFrame,
    MiniFrame,
    decode,
    encode,
)

__all__ = ["Address", "Endpoint", "EndpointStats"]

Address = tuple[str, int]


@dataclass
class EndpointStats:
    datagrams_in: int = 0
    datagrams_out: int = 0
    malformed: int = 0
    unknown_call: int = 0
    last_error: str = ""


class Endpoint:
    """The calls of one UDP socket (sans-IO)."""

    def __init__(
        self,
        *,
        formats: tuple[int, ...] = (MediaFormat.SLINEAR,),
        username: str = "",
        secret: str = "",
        timers: Timers | None = None,
        linger: float = 10.0,
        rng: random.Random | None = None,
    ) -> None:
        self.formats = formats
        self.username = username
        self.secret = secret
        self.timers = timers or Timers()
        self.linger = linger
        self.stats = EndpointStats()
        self._rng = rng or random.Random()
        self._calls: dict[int, Iax2Call] = {}
        self._addr: dict[int, Address] = {}
        self._by_remote: dict[tuple[Address, int], int] = {}
        self._closed_at: dict[int, float] = {}
        self._outbox: list[tuple[bytes, Address]] = []

    # -- calls ----------------------------------------------------------------------------

    def _number(self) -> int:
        for _ in range(1000):
            n = self._rng.randint(1, MAX_CALL_NUMBER)
            if n not in self._calls:
                return n
        raise FrameError("no free IAX2 call number", hint="too many calls on one endpoint")

    def new_call(
        self, addr: Address, now: float, *, formats: tuple[int, ...] | None = None
    ) -> Iax2Call:
        """A new outgoing call to ``addr`` (the caller then calls ``dial`` on it)."""
        n = self._number()
        call = Iax2Call(
            n,
            now,
            outgoing=True,
            formats=formats or self.formats,
            username=self.username,
            secret=self.secret,
            timers=self.timers,
        )
        self._calls[n] = call
        self._addr[n] = addr
        return call

    def call(self, local_call: int) -> Iax2Call | None:
        return self._calls.get(local_call)

    def address(self, call: Iax2Call) -> Address:
        return self._addr[call.local_call]

    @property
    def calls(self) -> list[Iax2Call]:
        return list(self._calls.values())

    # -- I/O as data ------------------------------------------------------------------------

    def datagram_received(
        self, data: bytes, addr: Address, now: float
    ) -> list[tuple[Iax2Call, CallEvent]]:
        """Take one datagram; returns the events of the call it was for."""
        self.stats.datagrams_in += 1
        try:
            frame = decode(data)
        except FrameError as exc:
            self.stats.malformed += 1
            self.stats.last_error = exc.message
            return []
        if isinstance(frame, MetaFrame):
            return []
        call = self._find(frame, addr, now)
        if call is None:
            return []
        events = call.receive(frame, now)
        if call.remote_call and (addr, call.remote_call) not in self._by_remote:
            self._by_remote[(addr, call.remote_call)] = call.local_call
        return self._collect(call, events, now)

    def _find(self, frame: FullFrame | MiniFrame, addr: Address, now: float) -> Iax2Call | None:
        if isinstance(frame, MiniFrame):
            local = self._by_remote.get((addr, frame.source_call))
            return self._calls.get(local) if local is not None else None
        if frame.dest_call:
            call = self._calls.get(frame.dest_call)
            if call is not None and self._addr[call.local_call] == addr:
                return call
        else:
            local = self._by_remote.get((addr, frame.source_call))
            if local is not None:
                return self._calls.get(local)
            if frame.is_command(IaxCommand.NEW):
                return self._incoming(frame, addr, now)
        self.stats.unknown_call += 1
        if frame.frame_type == FrameType.IAX and frame.subclass in (
            IaxCommand.ACK,
            IaxCommand.INVAL,
        ):
            return None
        # Not ours: tell the peer (RFC 5456 section 6.9, INVAL).
        inval = FullFrame(
            frame.dest_call or 1,
            frame.source_call,
            frame.timestamp,
            frame.iseqno,
            (frame.oseqno + 1) & 0xFF,
            FrameType.IAX,
            IaxCommand.INVAL,
        )
        self._outbox.append((encode(inval), addr))
        return None

    def _incoming(self, frame: FullFrame, addr: Address, now: float) -> Iax2Call:
        n = self._number()
        call = Iax2Call(
            n,
            now,
            outgoing=False,
            formats=self.formats,
            username=self.username,
            secret=self.secret,
            timers=self.timers,
        )
        call.remote_call = frame.source_call
        self._calls[n] = call
        self._addr[n] = addr
        self._by_remote[(addr, frame.source_call)] = n
        return call

    def poll(self, now: float) -> list[tuple[Iax2Call, CallEvent]]:
        """Run every call's timers due at ``now``; forget calls closed long enough."""
        out: list[tuple[Iax2Call, CallEvent]] = []
        for call in list(self._calls.values()):
            deadline = call.next_deadline()
            if deadline is not None and deadline <= now:
                out += self._collect(call, call.poll(now), now)
            else:
                self._drain(call)
        for n, closed in list(self._closed_at.items()):
            if now - closed >= self.linger:
                self._forget(n)
        return out

    def flush(self, now: float) -> None:
        """Collect what the calls queued through their action methods (answer, hangup...)."""
        for call in list(self._calls.values()):
            self._drain(call)
            if call.state is CallState.CLOSED and call.local_call not in self._closed_at:
                self._closed_at[call.local_call] = now

    def next_deadline(self) -> float | None:
        times = [t for c in self._calls.values() if (t := c.next_deadline()) is not None]
        times += [t + self.linger for t in self._closed_at.values()]
        return min(times) if times else None

    def take_datagrams(self) -> list[tuple[bytes, Address]]:
        for call in list(self._calls.values()):
            self._drain(call)
        out, self._outbox = self._outbox, []
        self.stats.datagrams_out += len(out)
        return out

    def _drain(self, call: Iax2Call) -> None:
        addr = self._addr[call.local_call]
        self._outbox.extend((d, addr) for d in call.take_datagrams())

    def _collect(
        self, call: Iax2Call, events: list[CallEvent], now: float
    ) -> list[tuple[Iax2Call, CallEvent]]:
        self._drain(call)
        if call.state is CallState.CLOSED or any(isinstance(e, Closed) for e in events):
            self._closed_at.setdefault(call.local_call, now)
        return [(call, e) for e in events]

    def _forget(self, n: int) -> None:
        call = self._calls.pop(n, None)
        addr = self._addr.pop(n, None)
        self._closed_at.pop(n, None)
        if call is not None and addr is not None:
            self._by_remote.pop((addr, call.remote_call), None)
