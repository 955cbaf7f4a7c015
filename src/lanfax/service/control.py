"""Job control: pause, resume, cancel, restart, delete (FaxSetJob / FaxAbort).

Each is one transaction carrying its :class:`~lanfax.model.transitions.Trigger`; the states it
is allowed from are the transitions table's (:func:`~lanfax.model.transitions.sources`), and
the store checks them against the committed job, so a race with the dispatcher ends in a
clear Conflict rather than a lost update. Cancel of a job on a call
marks it CANCELING and aborts the call through the provider; the send task then records it
CANCELED when the provider returns.
"""

from __future__ import annotations

from lanfax.model.codes import EventId, JobType, QueueStatus
from lanfax.model.errors import Conflict
from lanfax.model.events import NewEvent
from lanfax.model.jobs import Job
from lanfax.model.transitions import DELETABLE, JobPatch, Trigger, sources, target
from lanfax.service import covers
from lanfax.service.context import ServiceContext
from lanfax.service.dispatcher import Dispatcher
from lanfax.service.spool import Spool
from lanfax.store.api import JobChange, JobQuery
from lanfax.store.notify import ABORTS, tell_nodes  # #18

_PAUSABLE = sources(Trigger.PAUSE)
_CANCELABLE = sources(Trigger.CANCEL)
_RESTARTABLE = sources(Trigger.RESTART)


def _state(job: Job) -> str:
    return job.queue_status.name.lower()


def _change(job: Job, trigger: Trigger, patch: JobPatch, what: str) -> JobChange:
    new = target(trigger)  # each action leads to one state, wherever it starts
    assert new is not None, trigger
    detail = {"action": what, "queue_status": new.name.lower()}
    return JobChange(
        job.job_id,
        trigger,
        patch,
        events=(NewEvent(EventId.JOB_CHANGED, job.device_id or 0, job.job_id, detail),),
    )


