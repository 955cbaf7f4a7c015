"""A small PDF builder over pdfium's page-object API: text in embedded TrueType fonts,
filled and stroked rectangles, lines. Used for text documents, cover pages and the benchmark
corpus; the result is an in-memory ``pypdfium2.PdfDocument`` that renders or saves.

Coordinates are in points with the origin at the page's top-left corner, y downwards (the way
people lay out a page); text is placed by its baseline.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

from lanfax.documents.raster import MONO_FONT, SANS_BOLD_FONT, SANS_FONT
from lanfax.model.errors import DocumentError

FONTS = {"mono": MONO_FONT, "sans": SANS_FONT, "sans-bold": SANS_BOLD_FONT}
A4_PT = (595.276, 841.89)
LETTER_PT = (612.0, 792.0)


def _wide(text: str) -> Any:
    data = text.encode("utf-16-le") + b"\x00\x00"
    return (ctypes.c_ushort * (len(data) // 2)).from_buffer_copy(data)


class PdfBuilder:
    """Builds a PDF page by page. ``pdf`` is the pypdfium2 document being built."""

    def __init__(self, pdf: Any = None) -> None:
        import pypdfium2 as pdfium

        #: A new document, or an existing one to draw on (see :meth:`use_page`).
        self.pdf = pdf if pdf is not None else pdfium.PdfDocument.new()
        self._fonts: dict[str, Any] = {}
        self._font_data: list[Any] = []  # pdfium keeps pointers into these buffers
        self._page: Any = None
        self._height = 0.0

    def _font(self, name: str) -> Any:
        import pypdfium2.raw as c

        if name not in self._fonts:
            try:
                data = Path(FONTS[name]).read_bytes()
            except OSError as exc:
                raise DocumentError(
                    f"the font {FONTS[name]} is missing",
                    hint="install the Debian package fonts-dejavu-core",
                ) from exc
            buf = (ctypes.c_ubyte * len(data)).from_buffer_copy(data)
            self._font_data.append(buf)
            handle = c.FPDFText_LoadFont(self.pdf.raw, buf, len(data), c.FPDF_FONT_TRUETYPE, 1)
            if not handle:
                raise DocumentError(f"pdfium cannot load the font {FONTS[name]}", hint="bug")
            self._fonts[name] = handle
        return self._fonts[name]

    def new_page(self, width: float = A4_PT[0], height: float = A4_PT[1]) -> None:
        """Start a page (finishing the previous one)."""
        self._finish_page()
        self._page = self.pdf.new_page(width, height)
        self._height = height

    def use_page(self, index: int) -> None:
        """Draw on the existing page ``index`` (finishing the previous one)."""
        self._finish_page()
        self._page = self.pdf[index]
        self._height = self._page.get_height()

    def text(
        self, x: float, baseline: float, text: str, size: float = 10.0, font: str = "sans"
    ) -> None:
        """Draw ``text`` (one line) with its baseline at ``baseline`` points from the top."""
        import pypdfium2.raw as c

        if not text:
            return
        obj = c.FPDFPageObj_CreateTextObj(self.pdf.raw, self._font(font), ctypes.c_float(size))
        c.FPDFText_SetText(obj, _wide(text))
        c.FPDFPageObj_Transform(obj, 1, 0, 0, 1, x, self._height - baseline)
        c.FPDFPage_InsertObject(self._page.raw, obj)

    def rect(
        self,
        x: float,
        top: float,
        w: float,
        h: float,
        *,
        fill: int | None = None,
        stroke: int | None = None,
        line_width: float = 0.5,
    ) -> None:
        """A rectangle; ``fill``/``stroke`` are grey levels 0 (black) .. 255 (white)."""
        import pypdfium2.raw as c

        obj = c.FPDFPageObj_CreateNewRect(x, self._height - top - h, w, h)
        if fill is not None:
            c.FPDFPageObj_SetFillColor(obj, fill, fill, fill, 255)
        if stroke is not None:
            c.FPDFPageObj_SetStrokeColor(obj, stroke, stroke, stroke, 255)
            c.FPDFPageObj_SetStrokeWidth(obj, ctypes.c_float(line_width))
        c.FPDFPath_SetDrawMode(
            obj, c.FPDF_FILLMODE_ALTERNATE if fill is not None else 0, int(stroke is not None)
        )
        c.FPDFPage_InsertObject(self._page.raw, obj)

    def line(self, x0: float, y0: float, x1: float, y1: float, width: float = 0.5) -> None:
        import pypdfium2.raw as c

        obj = c.FPDFPageObj_CreateNewPath(x0, self._height - y0)
        c.FPDFPath_LineTo(obj, x1, self._height - y1)
        c.FPDFPageObj_SetStrokeColor(obj, 0, 0, 0, 255)
        c.FPDFPageObj_SetStrokeWidth(obj, ctypes.c_float(width))
        c.FPDFPath_SetDrawMode(obj, 0, 1)
        c.FPDFPage_InsertObject(self._page.raw, obj)

    def image(self, x: float, top: float, w: float, h: float, picture: Any) -> None:
        """Place a Pillow image scaled into the box ``w`` x ``h`` points at (x, top)."""
        import pypdfium2 as pdfium

        bitmap = pdfium.PdfBitmap.from_pil(picture)
        obj = pdfium.PdfImage.new(self.pdf)
        obj.set_bitmap(bitmap)
        obj.set_matrix(pdfium.PdfMatrix().scale(w, h).translate(x, self._height - top - h))
        self._page.insert_obj(obj)
        self._font_data.append(bitmap)  # alive as long as the document, to be safe

    def _finish_page(self) -> None:
        if self._page is not None:
            self._page.gen_content()
            self._page.close()
            self._page = None

    def finish(self) -> Any:
        """The finished ``pypdfium2.PdfDocument`` (keep this builder alive while using it:
        it owns the font buffers)."""
        self._finish_page()
        return self.pdf

    def save(self, path: Path) -> None:
        self._finish_page()
        self.pdf.save(str(path))


def text_width(text: str, size: float, font: str = "sans") -> float:
    """Advance width of ``text`` in points (Pillow measures with the same TrueType font)."""
    from lanfax.documents.raster import font as load_font

    f = load_font(FONTS[font], 1000)
    return float(f.getlength(text)) * size / 1000.0


# -- plain text documents ---------------------------------------------------------------
TEXT_SIZE = 10.0
TEXT_LEADING = 12.0  # 6 lines per inch
TEXT_MARGIN_X = 54.0  # 0.75 in: 80 columns of 10 pt DejaVu Sans Mono fit in A4 and Letter
TEXT_MARGIN_Y = 54.0
_MONO_ADVANCE = 0.6021  # DejaVu Sans Mono advance width, em


def paginate_text(text: str, page_size: tuple[float, float] = A4_PT) -> list[list[str]]:
    """Lines per page: form feed starts a page, tabs expand to 8 columns, long lines wrap
    (never cut), other control characters are dropped."""
    width, height = page_size
    cols = max(20, int((width - 2 * TEXT_MARGIN_X) / (TEXT_SIZE * _MONO_ADVANCE)))
    rows = max(5, int((height - 2 * TEXT_MARGIN_Y) / TEXT_LEADING))
    pages: list[list[str]] = []
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    for chunk in text.split("\f"):
        page: list[str] = []
        lines = chunk.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        for raw in lines:
            line = "".join(ch for ch in raw.expandtabs(8) if ch >= " " or ch == "\x1b")
            line = line.replace("\x1b", "")
            parts = [line[i : i + cols] for i in range(0, len(line), cols)] or [""]
            for part in parts:
                if len(page) == rows:
                    pages.append(page)
                    page = []
                page.append(part.rstrip())
        pages.append(page)
    # A trailing form feed does not make a blank last page.
    while len(pages) > 1 and not pages[-1]:
        pages.pop()
    return pages


def text_document(text: str, page_size: tuple[float, float] = A4_PT) -> PdfBuilder:
    """A PDF of ``text`` in 10 pt DejaVu Sans Mono, 80+ columns, 6 lines per inch."""
    b = PdfBuilder()
    for lines in paginate_text(text, page_size):
        b.new_page(*page_size)
        for i, line in enumerate(lines):
            b.text(
                TEXT_MARGIN_X, TEXT_MARGIN_Y + TEXT_SIZE + i * TEXT_LEADING, line, TEXT_SIZE, "mono"
            )
    b.finish()
    return b
