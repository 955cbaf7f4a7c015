"""Every error leaves the API as ``application/problem+json`` (RFC 9457), never a stack trace.

FaxError subclasses map through ``FaxError.to_problem()``; FastAPI's request validation
errors become InvalidInput problems naming the field; HTTP errors keep their status; anything
else is a generic 500 (logged here with its traceback, never sent).
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from lanfax.api.security import unrouted_change
from lanfax.model.errors import FaxError, InvalidInput

log = logging.getLogger("lanfax.unknown")

PROBLEM = "application/problem+json"


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body), status_code=int(body["status"]), media_type=PROBLEM, headers=headers
    )


def fax_error_response(exc: FaxError) -> Response:
    """The problem+json answer; an error that says when to come back (``retry_after``
    seconds: RateLimited, Unavailable) also carries it as ``Retry-After`` (RFC 9110, 10.2.3)."""
    retry = exc.detail.get("retry_after") if exc.detail else None
    headers = None
    if isinstance(retry, int | float) and not isinstance(retry, bool) and retry >= 0:
        headers = {"Retry-After": str(max(1, math.ceil(retry)))}
    return problem_response(exc.to_problem(), headers)


def install_error_handlers(app: FastAPI) -> None:
    async def on_fax_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, FaxError)
        if exc.http_status >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc)
        return fax_error_response(exc)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body",))
        msg = first.get("msg", "invalid request")
        return fax_error_response(
            InvalidInput(f"{where}: {msg}" if where else str(msg), hint="see docs/http-api.md")
        )

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code in (404, 405) and unrouted_change(request.scope):
            # No such path for a change (no login checked): it costs from the address's
            # refusal budget, and gets 429 once that is spent (Security.unrouted_change).
            security = getattr(request.app.state, "security", None)
            if security is not None:
                try:
                    security.unrouted_change(request.client.host if request.client else "")
                except FaxError as limited:
                    return fax_error_response(limited)
        titles = {404: "NotFound", 405: "MethodNotAllowed"}
        codes = {404: "not-found", 405: "method-not-allowed"}
        return problem_response(
            {
                "type": f"urn:lanfax:error:{codes.get(exc.status_code, 'http-error')}",
                "title": titles.get(exc.status_code, "HTTPError"),
                "status": exc.status_code,
                "detail": str(exc.detail) if exc.detail else f"HTTP {exc.status_code}",
                "hint": "see /api/v1/docs for the paths and methods",
            },
            headers=dict(exc.headers) if exc.headers else None,
        )

    async def on_overflow(request: Request, exc: Exception) -> Response:
        # An id or count beyond what the store can hold (SQLite: 64-bit): no such thing.
        return fax_error_response(
            InvalidInput(
                "a number in the request is out of range",
                hint="ids and counts are whole numbers below 2**63",
            )
        )

    async def on_other(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            {
                "type": "urn:lanfax:error:fax-error",
                "title": "FaxError",
                "status": 500,
                "detail": "internal error in the fax service",
                "hint": "the server log has the details; report it if it persists",
            }
        )

    app.add_exception_handler(FaxError, on_fax_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(OverflowError, on_overflow)
    app.add_exception_handler(Exception, on_other)
