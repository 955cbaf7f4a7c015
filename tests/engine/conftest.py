"""Fixtures for the engine tests: fax pages drawn with Pillow, made once per session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

FINE = (204, 196)
STANDARD = (204, 98)


@dataclass(frozen=True)
class Doc:
    path: Path
    pages: list[np.ndarray]  # type: ignore[type-arg]  # True = white, as Pillow mode "1"
    dpi: tuple[int, int]


def draw_page(number: int, height: int, *, dense: bool = False) -> Image.Image:
    """A 1728-wide 1-bit page: a frame, a page-specific pattern and some text."""
    im = Image.new("1", (1728, height), 1)
    d = ImageDraw.Draw(im)
    d.rectangle((40, 40, 1687, height - 41), outline=0, width=3)
    try:
        font: ImageFont.ImageFont | ImageFont.FreeTypeFont = ImageFont.truetype(
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 48
        )
    except OSError:
        font = ImageFont.load_default()
    d.text((120, 100), f"lanfax engine test page {number}", fill=0, font=font)
    # A pattern that differs per page so a swapped or repeated page is noticed.
    for i in range(number + 2):
        x = 150 + i * 180
        d.ellipse((x, height // 3, x + 120 + 10 * number, height // 3 + 120), outline=0, width=4)
    d.line((100, height - 200, 1600, height // 2 + 37 * number), fill=0, width=5)
    if dense:
        for row in range(height // 2, height - 250, 40):
            d.text((100, row), "The quick brown fox jumps over the lazy dog " * 2, fill=0)
    return im


def write_tiff(path: Path, pages: list[Image.Image], dpi: tuple[int, int], compression: str) -> Doc:
    extra = {"tiffinfo": {292: 5}} if compression == "group3" else {}
    pages[0].save(
        path,
        compression=compression,
        dpi=dpi,
        save_all=True,
        append_images=pages[1:],
        **extra,  # type: ignore[arg-type]
    )
    return Doc(path, [np.array(p) for p in pages], dpi)


@pytest.fixture(scope="session")
def docs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Doc]:
    """Named test documents: standard/fine, 1-3 pages, G3 and G4."""
    d = tmp_path_factory.mktemp("docs")
    fine3 = [draw_page(n, 2292, dense=n == 1) for n in (1, 2, 3)]
    std2 = [draw_page(n, 1146) for n in (1, 2)]
    light = [draw_page(1, 1146)]
    return {
        "fine3_g4": write_tiff(d / "fine3_g4.tif", fine3, FINE, "group4"),
        "fine3_g3": write_tiff(d / "fine3_g3.tif", fine3, FINE, "group3"),
        "std2_g3": write_tiff(d / "std2_g3.tif", std2, STANDARD, "group3"),
        "light_g4": write_tiff(d / "light_g4.tif", light, STANDARD, "group4"),
    }


def read_pages(path: Path) -> list[np.ndarray]:  # type: ignore[type-arg]
    """Every page of a TIFF decoded by Pillow, as boolean arrays."""
    out = []
    with Image.open(path) as im:
        for i in range(getattr(im, "n_frames", 1)):
            im.seek(i)
            out.append(np.array(im.convert("1")))
    return out


@pytest.fixture
def abi_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sessions made in this test use the ABI binding with Python callbacks (the fallback
    when the compiled helper cannot be built), whatever the process loaded."""
    from lanfax.engine import _binding, session

    monkeypatch.setattr(session, "load", _binding.load_abi)
