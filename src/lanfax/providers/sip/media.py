"""The media of SIP fax calls: RTP (G.711) and UDPTL (T.38) sockets and :class:`FaxMedia`,
one call's spandsp session stepped 20 ms at a time by its account's
:class:`~lanfax.providers.sip.ticker.Ticker` (a thread: see :mod:`.ticker`), which also
reads the call's sockets.

A :class:`FaxMedia` owns one session at a time. It starts as audio or T.38 and can be
switched to T.38 once (the re-INVITE); the switch replaces the audio session by a fresh T.38
session, so T.30 starts over on the new medium, as with a T.38 gateway.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lanfax.engine import g711
from lanfax.engine.events import PageDone, PhaseB, SessionEvent, SessionResult
from lanfax.engine.lines import RtpLine, UdptlLine
from lanfax.engine.options import SessionOptions
from lanfax.engine.session import AudioFaxSession, T38FaxSession
from lanfax.engine.watchdog import Watchdog
from lanfax.model.errors import ProviderError
from lanfax.providers.sip.rtp import JitterBuffer, RtpError, RtpSender, parse_rtp
from lanfax.providers.sip.sdp import Media
from lanfax.providers.sip.udptl import UdptlReceiver, UdptlSender

if TYPE_CHECKING:
    from lanfax.providers.sip.ticker import Ticker


__all__ = ["FaxMedia", "MediaPorts", "bind_media"]

TICK = 160  # samples: 20 ms
PERIOD = TICK / 8000
#: How often the last UDPTL datagram is repeated when nothing new follows it, so that the
#: tail of a burst (which no later packet carries as redundancy) survives a loss.
IDLE_REPEATS = 2
_MAX_QUEUE = 200
#: The largest datagram read (UDP's own limit: nothing is ever truncated).
_MAX_DATAGRAM = 65535
#: Changes of any call's far address in this process, counted (a Ticker keeps its calls'
#: send columns while this and its calls stay the same).
DEST_CHANGES = [0]


class _Socket:
    """A media socket, read by its :class:`Ticker` at the start of each tick (every datagram
    that arrived, into :attr:`queue`: the newest ``_MAX_QUEUE``) and written with one
    ``sendto`` per packet.

    #19: the event loop does not read media sockets: it woke up for every datagram (a
    selector event, a callback handle and a ``recvfrom`` each, 50 times a second per call
    and direction). The Ticker watches all its calls' sockets with one epoll instead and
    reads them all in one pass per tick, so the loop only wakes for the tick. The kernel
    holds what arrives between ticks; the Ticker drains it all, so the queue still keeps
    the newest datagrams when a call's media is not being stepped (the RTP socket after a
    switch to T.38).

    A datagram the kernel cannot take now (a full buffer, an unreachable far end while it
    switches ports) is dropped, as the network would drop it: this is real-time UDP media.
    """

    __slots__ = ("_watcher", "fd", "port", "queue", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock: socket.socket | None = sock
        self.fd = sock.fileno()
        self.port = int(sock.getsockname()[1])
        self.queue: deque[bytes] = deque(maxlen=_MAX_QUEUE)
        #: The Ticker whose epoll watches this socket, if one does.
        self._watcher: Ticker | None = None

    def drain(self) -> list[bytes]:
        """The datagrams queued since the last tick, oldest first."""
        q = self.queue
        out = list(q)
        q.clear()
        return out

    def send(self, data: bytes | bytearray, dest: tuple[str, int]) -> None:
        sock = self.sock
        if sock is not None:
            try:  # noqa: SIM105 - per packet: suppress() costs a context manager
                sock.sendto(data, dest)
            except OSError:
                pass

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher._unwatch(self)
        if self.sock is not None:
            self.sock.close()
            self.sock = None


@dataclass
class MediaPorts:
    rtp: _Socket
    udptl: _Socket

    @property
    def rtp_port(self) -> int:
        return self.rtp.port

    @property
    def udptl_port(self) -> int:
        return self.udptl.port

    def close(self) -> None:
        self.rtp.close()
        self.udptl.close()


def _bind(family: int, address: tuple[str, int]) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


async def bind_media(host: str, ports: tuple[int, int]) -> MediaPorts:
    """Bind an RTP port (even) and a UDPTL port (the next one) in the range."""
    low, high = ports
    try:
        # #19: a numeric address (the usual media_address) needs no resolver: the loop's
        # getaddrinfo is a trip to a worker thread per call, 600 of them in a burst of
        # call set-ups, each a GIL hand-over the media thread waits behind.
        ip = ipaddress.ip_address(host)
    except ValueError:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, low, type=socket.SOCK_DGRAM)
        if not infos:
            raise ProviderError(
                f"media address {host} does not resolve", hint="set media_address"
            ) from None
        family, addr = infos[0][0], str(infos[0][4][0])
    else:
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        addr = str(ip)
    pairs = (high - low + 1) // 2
    start = random.randrange(pairs)
    for i in range(pairs):
        port = low + 2 * ((start + i) % pairs)
        port += port % 2
        if port + 1 > high:
            continue
        try:
            s1 = _bind(family, (addr, port))
        except OSError:
            continue
        try:
            s2 = _bind(family, (addr, port + 1))
        except OSError:
            s1.close()
            continue
        return MediaPorts(_Socket(s1), _Socket(s2))
    raise ProviderError(
        f"no free media ports in {low}-{high} on {host}",
        hint="widen media_ports or lower channels",
    )


def _call(fn: Callable[..., object], *args: object) -> None:
    fn(*args)


def _no_step(media: FaxMedia, session: AudioFaxSession | T38FaxSession) -> None:
    pass


def _no_progress(kind: str, pages: int, info: str) -> None:
    """A closed call's progress goes nowhere (see :meth:`FaxMedia.close`)."""


