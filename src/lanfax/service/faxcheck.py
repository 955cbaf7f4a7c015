"""Whether a submitted TIFF can be sent as it is: its tags and every page's coded data, in one
pass over the file (#19).

A fax-ready TIFF (Class F on every page, the pages agreeing on resolution and compression;
:func:`lanfax.documents.is_fax_ready`) is sent as it is, without a conversion. It must still
be checked to the last page (issue #14): a page longer than any paper goes to the converter
(which fits it to paper), and a page whose G3/G4 data does not decode is refused, naming the
page (libtiff would otherwise "decode" a bad code word into a garbage page).

Before #19 the submission opened the file three times (the tags for the fast path, the tags
again and the strips for the check) and made some 40 ctypes calls per one-page fax, each of
which let go of the GIL and had to win it back from the event loop (a futex round each, and
up to a switch interval of waiting). Here the file is opened once; the short calls (tags,
directories, open and close) keep the GIL (a :class:`ctypes.PyDLL` handle on the same
library), and only decoding a strip, the real work, lets it go.

Errors are caught by a handler of this file only (libtiff >= 4.5, ``TIFFOpenExt``), so this
may run on any thread; with an older libtiff the tags are read as before and only the page
lengths are checked.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lanfax.documents import tiffio
from lanfax.documents.tiffio import PageTags, classify_page
from lanfax.documents.types import FAX_WIDTH, ConversionResult

#: Most directories read (as :func:`lanfax.documents.tiffio.read_tags`): a file claiming
#: more is a bomb, refused by the page limit long before.
MAX_DIRECTORIES = 10_000
DAMAGED = "its coded data is damaged (it does not decode)"
DAMAGED_DIRECTORY = "its directory is damaged"


@dataclass(frozen=True, slots=True)
class Scan:
    """What one pass over a TIFF found.

    ``ready`` is :func:`lanfax.documents.is_fax_ready`'s answer (None: not a TIFF, not
    Class F, pages that disagree, or a first page longer than any paper: convert it).
    ``bad`` (only with ``ready``) is why it must not be sent as it is: ``(page, reason)``
    for the first page (1-based) longer than any paper (the reason says "rows": convert
    it) or whose coded data does not decode (refuse it); None when every page is fine.
    Pages after ``max_pages`` are counted, not decoded (the page limit refuses them)."""

    ready: ConversionResult | None
    bad: tuple[int, str] | None = None


def scan(path: Path, max_length: Mapping[str, int], max_pages: int) -> Scan:
    """Check the TIFF at ``path`` (blocking; any thread). ``max_length``: the most rows a
    page may have at each resolution (``lanfax.documents.types.MAX_LENGTH``)."""
    api = _api()
    if api is None:  # libtiff < 4.5: no handler of our own, the old path (lengths only)
        return _scan_without_handler(path, max_length)
    held, free, options = api
    # libtiff calls the handlers on the thread that made the call: each thread reports into
    # its own list (#19: the handlers and the open options are made once, not per check).
    errors: list[str] = []
    _reports.errors = errors
    try:
        # "m": read, not mapped (#19: a mapping of a small file cost an mmap, its page
        # faults and an munmap, which stops every other thread of the process on its way).
        tif = held.TIFFOpenExt(os.fsencode(path), b"rm", options)
        if not tif:  # not a TIFF at all (its magic, its header): the converter's business
            return Scan(None)
        try:
            return _walk(held, free, tif, path, errors, max_length, max_pages)
        finally:
            held.TIFFClose(tif)
    finally:
        _reports.errors = None


def _walk(
    held: ctypes.CDLL,
    free: ctypes.CDLL,
    tif: int,
    path: Path,
    errors: list[str],
    max_length: Mapping[str, int],
    max_pages: int,
) -> Scan:
    """Every directory of the open ``tif``: its tags, and its strips decoded until the
    first bad page."""
    handle = ctypes.c_void_p(tif)
    if held.TIFFIsBigTIFF(handle):
        return Scan(None)  # spandsp reads classic TIFF only (and so did the tag check)
    kind: tuple[str, str] | None = None
    first: PageTags | None = None
    too_long: tuple[int, str] | None = None  # wins over damage: the converter fits it
    damaged: tuple[int, str] | None = None
    number = 0
    while True:
        number += 1
        before = len(errors)
        tags = _read_page_tags(held, handle)
        del errors[before:]  # a tag a directory lacks is not damage
        page_kind = classify_page(tags)
        if page_kind is None or (kind is not None and page_kind != kind):
            return Scan(None)  # not Class F throughout: converted (is_fax_ready's None)
        rows = max_length.get(page_kind[0], 0)
        if first is None:
            kind, first = page_kind, tags
            if not 0 < (tags.height or 0) <= rows:
                return Scan(None)  # a first page longer than any paper: converted
        elif too_long is None and not 0 < (tags.height or 0) <= rows:
            too_long = number, f"{tags.height} rows is longer than any paper ({rows} rows)"
        fine = too_long is None and damaged is None and number <= max_pages
        if fine and not _decodes(held, free, handle, errors):
            damaged = number, DAMAGED
        if number >= MAX_DIRECTORIES or not held.TIFFReadDirectory(handle):
            break
    bad = too_long or damaged
    if bad is None and errors:
        bad = number, DAMAGED_DIRECTORY
    assert first is not None and kind is not None
    ready = ConversionResult(
        path=path,
        pages=number,
        width=FAX_WIDTH,
        height=first.height or 0,
        resolution=kind[0],
        compression=kind[1],
        size=path.stat().st_size,
    )
    return Scan(ready, bad)


def _read_page_tags(lib: ctypes.CDLL, handle: ctypes.c_void_p) -> PageTags:
    """The current directory's Class F tags (as :func:`lanfax.documents.tiffio.read_tags`)."""
    u16, u32, f32 = ctypes.c_uint16(), ctypes.c_uint32(), ctypes.c_float()
    get = lib.TIFFGetField

    def short(tag: int) -> int | None:
        return u16.value if get(handle, ctypes.c_uint(tag), ctypes.byref(u16)) else None

    def long(tag: int) -> int | None:
        return u32.value if get(handle, ctypes.c_uint(tag), ctypes.byref(u32)) else None

    def real(tag: int) -> float | None:
        return f32.value if get(handle, ctypes.c_uint(tag), ctypes.byref(f32)) else None

    comp = short(tiffio.COMPRESSION)
    return PageTags(
        width=long(tiffio.IMAGEWIDTH),
        height=long(tiffio.IMAGELENGTH),
        bits_per_sample=short(tiffio.BITSPERSAMPLE),
        samples_per_pixel=short(tiffio.SAMPLESPERPIXEL),
        compression=comp,
        photometric=short(tiffio.PHOTOMETRIC),
        # Asking a non-G3 directory for Group3Options is an error in libtiff.
        t4options=long(tiffio.T4OPTIONS) if comp == tiffio.COMPRESSION_CCITTFAX3 else None,
        xres=real(tiffio.XRESOLUTION),
        yres=real(tiffio.YRESOLUTION),
        resolution_unit=short(tiffio.RESOLUTIONUNIT),
        fillorder=short(tiffio.FILLORDER),
    )


