"""spandsp's T.30 engine with a front end of the caller's own (sans-IO).

spandsp's audio (``fax_init``) and T.38 (``t38_terminal_init``) sessions are two front ends
over one T.30 engine; ``t30_init`` takes the three callbacks a front end answers:

* ``set_rx_type(type, bit_rate, short_train, use_hdlc)``: what to listen for next
  (V.21 HDLC control frames, or a V.27ter/V.29/V.17 image carrier at ``bit_rate``);
* ``set_tx_type(...)``: what to send next (a pause, CED, CNG, V.21 HDLC or image data);
* ``send_hdlc(msg)``: one HDLC frame to send (``None``: the end of the HDLC burst).

A Class 1 fax modem (T.31) is exactly such a front end: ``+FRH``/``+FRM`` are "set rx type",
``+FTH``/``+FTM`` "set tx type", ``+FTS`` a pause. :class:`FrontEndFaxSession` records each
callback as a :class:`FrontEndRequest` (callbacks never call back into spandsp) and offers
the calls a front end makes the other way: frames received, image data, carrier status,
"send step complete", and the passage of time. The caller (the Class 1 dialogue in
``lanfax.providers.modem``) turns requests into modem commands.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lanfax.engine.session import FaxSession

# t30.h (0.0.6): T30_MODEM_* and T30_FRONT_END_*; async.h: SIG_STATUS_*.
MODEM_NONE, MODEM_PAUSE, MODEM_CED, MODEM_CNG, MODEM_V21 = 0, 1, 2, 3, 4
MODEM_V27TER, MODEM_V29, MODEM_V17, MODEM_V34HDX, MODEM_DONE = 5, 6, 7, 8, 9
MODEM_NAMES = {
    MODEM_NONE: "none",
    MODEM_PAUSE: "pause",
    MODEM_CED: "ced",
    MODEM_CNG: "cng",
    MODEM_V21: "v21",
    MODEM_V27TER: "v27ter",
    MODEM_V29: "v29",
    MODEM_V17: "v17",
    MODEM_V34HDX: "v34",
    MODEM_DONE: "done",
}
SEND_STEP_COMPLETE = 0
RECEIVE_COMPLETE = 1
SIGNAL_PRESENT = 2
SIGNAL_ABSENT = 3
SIG_CARRIER_DOWN = -1
SIG_CARRIER_UP = -2
SIG_TRAINING_SUCCEEDED = -4
SIG_TRAINING_FAILED = -5
SIG_FRAMING_OK = -6


@dataclass(frozen=True, slots=True)
class FrontEndRequest:
    """One thing T.30 asked of the front end.

    ``kind`` is "rx" or "tx" (with ``modem``, ``bit_rate``, ``short_train``, ``hdlc``) or
    "hdlc" (``frame`` to send; ``None`` ends the HDLC burst). ``modem`` is a ``MODEM_*``
    value; for a pause, ``short_train`` holds its length in milliseconds (spandsp's use).
    """

    kind: str
    modem: int = MODEM_NONE
    bit_rate: int = 0
    short_train: bool = False
    hdlc: bool = False
    pause_ms: int = 0
    frame: bytes | None = None

    def __str__(self) -> str:
        if self.kind == "hdlc":
            return "hdlc end" if self.frame is None else f"hdlc {self.frame.hex()}"
        return f"{self.kind} {MODEM_NAMES.get(self.modem, self.modem)} {self.bit_rate}" + (
            " hdlc" if self.hdlc else ""
        )


class FrontEndFaxSession(FaxSession):
    """A T.30 session whose modems are the caller's (a Class 1 modem, a test script).

    Sans-IO: :meth:`requests` drains what T.30 asked for since the last call; the other
    methods are the front end's answers. :meth:`advance` reports the passage of time in
    8 kHz samples (T.30's timers T1-T5 run on it). Events and the result are those of every
    :class:`~lanfax.engine.session.FaxSession`.
    """

    _free_name = "t30_free"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._requests: list[FrontEndRequest] = []
        super().__init__(*args, **kwargs)
        self._lib.t30_restart(self._state)
        self._after()

    def _create(self) -> Any:
        ffi = self._ffi
        reqs = self._requests
        failed = self._callback_failed

        def set_rx(_u: Any, typ: int, rate: int, short: int, hdlc: int) -> None:
            try:
                reqs.append(FrontEndRequest("rx", typ, rate, bool(short), bool(hdlc)))
            except BaseException as exc:  # pragma: no cover - append does not fail
                failed(exc)

        def set_tx(_u: Any, typ: int, rate: int, short: int, hdlc: int) -> None:
            try:
                if typ == MODEM_PAUSE:
                    reqs.append(FrontEndRequest("tx", typ, 0, False, False, pause_ms=short))
                else:
                    reqs.append(FrontEndRequest("tx", typ, rate, bool(short), bool(hdlc)))
            except BaseException as exc:  # pragma: no cover
                failed(exc)

        def send_hdlc(_u: Any, msg: Any, length: int) -> None:
            try:
                frame = None if length <= 0 else bytes(ffi.buffer(msg, length))
                reqs.append(FrontEndRequest("hdlc", frame=frame))
            except BaseException as exc:  # pragma: no cover
                failed(exc)

        cbs = (
            ffi.callback("t30_set_handler_t *", set_rx),
            ffi.callback("t30_set_handler_t *", set_tx),
            ffi.callback("t30_send_hdlc_handler_t *", send_hdlc),
        )
        self._keep.extend(cbs)
        return self._lib.t30_init(
            ffi.NULL, 1 if self.calling else 0, cbs[0], ffi.NULL, cbs[1], ffi.NULL, cbs[2], ffi.NULL
        )

    def _get_t30(self) -> Any:
        return self._state

    # -- T.30 -> front end -------------------------------------------------------------
    def requests(self) -> list[FrontEndRequest]:
        """What T.30 asked for since the last call, oldest first (drains the queue)."""
        out = self._requests[:]
        self._requests.clear()
        return out

    # -- front end -> T.30 -------------------------------------------------------------
    def advance(self, samples: int) -> None:
        """``samples`` (8 kHz) of line time went by: T.30's timers run on it."""
        self._check_open()
        if samples <= 0:
            return
        self._samples += samples
        self._lib.t30_timer_update(self._state, samples)
        self._after()

    def step_complete(self) -> None:
        """The last thing sent (a frame, the end of a burst, image data, a pause) is out."""
        self._status(SEND_STEP_COMPLETE)

    def receive_complete(self) -> None:
        """A receive ended early (the modem gave up)."""
        self._status(RECEIVE_COMPLETE)

    def _status(self, status: int) -> None:
        self._check_open()
        self._lib.t30_front_end_status(self._state, status)
        self._after()

    def hdlc_frame(self, frame: bytes, ok: bool) -> None:
        """An HDLC frame arrived (address, control, FCF, FIF: without the FCS)."""
        self._check_open()
        self._lib.t30_hdlc_accept(self._state, frame, len(frame), 1 if ok else 0)
        self._after()

    def hdlc_status(self, status: int) -> None:
        """A V.21 carrier status (``SIG_CARRIER_UP``, ``SIG_FRAMING_OK``, ``SIG_CARRIER_DOWN``)."""
        self._check_open()
        self._lib.t30_hdlc_accept(self._state, self._ffi.NULL, status, 1)
        self._after()

    def image_status(self, status: int) -> None:
        """An image carrier status (``SIG_TRAINING_SUCCEEDED``, ``SIG_CARRIER_DOWN``...)."""
        self._check_open()
        self._lib.t30_non_ecm_put_bit(self._state, status)
        self._after()

    def image_data(self, data: bytes) -> None:
        """Image data (or TCF) received, as the modem delivers it (first bit = LSB)."""
        self._check_open()
        if data:
            self._lib.t30_non_ecm_put_chunk(self._state, data, len(data))
            self._after()

    def image_chunk(self, max_len: int) -> bytes:
        """Up to ``max_len`` bytes of image data (or TCF) to send; fewer means the end."""
        self._check_open()
        buf = self._ffi.new("uint8_t[]", max_len)
        n = self._lib.t30_non_ecm_get_chunk(self._state, buf, max_len)
        self._after()
        return bytes(self._ffi.buffer(buf, max(n, 0)))


__all__ = ["FrontEndFaxSession", "FrontEndRequest"]
