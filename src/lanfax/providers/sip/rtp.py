"""RTP (RFC 3550) for G.711 fax audio, sans-IO: packet framing and a fixed-delay jitter
buffer.

A fax modem cannot use packet-loss concealment (a repeated or interpolated frame is a wrong
symbol as much as silence is), so a lost frame plays out as silence and T.30/ECM deals with
it. What the buffer must do is absorb jitter and reordering so that every frame that does
arrive is played at its place.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from lanfax.providers.sip.message import SipParseError

__all__ = ["JitterBuffer", "RtpError", "RtpPacket", "RtpSender", "parse_rtp"]

_HEADER = struct.Struct("!BBHII")


class RtpError(SipParseError):
    code = "rtp-error"

    def __init__(self, message: str) -> None:
        super().__init__(message, hint="the datagram is dropped")


@dataclass(frozen=True, slots=True)
class RtpPacket:
    payload_type: int
    seq: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False

    def serialize(self) -> bytes:
        head = _HEADER.pack(
            0x80,
            (0x80 if self.marker else 0) | (self.payload_type & 0x7F),
            self.seq & 0xFFFF,
            self.timestamp & 0xFFFFFFFF,
            self.ssrc,
        )
        return head + self.payload


def parse_rtp(data: bytes) -> RtpPacket:
    if len(data) < 12:
        raise RtpError(f"RTP packet of {len(data)} bytes is shorter than its header")
    b0, b1, seq, ts, ssrc = _HEADER.unpack_from(data)
    if b0 >> 6 != 2:
        raise RtpError(f"RTP version {b0 >> 6} is not 2")
    offset = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:  # header extension
        if len(data) < offset + 4:
            raise RtpError("RTP header extension runs past the packet")
        words = struct.unpack_from("!H", data, offset + 2)[0]
        offset += 4 + 4 * words
    end = len(data)
    if b0 & 0x20:  # padding
        if end == 0 or data[-1] == 0 or data[-1] > end - offset:
            raise RtpError("bad RTP padding")
        end -= data[-1]
    if offset > end:
        raise RtpError("RTP header runs past the packet")
    return RtpPacket(b1 & 0x7F, seq, ts, ssrc, bytes(data[offset:end]), bool(b1 & 0x80))


class RtpSender:
    """Numbers and timestamps our outgoing frames."""

    def __init__(self, payload_type: int, ssrc: int, seq: int = 0, timestamp: int = 0) -> None:
        self.payload_type = payload_type
        self.ssrc = ssrc
        self.seq = seq
        self.timestamp = timestamp
        self._first = True

    def packet(self, payload: bytes) -> bytes:
        pkt = RtpPacket(
            self.payload_type, self.seq, self.timestamp, self.ssrc, payload, self._first
        )
        self._first = False
        self.seq = (self.seq + 1) & 0xFFFF
        self.timestamp = (self.timestamp + len(payload)) & 0xFFFFFFFF
        return pkt.serialize()

    def stamp(self, buf: bytearray, samples: int) -> None:
        """Write the next header into the first 12 bytes of ``buf`` (whose payload, after
        them, holds ``samples`` one-byte G.711 samples): :meth:`packet` without building a
        new packet, for a caller that reuses one buffer per call."""
        _HEADER.pack_into(
            buf,
            0,
            0x80,
            (0x80 if self._first else 0) | (self.payload_type & 0x7F),
            self.seq,
            self.timestamp,
            self.ssrc,
        )
        self._first = False
        self.seq = (self.seq + 1) & 0xFFFF
        self.timestamp = (self.timestamp + samples) & 0xFFFFFFFF


class JitterBuffer:
    """A fixed playout delay of ``depth`` frames, ordered by RTP sequence number.

    :meth:`push` files a frame; :meth:`pop` is called once per frame time and returns the
    frame due now, or None (lost or late: play silence). Playout starts once ``depth``
    frames wait, so jitter up to ``depth`` frame times and reordering within it are hidden.
    """

    def __init__(self, depth: int = 3, capacity: int = 50) -> None:
        self.depth = max(1, depth)
        self.capacity = capacity
        self._frames: dict[int, bytes] = {}
        self._next: int | None = None
        self._started = False
        self.late = 0
        self.missing = 0
        self.played = 0

    def push(self, seq: int, payload: bytes) -> None:
        if self._next is None:
            self._next = seq
        ahead = (seq - self._next) & 0xFFFF
        if ahead >= 0x8000:
            self.late += 1  # already played out (or skipped): too late
            return
        if ahead >= self.capacity:
            # A jump (the far end restarted its numbering, or a long outage): resync.
            self._frames.clear()
            self._next = seq
            self._started = False
        self._frames[seq] = payload
        if len(self._frames) >= self.depth:
            self._started = True

    def pop(self) -> bytes | None:
        if not self._started or self._next is None:
            return None
        frame = self._frames.pop(self._next, None)
        self._next = (self._next + 1) & 0xFFFF
        if frame is None:
            self.missing += 1
            if not self._frames:
                # Underrun: wait for the buffer to fill again rather than play holes.
                self._started = False
        else:
            self.played += 1
        return frame
