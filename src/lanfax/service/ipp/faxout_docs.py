"""What the FaxOut printer does with a printed document (split out of ``faxout.py``;
:class:`DocumentIntake` is a base of :class:`~lanfax.service.ipp.faxout.FaxOut` and shares
its state): the document staged durably (a raster stream decoded to TIFF), then faxed as one
broadcast through the same submission path as ``POST /api/v1/jobs``, or kept as a draft of its
owner when the job names no destination; the printed job's row follows. Nothing is kept when
a step fails.
"""

from __future__ import annotations

import logging
import shutil
import uuid as uuidlib
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from lanfax.model.drafts import IPP_ABORTED, IPP_CANCELED, IPP_FAXING, IPP_INCOMING, Draft, IppJob
from lanfax.model.errors import InvalidInput
from lanfax.service.ipp import intake
from lanfax.service.ipp import request as rq
from lanfax.service.ipp.codec import Message, Status
from lanfax.service.ipp.model import FaxRequest, IppError
from lanfax.service.rights import Caller
from lanfax.service.spool import write_durably
from lanfax.service.submit import Submission, parse_submission

if TYPE_CHECKING:
    from lanfax.service.core import FaxService
    from lanfax.store.api import IppStore

__all__ = ["DocumentIntake"]

log = logging.getLogger("lanfax.ipp")


class DocumentIntake:
    """A printed job's document: staged, faxed or kept as a draft; the job row saved. The
    state is the printer's, set in its ``__init__``."""

    service: FaxService

    @property
    def db(self) -> IppStore:
        return self.service.ctx.store.ipp

    def _submission(self, fax: FaxRequest, job_name: str) -> Submission:
        settings = self.service.settings
        data: dict[str, object] = {
            "recipients": [
                {"recipient_number": d.number, "recipient_name": d.to_name}
                for d in fax.destinations
            ],
            "document_name": job_name,
        }
        if fax.cover is not None:
            data["sender_name"] = fax.cover.sdr_name
            data["sender_company"] = fax.cover.sdr_company
        try:
            sub = parse_submission(
                data, dialing=settings.dialing, max_recipients=settings.max_recipients
            )
        except InvalidInput as exc:
            raise IppError(
                Status.ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
                exc.message.replace("recipients[", "destination-uris[")
                + (f" ({exc.hint})" if exc.hint else ""),
            ) from None
        extra: dict[str, int] = {}
        if fax.retries is not None:
            extra["retries"] = fax.retries
        if fax.retry_delay_min is not None:
            extra["retry_delay"] = fax.retry_delay_min
        return replace(sub, cover_page=fax.cover, extra=extra)

    # -- documents -----------------------------------------------------------------------------

    async def _stage(self, data: bytes, fmt: str) -> tuple[Path, Path, str]:
        """The document written durably into a new stage directory: (stage, file, format of
        the file). A raster stream is decoded there into a TIFF the converter reads."""
        if not data:
            raise IppError(Status.BAD_REQUEST, "the request carries no document data")
        ctx = self.service.ctx
        stage = await ctx.run(self.service.spool.new_stage)
        try:
            path = stage / "000"
            from lanfax.documents.ippraster import RASTER_FORMATS, sniff_raster

            raster = fmt if fmt in RASTER_FORMATS else sniff_raster(data[:8])
            if raster is not None:
                await ctx.run(intake.raster_to_tiff, data, raster, path)
                fmt = "image/tiff"  # what is kept (a draft's document) is the decoded TIFF
            else:
                await ctx.run(write_durably, path, data)
            return stage, path, fmt
        except BaseException:
            await ctx.run(shutil.rmtree, stage, True)
            raise

    async def _accept_document(
        self, job: IppJob, fax: FaxRequest, data: bytes, fmt: str, caller: Caller
    ) -> IppJob:
        """Fax the document (or keep it as a draft); the job row follows. Nothing is kept
        when this raises."""
        stage, path, fmt = await self._stage(data, fmt)
        ctx = self.service.ctx
        if not fax.destinations:
            return await self._keep_draft(job, stage, path, fmt)
        try:
            broadcast_id, _jobs = await self.service.submit(
                self._submission(fax, job.job_name),
                [path],
                user_name=caller.user,
                stage_dir=stage,
                labels=[f"the printed document ({job.job_name})"],
            )
        except BaseException:
            await ctx.run(shutil.rmtree, stage, True)
            raise
        return await self._save(job, state=IPP_FAXING, broadcast_id=broadcast_id)

    async def _keep_draft(self, job: IppJob, stage: Path, path: Path, fmt: str) -> IppJob:
        ctx = self.service.ctx
        now = ctx.clock.now()
        days = ctx.config.draft_days
        try:
            drafts = self.service.spool.root / "drafts"
            name = f"{now.strftime('%Y%m%d%H%M%S')}-{uuidlib.uuid4().hex[:12]}"
            await ctx.run(intake.commit_draft_file, path, drafts, name)
        finally:
            await ctx.run(shutil.rmtree, stage, True)
        final = drafts / name
        draft = Draft(
            draft_id=0,
            user_name=job.user_name,
            document_name=job.job_name,
            document_format=fmt,
            size=await ctx.run(lambda: final.stat().st_size),
            created_at=now,
            expires_at=now + timedelta(days=days),
            ipp_job_id=job.ipp_job_id or None,
            document_path=self.service.spool.relative(final),
        )
        if not job.ipp_job_id:
            job = await ctx.run(self.db.add_job, replace(job, state=IPP_INCOMING))
            draft = replace(draft, ipp_job_id=job.ipp_job_id)
        try:
            saved = await ctx.run(self.db.add_draft, draft, job.ipp_job_id)
        except BaseException:
            final.unlink(missing_ok=True)
            raise
        log.info(
            "ipp job %d kept as draft %d for %s", job.ipp_job_id, saved.draft_id, job.user_name
        )
        from lanfax.service.drafts import Drafts

        await Drafts(self.service).expire()  # a new draft is a good moment to drop old ones
        found = await ctx.run(self.db.get_job, job.ipp_job_id)
        assert found is not None
        return found

    async def _save(self, job: IppJob, **changes: object) -> IppJob:
        ctx = self.service.ctx
        if changes.get("state") in (IPP_CANCELED, IPP_ABORTED):
            changes.setdefault("completed_at", ctx.clock.now())
        if not job.ipp_job_id:
            return await ctx.run(self.db.add_job, replace(job, **changes))  # type: ignore[arg-type]
        await ctx.run(lambda: self.db.update_job(job.ipp_job_id, **changes))
        found = await ctx.run(self.db.get_job, job.ipp_job_id)
        assert found is not None
        return found

    def _new_job(self, req: Message, caller: Caller, fax: FaxRequest) -> IppJob:
        return IppJob(
            ipp_job_id=0,
            user_name=caller.user,
            job_name=rq.job_name(req),
            created_at=self.service.ctx.clock.now(),
            state=IPP_INCOMING,
            attributes=intake.fax_to_json(fax),
        )