def _decodes(
    held: ctypes.CDLL, free: ctypes.CDLL, handle: ctypes.c_void_p, errors: list[str]
) -> bool:
    """Whether every strip of the current directory decodes without an error report."""
    fill = _nofill()
    if fill is not None:
        # Decode without writing pixels (nobody reads them): libtiff's G3/G4 fill was
        # ~13 % of a submission's instructions. Set per directory (each resets its codec).
        before = len(errors)
        if not held.TIFFSetField(handle, ctypes.c_uint(_FAXFILLFUNC), ctypes.c_void_p(fill)):
            del errors[before:]  # not a G3/G4 directory: decoded with libtiff's own fill
    size = held.TIFFStripSize(handle)
    buf = _strip_buffer(max(size, 1))
    for strip in range(held.TIFFNumberOfStrips(handle)):
        # The GIL is let go here only: the decode is the work (about half a millisecond
        # for a fine A4 page), everything else is a short call.
        if free.TIFFReadEncodedStrip(handle, strip, buf, size) < 0 or errors:
            return False
    return True


def _scan_without_handler(path: Path, max_length: Mapping[str, int]) -> Scan:
    """libtiff < 4.5: the tags (is_fax_ready) and every page's length, no decoding."""
    ready = tiffio.is_fax_ready(path)
    if ready is None or not 0 < ready.height <= max_length.get(ready.resolution, 0):
        return Scan(None)
    rows = max_length[ready.resolution]
    for number, page in enumerate(tiffio.read_tags(path) or [], start=1):
        if not 0 < (page.height or 0) <= rows:
            return Scan(
                ready, (number, f"{page.height} rows is longer than any paper ({rows} rows)")
            )
    return Scan(ready)


#: libtiff's pseudo-tag for the G3/G4 decoder's fill function (tiff.h TIFFTAG_FAXFILLFUNC).
_FAXFILLFUNC = 65540
_fill: list[int | None] = []


def _nofill() -> int | None:
    """The engine's no-op fill function (its compiled helper), None without the helper or
    with ``LANFAX_FAXCHECK_FILL=1`` (libtiff's own fill, as before)."""
    if not _fill:
        address = None
        if os.environ.get("LANFAX_FAXCHECK_FILL", "") in ("", "0"):
            from lanfax.engine import fax_nofill_address

            address = fax_nofill_address()
        _fill.append(address)
    return _fill[0]


