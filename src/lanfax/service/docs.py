"""The documents room's public functions, as the service calls them (with the service's
defaults: MR compression, no header drawn by the converter), and how the service's process
pool of conversions uses the machine (:func:`pool_limits`)."""

from __future__ import annotations

import ctypes
import dataclasses
import os
import resource
import signal
import threading
from collections.abc import Sequence
from pathlib import Path

from lanfax import documents
from lanfax.documents.types import ConversionLimits, ConversionResult


def pool_limits(limits: ConversionLimits, workers: int) -> ConversionLimits:
    """``limits`` for conversions run by a pool of ``workers`` processes.

    One conversion overlaps rendering and encoding on two threads (``ConversionLimits.threads``
    = 2), which nearly doubles its speed when it has the machine to itself. A pool of more than
    one worker already keeps about one conversion per core busy, and a second thread in each
    would only compete with the other workers for the cores, so there each conversion runs on
    one thread. A pool of one keeps the overlap.
    """
    if workers > 1 and limits.threads != 1:
        return dataclasses.replace(limits, threads=1)
    return limits


def _ignore(signum: int, frame: object) -> None:
    """SIGTERM in a conversion worker: the service stops its workers itself."""


def quiet_signals() -> None:
    """A conversion worker's signals (issue #20). Ctrl-C (SIGINT) and systemd's stop (SIGTERM
    to the whole group) reach every process of the group; the service ends its workers itself
    (the pool's shutdown), and a worker killed by either would break the pool under a request
    still being answered. The worker is born ignoring both (see
    ``lanfax.service.submit.start_forkserver_quietly``); here SIGINT stays ignored (so it is
    for the programs it runs: Ctrl-C does not cut a Ghostscript run short) and SIGTERM gets a
    handler that does nothing, because a handler, unlike SIG_IGN or a blocked mask, is not
    passed on to Ghostscript or LibreOffice, which must stay stoppable. SIGKILL still ends a
    worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _ignore)


def worker_init(memory_bytes: int) -> None:
    """Initializer of each conversion worker process (issue #14).

    Its address space is limited to ``memory_bytes`` (RLIMIT_AS), a limit its children
    (Ghostscript, LibreOffice) inherit: a hostile document fails that conversion with a
    MemoryError or a converter's error, instead of drawing the kernel's OOM killer onto the
    machine. Ctrl-C in the service's terminal is the service's to handle (a clean stop), not
    the workers': they ignore SIGINT and SIGTERM (:func:`quiet_signals`) and are stopped by
    the pool's shutdown.
    """
    quiet_signals()
    # A worker dies with its fork server, which dies with the service: a killed service
    # leaves no worker (nor a LibreOffice under it) behind.
    from lanfax.service.forkguard import die_with_parent

    die_with_parent()
    if memory_bytes > 0:
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def convert(
    inputs: Sequence[Path],
    out: Path,
    *,
    resolution: str = "fine",
    limits: ConversionLimits | None = None,
) -> ConversionResult:
    return documents.convert(
        [Path(p) for p in inputs],
        Path(out),
        resolution=resolution,
        compression="mr",
        limits=limits or ConversionLimits(),
    )


def is_fax_ready(path: Path) -> ConversionResult | None:
    return documents.is_fax_ready(Path(path))


def first_page(path: Path) -> tuple[bytes, int, int]:
    return documents.first_page(Path(path))


def check_fax_pages(path: Path, max_length: int) -> tuple[int, str] | None:
    """Why a fax-ready TIFF must not be sent as it is: ``(page, reason)`` for the first page
    (1-based) longer than ``max_length`` rows or whose coded data does not decode cleanly,
    or None when every page is fine (issue #14: pages after the first were not checked).

    Decodes every strip with libtiff and counts libtiff's error reports on this file (a G3/G4
    page with a bad code word is otherwise "decoded" into a garbage page). The errors are
    caught by a handler of this file only (libtiff >= 4.5, ``TIFFOpenExt``), so this may run
    on any thread; with an older libtiff only the lengths are checked.
    """
    from lanfax.documents.tiffio import libtiff, read_tags

    tags = read_tags(path) or []
    for number, page in enumerate(tags, start=1):
        if not 0 < (page.height or 0) <= max_length:
            return number, f"{page.height} rows is longer than any paper ({max_length} rows)"
    lib = libtiff()
    if not hasattr(lib, "TIFFOpenExt"):
        return None
    errors: list[str] = []

    def on_error(
        _tif: int | None, _data: int | None, module: bytes | None, _fmt: bytes | None, _ap: int
    ) -> int:
        errors.append((module or b"").decode("latin-1", "replace"))
        return 1  # handled: nothing reaches the process-wide handler (stderr)

    def on_warning(
        _tif: int | None, _data: int | None, _module: bytes | None, _fmt: bytes | None, _ap: int
    ) -> int:
        return 1  # a warning (a line of the wrong length) is tolerated, as spandsp does

    handler, warn = _ERROR_HANDLER(on_error), _ERROR_HANDLER(on_warning)
    _prototypes(lib)
    options = lib.TIFFOpenOptionsAlloc()
    lib.TIFFOpenOptionsSetErrorHandlerExtR(options, handler, None)
    lib.TIFFOpenOptionsSetWarningHandlerExtR(options, warn, None)
    tif = lib.TIFFOpenExt(os.fsencode(path), b"r", options)
    try:
        if not tif:
            return 1, "the file cannot be read as a TIFF"
        number = 0
        while True:
            number += 1
            size = lib.TIFFStripSize(tif)
            buf = _strip_buffer(max(size, 1))
            for strip in range(lib.TIFFNumberOfStrips(tif)):
                if lib.TIFFReadEncodedStrip(tif, strip, buf, size) < 0 or errors:
                    return number, "its coded data is damaged (it does not decode)"
            if not lib.TIFFReadDirectory(tif):
                break
        return (number, "its directory is damaged") if errors else None
    finally:
        if tif:
            lib.TIFFClose(tif)
        lib.TIFFOpenOptionsFree(options)


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
