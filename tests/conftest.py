"""Fixtures shared by every test directory.

``lanfax_server``: a real ``lanfax serve`` process with the default configuration (two
virtual lines, 100 and 101), a temporary data directory and a free loopback port; killed after
the test. For another configuration call ``start_lanfax_server(tmp_path, toml_text=...)``
from :mod:`tests.support.server`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The repository root, so that ``tests.support`` is importable from every test directory.
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.support.server import LanfaxServer, start_lanfax_server  # noqa: E402

# Every test server writes its administrator's token here, keyed by its URL, as `lanfax serve`
# does on a first start; the client, the CLI and tests.support.authhttp find it there. A file
# of this session's own, never the real ~/.config/lanfax/credentials.
if "LANFAX_CREDENTIALS" not in os.environ:
    import tempfile

    os.environ["LANFAX_CREDENTIALS"] = str(
        Path(tempfile.mkdtemp(prefix="lanfax-test-credentials-")) / "credentials"
    )


@pytest.fixture
def lanfax_server(tmp_path: Path) -> Iterator[LanfaxServer]:
    server = start_lanfax_server(tmp_path)
    try:
        yield server
    finally:
        server.close()


# -- LANFAX_TEST_STORE=memory (#17): tests.support.inproc opens named in-memory stores -------
_ON_MEMORY: list[str] = []


@pytest.fixture(autouse=True)
def _forget_memory_stores(request: pytest.FixtureRequest) -> Iterator[None]:
    """Drop the named in-memory stores a test opened, so that none outlives its test; count
    the tests that opened one (the summary says how many ran on the memory store)."""
    yield
    if os.environ.get("LANFAX_TEST_STORE") == "memory":
        from lanfax.store.memory import forget_memory_stores

        if forget_memory_stores():
            _ON_MEMORY.append(request.node.nodeid)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if os.environ.get("LANFAX_TEST_STORE") == "memory":
        terminalreporter.write_line(
            f"LANFAX_TEST_STORE=memory: {len(_ON_MEMORY)} test(s) ran a service on the"
            " in-memory store (the others use no store, or their own)"
        )
