"""TIFF Class F input and output over the system ``libtiff.so.6`` (ctypes).

Why not Pillow's writer: it writes mode "1" as min-is-black, mangles PageNumber and packs bits
in a slow per-pixel step (see docs/documents.md). libtiff encodes straight from the packed rows
numpy gives us, and sets every tag the way fax software (and spandsp) expects.

libtiff's ``TIFFSetField``/``TIFFGetField`` are variadic; ctypes calls them with explicitly
typed arguments (``c_uint``/``c_double``), which is what the C default promotions require.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from lanfax.documents.types import FAX_WIDTH, ConversionResult
from lanfax.model.errors import DocumentError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

# TIFF tag numbers and values (TIFF 6.0 and RFC 2306, "TIFF-F").
SUBFILETYPE = 254
IMAGEWIDTH = 256
IMAGELENGTH = 257
BITSPERSAMPLE = 258
COMPRESSION = 259
PHOTOMETRIC = 262
FILLORDER = 266
SAMPLESPERPIXEL = 277
ROWSPERSTRIP = 278
XRESOLUTION = 282
YRESOLUTION = 283
T4OPTIONS = 292
T6OPTIONS = 293
RESOLUTIONUNIT = 296
PAGENUMBER = 297
CLEANFAXDATA = 327

COMPRESSION_CCITTFAX3 = 3
COMPRESSION_CCITTFAX4 = 4
#: Our compression names -> (TIFF Compression, Group3Options or None).
#: T4Options bit 0 = 2-D coding, bit 2 = EOLs byte-aligned (fill bits), as gs writes them.
CODECS: dict[str, tuple[int, int | None]] = {
    "mh": (COMPRESSION_CCITTFAX3, 4),
    "mr": (COMPRESSION_CCITTFAX3, 5),
    "mmr": (COMPRESSION_CCITTFAX4, None),
}

_lib: ctypes.CDLL | None = None


def libtiff() -> ctypes.CDLL:
    """The system libtiff, loaded once, with the prototypes of the calls we make."""
    global _lib
    if _lib is None:
        # The soname first: find_library runs ldconfig in a subprocess (a few ms of every
        # ``lanfax convert``), so it is only asked when the soname is not there.
        try:
            lib = ctypes.CDLL("libtiff.so.6")
        except OSError:
            try:
                lib = ctypes.CDLL(ctypes.util.find_library("tiff") or "libtiff.so.6")
            except OSError as exc:
                raise DocumentError(
                    "the TIFF library (libtiff) cannot be loaded",
                    hint="install the Debian package libtiff6",
                ) from exc
        lib.TIFFOpen.restype = ctypes.c_void_p
        lib.TIFFOpen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        lib.TIFFClose.argtypes = [ctypes.c_void_p]
        lib.TIFFClose.restype = None
        lib.TIFFWriteEncodedStrip.argtypes = [
            ctypes.c_void_p,
            ctypes.c_uint32,
            ctypes.c_void_p,
            ctypes.c_ssize_t,
        ]
        lib.TIFFWriteEncodedStrip.restype = ctypes.c_ssize_t
        lib.TIFFWriteDirectory.argtypes = [ctypes.c_void_p]
        lib.TIFFWriteDirectory.restype = ctypes.c_int
        lib.TIFFNumberOfDirectories.argtypes = [ctypes.c_void_p]
        lib.TIFFNumberOfDirectories.restype = ctypes.c_uint32
        lib.TIFFSetDirectory.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.TIFFSetDirectory.restype = ctypes.c_int
        lib.TIFFReadDirectory.argtypes = [ctypes.c_void_p]
        lib.TIFFReadDirectory.restype = ctypes.c_int
        lib.TIFFSetField.restype = ctypes.c_int
        lib.TIFFGetField.restype = ctypes.c_int
        _lib = lib
    return _lib


def _u(v: int) -> ctypes.c_uint:
    return ctypes.c_uint(v)


class FaxTiffWriter:
    """Writes a multi-page TIFF Class F page by page from packed 1-bit rows.

    ``compression`` is ``"mh"``, ``"mr"`` or ``"mmr"``; ``yres`` 196 (fine) or 98 (standard);
    ``pages`` is the total, written into every page's PageNumber as ``(i, pages)``. Rows are
    packed MSB first with bit 1 = black (Photometric min-is-white), exactly what
    ``np.packbits(black, axis=1)`` returns. Use as a context manager.
    """

    def __init__(
        self, path: Path, compression: str, yres: int, pages: int, *, fillorder: int = 1
    ) -> None:
        if compression not in CODECS:
            raise DocumentError(
                f"unknown compression {compression!r}", hint="use one of: mh, mr, mmr"
            )
        self._lib = libtiff()
        self._codec = CODECS[compression]
        self._yres = yres
        self._pages = pages
        self._fillorder = fillorder
        self._index = 0
        handle = self._lib.TIFFOpen(os.fsencode(path), b"w")
        if not handle:
            raise DocumentError(
                f"cannot create the TIFF file {path}",
                hint="check that the directory exists and is writable",
            )
        self._tif: int | None = handle

    def _set(self, tag: int, *args: Any) -> None:
        if not self._lib.TIFFSetField(ctypes.c_void_p(self._tif), _u(tag), *args):
            raise DocumentError(f"libtiff refused TIFF tag {tag}", hint="this is a lanfax bug")

    def add_packed(self, packed: npt.NDArray[np.uint8], width: int, height: int) -> None:
        """Append one page: ``packed`` is C-contiguous ``(height, ceil(width / 8))`` uint8."""
        if self._tif is None:
            raise ValueError("writer is closed")
        comp, t4 = self._codec
        self._set(SUBFILETYPE, _u(2))
        self._set(IMAGEWIDTH, _u(width))
        self._set(IMAGELENGTH, _u(height))
        self._set(BITSPERSAMPLE, _u(1))
        self._set(SAMPLESPERPIXEL, _u(1))
        # Compression first: Group3Options only exists once the G3 codec is selected.
        self._set(COMPRESSION, _u(comp))
        if t4 is not None:
            self._set(T4OPTIONS, _u(t4))
        self._set(PHOTOMETRIC, _u(0))
        self._set(FILLORDER, _u(self._fillorder))
        self._set(ROWSPERSTRIP, _u(height))
        self._set(XRESOLUTION, ctypes.c_double(204.0))
        self._set(YRESOLUTION, ctypes.c_double(float(self._yres)))
        self._set(RESOLUTIONUNIT, _u(2))
        self._set(PAGENUMBER, _u(self._index), _u(self._pages))
        self._set(CLEANFAXDATA, _u(0))
        buf = packed.ctypes.data_as(ctypes.c_void_p)
        if self._lib.TIFFWriteEncodedStrip(ctypes.c_void_p(self._tif), 0, buf, packed.nbytes) < 0:
            raise DocumentError("libtiff could not encode a page", hint="this is a lanfax bug")
        if not self._lib.TIFFWriteDirectory(ctypes.c_void_p(self._tif)):
            raise DocumentError(
                "libtiff could not write a page (disk full?)", hint="free disk space and retry"
            )
        self._index += 1

    def close(self) -> None:
        if self._tif is not None:
            self._lib.TIFFClose(ctypes.c_void_p(self._tif))
            self._tif = None

    def __enter__(self) -> FaxTiffWriter:
        return self

    def __exit__(
        self,
        et: type[BaseException] | None,
        ev: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@dataclass(frozen=True)
class PageTags:
    """The tags of one TIFF directory that decide whether it is Class F (None = absent)."""

    width: int | None
    height: int | None
    bits_per_sample: int | None
    samples_per_pixel: int | None
    compression: int | None
    photometric: int | None
    t4options: int | None
    xres: float | None
    yres: float | None
    resolution_unit: int | None
    fillorder: int | None


def _is_tiff_magic(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return False
    return head in (b"II*\x00", b"MM\x00*")


def read_tags(path: Path, max_pages: int = 10_000) -> list[PageTags] | None:
    """The Class F relevant tags of every page of the TIFF at ``path``; None when the file is
    not a TIFF libtiff can open. Reads directories only, never image data."""
    if not _is_tiff_magic(path):
        return None
    lib = libtiff()
    tif = lib.TIFFOpen(os.fsencode(path), b"r")
    if not tif:
        return None
    handle = ctypes.c_void_p(tif)
    pages: list[PageTags] = []
    try:
        while True:

            def u16(tag: int) -> int | None:
                v = ctypes.c_uint16()
                return v.value if lib.TIFFGetField(handle, _u(tag), ctypes.byref(v)) else None

            def u32(tag: int) -> int | None:
                v = ctypes.c_uint32()
                return v.value if lib.TIFFGetField(handle, _u(tag), ctypes.byref(v)) else None

            def f32(tag: int) -> float | None:
                v = ctypes.c_float()
                return v.value if lib.TIFFGetField(handle, _u(tag), ctypes.byref(v)) else None

            comp = u16(COMPRESSION)
            pages.append(
                PageTags(
                    width=u32(IMAGEWIDTH),
                    height=u32(IMAGELENGTH),
                    bits_per_sample=u16(BITSPERSAMPLE),
                    samples_per_pixel=u16(SAMPLESPERPIXEL),
                    compression=comp,
                    photometric=u16(PHOTOMETRIC),
                    # Asking a non-G3 directory for Group3Options is an error in libtiff.
                    t4options=u32(T4OPTIONS) if comp == COMPRESSION_CCITTFAX3 else None,
                    xres=f32(XRESOLUTION),
                    yres=f32(YRESOLUTION),
                    resolution_unit=u16(RESOLUTIONUNIT),
                    fillorder=u16(FILLORDER),
                )
            )
            if len(pages) >= max_pages or not lib.TIFFReadDirectory(handle):
                break
    finally:
        lib.TIFFClose(handle)
    return pages


def _dpi(value: float | None, unit: int | None) -> float | None:
    if value is None:
        return None
    if unit == 3:  # centimetre
        return value * 2.54
    return value


def classify_page(tags: PageTags) -> tuple[str, str] | None:
    """``(resolution, compression)`` when the page is valid Class F, else None."""
    if tags.width != FAX_WIDTH or not tags.height or tags.bits_per_sample != 1:
        return None
    if tags.samples_per_pixel not in (None, 1) or tags.photometric != 0:
        return None
    xdpi, ydpi = _dpi(tags.xres, tags.resolution_unit), _dpi(tags.yres, tags.resolution_unit)
    if xdpi is None or ydpi is None or not 200 <= xdpi <= 208:
        return None
    if 192 <= ydpi <= 200:
        resolution = "fine"
    elif 96 <= ydpi <= 100:
        resolution = "standard"
    else:
        return None
    if tags.compression == COMPRESSION_CCITTFAX4:
        return resolution, "mmr"
    if tags.compression == COMPRESSION_CCITTFAX3:
        return resolution, ("mr" if (tags.t4options or 0) & 1 else "mh")
    return None


def is_fax_ready(path: Path) -> ConversionResult | None:
    """See :func:`lanfax.documents.is_fax_ready`. Pages must agree on resolution and
    compression (the result can only name one of each); anything else returns None."""
    tags = read_tags(path)
    if not tags:
        return None
    kinds = [classify_page(t) for t in tags]
    first = kinds[0]
    if first is None or any(k != first for k in kinds):
        return None
    height = tags[0].height or 0
    return ConversionResult(
        path=path,
        pages=len(tags),
        width=FAX_WIDTH,
        height=height,
        resolution=first[0],
        compression=first[1],
        size=path.stat().st_size,
    )
