"""UDPTL (ITU-T T.38 Annex A/D §9.1) framing with redundancy, sans-IO.

spandsp 0.0.6 produces and takes bare IFP packets; this module wraps them for the wire::

    UDPTLPacket ::= SEQUENCE {
        seq-number          INTEGER (0..65535),
        primary-ifp-packet  OPEN TYPE,                   -- length + IFP octets
        error-recovery      CHOICE {
            secondary-ifp-packets  SEQUENCE OF OPEN TYPE, -- newest first
            fec-info               SEQUENCE { fec-npackets, fec-data }
        }
    }

in ASN.1 aligned PER, as every T.38 gateway sends it. :class:`UdptlSender` puts the last
``redundancy`` IFPs after each primary (trimmed to the far end's T38FaxMaxDatagram);
:class:`UdptlReceiver` recovers lost packets from the secondaries of the next one that
arrives, and hands the engine each sequence number once, in order.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from lanfax.providers.sip.message import SipParseError

__all__ = ["UdptlError", "UdptlPacket", "UdptlReceiver", "UdptlSender", "decode", "encode"]


class UdptlError(SipParseError):
    """A datagram that is not UDPTL."""

    code = "udptl-error"

    def __init__(self, message: str) -> None:
        super().__init__(message, hint="the datagram is dropped; T.38 recovers by redundancy")


@dataclass(frozen=True, slots=True)
class UdptlPacket:
    seq: int
    primary: bytes
    #: IFPs of seq-1, seq-2, ... (redundancy); empty for FEC packets (not decoded).
    secondary: tuple[bytes, ...] = ()
    fec: bool = False


def _length(n: int) -> bytes:
    """A PER length determinant (X.691 §10.9: one octet < 128, two octets < 16384)."""
    if n < 0x80:
        return bytes((n,))
    if n < 0x4000:
        return bytes((0x80 | (n >> 8), n & 0xFF))
    raise ValueError(f"UDPTL field of {n} bytes is too long")


def encode(packet: UdptlPacket) -> bytes:
    return _encode(packet.seq, packet.primary, packet.secondary)


def _encode(seq: int, primary: bytes, secondary: tuple[bytes, ...] | list[bytes]) -> bytes:
    n = len(primary)
    out = bytearray(((seq >> 8) & 0xFF, seq & 0xFF))
    out += bytes((n,)) if n < 0x80 else _length(n)
    out += primary
    out.append(0x00)  # choice 0: secondary-ifp-packets
    out += _length(len(secondary))
    for ifp in secondary:
        n = len(ifp)
        out += bytes((n,)) if n < 0x80 else _length(n)
        out += ifp
    return bytes(out)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise UdptlError("UDPTL datagram ends early")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def length(self) -> int:
        first = self.byte()
        if first & 0x80 == 0:
            return first
        if first & 0x40 == 0:
            return ((first & 0x3F) << 8) | self.byte()
        raise UdptlError("fragmented UDPTL length (over 16 KB) is not supported")

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise UdptlError(f"UDPTL field of {n} bytes runs past the datagram")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk


def decode(data: bytes) -> UdptlPacket:
    """Parse one datagram, or raise :class:`UdptlError`."""
    if len(data) >= 5 and data[2] < 0x80:
        # The usual datagram (short primary, redundancy): parsed without a reader object.
        n = data[2]
        end = 3 + n
        if n and len(data) > end and data[end] == 0 and len(data) > end + 1:
            count = data[end + 1]
            pos = end + 2
            if count < 0x80:
                secondary = []
                size = len(data)
                for _ in range(count):
                    if pos >= size or data[pos] >= 0x80:
                        break
                    m = data[pos]
                    if pos + 1 + m > size:
                        break
                    secondary.append(data[pos + 1 : pos + 1 + m])
                    pos += 1 + m
                else:
                    return UdptlPacket((data[0] << 8) | data[1], data[3:end], tuple(secondary))
    return _decode(data)


def _decode(data: bytes) -> UdptlPacket:
    r = _Reader(data)
    seq = int.from_bytes(r.take(2), "big")
    primary = r.take(r.length())
    if not primary:
        raise UdptlError("UDPTL packet with an empty primary IFP")
    choice = r.byte()
    if choice & 0x80:
        # FEC: parse to check the framing, but keep only the primary.
        r.take(r.length())  # fec-npackets (a length-prefixed integer)
        for _ in range(r.length()):
            r.take(r.length())
        return UdptlPacket(seq, primary, (), True)
    secondary = tuple(r.take(r.length()) for _ in range(r.length()))
    return UdptlPacket(seq, primary, secondary)


class UdptlSender:
    """Frames outgoing IFPs with up to ``redundancy`` earlier ones, within ``max_datagram``."""

    def __init__(self, redundancy: int = 3, max_datagram: int = 400) -> None:
        self.redundancy = max(0, redundancy)
        self.max_datagram = max(max_datagram, 32)
        self._history: deque[bytes] = deque(maxlen=max(self.redundancy, 1))
        self.last: bytes | None = None

    def frame(self, seq: int, ifp: bytes) -> bytes:
        secondary = list(self._history)[: self.redundancy] if self.redundancy else []
        seq &= 0xFFFF
        data = _encode(seq, ifp, secondary)
        while len(data) > self.max_datagram and secondary:
            secondary.pop()
            data = _encode(seq, ifp, secondary)
        self._history.appendleft(ifp)
        self.last = data
        return data


class UdptlReceiver:
    """Turns datagrams into ``(seq, ifp)`` for the engine: each seq once, in order, with
    gaps filled from redundancy where the secondaries cover them.

    A packet older than the next expected seq is late: its content was either recovered
    already or is lost for good, so it is dropped (spandsp treats it the same way).
    """

    def __init__(self) -> None:
        self.expected: int | None = None
        self.received = 0
        self.recovered = 0
        self.lost = 0
        self.late = 0
        self.malformed = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        try:
            packet = decode(data)
        except UdptlError:
            self.malformed += 1
            return []
        self.received += 1
        seq = packet.seq
        if self.expected is None:
            self.expected = seq
        gap = (seq - self.expected) & 0xFFFF
        if gap >= 0x8000:
            self.late += 1
            return []
        out: list[tuple[int, bytes]] = []
        for back in range(gap, 0, -1):
            missing = (seq - back) & 0xFFFF
            if back - 1 < len(packet.secondary):
                out.append((missing, packet.secondary[back - 1]))
                self.recovered += 1
            else:
                self.lost += 1
        out.append((seq, packet.primary))
        self.expected = (seq + 1) & 0xFFFF
        return out
