"""Cover page templates (docs/http-api.md, "Cover pages").

* ``GET /covers`` - the server's templates (with the built-in ``default``) and the caller's
  personal ones.
* ``PUT /covers/server/{name}`` - upload a server template (right manage_config);
  ``PUT /covers/personal/{name}`` - the caller's own (job_submit). The body is the template:
  a PDF with AcroForm text fields, or UTF-8 text with ``{placeholders}``; it is rendered with
  sample data before it is accepted (422 otherwise).
* ``DELETE`` the same paths.
* ``GET /covers/{scope}/{name}/preview`` - the template filled with sample data, as a PDF.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from lanfax.api.encode import json_response
from lanfax.api.security import Caller, requires
from lanfax.model.codes import AccessRight, AccessRightEx
from lanfax.model.errors import InvalidInput, TooLarge
from lanfax.service.core import FaxService
from lanfax.service.covers import CoverTemplates

#: Largest template accepted.
MAX_TEMPLATE_BYTES = 8 * 2**20

# Module-level: FastAPI resolves the (postponed) annotations in the module's namespace.
_SUBMIT = requires(AccessRight.JOB_SUBMIT)
_MANAGE_CONFIG = requires(AccessRightEx.MANAGE_CONFIG)


async def _template_body(request: Request) -> tuple[bytes, str]:
    data = b""
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_TEMPLATE_BYTES:
            raise TooLarge(
                f"a cover page template is at most {MAX_TEMPLATE_BYTES // 2**20} MB",
                hint="make the template smaller (fewer or smaller images)",
            )
    if not data:
        raise InvalidInput(
            "the template is empty",
            hint="send the PDF form or the UTF-8 text template as the request body",
        )
    return data, ("pdf" if data.startswith(b"%PDF") else "txt")


def install_cover_routes(r: APIRouter, service: FaxService) -> None:
    # The templates live in the service (#17): the API never touches documents itself.
    def templates() -> CoverTemplates:
        return CoverTemplates(service.ctx, service.settings.data_dir)

    @r.get("/covers", summary="Cover page templates: the server's and the caller's own")
    async def list_covers(caller: Annotated[Caller, Depends(_SUBMIT)]) -> Response:
        return json_response({"templates": await templates().list(caller.user)})

    async def put(name: str, request: Request, scope: str, user: str | None) -> Response:
        data, kind = await _template_body(request)
        added = await templates().add(name, data, kind, scope, user)
        return json_response(added, status=201)

    async def delete(name: str, scope: str, user: str | None) -> Response:
        await templates().delete(name, scope, user)
        return Response(status_code=204)

    @r.put("/covers/server/{name}", summary="Upload a server cover page template", status_code=201)
    async def put_server(
        name: str, request: Request, caller: Annotated[Caller, Depends(_MANAGE_CONFIG)]
    ) -> Response:
        return await put(name, request, "server", None)

    @r.put(
        "/covers/personal/{name}", summary="Upload a personal cover page template", status_code=201
    )
    async def put_personal(
        name: str, request: Request, caller: Annotated[Caller, Depends(_SUBMIT)]
    ) -> Response:
        return await put(name, request, "personal", caller.user)

    @r.delete("/covers/server/{name}", summary="Remove a server template", status_code=204)
    async def delete_server(
        name: str, caller: Annotated[Caller, Depends(_MANAGE_CONFIG)]
    ) -> Response:
        return await delete(name, "server", None)

    @r.delete("/covers/personal/{name}", summary="Remove a personal template", status_code=204)
    async def delete_personal(name: str, caller: Annotated[Caller, Depends(_SUBMIT)]) -> Response:
        return await delete(name, "personal", caller.user)

    @r.get(
        "/covers/{scope}/{name}/preview",
        summary="A template filled with sample data (PDF)",
        responses={200: {"content": {"application/pdf": {}}}},
    )
    async def preview_cover(
        scope: str, name: str, caller: Annotated[Caller, Depends(_SUBMIT)]
    ) -> Response:
        data = await templates().preview(scope, name, caller.user)
        safe = re.sub(r"[^\w.-]", "_", name)
        return Response(
            data,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{safe}-preview.pdf"'},
        )
