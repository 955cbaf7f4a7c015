"""G.711 calls on their own lines (SIP's RTP) in one crossing into C (issue #19):
:class:`RtpBatch` (the sessions' frames with the wire format: jitter buffer, G.711, the RTP
header) and :class:`RtpLine` (one call's RTP state in C). Both are re-exported by
:mod:`lanfax.engine.lines`, where the batches are described.
"""

from __future__ import annotations

import weakref
from array import array
from collections.abc import Sequence
from typing import Any

import numpy as np

from lanfax.engine import g711
from lanfax.engine._binding import load
from lanfax.engine.lines_tick import (
    Int32Array,
    _check_open,
    _collected,
    _Input,
    _Output,
    _Parts,
    _queue_all,
)
from lanfax.engine.session import AudioFaxSession
from lanfax.model.errors import EngineError

__all__ = ["RtpBatch", "RtpLine"]

#: Slots of an RTP line's jitter buffer (the helper's LF_JB_SLOTS): its capacity's bound.
_JB_SLOTS = 64
_law_tables: dict[str, tuple[Any, Any]] = {}


def _tables(ffi: Any, law: str) -> tuple[Any, Any]:
    """The G.711 tables of ``law`` (engine.g711's) in C memory, made once per process."""
    got = _law_tables.get(law)
    if got is None:
        encoder, decoder = g711.tables(law)
        enc = ffi.new("uint8_t[]", 65536)
        dec = ffi.new("int16_t[]", 256)
        ffi.memmove(enc, np.ascontiguousarray(encoder, dtype=np.uint8).tobytes(), 65536)
        ffi.memmove(dec, np.ascontiguousarray(decoder, dtype=np.int16).tobytes(), 512)
        got = _law_tables[law] = (enc, dec)
    return got


class RtpLine:
    """One G.711 call's RTP state in C for an :class:`RtpBatch`: what it accepts (the far
    end's payload type), its jitter buffer (``providers/sip/rtp.JitterBuffer``: a fixed
    playout delay of ``jitter_frames`` frames, ``capacity`` frames ahead at most, then a
    resync) and what it sends (``RtpSender``: payload type, SSRC, sequence number,
    timestamp, the marker on the first packet). ``law``: "ulaw" or "alaw"."""

    def __init__(
        self,
        law: str,
        payload_type: int,
        ssrc: int,
        seq: int = 0,
        timestamp: int = 0,
        *,
        jitter_frames: int = 3,
        capacity: int = 50,
        step: int = 160,
    ) -> None:
        sp = load()
        if not sp.compiled:
            raise EngineError("RTP lines need the engine's compiled helper")
        if not 0 < capacity <= _JB_SLOTS:
            raise EngineError(f"an RTP line's jitter capacity must be 1 to {_JB_SLOTS}")
        if step <= 0:
            raise EngineError(f"an RTP line needs a positive step, got {step}")
        ffi = self._ffi = sp.ffi
        self.step = step
        self.law = law
        self._enc, self._dec = _tables(ffi, law)
        self._frames = ffi.new("uint8_t[]", _JB_SLOTS * step)
        j = self._j = ffi.new("lf_rtp_t *")
        j.rx_pt = j.tx_pt = payload_type & 0x7F
        j.ssrc = ssrc & 0xFFFFFFFF
        j.seq = seq & 0xFFFF
        j.timestamp = timestamp & 0xFFFFFFFF
        j.first = 1
        j.depth = max(1, jitter_frames)
        j.capacity = capacity
        j.next = -1
        for k in range(_JB_SLOTS):
            j.tags[k] = -1
        j.frames = self._frames
        j.enc = self._enc
        j.dec = self._dec

    @property
    def rx_payload_type(self) -> int:
        """The payload type accepted from the far end (others are dropped)."""
        return int(self._j.rx_pt)

    @rx_payload_type.setter
    def rx_payload_type(self, value: int) -> None:
        self._j.rx_pt = value & 0x7F

    @property
    def tx_payload_type(self) -> int:
        return int(self._j.tx_pt)

    @property
    def seq(self) -> int:
        """The sequence number of the next packet sent."""
        return int(self._j.seq)

    @property
    def timestamp(self) -> int:
        return int(self._j.timestamp)

    @property
    def played(self) -> int:
        return int(self._j.played)

    @property
    def missing(self) -> int:
        return int(self._j.missing)

    @property
    def late(self) -> int:
        return int(self._j.late)


