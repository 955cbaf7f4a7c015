"""A fax session's C record and what is read from it (split out of ``engine/session.py``).

Every session has a record (``lf_sess_t``) that spandsp's T.30 callbacks fill during a C call:
the events (phase B, each phase D, phase E, the DCS that names the modem), an error flag and
the line time in samples. With the compiled helper the callbacks are C (``lf_attach_t30``); on
the ABI fallback they are the Python closures of :meth:`SessionRecord._t30_callbacks`, which
fill the same record. Right after each C call the session turns the record into events and,
at phase E, its :class:`~lanfax.engine.events.SessionResult` (:meth:`SessionRecord._after`,
which the batches call too). :class:`SessionRecord` is a base of
:class:`~lanfax.engine.session.FaxSession` and works on its state.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lanfax.engine import codes as t30codes
from lanfax.engine.events import PageDone, PhaseB, PhaseE, SessionEvent, SessionResult
from lanfax.model.errors import EngineError

__all__ = ["SAMPLE_RATE", "SessionRecord", "modem_from_dcs", "tiff_pages_on_disk"]

SAMPLE_RATE = 8000
#: Event kinds in the record (the same numbers as the helper's LF_B, LF_D, LF_E, LF_DCS).
_B, _D, _E, _DCS = 0, 1, 2, 3
#: The record's error bits: events overflowed, the packet queue could not grow, a Python
#: callback (ABI mode) raised.
_ERR_EVENTS, _ERR_MEMORY, _ERR_CALLBACK = 1, 2, 4
_MAX_EVENTS = 64
_T30_DCS = 0x82
#: T4_COMPRESSION_ITU_* (t4_rx.h) to lanfax names.
_ENCODING_NAMES = {1: "mh", 2: "mr", 3: "mmr"}


def modem_from_dcs(fif2: int) -> str:
    """The image modem named by DCS bits 11-14 (second FIF octet, T.30 table 2).

    Bit 14 (0x20) set means V.17; otherwise bit 11 (0x04) means V.29; otherwise V.27ter.
    """
    if fif2 & 0x20:
        return "v17"
    if fif2 & 0x04:
        return "v29"
    return "v27ter"


def tiff_pages_on_disk(path: Path) -> int:
    """How many pages of a TIFF are on disk whole enough to read: directories reachable from
    the header that lie inside the file and carry an image width (spandsp's TIFF writer
    reports no write error; a page it could not write leaves no such directory). Reads the
    directories only, not the image data."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(8)
            if len(head) < 8 or head[:2] not in (b"II", b"MM"):
                return 0
            order = "<" if head[:2] == b"II" else ">"
            (offset,) = struct.unpack_from(order + "I", head, 4)
            pages = 0
            seen: set[int] = set()
            while offset and offset not in seen and offset + 2 <= size:
                seen.add(offset)
                f.seek(offset)
                (count,) = struct.unpack(order + "H", f.read(2))
                table = f.read(12 * count + 4)
                if count == 0 or len(table) < 12 * count + 4:
                    break
                tags = {struct.unpack_from(order + "H", table, 12 * i)[0] for i in range(count)}
                if 256 not in tags:
                    break
                pages += 1
                (offset,) = struct.unpack_from(order + "I", table, 12 * count)
            return pages
    except OSError:
        return 0


