"""The media of SIP fax calls: RTP (G.711) and UDPTL (T.38) sockets and a real-time ticker
that runs every call's spandsp session in 20 ms steps on the event loop.

One :class:`Ticker` per provider steps all its live :class:`FaxMedia` at ``start + k * 20 ms``
(absolute times, so one late tick does not push the others back); a tick that runs more than
one period late is counted in ``late_ticks`` (the media of that tick left late).

A :class:`FaxMedia` owns one session at a time. It starts as audio or T.38 and can be
switched to T.38 once (the re-INVITE); the switch replaces the audio session by a fresh T.38
session, so T.30 starts over on the new medium, as with a T.38 gateway.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lanfax.engine import g711
from lanfax.engine.events import PageDone, PhaseB, SessionEvent, SessionResult
from lanfax.engine.options import SessionOptions
from lanfax.engine.session import AudioFaxSession, T38FaxSession
from lanfax.engine.watchdog import Watchdog
from lanfax.model.errors import ProviderError
from lanfax.providers.sip.rtp import JitterBuffer, RtpError, RtpSender, parse_rtp
from lanfax.providers.sip.sdp import Media
from lanfax.providers.sip.udptl import UdptlReceiver, UdptlSender

__all__ = ["FaxMedia", "MediaPorts", "Ticker", "bind_media"]

TICK = 160  # samples: 20 ms
PERIOD = TICK / 8000
#: How often the last UDPTL datagram is repeated when nothing new follows it, so that the
#: tail of a burst (which no later packet carries as redundancy) survives a loss.
IDLE_REPEATS = 2
_MAX_QUEUE = 200


class _Socket(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: deque[tuple[bytes, tuple[str, int]]] = deque(maxlen=_MAX_QUEUE)
        self.transport: asyncio.DatagramTransport | None = None

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.queue.append((data, (str(addr[0]), int(str(addr[1])))))

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP unreachable while the far end switches ports: the media is UDP

    def send(self, data: bytes, dest: tuple[str, int]) -> None:
        if self.transport is not None:
            self.transport.sendto(data, dest)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None


@dataclass
class MediaPorts:
    rtp: _Socket
    udptl: _Socket

    @property
    def rtp_port(self) -> int:
        assert self.rtp.transport is not None
        return int(self.rtp.transport.get_extra_info("sockname")[1])

    @property
    def udptl_port(self) -> int:
        assert self.udptl.transport is not None
        return int(self.udptl.transport.get_extra_info("sockname")[1])

    def close(self) -> None:
        self.rtp.close()
        self.udptl.close()


def _factory(sock: _Socket) -> Callable[[], _Socket]:
    return lambda: sock


async def bind_media(host: str, ports: tuple[int, int]) -> MediaPorts:
    """Bind an RTP port (even) and a UDPTL port (the next one) in the range."""
    loop = asyncio.get_running_loop()
    low, high = ports
    pairs = (high - low + 1) // 2
    start = random.randrange(pairs)
    for i in range(pairs):
        port = low + 2 * ((start + i) % pairs)
        port += port % 2
        if port + 1 > high:
            continue
        rtp, udptl = _Socket(), _Socket()
        try:
            t1, _ = await loop.create_datagram_endpoint(_factory(rtp), local_addr=(host, port))
        except OSError:
            continue
        try:
            t2, _ = await loop.create_datagram_endpoint(
                _factory(udptl), local_addr=(host, port + 1)
            )
        except OSError:
            t1.close()
            continue
        rtp.transport, udptl.transport = t1, t2
        return MediaPorts(rtp, udptl)
    raise ProviderError(
        f"no free media ports in {low}-{high} on {host}",
        hint="widen media_ports or lower channels",
    )


class FaxMedia:
    """One call's media: a spandsp session fed from RTP or UDPTL, stepped by a Ticker."""

    def __init__(
        self,
        ports: MediaPorts,
        *,
        calling: bool,
        options: SessionOptions,
        tx_file: Path | None,
        rx_file: Path | None,
        jitter_frames: int,
        redundancy: int,
        max_seconds: float,
        on_progress: Callable[[str, int, str], None],
        watch: Callable[[SessionEvent], None] | None = None,
    ) -> None:
        self.ports = ports
        #: Sees each session event first (a ReceiveGuard, which may end the session).
        self._watch = watch
        self._calling = calling
        self._options = options
        self._tx_file = tx_file
        self._rx_file = rx_file
        self._jitter_frames = jitter_frames
        self._redundancy = redundancy
        self._on_progress = on_progress
        self._dog = Watchdog(max_line_seconds=max_seconds, max_idle_seconds=300.0)
        self.session: AudioFaxSession | T38FaxSession | None = None
        self.remote: Media | None = None
        self.kind = "none"
        self.negotiated = False
        self.pages = 0
        self.remote_ident = ""
        self.switches = 0
        self.ticks = 0
        self.stats: dict[str, int] = {}
        self.result: SessionResult | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._rtp: RtpSender | None = None
        self._jitter: JitterBuffer | None = None
        self._udptl_tx: UdptlSender | None = None
        self._udptl_rx: UdptlReceiver | None = None
        self._idle = 0

    # -- control (event loop) -------------------------------------------------------------

    def set_remote(self, media: Media) -> None:
        """Start on, or switch to, the negotiated stream. The same kind again (a session
        refresh, a repeated T.38 re-INVITE) only updates the far address."""
        if self.session is not None and media.kind == self.kind:
            self.remote = media
            return
        if self.session is not None:
            if media.kind == "audio":
                # Back from T.38 to audio mid-call is not something a fax survives.
                self.remote = media
                return
            self._collect_stats()
            self.session.close()
            self.switches += 1
        self.remote = media
        self.kind = media.kind
        if media.kind == "t38":
            self.session = T38FaxSession(
                self._calling, self._options, tx_file=self._tx_file, rx_file=self._rx_file
            )
            assert media.t38 is not None
            self._udptl_tx = UdptlSender(
                self._redundancy if media.t38.error_correction != "none" else 0,
                media.t38.max_datagram,
            )
            self._udptl_rx = UdptlReceiver()
        else:
            self.session = AudioFaxSession(
                self._calling, self._options, tx_file=self._tx_file, rx_file=self._rx_file
            )
            self._rtp = RtpSender(
                media.payload_type, random.getrandbits(32), random.getrandbits(16)
            )
            self._jitter = JitterBuffer(self._jitter_frames)

    def terminate(self) -> None:
        """Hang up: T.30 ends now with what it had (phase E follows at the next step)."""
        if self.session is not None and not self.session.done:
            self.session.terminate()

    @property
    def finished(self) -> bool:
        return self.done.done()

    @property
    def session_done(self) -> bool:
        return self.session is not None and self.session.done

    def close(self) -> None:
        if self.session is not None:
            if self.result is None and self.session.done:
                self.result = self.session.result
            self.session.close()
        self.ports.close()
        if not self.done.done():
            self.done.set_result(None)

    # -- one tick -------------------------------------------------------------------------

    def step(self) -> None:
        session = self.session
        if session is None or self.done.done():
            return
        self.ticks += 1
        if not session.done:
            if isinstance(session, T38FaxSession):
                self._step_t38(session)
            else:
                self._step_audio(session)
            self._dog.check(session)
        for ev in session.events():
            if self._watch is not None:
                self._watch(ev)
            if isinstance(ev, PhaseB):
                self.negotiated = True
                self.remote_ident = ev.remote_ident
                self._on_progress("negotiated", self.pages, ev.remote_ident)
            elif isinstance(ev, PageDone):
                self.pages = max(self.pages, ev.page)
                self._on_progress("page", ev.page, "EOP" if "EOP" in ev.frame else "")
        if session.done and self.result is None:
            self.result = session.result
            self._collect_stats()
            self._on_progress("ended", self.pages, "")

    def _step_audio(self, session: AudioFaxSession) -> None:
        assert self._jitter is not None and self._rtp is not None and self.remote is not None
        sock = self.ports.rtp
        while sock.queue:
            data, _ = sock.queue.popleft()
            try:
                pkt = parse_rtp(data)
            except RtpError:
                continue
            if pkt.payload_type == self.remote.payload_type:
                self._jitter.push(pkt.seq, pkt.payload)
        frame = self._jitter.pop()
        if frame is not None and len(frame) == TICK:
            session.rx(g711.decode(frame, self.remote.codec))
        else:
            session.rx(np.zeros(TICK, dtype=np.int16))
        out = session.tx(TICK)
        sock.send(
            self._rtp.packet(g711.encode(out, self.remote.codec).tobytes()),
            (self.remote.address, self.remote.port),
        )

    def _step_t38(self, session: T38FaxSession) -> None:
        assert self._udptl_rx is not None and self._udptl_tx is not None
        assert self.remote is not None
        sock = self.ports.udptl
        dest = (self.remote.address, self.remote.port)
        while sock.queue:
            data, _ = sock.queue.popleft()
            for seq, ifp in self._udptl_rx.feed(data):
                session.receive(seq, ifp)
        packets = session.take_packets() + session.tick(TICK)
        for seq, ifp in packets:
            sock.send(self._udptl_tx.frame(seq, ifp), dest)
        if packets:
            self._idle = 0
        elif self._udptl_tx.last is not None and self._idle < IDLE_REPEATS:
            self._idle += 1
            sock.send(self._udptl_tx.last, dest)

    def _collect_stats(self) -> None:
        if self._udptl_rx is not None:
            rx = self._udptl_rx
            self.stats.update(
                udptl_received=rx.received,
                udptl_recovered=rx.recovered,
                udptl_lost=rx.lost,
                udptl_late=rx.late,
            )
        if self._jitter is not None:
            jb = self._jitter
            self.stats.update(rtp_played=jb.played, rtp_missing=jb.missing, rtp_late=jb.late)