def _sendto(sock: _Socket) -> Callable[[bytes | bytearray, tuple[str, int]], object]:
    """The socket's own sendto (no method of ours per packet); after close, a closed
    socket's, which raises OSError as a closed socket does."""
    assert sock.sock is not None
    return sock.sock.sendto


class FaxMedia:
    """One call's media: a spandsp session fed from RTP or UDPTL, stepped by a Ticker
    (:mod:`.ticker`)."""

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
        self._rx_pcm = np.zeros(TICK, dtype=np.int16)
        self._tx_pcm = np.zeros(TICK, dtype=np.int16)
        self._tx_bits = self._tx_pcm.view(np.uint16)
        self._packet = bytearray(12 + TICK)
        self._payload = np.frombuffer(self._packet, dtype=np.uint8, offset=12)
        self._encoder, self._decoder = g711.tables("ulaw")
        #: The frame played this tick, as G.711 codes (a reused buffer and its array view).
        self._rx_codes = bytearray(TICK)
        self._rx_u8 = np.frombuffer(self._rx_codes, dtype=np.uint8)
        self._payload_type = 0
        self._dest: tuple[str, int] = ("", 0)
        #: The kind's step, a plain function taking the media (#19: a bound method kept on
        #: the instance is a reference cycle, left for the cyclic collector at the end).
        self._step_kind: Callable[[FaxMedia, AudioFaxSession | T38FaxSession], None] = _no_step
        #: The tick at which to ask the watchdog next (see _check_watchdog).
        self._dog_due = 0
        self._rtp_sendto = _sendto(ports.rtp)
        self._udptl_sendto = _sendto(ports.udptl)
        #: The session's line in C (the compiled helper's RtpLine or UdptlLine: jitter
        #: buffer, G.711, RTP header, or UDPTL framing and recovery), for a Ticker that runs
        #: every call's tick wire to wire in one C call; made with the session, beside the
        #: Python objects that a call stepped on its own uses instead.
        self._line: RtpLine | UdptlLine | None = None
        #: Whether the line carried the session (its counters are the call's figures).
        self._wired = False
        #: Every far address this call's media was sent to (the Ticker forgets them).
        self.dests: set[tuple[str, int]] = set()
        #: Held by a step (on the Ticker's thread) and by every change from the event loop:
        #: reentrant, as a watch may end the session from inside a step.
        self._lock = threading.RLock()
        self._closed = False
        #: How a step hands progress to the event loop (the Ticker's thread posts it).
        self._post: Callable[..., object] = _call

    # -- control (event loop) -------------------------------------------------------------

    def set_remote(self, media: Media) -> None:
        """Start on, or switch to, the negotiated stream. The same kind again (a session
        refresh, a repeated T.38 re-INVITE) only updates the far address.

        #19: a new session is made, and the old one closed, outside the call's lock (only
        the loop changes which session runs, so it can decide without the lock): spandsp's
        set-up and TIFF opening under it held the media thread's tick for every call being
        switched at once."""
        old = self.session
        if old is not None and (media.kind == self.kind or media.kind == "audio"):
            with self._lock:
                self.remote = media
                self._dest = (media.address, media.port)
                self.dests.add(self._dest)
                DEST_CHANGES[0] += 1
                if media.kind == self.kind:
                    self._payload_type = media.payload_type
                    if isinstance(self._line, RtpLine):
                        self._line.rx_payload_type = media.payload_type
                # else back from T.38 to audio mid-call: not something a fax survives.
            return
        if media.kind == "t38":
            assert media.t38 is not None
            t38 = T38FaxSession(
                self._calling, self._options, tx_file=self._tx_file, rx_file=self._rx_file
            )
            redundancy = self._redundancy if media.t38.error_correction != "none" else 0
            udptl_tx = UdptlSender(redundancy, media.t38.max_datagram)
            udptl_line = (
                UdptlLine(redundancy, media.t38.max_datagram, IDLE_REPEATS)
                if t38._compiled
                else None
            )
            with self._lock:
                self._switch(old, media)
                self.session = t38
                self._udptl_tx = udptl_tx
                self._udptl_rx = UdptlReceiver()
                self._line = udptl_line
                self._step_kind = FaxMedia._step_t38  # type: ignore[assignment]
        else:
            session = AudioFaxSession(
                self._calling, self._options, tx_file=self._tx_file, rx_file=self._rx_file
            )
            # One frame's buffers, made once: a tick decodes into rx, spandsp fills tx, and
            # the codes go straight into the payload of the one RTP packet buffer.
            rx_pcm, tx_pcm = session.frame_buffers(TICK)
            packet = bytearray(12 + TICK)
            rtp = RtpSender(media.payload_type, random.getrandbits(32), random.getrandbits(16))
            encoder, decoder = g711.tables(media.codec)
            rtp_line = (
                RtpLine(
                    media.codec,
                    media.payload_type,
                    rtp.ssrc,
                    rtp.seq,
                    rtp.timestamp,
                    jitter_frames=self._jitter_frames,
                    step=TICK,
                )
                if session._compiled
                else None
            )
            with self._lock:
                self._switch(old, media)
                self.session = session
                self._rtp = rtp
                self._jitter = JitterBuffer(self._jitter_frames)
                self._rx_pcm, self._tx_pcm = rx_pcm, tx_pcm
                self._tx_bits = tx_pcm.view(np.uint16)
                self._packet = packet
                self._payload = np.frombuffer(packet, dtype=np.uint8, offset=12)
                self._encoder, self._decoder = encoder, decoder
                self._payload_type = media.payload_type
                self._line = rtp_line
                self._step_kind = FaxMedia._step_audio  # type: ignore[assignment]
        if old is not None:
            old.close()

    def _switch(self, old: AudioFaxSession | T38FaxSession | None, media: Media) -> None:
        """(Under the lock.) The far end and kind of a new session; the old one's figures."""
        if old is not None:
            self._collect_stats()
            self.switches += 1
        self.remote = media
        self.kind = media.kind
        self._dest = (media.address, media.port)
        self.dests.add(self._dest)
        DEST_CHANGES[0] += 1
        self._wired = False

    def terminate(self) -> None:
        """Hang up: T.30 ends now with what it had (phase E follows at the next step)."""
        with self._lock:
            if self.session is not None and not self.session.done and not self._closed:
                self.session.terminate()

    @property
    def finished(self) -> bool:
        return self.done.done()

    @property
    def session_done(self) -> bool:
        return self.session is not None and self.session.done

    def close(self) -> None:
        with self._lock:  # not while a step runs; no step runs once _closed is set
            self._closed = True
            session = self.session
            if session is not None and self.result is None and session.done:
                self.result = session.result
        # #19: outside the lock (spandsp's end and the TIFF's close take a while, and the
        # media thread's tick waited for them when hundreds of calls ended at once).
        if session is not None:
            session.close()
        self.ports.close()
        # #19: what this call's media held of the call (its progress handler, a bound method
        # of the SipCall that holds this media; the receive guard) is let go, so that the
        # call and everything it references are freed by reference counting when the
        # provider drops it, not left in a cycle for a full collection (those took 16-68 ms
        # with the GIL held at 300 + 300 calls). Posts already queued keep what they hold.
        self._on_progress = _no_progress
        self._watch = None
        if not self.done.done():
            self.done.set_result(None)

    # -- one tick -------------------------------------------------------------------------
    # #19: this runs 50 times a second for every call, so it is written for speed: the
    # kind's step is bound once (no isinstance per tick), the watchdog is asked only when
    # it could fire, and a packet is built in one reused buffer and sent with the socket's
    # own sendto to a destination tuple made once.

    def step(self) -> None:
        with self._lock:
            session = self.session
            if session is None or self._closed:
                return
            self.ticks += 1
            if session.result is None:  # not done
                self._step_kind(self, session)
                if self.ticks >= self._dog_due:
                    self._check_watchdog(session)
            self._after_step(session)

    def _after_step(self, session: AudioFaxSession | T38FaxSession) -> None:
        """The end of every step: the session's events handled, and once it is done its
        result kept and "ended" posted."""
        events = session.events()
        if events:
            self._handle(events)
        if self.result is None and session.result is not None:
            self.result = session.result
            self._collect_stats()
            self._post(self._on_progress, "ended", self.pages, "")

    def _check_watchdog(self, session: AudioFaxSession | T38FaxSession) -> None:
        """Ask the watchdog, and when next to ask: the first tick at which either of its
        limits could be reached (line time and idle time grow by at most one tick a tick)."""
        dog = self._dog
        dog.check(session)
        if dog.fired is not None:
            self._dog_due = 1 << 62  # it ended the session: nothing more to ask
            return
        left = float("inf")
        if dog.max_line_seconds is not None:
            left = dog.max_line_seconds - session.line_seconds
        if dog.max_idle_seconds is not None:
            left = min(left, dog.max_idle_seconds - session.idle_samples / 8000)
        self._dog_due = self.ticks + max(1, int(left / PERIOD)) if left != float("inf") else 1 << 62

    def _handle(self, events: list[SessionEvent]) -> None:
        for ev in events:
            if self._watch is not None:
                self._watch(ev)
            if isinstance(ev, PhaseB):
                self.negotiated = True
                self.remote_ident = ev.remote_ident
                self._post(self._on_progress, "negotiated", self.pages, ev.remote_ident)
            elif isinstance(ev, PageDone):
                self.pages = max(self.pages, ev.page)
                self._post(self._on_progress, "page", ev.page, "EOP" if "EOP" in ev.frame else "")

    def _step_audio(self, session: AudioFaxSession) -> None:
        self._audio_in()
        session.step_frame()
        self._audio_out()

    def _audio_in(self) -> None:
        """What arrived into the jitter buffer; the frame due now into spandsp's rx."""
        jitter = self._jitter
        assert jitter is not None
        queue = self.ports.rtp.queue
        if queue:
            payload_type = self._payload_type
            for data in queue:
                if len(data) > 12 and data[0] == 0x80:
                    # The usual packet (version 2, no padding, extension or CSRC): in place.
                    if data[1] & 0x7F == payload_type:
                        jitter.push((data[2] << 8) | data[3], data[12:])
                    continue
                try:
                    pkt = parse_rtp(data)
                except RtpError:
                    continue
                if pkt.payload_type == payload_type:
                    jitter.push(pkt.seq, pkt.payload)
            queue.clear()
        frame = jitter.pop()
        if frame is not None and len(frame) == TICK:
            self._rx_codes[:] = frame
            # The indices cannot be out of range (a byte into 256 entries, 16 bits into
            # 65536): "clip"/"wrap" skip numpy's bounds check ("raise"), a third of the call.
            self._decoder.take(self._rx_u8, out=self._rx_pcm, mode="clip")
        else:
            self._rx_pcm.fill(0)

    def _audio_out(self) -> None:
        """spandsp's tx frame, coded, into the RTP packet, sent."""
        assert self._rtp is not None
        self._encoder.take(self._tx_bits, out=self._payload, mode="wrap")
        self._rtp.stamp(self._packet, TICK)
        try:  # noqa: SIM105 - per packet: suppress() costs a context manager
            self._rtp_sendto(self._packet, self._dest)
        except OSError:
            pass  # dropped, as the network would drop it

    # -- one tick in a batch (the Ticker's RtpBatch or T38Batch: every call wire to wire) --

    def _wire_in(self) -> AudioFaxSession | T38FaxSession | None:
        """(Under the lock, held until :meth:`_wire_out`.) The session to tick in the
        Ticker's batch of its kind, with :attr:`_line` (the far end's datagrams go to the
        batch, what it sends comes from it); None when this call is not ticked in one
        (done, closed, not started, no compiled helper): the caller steps it whole."""
        session = self.session
        if self._closed or self._line is None or session is None or session.result is not None:
            return None
        self.ticks += 1
        self._wired = True
        return session

    def _wire_out(self, session: AudioFaxSession | T38FaxSession, flagged: bool) -> None:
        """The rest of the step, after the batch's tick (``flagged``: it has events)."""
        if self.ticks >= self._dog_due:
            self._check_watchdog(session)
        if flagged or session.result is not None:
            self._after_step(session)

    def _step_t38(self, session: T38FaxSession) -> None:
        assert self._udptl_rx is not None and self._udptl_tx is not None
        queue = self.ports.udptl.queue
        if queue:
            feed, receive = self._udptl_rx.feed, session.receive
            for data in queue:
                for seq, ifp in feed(data):
                    receive(seq, ifp)
            queue.clear()
        packets = session.take_packets()  # receive()'s answers
        more = session.tick(TICK)
        if more:
            packets += more
        if packets:
            self._idle = 0
            for seq, ifp in packets:
                self._udptl_send(self._udptl_tx.frame(seq, ifp))
        elif self._udptl_tx.last is not None and self._idle < IDLE_REPEATS:
            self._idle += 1
            self._udptl_send(self._udptl_tx.last)

    def _udptl_send(self, data: bytes) -> None:
        try:  # noqa: SIM105 - per packet
            self._udptl_sendto(data, self._dest)
        except OSError:
            pass

    def _collect_stats(self) -> None:
        """The session's line counters into :attr:`stats` (the C line's when it carried the
        session, else the Python receiver's or jitter buffer's)."""
        line = self._line if self._wired else None
        if isinstance(line, UdptlLine):
            self.stats.update(
                udptl_received=line.received,
                udptl_recovered=line.recovered,
                udptl_lost=line.lost,
                udptl_late=line.late,
            )
            return
        if isinstance(line, RtpLine):
            self.stats.update(rtp_played=line.played, rtp_missing=line.missing, rtp_late=line.late)
            return
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
