"""What the line batches of :mod:`lanfax.engine.lines` share (issue #19): a tick's output
read with one crossing (:class:`_Output`, the helper's ``lf_t38out_t``), the queued input lent
to C for one call (:class:`_Input`, :func:`_queue_all`), the split of a tick over two threads
(:class:`_Parts`, :data:`SPLIT_MIN_SESSIONS`), the collection of events after a compiled tick
(:func:`_collected`) and the checks and columns both batches use.
:class:`~lanfax.engine.lines_t38.T38Batch` and :class:`~lanfax.engine.lines_rtp.RtpBatch` are
built on it.
"""

from __future__ import annotations

import weakref
from array import array
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from lanfax.engine._worker import PartWorker as _Worker
from lanfax.engine.session import AudioFaxSession, FaxSession, T38FaxSession
from lanfax.model.errors import EngineError

Int32Array = npt.NDArray[np.int32]
S = TypeVar("S", bound=FaxSession)

#: ints per output record of a tick: session index, sequence number, length.
_RECORD = 3


class _Output:
    """What a compiled tick emitted (the helper's ``lf_t38out_t``), read with one crossing:
    the records (index, seq, length) and the bytes back to back."""

    def __init__(self, ffi: Any, lib: Any) -> None:
        self._ffi = ffi
        self.c = ffi.new("lf_t38out_t *")
        self._finalizer = weakref.finalize(self, lib.lf_t38out_release, self.c)
        self.rec: memoryview = memoryview(b"").cast("i")
        self.data = b""

    def empty(self) -> None:
        """What a tick of no session emitted: nothing."""
        self.c.n = self.c.bytes = 0
        self.read()

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


def _collected(
    sessions: Sequence[S],
    found: Iterable[int],
    failures: list[tuple[S, EngineError]],
    collect: Callable[[int, S], None],
) -> list[S]:
    """After a compiled tick: ``collect(i, session)`` for each batch index in ``found``; the
    sessions that got new events from it (not only, say, a DCS seen, which raises none). A
    session whose collection raised is in ``failures`` (and not returned); the others go on."""
    result: list[S] = []
    for i in found:
        s = sessions[i]
        before = len(s._events)
        try:
            collect(i, s)
        except EngineError as exc:
            failures.append((s, exc))
        else:
            if len(s._events) > before:
                result.append(s)
    return result


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
