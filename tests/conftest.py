"""Fixtures shared by every test directory.

``lanfax_server``: a real ``lanfax serve`` process with the default configuration (two
virtual lines, 100 and 101), a temporary data directory and a free loopback port; killed after
the test. For another configuration call ``start_lanfax_server(tmp_path, toml_text=...)``
from :mod:`tests.support.server`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The repository root, so that ``tests.support`` is importable from every test directory.
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.support.server import LanfaxServer, start_lanfax_server  # noqa: E402


@pytest.fixture
def lanfax_server(tmp_path: Path) -> Iterator[LanfaxServer]:
    server = start_lanfax_server(tmp_path)
    try:
        yield server
    finally:
        server.close()
