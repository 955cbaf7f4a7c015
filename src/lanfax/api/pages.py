"""Fax pages as images, for people (the console's viewer and preview).

* ``GET /api/v1/jobs/{id}/pages/{n}.png``, ``GET /api/v1/archive/{dir}/{id}/pages/{n}.png``:
  page ``n`` (1-based) of a job's or an archived fax's TIFF as PNG, ``?width=`` pixels wide
  (default 850, 16 to 4000), its physical aspect restored (a standard-resolution page is not
  squashed). Rights: as for the TIFF itself.
* ``POST /api/v1/preview``: the body of a submission (``params`` and ``file`` parts, as for
  ``POST /api/v1/jobs``; ``recipients`` may be empty) converted, with its cover page, into the
  pages the first recipient would get; nothing is queued. The answer lists the pages as PNG
  data URLs (the first :data:`~lanfax.service.preview.MAX_PREVIEW_PAGES`). A file the server
  cannot convert, an unknown cover page or a blocked number is the same 4xx as at submission.
"""

from __future__ import annotations

import base64
import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.responses import Response

from lanfax.api.archive import _RIGHTS
from lanfax.api.encode import json_response
from lanfax.api.jobs import _QUERY_OWN, _limited, _params_text, _part_label
from lanfax.api.security import Caller, requires
from lanfax.model.codes import AccessRight, AccessRightEx
from lanfax.model.errors import InvalidInput
from lanfax.service.core import FaxService
from lanfax.service.preview import MAX_PREVIEW_PAGES, page_png, preview_document
from lanfax.service.submit import parse_submission
from lanfax.service.uploads import discard, new_stage, stage_uploads

_WIDTH = Query(850, ge=16, le=4000, description="image width in pixels")
#: A placeholder recipient, so that a preview needs no number yet.
_NOBODY = {"recipient_number": "0"}


def _png(data: bytes) -> Response:
    # Pages do not change once written: let the browser keep them for a while.
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})


def install_page_routes(r: APIRouter, service: FaxService) -> None:
    @r.get(
        "/jobs/{job_id}/pages/{page}.png",
        summary="Page n (1-based) of the job's fax as PNG",
        responses={200: {"content": {"image/png": {}}}},
    )
    async def job_page(
        job_id: int,
        page: int,
        caller: Annotated[Caller, Depends(_QUERY_OWN)],
        width: int = _WIDTH,
    ) -> Response:
        job = await service.get_job(job_id)
        caller.check_job(job_id, job.user_name)
        path = await service.job_document(job_id)
        count = job.page_count or job.pages_done or 1
        return _png(await service.ctx.run(page_png, path, page, count, width))

    for direction, (query_right, _manage) in _RIGHTS.items():
        _install_archive_page(r, service, direction, query_right)

    @r.post(
        "/preview",
        summary="Preview a submission: its fax pages as PNG, cover page included; queues nothing",
    )
    async def preview(
        request: Request, caller: Annotated[Caller, Depends(requires(AccessRight.JOB_SUBMIT))]
    ) -> Response:
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise InvalidInput(
                "a preview is multipart/form-data, as a submission",
                hint="send a 'params' part (JSON) and 'file' parts",
            )
        limited = _limited(request, service.settings.max_upload_bytes)
        try:
            form = await limited.form(max_files=100, max_fields=10, max_part_size=16 * 2**20)
        except HTTPException as exc:
            raise InvalidInput(
                f"the multipart body cannot be read: {exc.detail}",
                hint="send a 'params' part and 'file' parts as multipart/form-data",
            ) from None
        work = await new_stage(service.ctx)
        try:
            raw = form.get("params")
            try:
                data = json.loads(await _params_text(raw)) if raw is not None else {}
            except ValueError as exc:
                raise InvalidInput(
                    f"params is not valid JSON: {exc}", hint="a JSON object"
                ) from None
            if isinstance(data, dict) and not data.get("recipients"):
                data = {**data, "recipients": [_NOBODY]}
            settings = service.settings
            submission = parse_submission(
                data, dialing=settings.dialing, max_recipients=settings.max_recipients
            )
            uploads = [f for f in form.getlist("file") if isinstance(f, UploadFile)]
            labels = [_part_label(i, u.filename) for i, u in enumerate(uploads)]
            _, staged = await stage_uploads(
                service.ctx,
                [(label, u.read) for label, u in zip(labels, uploads, strict=True)],
                into=work,
            )
            result = await preview_document(service, submission, staged, labels, caller.user, work)
            shown = min(result.pages, MAX_PREVIEW_PAGES)
            images = []
            for n in range(shown):
                png = await service.ctx.run(page_png, result.path, n + 1, result.pages, 850)
                images.append("data:image/png;base64," + base64.b64encode(png).decode())
        finally:
            await form.close()
            await discard(service.ctx, work)
        return json_response(
            {
                "pages": result.pages,
                "resolution": result.resolution,
                "shown": shown,
                "images": images,
            }
        )


def _install_archive_page(
    r: APIRouter, service: FaxService, direction: str, right: AccessRightEx
) -> None:
    # The own-jobs rule (#13): a user sees the pages of its own archived faxes without the
    # archive right. A default, not Annotated: the annotation is resolved in the module.
    query = Depends(requires(right, own_jobs=True))

    @r.get(
        f"/archive/{direction}/{{archive_id}}/pages/{{page}}.png",
        summary=f"Page n (1-based) of a fax of the {direction} archive as PNG",
        name=f"page_{direction}",
        responses={200: {"content": {"image/png": {}}}},
    )
    async def archive_page(
        archive_id: int, page: int, caller: Caller = query, width: int = _WIDTH
    ) -> Response:
        entry = await service.archiver.entry(direction, archive_id)
        if not caller.all_jobs and entry.user_name != caller.user:
            caller.require(right)  # somebody else's fax
        path = await service.archiver.document(direction, archive_id, "tiff")
        return _png(await service.ctx.run(page_png, path, page, entry.pages, width))
