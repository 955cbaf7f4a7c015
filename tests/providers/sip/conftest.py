"""Fixtures for the SIP provider tests: one real Kamailio per test module, fax documents."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.providers.helpers import light_pages, save_tiff
from tests.providers.sip.kamailio import Kamailio, start_kamailio

USERS = {"200": "pw-200", "201": "pw-201", "202": "pw-202", "203": "pw-203"}


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kamailio]:
    with start_kamailio(tmp_path_factory.mktemp("kamailio"), USERS, known=("299",)) as k:
        yield k


@pytest.fixture(scope="session")
def sip_docs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("sipdocs")
    return {
        "two": save_tiff(d / "two.tif", light_pages(2, height=500), "group4"),
        "one": save_tiff(d / "one.tif", light_pages(1, height=300), "group4"),
    }
