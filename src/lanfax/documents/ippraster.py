"""PWG raster (``image/pwg-raster``, PWG 5102.4) and Apple raster (``image/urf``) decoders.

What a driverless desktop (CUPS ``-m everywhere``, macOS AirPrint, Windows IPP Class Driver)
sends when it renders the pages itself. Both formats are a stream of pages, each a header
then run-length coded lines: per line, a byte saying how many extra times the line repeats,
then runs (``0..127``: the next pixel ``n + 1`` times; ``129..255``: ``257 - n`` literal
pixels; URF's ``128``: the rest of the line is white). :func:`decode_pages` yields each page
as a greyscale image (0 black, 255 white) with its resolution, for the converter.

Bounded: a header whose geometry, depth or colour space is not one this module decodes, a
page larger than :data:`MAX_PIXELS`, more than :data:`MAX_PAGES` pages, or data that ends
early or runs past a line raises :class:`RasterError` with a sentence a person can read.
Memory is one page at a time.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

PWG_MIME = "image/pwg-raster"
URF_MIME = "image/urf"
RASTER_FORMATS = (PWG_MIME, URF_MIME)

MAX_PIXELS = 60_000_000  # e.g. A4 at 600 dpi in 8-bit grey is 35 M
MAX_SIDE = 20_000
MAX_PAGES = 500
MAX_DPI = 1200

_PWG_SYNC = b"RaS2"
_URF_SYNC = b"UNIRAST\x00"
_PWG_HEADER = 1796


class RasterError(ValueError):
    """A raster stream this module refuses, and why."""


@dataclass(frozen=True, slots=True)
class RasterPage:
    grey: npt.NDArray[np.uint8]  # (height, width), 0 = black
    xdpi: int
    ydpi: int


def sniff_raster(head: bytes) -> str | None:
    """The raster MIME type ``head`` (the first 8 bytes) starts, or None."""
    if head.startswith(_PWG_SYNC):
        return PWG_MIME
    if head.startswith(_URF_SYNC):
        return URF_MIME
    return None


def _unpack_lines(
    data: bytes, pos: int, width: int, height: int, bpp_bytes: int, bits: int, *, urf: bool
) -> tuple[npt.NDArray[np.uint8], int]:
    """Decode one page's lines starting at ``pos``; (raw rows as bytes, next position)."""
    line_bytes = (width * bits + 7) // 8
    page = np.empty((height, line_bytes), dtype=np.uint8)
    # White for the fill: URF's 0x80 and short pages (0xFF for grey and RGB; 0 for 1-bit K).
    white = 0x00 if bits == 1 else 0xFF
    y = 0
    n = len(data)
    unit = max(1, bpp_bytes)
    while y < height:
        if pos >= n:
            raise RasterError(f"the raster data ends at line {y + 1} of {height}")
        repeat = data[pos] + 1
        pos += 1
        line = bytearray()
        while len(line) < line_bytes:
            if pos >= n:
                raise RasterError(f"the raster data ends inside line {y + 1}")
            code = data[pos]
            pos += 1
            if code < 128:
                px = data[pos : pos + unit]
                if len(px) < unit:
                    raise RasterError(f"the raster data ends inside line {y + 1}")
                pos += unit
                line += px * (code + 1)
            elif code == 128:
                if not urf:
                    raise RasterError(f"line {y + 1} uses the run code 128, which PWG raster lacks")
                line += bytes([white]) * (line_bytes - len(line))
            else:
                count = (257 - code) * unit
                chunk = data[pos : pos + count]
                if len(chunk) < count:
                    raise RasterError(f"the raster data ends inside line {y + 1}")
                pos += count
                line += chunk
            if len(line) > line_bytes:
                raise RasterError(f"line {y + 1} holds more pixels than the page is wide ({width})")
        rows = min(repeat, height - y)
        page[y : y + rows] = np.frombuffer(bytes(line), dtype=np.uint8)
        y += rows
    return page, pos


def _to_grey(raw: npt.NDArray[np.uint8], width: int, bits: int, kind: str) -> npt.NDArray[np.uint8]:
    """Rows of packed pixels to 8-bit grey, 0 black."""
    if bits == 1:  # black_1 (K): a set bit is black; W/sGray: a set bit is white
        unpacked = np.unpackbits(raw, axis=1)[:, :width]
        ink = 1 if kind == "black" else 0
        out: npt.NDArray[np.uint8] = np.where(unpacked == ink, 0, 255).astype(np.uint8)
        return out
    if bits == 8:
        grey = raw[:, :width]
        return (255 - grey).astype(np.uint8) if kind == "black" else grey.copy()
    if bits == 24:
        rgb = raw[:, : width * 3].reshape(raw.shape[0], width, 3).astype(np.uint16)
        # ITU-R BT.601 luma, integers: (77 R + 150 G + 29 B) / 256
        luma = (rgb[..., 0] * 77 + rgb[..., 1] * 150 + rgb[..., 2] * 29) >> 8
        return luma.astype(np.uint8)
    raise RasterError(f"{bits} bits per pixel is not supported")


def _check_geometry(width: int, height: int, xdpi: int, ydpi: int, page: int) -> None:
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise RasterError(f"page {page}: {width} x {height} pixels is not a page size")
    if width * height > MAX_PIXELS:
        raise RasterError(
            f"page {page}: {width} x {height} pixels is more than {MAX_PIXELS} pixels; "
            "print at 300 dpi or less"
        )
    if not (50 <= xdpi <= MAX_DPI and 50 <= ydpi <= MAX_DPI):
        raise RasterError(f"page {page}: a resolution of {xdpi} x {ydpi} dpi is not plausible")


