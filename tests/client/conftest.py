"""A real ``lanfax serve`` (test provider lines 200 and 201) shared by a test module, and a
one-page fax document made by the real converter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.faxes import make_fax_tiff
from tests.support.server import TEST_PROVIDER_TOML, LanfaxServer, start_lanfax_server

from lanfax.client import Client


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LanfaxServer]:
    srv = start_lanfax_server(tmp_path_factory.mktemp("srv"), TEST_PROVIDER_TOML)
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fax_tiff(tmp_path_factory.mktemp("doc"))


@pytest.fixture
def client(server: LanfaxServer) -> Iterator[Client]:
    with Client(server.url, user="tester", timeout=10) as c:
        c.set_config(pause_server_queue=False)
        yield c


@pytest.fixture
def paused(client: Client) -> Iterator[Client]:
    """The client, with the server's queue paused so that jobs stay queued."""
    client.set_config(pause_server_queue=True)
    try:
        yield client
    finally:
        client.set_config(pause_server_queue=False)


@pytest.fixture
def unused_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def acting_user(url: str, asked: str) -> str:
    """Who the server will say did it: the token's user on a server with logins (the
    credentials file the server wrote), else the X-Lanfax-User the client sent."""
    try:
        from lanfax.client import credentials
    except ImportError:
        return asked
    return credentials.lookup(url).get("user") or asked
