"""The Class 1 (ITU-T T.31) dialogue with a fax modem, as a sans-IO state machine.

Bytes from the modem and "now" (seconds, any monotonic origin) go in; bytes for the modem
and events come out. The T.30 protocol itself is spandsp's (``FrontEndFaxSession``): T.30
says what to send and what to listen for, and this module turns that into Class 1 commands:

==============================  =====================================================
T.30 asks                       Class 1 (T.31)
==============================  =====================================================
rx V.21 HDLC                    ``AT+FRH=3``; frame, ``<DLE><ETX>``, OK (FCS good) / ERROR
rx image at a rate              ``AT+FRM=<mod>``; data until ``<DLE><ETX>``, NO CARRIER
tx V.21 HDLC + frames           ``AT+FTH=3``; each frame ``...<DLE><ETX>``; CONNECT (more)
                                or OK (the final frame, carrier off)
tx image (TCF, non-ECM page)    ``AT+FTM=<mod>``; data paced at the line rate, ``<DLE><ETX>``
a pause                         ``AT+FTS=<n>`` (n x 10 ms)
==============================  =====================================================

Before any transmission that follows a reception the modem waits for 70 ms of silence
(``AT+FRS=7``), and between two transmissions it sends 80 ms of silence (``AT+FTS=8``): the
75 ms gap T.30 (5.3.2.3) asks for, as HylaFAX does. A ``+FRH``/``+FRM`` still waiting for a
carrier when T.30 wants to send (a T.30 timer ran out) is cancelled with one byte (T.31 8.3.4:
any character aborts). ``+FCERROR`` on ``+FRM`` means V.21 came instead of the image carrier
(the far end repeated its frame): one ``AT+FRH=3`` catches it.

Data is DLE-transparent both ways (T.31 8.3.1): ``0x10`` is doubled, ``<DLE><ETX>`` ends it.
Octets are in line order, least significant bit first, which is spandsp's order too.

A modem that stops answering a command for :data:`COMMAND_TIMEOUT` seconds ends the call
(``Outcome.kind == "modem"``); so does ERROR where only OK/CONNECT make sense.
"""

from __future__ import annotations

from lanfax.engine import frontend as fe
from lanfax.engine.frontend import FrontEndFaxSession, FrontEndRequest
from lanfax.providers.modem.class1_wire import (
    CAN,
    FINAL,
    IMAGE_MODEMS,
    ModemInput,
    Outcome,
    Trace,
    dle_stuff,
    mod_code,
)
from lanfax.providers.modem.hdlc import HdlcDecoder, HdlcEncoder

#: Seconds a modem may take to answer a command before the call is given up.
COMMAND_TIMEOUT = 10.0
#: Seconds to wait for CONNECT after ATD/ATA (dialling and handshaking take long).
CONNECT_TIMEOUT = 90.0
#: Seconds the image data may run ahead of the line (the modem's buffer absorbs it).
TX_LEAD = 0.5
#: Longest call (a watchdog over T.30's own timers).
MAX_CALL = 3600.0


