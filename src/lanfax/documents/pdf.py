"""PDF pages rendered by pdfium straight into the fax page's grey raster."""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lanfax.documents.raster import Layout
from lanfax.model.errors import DocumentError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


#: Grey levels below this are black on a PDF page (see :func:`_flags`).
PDF_THRESHOLD = 192


def _flags(resolution: str) -> int:
    """How pdfium draws a page for ``resolution``.

    Fine: smoothed (anti-aliased), then thresholded at :data:`PDF_THRESHOLD` rather than at
    mid-grey, so the thin strokes of small serif text (a third of a pixel wide at 6 pt) stay
    whole. Standard: text and vector paths without anti-aliasing, hinted at 98 lines per inch,
    as Ghostscript's fax devices draw: smoothed, small letters at half the rows fill in (an "a"
    becomes a blob) or break, at any threshold, and rendering at fine then merging row pairs
    (OR) fills the counters in too. Measured with tesseract in docs/documents.md. Images are
    smoothed in both modes, so photos keep their tones for the dithering.
    """
    import pypdfium2.raw as c

    flags = c.FPDF_ANNOT | c.FPDF_GRAYSCALE | c.FPDF_PRINTING
    if resolution != "fine":
        flags |= c.FPDF_RENDER_NO_SMOOTHTEXT | c.FPDF_RENDER_NO_SMOOTHPATH
    return int(flags)


def open_pdf(path: Path, name: str | None = None) -> Any:
    """A ``pypdfium2.PdfDocument`` for ``path``, or DocumentError saying why not."""
    import pypdfium2 as pdfium

    label = name or path.name
    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        text = str(exc)
        if "password" in text.lower():
            raise DocumentError(
                f"{label} is protected by a password",
                hint="remove the password protection (print it to a new PDF) and send it again",
            ) from None
        raise DocumentError(
            f"{label} is not a readable PDF ({text.rstrip('.')})",
            hint="the file is damaged or truncated; export or download it again",
        ) from None
    return pdf


class PdfSource:
    """The pages of one PDF document (opened by pdfium) as fax page rasters."""

    def __init__(
        self, pdf: Any, label: str, keep_alive: Any = None, warnings: list[str] | None = None
    ) -> None:
        self.pdf = pdf
        self.label = label
        self.warnings = list(warnings or ())
        self._keep_alive = keep_alive  # e.g. the PdfBuilder owning embedded font buffers
        try:
            self.pages = len(pdf)
        except Exception as exc:  # pdfium raises its own error types for broken page trees
            raise DocumentError(
                f"{label}: the page tree is damaged", hint="export it again"
            ) from exc
        if self.pages <= 0:
            raise DocumentError(f"{label} has no pages", hint="send a document with pages")

    @classmethod
    def from_path(
        cls, path: Path, label: str | None = None, warnings: list[str] | None = None
    ) -> PdfSource:
        return cls(open_pdf(path, label), label or path.name, warnings=warnings)

    def size_in(self, index: int) -> tuple[float, float]:
        """Page ``index``'s displayed size (after /Rotate) in inches."""
        import pypdfium2.raw as c

        size = c.FS_SIZEF()
        if not c.FPDF_GetPageSizeByIndexF(self.pdf.raw, index, ctypes.byref(size)):
            raise DocumentError(
                f"{self.label}: page {index + 1} cannot be read", hint="export the PDF again"
            )
        w, h = size.width / 72.0, size.height / 72.0
        if not (w > 0.01 and h > 0.01) or w > 200 or h > 200:
            raise DocumentError(
                f"{self.label}: page {index + 1} has an absurd size ({w:.2f} x {h:.2f} in)",
                hint="export the PDF again with a normal page size",
            )
        return w, h

    def bilevel(self, index: int) -> bool:
        return False  # images inside a PDF are smoothed: a page may hold grey

    def threshold(self, resolution: str) -> int | None:
        return PDF_THRESHOLD

    def render(self, index: int, lay: Layout, out: npt.NDArray[np.uint8]) -> None:
        """Draw page ``index`` into ``out`` (a white ``lay.length`` x 1728 uint8 array)."""
        import pypdfium2.raw as c

        length, width = out.shape
        try:
            page = self.pdf[index]
        except Exception as exc:
            raise DocumentError(
                f"{self.label}: page {index + 1} cannot be read", hint="export the PDF again"
            ) from exc
        try:
            pw, ph = page.get_size()
            if lay.rotate:
                # Landscape: the page's top edge goes to the left of the portrait fax page.
                m = c.FS_MATRIX(0, -lay.ch / pw, lay.cw / ph, 0, lay.x0, lay.y0 + lay.ch)
            else:
                m = c.FS_MATRIX(lay.cw / pw, 0, 0, lay.ch / ph, lay.x0, lay.y0)
            clip = c.FS_RECTF(0, 0, width, length)
            bitmap = c.FPDFBitmap_CreateEx(
                width, length, c.FPDFBitmap_Gray, out.ctypes.data_as(ctypes.c_void_p), width
            )
            try:
                c.FPDF_RenderPageBitmapWithMatrix(
                    bitmap,
                    page.raw,
                    ctypes.byref(m),
                    ctypes.byref(clip),
                    _flags(lay.resolution),
                )
            finally:
                c.FPDFBitmap_Destroy(bitmap)
        finally:
            page.close()

    def close(self) -> None:
        self.pdf.close()
