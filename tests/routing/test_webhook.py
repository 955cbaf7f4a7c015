"""Web hook against a real HTTP server on loopback (http.server in a thread)."""

from __future__ import annotations

import email
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from lanfax.routing import RoutingManager
from lanfax.routing.builtin import WEBHOOK_GUID, BuiltinRoutes
from lanfax.routing.builtin.webhook import verify

from .conftest import make_fax

SECRET = "a-long-shared-secret-0123456789"


@dataclass
class Receiver:
    """Records every request. ``fail_first`` answers 500 to that many requests first (the
    fault-injecting receiver); ``status`` is the answer after that. Deliveries are
    de-duplicated by Idempotency-Key, as a real receiver should."""

    fail_first: int = 0
    status: int = 200
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    delivered: dict[str, bytes] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with rec.lock:
                rec.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                failing = rec.fail_first > 0
                if failing:
                    rec.fail_first -= 1
                status = 500 if failing else rec.status
                if status == 200:
                    rec.delivered.setdefault(self.headers["Idempotency-Key"], body)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"no" if status != 200 else b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec, f"http://127.0.0.1:{server.server_address[1]}/fax"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def parse(headers: dict[str, str], body: bytes) -> Message:
    raw = f"Content-Type: {headers['content-type']}\r\n\r\n".encode() + body
    return email.message_from_bytes(raw, policy=HTTP)


def setup(manager: RoutingManager, url: str, **kw: Any) -> None:
    manager.set_routing_info(
        WEBHOOK_GUID, 1, {"url": url, "secret": SECRET, "format": "tiff", "timeout": 10, **kw}
    )
    manager.enable_routing_method(WEBHOOK_GUID, 1, True)


@pytest.mark.anyio
async def test_delivery_is_signed_and_carries_the_fax(
    manager: RoutingManager, receiver: tuple[Receiver, str], fax_tiff: Path
) -> None:
    rec, url = receiver
    setup(manager, url)
    outcome = await manager.route_fax(make_fax(42), [fax_tiff], only={WEBHOOK_GUID})
    assert outcome.result(WEBHOOK_GUID).ok, outcome.result(WEBHOOK_GUID).reason
    ((headers, body),) = rec.requests
    assert verify(SECRET, body, headers["x-lanfax-signature"])
    assert not verify("another-secret-entirely", body, headers["x-lanfax-signature"])
    assert headers["x-lanfax-signature"].startswith("sha256=")
    msg = parse(headers, body)
    assert msg.is_multipart()
    meta_part, doc_part = msg.get_payload()  # type: ignore[misc]
    assert meta_part.get_param("name", header="content-disposition") == "metadata"
    meta = json.loads(meta_part.get_payload(decode=True))
    assert meta["job_id"] == 42 and meta["tsid"] == "ACME Sales" and meta["page_count"] == 2
    assert meta["idempotency_key"] == headers["idempotency-key"]
    assert meta["method"] == WEBHOOK_GUID
    assert doc_part.get_filename() == "fax-42.tif"
    assert doc_part.get_content_type() == "image/tiff"
    assert doc_part.get_payload(decode=True) == fax_tiff.read_bytes()


@pytest.mark.anyio
async def test_receiver_failing_twice_gets_the_fax_once(
    manager: RoutingManager,
    receiver: tuple[Receiver, str],
    fax_tiff: Path,
    builtin: BuiltinRoutes,
) -> None:
    rec, url = receiver
    rec.fail_first = 2
    setup(manager, url)
    outcome = await manager.route_fax(make_fax(42), [fax_tiff], only={WEBHOOK_GUID})
    assert outcome.result(WEBHOOK_GUID).ok
    assert len(rec.requests) == 3
    keys = {h["idempotency-key"] for h, _ in rec.requests}
    assert len(keys) == 1  # the same key on every attempt
    assert len({b for _, b in rec.requests}) == 1  # and the same signed bytes
    assert list(rec.delivered) == list(keys)
    assert builtin.sleep.delays == [1.0, 2.0]  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_exhausted_retries_are_retryable_and_a_later_attempt_reuses_the_key(
    manager: RoutingManager, receiver: tuple[Receiver, str], fax_tiff: Path
) -> None:
    rec, url = receiver
    rec.fail_first = 3
    setup(manager, url)
    first = await manager.route_fax(make_fax(42), [fax_tiff])
    result = first.result(WEBHOOK_GUID)
    assert not result.ok and result.retryable
    assert "500" in result.reason and "after 3 attempts" in result.reason
    assert first.retry_guids == {WEBHOOK_GUID}
    # The routing job's later retry: only the failed method, the same idempotency key.
    second = await manager.route_fax(make_fax(42), [fax_tiff], only=first.retry_guids)
    assert second.ok
    assert len({h["idempotency-key"] for h, _ in rec.requests}) == 1
    assert len(rec.delivered) == 1
    # Another fax gets another key.
    await manager.route_fax(make_fax(43), [fax_tiff], only={WEBHOOK_GUID})
    assert len(rec.delivered) == 2


@pytest.mark.anyio
async def test_4xx_is_not_retried(
    manager: RoutingManager, receiver: tuple[Receiver, str], fax_tiff: Path
) -> None:
    rec, url = receiver
    rec.status = 403
    setup(manager, url)
    outcome = await manager.route_fax(make_fax(42), [fax_tiff], only={WEBHOOK_GUID})
    result = outcome.result(WEBHOOK_GUID)
    assert not result.ok and not result.retryable
    assert "403" in result.reason
    assert len(rec.requests) == 1


@pytest.mark.anyio
async def test_unreachable_receiver_is_retryable(
    manager: RoutingManager, fax_tiff: Path, builtin: BuiltinRoutes
) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    setup(manager, f"http://127.0.0.1:{port}/fax")
    outcome = await manager.route_fax(make_fax(42), [fax_tiff], only={WEBHOOK_GUID})
    result = outcome.result(WEBHOOK_GUID)
    assert not result.ok and result.retryable
    assert "cannot reach" in result.reason
