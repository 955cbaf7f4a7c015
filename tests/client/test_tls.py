"""``--ca-file`` / ``ca_file=`` against a real ``lanfax serve`` over TLS with a certificate
made here: trusted with it, a clear certificate error (and a hint naming --ca-file) without."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.server import LanfaxServer, start_lanfax_server
from tests.support.tls import self_signed_certificate

from lanfax.client import AsyncClient, Client, InvalidInput, Unavailable


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LanfaxServer, Path]]:
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = self_signed_certificate(tmp)
    srv = start_lanfax_server(tmp, extra_args=["--tls-cert", str(cert), "--tls-key", str(key)])
    try:
        assert srv.url.startswith("https://")
        yield srv, cert
    finally:
        srv.close()


@pytest.fixture(autouse=True)
def _no_ca_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LANFAX_CA_FILE", raising=False)


def _cli(srv: LanfaxServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LANFAX_CA_FILE"}
    cmd = [sys.executable, "-m", "lanfax.cli.main", "ports", "--server", srv.url, *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)


def test_cli_ca_file(tls: tuple[LanfaxServer, Path]) -> None:
    srv, cert = tls
    ok = _cli(srv, "--ca-file", str(cert))
    assert ok.returncode == 0, ok.stderr
    assert "100" in ok.stdout  # the default virtual line
    bad = _cli(srv)
    assert bad.returncode == 7, bad.stderr
    assert "error: the server at https://127.0.0.1" in bad.stderr
    assert "certificate" in bad.stderr and "does not verify" in bad.stderr
    assert "hint:" in bad.stderr and "--ca-file" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = _cli(srv, "--ca-file", str(cert.parent / "nope.pem"))
    assert missing.returncode == 2 and "nope.pem" in missing.stderr and "hint:" in missing.stderr


def test_sync_client_ca_file(tls: tuple[LanfaxServer, Path]) -> None:
    srv, cert = tls
    with Client(srv.url, ca_file=cert, timeout=10) as c:
        assert c.health()["status"] == "ok"
        assert len(c.ports()) == 2
        # the event stream opens its own connection: its first item (None) means "connected"
        stream = c._event_stream(0, 0.5, None)
        assert next(stream) is None
        stream.close()
    with Client(srv.url, timeout=10) as c, pytest.raises(Unavailable) as info:
        c.ports()
    assert "does not verify" in info.value.message and "--ca-file" in (info.value.hint or "")
    with pytest.raises(InvalidInput, match=r"nope\.pem"):
        Client(srv.url, ca_file=cert.parent / "nope.pem")


def test_sync_client_reads_lanfax_ca_file(
    tls: tuple[LanfaxServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    srv, cert = tls
    monkeypatch.setenv("LANFAX_CA_FILE", str(cert))
    with Client(srv.url, timeout=10) as c:
        assert c.ca_file == str(cert)
        assert len(c.ports()) == 2


def test_async_client_ca_file(tls: tuple[LanfaxServer, Path]) -> None:
    srv, cert = tls

    async def run() -> None:
        async with AsyncClient(srv.url, ca_file=str(cert), timeout=10) as c:
            assert (await c.health())["status"] == "ok"
            assert len(await c.ports()) == 2
        async with AsyncClient(srv.url, timeout=10) as c:
            with pytest.raises(Unavailable) as info:
                await c.ports()
        assert "does not verify" in info.value.message
        assert "--ca-file" in (info.value.hint or "")
        with pytest.raises(InvalidInput, match=r"nope\.pem"):
            AsyncClient(srv.url, ca_file=cert.parent / "nope.pem")

    asyncio.run(run())
