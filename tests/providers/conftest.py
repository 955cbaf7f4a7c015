"""Fixtures for the provider tests: fax documents made with Pillow."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.providers.helpers import dense_pages, light_pages, save_tiff


@pytest.fixture(scope="session")
def docs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("docs")
    light = light_pages(2)
    return {
        "g3": save_tiff(d / "two-g3.tif", light, "group3"),
        "g4": save_tiff(d / "two-g4.tif", light, "group4"),
        "one": save_tiff(d / "one.tif", light_pages(1, height=400), "group4"),
        "dense": save_tiff(d / "dense.tif", dense_pages(4), "group4"),
    }
