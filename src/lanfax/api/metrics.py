"""``GET /metrics``: the node's metrics in the Prometheus text format (issue #18).

On the API port, beside ``/api/v1`` (where Prometheus looks by default). Who may read it: a
caller holding ``query_config`` (an administrator's token, as for ``GET /api/v1/config``), or
a scraper presenting the separate metrics token of ``[metrics] token`` as a bearer token: that
token opens ``/metrics`` and nothing else, so a monitoring system never holds a user's key.
The figures are in :mod:`lanfax.service.metrics`.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Depends, FastAPI
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from lanfax.api.security import MARK, requires
from lanfax.model.codes import AccessRightEx
from lanfax.service.core import FaxService


def metrics_access(token: str) -> Callable[[HTTPConnection], Awaitable[None]]:
    """A dependency: the metrics token as ``Authorization: Bearer``, else ``query_config``."""
    needs_right = requires(AccessRightEx.QUERY_CONFIG)
    expected = f"Bearer {token}".encode()

    async def dependency(conn: HTTPConnection) -> None:
        given = conn.headers.get("authorization", "")
        if token and hmac.compare_digest(given.encode(), expected):
            return
        await needs_right(conn)

    # The route declares query_config (the metrics token is an alternative, not a right).
    setattr(dependency, MARK, getattr(needs_right, MARK))
    dependency.__name__ = "metrics_access"
    return dependency


def install_metrics_route(app: FastAPI, service: FaxService) -> None:
    r = APIRouter()

    @r.get(
        "/metrics",
        summary="The node's metrics (Prometheus text format): query_config or the metrics token",
        dependencies=[Depends(metrics_access(service.settings.metrics.token))],
        response_class=Response,
    )
    async def metrics(request: Request) -> Response:
        body, content_type = service.metrics.render(request.headers.get("accept", ""))
        return Response(body, headers={"Content-Type": content_type})

    app.include_router(r)
