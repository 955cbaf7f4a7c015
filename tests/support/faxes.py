"""Fax documents for tests, made by the real converter (lanfax.documents)."""

from __future__ import annotations

from pathlib import Path

from lanfax.service import docs


def make_fax_tiff(directory: Path, pages: int = 1, name: str = "doc.tif") -> Path:
    """A fax-ready TIFF Class F of ``pages`` pages (one text page per page)."""
    directory.mkdir(parents=True, exist_ok=True)
    inputs = []
    for n in range(pages):
        text = directory / f"page{n}.txt"
        text.write_text(f"lanfax test page {n + 1} of {pages}\n")
        inputs.append(text)
    out = directory / name
    result = docs.convert(inputs, out)
    assert result.pages == pages
    return out
