"""Helpers for the provider tests: fax TIFFs made with Pillow, unique networks, a runner."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image, ImageDraw

T = TypeVar("T")
_net = itertools.count(1)


def run(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """Run one test scenario on a fresh event loop, bounded so nothing hangs a test run."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def network_name() -> str:
    """A network of its own for each test, so lines never meet across tests."""
    return f"test-{next(_net)}"


def light_pages(n: int, height: int = 1100) -> list[Image.Image]:
    """Mostly white pages with a box and text that differ per page (quick on the line)."""
    pages = []
    for i in range(n):
        im = Image.new("1", (1728, height), 1)
        d = ImageDraw.Draw(im)
        d.rectangle((100 + 40 * i, 100, 700 + 40 * i, 300 + 20 * i), fill=0)
        d.ellipse((900, 150 + 30 * i, 1300, 500 + 30 * i), outline=0, width=5)
        d.text((200, 600), f"lanfax provider test, page {i + 1} of {n}", fill=0)
        pages.append(im)
    return pages


def dense_pages(n: int, height: int = 600, seed: int = 7) -> list[Image.Image]:
    """Random-dot pages: they compress badly, so each takes about a minute of line time."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        bits = rng.random((height, 1728)) < 0.5
        out.append(Image.fromarray(~bits).convert("1"))
    return out


def save_tiff(path: Path, pages: list[Image.Image], compression: str) -> Path:
    extra: dict[str, Any] = {}
    if compression == "group3":
        # T4Options 5: 2-D coding with EOL fill, what fax machines expect of a G3 file.
        extra["tiffinfo"] = {292: 5}
    pages[0].save(
        path,
        compression=compression,
        save_all=True,
        append_images=pages[1:],
        dpi=(204, 98),
        **extra,
    )
    return path


def tiff_pixels(path: Path) -> list[np.ndarray[Any, Any]]:
    """Every page of a TIFF as a boolean array (True = black), decoded by Pillow."""
    out = []
    with Image.open(path) as im:
        for i in range(getattr(im, "n_frames", 1)):
            im.seek(i)
            out.append(np.array(im.convert("L")) < 128)
    return out
