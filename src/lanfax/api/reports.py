"""Receipts and transmission reports (docs/http-api.md, "Receipts and reports").

* ``GET /receipts`` - the caller's delivery receipts, newest first (keyset pages by
  ``before``); a caller holding query_jobs may ask for another user's (``user=``) or
  everyone's (``user=*``).
* ``GET /jobs/{job_id}/report`` - the one-page transmission report (PDF) of a completed or
  failed send job; 409 for a job that has not ended that way. The owner may always read its
  own job's report (the own-jobs rule of the job routes).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from lanfax.api.encode import json_response
from lanfax.api.security import Caller, requires
from lanfax.model.codes import AccessRightEx
from lanfax.model.receipts import MAX_PAGE
from lanfax.service.core import FaxService

# Module-level: FastAPI resolves the (postponed) annotations in the module's namespace.
_QUERY_OWN = requires(AccessRightEx.QUERY_JOBS, own_jobs=True)


def install_report_routes(r: APIRouter, service: FaxService) -> None:
    @r.get("/receipts", summary="Delivery receipts of the caller (newest first)")
    async def receipts(
        caller: Annotated[Caller, Depends(_QUERY_OWN)],
        limit: int = Query(100, ge=1, le=MAX_PAGE),
        before: int | None = Query(None, description="receipts with a smaller receipt_id"),
        user: str | None = Query(None, description="another user's (query_jobs); * for all"),
    ) -> Response:
        who: str | None = caller.user
        if user is not None and user != caller.user:
            caller.require(AccessRightEx.QUERY_JOBS)
            who = None if user == "*" else user
        items = await service.receipts.list_for(who, before=before, limit=limit)
        nxt = items[-1].receipt_id if len(items) == limit else None
        return json_response({"receipts": items, "next": nxt})

    @r.get(
        "/jobs/{job_id}/report",
        summary="Transmission report (PDF) of a completed or failed send job",
        responses={200: {"content": {"application/pdf": {}}}},
    )
    async def report(job_id: int, caller: Annotated[Caller, Depends(_QUERY_OWN)]) -> Response:
        job = await service.get_job(job_id)
        caller.check_job(job_id, job.user_name)
        data = await service.receipts.report(job)
        return Response(
            data,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="report-{job_id}.pdf"'},
        )
