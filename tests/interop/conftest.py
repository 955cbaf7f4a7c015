"""Fixtures for the interop tests: one HylaFAX peer per test session (a private PEER_DIR),
pointed at a fixed port that each test's lanfax IAX2 endpoint binds in turn: the provider
harness of ``test_hylafax.py`` and the ``lanfax serve`` of ``test_serve_iax2.py``."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.interop.hylafax import HylaFax, free_udp_port, require_hylafax


# Module scope: only one HylaFAX peer can run on a machine, and test_modem.py brings up
# other set-ups of it (peer.sh up pair / bare), so each module has its own peer in turn.
@pytest.fixture(scope="module")
def hylafax(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HylaFax]:
    require_hylafax()
    port = free_udp_port()
    # HylaFAX's daemons run as uucp: the spool must not sit under pytest's 0700 root tree.
    peer_dir = Path(tempfile.mkdtemp(prefix="lanfax-hylafax-"))
    peer_dir.chmod(0o755)
    peer = HylaFax(peer_dir, f"127.0.0.1:{port}")
    peer.up()
    try:
        yield peer
    finally:
        peer.down()
        shutil.rmtree(peer_dir, ignore_errors=True)


@pytest.fixture
def docs_dir(tmp_path: Path) -> Path:
    d = tmp_path / "docs"
    d.mkdir()
    return d
