"""Routing routes (docs/http-api.md, "Routing"): the global method order, per-device methods,
their enable flag and routing info, and retrying a routing job.

Rights follow winfax: the global order is server configuration (FaxEnum/SetGlobalRoutingInfo:
query / manage config); a device's methods and routing info are port data (FaxEnumRoutingMethods,
FaxGetRoutingInfo: port query; FaxEnableRoutingMethod, FaxSetRoutingInfo: port set). Retrying a
routing job is managing jobs. Secrets in routing info are always returned redacted.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from lanfax.api.encode import json_body, json_response
from lanfax.api.privacy import routing_view
from lanfax.api.security import Caller, requires
from lanfax.model.codes import AccessRight, AccessRightEx
from lanfax.model.errors import InvalidInput
from lanfax.service.core import FaxService


def _object(body: Any, example: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object", hint=f"e.g. {example}")
    return body


def install_routing_routes(r: APIRouter, service: FaxService) -> None:
    query_config = [Depends(requires(AccessRightEx.QUERY_CONFIG))]
    manage_config = [Depends(requires(AccessRightEx.MANAGE_CONFIG))]
    port_query = [Depends(requires(AccessRight.PORT_QUERY))]
    port_set = [Depends(requires(AccessRight.PORT_SET))]
    manage_jobs = [Depends(requires(AccessRightEx.MANAGE_JOBS))]

    @r.get(
        "/routing/methods",
        summary="FaxEnumGlobalRoutingInfo: every method, in priority order",
        dependencies=query_config,
    )
    async def global_methods() -> Response:
        return json_response(service.routing.global_methods())

    @r.put(
        "/routing/methods/order",
        summary="Set the whole global order at once",
        dependencies=manage_config,
    )
    async def set_order(request: Request) -> Response:
        body = _object(await json_body(request), '{"order": ["{guid}", ...]}')
        if "order" not in body:
            raise InvalidInput("order is missing", hint='send {"order": ["{guid}", ...]}')
        return json_response(await service.routing.set_order(body["order"]))

    @r.patch(
        "/routing/methods/{guid}",
        summary="FaxSetGlobalRoutingInfo: move a method to a priority (1 = first)",
        dependencies=manage_config,
    )
    async def set_priority(guid: str, request: Request) -> Response:
        body = _object(await json_body(request), '{"priority": 1}')
        if "priority" not in body:
            raise InvalidInput("priority is missing", hint='send {"priority": 1}')
        return json_response(await service.routing.set_priority(guid, body["priority"]))

    @r.get(
        "/routing/devices/{device_id}/methods",
        summary="FaxEnumRoutingMethods: the methods of a device with their enable flag",
        dependencies=port_query,
    )
    async def device_methods(device_id: int) -> Response:
        return json_response(service.routing.methods(device_id))

    @r.get(
        "/routing/devices/{device_id}/methods/{guid}",
        summary="One method of a device",
        dependencies=port_query,
    )
    async def device_method(device_id: int, guid: str) -> Response:
        return json_response(service.routing.method(device_id, guid))

    @r.patch(
        "/routing/devices/{device_id}/methods/{guid}",
        summary="FaxEnableRoutingMethod",
        dependencies=port_set,
    )
    async def enable_method(device_id: int, guid: str, request: Request) -> Response:
        body = _object(await json_body(request), '{"enabled": true}')
        if not isinstance(body.get("enabled"), bool):
            raise InvalidInput("enabled must be true or false", hint='send {"enabled": true}')
        return json_response(await service.routing.enable(device_id, guid, body["enabled"]))

    @r.get(
        "/routing/devices/{device_id}/methods/{guid}/info",
        summary="FaxGetRoutingInfo (secrets redacted)",
    )
    async def get_info(
        device_id: int,
        guid: str,
        caller: Annotated[Caller, Depends(requires(AccessRight.PORT_QUERY))],
    ) -> Response:
        info = service.routing.get_info(device_id, guid)
        # issue #14: who may only look at ports does not learn where faxes go.
        return json_response(info if caller.holds(AccessRight.PORT_SET) else routing_view(info))

    @r.put(
        "/routing/devices/{device_id}/methods/{guid}/info",
        summary="FaxSetRoutingInfo (validated; a redacted secret keeps the stored one)",
        dependencies=port_set,
    )
    async def set_info(device_id: int, guid: str, request: Request) -> Response:
        body = _object(await json_body(request), '{"folder": "/srv/fax"}')
        return json_response(await service.routing.set_info(device_id, guid, body))

    @r.post(
        "/routing/jobs/{job_id}/retry",
        summary="Route a routing job again now (every method not yet succeeded)",
        dependencies=manage_jobs,
    )
    async def retry(job_id: int) -> Response:
        return json_response(await service.routing.retry_now(job_id))
