"""IAX2 frames on the wire (RFC 5456): full frames, mini frames, information elements.

Pure functions and immutable values, no I/O. :func:`decode` takes one UDP datagram and returns
a :class:`FullFrame`, :class:`MiniFrame` or :class:`MetaFrame`, or raises :class:`FrameError`
(an :class:`~lanfax.model.errors.InvalidInput`) saying what is wrong with it; it never raises
anything else, whatever the bytes (the fuzz tests hold it to that). :func:`encode` is its
inverse.

Layout (RFC 5456 section 8.1)::

    full frame  |F=1| source call (15) |R| destination call (15) | timestamp (32) |
                | oseqno (8) | iseqno (8) | frame type (8) |C| subclass (7) | data...
    mini frame  |F=0| source call (15) | timestamp low 16 bits | voice data...
    meta frame  | 0x0000 | ...          (trunk / video; not used by lanfax, passed up as-is)

The subclass of a full frame is 7 bits; with the C bit set it is a power of two (2**value),
which is how voice formats above 0x40 are carried.
"""

from __future__ import annotations

import contextlib
import enum
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from lanfax.model.errors import InvalidInput

__all__ = [
    "MAX_CALL_NUMBER",
    "AuthMethod",
    "Cause",
    "ControlCommand",
    "FrameError",
    "FrameType",
    "FullFrame",
    "IaxCommand",
    "Ie",
    "Ies",
    "MediaFormat",
    "MetaFrame",
    "MiniFrame",
    "decode",
    "encode",
    "frame_name",
    "increments_sequence",
]

#: Call numbers are 15 bits; 0 means "not known yet" (the destination of a NEW).
MAX_CALL_NUMBER = 0x7FFF
FULL_HEADER = 12
MINI_HEADER = 4


class FrameError(InvalidInput):
    """A datagram that is not a well-formed IAX2 frame (or a frame lanfax cannot build)."""

    code = "iax2-frame-error"


class FrameType(enum.IntEnum):
    """Frame types (RFC 5456 section 8.2, IANA "IAX Frame Types")."""

    DTMF_END = 0x01
    VOICE = 0x02
    VIDEO = 0x03
    CONTROL = 0x04
    NULL = 0x05
    IAX = 0x06
    TEXT = 0x07
    IMAGE = 0x08
    HTML = 0x09
    CNG = 0x0A
    MODEM = 0x0B
    DTMF_BEGIN = 0x0C


class ControlCommand(enum.IntEnum):
    """Subclasses of CONTROL frames (RFC 5456 section 8.3)."""

    HANGUP = 0x01
    RING = 0x02
    RINGING = 0x03
    ANSWER = 0x04
    BUSY = 0x05
    CONGESTION = 0x08
    FLASH = 0x09
    OPTION = 0x0B
    KEY = 0x0C
    UNKEY = 0x0D
    PROGRESS = 0x0E
    PROCEEDING = 0x0F
    HOLD = 0x10
    UNHOLD = 0x11


class IaxCommand(enum.IntEnum):
    """Subclasses of IAX frames (RFC 5456 section 8.4, plus CALLTOKEN from RFC 5457 updates)."""

    NEW = 0x01
    PING = 0x02
    PONG = 0x03
    ACK = 0x04
    HANGUP = 0x05
    REJECT = 0x06
    ACCEPT = 0x07
    AUTHREQ = 0x08
    AUTHREP = 0x09
    INVAL = 0x0A
    LAGRQ = 0x0B
    LAGRP = 0x0C
    REGREQ = 0x0D
    REGAUTH = 0x0E
    REGACK = 0x0F
    REGREJ = 0x10
    REGREL = 0x11
    VNAK = 0x12
    DPREQ = 0x13
    DPREP = 0x14
    DIAL = 0x15
    TXREQ = 0x16
    TXCNT = 0x17
    TXACC = 0x18
    TXREADY = 0x19
    TXREL = 0x1A
    TXREJ = 0x1B
    QUELCH = 0x1C
    UNQUELCH = 0x1D
    POKE = 0x1E
    MWI = 0x20
    UNSUPPORT = 0x21
    TRANSFER = 0x22
    CALLTOKEN = 0x28


