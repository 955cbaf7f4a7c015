"""A stop that cuts requests short answers them (503, or the end of a stream), never with a
traceback: uvicorn on a loopback port, a request that outlives the graceful-shutdown time."""

from __future__ import annotations

import asyncio
import logging
import socket

import httpx
import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from lanfax.api.stopping import RETRY_AFTER, StopMiddleware


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Endless:
    """``/slow`` never answers (a conversion that takes longer than the stop allows);
    ``/stream`` starts an answer and never ends it (the event stream). ``arrived`` is set
    once the request is being handled (and, for the stream, its first event sent)."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        self.arrived.set()
        await asyncio.Event().wait()


async def _cut_short(path: str) -> tuple[httpx.Response, bytes]:
    port = _free_port()
    app = _Endless()
    config = uvicorn.Config(
        StopMiddleware(app),
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="info",
        timeout_graceful_shutdown=0.5,
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)  # polling uvicorn's own start flag

    async def stop_once_arrived() -> None:
        await app.arrived.wait()
        server.should_exit = True  # what uvicorn's SIGINT handler does

    stopper = asyncio.create_task(stop_once_arrived())
    url = f"http://127.0.0.1:{port}{path}"
    async with httpx.AsyncClient(timeout=30) as client, client.stream("GET", url) as resp:
        body = await resp.aread()
    await asyncio.wait_for(serving, 30)
    await stopper
    return resp, body


def test_a_request_cut_short_by_the_stop_gets_a_503_not_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    # The logging categories of a service run earlier in this process may have set the
    # "init" category's own level: set it here too (restored after the test).
    caplog.set_level(logging.INFO, logger="lanfax.init")
    resp, body = asyncio.run(_cut_short("/slow"))
    assert resp.status_code == 503
    assert resp.headers["retry-after"] == str(RETRY_AFTER)
    problem = httpx.Response(503, content=body).json()
    assert problem["type"] == "urn:lanfax:error:unavailable"
    assert "the service is stopping" in problem["detail"]
    assert "may not have been carried out" in problem["detail"]
    assert "Exception in ASGI application" not in caplog.text
    assert "Traceback" not in caplog.text
    assert "GET /slow cut short: the service is stopping" in caplog.text


def test_a_stream_cut_short_by_the_stop_ends_cleanly(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    resp, body = asyncio.run(_cut_short("/stream"))
    assert resp.status_code == 200 and body == b"data: 1\n\n"  # ended, not broken off
    assert "Exception in ASGI application" not in caplog.text
    assert "returned without completing response" not in caplog.text
    assert "Traceback" not in caplog.text
