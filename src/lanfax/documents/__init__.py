"""lanfax.documents: whatever a user hands in becomes TIFF Class F fax pages.

Importing this package is cheap: numpy, pypdfium2 and Pillow are imported by the functions
that need them. Every function raises :class:`lanfax.model.errors.DocumentError` (message says
what was wrong, hint says what to do) for bad input; nothing else escapes for bad input.

Public API (all arguments are plain picklable values, so :func:`convert` can run in a process
pool):

- :func:`identify` -- the kind of a file, by content.
- :func:`convert` -- inputs, concatenated in order, to one multi-page TIFF Class F.
- :func:`is_fax_ready` -- a cheap tag check: can this TIFF be sent as it is?
- :func:`first_page` -- FaxGetPageData: page 1 as a one-page TIFF Class F.
- :func:`tiff_to_pdf` -- a received fax as a PDF for people.
- :func:`thumbnail_png` -- a page as a PNG thumbnail for the console.
- :func:`html_to_pdf` -- HTML (an e-mail body) to PDF, fetching nothing from the network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from lanfax.documents.types import ConversionLimits, ConversionResult

__all__ = [
    "ConversionLimits",
    "ConversionResult",
    "convert",
    "first_page",
    "html_to_pdf",
    "identify",
    "is_fax_ready",
    "thumbnail_png",
    "tiff_to_pdf",
]

_DEFAULT_LIMITS = ConversionLimits()


def identify(path: Path) -> str:
    """The kind of ``path`` judged by its content, not its name.

    One of ``"pdf"``, ``"postscript"``, ``"tiff"``, ``"png"``, ``"jpeg"``, ``"gif"``,
    ``"bmp"``, ``"webp"``, ``"text"``, ``"html"``, ``"office"``. Raises DocumentError when the
    file is missing, empty or of no kind we can convert.
    """
    from lanfax.documents.sniff import identify as _identify

    return _identify(Path(path))


def convert(
    inputs: Sequence[Path],
    out: Path,
    *,
    resolution: str = "fine",
    compression: str = "mr",
    limits: ConversionLimits = _DEFAULT_LIMITS,
    header: str | None = None,
) -> ConversionResult:
    """Convert ``inputs`` (concatenated in order) into one multi-page TIFF Class F at ``out``.

    ``resolution`` is ``"fine"`` (204x196 dpi, A4 = 1728x2292) or ``"standard"`` (204x98);
    ``compression`` is ``"mh"`` (G3 1-D), ``"mr"`` (G3 2-D) or ``"mmr"`` (G4). ``header``, when
    given, is drawn in a band at the top of every page followed by "page n of m"; page content
    is shrunk so the band never covers it. ``out`` is written atomically (temporary file in
    the same directory, then rename), so it either is complete or does not exist.
    Raises DocumentError for bad input and for any exceeded ``limits``.
    """
    from lanfax.documents.pipeline import convert as _convert

    return _convert(
        [Path(p) for p in inputs],
        Path(out),
        resolution=resolution,
        compression=compression,
        limits=limits,
        header=header,
    )


def html_to_pdf(
    source: str | bytes | Path,
    out: Path,
    *,
    resources: Mapping[str, tuple[bytes, str]] | None = None,
    label: str = "the HTML document",
) -> list[str]:
    """Render HTML (text, bytes with its own ``<meta charset>``, or a file) to the PDF ``out``
    with WeasyPrint; returns warnings for the job (resources left out).

    Nothing is fetched from the network or the disk: only ``data:`` URLs and ``resources``,
    which maps a URL exactly as the HTML writes it (``"cid:logo@example"`` for an e-mail's
    inline part) to ``(content, mime type)``. A4 with 15 mm margins unless the HTML's CSS says
    otherwise. The PDF then goes to :func:`convert` like any other document (or hand the HTML
    file to :func:`convert` directly: it is identified as ``"html"``).
    """
    from lanfax.documents.html import html_to_pdf as _html_to_pdf

    return _html_to_pdf(source, Path(out), resources=resources, label=label)


def is_fax_ready(path: Path) -> ConversionResult | None:
    """A :class:`ConversionResult` when ``path`` is already a valid TIFF Class F (every page
    1-bit, 1728 wide, 204x98 or 204x196, G3/G4, min-is-white, BitsPerSample present), else
    None. Reads tags only (no decoding), so the service can skip re-encoding cheaply."""
    from lanfax.documents.tiffio import is_fax_ready as _is_fax_ready

    return _is_fax_ready(Path(path))


def first_page(path: Path) -> tuple[bytes, int, int]:
    """FaxGetPageData: the first page of the TIFF at ``path`` as a one-page TIFF Class F
    (the bytes of the file), with its width and height in pixels."""
    from lanfax.documents.pages import first_page as _first_page

    return _first_page(Path(path))


def tiff_to_pdf(path: Path, out: Path) -> None:
    """Write the fax TIFF at ``path`` as a PDF at ``out`` (one PDF page per fax page, at the
    page's true physical size, so a standard-resolution page is not squashed)."""
    from lanfax.documents.pages import tiff_to_pdf as _tiff_to_pdf

    _tiff_to_pdf(Path(path), Path(out))


def thumbnail_png(path: Path, page: int = 0, width: int = 300) -> bytes:
    """Page ``page`` (0-based) of the TIFF at ``path`` as PNG bytes ``width`` pixels wide,
    with the physical aspect ratio restored (standard-resolution pages are stretched 2x)."""
    from lanfax.documents.pages import thumbnail_png as _thumbnail_png

    return _thumbnail_png(Path(path), page, width)
