"""Calls on their own lines (SIP) in one crossing into C (the compiled helper, issue #19).

A SIP media thread steps hundreds of calls every 20 ms, each with its own socket and far end.
These batches run every call's tick, the wire format included, in one C call with the GIL
released once, and hand back what the calls send in one buffer:

* :class:`T38Batch`: T.38 sessions fed IFP packets (``receive``), or, in UDPTL mode with a
  :class:`UdptlLine` per call, the far end's raw UDPTL datagrams (``feed``): decoded,
  recovered from redundancy, answered, framed (``providers/sip/udptl.py``'s rules).
* :class:`RtpBatch`: audio sessions fed the far end's raw RTP datagrams, with an
  :class:`RtpLine` per call: the payload-type filter, the fixed-delay jitter buffer, G.711
  decoding, ``fax_rx``/``fax_tx``, G.711 coding and the RTP header (``providers/sip/rtp.py``
  and ``media.py``'s audio step): one RTP datagram per call per tick.

What a tick emitted is read with one crossing: :meth:`packets` (``(index, seq, bytes)``) or
:meth:`out_columns` (numpy columns for :meth:`lanfax.engine.dgram.Datagrams.send_columns`,
no Python per packet). A batch holds raw pointers: call ``set_sessions`` again before the
next tick whenever a session in it is closed (a tick that finds one raises EngineError
rather than touch its freed state).
"""

from __future__ import annotations

import weakref
from array import array
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from lanfax.engine import g711
from lanfax.engine._binding import load
from lanfax.engine._worker import PartWorker as _Worker
from lanfax.engine.session import AudioFaxSession, T38FaxSession
from lanfax.model.errors import EngineError

__all__ = ["RtpBatch", "RtpLine", "T38Batch", "UdptlLine"]

Int32Array = npt.NDArray[np.int32]


class _Output:
    """What a compiled tick emitted (the helper's ``lf_t38out_t``), read with one crossing:
    the records (index, seq, length) and the bytes back to back."""

    def __init__(self, ffi: Any, lib: Any) -> None:
        self._ffi = ffi
        self.c = ffi.new("lf_t38out_t *")
        self._finalizer = weakref.finalize(self, lib.lf_t38out_release, self.c)
        self.rec: memoryview = memoryview(b"").cast("i")
        self.data = b""

    def read(self) -> None:
        c, ffi = self.c, self._ffi
        if c.error:
            raise EngineError("a batch could not hold its packets: out of memory")
        m = c.n
        if m:
            self.rec = memoryview(ffi.buffer(c.rec, m * _RECORD * 4)[:]).cast("i")
            self.data = ffi.buffer(c.data, c.bytes)[:]
        else:
            self.rec = memoryview(b"").cast("i")
            self.data = b""

    def extend(self, other: _Output) -> None:
        """Append what another part of the tick emitted (read both first)."""
        if len(other.rec):
            self.rec = memoryview(self.rec.tobytes() + other.rec.tobytes()).cast("i")
            self.data += other.data

    def packets(self) -> list[tuple[int, int, bytes]]:
        rec, data = self.rec, self.data
        out: list[tuple[int, int, bytes]] = []
        at = 0
        for k in range(0, len(rec), _RECORD):
            length = rec[k + 2]
            out.append((rec[k], rec[k + 1], data[at : at + length]))
            at += length
        return out

    def columns(self) -> tuple[bytes, Int32Array, Int32Array, Int32Array, Int32Array]:
        table = np.frombuffer(self.rec, dtype=np.int32).reshape(-1, _RECORD)
        lengths = np.ascontiguousarray(table[:, 2])
        offsets = np.zeros(len(lengths), dtype=np.int32)
        if len(lengths) > 1:
            np.cumsum(lengths[:-1], out=offsets[1:])
        return (
            self.data,
            np.ascontiguousarray(table[:, 0]),
            np.ascontiguousarray(table[:, 1]),
            offsets,
            lengths,
        )


#: The most earlier IFPs a UDPTL datagram repeats (the helper's LF_MAX_RED).
_MAX_REDUNDANCY = 16
#: ints per output record of a tick: session index, sequence number, length.
_RECORD = 3


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
            output.c.n = output.c.bytes = 0
            output.read()
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
        result: list[T38FaxSession] = []
        for i in found:
            s = self._sessions[i]
            before = len(s._events)
            try:
                _collect_t38(s, rx_events[i], self.step)
                if self._lines is not None:
                    self._lines[i]._check()
            except EngineError as exc:
                self.failures.append((s, exc))
            else:
                if len(s._events) > before:  # not only a DCS seen (no event of its own)
                    result.append(s)
        return result


#: Sessions below which a tick stays on one thread even when the batch may use two (handing
#: a part over costs more than it saves).
SPLIT_MIN_SESSIONS = 64


