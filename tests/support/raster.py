"""Encoders of PWG raster and Apple raster (URF) streams for tests (what a driverless
desktop sends), written from PWG 5102.4 and the URF layout, independent of the decoder."""

from __future__ import annotations

import struct

import numpy as np
import numpy.typing as npt


def _runs(line: bytes, unit: int) -> bytes:
    """PackBits-like runs over pixels of ``unit`` bytes: repeats where pixels repeat,
    literals elsewhere (at most 128 pixels per run)."""
    px = [line[i : i + unit] for i in range(0, len(line), unit)]
    out = bytearray()
    i = 0
    while i < len(px):
        j = i
        while j + 1 < len(px) and px[j + 1] == px[i] and j - i < 127:
            j += 1
        if j > i:
            out.append(j - i)  # repeat: the pixel (j - i + 1) times
            out += px[i]
            i = j + 1
            continue
        k = i
        while k + 1 < len(px) and px[k + 1] != px[k] and k - i < 127:
            k += 1
        count = k - i + 1
        if count == 1:  # a lone pixel: a run of one
            out.append(0)
            out += px[i]
            i += 1
            continue
        out.append(257 - count)
        out += b"".join(px[i : i + count])
        i += count
    return bytes(out)


def _lines(rows: npt.NDArray[np.uint8], unit: int) -> bytes:
    out = bytearray()
    y = 0
    while y < len(rows):
        n = 1
        while y + n < len(rows) and n < 256 and np.array_equal(rows[y + n], rows[y]):
            n += 1
        out.append(n - 1)
        out += _runs(rows[y].tobytes(), unit)
        y += n
    return bytes(out)


def pwg_header(width: int, height: int, dpi: int, bits: int = 8, space: int = 18) -> bytes:
    h = bytearray(1796)
    struct.pack_into(">II", h, 276, dpi, dpi)
    struct.pack_into(">II", h, 352, width * 72 // dpi, height * 72 // dpi)
    bpl = (width * bits + 7) // 8
    ncolors = 3 if space in (1, 19) else 1
    bpc = 8 if ncolors == 3 else bits
    struct.pack_into(">8I", h, 372, width, height, 0, bpc, bits, bpl, 0, space)
    struct.pack_into(">I", h, 420, ncolors)
    h[1732 : 1732 + 16] = b"iso_a4_210x297mm"
    return bytes(h)


def pwg_raster(pages: list[npt.NDArray[np.uint8]], dpi: int = 200) -> bytes:
    """8-bit sGray pages (0 black)."""
    out = bytearray(b"RaS2")
    for page in pages:
        height, width = page.shape
        out += pwg_header(width, height, dpi)
        out += _lines(page, 1)
    return bytes(out)


def pwg_black1(page: npt.NDArray[np.uint8], dpi: int = 200) -> bytes:
    """One 1-bit black_1 page from a grey page (below 128 is black)."""
    height, width = page.shape
    bits = np.packbits((page < 128).astype(np.uint8), axis=1)
    return b"RaS2" + pwg_header(width, height, dpi, bits=1, space=3) + _lines(bits, 1)


def urf(pages: list[npt.NDArray[np.uint8]], dpi: int = 200) -> bytes:
    """8-bit grey (W8) URF pages."""
    out = bytearray(b"UNIRAST\x00" + struct.pack(">I", len(pages)))
    for page in pages:
        height, width = page.shape
        out += struct.pack(">BBBBIIIIIII", 8, 0, 1, 4, 0, 0, width, height, dpi, 0, 0)
        out += _lines(page, 1)
    return bytes(out)
