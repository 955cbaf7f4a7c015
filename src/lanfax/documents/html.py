"""HTML (e-mail bodies, web pages saved by users) and text in any script, drawn by WeasyPrint.

WeasyPrint lays HTML and CSS out with Pango, which shapes Arabic, orders right-to-left text,
and takes each character from the first font of the CSS list that has it; the result is a PDF
that takes the pdfium path like any other. Nothing is fetched from the network or the file
system: only ``data:`` URLs and the resources the caller hands in (``cid:`` parts of an e-mail)
are loaded; every other reference is left out and named in a warning.

Public entry point for other rooms: :func:`html_to_pdf` (also re-exported as
``lanfax.documents.html_to_pdf``).
"""

from __future__ import annotations

import html as _html
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lanfax.documents import fonts
from lanfax.model.errors import DocumentError

#: Page box for HTML that does not say otherwise: A4, 15 mm margins (the document's own
#: ``@page`` rules win).
_DEFAULT_CSS = "@page { size: A4; margin: 15mm }"


def _fetcher(resources: Mapping[str, tuple[bytes, str]], refused: list[str]) -> Any:
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class Fetcher(URLFetcher):  # type: ignore[misc]
        """data: URLs and the caller's resources; nothing else (no SSRF, no local files)."""

        def fetch(self, url: str, headers: Any = None) -> Any:
            if url in resources:
                data, mime = resources[url]
                return URLFetcherResponse(url, data, {"Content-Type": mime})
            if url.startswith("data:"):
                return super().fetch(url, headers)
            if url not in refused:
                refused.append(url)
            raise ValueError(f"lanfax does not fetch {url}")

    return Fetcher(allowed_protocols=None, allow_redirects=False)


def _import_weasyprint() -> Any:
    """``import weasyprint``, without the global change it makes to Pillow: it sets
    ``ImageFile.LOAD_TRUNCATED_IMAGES``, after which every truncated picture this process
    decodes (a cut-off PNG handed in for faxing) would pass as a half-grey page instead of
    being refused."""
    from PIL import ImageFile

    before = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        import weasyprint
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = before
    return weasyprint


def html_to_pdf(
    source: str | bytes | Path,
    out: Path,
    *,
    resources: Mapping[str, tuple[bytes, str]] | None = None,
    label: str = "the HTML document",
) -> list[str]:
    """Render HTML to the PDF ``out``; returns warnings (resources left out) for the job.

    ``source`` is the HTML as text, as bytes (its ``<meta charset>`` is honoured, UTF-8
    otherwise) or a file path. ``resources`` maps URLs exactly as the HTML writes them (for an
    e-mail: ``"cid:logo@example"``) to ``(content, mime type)``. Pages are A4 with 15 mm margins
    unless the HTML's CSS says otherwise. Raises DocumentError when WeasyPrint is missing or the
    HTML cannot be laid out.
    """
    try:
        weasyprint = _import_weasyprint()
    except ImportError as exc:  # the server extra installs it; a bare client install may not
        raise DocumentError(
            f"{label} is HTML, and rendering it needs WeasyPrint, which is not installed",
            hint="install lanfax with its server extra (pip install 'lanfax[server]'), "
            "or send the page as PDF",
        ) from exc
    refused: list[str] = []
    fetcher = _fetcher(resources or {}, refused)
    try:
        if isinstance(source, Path):
            doc = weasyprint.HTML(filename=str(source), url_fetcher=fetcher)
        elif isinstance(source, bytes):
            doc = weasyprint.HTML(file_obj=io.BytesIO(source), url_fetcher=fetcher)
        else:
            doc = weasyprint.HTML(string=source, url_fetcher=fetcher)
        # Presentational hints: old-style HTML mail sizes and borders with attributes
        # (<img width>, <table border>, bgcolor, align), which CSS-only rendering ignores.
        doc.write_pdf(
            str(out),
            stylesheets=[weasyprint.CSS(string=_DEFAULT_CSS)],
            presentational_hints=True,
        )
    except DocumentError:
        raise
    except Exception as exc:
        raise DocumentError(
            f"{label}: the HTML cannot be laid out ({type(exc).__name__}: {exc})"[:300],
            hint="save the page as PDF (print it to a PDF file) and send that",
        ) from None
    warnings = []
    if refused:
        shown = ", ".join(refused[:5]) + (
            f" and {len(refused) - 5} more" if len(refused) > 5 else ""
        )
        warnings.append(
            f"{label}: {len(refused)} external resource(s) left out (lanfax fetches nothing "
            f"from the network or the disk): {shown}"
        )
    return warnings


# -- text in any script -----------------------------------------------------------------------
def direction(line: str) -> str:
    """``"rtl"`` when the line's first strong character is right-to-left (Hebrew, Arabic),
    else ``"ltr"``: the rule of Unicode's bidi algorithm (P2, P3) for a paragraph's direction,
    decided here because WeasyPrint does not implement ``dir="auto"``."""
    import unicodedata

    for ch in line:
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            return "rtl"
        if kind == "L":
            return "ltr"
    return "ltr"


def text_html(pages: list[list[str]], size: float, leading: float, margin: float) -> str:
    """The HTML of text pages (already paginated and wrapped): monospaced, the font chain of
    :mod:`lanfax.documents.fonts`, each line in its own direction (a Hebrew or Arabic line runs
    right to left), one page per page."""
    families = fonts.css_families()
    css = (
        f"@page {{ size: A4; margin: {margin}pt }}"
        f"body {{ margin: 0; font-family: {families}; font-size: {size}pt;"
        f" line-height: {leading}pt }}"
        ".l { white-space: pre-wrap; min-height: 1em }"
        # Right-to-left lines in the proportional Noto faces made for them: monospaced Arabic
        # (DejaVu Sans Mono has it) is stretched out of shape.
        f'.l[dir="rtl"] {{ font-family: "Noto Sans Arabic", "Noto Sans Hebrew", {families} }}'
        ".p { break-after: page }"
        ".p:last-child { break-after: auto }"
    )
    body = "".join(
        '<div class="p">'
        + "".join(
            f'<div class="l" dir="{direction(line)}">{_html.escape(line)}</div>' for line in page
        )
        + "</div>"
        for page in pages
    )
    head = f'<meta charset="utf-8"><style>{css}</style>'
    return f"<!DOCTYPE html><html><head>{head}</head><body>{body}</body></html>"
