"""Every request body is bounded (issue #14, item 10).

:class:`BodyLimitMiddleware` counts the bytes of every request body as the application reads
them, and answers 413 (problem+json naming the limit and the setting that raises it) as soon
as a body is larger than allowed, before it is held in memory:

* a body that carries documents (``multipart/form-data``, ``application/ipp``, and the cover
  page templates of ``PUT /api/v1/covers/...``) may be up to ``server.max_upload_mb`` (the
  routes apply their own, smaller limits inside it: the params part of a submission, a
  template's size);
* any other body (the JSON of every other route, whatever the client calls it) up to
  ``server.max_json_kb``.

A declared ``Content-Length`` over the limit is refused before anything is read.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lanfax.api.encode import API
from lanfax.api.errors import fax_error_response
from lanfax.model.errors import FaxError, InsufficientStorage, TooLarge

_log = logging.getLogger("lanfax.init")

_DOCUMENT_TYPES = ("multipart/form-data", "application/ipp")


def _mb(n: int) -> str:
    return f"{n // 2**20} MB" if n >= 2**20 else f"{n // 1024} KB"


def json_too_large(limit: int) -> TooLarge:
    return TooLarge(
        f"the request body is larger than the limit of {_mb(limit)} (server.max_json_kb)",
        hint="send a smaller body, or raise server.max_json_kb",
    )


def upload_too_large(limit: int) -> TooLarge:
    return TooLarge(
        f"the upload is larger than {_mb(limit)} (server.max_upload_mb)",
        hint="send a smaller document, or raise server.max_upload_mb",
    )


class BodyLimitMiddleware:
    """ASGI middleware bounding request bodies (see the module docstring).

    ``limits`` returns ``(json_limit, upload_limit)`` in bytes at request time, so the
    service's settings are read when they are known."""

    def __init__(self, app: ASGIApp, limits: Callable[[], tuple[int, int]]) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        ctype = headers.get("content-type", "").lower()
        path: str = scope.get("path", "")
        json_limit, upload_limit = self.limits()
        if ctype.startswith(_DOCUMENT_TYPES) or (
            scope.get("method") == "PUT" and path.startswith(f"{API}/covers/")
        ):
            limit, refusal = upload_limit, upload_too_large(upload_limit)
        else:
            limit, refusal = json_limit, json_too_large(json_limit)
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            await _drain_and_refuse(scope, receive, send, refusal)
            return
        seen = 0

        async def counting() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise refusal
            return message

        await self.app(scope, counting, send)


async def _drain_and_refuse(scope: Scope, receive: Receive, send: Send, exc: TooLarge) -> None:
    response = fax_error_response(exc)
    # "Connection: close": the client may still be sending the body it announced.
    response.headers["connection"] = "close"
    await response(scope, receive, send)


def install_body_limits(app: Any, limits: Callable[[], tuple[int, int]]) -> None:
    app.add_middleware(BodyLimitMiddleware, limits=limits)
    app.add_exception_handler(OSError, _on_os_error)


async def _on_os_error(_request: Request, exc: Exception) -> Response:
    """A full disk while handling a request (staging an upload, writing a document) is a 507
    the caller can act on; any other OSError stays an internal error (500)."""
    assert isinstance(exc, OSError)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        _log.warning("a request failed: the disk is full (%s)", exc.strerror)
        return fax_error_response(
            InsufficientStorage(
                "the server's disk is full: the request could not be stored, nothing of it"
                " was kept",
                hint="try again later (an administrator must free disk space)",
            )
        )
    _log.error("a request failed: %r", exc)
    return fax_error_response(FaxError("internal error", hint="see the server's log"))
