"""Every request body is bounded (issue #14, item 10), on a real ``lanfax serve``: a JSON
body over ``server.max_json_kb`` (declared or streamed), a submission whose params part is,
and an upload over ``server.max_upload_mb`` are refused with a 413 problem naming the limit,
nothing is kept, and the service keeps serving."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.authhttp import httpx
from tests.support.faxes import make_fax_tiff
from tests.support.server import LanfaxServer, start_lanfax_server

TOML = """
[server]
max_json_kb = 4
max_upload_mb = 1
[settings]
pause_server_queue = true
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LanfaxServer]:
    srv = start_lanfax_server(tmp_path_factory.mktemp("limits"), TOML)
    try:
        yield srv
    finally:
        srv.close()


def _is_413(r: httpx.Response, setting: str) -> dict[str, object]:
    assert r.status_code == 413, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = r.json()
    assert setting in str(body["detail"]) and body["hint"], body
    return body


def _still_serving(server: LanfaxServer) -> None:
    assert httpx.get(f"{server.api}/health").json()["status"] == "ok"
    r = httpx.patch(f"{server.api}/config", json={"retries": 4})
    assert r.status_code == 200, r.text


def test_a_json_body_over_the_limit_is_413(server: LanfaxServer) -> None:
    big = {"retries": 3, "padding": "x" * 8000}
    r = httpx.patch(f"{server.api}/config", json=big)
    body = _is_413(r, "server.max_json_kb")
    assert "4 KB" in str(body["detail"])
    _still_serving(server)


def test_a_streamed_json_body_is_counted_as_it_arrives(server: LanfaxServer) -> None:
    """No Content-Length (chunked): the body is cut off once it passes the limit."""

    def chunks() -> Iterator[bytes]:
        yield b'{"retries": 3, "padding": "'
        for _ in range(64):
            yield b"x" * 1024
        yield b'"}'

    r = httpx.patch(
        f"{server.api}/config", content=chunks(), headers={"content-type": "application/json"}
    )
    _is_413(r, "server.max_json_kb")
    _still_serving(server)


def test_a_body_called_something_else_is_bounded_too(server: LanfaxServer) -> None:
    r = httpx.post(
        f"{server.api}/ports/1/handles",
        content=b"{" + b" " * 10_000 + b"}",
        headers={"content-type": "text/plain"},
    )
    _is_413(r, "server.max_json_kb")


def test_a_params_part_over_the_limit_is_413(server: LanfaxServer, tmp_path: Path) -> None:
    tiff = make_fax_tiff(tmp_path / "doc").read_bytes()
    params = {
        "recipients": [{"recipient_number": "101"}],
        "document_name": "n",
        "billing_code": "x" * 8000,
    }
    before = httpx.get(f"{server.api}/jobs").json()["jobs"]
    r = httpx.post(
        f"{server.api}/jobs",
        data={"params": json.dumps(params)},
        files=[("file", ("doc.tif", tiff, "image/tiff"))],
        timeout=30,
    )
    _is_413(r, "server.max_json_kb")
    assert httpx.get(f"{server.api}/jobs").json()["jobs"] == before
    _still_serving(server)


def test_an_upload_over_its_limit_is_413_naming_it(server: LanfaxServer) -> None:
    r = httpx.post(
        f"{server.api}/jobs",
        data={"params": json.dumps({"recipients": [{"recipient_number": "101"}]})},
        files=[("file", ("big.pdf", b"%PDF" + b"\0" * (2 * 2**20), "application/pdf"))],
        timeout=30,
    )
    _is_413(r, "server.max_upload_mb")
    _still_serving(server)
