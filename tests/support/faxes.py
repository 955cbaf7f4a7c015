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


def tiff_ifds(data: bytes) -> list[int]:
    """Offsets of the directories (IFDs) of a little-endian TIFF, page by page."""
    import struct

    assert data[:2] == b"II"
    out, off = [], struct.unpack_from("<I", data, 4)[0]
    while off:
        out.append(off)
        (n,) = struct.unpack_from("<H", data, off)
        off = struct.unpack_from("<I", data, off + 2 + 12 * n)[0]
    return out


def tiff_entry(data: bytes, ifd: int, tag: int) -> tuple[int, int]:
    """(offset of the entry's value field, its value) of ``tag`` in the IFD at ``ifd``."""
    import struct

    (n,) = struct.unpack_from("<H", data, ifd)
    for i in range(n):
        at = ifd + 2 + 12 * i
        t, kind, _count = struct.unpack_from("<HHI", data, at)
        if t == tag:
            fmt = "<H" if kind == 3 else "<I"
            return at + 8, struct.unpack_from(fmt, data, at + 8)[0]
    raise AssertionError(f"no tag {tag}")
