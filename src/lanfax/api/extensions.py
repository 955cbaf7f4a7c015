"""Registration of providers and routing extensions, and extension data, over HTTP
(docs/http-api.md "Registration" and "Extension data"; the service side is
:mod:`lanfax.service.extensions`).

Listing needs ``query_config``; registering needs ``manage_config`` *and* the administrator
role (it names code the server will run); extension data is read with ``query_config`` and
written with ``manage_config``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from lanfax.api.encode import json_body, json_response
from lanfax.api.security import Caller, requires
from lanfax.model.codes import AccessRightEx
from lanfax.service.core import FaxService

_QUERY = requires(AccessRightEx.QUERY_CONFIG)
_MANAGE = requires(AccessRightEx.MANAGE_CONFIG)


def _body(example: Any, description: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": {"type": "object"}, "example": example}},
        }
    }


_PROVIDER_EXAMPLE = {
    "name": "acme",
    "friendly_name": "ACME fax boards",
    "image_name": "acme_fax.provider:AcmeProvider",
    "config": {"lines": 2},
}
_EXTENSION_EXAMPLE = {
    "name": "archiver",
    "friendly_name": "Archive to the DMS",
    "image_name": "dms_fax.routing:DmsRoutes",
    "methods": [{"guid": "{00000000-0000-0000-0000-000000000001}"}],
}


def install_extension_routes(r: APIRouter, service: FaxService) -> None:
    """``/providers``, ``/routing/extensions`` and ``/extension-data``."""

    def ext() -> Any:
        return service.extensions

    @r.get("/providers", summary="FaxEnumerateProviders: every provider and its state")
    async def list_providers(caller: Annotated[Caller, Depends(_QUERY)]) -> Response:
        return json_response({"providers": await ext().list_providers()})

    @r.post(
        "/providers",
        summary="FaxRegisterServiceProvider: register an installed provider (administrators)",
        status_code=201,
        openapi_extra=_body(_PROVIDER_EXAMPLE, "the registration"),
    )
    async def register_provider(
        request: Request, caller: Annotated[Caller, Depends(_MANAGE)]
    ) -> Response:
        entry = await ext().register_provider(caller, await json_body(request))
        return json_response(entry, status=201)

    @r.delete(
        "/providers/{name}",
        summary="FaxUnregisterServiceProviderEx (takes effect at the next start)",
        status_code=204,
    )
    async def unregister_provider(
        name: str, caller: Annotated[Caller, Depends(_MANAGE)]
    ) -> Response:
        await ext().unregister_provider(caller, name)
        return Response(status_code=204)

    @r.get("/routing/extensions", summary="Every routing extension and its state")
    async def list_extensions(caller: Annotated[Caller, Depends(_QUERY)]) -> Response:
        return json_response({"extensions": await ext().list_routing()})

    @r.post(
        "/routing/extensions",
        summary="FaxRegisterRoutingExtension: register an installed extension (administrators)",
        status_code=201,
        openapi_extra=_body(_EXTENSION_EXAMPLE, "the registration"),
    )
    async def register_extension(
        request: Request, caller: Annotated[Caller, Depends(_MANAGE)]
    ) -> Response:
        entry = await ext().register_routing(caller, await json_body(request))
        return json_response(entry, status=201)

    @r.delete(
        "/routing/extensions/{name}",
        summary="FaxUnregisterRoutingExtension (takes effect at the next start)",
        status_code=204,
    )
    async def unregister_extension(
        name: str, caller: Annotated[Caller, Depends(_MANAGE)]
    ) -> Response:
        await ext().unregister_routing(caller, name)
        return Response(status_code=204)

    @r.get("/extension-data/{guid}", summary="FaxGetExtensionData (FaxExtGetData)")
    async def get_data(
        guid: str,
        caller: Annotated[Caller, Depends(_QUERY)],
        device_id: int = Query(0, ge=0, description="0: not tied to a device"),
    ) -> Response:
        return json_response(await ext().get_data(guid, device_id))

    @r.put(
        "/extension-data/{guid}",
        summary="FaxSetExtensionData (FaxExtSetData): the running extensions are told at once",
        openapi_extra=_body({"threshold": 3}, "the extension's data (a JSON object)"),
    )
    async def set_data(
        guid: str,
        request: Request,
        caller: Annotated[Caller, Depends(_MANAGE)],
        device_id: int = Query(0, ge=0, description="0: not tied to a device"),
    ) -> Response:
        body = await json_body(request)
        return json_response(await ext().set_data(caller, guid, device_id, body))