class Ie(enum.IntEnum):
    """Information elements (RFC 5456 section 8.6, IANA "IAX Information Elements")."""

    CALLED_NUMBER = 0x01
    CALLING_NUMBER = 0x02
    CALLING_ANI = 0x03
    CALLING_NAME = 0x04
    CALLED_CONTEXT = 0x05
    USERNAME = 0x06
    PASSWORD = 0x07
    CAPABILITY = 0x08
    FORMAT = 0x09
    LANGUAGE = 0x0A
    VERSION = 0x0B
    ADSICPE = 0x0C
    DNID = 0x0D
    AUTHMETHODS = 0x0E
    CHALLENGE = 0x0F
    MD5_RESULT = 0x10
    RSA_RESULT = 0x11
    APPARENT_ADDR = 0x12
    REFRESH = 0x13
    DPSTATUS = 0x14
    CALLNO = 0x15
    CAUSE = 0x16
    IAX_UNKNOWN = 0x17
    MSGCOUNT = 0x18
    AUTOANSWER = 0x19
    MUSICONHOLD = 0x1A
    TRANSFERID = 0x1B
    RDNIS = 0x1C
    DATETIME = 0x1F
    CALLINGPRES = 0x26
    CALLINGTON = 0x27
    CALLINGTNS = 0x28
    SAMPLINGRATE = 0x29
    CAUSECODE = 0x2A
    ENCRYPTION = 0x2B
    ENCKEY = 0x2C
    CODEC_PREFS = 0x2D
    RR_JITTER = 0x2E
    RR_LOSS = 0x2F
    RR_PKTS = 0x30
    RR_DELAY = 0x31
    RR_DROPPED = 0x32
    RR_OOO = 0x33
    VARIABLE = 0x34
    OSPTOKEN = 0x35
    CALLTOKEN = 0x36


class MediaFormat(enum.IntFlag):
    """Media formats (RFC 5456 section 8.7): bit masks, one bit per codec."""

    G723_1 = 0x0001
    GSM = 0x0002
    ULAW = 0x0004
    ALAW = 0x0008
    G726 = 0x0010
    ADPCM = 0x0020
    SLINEAR = 0x0040
    LPC10 = 0x0080
    G729 = 0x0100
    SPEEX = 0x0200
    ILBC = 0x0400


class AuthMethod(enum.IntFlag):
    """AUTHMETHODS bits (RFC 5456 section 8.6.13)."""

    PLAINTEXT = 0x0001
    MD5 = 0x0002
    RSA = 0x0004


class Cause(enum.IntEnum):
    """Q.931 cause codes carried in CAUSECODE (RFC 5456 section 8.6.21); the ones we use."""

    UNALLOCATED = 1
    NO_ROUTE_TRANSIT = 2
    NO_ROUTE_DESTINATION = 3
    CHANNEL_UNACCEPTABLE = 6
    NORMAL_CLEARING = 16
    USER_BUSY = 17
    NO_USER_RESPONSE = 18
    NO_ANSWER = 19
    CALL_REJECTED = 21
    NUMBER_CHANGED = 22
    DESTINATION_OUT_OF_ORDER = 27
    INVALID_NUMBER_FORMAT = 28
    FACILITY_REJECTED = 29
    NORMAL_UNSPECIFIED = 31
    NO_CIRCUIT_AVAILABLE = 34
    NETWORK_OUT_OF_ORDER = 38
    TEMPORARY_FAILURE = 41
    SWITCH_CONGESTION = 42
    BEARER_NOT_AVAILABLE = 58
    INCOMPATIBLE_DESTINATION = 88
    INTERWORKING = 127


@dataclass(frozen=True, slots=True)
class Ies:
    """The information elements of an IAX frame, in wire order (an IE may repeat)."""

    items: tuple[tuple[int, bytes], ...] = ()

    @classmethod
    def build(cls, *pairs: tuple[int, bytes | str | int | None]) -> Ies:
        """IEs from ``(ie, value)`` pairs: str is UTF-8, bytes as is, None is left out.

        An int is encoded in the width the IE has on the wire (1, 2 or 4 bytes)."""
        out: list[tuple[int, bytes]] = []
        for ie, value in pairs:
            if value is None:
                continue
            if isinstance(value, str):
                data = value.encode("utf-8")
            elif isinstance(value, bytes):
                data = value
            else:
                data = value.to_bytes(_INT_WIDTH.get(int(ie), 4), "big")
            out.append((int(ie), data))
        return cls(tuple(out))

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        return iter(self.items)

    def __contains__(self, ie: object) -> bool:
        return any(key == ie for key, _ in self.items)

    def get(self, ie: int) -> bytes | None:
        for key, value in self.items:
            if key == ie:
                return value
        return None

    def text(self, ie: int, default: str = "") -> str:
        value = self.get(ie)
        if value is None:
            return default
        return value.decode("utf-8", errors="replace")

    def number(self, ie: int, default: int | None = None) -> int | None:
        """An integer IE (1, 2 or 4 bytes, big-endian); FrameError on another length."""
        value = self.get(ie)
        if value is None:
            return default
        if len(value) not in (1, 2, 4):
            raise FrameError(
                f"IE {_ie_name(ie)} has {len(value)} bytes; an integer IE has 1, 2 or 4",
                hint="the peer sent a malformed information element",
            )
        return int.from_bytes(value, "big")

    def encode(self) -> bytes:
        parts = []
        for ie, data in self.items:
            if not 0 <= ie <= 0xFF:
                raise FrameError(f"IE number {ie} does not fit in a byte")
            if len(data) > 0xFF:
                raise FrameError(
                    f"IE {_ie_name(ie)} is {len(data)} bytes long; at most 255 fit",
                    hint="shorten the value (caller name, number...)",
                )
            parts.append(bytes((ie, len(data))) + data)
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes) -> Ies:
        items = []
        pos = 0
        while pos < len(data):
            if pos + 2 > len(data):
                raise FrameError(
                    f"truncated information element at byte {pos} of {len(data)}",
                    hint="the peer sent a malformed IAX frame",
                )
            ie, length = data[pos], data[pos + 1]
            if pos + 2 + length > len(data):
                raise FrameError(
                    f"IE {_ie_name(ie)} claims {length} bytes but only "
                    f"{len(data) - pos - 2} remain",
                    hint="the peer sent a malformed IAX frame",
                )
            items.append((ie, bytes(data[pos + 2 : pos + 2 + length])))
            pos += 2 + length
        return cls(tuple(items))


