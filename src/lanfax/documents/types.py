"""The value types of :mod:`lanfax.documents`: limits in, results out (plain and picklable)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: Fax page geometry: every output page is this many pixels wide (215 mm at 204 dpi).
FAX_WIDTH = 1728
#: Horizontal resolution of every fax page, dots per inch.
FAX_XDPI = 204
#: Vertical resolution by mode name.
FAX_YDPI: dict[str, int] = {"fine": 196, "standard": 98}
#: A4 page length in rows by mode (what ``gs -g1728x2292`` produces).
A4_LENGTH: dict[str, int] = {"fine": 2292, "standard": 1146}
#: The longest page we emit (ISO B4 length, 364 mm; US Legal at 14 in fits under it).
MAX_LENGTH: dict[str, int] = {"fine": 2809, "standard": 1404}
#: Compression names accepted by :func:`lanfax.documents.convert`.
COMPRESSIONS = ("mh", "mr", "mmr")
RESOLUTIONS = ("fine", "standard")


@dataclass(frozen=True)
class ConversionLimits:
    """Bounds on one conversion, so a hostile file fails with a clear error instead of
    stalling the service.

    ``max_pages``: pages over all inputs; ``max_pixels``: pixels of one input image (checked
    from the header, before decoding); ``timeout``: seconds for the whole conversion (external
    converters get what is left, pdfium is checked between pages); ``max_bytes``: size of each
    input file and of the output.

    ``threads`` is not a bound but how the conversion uses the machine: 2 (the default)
    encodes each page on a second thread while the next page renders, about twice as fast on
    an idle multi-core machine; 1 does both on the calling thread, for a caller that already
    runs one conversion per core (a process pool) where the extra thread would only compete
    for the cores. The output is byte-identical either way.
    """

    max_pages: int = 500
    max_pixels: int = 100_000_000
    timeout: float = 120.0
    max_bytes: int = 100 * 2**20
    threads: int = 2
    office_memory: int = 2 * 2**30


@dataclass(frozen=True)
class ConversionResult:
    """What :func:`lanfax.documents.convert` wrote: a TIFF Class F at ``path``.

    ``width``/``height`` are those of the first page in pixels; ``resolution`` is
    ``"fine"`` or ``"standard"``; ``compression`` is ``"mh"``, ``"mr"`` or ``"mmr"``; ``size`` is
    the file size in bytes; ``warnings`` says what the pages do not show as asked.
    """

    path: Path
    pages: int
    width: int
    height: int
    resolution: str
    compression: str
    size: int
    #: What the pages do not show as the documents asked (a character no installed font has,
    #: an HTML resource left out), for the job; empty when all went as asked.
    warnings: tuple[str, ...] = ()