class SessionRecord:
    """The record's side of a session: the ABI-mode callbacks that fill it, the line time
    it counts, and the events and result read from it. State set by ``FaxSession``."""

    calling: bool
    tx_file: Path | None
    rx_file: Path | None
    result: SessionResult | None
    _ffi: Any
    _lib: Any
    _t30: Any
    _cs: Any
    _cb_errors: list[BaseException]
    _events: list[SessionEvent]
    _keep: list[Any]
    _last_activity: int
    _pages_reported: int
    _write_error: str
    _pages_stored: int
    _modem: str
    _terminated: bool

    def _t30_callbacks(self) -> tuple[Any, Any, Any, Any]:
        """ABI mode: this session's T.30 callbacks (phase B, D, E, real-time frames) in
        Python, closures over the session, so what they record, failures included, is this
        session's alone. They fill the same record the compiled helper's C callbacks do."""
        ffi = self._ffi
        session = self

        def push(kind: int, value: int) -> None:
            session._record(kind, value)

        def phase(kind: int) -> Callable[[Any, Any, int], int]:
            """Phase B's or phase D's handler (the same signature, another kind)."""

            def handler(_s: Any, _user_data: Any, result: int) -> int:
                try:
                    push(kind, result)
                except BaseException as exc:
                    session._callback_failed(exc)
                return 0

            return handler

        def phase_e(_s: Any, _user_data: Any, code: int) -> None:
            try:
                push(_E, code)
            except BaseException as exc:
                session._callback_failed(exc)

        def frame(_s: Any, _user_data: Any, _direction: int, msg: Any, length: int) -> None:
            # Only the DCS matters: it names the modem actually used for the pages.
            try:
                if length >= 5 and (msg[2] & 0xFE) == _T30_DCS:
                    push(_DCS, msg[4])
            except BaseException as exc:
                session._callback_failed(exc)

        callbacks = (
            ffi.callback("t30_phase_b_handler_t *", phase(_B)),
            ffi.callback("t30_phase_d_handler_t *", phase(_D)),
            ffi.callback("t30_phase_e_handler_t *", phase_e),
            ffi.callback("t30_real_time_frame_handler_t *", frame),
        )
        self._keep.extend(callbacks)
        return callbacks

    def _record(self, kind: int, value: int) -> None:
        """ABI mode: what a C callback of the helper does (``lf_push``)."""
        cs = self._cs
        n = cs.n_ev
        if n >= _MAX_EVENTS:
            cs.error |= _ERR_EVENTS
            return
        cs.ev_kind[n] = kind
        cs.ev_value[n] = value
        cs.n_ev = n + 1

    def _callback_failed(self, exc: BaseException) -> None:
        """Keep an exception raised inside one of our callbacks, to be raised after the C
        call returns; the error flag in the record makes every caller look at the session
        now (every check after a C call looks at the record's ``n_ev`` and ``error``)."""
        self._cb_errors.append(exc)
        with contextlib.suppress(Exception):
            self._cs.error |= _ERR_CALLBACK

    # -- line time -------------------------------------------------------------------------
    @property
    def _samples(self) -> int:
        """Line time in samples, kept in the C record (the helper's loops advance it)."""
        return int(self._cs.samples)

    @_samples.setter
    def _samples(self, value: int) -> None:
        self._cs.samples = value

    @property
    def elapsed_samples(self) -> int:
        """Line time so far, in 8 kHz samples."""
        return self._samples

    @property
    def line_seconds(self) -> float:
        return self._samples / SAMPLE_RATE

    @property
    def idle_samples(self) -> int:
        """Line time since the last event (phase B, a page, or the start of the call)."""
        return self._samples - self._last_activity

    # -- events and result ---------------------------------------------------------------
    def _after(self) -> None:
        """Turn what the callbacks recorded during the last C call into events."""
        cs = self._cs
        if cs.error or self._cb_errors:
            error = cs.error
            cs.error = 0
            cs.n_ev = 0
            if self._cb_errors:
                exc = self._cb_errors.pop(0)
                raise EngineError(f"a spandsp callback failed: {exc!r}") from exc
            what = "out of memory" if error & _ERR_MEMORY else "too many events in one step"
            raise EngineError(f"the spandsp callbacks failed: {what}")
        n = cs.n_ev
        raw = list(zip(cs.ev_kind[0:n], cs.ev_value[0:n], strict=True))
        cs.n_ev = 0
        for kind, value in raw:
            if kind == _DCS:
                self._modem = modem_from_dcs(value)
            elif kind == _B:
                self._last_activity = self._samples
                self._events.append(
                    PhaseB(self.line_seconds, self._remote_ident(), value, self._frametype(value))
                )
            elif kind == _D:
                self._last_activity = self._samples
                self._phase_d(value)
            elif kind == _E and self.result is None:
                self.result = self._build_result(value)
                self._events.append(PhaseE(self.line_seconds, self.result.code, self.result.text))
        if self._write_error and not self._terminated and self.result is None:
            self._terminated = True
            self._lib.t30_terminate(self._t30)
            self._after()

    def _remote_ident(self) -> str:
        ptr = self._lib.t30_get_rx_ident(self._t30)
        if ptr == self._ffi.NULL:
            return ""
        return str(self._ffi.string(ptr).decode("ascii", "replace")).strip()

    def _frametype(self, fcf: int) -> str:
        ptr = self._lib.t30_frametype(fcf & 0xFF)
        return "" if ptr == self._ffi.NULL else str(self._ffi.string(ptr).decode("ascii"))

    def _stats(self) -> Any:
        stats = self._ffi.new("t30_stats_t *")
        self._lib.t30_get_transfer_statistics(self._t30, stats)
        return stats

    def _phase_d(self, fcf: int) -> None:
        stats = self._stats()
        page = stats.pages_tx if self.tx_file is not None else stats.pages_rx
        # Phase D fires for several frames per page (e.g. PPS and MPS under ECM); report a
        # page once, when the count moves.
        if page > self._pages_reported:
            self._pages_reported = page
            if self.rx_file is not None and not self._write_error:
                stored = tiff_pages_on_disk(self.rx_file)
                if stored < page:
                    self._write_error = (
                        f"page {page} could not be written to {self.rx_file.name} (is the"
                        " disk full?): the call was ended before it was confirmed"
                    )
                    return
                self._pages_stored = stored
            self._events.append(
                PageDone(self.line_seconds, page, fcf, self._frametype(fcf), stats.bad_rows)
            )

    def _build_result(self, code: int) -> SessionResult:
        stats = self._stats()
        if self._write_error and code == t30codes.T30_OK:
            # The page that could not be written was the last one (EOP): T.30 had nothing
            # left to do as far as spandsp knew, but the call was ended before that page was
            # confirmed. Not a received fax: the call dropped, as for any other page (the
            # pages kept are counted below; the sender sends the missing one again).
            code = t30codes.T30_CALLDROPPED
        row = t30codes.describe(code)
        ptr = self._lib.t30_completion_code_to_str(code)
        text = row.text if ptr == self._ffi.NULL else self._ffi.string(ptr).decode("ascii")
        status = row.status(self.calling)
        pages_rx = stats.pages_rx
        if self._write_error:
            text, pages_rx = self._write_error, min(pages_rx, self._pages_stored)
        pages_any = stats.pages_tx or pages_rx
        return SessionResult(
            code=code,
            text=text,
            calling=self.calling,
            provider_status=status,
            failure=t30codes.failure_class(code, calling=self.calling),
            pages_tx=stats.pages_tx,
            pages_rx=pages_rx,
            bit_rate=stats.bit_rate if self._modem else 0,
            ecm=bool(stats.error_correcting_mode) and bool(self._modem),
            compression=_ENCODING_NAMES.get(stats.encoding, "") if pages_any else "",
            modem=self._modem,
            remote_ident=self._remote_ident(),
            width=stats.width,
            length=stats.length,
            x_dpi=round(stats.x_resolution * 0.0254),
            y_dpi=round(stats.y_resolution * 0.0254),
            image_size=stats.image_size,
            bad_rows=stats.bad_rows,
            longest_bad_row_run=stats.longest_bad_row_run,
            ecm_retries=stats.error_correcting_mode_retries,
            line_seconds=self.line_seconds,
            terminated=self._terminated,
        )
