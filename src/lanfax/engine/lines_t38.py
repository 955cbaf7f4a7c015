"""T.38 calls on their own lines (SIP's UDPTL) in one crossing into C (issue #19):
:class:`T38Batch` (the sessions' ticks, fed IFPs or, with a :class:`UdptlLine` per call, the
far end's raw UDPTL datagrams) and :class:`UdptlLine` (one call's UDPTL state in C). Both are
re-exported by :mod:`lanfax.engine.lines`, where the batches are described.
"""

from __future__ import annotations

import weakref
from array import array
from collections.abc import Sequence
from typing import Any

from lanfax.engine._binding import load
from lanfax.engine.lines_tick import (
    _RECORD,
    Int32Array,
    _check_open,
    _collected,
    _columns,
    _Input,
    _Output,
    _Parts,
    _queue_all,
)
from lanfax.engine.session import T38FaxSession
from lanfax.model.errors import EngineError

__all__ = ["T38Batch", "UdptlLine"]

#: The most earlier IFPs a UDPTL datagram repeats (the helper's LF_MAX_RED).
_MAX_REDUNDANCY = 16


class T38Batch:
    """T.38 sessions with their own lines (SIP's UDPTL), one tick each per :meth:`tick`.

    Per tick and per session, in order: the IFP packets queued for it with :meth:`receive`
    since the last tick (in arrival order, with their sequence numbers, as
    :meth:`T38FaxSession.receive <lanfax.engine.T38FaxSession.receive>` hands them to
    spandsp), then ``t38_terminal_send_timeout(step)`` (as ``T38FaxSession.tick``). With the
    compiled helper (:attr:`compiled`) that is one C call for every session, the GIL
    released once; on the ABI fallback the batch steps each session through its public
    methods (same packets, same events, more CPU).

    Every IFP packet the sessions emitted during the tick (answers to what they received,
    then what the timeout sent; plus any queued before it, e.g. by ``terminate()``) comes
    back from :meth:`packets` as ``(index, seq, ifp)``, ``index`` being the session's place
    in :meth:`set_sessions`' list: in each session's order, sessions in index order. The
    packets are bare IFPs: UDPTL framing and redundancy stay the caller's.

    UDPTL mode (compiled helper only: :func:`lanfax.engine.batch.available`): give each
    session a :class:`UdptlLine` (``set_sessions(sessions, lines)``) and queue the far
    end's whole UDPTL datagrams with :meth:`feed`; the tick decodes them, fills gaps from their
    redundancy and hands each IFP to spandsp once, in order (as
    ``providers/sip/udptl.UdptlReceiver`` + ``receive``), and :meth:`packets` gives
    ``(index, seq, datagram)``: the session's IFPs framed with its line's redundancy within
    its ``max_datagram`` (as ``UdptlSender.frame``), or, in a tick where it emitted nothing,
    its last datagram again up to ``idle_repeats`` times in a row. No Python runs per packet.

    Events are stamped with the line time at which they were raised, as the per-session
    path stamps them: one raised by a received packet at the tick's start, one raised by
    the timeout at its end (a disk-full receiver is ended after its whole tick rather than
    right after the packet that found it: one tick later than the per-session path).

    ``threads=2`` (compiled helper): a tick of :data:`SPLIT_MIN_SESSIONS` sessions or more
    runs in two halves at once, the caller's thread and a worker, each one C call with the
    GIL released: the same packets and events (tested), in about half the wall time when a
    second core is free. :meth:`close` stops the worker.

    Thread use: one thread at a time per batch. A closed session must leave the batch
    (:meth:`set_sessions` again) before the next tick: the batch holds its C pointers (a
    tick that finds one raises EngineError).
    """

    def __init__(self, step: int = 160, threads: int = 1) -> None:
        if step <= 0:
            raise EngineError(f"a T.38 batch needs a positive step, got {step}")
        sp = load()
        self._ffi, self._lib = sp.ffi, sp.lib
        #: True when a tick is one C call (the compiled helper); False on the ABI fallback.
        self.compiled = bool(sp.compiled)
        self._parts = _Parts(self._ffi, self._lib, threads)
        weakref.finalize(self, self._parts.stop)
        self.step = step
        self._sessions: list[T38FaxSession] = []
        self._arrays: tuple[Any, ...] = ()
        self._in_data = bytearray()
        self._in_rec = array("i")
        self._out_py: list[tuple[int, int, bytes]] = []
        #: Sessions whose events could not be collected in the last tick (a spandsp callback
        #: failed, or its record overflowed), with the error: the others' tick went on.
        self.failures: list[tuple[T38FaxSession, EngineError]] = []
        self._lines: list[UdptlLine] | None = None
        self._output = _Output(self._ffi, self._lib) if self.compiled else None

    def __len__(self) -> int:
        return len(self._sessions)

    def close(self) -> None:
        """Stop the worker thread of ``threads=2`` (a later tick starts a new one)."""
        self._parts.close()

    @property
    def sessions(self) -> list[T38FaxSession]:
        return list(self._sessions)

    def set_sessions(
        self, sessions: Sequence[T38FaxSession], lines: Sequence[UdptlLine] | None = None
    ) -> None:
        """Replace the sessions (open :class:`T38FaxSession` objects, all compiled or all
        not, as the batch), with one :class:`UdptlLine` each for UDPTL mode (a line keeps
        its call's sequence state: give a session the same line at every call). Packets
        queued and not yet ticked are dropped: set the sessions first, then queue."""
        ffi = self._ffi
        n = len(sessions)
        for i, s in enumerate(sessions):
            if not isinstance(s, T38FaxSession) or s.closed or s._compiled != self.compiled:
                raise EngineError(f"session {i} cannot be ticked in this T.38 batch")
        if lines is not None:
            if not self.compiled:
                raise EngineError("UDPTL in a T.38 batch needs the engine's compiled helper")
            if len(lines) != n or not all(isinstance(line, UdptlLine) for line in lines):
                raise EngineError("a T.38 batch in UDPTL mode needs one UdptlLine per session")
        self._lines = list(lines) if lines is not None else None
        self._sessions = list(sessions)
        self._in_data.clear()
        del self._in_rec[:]
        if self.compiled:
            states = ffi.new("t38_terminal_state_t *[]", max(n, 1))
            cores = ffi.new("t38_core_state_t *[]", max(n, 1))
            records = ffi.new("lf_sess_t *[]", max(n, 1))
            for i, s in enumerate(sessions):
                states[i] = s._state
                cores[i] = s._core
                records[i] = s._cs
            if lines is None:
                c_lines = ffi.NULL
            else:
                c_lines = ffi.new("lf_udptl_t *[]", max(n, 1))
                for i, line in enumerate(lines):
                    c_lines[i] = line._u
            self._arrays = (
                states,
                cores,
                records,
                c_lines,
                ffi.new("int[]", max(n, 1)),
                ffi.new("int[]", max(n, 1)),
            )

    def receive(self, index: int, seq: int, ifp: bytes | bytearray | memoryview) -> None:
        """Queue one IFP packet from session ``index``'s far end for the next tick (no C
        call now; duplicates by seq are dropped by spandsp, as with ``receive``)."""
        if not 0 <= index < len(self._sessions):
            raise EngineError(f"no session {index} in this T.38 batch")
        if self._lines is not None:
            raise EngineError("this T.38 batch takes UDPTL datagrams (feed), not IFPs")
        self._in_data += ifp
        self._in_rec.extend((index, seq & 0xFFFF, len(ifp)))

    def feed(self, index: int, datagram: bytes | bytearray | memoryview) -> None:
        """UDPTL mode: queue one datagram from session ``index``'s far end, as it arrived,
        for the next tick (a malformed one is counted by the line and dropped)."""
        if not 0 <= index < len(self._sessions):
            raise EngineError(f"no session {index} in this T.38 batch")
        if self._lines is None:
            raise EngineError("this T.38 batch takes IFPs (receive): give it UdptlLines")
        self._in_data += datagram
        self._in_rec.extend((index, 0, len(datagram)))

    def feed_all(self, data: Any, index: Any, lengths: Any) -> None:
        """UDPTL mode: :meth:`feed` for many datagrams at once, as columns (no Python per
        datagram): ``data`` back to back, ``index`` the session of each (-1 or out of range:
        not this batch's, skipped), ``lengths`` theirs; e.g. from
        :meth:`lanfax.engine.dgram.Received.columns` with ``session_of_fd[index]``."""
        if self._lines is None:
            raise EngineError("this T.38 batch takes IFPs (receive): give it UdptlLines")
        _queue_all(self._in_data, self._in_rec, len(self._sessions), data, index, lengths)

    def tick(self) -> list[T38FaxSession]:
        """One tick of every session; returns the sessions that had events this tick, their
        events already collected (``session.events()``, ``session.done``). The packets they
        emitted are then in :meth:`packets`. A session whose events could not be collected
        is in :attr:`failures` (and not returned); the others are unaffected."""
        self.failures = []
        _check_open(self._sessions)
        if self.compiled:
            return self._tick_compiled()
        return self._tick_python()

    def packets(self) -> list[tuple[int, int, bytes]]:
        """What the last tick emitted: ``(session index, seq, ifp)`` each, or in UDPTL mode
        ``(session index, seq, datagram)``."""
        if self._output is None:
            return list(self._out_py)
        return self._output.packets()

    def out_columns(self) -> tuple[bytes, Int32Array, Int32Array, Int32Array, Int32Array]:
        """What the last tick emitted as columns: ``(data, index, seq, offsets, lengths)``,
        the bytes back to back and int32 arrays, e.g. for
        ``Datagrams.send_columns(data, fd_of[index], offsets, lengths, dest_of[index])``."""
        if self._output is None:
            return _columns(self._out_py)
        return self._output.columns()

    # -- the two paths ----------------------------------------------------------------------

    def _tick_python(self) -> list[T38FaxSession]:
        """ABI fallback: each session through its public methods, as a caller would."""
        rec, data = self._in_rec, bytes(self._in_data)
        queued: dict[int, list[tuple[int, bytes]]] = {}
        at = 0
        for k in range(0, len(rec), _RECORD):
            length = rec[k + 2]
            queued.setdefault(rec[k], []).append((rec[k + 1], data[at : at + length]))
            at += length
        self._in_data.clear()
        del self._in_rec[:]
        out: list[tuple[int, int, bytes]] = []
        flagged: list[T38FaxSession] = []
        for i, s in enumerate(self._sessions):
            before = len(s._events)
            try:
                for seq, ifp in queued.get(i, ()):
                    s.receive(seq, ifp)
                packets = s.take_packets()
                packets += s.tick(self.step)
            except EngineError as exc:
                self.failures.append((s, exc))
                packets = s.take_packets()
            else:
                if len(s._events) > before:
                    flagged.append(s)
            out.extend((i, seq, ifp) for seq, ifp in packets)
        self._out_py = out
        return flagged

    def _tick_compiled(self) -> list[T38FaxSession]:
        """One C call for every session (the GIL released once), then one read of the
        packets' records and one of their bytes."""
        output = self._output
        assert output is not None
        n = len(self._sessions)
        if not n:
            output.empty()
            return []
        states, cores, records, lines, rx_events, flagged = self._arrays
        lib, step = self._lib, self.step
        with _Input(self._ffi, self._in_rec, self._in_data) as (p_rec, in_n, p_data):

            def part(lo: int, hi: int, out: _Output) -> int:
                return int(
                    lib.lf_tick_t38(
                        states + lo,
                        cores + lo,
                        records + lo,
                        lines if lines == self._ffi.NULL else lines + lo,
                        hi - lo,
                        lo,
                        step,
                        p_rec,
                        in_n,
                        p_data,
                        rx_events + lo,
                        out.c,
                        flagged + lo,
                    )
                )

            found = self._parts.run(n, part, output, flagged)

        def collect(i: int, s: T38FaxSession) -> None:
            _collect_t38(s, rx_events[i], self.step)
            if self._lines is not None:
                self._lines[i]._check()

        return _collected(self._sessions, found, self.failures, collect)