class Class1Dialogue:
    """One fax call over a Class 1 modem that is already initialised (``AT+FCLASS=1``).

    ``dial`` is the ATD string (``"T1000"``) for a call we place, or None to answer one that
    is ringing (``ATA``). Drive it with :meth:`start`, :meth:`feed`, :meth:`poll`; write what
    :meth:`output` returns; stop when :attr:`finished`. :attr:`connected` turns true on the
    modem's first CONNECT (the far end answered / we answered).
    """

    def __init__(self, session: FrontEndFaxSession, *, dial: str | None) -> None:
        self.session = session
        self.dial = dial
        self.trace = Trace()
        self.outcome: Outcome | None = None
        self.connected = False
        self._out = bytearray()
        self._in = ModemInput()
        # what the modem is doing: "cmd" (awaiting a result), "rx" (DLE data after CONNECT
        # to +FRH/+FRM), "txh" (CONNECT to +FTH: awaiting a frame), "txd" (sending image
        # data), "idle" (command mode, nothing pending), "done"
        self._mode = "idle"
        self._cmd = ""
        self._cmd_deadline = 0.0
        self._rx_hdlc = False
        self._frame_result: bytes | None = None
        self._tx: FrontEndRequest | None = None  # image tx or pause in progress / wanted
        self._rx: FrontEndRequest | None = None
        self._frames: list[bytes | None] = []
        self._last = "tx"  # what the line did last: "tx" or "rx" (for FTS/FRS)
        self._catch_v21 = False
        self._sent_dcn = False
        # ECM: HDLC framing of the image carrier is ours (see hdlc.py)
        self._enc: HdlcEncoder | None = None
        self._ecm_buf = bytearray()
        self._ecm_end = False
        self._dec: HdlcDecoder | None = None
        self._rx_ecm = False
        self._retry_rx_at = 0.0
        self._tx_started = 0.0
        self._tx_sent = 0
        self._tx_rate = 0
        self._tx_end = False
        self._start = 0.0
        self._now = 0.0
        self._cancelled = False
        self._hangup_sent = False
        self._t30_done = False
        self._abort_reason: Outcome | None = None

    # -- public ---------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self._mode == "done"

    def start(self, now: float) -> None:
        self._start = self._now = now
        self._absorb()
        if self.dial is not None:
            self._command(f"ATD{self.dial}", now, CONNECT_TIMEOUT)
        else:
            self._command("ATA", now, CONNECT_TIMEOUT)

    def output(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def abort(self, now: float, reason: Outcome) -> None:
        """Hang up now (a user abort, a guard's cut): T.30 is terminated, the modem hung up."""
        if self.finished or self._abort_reason is not None:
            return
        self._abort_reason = reason
        self.session.terminate()
        self._hang_up(now)

    def next_deadline(self) -> float:
        """When :meth:`poll` next has something to do (always within 50 ms: T.30 timers)."""
        return self._now + 0.05

    def poll(self, now: float) -> None:
        if self.finished:
            return
        self._advance(now)
        if self._mode == "cmd" and now > self._cmd_deadline:
            self._fail(now, "modem", f"the modem did not answer {self._cmd!r}")
            return
        if now - self._start > MAX_CALL:
            self._fail(now, "modem", "the call went on too long")
            return
        self._pump(now)

    def feed(self, data: bytes, now: float) -> None:
        """Bytes the modem sent."""
        self._advance(now)
        self._in.feed(data)
        while not self.finished:
            if self._mode == "rx":
                if not self._take_data():
                    break
                continue
            line = self._take_line()
            if line is None:
                break
            if line:
                self._on_line(line, now)
        self._pump(now)

    # -- time -----------------------------------------------------------------------------
    def _advance(self, now: float) -> None:
        if now > self._now:
            samples = int(now * 8000) - int(self._now * 8000)
            self._now = now
            if not self.session.done and not self.session.closed:
                self.session.advance(samples)
                self._absorb()

    # -- parsing --------------------------------------------------------------------------
    def _take_line(self) -> str | None:
        return self._in.line()

    def _take_data(self) -> bool:
        """Unstuff DLE data; True once <DLE><ETX> closed the block (mode left "rx")."""
        if self._in.take_data():
            self._end_of_data()
            return True
        data = self._in.data
        if not self._rx_hdlc and data:
            chunk = bytes(data)
            data.clear()
            self._image_in(chunk)
        return False

    def _image_in(self, chunk: bytes) -> None:
        if self._dec is not None:
            for frame, ok in self._dec.feed(chunk):
                self.session.hdlc_frame(frame, ok)
        else:
            self.session.image_data(chunk)
        self._absorb()

    def _end_of_data(self) -> None:
        head = bytes(self._in.data[:40]).hex()
        self.trace.add("<", f"data {len(self._in.data)} bytes {head} <DLE><ETX>")
        if self._rx_hdlc:
            self._frame_result = bytes(self._in.data)
        elif self._in.data:
            self._image_in(bytes(self._in.data))
        self._in.data.clear()
        self._mode = "cmd"
        self._cmd = "end of data"
        self._cmd_deadline = self._now + COMMAND_TIMEOUT

    # -- modem replies -------------------------------------------------------------------
    def _on_line(self, line: str, now: float) -> None:
        self.trace.add("<", line)
        if self._mode != "cmd" or line not in FINAL:
            return  # echo, RING, caller id, +F reports: nothing to do mid-call
        cmd = self._cmd
        self._mode = "idle"
        if cmd == "abort":
            self._command("ATH0", now, 5.0)
        elif cmd.startswith(("ATD", "ATA")):
            self._on_connect_result(line, now)
        elif cmd == "ATH0":
            self._mode = "done"
            if self.outcome is None:
                self.outcome = self._abort_reason or Outcome("t30")
        elif cmd == "AT+FRH=3" or (cmd == "end of data" and self._rx_hdlc):
            self._on_rx_hdlc_result(cmd, line, now)
        elif cmd.startswith("AT+FRM=") or cmd == "end of data":
            self._on_rx_image_result(cmd, line, now)
        elif cmd == "AT+FTH=3":
            if line == "CONNECT":
                self._mode = "txh"
            else:
                self._fail(now, "modem", f"AT+FTH=3 answered {line}")
        elif cmd == "frame":
            if line == "CONNECT":
                self._mode = "txh"
            elif line == "NO CARRIER" and self._sent_dcn:
                pass  # the far end hung up on our DCN, as it may: the call is over
            elif line != "OK":
                self._fail(now, "modem", f"a frame was answered {line}")
                return
            self.session.step_complete()
            self._absorb()
        elif cmd.startswith("AT+FTM="):
            if line == "CONNECT":
                self._mode = "txd"
                self._tx_started = now
                self._tx_sent = 0
                self._tx_end = False
                self._enc = None
                if self._tx is not None and self._tx.hdlc:
                    # ECM: a preamble of flags (200 ms), then the frames T.30 hands over.
                    self._enc = HdlcEncoder()
                    self._enc.flags(max(1, self._tx_rate // 40 // 8))
                    self._ecm_buf = bytearray(self._enc.take())
                    self._ecm_end = False
            else:
                self._fail(now, "modem", f"{cmd} answered {line}")
        elif cmd == "image end":
            self._tx = None
            self.session.step_complete()
            self._absorb()
        elif cmd.startswith("AT+FTS="):
            if self._tx is not None and self._tx.modem == fe.MODEM_PAUSE:
                self._tx = None
                self.session.step_complete()
                self._absorb()
        elif cmd.startswith("AT+FRS="):
            pass  # silence heard; the transmission it was for follows in _pump
        elif cmd == "cancel":
            pass

    def _on_connect_result(self, line: str, now: float) -> None:
        if line == "CONNECT":
            self.connected = True
            if self.dial is not None:
                # After ATD the modem listens for V.21 at once (T.31 8.3.2.1).
                self._enter_rx(hdlc=True)
            else:
                # After ATA it sends CED and waits in +FTH=3 for the first frame.
                self._mode = "txh"
            return
        kinds = {
            "BUSY": "busy",
            "NO ANSWER": "no-answer",
            "NO DIALTONE": "no-dialtone",
            "NO DIAL TONE": "no-dialtone",
            "NO CARRIER": "no-carrier",
        }
        self._fail(now, kinds.get(line, "modem"), f"{self._cmd} answered {line}")

    def _enter_rx(self, *, hdlc: bool) -> None:
        self._mode = "rx"
        self._rx_hdlc = hdlc
        self._in.data.clear()
        self._last = "rx"
        if hdlc:
            self.session.hdlc_status(fe.SIG_FRAMING_OK)
        elif self._rx_ecm:
            self._dec = HdlcDecoder()
            self.session.hdlc_status(fe.SIG_TRAINING_SUCCEEDED)
            self.session.hdlc_status(fe.SIG_FRAMING_OK)
        else:
            self._dec = None
            self.session.image_status(fe.SIG_TRAINING_SUCCEEDED)
        self._absorb()

    def _on_rx_hdlc_result(self, cmd: str, line: str, now: float) -> None:
        if cmd == "AT+FRH=3":
            if line == "CONNECT":
                if not self._cancelled:
                    self._enter_rx(hdlc=True)
                    return
                self._mode = "rx"  # the cancel came too late: take the frame anyway
                self._rx_hdlc = True
                return
            self._cancelled = False
            if line == "NO CARRIER" or line == "+FCERROR":
                self._retry_rx_at = now + 0.1
            elif line != "OK":
                self._retry_rx_at = now + 0.2  # ERROR: try again shortly
            return
        frame = self._frame_result or b""
        self._frame_result = None
        ok = line == "OK" and len(frame) >= 3
        body = frame[:-2] if len(frame) >= 5 else frame
        self.session.hdlc_frame(body, ok)
        self._absorb()
        if ok and len(body) >= 2 and body[1] & 0x10:
            self.session.hdlc_status(fe.SIG_CARRIER_DOWN)
            self._absorb()

    def _on_rx_image_result(self, cmd: str, line: str, now: float) -> None:
        if cmd.startswith("AT+FRM="):
            if line == "CONNECT" and not self._cancelled:
                self._enter_rx(hdlc=False)
                return
            if line == "CONNECT":
                self._mode = "rx"
                self._rx_hdlc = False
                return
            self._cancelled = False
            if line == "+FCERROR":
                self._catch_v21 = True  # V.21 instead of the image carrier: hear it
            else:
                self._retry_rx_at = now + 0.1
            return
        # end of image data: the carrier went (NO CARRIER) or the modem closed it (OK)
        if self._dec is not None:
            self._dec = None
            self.session.hdlc_status(fe.SIG_CARRIER_DOWN)
        else:
            self.session.image_status(fe.SIG_CARRIER_DOWN)
        self._absorb()

    # -- T.30 -> modem -------------------------------------------------------------------
    def _absorb(self) -> None:
        for req in self.session.requests():
            if req.kind == "hdlc":
                self._frames.append(req.frame)
            elif req.kind == "rx":
                self._rx = req
            elif req.modem in (fe.MODEM_NONE, fe.MODEM_CNG):
                self._tx = None
            elif req.modem == fe.MODEM_CED:
                self._tx = req  # ATA sent it: completed once the answer connected
            elif req.modem == fe.MODEM_DONE:
                self._t30_done = True
            elif req.modem == fe.MODEM_V21:
                pass  # frames follow through send_hdlc
            else:
                self._tx = req
        if self.session.done:
            self._t30_done = True

    def _pump(self, now: float) -> None:
        """Start what T.30 wants when the modem is free; stream image data."""
        for _ in range(20):
            before = (self._mode, len(self._frames), self._tx, self._rx)
            self._pump_once(now)
            if (self._mode, len(self._frames), self._tx, self._rx) == before:
                break

    def _pump_once(self, now: float) -> None:
        mode = self._mode
        if mode == "done" or (mode == "cmd" and self._cmd in ("ATH0", "abort")):
            return
        if self._t30_done and mode in ("idle", "txh") and not self._frames:
            self._hang_up(now)
            return
        want_tx = bool(self._frames) or (self._tx is not None and self._tx.modem != fe.MODEM_CED)
        if mode == "cmd" and (self._cmd == "AT+FRH=3" or self._cmd.startswith("AT+FRM=")):
            if want_tx and not self._cancelled:
                self._cancelled = True
                self.trace.add(">", "<CAN> (cancel the receive)")
                self._out.append(CAN)
            return
        if self._tx is not None and self._tx.modem == fe.MODEM_CED and self.connected:
            self._tx = None
            self.session.step_complete()
            self._absorb()
            return
        if mode == "txh":
            if not self._frames:
                return
            frame = self._frames.pop(0)
            if frame is None:
                # The burst ends without a final frame: an empty block turns the carrier off.
                self._out += b"\x10\x03"
                self._command_raw("frame", now)
                return
            self.trace.add(">", f"frame {frame.hex()}")
            self._sent_dcn = len(frame) >= 3 and (frame[2] & 0xFE) == 0xFA
            self._out += dle_stuff(frame) + b"\x10\x03"
            self._command_raw("frame", now)
            return
        if mode == "txd":
            self._stream(now)
            return
        if mode != "idle":
            return
        ecm_tx = self._tx is not None and self._tx.hdlc and self._tx.modem in IMAGE_MODEMS
        if self._frames and not ecm_tx:
            if self._frames[0] is None:
                # End of a burst whose final frame already turned the carrier off.
                self._frames.pop(0)
                self.session.step_complete()
                self._absorb()
                return
            self._switch_then(now, "AT+FTH=3")
            return
        if self._tx is not None:
            if self._tx.modem == fe.MODEM_PAUSE and (self.session.done or self._sent_dcn):
                # T.30's closing flush (phase E): nothing is left to flush through a modem.
                self._tx = None
                self.session.step_complete()
                self._absorb()
                return
            if self._tx.modem == fe.MODEM_PAUSE:
                self._command(f"AT+FTS={max(1, self._tx.pause_ms // 10)}", now)
                self._last = "tx"
                return
            code = mod_code(self._tx.modem, self._tx.bit_rate, self._tx.short_train)
            self._tx_rate = self._tx.bit_rate
            self._switch_then(now, f"AT+FTM={code}")
            return
        rx = self._rx
        if rx is None or rx.modem in (fe.MODEM_NONE, fe.MODEM_DONE) or now < self._retry_rx_at:
            return
        if rx.modem == fe.MODEM_V21 or self._catch_v21:
            self._catch_v21 = False
            self._command("AT+FRH=3", now, None)
        else:
            self._rx_ecm = rx.hdlc
            self._command(f"AT+FRM={mod_code(rx.modem, rx.bit_rate, rx.short_train)}", now, None)

    def _switch_then(self, now: float, command: str) -> None:
        """Send ``command`` after the T.30 gap: silence heard (after rx) or sent (after tx)."""
        if self._last == "gap":
            self._last = "tx"
            self._command(command, now)
        elif self._last == "rx":
            self._last = "gap"
            self._command("AT+FRS=7", now)
        else:
            self._last = "gap"
            self._command("AT+FTS=8", now)

    def _stream(self, now: float) -> None:
        if self._tx_end:
            return
        budget = int((now - self._tx_started + TX_LEAD) * self._tx_rate / 8) - self._tx_sent
        if self._enc is not None:
            self._stream_ecm(now, budget)
            return
        while budget > 0:
            want = min(budget, 1024)
            chunk = self.session.image_chunk(want)
            self._absorb()
            self._tx_sent += len(chunk)
            budget -= len(chunk)
            self._out += dle_stuff(chunk)
            if len(chunk) < want:
                self._tx_end = True
                self._out += b"\x10\x03"
                self.trace.add(">", f"image data {self._tx_sent} bytes <DLE><ETX>")
                self._command_raw("image end", now, timeout=COMMAND_TIMEOUT + 2 * TX_LEAD)
                return

    def _stream_ecm(self, now: float, budget: int) -> None:
        """ECM image frames: HDLC-framed here, paced like image data."""
        enc = self._enc
        assert enc is not None
        while budget > 0:
            if not self._ecm_buf:
                if self._ecm_end:
                    self._tx_end = True
                    self._out += b"\x10\x03"
                    self.trace.add(">", f"ECM data {self._tx_sent} bytes <DLE><ETX>")
                    self._command_raw("image end", now, timeout=COMMAND_TIMEOUT + 2 * TX_LEAD)
                    return
                if not self._frames:
                    enc.flags(1)  # T.30 has no frame ready: keep the carrier with flags
                elif (frame := self._frames.pop(0)) is None:
                    enc.flags(3)
                    self._ecm_end = True
                    self._ecm_buf += enc.take(flush=True)
                    continue
                else:
                    enc.frame(frame)
                    self.session.step_complete()
                    self._absorb()
                self._ecm_buf += enc.take()
                if not self._ecm_buf:
                    continue
            part = bytes(self._ecm_buf[:budget])
            del self._ecm_buf[: len(part)]
            self._out += dle_stuff(part)
            self._tx_sent += len(part)
            budget -= len(part)

    # -- commands ------------------------------------------------------------------------
    def _command(self, cmd: str, now: float, timeout: float | None = COMMAND_TIMEOUT) -> None:
        self.trace.add(">", cmd)
        self._out += cmd.encode("ascii") + b"\r"
        self._command_raw(cmd, now, timeout=timeout)

    def _command_raw(self, name: str, now: float, timeout: float | None = COMMAND_TIMEOUT) -> None:
        self._mode = "cmd"
        self._cmd = name
        # A receive waits as long as T.30 wants (its timers cancel it); others have a limit.
        self._cmd_deadline = now + (timeout if timeout is not None else MAX_CALL)

    def _hang_up(self, now: float) -> None:
        if self._hangup_sent:
            return
        self._hangup_sent = True
        self._in.clear()
        if self._mode == "rx" or (
            self._mode == "cmd" and self._cmd.startswith(("AT+FR", "ATD", "ATA"))
        ):
            # Any character aborts a dial, an answer or a receive (T.31 8.3.4, V.250 6.3.1);
            # ATH0 follows once the modem has said so.
            self.trace.add(">", "<CAN> (abort)")
            self._out.append(CAN)
            self._command_raw("abort", now, timeout=5.0)
            return
        if self._mode in ("txh", "txd"):
            self._out += b"\x10\x03"
        self._command("ATH0", now, 5.0)

    def _fail(self, now: float, kind: str, text: str) -> None:
        if self.outcome is None:
            # Once T.30 has ended, trouble with the modem while hanging up changes nothing.
            self.outcome = Outcome("t30") if self.session.done else Outcome(kind, text)
        self.trace.add("!", text)
        if not self.session.done and not self.session.closed:
            self.session.terminate()
        if self._cmd in ("ATH0", "abort") and self._mode != "done":
            self._mode = "done"  # the modem does not even answer ATH0
            return
        self._mode = "idle"
        self._hang_up(now)


__all__ = ["Class1Dialogue", "Outcome", "dle_stuff", "mod_code"]
