"""The second thread of a batch's tick (issue #19), shared by every batch in the engine.

A batch of ``threads=2`` runs the first half of its tick on the caller's thread and hands the
second half to a :class:`PartWorker`: each half is one C call that releases the GIL, so the two
run on two cores at once. :class:`~lanfax.engine.batch.PairBatch`,
:class:`~lanfax.engine.batch.FrameBatch`, :class:`~lanfax.engine.lines.T38Batch` and
:class:`~lanfax.engine.lines.RtpBatch` all use this one class.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from lanfax.engine.realtime import follow
from lanfax.model.errors import EngineError

__all__ = ["PartWorker"]


class PartWorker(threading.Thread):
    """A thread that runs one part of a tick (its C call releases the GIL, so the two parts
    run on two cores at once).

    ``submit(job)`` hands it a callable returning the part's count; ``wait()`` returns that
    count (or raises :class:`EngineError` if the job raised); ``submit(None)`` ends the thread.
    One job at a time: ``submit`` again only after ``wait``.

    Its part is inside its submitter's tick: before each job it takes the process's
    real-time policy of the moment (:func:`lanfax.engine.realtime.follow`; #19: a part
    waiting for a core while the media thread runs under ``SCHED_FIFO`` made the tick late).
    """

    def __init__(self, name: str = "lanfax-engine-lines") -> None:
        super().__init__(name=name, daemon=True)
        self._go = threading.Event()
        self._done = threading.Event()
        self._job: Callable[[], int] | None = None
        self._result = 0
        self._error: BaseException | None = None
        #: The real-time generation this thread's policy follows.
        self._realtime = 0

    def submit(self, job: Callable[[], int] | None) -> None:
        self._job = job
        self._error = None
        self._done.clear()
        self._go.set()

    def wait(self) -> int:
        self._done.wait()
        if self._error is not None:
            raise EngineError(f"the engine's batch thread failed: {self._error!r}")
        return self._result

    def run(self) -> None:
        while True:
            self._go.wait()
            self._go.clear()
            job = self._job
            if job is None:
                self._done.set()
                return
            self._realtime = follow(self._realtime)
            try:
                self._result = job()
            except BaseException as exc:  # pragma: no cover - a C call that returns
                self._error = exc
            # The job holds the batch: let the batch go when its owner does.
            self._job = job = None
            self._done.set()
