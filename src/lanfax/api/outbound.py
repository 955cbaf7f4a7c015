"""Outgoing routing routes (docs/http-api.md, "Outgoing routing"; docs/routing.md): device
groups and routing rules, as FaxOutboundRoutingGroups / FaxOutboundRoutingRules.

Reading needs query_config, changing manage_config. A rule is named by its codes in the path:
``/outbound/rules/{country_code}/{area_code}``, ``*`` (or ``any``) for "all". A group by its
name (URL-encoded): ``/outbound/groups/All%20devices``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from lanfax.api.encode import json_body, json_response
from lanfax.api.security import requires
from lanfax.model.codes import AccessRightEx
from lanfax.service.core import FaxService


def _body(example: Any, description: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": {"type": "object"}, "example": example}},
        }
    }


def install_outbound_routes(r: APIRouter, service: FaxService) -> None:
    read = [Depends(requires(AccessRightEx.QUERY_CONFIG))]
    change = [Depends(requires(AccessRightEx.MANAGE_CONFIG))]

    # -- groups ---------------------------------------------------------------------------

    @r.get("/outbound/groups", summary="FaxOutboundRoutingGroups: every group", dependencies=read)
    async def outbound_groups() -> Response:
        return json_response({"groups": service.outbound.groups()})

    @r.post(
        "/outbound/groups",
        summary="Add a group (an ordered list of devices)",
        status_code=201,
        dependencies=change,
        openapi_extra=_body({"name": "Berlin", "devices": [2, 1]}, "the group"),
    )
    async def outbound_group_add(request: Request) -> Response:
        return json_response(await service.outbound.add_group(await json_body(request)), 201)

    @r.get("/outbound/groups/{name}", summary="One group", dependencies=read)
    async def outbound_group(name: str) -> Response:
        return json_response(service.outbound.group(name))

    @r.put(
        "/outbound/groups/{name}",
        summary="Set a group's devices (their order is the dialing order)",
        dependencies=change,
        openapi_extra=_body({"devices": [2, 1]}, "the devices"),
    )
    async def outbound_group_set(name: str, request: Request) -> Response:
        return json_response(await service.outbound.set_group(name, await json_body(request)))

    @r.delete(
        "/outbound/groups/{name}",
        summary="Remove a group (not All devices, not one a rule uses)",
        status_code=204,
        dependencies=change,
    )
    async def outbound_group_remove(name: str) -> Response:
        await service.outbound.remove_group(name)
        return Response(status_code=204)

    # -- rules ----------------------------------------------------------------------------

    @r.get(
        "/outbound/rules",
        summary="FaxOutboundRoutingRules: every rule, most specific first",
        dependencies=read,
    )
    async def outbound_rules() -> Response:
        return json_response({"rules": service.outbound.rules()})

    @r.post(
        "/outbound/rules",
        summary="Add a rule: country and area code to a device or a group",
        status_code=201,
        dependencies=change,
        openapi_extra=_body(
            {"country_code": "49", "area_code": "30", "group": "Berlin"}, "the rule"
        ),
    )
    async def outbound_rule_add(request: Request) -> Response:
        return json_response(await service.outbound.add_rule(await json_body(request)), 201)

    @r.get("/outbound/rules/{country_code}/{area_code}", summary="One rule", dependencies=read)
    async def outbound_rule(country_code: str, area_code: str) -> Response:
        return json_response(service.outbound.rule(country_code, area_code))

    @r.put(
        "/outbound/rules/{country_code}/{area_code}",
        summary="Point a rule (the default one too) to another device or group",
        dependencies=change,
        openapi_extra=_body({"device": 2}, "the destination"),
    )
    async def outbound_rule_set(country_code: str, area_code: str, request: Request) -> Response:
        body = await json_body(request)
        return json_response(await service.outbound.set_rule(country_code, area_code, body))

    @r.delete(
        "/outbound/rules/{country_code}/{area_code}",
        summary="Remove a rule (not the default one)",
        status_code=204,
        dependencies=change,
    )
    async def outbound_rule_remove(country_code: str, area_code: str) -> Response:
        await service.outbound.remove_rule(country_code, area_code)
        return Response(status_code=204)

    @r.get(
        "/outbound/route",
        summary="Which rule and devices a number would be dialled on",
        dependencies=read,
    )
    async def outbound_route(number: str = Query(..., max_length=64)) -> Response:
        return json_response(service.outbound.route(number))
