"""Drafts (issue #11): documents printed to the fax printer with no fax number.

* ``GET /drafts`` - the caller's drafts (``?all=true``: everyone's, with query_jobs).
* ``GET /drafts/{id}`` - one draft; ``GET /drafts/{id}/document`` - the document as printed.
* ``POST /drafts/{id}/send`` - fax it: the body is the ``params`` JSON of ``POST /jobs``
  (``recipients``, ``cover_page``, ...); 201 with ``broadcast_id`` and ``jobs``, and the draft
  is gone.
* ``DELETE /drafts/{id}`` - remove it.
"""

from __future__ import annotations

import os
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import FileResponse, Response

from lanfax.api.encode import json_body, json_response
from lanfax.api.security import Caller, requires
from lanfax.model.codes import AccessRight, AccessRightEx
from lanfax.service.core import FaxService
from lanfax.service.drafts import Drafts, draft_wire

# Module-level: FastAPI resolves the (postponed) annotations in the module's namespace.
_QUERY_OWN = requires(AccessRightEx.QUERY_JOBS, own_jobs=True)
_MANAGE_OWN = requires(AccessRightEx.MANAGE_JOBS, own_jobs=True)
_SUBMIT = requires(AccessRight.JOB_SUBMIT)


def install_draft_routes(r: APIRouter, service: FaxService) -> Drafts:
    drafts = Drafts(service)

    @r.get("/drafts", summary="Your drafts (printed with no fax number)")
    async def list_drafts(
        caller: Annotated[Caller, Depends(_QUERY_OWN)],
        all: bool = Query(False, description="everyone's drafts (right query_jobs)"),
    ) -> Response:
        found = await drafts.list_for(caller, everyone=all)
        return json_response({"drafts": [draft_wire(d) for d in found]})

    @r.get("/drafts/{draft_id}", summary="One draft")
    async def get_draft(draft_id: int, caller: Annotated[Caller, Depends(_QUERY_OWN)]) -> Response:
        return json_response(draft_wire(await drafts.get(draft_id, caller)))

    @r.get("/drafts/{draft_id}/document", summary="The draft's document, as printed")
    async def draft_document(
        draft_id: int, caller: Annotated[Caller, Depends(_QUERY_OWN)]
    ) -> Response:
        draft = await drafts.get(draft_id, caller)
        path = await service.ctx.run(service.spool.resolve, draft.document_path)
        return FileResponse(
            path,
            media_type=draft.document_format or "application/octet-stream",
            stat_result=await service.ctx.run(os.stat, path),
        )

    @r.post("/drafts/{draft_id}/send", summary="Fax a draft", status_code=201)
    async def send_draft(
        draft_id: int, request: Request, caller: Annotated[Caller, Depends(_SUBMIT)]
    ) -> Response:
        params = await json_body(request)
        broadcast_id, jobs = await drafts.send(draft_id, caller, params)
        return json_response({"broadcast_id": broadcast_id, "jobs": jobs}, status=201)

    @r.delete("/drafts/{draft_id}", summary="Remove a draft", status_code=204)
    async def delete_draft(
        draft_id: int, caller: Annotated[Caller, Depends(_MANAGE_OWN)]
    ) -> Response:
        await drafts.delete(draft_id, caller)
        return Response(status_code=204)

    return drafts
