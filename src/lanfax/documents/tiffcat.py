"""Concatenate TIFF Class F files page by page without re-encoding (libtiff raw strips).

A cover page goes in front of a broadcast's body once per recipient; decoding and encoding
the body again for every recipient would cost a full conversion each time. Instead each page's
compressed strips are copied as they are (``TIFFReadRawStrip`` -> ``TIFFWriteRawStrip``) with
the tags that describe them, and only PageNumber is rewritten to ``(i, total)``. Raw strips
are copied byte for byte, and libtiff reverses bits only on the encoding path, so the
FillOrder tag copied with them stays true.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from lanfax.documents.tiffio import (
    BITSPERSAMPLE,
    CLEANFAXDATA,
    COMPRESSION,
    COMPRESSION_CCITTFAX3,
    COMPRESSION_CCITTFAX4,
    FILLORDER,
    IMAGELENGTH,
    IMAGEWIDTH,
    PAGENUMBER,
    PHOTOMETRIC,
    RESOLUTIONUNIT,
    ROWSPERSTRIP,
    SAMPLESPERPIXEL,
    SUBFILETYPE,
    T4OPTIONS,
    T6OPTIONS,
    XRESOLUTION,
    YRESOLUTION,
    is_fax_ready,
    libtiff,
)
from lanfax.documents.types import ConversionResult
from lanfax.model.errors import DocumentError

_u = ctypes.c_uint


def _prototypes(lib: ctypes.CDLL) -> None:
    lib.TIFFNumberOfStrips.argtypes = [ctypes.c_void_p]
    lib.TIFFNumberOfStrips.restype = ctypes.c_uint32
    lib.TIFFRawStripSize.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.TIFFRawStripSize.restype = ctypes.c_ssize_t
    lib.TIFFReadRawStrip.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_void_p,
        ctypes.c_ssize_t,
    ]
    lib.TIFFReadRawStrip.restype = ctypes.c_ssize_t
    lib.TIFFWriteRawStrip.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_void_p,
        ctypes.c_ssize_t,
    ]
    lib.TIFFWriteRawStrip.restype = ctypes.c_ssize_t


class _Page:
    """Reads the tags of the current directory of an open TIFF."""

    def __init__(self, lib: ctypes.CDLL, tif: ctypes.c_void_p) -> None:
        self.lib = lib
        self.tif = tif

    def u16(self, tag: int, default: int | None = None) -> int | None:
        v = ctypes.c_uint16()
        return v.value if self.lib.TIFFGetField(self.tif, _u(tag), ctypes.byref(v)) else default

    def u32(self, tag: int, default: int | None = None) -> int | None:
        v = ctypes.c_uint32()
        return v.value if self.lib.TIFFGetField(self.tif, _u(tag), ctypes.byref(v)) else default

    def f32(self, tag: int, default: float) -> float:
        v = ctypes.c_float()
        return v.value if self.lib.TIFFGetField(self.tif, _u(tag), ctypes.byref(v)) else default


def _copy_page(
    lib: ctypes.CDLL, src: ctypes.c_void_p, dst: ctypes.c_void_p, index: int, total: int
) -> None:
    page = _Page(lib, src)

    def put(tag: int, *args: object) -> None:
        if not lib.TIFFSetField(dst, _u(tag), *args):
            raise DocumentError(f"libtiff refused TIFF tag {tag}", hint="this is a lanfax bug")

    comp = page.u16(COMPRESSION, 1) or 1
    height = page.u32(IMAGELENGTH, 0) or 0
    put(SUBFILETYPE, _u(2))
    put(IMAGEWIDTH, _u(page.u32(IMAGEWIDTH, 0) or 0))
    put(IMAGELENGTH, _u(height))
    put(BITSPERSAMPLE, _u(page.u16(BITSPERSAMPLE, 1) or 1))
    put(SAMPLESPERPIXEL, _u(1))
    put(COMPRESSION, _u(comp))  # first: the codec's own tags exist only once it is chosen
    if comp == COMPRESSION_CCITTFAX3:
        put(T4OPTIONS, _u(page.u32(T4OPTIONS, 0) or 0))
    elif comp == COMPRESSION_CCITTFAX4:
        put(T6OPTIONS, _u(page.u32(T6OPTIONS, 0) or 0))
    put(PHOTOMETRIC, _u(page.u16(PHOTOMETRIC, 0) or 0))
    put(FILLORDER, _u(page.u16(FILLORDER, 1) or 1))
    put(ROWSPERSTRIP, _u(page.u32(ROWSPERSTRIP, height) or height))
    put(XRESOLUTION, ctypes.c_double(page.f32(XRESOLUTION, 204.0)))
    put(YRESOLUTION, ctypes.c_double(page.f32(YRESOLUTION, 196.0)))
    put(RESOLUTIONUNIT, _u(page.u16(RESOLUTIONUNIT, 2) or 2))
    put(PAGENUMBER, _u(index), _u(total))
    put(CLEANFAXDATA, _u(0))
    for strip in range(lib.TIFFNumberOfStrips(src)):
        size = lib.TIFFRawStripSize(src, strip)
        if size < 0:
            raise DocumentError("a page's data cannot be read", hint="the TIFF is damaged")
        buf = ctypes.create_string_buffer(max(size, 1))
        got = lib.TIFFReadRawStrip(src, strip, buf, size)
        if got < 0 or lib.TIFFWriteRawStrip(dst, strip, buf, got) < 0:
            raise DocumentError("a page's data cannot be copied", hint="the TIFF is damaged")
    if not lib.TIFFWriteDirectory(dst):
        raise DocumentError("libtiff could not write a page (disk full?)", hint="free disk space")


def concat(inputs: Sequence[Path], out: Path) -> ConversionResult:
    """Write the pages of the TIFF Class F files ``inputs``, in order, to ``out`` (atomically:
    a temporary file in the same directory, fsynced, then renamed), copying the compressed
    data as it is. Every input must be fax-ready (:func:`is_fax_ready`); pages keep their own
    resolution and compression. The result describes the first page and names the first
    input's resolution and compression."""
    lib = libtiff()
    _prototypes(lib)
    ready = []
    for path in inputs:
        r = is_fax_ready(Path(path))
        if r is None:
            raise DocumentError(
                f"{Path(path).name} is not a TIFF Class F file",
                hint="convert it first (lanfax convert)",
            )
        ready.append(r)
    if not ready:
        raise DocumentError("no pages to put together", hint="give at least one TIFF file")
    total = sum(r.pages for r in ready)
    out = Path(out)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        dst = lib.TIFFOpen(os.fsencode(tmp), b"w")
        if not dst:
            raise DocumentError(f"cannot create the TIFF file {out}", hint="check the directory")
        dst_h = ctypes.c_void_p(dst)
        try:
            index = 0
            for r in ready:
                src = lib.TIFFOpen(os.fsencode(r.path), b"r")
                if not src:
                    raise DocumentError(f"cannot open {r.path.name}", hint="check the file")
                src_h = ctypes.c_void_p(src)
                try:
                    for _ in range(r.pages):
                        _copy_page(lib, src_h, dst_h, index, total)
                        index += 1
                        if index < total and not lib.TIFFReadDirectory(src_h):
                            break
                finally:
                    lib.TIFFClose(src_h)
        finally:
            lib.TIFFClose(dst_h)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    first = ready[0]
    return ConversionResult(
        out, total, first.width, first.height, first.resolution, first.compression,
        out.stat().st_size,
    )  # fmt: skip
