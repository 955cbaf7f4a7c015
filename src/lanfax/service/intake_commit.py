"""One committer for the submissions intake workers prepared (#19, wave 7).

A submission an intake worker prepared (:mod:`lanfax.service.intake`: its one document
written and checked there, vouched for by the main process) has nothing left to do but
checks on figures, a rename into ``spool/docs``, making it durable and the commit of its
jobs. Done one trip to the thread pool per submission, as :meth:`Submitter.submit
<lanfax.service.submit.Submitter.submit>` does for any other, each of those trips cost the
main process more than its work: the hand-off to a pool thread and back, the thread's wait in
the store's group commit and its wake-up, the event loop's future plumbing (~1/5 of the main
process's CPU per job, py-spy, 2026-12-05).

:class:`VouchedCommitter` takes them together instead: the submissions that arrive while a
trip is under way wait (on the loop) for the next one, and one trip takes all of them, in
order: each one's checks (the spool's room, its pages, its recipients' pages) and rename into
``spool/docs``, exactly as the fast path of :meth:`Submitter._take_ready
<lanfax.service.submit.Submitter._take_ready>` makes them, then **one** commit for all their
jobs, events and audit entries (before it, all their documents made durable at once: one
``syncfs`` of the spool's filesystem, :meth:`lanfax.service.spool.Spool.sync_documents`, #19
wave 8; the store's group commit takes them together, :meth:`lanfax.store.api.Store.
add_jobs_and_events_many`), then the new jobs handed to the service (remember, publish,
wake). Each submission still answers only once the commit holding its jobs is durable.

Failures stay each submission's own: one whose checks fail gets its error (the same error,
named by its file's label) and its staged file is removed; the others go on. In the commit,
each is in its own savepoint when one fails (the store's group commit retries them one
each), so a failure that was one submission's fails only that one, and its document is
removed. A request cancelled before its trip (the service stopping) is left out and its
staged file removed; once in a trip, it is committed as a cancelled one always was (its jobs
durable, its answer lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lanfax.documents.types import ConversionResult
from lanfax.model.errors import DocumentError
from lanfax.model.events import NewEvent
from lanfax.model.jobs import Job
from lanfax.service import uploads
from lanfax.service.context import Committed
from lanfax.store.api import AuditEntry

if TYPE_CHECKING:
    from lanfax.service.submission import Submission
    from lanfax.service.submit import Submitter


# One trip to the pool under way at a time (the submissions that arrive meanwhile wait for the
# next). Two at once (#19 wave 7, measured): half the wait for a trip, but longer trips and
# smaller groups (1.3 jobs per commit instead of 1.7-2.3): 421-428 against 453-508 jobs/s
# from 8 client threads in the same minutes.


@dataclass
class Vouched:
    """One prepared submission waiting for a trip."""

    submission: Submission
    staged: Path
    user_name: str
    labels: Sequence[str]
    audit: Sequence[AuditEntry]
    broadcast_id: str
    done: asyncio.Future[list[Job]]
    #: Set in the trip: what was made of it (an error, or its jobs and its document).
    error: BaseException | None = None
    jobs: list[Job] = field(default_factory=list)
    events: list[NewEvent] = field(default_factory=list)
    document: ConversionResult | None = None
    #: Seconds its checks and rename took (the conversion histogram's figure, #18).
    took: float = 0.0
    committed: Committed | None = None
    #: Its hop stamps, when it carries some (appended to: committer, trip start, trip end).
    trace: list[float] | None = None


class VouchedCommitter:
    """Takes vouched submissions in trips of all that are waiting (see the module)."""

    def __init__(self, submitter: Submitter) -> None:
        self._submitter = submitter
        self._waiting: list[Vouched] = []
        #: The task making trips while submissions wait (None: none waits).
        self._tripper: asyncio.Task[None] | None = None
        #: Trips made, and the submissions they took (together: how many share a commit).
        self.trips = self.taken = 0

    async def submit(
        self,
        submission: Submission,
        staged: Path,
        *,
        user_name: str,
        labels: Sequence[str],
        audit: Sequence[AuditEntry],
        broadcast_id: str,
    ) -> list[Job]:
        """The jobs of ``submission`` (its document ``staged``, vouched), once committed."""
        done: asyncio.Future[list[Job]] = asyncio.get_running_loop().create_future()
        item = Vouched(submission, staged, user_name, labels, audit, broadcast_id, done)
        item.trace = self._submitter._traces.pop(staged, None)
        if item.trace is not None:
            item.trace.append(time.monotonic())
        self._waiting.append(item)
        if self._tripper is None:
            self._tripper = asyncio.ensure_future(self._trips())
        return await done

    async def _trips(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    await self._one_trip(batch)
                except BaseException as exc:  # the trip itself failed (the pool is gone)
                    for item in batch:
                        if not item.done.done():
                            item.done.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
        finally:
            # Forgotten here, not in a done callback: that runs a step later, and a
            # submission made in between (its caller answered by this trip) would wait for
            # a task that makes no more trips. No await from here to the end.
            self._tripper = None
            if self._waiting:  # cancelled with some waiting: must not hang
                for item in self._waiting:
                    item.done.cancel()
                self._waiting = []

    async def _one_trip(self, batch: list[Vouched]) -> None:
        submitter = self._submitter
        ctx = submitter.ctx
        left = [item for item in batch if item.done.cancelled()]
        taken = [item for item in batch if not item.done.cancelled()]
        self.trips += 1
        self.taken += len(taken)
        await ctx.run(_trip, submitter, taken, [item.staged for item in left])
        for item in taken:
            if item.committed is not None:  # remembered, published, the dispatcher woken
                try:
                    await ctx.jobs_committed(item.committed)
                except Exception as exc:  # committed: told to its caller alone, as before
                    item.error = exc
        on_conversion = submitter.on_conversion
        for item in taken:
            if item.error is None and on_conversion is not None:
                on_conversion(item.took)
            if item.done.done():  # cancelled meanwhile: its jobs are committed all the same
                continue
            if item.error is not None:
                item.done.set_exception(item.error)
            else:
                item.done.set_result(item.jobs)


def _trip(submitter: Submitter, batch: list[Vouched], left: list[Path]) -> None:
    """Blocking, in one pool thread: every submission's checks and rename, then one commit."""
    began = time.monotonic()
    try:
        _checks_and_commit(submitter, batch, left)
    finally:
        ended = time.monotonic()
        for item in batch:
            if item.trace is not None:
                item.trace += (began, ended)