class JobControl:
    def __init__(self, ctx: ServiceContext, dispatcher: Dispatcher, spool: Spool) -> None:
        self.ctx = ctx
        self.dispatcher = dispatcher
        self.spool = spool

    async def _apply(self, job: Job, change: JobChange, forbidden: str) -> Job:
        try:
            return await self.ctx.update_job(change)
        except Conflict:
            current = await self.ctx.get_job(job.job_id)
            state = _state(current) if current else "deleted"
            raise Conflict(
                f"job {job.job_id} is {state}: {forbidden}",
                hint="refresh the job and try again if it still applies",
                queue_status=state,
            ) from None

    def _require_send(self, job: Job, action: str) -> None:
        if job.job_type is not JobType.SEND:
            raise Conflict(
                f"job {job.job_id} is a {job.job_type.name.lower()} job; only send jobs can be "
                f"{action}",
                hint="received faxes can only be deleted",
            )

    async def pause(self, job: Job) -> Job:
        self._require_send(job, "paused")
        if job.queue_status is QueueStatus.PAUSED:
            return job
        if job.queue_status not in _PAUSABLE:
            raise Conflict(
                f"job {job.job_id} is {_state(job)} and cannot be paused",
                hint="only pending, retrying or waiting jobs can be paused",
                queue_status=_state(job),
            )
        extra = dict(job.extra, paused_from=job.queue_status.name.lower())
        return await self._apply(
            job, _change(job, Trigger.PAUSE, JobPatch(extra=extra), "pause"), "it cannot be paused"
        )

    async def resume(self, job: Job) -> Job:
        self._require_send(job, "resumed")
        if job.queue_status is not QueueStatus.PAUSED:
            raise Conflict(
                f"job {job.job_id} is {_state(job)}, not paused",
                hint="only a paused job can be resumed",
                queue_status=_state(job),
            )
        # A job paused while waiting for its retry goes back to waiting for it.
        back = (
            Trigger.RESUME_RETRY if job.extra.get("paused_from") == "retrying" else Trigger.RESUME
        )
        extra = {k: v for k, v in job.extra.items() if k != "paused_from"}
        return await self._apply(
            job, _change(job, back, JobPatch(extra=extra), "resume"), "it cannot be resumed"
        )

    async def cancel(self, job: Job) -> Job:
        """Cancel a queued job, or abort its call. A job that the dispatcher takes at the
        same moment is caught on the second pass, as a call in progress."""
        self._require_send(job, "canceled")
        for _ in range(3):
            try:
                return await self._cancel_once(job)
            except Conflict:
                current = await self.ctx.get_job(job.job_id)
                if current is None or current.queue_status is job.queue_status:
                    raise
                job = current
        return await self._cancel_once(job)

    async def _cancel_once(self, job: Job) -> Job:
        if job.queue_status in (QueueStatus.CANCELED, QueueStatus.CANCELING):
            return job
        if job.queue_status is QueueStatus.IN_PROGRESS:
            job = await self.ctx.update_job(
                JobChange(
                    job.job_id,
                    Trigger.ABORT,
                    events=(NewEvent(EventId.ABORTING, job.device_id or 0, job.job_id, {}),),
                )
            )
            # #18: a call another node holds is aborted by that node (told through the
            # database), which writes how it ended: this node keeps no copy to go stale.
            if not await self.dispatcher.abort(job.job_id) and await self.ctx.run(
                tell_nodes, self.ctx.store, ABORTS, str(job.job_id)
            ):
                self.ctx.unfinished.pop(job.job_id, None)
            return job
        if job.queue_status not in _CANCELABLE:
            raise Conflict(
                f"job {job.job_id} is {_state(job)} and cannot be canceled",
                hint="a finished job can be deleted instead",
                queue_status=_state(job),
            )
        return await self.ctx.update_job(
            _change(
                job,
                Trigger.CANCEL,
                JobPatch(
                    completed_at=self.ctx.clock.now(), status_text="canceled", next_attempt_at=None
                ),
                "cancel",
            )
        )

    async def restart(self, job: Job) -> Job:
        self._require_send(job, "restarted")
        if job.queue_status not in _RESTARTABLE:
            raise Conflict(
                f"job {job.job_id} is {_state(job)} and cannot be restarted",
                hint="only failed jobs and jobs whose retries are exceeded can be restarted",
                queue_status=_state(job),
            )
        return await self._apply(
            job,
            _change(
                job,
                Trigger.RESTART,
                JobPatch(
                    attempts=0,
                    next_attempt_at=None,
                    last_failure=None,
                    completed_at=None,
                    status_text="restarted",
                ),
                "restart",
            ),
            "it cannot be restarted",
        )

    async def delete(self, job: Job) -> None:
        """Remove a finished job (and its file when no other job needs it), or a received
        fax still waiting for its routing (an administrator gives up on its routes)."""
        if job.queue_status not in DELETABLE:
            raise Conflict(
                f"job {job.job_id} is {_state(job)}; only finished jobs can be deleted",
                hint="cancel it first",
                queue_status=_state(job),
            )
        ctx = self.ctx
        await ctx.delete_jobs(
            [job.job_id], [NewEvent(EventId.DELETED, job.device_id or 0, job.job_id, {})]
        )
        shared = job.broadcast_id and job.document_path == self.spool.relative(
            self.spool.doc_path(job.broadcast_id)
        )
        body = covers.body_path(job.extra)
        if job.job_type is not JobType.SEND or not shared:
            # Received, or a send job's own document (its cover page): no one else's.
            await ctx.run(self.spool.remove, job.document_path)
        if job.job_type is JobType.SEND and job.broadcast_id and (shared or body):
            # The broadcast's body goes with the last of its jobs.
            others = await ctx.run(
                ctx.store.list_jobs, JobQuery(limit=1, broadcast_id=job.broadcast_id)
            )
            if not others:
                await ctx.run(self.spool.remove, body or job.document_path)