#: Wire widths of the integer IEs we build.
_INT_WIDTH: dict[int, int] = {
    Ie.VERSION: 2,
    Ie.AUTHMETHODS: 2,
    Ie.CAPABILITY: 4,
    Ie.FORMAT: 4,
    Ie.CAUSECODE: 1,
    Ie.REFRESH: 2,
    Ie.CALLNO: 2,
    Ie.SAMPLINGRATE: 2,
    Ie.CALLINGPRES: 1,
    Ie.CALLINGTON: 1,
    Ie.CALLINGTNS: 2,
    Ie.MSGCOUNT: 2,
    Ie.DPSTATUS: 2,
    Ie.RR_JITTER: 4,
    Ie.RR_LOSS: 4,
    Ie.RR_PKTS: 4,
    Ie.RR_DELAY: 2,
    Ie.RR_DROPPED: 4,
    Ie.RR_OOO: 4,
}


@dataclass(frozen=True, slots=True)
class FullFrame:
    """A full frame. For IAX frames the payload is :attr:`ies` (and :attr:`data` is empty);
    for every other type it is :attr:`data`."""

    source_call: int
    dest_call: int
    timestamp: int
    oseqno: int
    iseqno: int
    frame_type: int
    subclass: int
    retransmitted: bool = False
    data: bytes = b""
    ies: Ies = field(default_factory=Ies)

    def __post_init__(self) -> None:
        if not 1 <= self.source_call <= MAX_CALL_NUMBER:
            raise FrameError(f"source call number {self.source_call} is not in 1..32767")
        if not 0 <= self.dest_call <= MAX_CALL_NUMBER:
            raise FrameError(f"destination call number {self.dest_call} is not in 0..32767")
        if not 0 <= self.timestamp <= 0xFFFFFFFF:
            raise FrameError(f"timestamp {self.timestamp} does not fit in 32 bits")
        for name in ("oseqno", "iseqno", "frame_type"):
            if not 0 <= getattr(self, name) <= 0xFF:
                raise FrameError(f"{name} {getattr(self, name)} does not fit in a byte")
        _subclass_byte(self.subclass)  # raises if it cannot be carried
        if self.frame_type == FrameType.IAX and self.data:
            raise FrameError("an IAX frame carries information elements, not raw data")
        if self.frame_type != FrameType.IAX and self.ies.items:
            raise FrameError("only IAX frames carry information elements")

    @property
    def is_iax(self) -> bool:
        return self.frame_type == FrameType.IAX

    def is_command(self, command: IaxCommand) -> bool:
        return self.frame_type == FrameType.IAX and self.subclass == command

    def is_control(self, command: ControlCommand) -> bool:
        return self.frame_type == FrameType.CONTROL and self.subclass == command

    def __str__(self) -> str:
        return (
            f"{frame_name(self.frame_type, self.subclass)} {self.source_call}->{self.dest_call}"
            f" ts={self.timestamp} o={self.oseqno} i={self.iseqno}"
            f"{' (retransmitted)' if self.retransmitted else ''}"
        )


@dataclass(frozen=True, slots=True)
class MiniFrame:
    """A mini frame: voice in the format last set by a full VOICE frame of this call."""

    source_call: int
    timestamp: int  # low 16 bits of the call's timestamp
    data: bytes = b""

    def __post_init__(self) -> None:
        if not 1 <= self.source_call <= MAX_CALL_NUMBER:
            raise FrameError(f"source call number {self.source_call} is not in 1..32767")
        if not 0 <= self.timestamp <= 0xFFFF:
            raise FrameError(f"mini frame timestamp {self.timestamp} does not fit in 16 bits")


