"""The server's HTTP/1.1 stack: httptools (C) answers exactly as h11 (Python) did (#19).

``lanfax serve`` runs uvicorn with httptools when it imports (:func:`_http_protocol`), h11
otherwise. The same app and service are served by both on two loopback ports, and raw
requests (so that the bytes on the wire are exactly the broken ones) go to each: every
refusal of bad multipart input must be the same problem+json (status, type, detail), a good
submission sent with a chunked body or after ``Expect: 100-continue`` (curl's way) must be
taken by both, and a refusal must leave the kept-alive connection usable (or closed, when the
body was not read) the same way.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from tests.support.faxes import make_fax_tiff
from tests.support.inproc import run, running_service

from lanfax.api.app import create_app
from lanfax.cli.serve import _http_protocol

TOML = """
[server]
max_upload_mb = 1
[settings]
pause_server_queue = true
[security]
authentication = false
"""

BOUNDARY = "lanfax-test-boundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _part(name: str, content: bytes, filename: str | None = None, ctype: str = "") -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
    if ctype:
        head += f"Content-Type: {ctype}\r\n"
    return head.encode() + b"\r\n" + content + b"\r\n"


def _params(number: str = "101") -> bytes:
    return _part("params", json.dumps({"recipients": [{"recipient_number": number}]}).encode())


END = f"--{BOUNDARY}--\r\n".encode()


def _request(body: bytes, ctype: str = MULTIPART, *, chunked: bool = False) -> bytes:
    head = f"POST /api/v1/jobs HTTP/1.1\r\nHost: lanfax\r\nContent-Type: {ctype}\r\n"
    if chunked:
        half = len(body) // 2
        chunks = b"".join(
            f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in (body[:half], body[half:])
        )
        return (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + chunks + b"0\r\n\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def _answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body


def _summary(status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """What must be the same under both stacks (job ids and times may differ)."""
    out: dict[str, Any] = {"status": status, "type": headers.get("content-type", "")}
    if headers.get("content-type", "").startswith("application/problem+json"):
        problem = json.loads(body)
        out.update({k: problem.get(k) for k in ("type", "title", "status", "detail", "hint")})
        out["problem"] = True
    elif status == 201:
        out["jobs"] = len(json.loads(body)["jobs"])
    out["close"] = headers.get("connection", "").lower() == "close"
    return out


async def _exchange(port: int, requests: list[bytes]) -> list[dict[str, Any]]:
    """Send each request on one kept-alive connection; the answers, summarised."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answers = []
    try:
        for raw in requests:
            writer.write(raw)
            await writer.drain()
            answers.append(_summary(*await asyncio.wait_for(_answer(reader), 30)))
            if answers[-1]["close"]:
                break
    finally:
        writer.close()
    return answers


