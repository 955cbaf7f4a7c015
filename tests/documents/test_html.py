"""HTML rendered by WeasyPrint (not shown as source), nothing fetched from the network."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lanfax.documents import convert, html_to_pdf, identify

from .corpus import bbox
from .ocr import accuracy, needs_tesseract, ocr, tiff_pages

LINES = [
    "Your order 40817 has shipped",
    "The parcel leaves our warehouse on Tuesday",
    "Please keep this message for your records",
]
PAGE = (
    "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Order</title>"
    "<style>body { font-family: 'DejaVu Sans'; font-size: 16pt } h1 { font-size: 22pt }</style>"
    "</head><body><h1>Acme Widgets</h1>" + "".join(f"<p>{line}</p>" for line in LINES) + "</body>"
    "</html>"
)


@pytest.mark.parametrize(
    "start",
    [
        "<!DOCTYPE html>",
        "  <!doctype HTML>",
        "<html>",
        "\ufeff<html lang='en'>",
        "<!-- x --><html>",
    ],
)
def test_html_is_identified(tmp_path: Path, start: str) -> None:
    (tmp_path / "page.txt").write_text(start + "<body><p>hi</p></body></html>", encoding="utf-8")
    assert identify(tmp_path / "page.txt") == "html"


def test_text_mentioning_html_stays_text(tmp_path: Path) -> None:
    (tmp_path / "note.txt").write_text("Use <html> tags in the page.\n", encoding="utf-8")
    assert identify(tmp_path / "note.txt") == "text"
    (tmp_path / "data.xml").write_text("<?xml version='1.0'?><order><id>4</id></order>\n")
    assert identify(tmp_path / "data.xml") == "text"  # XML that is not XHTML is shown as is


@needs_tesseract
@pytest.mark.parametrize("res", ["fine", "standard"])
def test_html_page_is_rendered_not_shown_as_source(tmp_path: Path, res: str) -> None:
    (tmp_path / "mail.html").write_text(PAGE, encoding="utf-8")
    result = convert([tmp_path / "mail.html"], tmp_path / "o.tif", resolution=res)
    assert result.pages == 1 and result.warnings == ()
    text = ocr(tiff_pages(tmp_path / "o.tif")[0], tmp_path, standard=res == "standard", psm=3)
    assert accuracy("Acme Widgets\n" + "\n".join(LINES), text) > 0.95, text
    assert "<p>" not in text and "DOCTYPE" not in text and "font-family" not in text


@pytest.fixture
def web_server() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on loopback that records every request it gets."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/css")
            self.end_headers()
            self.wfile.write(b"body { color: red }")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def test_nothing_is_fetched_and_the_job_is_told(
    tmp_path: Path, web_server: tuple[str, list[str]]
) -> None:
    base, hits = web_server
    page = (
        f"<html><head><link rel='stylesheet' href='{base}/style.css'></head><body>"
        f"<p>Hello</p><img src='{base}/track.png'><img src='file:///etc/passwd'></body></html>"
    )
    (tmp_path / "p.html").write_text(page, encoding="utf-8")
    result = convert([tmp_path / "p.html"], tmp_path / "o.tif")
    assert hits == []  # no request ever reached the server
    (warning,) = result.warnings
    assert "3 external resource(s) left out" in warning
    assert f"{base}/track.png" in warning and "file:///etc/passwd" in warning


def test_inline_cid_image_of_an_email_is_drawn(tmp_path: Path) -> None:
    import io

    square = io.BytesIO()
    Image.new("L", (200, 200), 0).save(square, "PNG")
    page = (
        "<html><body><p>Logo:</p><img src='cid:logo@acme' width='200' height='200'></body></html>"
    )
    warnings = html_to_pdf(
        page, tmp_path / "m.pdf", resources={"cid:logo@acme": (square.getvalue(), "image/png")}
    )
    assert warnings == []
    convert([tmp_path / "m.pdf"], tmp_path / "o.tif")
    (black,) = tiff_pages(tmp_path / "o.tif")
    rows = np.flatnonzero(black.mean(axis=1) > 0.2)  # the square's rows (text rows are lighter)
    cols = np.flatnonzero(black[rows].mean(axis=0) > 0.9)
    side = 200 * 0.75 / 72  # 200 CSS px = 150 pt, in inches
    assert abs(rows.size - side * 196) < 6 and abs(cols.size - side * 204) < 6
    assert bbox(black)[0] < rows[0]  # the "Logo:" line above it


def test_html_bytes_with_their_own_charset(tmp_path: Path) -> None:
    page = "<html><head><meta charset='iso-8859-1'></head><body><p>Grüße</p></body></html>"
    assert html_to_pdf(page.encode("latin-1"), tmp_path / "l.pdf") == []
    assert (tmp_path / "l.pdf").read_bytes().startswith(b"%PDF")
    assert np.isfinite((tmp_path / "l.pdf").stat().st_size)


def test_an_oversized_html_file_is_refused_clearly(tmp_path: Path) -> None:
    from lanfax.documents.pipeline import MAX_LAYOUT_BYTES
    from lanfax.model.errors import DocumentError

    body = "<p>spam</p>" * (MAX_LAYOUT_BYTES // 11 + 1)
    (tmp_path / "big.html").write_text("<html><body>" + body + "</body></html>", encoding="utf-8")
    with pytest.raises(DocumentError, match=r"big\.html is 10\.0 MiB of HTML or text to lay out"):
        convert([tmp_path / "big.html"], tmp_path / "o.tif")
    assert not (tmp_path / "o.tif").exists()


def test_rendering_html_does_not_make_truncated_pictures_acceptable(tmp_path: Path) -> None:
    # WeasyPrint sets Pillow's LOAD_TRUNCATED_IMAGES on import; a worker that rendered an HTML
    # page must still refuse a cut-off PNG afterwards.
    from lanfax.model.errors import DocumentError

    html_to_pdf("<p>hello</p>", tmp_path / "h.pdf")
    Image.new("RGB", (800, 600), (10, 200, 30)).save(tmp_path / "ok.png")
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DocumentError, match=r"cut\.png"):
        convert([tmp_path / "cut.png"], tmp_path / "o.tif")


def test_presentational_attributes_of_old_style_mail_are_honoured(tmp_path: Path) -> None:
    # Mail programs still lay out with attributes (bgcolor, width, height, border), not CSS.
    page = (
        "<html><body><table border='0' cellpadding='0' cellspacing='0'><tr>"
        "<td bgcolor='#000000' width='300' height='300'></td></tr></table></body></html>"
    )
    assert html_to_pdf(page, tmp_path / "m.pdf") == []
    convert([tmp_path / "m.pdf"], tmp_path / "o.tif")
    (black,) = tiff_pages(tmp_path / "o.tif")
    rows = np.flatnonzero(black.mean(axis=1) > 0.1)
    cols = np.flatnonzero(black[rows].mean(axis=0) > 0.9) if rows.size else rows
    side = 300 * 0.75 / 72  # 300 CSS px in inches
    assert abs(rows.size - side * 196) < 8 and abs(cols.size - side * 204) < 8, (
        rows.size,
        cols.size,
    )
