from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.faxes import make_fax_tiff


@pytest.fixture(scope="session")
def fax_tiff(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-page fax-ready TIFF, made once per session."""
    return make_fax_tiff(tmp_path_factory.mktemp("faxes"))


@pytest.fixture(scope="session")
def fax_tiff_3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A three-page fax-ready TIFF."""
    return make_fax_tiff(tmp_path_factory.mktemp("faxes3"), pages=3)
