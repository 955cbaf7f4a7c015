"""Many sessions' 20 ms ticks in one crossing into C (the compiled helper, issue #19).

A real-time caller with hundreds of calls pays Python's cost per call per tick: a cffi call
per direction, a look at the events, the buffers. These classes keep the calls' C pointers in
one contiguous array and run every call's tick in one C function; Python sees only the calls
that had something happen (an event, an error, a line-time limit).

* :class:`PairBatch`: pairs of sessions back to back (virtual lines): audio on an identity
  line (``fax_tx`` both, ``fax_rx`` both) or T.38 (``send_timeout`` both, packets handed
  over), exactly what :func:`~lanfax.engine.run_loopback` and the virtual provider's
  ``Exchange`` do per tick.
* :class:`FrameBatch`: audio sessions that each have their own line (RTP): per session
  ``fax_rx(rx)`` then ``fax_tx(tx)`` on the buffers of ``frame_buffers()``, as
  :meth:`~lanfax.engine.AudioFaxSession.step_frame` does.
* :class:`T38Batch`: T.38 sessions that each have their own line (SIP's UDPTL): per session
  the IFP packets that arrived since the last tick, then ``send_timeout(step)``, as
  :meth:`~lanfax.engine.T38FaxSession.receive` and ``tick`` do; every packet the sessions
  emit comes back in one buffer.

The first two need the compiled helper (:func:`available`); without it the caller steps the
sessions one by one through their public methods (same behaviour, more CPU). A
:class:`T38Batch` runs either way (on the ABI fallback it steps its sessions one by one
itself). A batch holds raw pointers: call :meth:`PairBatch.set_pairs` /
:meth:`FrameBatch.set_sessions` / :meth:`T38Batch.set_sessions` again before the next tick
whenever a session in it is closed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np

from lanfax.engine import g711
from lanfax.engine._binding import load
from lanfax.engine._worker import PartWorker

# Calls on their own lines (SIP): T.38 and RTP batches, in their own module (re-exported).
from lanfax.engine.lines import (
    SPLIT_MIN_SESSIONS,
    RtpBatch,
    RtpLine,
    T38Batch,
    UdptlLine,
)
from lanfax.engine.session import AudioFaxSession, FaxSession, T38FaxSession
from lanfax.model.errors import EngineError

__all__ = [
    "FrameBatch",
    "PairBatch",
    "RtpBatch",
    "RtpLine",
    "T38Batch",
    "UdptlLine",
    "available",
    "collect",
    "frame_batchable",
    "pair_kind",
]


def available() -> bool:
    """True when the compiled helper is in use (batches can run)."""
    return bool(load().compiled)


def frame_batchable(session: object) -> bool:
    """True when ``session`` can go in a :class:`FrameBatch` now: an audio session on the
    compiled helper, open and not finished (it still needs ``frame_buffers(step)``)."""
    return (
        isinstance(session, AudioFaxSession)
        and session.compiled
        and not session.closed
        and not session.done
    )


def pair_kind(a: object, b: object) -> int | None:
    """0 for two audio sessions, 1 for two T.38 sessions, None if they cannot be batched
    (another kind of end, a session of the ABI binding, a closed or finished session)."""
    if not isinstance(a, FaxSession) or not isinstance(b, FaxSession):
        return None
    if not (a._compiled and b._compiled) or a.closed or b.closed or a.done or b.done:
        return None
    if isinstance(a, AudioFaxSession) and isinstance(b, AudioFaxSession):
        return 0
    if isinstance(a, T38FaxSession) and isinstance(b, T38FaxSession):
        return 1
    return None


#: Pairs below which a tick stays on one thread (handing over costs more than it saves).
SPLIT_MIN_PAIRS = 64
#: Threads a batch uses when not told (None: two on a machine with two cores or more).
DEFAULT_THREADS: int | None = None


class PairBatch:
    """Pairs of sessions ticked together; each pair has a line-time count and a limit.

    With ``threads=2`` (the default on a machine with two cores or more) a tick of
    :data:`SPLIT_MIN_PAIRS` pairs or more runs in two halves at once: the caller's thread
    and a worker thread, each in one C call with the GIL released. Call :meth:`close` to
    stop the worker.
    """

    def __init__(self, step: int = 160, threads: int | None = None) -> None:
        sp = load()
        if not sp.compiled:
            raise EngineError("session batches need the engine's compiled helper")
        self._ffi, self._lib = sp.ffi, sp.lib
        self.step = step
        if threads is None:
            threads = DEFAULT_THREADS or min(2, os.cpu_count() or 1)
        self.threads = threads
        self._ba = self._ffi.new("int16_t[]", 2 * step)
        self._bb = self._ffi.new("int16_t[]", 2 * step)
        self._pairs: Any = self._ffi.new("lf_pair_t[]", 1)
        self._flagged: Any = self._ffi.new("int[]", 1)
        self._keep: list[tuple[FaxSession, FaxSession]] = []
        self._n = 0
        self._worker: PartWorker | None = None
        self._tables: dict[str, Any] = {}

    def close(self) -> None:
        """Stop the worker thread (a later tick starts a new one if needed)."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.submit(None)
            worker.join()

    def __len__(self) -> int:
        return self._n

    def set_pairs(
        self, pairs: Sequence[tuple[FaxSession, FaxSession, int, int, str | None]]
    ) -> None:
        """Replace the pairs: ``(a, b, samples, limit, law)`` each; a pair is flagged once
        its line time (``samples``, advanced by every tick) reaches ``limit``. ``law``
        ("ulaw", "alaw") codes and decodes an audio pair's samples both ways as
        :func:`lanfax.engine.g711.roundtrip` does; None leaves them as they are."""
        ffi = self._ffi
        n = len(pairs)
        arr = ffi.new("lf_pair_t[]", max(n, 1))
        keep = []
        for i, (a, b, samples, limit, law) in enumerate(pairs):
            kind = pair_kind(a, b)
            if kind is None:
                raise EngineError("these two sessions cannot be ticked in a batch")
            if law is not None and kind != 0:
                raise EngineError("a G.711 line is for audio pairs only")
            p = arr[i]
            p.a = a._state
            p.b = b._state
            p.xa = a._cs
            p.xb = b._cs
            p.kind = kind
            p.samples = samples
            p.limit = limit
            p.line = ffi.NULL if law is None else self._line_table(law)
            keep.append((a, b))
        self._pairs = arr
        self._flagged = ffi.new("int[]", max(n, 1))
        self._keep = keep
        self._n = n

    def tick(self) -> list[int]:
        """One tick of every pair (one C call); the indices of the pairs that need a look:
        events or an error on either session (call its ``_after`` through the public
        methods, e.g. :func:`collect`), or the limit reached."""
        n = self._n
        if not n:
            return []
        step, ba, bb, flagged = self.step, self._ba, self._bb, self._flagged
        if self.threads < 2 or n < SPLIT_MIN_PAIRS:
            k = self._lib.lf_tick_pairs(self._pairs, n, step, ba, bb, flagged)
            return list(flagged[0:k]) if k else []
        worker = self._worker
        if worker is None:
            worker = self._worker = PartWorker("lanfax-engine-batch")
            worker.start()
        half = n // 2
        # The second half on the worker, with its own scratch buffers and flag list.
        worker.submit(
            partial(
                self._lib.lf_tick_pairs,
                self._pairs + half,
                n - half,
                step,
                ba + step,
                bb + step,
                flagged + half,
            )
        )
        k = self._lib.lf_tick_pairs(self._pairs, half, step, ba, bb, flagged)
        out = list(flagged[0:k]) if k else []
        k2 = worker.wait()
        if k2:
            out += [half + i for i in flagged[half : half + k2]]
        return out

    def _line_table(self, law: str) -> Any:
        table = self._tables.get(law)
        if table is None:
            encoder, decoder = g711.tables(law)
            # roundtrip[u] = decode(encode(sample whose 16 bits read as uint16 are u))
            roundtrip = np.ascontiguousarray(decoder[encoder], dtype=np.int16)
            table = self._ffi.new("int16_t[]", 65536)
            self._ffi.memmove(table, roundtrip.tobytes(), 65536 * 2)
            self._tables[law] = table
        return table

    def samples(self, i: int) -> int:
        return int(self._pairs[i].samples)

    def set_limit(self, i: int, limit: int) -> None:
        self._pairs[i].limit = limit

    def packets(self, i: int) -> tuple[int, int]:
        """Packets handed over so far in each direction (T.38 pairs)."""
        p = self._pairs[i]
        return int(p.packets_ab), int(p.packets_ba)


