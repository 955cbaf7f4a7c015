"""Drafts: documents printed to the fax printer with no fax number (issue #11).

A desktop printing to lanfax as to an ordinary IPP printer cannot ask for a number; the
document is kept as a draft of the user who printed it (:mod:`lanfax.service.ipp.faxout`),
listed by ``GET /api/v1/drafts`` and ``lanfax drafts``, and faxed later by
``lanfax draft send ID --to NUMBER`` through the ordinary submission path (the draft is then
gone: it became a job). A draft expires ``draft_days`` (a server setting, DraftDays) after it
was printed: an expired draft is never listed nor sent, and its document is removed at the
next access to the drafts (:meth:`Drafts.expire`).

Rights: a user sees and removes its own drafts; query_jobs / manage_jobs reach everyone's.
Sending one needs job_submit and the right for its priority, as any submission does.
"""

from __future__ import annotations

import logging
import shutil
from typing import TYPE_CHECKING, Any

from lanfax.model.codes import AccessRightEx, Priority
from lanfax.model.drafts import Draft
from lanfax.model.errors import Conflict, NotFound
from lanfax.model.jobs import Job
from lanfax.service.rights import Caller
from lanfax.service.submit import parse_submission

if TYPE_CHECKING:
    from lanfax.service.core import FaxService
    from lanfax.store.api import IppStore

log = logging.getLogger("lanfax.ipp")

#: The refined right a submission at each priority needs (as for POST /jobs).
_SUBMIT_RIGHT = {
    Priority.LOW: AccessRightEx.SUBMIT_LOW,
    Priority.NORMAL: AccessRightEx.SUBMIT_NORMAL,
    Priority.HIGH: AccessRightEx.SUBMIT_HIGH,
}


def draft_wire(draft: Draft) -> dict[str, Any]:
    """The JSON shape of a draft (its spool path is the server's business)."""
    from lanfax.model.wire import to_wire

    out: dict[str, Any] = to_wire(draft)
    out.pop("document_path", None)
    return out


class Drafts:
    """The drafts of one fax service."""

    def __init__(self, service: FaxService) -> None:
        self.service = service
        #: Drafts being sent right now: a second send of the same draft is a Conflict.
        self._sending: set[int] = set()

    @property
    def db(self) -> IppStore:
        return self.service.ctx.store.ipp

    async def expire(self) -> int:
        """Remove every expired draft and its document; how many."""
        ctx = self.service.ctx
        expired = await ctx.run(self.db.expired_drafts, ctx.clock.now())
        for d in expired:
            await ctx.run(self._remove, d)
            log.info("draft %d of %s expired", d.draft_id, d.user_name)
        return len(expired)

    def _remove(self, draft: Draft) -> None:
        # Row first: a crash after it leaves an orphan file in spool/drafts, never a row
        # pointing at nothing.
        if self.db.delete_draft(draft.draft_id) and draft.document_path:
            self.service.spool.resolve(draft.document_path).unlink(missing_ok=True)

    async def list_for(self, caller: Caller, *, everyone: bool = False) -> list[Draft]:
        await self.expire()
        see_all = everyone and caller.holds(AccessRightEx.QUERY_JOBS)
        user = None if see_all else caller.user
        return await self.service.ctx.run(lambda: self.db.list_drafts(user, limit=1000))

    async def get(self, draft_id: int, caller: Caller, *, manage: bool = False) -> Draft:
        await self.expire()
        draft = await self.service.ctx.run(self.db.get_draft, draft_id)
        right = AccessRightEx.MANAGE_JOBS if manage else AccessRightEx.QUERY_JOBS
        if draft is None or (draft.user_name != caller.user and not caller.holds(right)):
            # Another user's draft is not there, as far as this caller can tell.
            raise NotFound(f"there is no draft {draft_id}", hint="lanfax drafts lists your drafts")
        return draft

    async def delete(self, draft_id: int, caller: Caller) -> None:
        draft = await self.get(draft_id, caller, manage=True)
        await self.service.ctx.run(self._remove, draft)

    async def send(self, draft_id: int, caller: Caller, params: Any) -> tuple[str, list[Job]]:
        """Fax the draft with ``params`` (the ``params`` of ``POST /jobs``: recipients,
        cover_page, ...); the draft is removed once the jobs are committed."""
        draft = await self.get(draft_id, caller, manage=True)
        if draft_id in self._sending:
            raise Conflict(f"draft {draft_id} is being sent", hint="wait for the jobs to appear")
        self._sending.add(draft_id)
        try:
            return await self._send(draft, caller, params)
        finally:
            self._sending.discard(draft_id)

    async def _send(self, draft: Draft, caller: Caller, params: Any) -> tuple[str, list[Job]]:
        draft_id = draft.draft_id
        settings = self.service.settings
        data = dict(params) if isinstance(params, dict) else params
        if isinstance(data, dict):
            data.setdefault("document_name", draft.document_name)
        submission = parse_submission(
            data, dialing=settings.dialing, max_recipients=settings.max_recipients
        )
        for p in submission.recipients:
            caller.require(_SUBMIT_RIGHT[p.priority])
        ctx = self.service.ctx
        stage = await ctx.run(self.service.spool.new_stage)
        try:
            staged = stage / "000"
            source = await ctx.run(self.service.spool.resolve, draft.document_path)
            await ctx.run(shutil.copyfile, source, staged)
            result = await self.service.submit(
                submission,
                [staged],
                user_name=caller.user,
                stage_dir=stage,
                labels=[f"draft {draft_id} ({draft.document_name})"],
            )
        except BaseException:
            await ctx.run(shutil.rmtree, stage, True)
            raise
        await ctx.run(self._remove, draft)
        return result
