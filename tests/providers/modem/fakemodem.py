"""Scripted Class 1 modems for deterministic tests of the Class 1 dialogue (no tty, no clock).

:class:`FakeModem` is a small T.31 modem: it parses AT commands and DLE data from its DTE
and answers as a Class 1 modem does. Two of them share a :class:`Wire`: what one sends
(V.21 HDLC frames, image carriers) the other hears when it listens with +FRH / +FRM. Carrier
timing is left out: a carrier waits on the wire until the far modem listens (the order of
events is what T.30 depends on; T.30's own timers still run on the simulated clock).

Faults a test can ask for: ``replies`` (a command -> the result code to give instead, e.g.
``{"ATD": "BUSY"}``), ``mute_after`` (answer nothing from the n-th command on: a modem that
stopped answering), ``cut_image`` (the n-th image carrier heard stops half-way with NO
CARRIER), ``fcs_errors`` (the n-th frames heard end ERROR instead of OK).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lanfax.providers.modem.class1 import Class1Dialogue, dle_stuff

DLE_ETX = b"\x10\x03"


@dataclass
class Wire:
    """Carriers on their way, one queue per direction (index = sender)."""

    queues: tuple[list[tuple[str, int, bytes]], list[tuple[str, int, bytes]]] = field(
        default_factory=lambda: ([], [])
    )


class FakeModem:
    def __init__(self, wire: Wire, side: int) -> None:
        self.wire = wire
        self.side = side
        self.to_dte = bytearray()
        self.commands: list[str] = []
        self.replies: dict[str, str] = {}
        self.mute_after: int | None = None
        self.cut_image: set[int] = set()
        self.fcs_errors: set[int] = set()
        self._frames_heard = 0
        self._images_heard = 0
        self._line = bytearray()
        self._data = bytearray()
        self._state = "cmd"  # cmd, txh, txd, frh, frm
        self._mod = 0
        self._hung_up = False

    # what the far side sent, what we send
    @property
    def _incoming(self) -> list[tuple[str, int, bytes]]:
        return self.wire.queues[1 - self.side]

    @property
    def _outgoing(self) -> list[tuple[str, int, bytes]]:
        return self.wire.queues[self.side]

    def _say(self, text: str) -> None:
        if self.mute_after is not None and len(self.commands) > self.mute_after:
            return
        self.to_dte += f"\r\n{text}\r\n".encode("ascii")

    def write(self, data: bytes) -> None:
        for b in data:
            self._byte(b)

    def _byte(self, b: int) -> None:
        if self._state in ("txh", "txd"):
            self._data.append(b)
            if self._data.endswith(DLE_ETX) and not self._data.endswith(b"\x10" + DLE_ETX):
                raw = bytes(self._data[:-2]).replace(b"\x10\x10", b"\x10")
                self._data.clear()
                self._sent_block(raw)
            return
        if self._state in ("frh", "frm"):
            self._state = "cmd"  # any character aborts a dial or receive that has not begun
            self._say("OK")
            return
        if b == 0x0D:
            cmd = self._line.decode("ascii").strip().upper()
            self._line.clear()
            if cmd:
                self._command(cmd)
        elif b != 0x0A:
            self._line.append(b)

    def _sent_block(self, raw: bytes) -> None:
        if self._state == "txd":
            self._outgoing.append(("img", self._mod, raw))
            self._state = "cmd"
            self._say("OK")
            return
        if not raw:  # an empty block ends the HDLC carrier
            self._state = "cmd"
            self._say("OK")
            return
        self._outgoing.append(("v21", 3, raw))
        if len(raw) >= 2 and raw[1] & 0x10:  # final frame: carrier off
            self._state = "cmd"
            self._say("OK")
        else:
            self._say("CONNECT")

    def _command(self, cmd: str) -> None:
        self.commands.append(cmd)
        for prefix, reply in self.replies.items():
            if cmd.startswith(prefix):
                self._say(reply)
                return
        if cmd.startswith("ATD"):
            self._state = "frh"  # CONNECT comes with the answerer's first frame
        elif cmd in ("ATA", "AT+FTH=3"):
            self._state = "txh"
            self._say("CONNECT")
        elif cmd.startswith("AT+FTM="):
            self._state = "txd"
            self._mod = int(cmd[7:])
            self._say("CONNECT")
        elif cmd == "AT+FRH=3":
            self._state = "frh"
        elif cmd.startswith("AT+FRM="):
            self._state = "frm"
            self._mod = int(cmd[7:])
        elif cmd.startswith("ATH"):
            self._hung_up = True
            self._outgoing.append(("hangup", 0, b""))
            self._state = "cmd"
            self._say("OK")
        else:
            self._say("OK")

    def tick(self) -> None:
        """Let the modem hear the line."""
        if self._state not in ("frh", "frm") or not self._incoming:
            return
        kind, mod, data = self._incoming[0]
        if kind == "hangup":
            self._state = "cmd"
            self._say("NO CARRIER")
            return
        if self._state == "frh":
            if kind != "v21":
                self._incoming.pop(0)  # an image carrier nobody listened for is lost
                return
            self._incoming.pop(0)
            self._frames_heard += 1
            bad = self._frames_heard in self.fcs_errors
            self.to_dte += b"\r\nCONNECT\r\n" + dle_stuff(data + b"\x00\x00") + DLE_ETX
            self._state = "cmd"
            self._say("ERROR" if bad else "OK")
            return
        if kind == "v21":
            self._state = "cmd"
            self._say("+FCERROR")  # V.21 where an image carrier was expected
            return
        self._incoming.pop(0)
        self._images_heard += 1
        if mod != self._mod:
            self._state = "cmd"
            self._say("+FCERROR")
            return
        if self._images_heard in self.cut_image:
            data = data[: len(data) // 2]
        self.to_dte += b"\r\nCONNECT\r\n" + dle_stuff(data) + DLE_ETX
        self._state = "cmd"
        self._say("NO CARRIER")


def run_pair(
    a: Class1Dialogue,
    ma: FakeModem,
    b: Class1Dialogue | None,
    mb: FakeModem,
    *,
    step: float = 0.02,
    limit: float = 600.0,
) -> float:
    """Run dialogues ``a`` and ``b`` (``b`` None: the far modem only) in simulated time until
    both finished; returns the simulated seconds."""
    now = 0.0
    a.start(now)
    if b is not None:
        b.start(now)
    while now < limit:
        for dia, modem in ((a, ma), (b, mb)):
            if dia is None:
                continue
            out = dia.output()
            if out:
                modem.write(out)
        ma.tick()
        mb.tick()
        now += step
        for dia, modem in ((a, ma), (b, mb)):
            if dia is None:
                continue
            data = bytes(modem.to_dte)
            modem.to_dte.clear()
            if data and not dia.finished:
                dia.feed(data, now)
            dia.poll(now)
        if a.finished and (b is None or b.finished):
            return now
    raise AssertionError(f"the dialogues did not finish in {limit} simulated seconds")