def _checks_and_commit(submitter: Submitter, batch: list[Vouched], left: list[Path]) -> None:
    for staged in left:  # cancelled before their trip: nothing refers to them
        submitter.unvouch(staged)
        uploads.discard_stage(staged)
    ready = [item for item in batch if _place(submitter, item)]
    if not ready:
        return
    ctx = submitter.ctx
    # Given to the store together: one group commit, each submission in its own savepoint
    # when one fails (the store's group commit). Before it, every document of the group is
    # made durable at once (#19 wave 8: the workers wrote them without an fsync; one syncfs
    # of the spool's filesystem covers their data and their renames into spool/docs).
    renamed = [item.document.path for item in ready if item.document is not None]
    done = ctx.commit_jobs_many(
        [(item.jobs, item.events, item.audit) for item in ready],
        sync=functools.partial(ctx.spool.sync_documents, renamed),
    )
    for item, result in zip(ready, done, strict=True):
        if isinstance(result, Exception):
            _undo(item, result)
        else:
            item.committed = result
            item.jobs = list(result[0])


def _place(submitter: Submitter, item: Vouched) -> bool:
    """``item``'s checks and its document's rename into ``spool/docs``, as
    :meth:`Submitter._take_ready`'s fast path and :meth:`Submitter.submit`'s ``then`` make
    them for one vouched submission; its jobs made. False (``item.error`` set, its files
    removed) when it cannot be taken."""
    from lanfax.service.submit import check_pages, relabel  # (submit imports this module)

    clock = submitter.ctx.clock
    began = clock.monotonic()
    spool = submitter.ctx.spool
    final = spool.doc_path(item.broadcast_id)
    moved = False
    try:
        try:
            submitter._check_room_now([item.staged])
            vouched = submitter._vouched.pop(item.staged)
            check_pages(vouched.pages, submitter.limits)
            os.replace(item.staged, final)  # durable with the group's sync before its commit
            moved = True
            document = dataclasses.replace(vouched, path=final)
            submitter._check_recipient_pages(item.submission, document.pages)
        except DocumentError as exc:
            raise relabel(exc, [item.staged], item.labels) from None
        item.jobs, item.events = submitter._jobs_for(
            item.submission,
            item.broadcast_id,
            item.user_name,
            submitter.ctx.clock.now(),
            document,
            [document] * len(item.submission.recipients),
            [{} for _ in item.submission.recipients],
        )
    except Exception as exc:
        if moved:
            with contextlib.suppress(OSError):
                final.unlink(missing_ok=True)
        _undo(item, exc)
        return False
    item.document = document
    item.took = clock.monotonic() - began
    return True


def _undo(item: Vouched, exc: BaseException) -> None:
    """``item`` failed: its error kept for its caller; its document (moved or staged) gone."""
    item.error = exc
    item.committed = None
    if item.document is not None:
        with contextlib.suppress(OSError):
            item.document.path.unlink(missing_ok=True)
    uploads.discard_stage(item.staged)
