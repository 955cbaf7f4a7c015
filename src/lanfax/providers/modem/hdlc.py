"""HDLC framing done by the host, for ECM image data over Class 1 (sans-IO).

A Class 1 modem frames only V.21 control messages (``+FTH``/``+FRH``); in ECM the image
frames (FCD, RCP) travel on the fast carrier (``+FTM``/``+FRM``) as a raw bit stream, so the
host adds and removes the HDLC layer itself (ISO 3309, T.30 annex A): flags ``0x7E``, a zero
stuffed after five ones, and the 16-bit FCS (CRC-CCITT, reflected, complemented, sent low
byte first). Bits go on the line least significant first, as the modem sends each octet.
"""

from __future__ import annotations

FLAG = 0x7E


def fcs16(data: bytes) -> int:
    """The HDLC frame check sequence of ``data`` (ITU-T V.42 / ISO 3309 16-bit)."""
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


class HdlcEncoder:
    """Frames in, line octets out (LSB first)."""

    def __init__(self) -> None:
        self._acc = 0
        self._n = 0
        self._out = bytearray()

    def _bit(self, bit: int) -> None:
        self._acc |= bit << self._n
        self._n += 1
        if self._n == 8:
            self._out.append(self._acc)
            self._acc = 0
            self._n = 0

    def flags(self, count: int) -> None:
        for _ in range(count):
            for i in range(8):
                self._bit((FLAG >> i) & 1)

    def frame(self, data: bytes) -> None:
        """One frame (without FCS) and the closing flag."""
        fcs = fcs16(data)
        ones = 0
        for b in data + bytes((fcs & 0xFF, fcs >> 8)):
            for i in range(8):
                bit = (b >> i) & 1
                self._bit(bit)
                if bit:
                    ones += 1
                    if ones == 5:
                        self._bit(0)
                        ones = 0
                else:
                    ones = 0
        self.flags(1)

    def take(self, *, flush: bool = False) -> bytes:
        """The whole octets encoded so far (``flush``: pad the last one with flag bits)."""
        if flush:
            while self._n:
                self._bit(1 if self._n < 7 else 0)
        out = bytes(self._out)
        self._out.clear()
        return out


class HdlcDecoder:
    """Line octets in, ``(frame without FCS, fcs_ok)`` out."""

    def __init__(self, max_len: int = 300) -> None:
        self._ones = 0
        self._acc = 0
        self._n = 0
        self._frame = bytearray()
        self._in_frame = False
        self._max = max_len

    def feed(self, data: bytes) -> list[tuple[bytes, bool]]:
        frames: list[tuple[bytes, bool]] = []
        for b in data:
            for i in range(8):
                bit = (b >> i) & 1
                if bit:
                    self._ones += 1
                    if self._ones > 6:  # abort / idle ones
                        self._in_frame = False
                        self._reset()
                    continue
                ones = self._ones
                self._ones = 0
                if ones == 6:  # a flag (its leading zero was taken as a data bit)
                    if self._in_frame and len(self._frame) >= 4 and self._n == 1:
                        body = bytes(self._frame)
                        fcs = body[-2] | (body[-1] << 8)
                        frames.append((body[:-2], fcs16(body[:-2]) == fcs))
                    self._in_frame = True
                    self._reset()
                    continue
                if not self._in_frame:
                    continue
                for _ in range(ones):
                    self._push(1)
                if ones == 5:
                    continue  # a stuffed zero
                self._push(0)
        return frames

    def _push(self, bit: int) -> None:
        self._acc |= bit << self._n
        self._n += 1
        if self._n == 8:
            if len(self._frame) < self._max:
                self._frame.append(self._acc)
            else:
                self._in_frame = False
            self._acc = 0
            self._n = 0

    def _reset(self) -> None:
        self._frame.clear()
        self._acc = 0
        self._n = 0
