"""A stop that cuts requests short answers them; it never leaves a traceback (issue #20).

When ``lanfax serve`` stops (Ctrl-C, SIGTERM), uvicorn lets requests in progress run for its
graceful-shutdown time, then cancels their tasks. A request cancelled that way (a submission
whose document is still being converted, an event stream that never ends) would reach uvicorn
as a CancelledError, which it logs as "Exception in ASGI application" with a traceback and
answers with a bare 500. :class:`StopMiddleware` catches exactly that cancellation, of its own
task, and answers instead:

* nothing sent yet: 503 ``unavailable`` with ``Retry-After``, saying the service is stopping and
  that the request may not have been carried out (a submission commits its jobs in one
  transaction, so they are either all queued or none; ``lanfax jobs`` tells which);
* a streaming answer under way (the event stream): its body is ended, as at a clean end.

Any other error, and a cancellation that is not this task's own, passes through unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lanfax.api.errors import fax_error_response
from lanfax.model.errors import Unavailable

log = logging.getLogger("lanfax.init")

#: What a cut-short request is told to wait before it tries again (a restart's time).
RETRY_AFTER = 5


class StopMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = complete = False

        async def watch(message: Message) -> None:
            nonlocal started, complete
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                complete = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or not task.cancelling() or complete:
                raise
            log.info("%s %s cut short: the service is stopping", scope["method"], scope["path"])
            # The connection may be gone already; the service is stopping either way.
            with contextlib.suppress(Exception):
                if not started:
                    error = Unavailable(
                        "the service is stopping: this request was cut short and may not have "
                        "been carried out",
                        hint="check (e.g. `lanfax jobs`) and send it again once the service "
                        "is back",
                        retry_after=RETRY_AFTER,
                    )
                    await fax_error_response(error)(scope, receive, send)
                else:
                    await send({"type": "http.response.body", "body": b"", "more_body": False})


def install_stop_handling(app: FastAPI) -> None:
    """Outermost of lanfax's middleware: install it after all the others."""
    app.add_middleware(StopMiddleware)
