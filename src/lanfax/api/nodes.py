"""``GET /api/v1/nodes``: the nodes of this database, alive or not (issue #18)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import Response

from lanfax.api.encode import json_response
from lanfax.api.security import requires
from lanfax.model.codes import AccessRightEx
from lanfax.service.core import FaxService


def install_node_routes(r: APIRouter, service: FaxService) -> None:
    @r.get(
        "/nodes",
        summary="The nodes registered in the database (name, number, host, heartbeat, alive)",
        dependencies=[Depends(requires(AccessRightEx.QUERY_CONFIG))],
    )
    async def nodes() -> Response:
        node = service.node
        if node is None:  # the service is stopping
            return json_response({"node": service.node_name, "nodes": []})
        return json_response({"node": service.node_name, "nodes": await node.nodes_info()})
