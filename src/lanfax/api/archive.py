"""Archive routes (docs/http-api.md, "Archives"): search, fetch, download as TIFF or PDF and
delete archived faxes; the retention policy; the activity log as CSV.

Each archive has its own rights (query / manage incoming archive, query / manage outgoing
archive); the retention policy is server configuration; the activity log needs query config.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request
from starlette.background import BackgroundTask
from starlette.responses import FileResponse, Response, StreamingResponse

from lanfax.api.encode import json_body, json_response
from lanfax.api.security import Caller, requires
from lanfax.model.archive import MAX_PAGE, ArchiveEntry, ArchiveQuery
from lanfax.model.codes import AccessRightEx
from lanfax.model.errors import AccessDenied, InvalidInput
from lanfax.model.wire import datetime_from_wire
from lanfax.service.core import FaxService
from lanfax.service.rights import right_name

_RIGHTS = {
    "incoming": (AccessRightEx.QUERY_IN_ARCHIVE, AccessRightEx.MANAGE_IN_ARCHIVE),
    "outgoing": (AccessRightEx.QUERY_OUT_ARCHIVE, AccessRightEx.MANAGE_OUT_ARCHIVE),
}


def _when(value: str | None, name: str) -> datetime | None:
    return None if not value else datetime_from_wire(value, name)


def install_archive_routes(r: APIRouter, service: FaxService) -> None:
    for direction, (query_right, manage_right) in _RIGHTS.items():
        _install_one(r, service, direction, query_right, manage_right)

    @r.get(
        "/archive/config",
        summary="The archives' directory and retention policies",
        dependencies=[Depends(requires(AccessRightEx.QUERY_CONFIG))],
    )
    async def get_policy() -> Response:
        return json_response(service.archiver.get_policies())

    @r.patch(
        "/archive/config",
        summary="Change retention: max_age_days, high/low_watermark_mb, enabled (incoming)",
        dependencies=[Depends(requires(AccessRightEx.MANAGE_CONFIG))],
    )
    async def set_policy(request: Request) -> Response:
        return json_response(await service.archiver.set_policies(await json_body(request)))

    @r.get(
        "/activity.csv",
        summary="The activity log (one row per call) as CSV",
        dependencies=[Depends(requires(AccessRightEx.QUERY_CONFIG))],
    )
    async def activity(since: str | None = None, until: str | None = None) -> Response:
        chunks = service.archiver.activity_csv(_when(since, "since"), _when(until, "until"))
        return StreamingResponse(
            chunks,  # a sync iterator: Starlette reads it in a worker thread
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="lanfax-activity.csv"'},
        )


def _install_one(
    r: APIRouter,
    service: FaxService,
    direction: str,
    query_right: AccessRightEx,
    manage_right: AccessRightEx,
) -> None:
    # The own-jobs rule (#13): without the archive right a user sees and manages its own
    # faxes (sent: it submitted them; received: routed or reassigned to it).
    query = requires(query_right, own_jobs=True)
    manage = requires(manage_right, own_jobs=True)
    base = f"/archive/{direction}"
    # Defaults, not Annotated: the annotations are resolved in the module, these are local.
    query_dep, manage_dep = Depends(query), Depends(manage)

    async def own_entry(archive_id: int, caller: Caller) -> ArchiveEntry:
        entry = await service.archiver.entry(direction, archive_id)
        if not caller.all_jobs and entry.user_name != caller.user:
            unassigned = direction == "incoming" and not entry.user_name
            if not (unassigned and caller.holds(AccessRightEx.MANAGE_RECEIVE_FOLDER)):
                raise AccessDenied(
                    f"archived fax {archive_id} belongs to another user",
                    hint=f"a user sees its own faxes; others need {right_name(query_right)}",
                )
        return entry

    @r.get(
        base,
        summary=f"Search the {direction} archive (newest first)",
        name=f"search_{direction}",
    )
    async def search(
        caller: Caller = query_dep,
        since: str | None = None,
        until: str | None = None,
        number: str = "",
        ident: str = "",
        user: str = "",
        limit: int = Query(50, ge=1, le=MAX_PAGE),
        cursor: str = "",
    ) -> Response:
        user = user.strip()
        if not caller.all_jobs:
            if user and user != caller.user:
                caller.require(query_right)
            user = caller.user  # the own-jobs rule
        q = ArchiveQuery(
            direction,
            _when(since, "since"),
            _when(until, "until"),
            number.strip(),
            ident.strip(),
            user,
            limit,
            cursor,
        )
        entries, nxt = await service.archiver.search(q)
        return json_response({"entries": entries, "next": nxt})

    @r.get(
        base + "/{archive_id}",
        summary=f"One {direction} archive entry",
        name=f"get_{direction}",
    )
    async def get_entry(archive_id: int, caller: Caller = query_dep) -> Response:
        return json_response(await own_entry(archive_id, caller))

    @r.get(
        base + "/{archive_id}/document",
        summary="The archived fax as TIFF (default) or PDF",
        name=f"document_{direction}",
    )
    async def document(
        archive_id: int, caller: Caller = query_dep, format: str = "tiff"
    ) -> Response:
        fmt = format.strip().lower()
        if fmt not in ("tiff", "pdf"):
            raise InvalidInput(f"format {format!r} is not offered", hint="use tiff or pdf")
        await own_entry(archive_id, caller)
        path = await service.archiver.document(direction, archive_id, fmt)
        name = f"fax-{direction}-{archive_id}.{'pdf' if fmt == 'pdf' else 'tif'}"
        if fmt == "pdf":
            return FileResponse(
                path,
                media_type="application/pdf",
                filename=name,
                background=BackgroundTask(path.unlink, missing_ok=True),
            )
        return FileResponse(path, media_type="image/tiff", filename=name)

    @r.delete(
        base + "/{archive_id}",
        summary=f"Delete a fax from the {direction} archive",
        status_code=204,
        name=f"delete_{direction}",
    )
    async def delete(archive_id: int, caller: Caller = manage_dep) -> Response:
        await own_entry(archive_id, caller)
        await service.archiver.delete(direction, archive_id)
        return Response(status_code=204)
