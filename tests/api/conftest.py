from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.faxes import make_fax_tiff
from tests.support.server import TEST_PROVIDER_TOML, LanfaxServer, start_lanfax_server


@pytest.fixture(scope="session")
def fax_tiff(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fax_tiff(tmp_path_factory.mktemp("faxes"), pages=2)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LanfaxServer]:
    """One real ``lanfax serve`` with the test provider (lines 200, 201) per test module."""
    srv = start_lanfax_server(tmp_path_factory.mktemp("srv"), TEST_PROVIDER_TOML)
    try:
        yield srv
    finally:
        srv.close()