class RtpBatch:
    """Audio sessions on RTP lines, one 20 ms frame each per :meth:`tick`, in one C call.

    Per tick and per session (index ``i`` in :meth:`set_sessions`' list): the datagrams
    queued for it with :meth:`feed` (in arrival order) into its line's jitter buffer; the
    frame due now decoded into the session's ``rx`` (silence when none, or not ``step``
    bytes); ``fax_rx``, ``fax_tx``; ``tx`` coded into one RTP packet. That is byte for byte
    what the SIP media's audio step sends with ``providers/sip/rtp.py`` (the tests check it).
    :meth:`packets` gives ``(i, seq, datagram)``, one per session; :meth:`out_columns` the
    same as columns. Events are collected as :class:`~lanfax.engine.batch.FrameBatch` does.

    Each session needs ``frame_buffers(step)`` first (the batch decodes into its ``rx`` and
    codes its ``tx``). Compiled helper only (:func:`lanfax.engine.batch.available`).
    ``threads=2`` splits a tick over two threads as :class:`T38Batch` does.
    """

    def __init__(self, step: int = 160, threads: int = 1) -> None:
        sp = load()
        if not sp.compiled:
            raise EngineError("RTP batches need the engine's compiled helper")
        if step <= 0:
            raise EngineError(f"an RTP batch needs a positive step, got {step}")
        self._ffi, self._lib = sp.ffi, sp.lib
        self._parts = _Parts(self._ffi, self._lib, threads)
        weakref.finalize(self, self._parts.stop)
        self.step = step
        self._sessions: list[AudioFaxSession] = []
        self._lines: list[RtpLine] = []
        self._arrays: tuple[Any, ...] = ()
        self._in_data = bytearray()
        self._in_rec = array("i")
        self._output = _Output(self._ffi, self._lib)
        #: Sessions whose events could not be collected in the last tick, with the error.
        self.failures: list[tuple[AudioFaxSession, EngineError]] = []

    def __len__(self) -> int:
        return len(self._sessions)

    def close(self) -> None:
        """Stop the worker thread of ``threads=2`` (a later tick starts a new one)."""
        self._parts.close()

    def set_sessions(self, sessions: Sequence[AudioFaxSession], lines: Sequence[RtpLine]) -> None:
        """Replace the sessions, one :class:`RtpLine` each (the same line for a call at
        every call: it holds the call's sequence state). Datagrams queued and not yet ticked
        are dropped."""
        ffi = self._ffi
        n = len(sessions)
        if len(lines) != n or not all(isinstance(line, RtpLine) for line in lines):
            raise EngineError("an RTP batch needs one RtpLine per session")
        states = ffi.new("fax_state_t *[]", max(n, 1))
        records = ffi.new("lf_sess_t *[]", max(n, 1))
        rx = ffi.new("int16_t *[]", max(n, 1))
        tx = ffi.new("int16_t *[]", max(n, 1))
        c_lines = ffi.new("lf_rtp_t *[]", max(n, 1))
        for i, (s, line) in enumerate(zip(sessions, lines, strict=True)):
            if not isinstance(s, AudioFaxSession) or not s._compiled or s.closed:
                raise EngineError(f"session {i} cannot be ticked in an RTP batch")
            frame = s._frame
            if frame is None or frame[4] != self.step or line.step != self.step:
                raise EngineError(f"session {i} needs frame_buffers({self.step}) first")
            states[i] = s._state
            records[i] = s._cs
            rx[i] = frame[2]
            tx[i] = frame[3]
            c_lines[i] = line._j
        self._sessions = list(sessions)
        self._lines = list(lines)
        self._in_data.clear()
        del self._in_rec[:]
        self._arrays = (states, records, rx, tx, c_lines, ffi.new("int[]", max(n, 1)))

    def feed(self, index: int, datagram: bytes | bytearray | memoryview) -> None:
        """Queue one datagram from session ``index``'s far end, as it arrived (no C call)."""
        if not 0 <= index < len(self._sessions):
            raise EngineError(f"no session {index} in this RTP batch")
        self._in_data += datagram
        self._in_rec.extend((index, 0, len(datagram)))

    def feed_all(self, data: Any, index: Any, lengths: Any) -> None:
        """:meth:`feed` for many datagrams at once, as columns (see
        :meth:`T38Batch.feed_all`)."""
        _queue_all(self._in_data, self._in_rec, len(self._sessions), data, index, lengths)

    def tick(self) -> list[AudioFaxSession]:
        """One frame of every session (one C call); returns the sessions with new events,
        already collected. A session whose events could not be collected is in
        :attr:`failures` (and not returned); the others are unaffected."""
        self.failures = []
        output = self._output
        _check_open(self._sessions)
        n = len(self._sessions)
        if not n:
            output.empty()
            return []
        states, records, rx, tx, lines, flagged = self._arrays
        lib, step = self._lib, self.step
        with _Input(self._ffi, self._in_rec, self._in_data) as (p_rec, in_n, p_data):

            def part(lo: int, hi: int, out: _Output) -> int:
                return int(
                    lib.lf_step_rtp(
                        states + lo,
                        records + lo,
                        rx + lo,
                        tx + lo,
                        lines + lo,
                        hi - lo,
                        lo,
                        step,
                        p_rec,
                        in_n,
                        p_data,
                        out.c,
                        flagged + lo,
                    )
                )

            found = self._parts.run(n, part, output, flagged)
        return _collected(self._sessions, found, self.failures, lambda _i, s: s._after())

    def packets(self) -> list[tuple[int, int, bytes]]:
        """The RTP datagrams of the last tick: ``(session index, seq, datagram)`` each."""
        return self._output.packets()

    def out_columns(self) -> tuple[bytes, Int32Array, Int32Array, Int32Array, Int32Array]:
        """:meth:`packets` as columns ``(data, index, seq, offsets, lengths)``."""
        return self._output.columns()