@dataclass(frozen=True, slots=True)
class MetaFrame:
    """A meta frame (trunk or video, first 16 bits zero). lanfax does not use them."""

    data: bytes


Frame = FullFrame | MiniFrame | MetaFrame


def _subclass_byte(subclass: int) -> int:
    """The 8-bit subclass field: values below 0x80 as they are, powers of two with C set."""
    if 0 <= subclass < 0x80:
        return subclass
    if subclass > 0 and subclass & (subclass - 1) == 0 and subclass.bit_length() - 1 < 0x80:
        return 0x80 | (subclass.bit_length() - 1)
    raise FrameError(
        f"subclass {subclass:#x} can be carried neither as 7 bits nor as a power of two"
    )


def encode(frame: Frame) -> bytes:
    """The datagram for ``frame``."""
    if isinstance(frame, FullFrame):
        head = struct.pack(
            "!HHIBBBB",
            0x8000 | frame.source_call,
            (0x8000 if frame.retransmitted else 0) | frame.dest_call,
            frame.timestamp,
            frame.oseqno,
            frame.iseqno,
            frame.frame_type,
            _subclass_byte(frame.subclass),
        )
        return head + (frame.ies.encode() if frame.is_iax else frame.data)
    if isinstance(frame, MiniFrame):
        return struct.pack("!HH", frame.source_call, frame.timestamp) + frame.data
    return b"\x00\x00" + frame.data


def decode(datagram: bytes) -> Frame:
    """One datagram as a frame; :class:`FrameError` if it is not a well-formed one."""
    data = bytes(datagram)
    if len(data) < 2:
        raise FrameError(
            f"a {len(data)}-byte datagram is too short for an IAX2 frame",
            hint="is the peer speaking IAX2 on this port?",
        )
    first = int.from_bytes(data[:2], "big")
    if first & 0x8000:
        if len(data) < FULL_HEADER:
            raise FrameError(
                f"a full frame needs {FULL_HEADER} header bytes, this datagram has {len(data)}",
                hint="is the peer speaking IAX2 on this port?",
            )
        src, dst, ts, oseq, iseq, ftype, sub = struct.unpack("!HHIBBBB", data[:FULL_HEADER])
        source = src & MAX_CALL_NUMBER
        if source == 0:
            raise FrameError("full frame with source call number 0", hint="malformed frame")
        subclass = (1 << (sub & 0x7F)) if sub & 0x80 else sub
        rest = data[FULL_HEADER:]
        is_iax = ftype == FrameType.IAX
        return FullFrame(
            source_call=source,
            dest_call=dst & MAX_CALL_NUMBER,
            timestamp=ts,
            oseqno=oseq,
            iseqno=iseq,
            frame_type=ftype,
            subclass=subclass,
            retransmitted=bool(dst & 0x8000),
            data=b"" if is_iax else rest,
            ies=Ies.decode(rest) if is_iax else Ies(),
        )
    if first == 0:
        return MetaFrame(data[2:])
    if len(data) < MINI_HEADER:
        raise FrameError(
            f"a mini frame needs {MINI_HEADER} header bytes, this datagram has {len(data)}",
            hint="is the peer speaking IAX2 on this port?",
        )
    return MiniFrame(first, int.from_bytes(data[2:4], "big"), data[MINI_HEADER:])


#: Frames that do not take a sequence number (RFC 5456 section 8.4: ACK, INVAL, TXCNT,
#: TXACC and VNAK are sent with the current oseqno but do not increment it).
_UNSEQUENCED = frozenset(
    {IaxCommand.ACK, IaxCommand.INVAL, IaxCommand.TXCNT, IaxCommand.TXACC, IaxCommand.VNAK}
)


def increments_sequence(frame_type: int, subclass: int) -> bool:
    """Whether a full frame of this type and subclass takes a sequence number."""
    return not (frame_type == FrameType.IAX and subclass in _UNSEQUENCED)


def _ie_name(ie: int) -> str:
    try:
        return Ie(ie).name
    except ValueError:
        return f"0x{ie:02x}"


def frame_name(frame_type: int, subclass: int) -> str:
    """A readable name such as ``IAX/NEW`` or ``CONTROL/ANSWER`` (for logs and errors)."""
    names: dict[int, type[enum.IntEnum]] = {
        FrameType.IAX: IaxCommand,
        FrameType.CONTROL: ControlCommand,
    }
    try:
        type_name = FrameType(frame_type).name
    except ValueError:
        type_name = f"TYPE{frame_type:#x}"
    table = names.get(frame_type)
    sub_name = f"{subclass:#x}"
    if table is not None:
        with contextlib.suppress(ValueError):
            sub_name = table(subclass).name
    return f"{type_name}/{sub_name}"
