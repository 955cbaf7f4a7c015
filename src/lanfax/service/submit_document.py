"""A submission's document (#19 split from :mod:`lanfax.service.submit`): one TIFF Class F
made durable in ``spool/docs``, and the process pool that converts what is not one already.

:class:`DocumentMaker` is the document half of :class:`~lanfax.service.submit.Submitter` (its
base class): :meth:`~DocumentMaker.make_document` takes a fax-ready TIFF as it is in one trip
to the thread pool (:meth:`~DocumentMaker._take_ready`: one scan, the rename, then the
caller's commit) and converts anything else in a worker process (:meth:`~DocumentMaker._in_pool`:
a wall clock, a dead worker's pool rebuilt once). :func:`start_forkserver_quietly` starts the
workers' fork server out of reach of Ctrl-C and SIGTERM. The jobs (one per recipient, cover
pages, the commit) stay in :mod:`lanfax.service.submit`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import multiprocessing
import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, TypeVar

from lanfax.documents.types import MAX_LENGTH, ConversionLimits, ConversionResult
from lanfax.model.errors import DocumentError, InvalidInput
from lanfax.service import docs, faxcheck, uploads
from lanfax.service.context import ServiceContext
from lanfax.service.spool import fsync_dir, fsync_file

T = TypeVar("T")
log = logging.getLogger("lanfax.init")


def _finish_file(path: Path) -> None:
    fsync_file(path)
    fsync_dir(path.parent)


def start_forkserver_quietly() -> None:
    """Start multiprocessing's fork server ignoring SIGINT and SIGTERM, so that neither Ctrl-C
    nor systemd's stop (SIGTERM to the whole group) kills it or a worker: the service ends
    them itself when it stops. The fork server reports each worker's exit to the pool, so its
    death alone breaks the pool; and a worker is born with its dispositions (an ignored signal
    survives exec and fork; a blocked mask would not survive the spawn), so no signal can hit
    it before its initializer (``docs.worker_init``) runs. The service's own SIGINT and
    SIGTERM are blocked for that moment, so one that arrives meanwhile stays pending and
    reaches the restored handler. Only the main thread may change handlers; elsewhere (a
    service embedded in a thread) the workers' initializer does what it can."""
    import signal
    import threading
    from multiprocessing import forkserver

    if threading.current_thread() is not threading.main_thread():
        forkserver.ensure_running()
        return
    signals = (signal.SIGINT, signal.SIGTERM)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, set(signals))
    handlers = {sig: signal.signal(sig, signal.SIG_IGN) for sig in signals}
    # The fork server dies with the service (lanfax.service.forkguard): started from the main
    # thread, so its death signal follows the process, not a thread that may end earlier.
    preload = list(getattr(forkserver._forkserver, "_preload_modules", []))
    if "lanfax.service.forkguard" not in preload:
        forkserver.set_forkserver_preload([*preload, "lanfax.service.forkguard"])
    os.environ["LANFAX_FORKSERVER_GUARD"] = "1"
    try:
        forkserver.ensure_running()
    finally:
        os.environ.pop("LANFAX_FORKSERVER_GUARD", None)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


