"""Class 1 (ITU-T T.31) on the wire, sans-IO (split out of ``class1.py``, which
re-exports these names): the modem's bytes split into result lines and DLE-transparent data
blocks (:class:`ModemInput`, T.31 8.3.1), data for the modem stuffed (:func:`dle_stuff`), the
modulation numbers of ``+FTM``/``+FRM`` (:func:`mod_code`), the final result codes, how a
dialogue ended (:class:`Outcome`) and what was said (:class:`Trace`).

Data is DLE-transparent both ways: ``0x10`` is doubled, ``<DLE><ETX>`` ends a block,
``<DLE><SUB>`` stands for two DLEs. Octets are in line order, least significant bit first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lanfax.engine import frontend as fe

__all__ = [
    "CAN",
    "DLE",
    "ETX",
    "FINAL",
    "IMAGE_MODEMS",
    "SUB",
    "ModemInput",
    "Outcome",
    "Trace",
    "dle_stuff",
    "mod_code",
]

DLE, ETX, SUB, CAN = 0x10, 0x03, 0x1A, 0x18
#: T.31 modulation codes for +FTM/+FRM, by (T.30 modem, bit rate, short training).
_MOD_CODES = {
    (fe.MODEM_V27TER, 2400): 24,
    (fe.MODEM_V27TER, 4800): 48,
    (fe.MODEM_V29, 7200): 72,
    (fe.MODEM_V29, 9600): 96,
    (fe.MODEM_V17, 7200): 73,
    (fe.MODEM_V17, 9600): 97,
    (fe.MODEM_V17, 12000): 121,
    (fe.MODEM_V17, 14400): 145,
}
IMAGE_MODEMS = (fe.MODEM_V27TER, fe.MODEM_V29, fe.MODEM_V17)
FINAL = {
    "OK",
    "CONNECT",
    "ERROR",
    "NO CARRIER",
    "+FCERROR",
    "BUSY",
    "NO DIALTONE",
    "NO DIAL TONE",
    "NO ANSWER",
}


def mod_code(modem: int, bit_rate: int, short_train: bool) -> int:
    """The T.31 modulation number (V.17 short training is the long one + 1)."""
    code = _MOD_CODES[(modem, bit_rate)]
    return code + 1 if modem == fe.MODEM_V17 and short_train else code


def dle_stuff(data: bytes) -> bytes:
    """Data for the modem: every DLE doubled."""
    return data.replace(b"\x10", b"\x10\x10")


@dataclass(slots=True)
class Outcome:
    """How the dialogue ended before or beside T.30: ``kind`` is "t30" (T.30 finished; see
    the session's result), "busy", "no-answer", "no-dialtone", "no-carrier", "modem" (the
    modem failed or stopped answering) or "aborted"."""

    kind: str
    text: str = ""


@dataclass(slots=True)
class Trace:
    """What was said to and by the modem (for the device log and tests)."""

    lines: list[str] = field(default_factory=list)

    def add(self, direction: str, text: str) -> None:
        if len(self.lines) < 5000:
            self.lines.append(f"{direction} {text}")


class ModemInput:
    """The bytes a modem sent, taken either as result lines (command mode: :meth:`line`)
    or as one DLE-transparent data block (after a CONNECT to ``+FRH``/``+FRM``:
    :meth:`take_data`, the unstuffed octets gathered in :attr:`data`)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        #: The unstuffed octets of the data block being received.
        self.data = bytearray()
        self._skip_lf = False

    def feed(self, data: bytes) -> None:
        self.buf += data

    def clear(self) -> None:
        """Forget what the modem sent and was not taken yet (the call is hung up)."""
        self.buf.clear()

    def line(self) -> str | None:
        """The next complete line (stripped; "" for an empty one), or None until its end
        came. Noise without line ends is dropped past 4 KiB."""
        buf = self.buf
        while buf and buf[0] in (0x0D, 0x0A):
            del buf[0]
        for i, b in enumerate(buf):
            if b in (0x0D, 0x0A):
                text = bytes(buf[:i]).decode("ascii", "replace").strip()
                crlf = buf[i : i + 2] == b"\r\n"
                del buf[: i + 2 if crlf else i + 1]
                # The LF of a CONNECT's CR LF may come in the next read: it is not data.
                self._skip_lf = b == 0x0D and not crlf
                return text
        if len(buf) > 4096:  # noise without line ends: drop it
            buf.clear()
        return None

    def take_data(self) -> bool:
        """Unstuff what came of the data block into :attr:`data`; True once ``<DLE><ETX>``
        closed it (what follows is command mode again)."""
        buf, data = self.buf, self.data
        if self._skip_lf and buf:
            self._skip_lf = False
            if buf[0] == 0x0A:
                del buf[0]
        i, n = 0, len(buf)
        while i < n:
            b = buf[i]
            if b != DLE:
                data.append(b)
                i += 1
                continue
            if i + 1 >= n:
                break  # the DLE's partner has not come yet
            nxt = buf[i + 1]
            i += 2
            if nxt == DLE:
                data.append(DLE)
            elif nxt == SUB:
                data += b"\x10\x10"
            elif nxt == ETX:
                del buf[:i]
                return True
        del buf[:i]
        return False