# cupsColorSpace values PWG 5102.4 allows, by (bits per colour, bits per pixel):
# 0 W (white=max), 3 K (black=max), 18 sGray (white=max), 19 sRGB, 1 RGB.
_PWG_SPACES = {0: "white", 18: "white", 3: "black", 1: "rgb", 19: "rgb"}


def _pwg_pages(data: bytes) -> Iterator[RasterPage]:
    pos = 4
    page = 0
    while pos < len(data):
        page += 1
        if page > MAX_PAGES:
            raise RasterError(f"more than {MAX_PAGES} pages")
        header = data[pos : pos + _PWG_HEADER]
        if len(header) < _PWG_HEADER:
            raise RasterError(f"page {page}: the page header is cut short")
        pos += _PWG_HEADER
        xdpi, ydpi = struct.unpack_from(">II", header, 276)
        width, height, _mt, bpc, bpp, bpl, order, space = struct.unpack_from(">8I", header, 372)
        ncolors = struct.unpack_from(">I", header, 420)[0]
        _check_geometry(width, height, xdpi, ydpi, page)
        kind = _PWG_SPACES.get(space)
        if kind is None or order != 0:
            raise RasterError(
                f"page {page}: colour space {space} (order {order}) is not supported; "
                "send sgray_8, black_1 or srgb_8"
            )
        ok = (kind == "rgb" and bpc == 8 and bpp == 24 and ncolors in (0, 3)) or (
            kind != "rgb" and bpc == bpp and bpp in (1, 8) and ncolors in (0, 1)
        )
        if not ok:
            raise RasterError(
                f"page {page}: {bpc} bits per colour, {bpp} bits per pixel in colour "
                f"space {space} is not supported"
            )
        if bpl != (width * bpp + 7) // 8:
            raise RasterError(
                f"page {page}: {bpl} bytes per line does not match {width} pixels of {bpp} bits"
            )
        raw, pos = _unpack_lines(data, pos, width, height, bpp // 8, bpp, urf=False)
        yield RasterPage(_to_grey(raw, width, bpp, kind), xdpi, ydpi)


# URF colour spaces: 0 sGray, 1 sRGB, 4 device grey (W), 5 device RGB.
_URF_SPACES = {0: "white", 4: "white", 1: "rgb", 5: "rgb"}


def _urf_pages(data: bytes) -> Iterator[RasterPage]:
    if len(data) < 12:
        raise RasterError("the URF file header is cut short")
    count = struct.unpack_from(">I", data, 8)[0]
    if count > MAX_PAGES:
        raise RasterError(f"the URF header announces {count} pages, more than {MAX_PAGES}")
    pos = 12
    page = 0
    while pos < len(data):
        page += 1
        if page > MAX_PAGES:
            raise RasterError(f"more than {MAX_PAGES} pages")
        if len(data) - pos < 32:
            raise RasterError(f"page {page}: the page header is cut short")
        bpp, space, _duplex, _quality = data[pos : pos + 4]
        width, height, dpi = struct.unpack_from(">III", data, pos + 12)
        pos += 32
        _check_geometry(width, height, dpi, dpi, page)
        kind = _URF_SPACES.get(space)
        if kind is None or not ((kind == "white" and bpp == 8) or (kind == "rgb" and bpp == 24)):
            raise RasterError(
                f"page {page}: colour space {space} at {bpp} bits per pixel is not supported; "
                "send 8-bit grey (W8) or 24-bit sRGB"
            )
        raw, pos = _unpack_lines(data, pos, width, height, bpp // 8, bpp, urf=True)
        yield RasterPage(_to_grey(raw, width, bpp, kind), dpi, dpi)


def decode_pages(data: bytes, fmt: str) -> Iterator[RasterPage]:
    """The pages of a PWG raster or URF stream, one at a time (RasterError when refused)."""
    if fmt == PWG_MIME:
        if not data.startswith(_PWG_SYNC):
            raise RasterError("a PWG raster stream starts with 'RaS2'; this one does not")
        return _pwg_pages(data)
    if fmt == URF_MIME:
        if not data.startswith(_URF_SYNC):
            raise RasterError(
                "an Apple raster (URF) stream starts with 'UNIRAST'; this one does not"
            )
        return _urf_pages(data)
    raise RasterError(f"{fmt} is not a raster format")


def decode_to_tiff(data: bytes, fmt: str, out: Path) -> int:
    """Decode every page into a multi-page greyscale TIFF at ``out`` (with each page's
    resolution), fsynced; returns the page count."""
    import os

    from PIL import Image

    pages = decode_pages(data, fmt)
    first = next(pages, None)
    if first is None:
        raise RasterError("the raster stream holds no page")

    def image(p: RasterPage) -> Image.Image:
        img = Image.fromarray(p.grey, mode="L")
        img.encoderinfo = {"dpi": (p.xdpi, p.ydpi)}  # per-page resolution for save_all
        img.info["dpi"] = (p.xdpi, p.ydpi)
        return img

    count = 1

    def rest() -> Iterator[Image.Image]:
        nonlocal count
        for p in pages:
            count += 1
            yield image(p)

    try:
        with out.open("w+b") as fh:
            image(first).save(
                fh,
                format="TIFF",
                save_all=True,
                append_images=rest(),
                compression="packbits",
                dpi=(first.xdpi, first.ydpi),
            )
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return count
