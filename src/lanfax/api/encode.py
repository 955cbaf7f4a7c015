"""JSON in and out of the API, through lanfax.model.wire."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from starlette.responses import Response

from lanfax.model.errors import InvalidInput
from lanfax.model.events import Event
from lanfax.model.wire import to_wire

API = "/api/v1"


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response of ``value`` encoded by lanfax.model.wire."""
    return Response(
        json.dumps(to_wire(value), separators=(",", ":")),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        raise InvalidInput("the request has no body", hint="send a JSON body")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}", hint="send a JSON body") from None


def event_to_wire(ev: Event) -> dict[str, Any]:
    """Event JSON of docs/http-api.md: ``event`` is the name, ``event_id`` the FEI_ number."""
    out: dict[str, Any] = to_wire(ev)
    out["event"] = ev.event_id.name.lower()
    out["event_id"] = int(ev.event_id)
    return out