def _collect_t38(session: T38FaxSession, early: int, step: int) -> None:
    """Collect a batched T.38 tick's events as the per-session path stamps them: the first
    ``early`` (raised by received packets) at the line time before the timeout, the rest
    after it."""
    cs = session._cs
    n = cs.n_ev
    if early <= 0 or early > n or cs.error:
        session._after()
        return
    tail = list(zip(cs.ev_kind[early:n], cs.ev_value[early:n], strict=True))
    cs.n_ev = early
    cs.samples -= step
    try:
        session._after()
    finally:
        cs.samples += step
    for j, (kind, value) in enumerate(tail):
        cs.ev_kind[j] = kind
        cs.ev_value[j] = value
    cs.n_ev = len(tail)
    if tail:
        session._after()


class UdptlLine:
    """One call's UDPTL state in C for a :class:`T38Batch` in UDPTL mode: the receiver's next
    expected sequence number and counters, the sender's history of IFPs for redundancy and
    its last datagram. The same rules as ``providers/sip/udptl.py``'s ``UdptlReceiver`` and
    ``UdptlSender`` (redundancy 0 to 16, at least 32 bytes a datagram), byte for byte."""

    def __init__(self, redundancy: int = 3, max_datagram: int = 400, idle_repeats: int = 2) -> None:
        sp = load()
        if not sp.compiled:
            raise EngineError("UDPTL lines need the engine's compiled helper")
        redundancy = max(0, redundancy)
        if redundancy > _MAX_REDUNDANCY:
            raise EngineError(f"UDPTL redundancy {redundancy} is over {_MAX_REDUNDANCY}")
        self._ffi = sp.ffi
        u = self._u = sp.ffi.new("lf_udptl_t *")
        u.expected = -1
        u.redundancy = redundancy
        u.max_datagram = max(max_datagram, 32)
        u.idle_repeats = max(0, idle_repeats)
        self._finalizer = weakref.finalize(self, sp.lib.lf_udptl_release, u)
        self._scratch: Any = None

    @property
    def redundancy(self) -> int:
        return int(self._u.redundancy)

    @property
    def max_datagram(self) -> int:
        return int(self._u.max_datagram)

    @property
    def received(self) -> int:
        """Datagrams decoded (late ones included, malformed ones not)."""
        return int(self._u.received)

    @property
    def recovered(self) -> int:
        """IFPs recovered from a later datagram's redundancy."""
        return int(self._u.recovered)

    @property
    def lost(self) -> int:
        """IFPs never seen (a gap the redundancy did not cover)."""
        return int(self._u.lost)

    @property
    def late(self) -> int:
        """Datagrams older than the next expected sequence number (dropped)."""
        return int(self._u.late)

    @property
    def malformed(self) -> int:
        """Datagrams that were not UDPTL (dropped)."""
        return int(self._u.malformed)

    @property
    def last(self) -> bytes | None:
        """The last datagram framed (None before the first)."""
        u = self._u
        return self._ffi.buffer(u.last, u.last_len)[:] if u.last_len else None

    def frame(self, seq: int, ifp: bytes | bytearray) -> bytes:
        """Frame one IFP now, outside a tick (as ``UdptlSender.frame``: it enters the history
        and becomes :attr:`last`); one C call."""
        ffi = self._ffi
        out = self._scratch
        if out is None:
            out = self._scratch = ffi.new("lf_t38out_t *")
            weakref.finalize(self, load().lib.lf_t38out_release, out)
        data = bytes(ifp)
        load().lib.lf_udptl_frame_one(self._u, out, seq, data, len(data))
        self._check()
        return bytes(ffi.buffer(out.data, out.bytes))

    def _check(self) -> None:
        error, self._u.error = self._u.error, 0
        if error:
            what = "out of memory" if error & 2 else "an IFP over 16 KB"
            raise EngineError(f"a UDPTL datagram could not be framed: {what}")