class DocumentMaker:
    """The document half of :class:`~lanfax.service.submit.Submitter`: the conversion pool and
    :meth:`make_document`. Its state is set by the submitter's ``__init__``."""

    ctx: ServiceContext
    limits: ConversionLimits
    #: RLIMIT_AS of each worker (and of the converters it starts); 0: none.
    memory_bytes: int
    on_conversion: Callable[[float], None] | None
    _max_workers: int
    _pool: ProcessPoolExecutor | None
    _vouched: dict[Path, ConversionResult]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _converter(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # forkserver: forking a process that runs threads (uvicorn, the store) is unsafe.
            mp = multiprocessing.get_context("forkserver")
            start_forkserver_quietly()  # issue #20: workers never see Ctrl-C
            self._pool = ProcessPoolExecutor(
                self._max_workers,
                mp_context=mp,
                # Quiet signals (#20: see docs.quiet_signals) and RLIMIT_AS (#14).
                initializer=docs.worker_init,
                initargs=(self.memory_bytes,),
            )
        return self._pool

    @property
    def wall_clock(self) -> float:
        """Real seconds one job in the pool may take before its worker is killed: the
        conversion's own limit (which the converter checks) and a margin for a worker that
        stopped checking (stuck in C code, stopped, swapping)."""
        return self.limits.timeout * 1.1 + 5.0

    def _discard_pool(self, pool: ProcessPoolExecutor) -> None:
        """Kill ``pool``'s workers and forget it; the next conversion builds a new one."""
        if self._pool is pool:
            self._pool = None
        # The executor has no public way to stop a running call: its processes are killed.
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            with contextlib.suppress(Exception):
                proc.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    async def _in_pool(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a conversion worker, bounded by :attr:`wall_clock`.

        A worker that dies (killed by the kernel for memory, crashed) breaks the whole
        pool: it is rebuilt, and the call is tried once more on the new pool, since the
        worker may have died of another submission's document. A second death, or a call
        over the wall clock, fails this call only (DocumentError); later conversions run on
        a fresh pool."""
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            pool = self._converter()
            try:
                return await asyncio.wait_for(
                    loop.run_in_executor(pool, functools.partial(fn, *args)), self.wall_clock
                )
            except TimeoutError:
                self._discard_pool(pool)
                log.warning("a conversion ran past %.0f s: its worker was killed", self.wall_clock)
                raise DocumentError(
                    f"the conversion took longer than {self.wall_clock:.0f} s and was stopped",
                    hint="send a simpler document (fewer pages, no huge images), or a PDF",
                ) from None
            except BrokenProcessPool:
                self._discard_pool(pool)
                log.warning("a conversion worker died (attempt %d); the pool is rebuilt", attempt)
        raise DocumentError(
            "the conversion process died while converting this document (out of memory?)",
            hint="send a simpler document (fewer pages, smaller images), or a PDF",
        )

    async def make_document(
        self,
        staged: Sequence[Path],
        broadcast_id: str,
        resolution: str,
        labels: Sequence[str] = (),
        out: Path | None = None,
        *,
        before: Callable[[], None] | None = None,
        after: Callable[[], None] | None = None,
        then: Callable[[ConversionResult], None] | None = None,
    ) -> ConversionResult:
        """One TIFF Class F for the broadcast at ``spool/docs/<broadcast>.tif`` (or ``out``),
        durable.

        ``before`` (a blocking check that may raise) runs first, always; ``after`` (blocking
        clean-up) runs only when the file was taken as it is, in the same trip to the thread
        pool as that fast path (#19: each trip costs more than the work of a small fax), and
        so does ``then`` (blocking, given the document in place: a submission commits its
        jobs there), after ``after``. If ``then`` raises, the document is removed again.
        ``then`` must make the document's rename into ``spool/docs`` durable before it
        relies on it (a submission's commit does, ``Spool.sync_docs``: once per group).

        A DocumentError names the input by ``labels`` (e.g. "file part 2 (scan.pdf)"), never
        by its staged path."""
        clock = self.ctx.clock
        began = clock.monotonic()
        spent = 0.0  # in ``then`` (a commit): not the conversion's time

        def timed_then(result: ConversionResult) -> None:
            nonlocal spent
            start = clock.monotonic()
            try:
                if then is not None:
                    then(result)
            finally:
                spent = clock.monotonic() - start

        try:
            result = await self._make_document(
                staged, broadcast_id, resolution, out, before, after, then and timed_then
            )
            if self.on_conversion is not None:  # /metrics (#18)
                self.on_conversion(clock.monotonic() - began - spent)
        except DocumentError as exc:
            raise _relabel(exc, staged, labels) from None
        except BaseException:
            # A conversion cut short (a full disk) may leave part of the file: no job has it.
            with contextlib.suppress(OSError):
                (out or self.ctx.spool.doc_path(broadcast_id)).unlink(missing_ok=True)
            raise
        if result.warnings:
            warnings = tuple(_relabel_text(w, staged, labels) for w in result.warnings)
            result = dataclasses.replace(result, warnings=warnings)
        return result

    async def _make_document(
        self,
        staged: Sequence[Path],
        broadcast_id: str,
        resolution: str,
        out: Path | None,
        before: Callable[[], None] | None = None,
        after: Callable[[], None] | None = None,
        then: Callable[[ConversionResult], None] | None = None,
    ) -> ConversionResult:
        ctx = self.ctx
        final = out or ctx.spool.doc_path(broadcast_id)
        if len(staged) == 1:
            # One trip to the thread pool for the whole fast path (tags, every page, commit):
            # each trip costs more than the checks on a small fax (#19).
            ready = await ctx.run(self._take_ready, staged[0], final, before, after, then)
            if ready is not None:
                return ready
        elif before is not None:
            await ctx.run(before)
        if not staged:
            raise InvalidInput("no document was sent", hint="add at least one file part")
        result = await self._in_pool(_convert, list(staged), final, resolution, self.limits)
        await ctx.run(_finish_file, final)
        return result

    def _take_ready(
        self,
        staged: Path,
        final: Path,
        before: Callable[[], None] | None = None,
        after: Callable[[], None] | None = None,
        then: Callable[[ConversionResult], None] | None = None,
    ) -> ConversionResult | None:
        """A TIFF Class F moved to ``final`` as it is (durably), or None: convert it.
        ``before`` runs first in any case, ``after`` and then ``then`` once the file is in
        place. With ``then`` and ``final`` in ``spool/docs``, the rename is made durable by
        ``then`` (a submission's group commit: ``Spool.sync_docs`` before its commit)."""
        if before is not None:
            before()
        # The tags and every page (its length and its coded data, #14) in one pass (#19).
        # Anything else (not a TIFF, not Class F, a first page longer than any paper) is
        # converted: the converter checks every page's pixels against its limits.
        vouched = self._vouched.pop(staged, None)  # an intake worker's scan (#19)
        if vouched is not None:
            found = faxcheck.Scan(vouched)
        else:
            found = faxcheck.scan(staged, MAX_LENGTH, self.limits.max_pages)
        ready, bad = found.ready, found.bad
        if ready is None:
            return None
        _check_pages(ready.pages, self.limits)
        if bad is not None and "rows" in bad[1]:
            return None  # too long: the converter fits it to paper, as for page 1
        if bad is not None:
            raise DocumentError(
                f"page {bad[0]} of the TIFF: {bad[1]}",
                hint="send the original document (PDF, image), or a TIFF that"
                " tiffinfo -D reads without errors",
            )
        # The staged file may not be durable yet (a submission's upload is not fsynced when
        # staged, #19; nor is an intake worker's, #19 wave 8): it is, before the rename that
        # makes it the job's document.
        uploads.make_durable(staged)
        spool = self.ctx.spool
        if then is not None and final.parent == spool.docs:
            # The rename is made durable by ``then``'s group commit, with one fsync of
            # spool/docs for every submission in the group (#19: Spool.sync_docs).
            os.replace(staged, final)
        else:
            spool.commit_file(staged, final)
        if after is not None:
            after()
        result = dataclasses.replace(ready, path=final)
        if then is not None:
            then(result)
        return result


def _relabel(exc: DocumentError, staged: Sequence[Path], labels: Sequence[str]) -> DocumentError:
    """The converter names an input by its path or file name; those are the spool's
    business. Name it as the user knows it instead."""
    return DocumentError(_relabel_text(exc.message, staged, labels), hint=exc.hint, **exc.detail)


def _relabel_text(message: str, staged: Sequence[Path], labels: Sequence[str]) -> str:
    """``message`` with the staged inputs' paths and names replaced by the user's labels."""
    names = [str(label) for label in labels] or [f"file {i + 1}" for i in range(len(staged))]
    for path, label in zip(staged, names, strict=False):
        message = message.replace(str(path), label)
    for path, label in zip(staged, names, strict=False):
        if message.startswith(path.name):
            message = label + message[len(path.name) :]
            break
    return re.sub(r"\S*/spool/tmp(?:-[^/\s]+)?/\S*", "(the upload)", message)


def _check_pages(pages: int, limits: ConversionLimits) -> None:
    if pages > limits.max_pages:
        raise DocumentError(
            f"the document has {pages} pages, more than the {limits.max_pages} allowed",
            hint="send it in parts, or raise server.max_pages",
        )


def _convert(
    inputs: list[Path], out: Path, resolution: str, limits: ConversionLimits
) -> ConversionResult:
    """Runs in a worker process."""
    return docs.convert(inputs, out, resolution=resolution, limits=limits)


#: For the intake's one committer (lanfax.service.intake_commit, #19 wave 7): the same checks.
check_pages, relabel = _check_pages, _relabel
