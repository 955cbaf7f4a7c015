"""Routing targets (issue #14, item 11, SSRF): web hooks and mail servers may only be public
addresses unless an administrator allows a network; a refused target is never contacted
(a real receiver on loopback counts the requests); a remote reply's body is never echoed."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from datetime import UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from lanfax.model.clock import ManualClock
from lanfax.model.errors import ConfigError
from lanfax.routing import RoutingManager
from lanfax.routing.builtin import EMAIL_GUID, WEBHOOK_GUID, BuiltinRoutes
from lanfax.routing.targets import TargetPolicy, parse_networks

from .conftest import make_fax

SECRET = "a-long-shared-secret-0123456789"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.9.9.9",
        "169.254.169.254",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.10",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    why = TargetPolicy().refusal(ipaddress.ip_address(address))
    assert (why is not None and address.split(":")[-1] in why) or why, why


@pytest.mark.parametrize("address", ["8.8.8.8", "2001:4860:4860::8888", "93.184.216.34"])
def test_public_addresses_pass(address: str) -> None:
    assert TargetPolicy().refusal(ipaddress.ip_address(address)) is None


def test_an_allowed_network_passes() -> None:
    policy = TargetPolicy(parse_networks(["10.20.0.0/16", "127.0.0.0/8"]))
    assert policy.refusal(ipaddress.ip_address("10.20.3.4")) is None
    assert policy.refusal(ipaddress.ip_address("::ffff:127.0.0.1")) is None
    assert policy.refusal(ipaddress.ip_address("10.21.0.1")) is not None
    with pytest.raises(ConfigError, match="not a network"):
        parse_networks(["10.0.0.0/33"])


class _Counting:
    def __init__(self, status: int, body: bytes) -> None:
        self.hits = 0
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                rec.hits += 1
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture()
def hook() -> Iterator[_Counting]:
    rec = _Counting(404, b"<html>internal admin page: db password hunter2</html>")
    try:
        yield rec
    finally:
        rec.close()


def test_a_loopback_hook_is_refused_when_set(tmp_path: Path, hook: _Counting) -> None:
    builtin = BuiltinRoutes(tmp_path / "data", [], ManualClock(), tz=UTC)
    for url in (f"http://127.0.0.1:{hook.port}/fax", "http://169.254.169.254/latest/meta-data"):
        with pytest.raises(ConfigError, match="refused as a routing target"):
            builtin.validate_routing_info(WEBHOOK_GUID, {"url": url, "secret": SECRET})
    with pytest.raises(ConfigError, match="allow_networks"):
        builtin.validate_routing_info(
            EMAIL_GUID,
            {"to": "a@example.com", "from": "b@example.com", "smtp_host": "10.0.0.5"},
        )
    assert hook.hits == 0


@pytest.mark.anyio
async def test_a_name_resolving_to_loopback_is_refused_at_delivery(
    manager: RoutingManager, builtin: BuiltinRoutes, hook: _Counting, fax_tiff: Path
) -> None:
    """A host name is checked when the fax is delivered: it resolves to loopback, which is
    no longer allowed, so it is refused and the receiver is never contacted."""
    # Configured while loopback was allowed (the fixture allows it), then the rule tightened.
    manager.set_routing_info(
        WEBHOOK_GUID, 1, {"url": f"http://localhost:{hook.port}/fax", "secret": SECRET}
    )
    manager.enable_routing_method(WEBHOOK_GUID, 1, True)
    builtin.targets = TargetPolicy()
    outcome = await manager.route_fax(make_fax(7), [fax_tiff], only={WEBHOOK_GUID})
    result = outcome.result(WEBHOOK_GUID)
    assert not result.ok and not result.retryable
    assert "refused as a routing target" in result.reason and "loopback" in result.reason
    assert hook.hits == 0


@pytest.mark.anyio
async def test_a_reply_body_is_never_echoed(
    manager: RoutingManager, hook: _Counting, fax_tiff: Path
) -> None:
    manager.set_routing_info(
        WEBHOOK_GUID,
        1,
        {"url": f"http://127.0.0.1:{hook.port}/fax", "secret": SECRET, "format": "tiff"},
    )
    manager.enable_routing_method(WEBHOOK_GUID, 1, True)
    outcome = await manager.route_fax(make_fax(7), [fax_tiff], only={WEBHOOK_GUID})
    result = outcome.result(WEBHOOK_GUID)
    assert not result.ok and "404" in result.reason
    assert "hunter2" not in result.reason and "admin page" not in result.reason
    assert hook.hits == 1


class _RebindingDns(TargetPolicy):
    """Fault injection (a DNS server that answers differently between the check and the
    connection, which a real resolver here cannot be made to do on demand): the host-name
    check sees a public address; the connection then really reaches loopback. The host is
    "127.1", a name (not an address literal) that the C resolver turns into 127.0.0.1."""

    async def check_host(self, host: str, port: int) -> None:
        self.refusal(ipaddress.ip_address("93.184.216.34"))  # what the first answer said


@pytest.mark.anyio
async def test_dns_rebinding_to_loopback_is_refused_before_the_hook_is_sent_anything(
    manager: RoutingManager, builtin: BuiltinRoutes, hook: _Counting, fax_tiff: Path
) -> None:
    manager.set_routing_info(
        WEBHOOK_GUID, 1, {"url": f"http://127.1:{hook.port}/fax", "secret": SECRET}
    )
    manager.enable_routing_method(WEBHOOK_GUID, 1, True)
    builtin.targets = _RebindingDns()
    outcome = await manager.route_fax(make_fax(7), [fax_tiff], only={WEBHOOK_GUID})
    result = outcome.result(WEBHOOK_GUID)
    assert not result.ok and not result.retryable, result
    assert "it connected to 127.0.0.1 is a loopback address" in result.reason
    assert hook.hits == 0


@pytest.mark.anyio
async def test_dns_rebinding_of_a_mail_server_is_refused_before_a_command_is_sent(
    manager: RoutingManager, builtin: BuiltinRoutes, fax_tiff: Path
) -> None:
    import socket

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    heard: list[bytes] = []

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(b"220 mail.example ESMTP\r\n")
            conn.settimeout(5)
            try:
                while data := conn.recv(4096):
                    heard.append(data)
            except OSError:
                pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        manager.set_routing_info(
            EMAIL_GUID,
            1,
            {
                "to": "office@example.com",
                "from": "fax@example.com",
                "smtp_host": "127.1",
                "smtp_port": port,
            },
        )
        manager.enable_routing_method(EMAIL_GUID, 1, True)
        builtin.targets = _RebindingDns()
        outcome = await manager.route_fax(make_fax(7), [fax_tiff], only={EMAIL_GUID})
        t.join(10)
    finally:
        server.close()
    result = outcome.result(EMAIL_GUID)
    assert not result.ok and not result.retryable, result
    assert "refused as a routing target" in result.reason and "loopback" in result.reason
    assert heard == []  # not even EHLO