class Ticker:
    """Steps every live FaxMedia each 20 ms on the event loop."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._media: set[FaxMedia] = set()
        self._handle: asyncio.TimerHandle | None = None
        self._start = 0.0
        self._ticks = 0
        self.late_ticks = 0
        self.total_ticks = 0
        #: Media packets that left late: every call stepped in a late tick.
        self.late_packets = 0
        #: The worst lateness of a tick so far, in seconds (reset by the caller at will).
        self.max_lateness = 0.0

    def add(self, media: FaxMedia) -> None:
        self._media.add(media)
        if self._handle is None:
            self._start = self._loop.time()
            self._ticks = 0
            self._handle = self._loop.call_at(self._start, self._tick)

    def remove(self, media: FaxMedia) -> None:
        self._media.discard(media)

    def _tick(self) -> None:
        due = self._start + self._ticks * PERIOD
        now = self._loop.time()
        if self._media:  # an idle last tick carries no media: its delay hurts no call
            self.max_lateness = max(self.max_lateness, now - due)
        if now - due > PERIOD:
            self.late_ticks += 1
            self.late_packets += len(self._media)
        self.total_ticks += 1
        for media in list(self._media):
            try:
                media.step()
            except Exception as exc:  # a failing call must not stop the others' media
                self._media.discard(media)
                if not media.done.done():
                    media.done.set_exception(exc)
        self._ticks += 1
        if not self._media:
            self._handle = None
            return
        # Catch up without bursting: if far behind, restart the schedule from now.
        if now - due > 10 * PERIOD:
            self._start = now - self._ticks * PERIOD
        self._handle = self._loop.call_at(self._start + self._ticks * PERIOD, self._tick)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._media.clear()