#: #19: each thread's strip buffer, kept between checks up to this size (a fine A4 page is
#: one 495 KB strip; a fresh buffer each time cost an mmap, its page faults and a memset).
_KEPT_BUFFER = 1 << 20
_buffers = threading.local()


def _strip_buffer(size: int) -> ctypes.Array[ctypes.c_char]:
    """A buffer of at least ``size`` bytes for libtiff to decode a strip into (its content
    is never read: only whether the strip decodes). Reused by this thread when small."""
    if size > _KEPT_BUFFER:
        return ctypes.create_string_buffer(size)
    buf: ctypes.Array[ctypes.c_char] | None = getattr(_buffers, "buf", None)
    if buf is None or len(buf) < size:
        buf = ctypes.create_string_buffer(_KEPT_BUFFER)
        _buffers.buf = buf
    return buf


#: int (*TIFFErrorHandlerExtR)(TIFF*, void*, const char* module, const char* fmt, va_list)
_ERROR_HANDLER = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_void_p,
)

#: Where the handlers put this thread's error reports while it checks a file (None: not
#: checking; a report then goes nowhere, as the handlers say it was handled).
_reports = threading.local()


def _on_error(
    _tif: int | None, _data: int | None, module: bytes | None, _fmt: bytes | None, _ap: int
) -> int:
    errors: list[str] | None = getattr(_reports, "errors", None)
    if errors is not None:
        errors.append((module or b"").decode("latin-1", "replace"))
    return 1  # handled: nothing reaches the process-wide handler (stderr)


def _on_warning(
    _tif: int | None, _data: int | None, _module: bytes | None, _fmt: bytes | None, _ap: int
) -> int:
    return 1  # a warning (a line of the wrong length) is tolerated, as spandsp does


#: (held, free, open options): see :func:`_api`.
_Api = tuple[ctypes.CDLL, ctypes.CDLL, int]
_libs: _Api | None = None
_libs_lock = threading.Lock()
#: The C callbacks of the open options, kept alive as long as the options (the process).
_handlers = (_ERROR_HANDLER(_on_error), _ERROR_HANDLER(_on_warning))


def _api() -> _Api | None:
    """(libtiff through a handle that keeps the GIL, the same libtiff through one that lets
    it go, the open options every check shares: this module's handlers), with the
    prototypes of the calls made here; None without ``TIFFOpenExt``. libtiff copies the
    options into each TIFF it opens, so one options object serves every thread."""
    global _libs
    if _libs is not None:
        return _libs
    free = tiffio.libtiff()
    if not hasattr(free, "TIFFOpenExt"):
        return None
    with _libs_lock:
        if _libs is None:
            held = ctypes.PyDLL(free._name)  # the same library, loaded once by the process
            _prototypes(held)
            _prototypes(free)
            options = held.TIFFOpenOptionsAlloc()
            if not options:
                raise MemoryError("libtiff could not allocate its open options")
            held.TIFFOpenOptionsSetErrorHandlerExtR(options, _handlers[0], None)
            held.TIFFOpenOptionsSetWarningHandlerExtR(options, _handlers[1], None)
            _libs = held, free, options
    return _libs


def _prototypes(lib: ctypes.CDLL) -> None:
    lib.TIFFOpenOptionsAlloc.restype = ctypes.c_void_p
    lib.TIFFOpenOptionsAlloc.argtypes = []
    lib.TIFFOpenOptionsFree.restype = None
    lib.TIFFOpenOptionsFree.argtypes = [ctypes.c_void_p]
    for name in ("TIFFOpenOptionsSetErrorHandlerExtR", "TIFFOpenOptionsSetWarningHandlerExtR"):
        fn = getattr(lib, name)
        fn.restype = None
        fn.argtypes = [ctypes.c_void_p, _ERROR_HANDLER, ctypes.c_void_p]
    lib.TIFFOpenExt.restype = ctypes.c_void_p
    lib.TIFFOpenExt.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p]
    lib.TIFFClose.restype = None
    lib.TIFFClose.argtypes = [ctypes.c_void_p]
    lib.TIFFReadDirectory.restype = ctypes.c_int
    lib.TIFFReadDirectory.argtypes = [ctypes.c_void_p]
    lib.TIFFIsBigTIFF.restype = ctypes.c_int
    lib.TIFFIsBigTIFF.argtypes = [ctypes.c_void_p]
    lib.TIFFGetField.restype = ctypes.c_int
    lib.TIFFNumberOfStrips.restype = ctypes.c_uint32
    lib.TIFFNumberOfStrips.argtypes = [ctypes.c_void_p]
    lib.TIFFStripSize.restype = ctypes.c_ssize_t
    lib.TIFFStripSize.argtypes = [ctypes.c_void_p]
    lib.TIFFReadEncodedStrip.restype = ctypes.c_ssize_t
    lib.TIFFReadEncodedStrip.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_void_p,
        ctypes.c_ssize_t,
    ]