class _Parts:
    """Runs a tick over a batch's sessions: one C call, or, with ``threads=2`` and at least
    :data:`SPLIT_MIN_SESSIONS` sessions, two C calls at once (the first half on the caller's
    thread, the second on a worker), each with its own output, joined in index order."""

    def __init__(self, ffi: Any, lib: Any, threads: int) -> None:
        if threads not in (1, 2):
            raise EngineError(f"a batch runs on 1 or 2 threads, not {threads}")
        self.threads = threads
        self._worker: _Worker | None = None
        self._second = _Output(ffi, lib) if threads == 2 else None

    def run(
        self, n: int, part: Callable[[int, int, _Output], int], output: _Output, flagged: Any
    ) -> list[int]:
        """``part(lo, hi, out)`` steps sessions lo..hi-1 into ``out`` and writes the batch
        indices of those with events from ``flagged[lo]`` on; returns all such indices."""
        second = self._second
        if second is None or n < SPLIT_MIN_SESSIONS:
            k = part(0, n, output)
            if k < 0:
                output.c.error |= 1
            output.read()
            return list(flagged[0:k]) if k > 0 else []
        worker = self._worker
        if worker is None:
            worker = self._worker = _Worker()
            worker.start()
        half = n // 2
        worker.submit(lambda: part(half, n, second))
        try:
            k = part(0, half, output)
        finally:
            k2 = worker.wait()
        for out, got in ((output, k), (second, k2)):
            if got < 0:
                out.c.error |= 1
        output.read()
        second.read()
        output.extend(second)
        found = list(flagged[0:k]) if k > 0 else []
        if k2 > 0:
            found += list(flagged[half : half + k2])
        return found

    def close(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.submit(None)
            worker.join()

    def stop(self) -> None:
        """Let the worker end, without waiting for it (a batch collected unclosed)."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.submit(None)


class _Input:
    """The packets queued for a tick, lent to C for the call (``with``), then emptied."""

    def __init__(self, ffi: Any, rec: array[int], data: bytearray) -> None:
        self._ffi, self._rec, self._data = ffi, rec, data
        self._held: list[Any] = []

    def __enter__(self) -> tuple[Any, int, Any]:
        ffi, n = self._ffi, len(self._rec) // _RECORD
        if not n:
            return ffi.NULL, 0, ffi.NULL
        p_rec = ffi.from_buffer("int[]", self._rec)
        self._held.append(p_rec)
        p_data = ffi.NULL
        if self._data:
            p_data = ffi.from_buffer("uint8_t[]", self._data)
            self._held.append(p_data)
        return p_rec, n, p_data

    def __exit__(self, *exc: object) -> None:
        for p in self._held:
            self._ffi.release(p)
        self._held.clear()
        self._data.clear()
        del self._rec[:]


def _check_open(sessions: Sequence[T38FaxSession | AudioFaxSession]) -> None:
    """A closed session's C state is freed: ticking it would touch freed memory."""
    for i, s in enumerate(sessions):
        if not s._finalizer.alive:
            raise EngineError(
                f"session {i} of this batch was closed", hint="call set_sessions again first"
            )


def _queue_all(
    in_data: bytearray, in_rec: array[int], n: int, data: Any, index: Any, lengths: Any
) -> None:
    """Append datagrams given as columns to a batch's input queue (numpy, no Python each)."""
    idx = np.ascontiguousarray(index, dtype=np.int32)
    lens = np.ascontiguousarray(lengths, dtype=np.int32)
    if idx.shape != lens.shape or idx.ndim != 1:
        raise ValueError("index and lengths must be two columns of one length")
    total = int(lens.sum())
    view = memoryview(data).cast("B")
    if (lens < 0).any() or total > view.nbytes:
        raise ValueError("the lengths run past the data")
    if not len(idx):
        return
    rec = np.zeros((len(idx), _RECORD), dtype=np.int32)
    rec[:, 0] = np.where((idx >= 0) & (idx < n), idx, -1)
    rec[:, 2] = lens
    in_data += view[:total]
    in_rec.frombytes(rec.tobytes())


def _columns(
    packets: list[tuple[int, int, bytes]],
) -> tuple[bytes, Int32Array, Int32Array, Int32Array, Int32Array]:
    lengths = np.array([len(p) for _, _, p in packets], dtype=np.int32)
    offsets = np.zeros(len(lengths), dtype=np.int32)
    if len(lengths) > 1:
        np.cumsum(lengths[:-1], out=offsets[1:])
    return (
        b"".join(p for _, _, p in packets),
        np.array([i for i, _, _ in packets], dtype=np.int32),
        np.array([q for _, q, _ in packets], dtype=np.int32),
        offsets,
        lengths,
    )


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
            output.c.n = output.c.bytes = 0
            output.read()
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
        result: list[AudioFaxSession] = []
        for i in found:
            s = self._sessions[i]
            before = len(s._events)
            try:
                s._after()
            except EngineError as exc:
                self.failures.append((s, exc))
            else:
                if len(s._events) > before:
                    result.append(s)
        return result

    def packets(self) -> list[tuple[int, int, bytes]]:
        """The RTP datagrams of the last tick: ``(session index, seq, datagram)`` each."""
        return self._output.packets()

    def out_columns(self) -> tuple[bytes, Int32Array, Int32Array, Int32Array, Int32Array]:
        """:meth:`packets` as columns ``(data, index, seq, offsets, lengths)``."""
        return self._output.columns()