async def _expecting(port: int, head: bytes, body: bytes) -> list[dict[str, Any]]:
    """curl's way for a body over 1 KB: the head with ``Expect: 100-continue``, the body only
    after the server's ``100 Continue`` (never, when the server answers at once)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answers = []
    try:
        writer.write(head)
        await writer.drain()
        first = await asyncio.wait_for(_answer(reader), 30)
        answers.append(_summary(*first))
        if first[0] == 100:
            writer.write(body)
            await writer.drain()
            answers.append(_summary(*await asyncio.wait_for(_answer(reader), 30)))
    finally:
        writer.close()
    return answers


def _expect_cases(tiff: bytes) -> dict[str, tuple[bytes, bytes, list[int]]]:
    good = _params() + _part("file", tiff, "page.tif", "image/tiff") + END
    head = f"POST /api/v1/jobs HTTP/1.1\r\nHost: lanfax\r\nContent-Type: {MULTIPART}\r\n"
    head += "Expect: 100-continue\r\n"
    return {
        "expect 100-continue": (
            f"{head}Content-Length: {len(good)}\r\n\r\n".encode(),
            good,
            [100, 201],
        ),
        "expect 100-continue, declared too large": (
            f"{head}Content-Length: {5 * 2**20}\r\n\r\n".encode(),
            b"",
            [413],
        ),
    }


@pytest.fixture(scope="module")
def tiff(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_fax_tiff(tmp_path_factory.mktemp("stack")).read_bytes()


def _cases(tiff: bytes) -> dict[str, tuple[list[bytes], list[int]]]:
    """name -> (requests on one connection, the statuses expected)."""
    good = _params() + _part("file", tiff, "page.tif", "image/tiff") + END
    return {
        "no boundary": ([_request(good, "multipart/form-data")], [422]),
        "not multipart": ([_request(b'{"recipients": []}', "application/json")], [422]),
        "truncated body": ([_request(good[: len(good) // 2])], [422]),
        "params missing": ([_request(_part("file", tiff, "page.tif") + END)], [422]),
        "params not JSON": ([_request(_part("params", b"{nope") + END)], [422]),
        "no file part": ([_request(_params() + END)], [422]),
        "bad part header": (
            [_request(f"--{BOUNDARY}\r\nno colon here\r\n\r\nx\r\n".encode() + END)],
            [422],
        ),
        "declared too large": (
            [
                b"POST /api/v1/jobs HTTP/1.1\r\nHost: lanfax\r\n"
                + f"Content-Type: {MULTIPART}\r\nContent-Length: {5 * 2**20}\r\n\r\n".encode()
            ],
            [413],
        ),
        "too large, chunked": ([_request(good + b"x" * (2**20), chunked=True)], [413]),
        "refused, then good on the same connection": (
            [_request(_params() + END), _request(good)],
            [422, 201],
        ),
        "good, chunked": ([_request(good, chunked=True)], [201]),
        "not HTTP": ([b"HELLO / lanfax\r\n\r\n"], [400]),
    }


def test_the_server_uses_httptools() -> None:
    """httptools is a dependency of the server: ``lanfax serve`` must pick it up."""
    assert _http_protocol() == "httptools"


def test_httptools_answers_bad_multipart_as_h11_did(tmp_path: Path, tiff: bytes) -> None:
    async def body() -> dict[str, dict[str, list[dict[str, Any]]]]:
        async with running_service(tmp_path, TOML) as svc:
            app = create_app(svc)
            servers: dict[str, tuple[uvicorn.Server, int]] = {}
            tasks = []
            for http in ("h11", "httptools"):
                port = _free_port()
                config = uvicorn.Config(
                    app,
                    host="127.0.0.1",
                    port=port,
                    http=http,  # type: ignore[arg-type]
                    lifespan="off",
                    log_level="warning",
                    access_log=False,
                )
                server = uvicorn.Server(config)
                servers[http] = (server, port)
                tasks.append(asyncio.create_task(server.serve()))
            try:
                for server, _ in servers.values():
                    while not server.started:
                        await asyncio.sleep(0.02)  # uvicorn's own start flag
                seen: dict[str, dict[str, list[dict[str, Any]]]] = {}
                for name, (requests, _) in _cases(tiff).items():
                    seen[name] = {
                        http: await _exchange(port, requests) for http, (_, port) in servers.items()
                    }
                for name, (head, data, _) in _expect_cases(tiff).items():
                    seen[name] = {
                        http: await _expecting(port, head, data)
                        for http, (_, port) in servers.items()
                    }
                return seen
            finally:
                for server, _ in servers.values():
                    server.should_exit = True
                await asyncio.wait_for(asyncio.gather(*tasks), 30)

    seen = run(body(), timeout=120)
    expected_statuses = {name: case[1] for name, case in _cases(tiff).items()}
    expected_statuses.update({name: case[2] for name, case in _expect_cases(tiff).items()})
    for name, by_stack in seen.items():
        expected = expected_statuses[name]
        for http, answers in by_stack.items():
            assert [a["status"] for a in answers] == expected, (name, http, answers)
            for a in answers:
                if a["status"] >= 400 and name != "not HTTP":
                    assert a["problem"], (name, http, a)  # problem+json, never a bare text
        assert by_stack["httptools"] == by_stack["h11"], name