def collect(session: FaxSession) -> None:
    """Turn what a batched tick recorded for ``session`` into its events (raises the
    session's EngineError if one of its callbacks failed)."""
    cs = session._cs
    if cs.n_ev or cs.error:
        session._after()


class FrameBatch:
    """Audio sessions with their own lines, one 20 ms frame each per :meth:`tick`.

    With ``threads=2`` a tick of :data:`~lanfax.engine.lines.SPLIT_MIN_SESSIONS` sessions
    or more runs in two halves at once (the caller's thread and a worker, each one C call
    with the GIL released): the same frames, in about half the wall time when a second core
    is free (e.g. while hundreds of receivers write their pages at once). Call
    :meth:`close` to stop the worker.
    """

    def __init__(self, step: int = 160, threads: int = 1) -> None:
        sp = load()
        if not sp.compiled:
            raise EngineError("session batches need the engine's compiled helper")
        if threads not in (1, 2):
            raise EngineError(f"a batch runs on 1 or 2 threads, not {threads}")
        self._ffi, self._lib = sp.ffi, sp.lib
        self.step = step
        self.threads = threads
        self._worker: PartWorker | None = None
        self._sessions: list[AudioFaxSession] = []
        self._arrays: tuple[Any, ...] = ()

    def close(self) -> None:
        """Stop the worker thread (a later tick starts a new one if needed)."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.submit(None)
            worker.join()

    def __len__(self) -> int:
        return len(self._sessions)

    def set_sessions(self, sessions: Sequence[AudioFaxSession]) -> None:
        """Replace the sessions; each needs ``frame_buffers(step)`` first (their ``rx`` is
        read and ``tx`` written by every tick, as with ``step_frame``)."""
        ffi = self._ffi
        n = len(sessions)
        states = ffi.new("fax_state_t *[]", max(n, 1))
        records = ffi.new("lf_sess_t *[]", max(n, 1))
        rx = ffi.new("int16_t *[]", max(n, 1))
        tx = ffi.new("int16_t *[]", max(n, 1))
        for i, s in enumerate(sessions):
            frame = s._frame
            if frame is None or frame[4] != self.step:
                raise EngineError(f"session {i} needs frame_buffers({self.step}) first")
            if not s._compiled or s.closed:
                raise EngineError(f"session {i} cannot be ticked in a batch")
            states[i] = s._state
            records[i] = s._cs
            rx[i] = frame[2]
            tx[i] = frame[3]
        self._sessions = list(sessions)
        self._arrays = (states, records, rx, tx, ffi.new("int[]", max(n, 1)))

    def tick(self) -> list[AudioFaxSession]:
        """One frame of every session (one C call); returns the sessions with events, whose
        events are already collected (``session.events()``, ``session.done``)."""
        n = len(self._sessions)
        if not n:
            return []
        states, records, rx, tx, flagged = self._arrays
        lib, step = self._lib, self.step
        if self.threads < 2 or n < SPLIT_MIN_SESSIONS:
            k = lib.lf_step_frames(states, records, rx, tx, n, step, flagged)
            found = list(flagged[0:k]) if k else []
        else:
            worker = self._worker
            if worker is None:
                worker = self._worker = PartWorker()
                worker.start()
            half = n // 2
            worker.submit(
                lambda: int(
                    lib.lf_step_frames(
                        states + half,
                        records + half,
                        rx + half,
                        tx + half,
                        n - half,
                        step,
                        flagged + half,
                    )
                )
            )
            try:
                k = lib.lf_step_frames(states, records, rx, tx, half, step, flagged)
            finally:
                k2 = worker.wait()
            found = list(flagged[0:k]) if k else []
            found += [half + i for i in flagged[half : half + k2]]
        out = []
        for i in found:
            s = self._sessions[i]
            collect(s)
            out.append(s)
        return out
