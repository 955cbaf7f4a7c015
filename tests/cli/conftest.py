"""Run the real ``lanfax`` console script against a real server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.support.faxes import make_fax_tiff
from tests.support.server import TEST_PROVIDER_TOML, LanfaxServer, start_lanfax_server

LANFAX = str(Path(sys.executable).with_name("lanfax"))

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def cli_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LanfaxServer]:
    srv = start_lanfax_server(tmp_path_factory.mktemp("cli"), TEST_PROVIDER_TOML)
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture(scope="module")
def fax(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fax_tiff(tmp_path_factory.mktemp("faxdoc"))


@pytest.fixture
def lanfax(cli_server: LanfaxServer) -> Run:
    """``lanfax(*args)``: the console script with LANFAX_SERVER set to the test server."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60):  # type: ignore[no-untyped-def]
        full_env = dict(os.environ, LANFAX_SERVER=cli_server.url, **(env or {}))
        return subprocess.run(
            [LANFAX, *args], capture_output=True, text=True, env=full_env, timeout=timeout
        )

    return run
