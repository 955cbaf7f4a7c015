"""The conversion pipeline: inputs -> sources -> per page (layout, render, binarise, header)
-> libtiff writer -> atomic rename. See :func:`lanfax.documents.convert` for the contract."""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from lanfax.documents.raster import Layout, binarize, header_band, layout
from lanfax.documents.sniff import identify
from lanfax.documents.types import (
    COMPRESSIONS,
    FAX_WIDTH,
    FAX_YDPI,
    RESOLUTIONS,
    ConversionLimits,
    ConversionResult,
)
from lanfax.model.errors import DocumentError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from lanfax.documents.tiffio import FaxTiffWriter


class Source(Protocol):
    """Pages of one input, rendered onto fax page rasters."""

    label: str
    pages: int
    warnings: list[str]  # for the job: what was not drawn as the document asked

    def size_in(self, index: int) -> tuple[float, float]: ...
    def bilevel(self, index: int) -> bool: ...
    def threshold(self, resolution: str) -> int | None: ...
    def render(self, index: int, lay: Layout, out: npt.NDArray[np.uint8]) -> None: ...
    def close(self) -> None: ...


def check_options(resolution: str, compression: str, threads: int = 2) -> None:
    if resolution not in RESOLUTIONS:
        raise DocumentError(
            f"unknown resolution {resolution!r}", hint="use 'fine' (204x196) or 'standard' (204x98)"
        )
    if compression not in COMPRESSIONS:
        raise DocumentError(
            f"unknown compression {compression!r}",
            hint="use 'mh' (G3 1-D), 'mr' (G3 2-D) or 'mmr' (G4)",
        )
    if threads not in (1, 2):
        raise DocumentError(
            f"ConversionLimits.threads is {threads!r}",
            hint="use 2 (render and encode overlapped, the default) or 1 (one thread, for a "
            "process pool with one conversion per core)",
        )


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def check(self, what: str) -> None:
        if self.left() <= 0:
            raise DocumentError(
                f"conversion took longer than the time limit of {self.seconds:g} s ({what})",
                hint="send fewer or simpler pages, or ask the administrator to raise the limit",
            )


#: HTML, and text that needs Pango, are laid out by WeasyPrint in one go (no check of the time
#: limit between pages), so their size is bounded more tightly than other inputs'.
MAX_LAYOUT_BYTES = 10 * 2**20


def _check_layout_size(label: str, size: int) -> None:
    if size > MAX_LAYOUT_BYTES:
        raise DocumentError(
            f"{label} is {size / 2**20:.1f} MiB of HTML or text to lay out, over the limit of "
            f"{MAX_LAYOUT_BYTES / 2**20:.0f} MiB",
            hint="send it as PDF, or in several parts",
        )


def open_source(path: Path, limits: ConversionLimits, deadline: _Deadline, workdir: Path) -> Source:
    """Identify ``path`` and open it as a page source (running gs/soffice when needed)."""
    label = path.name
    kind = identify(path)
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise DocumentError(
            f"{label} is {size / 2**20:.1f} MiB, over the limit of "
            f"{limits.max_bytes / 2**20:.1f} MiB",
            hint="send a smaller file (compress images, or split the document)",
        )
    if kind in ("tiff", "png", "jpeg", "gif", "bmp", "webp"):
        from lanfax.documents.images import ImageSource

        return ImageSource(path, kind, label, limits.max_pixels, limits.max_pages)

    from lanfax.documents.pdf import PdfSource

    if kind == "pdf":
        return PdfSource.from_path(path, label)
    if kind == "text":
        from lanfax.documents import fonts
        from lanfax.documents.pdfgen import text_document

        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise DocumentError(
                f"{label} is not valid UTF-8 text", hint="save it as UTF-8 and send it again"
            ) from None
        if not fonts.needs_layout(text):
            builder = text_document(text)  # the fast path: one font has every character
            return PdfSource(builder.pdf, label, keep_alive=builder)
        from lanfax.documents.html import html_to_pdf, text_html
        from lanfax.documents.pdfgen import (
            TEXT_LEADING,
            TEXT_MARGIN_Y,
            TEXT_SIZE,
            paginate_text,
        )

        _check_layout_size(label, size)
        warnings = [w for w in [fonts.missing_warning(text, label)] if w]
        pdf_path = workdir / f"text-{id(path)}.pdf"
        html_to_pdf(
            text_html(paginate_text(text), TEXT_SIZE, TEXT_LEADING, TEXT_MARGIN_Y),
            pdf_path,
            label=label,
        )
        return PdfSource.from_path(pdf_path, label, warnings)
    if kind == "html":
        from lanfax.documents.html import html_to_pdf

        _check_layout_size(label, size)

        pdf_path = workdir / f"html-{id(path)}.pdf"
        warnings = html_to_pdf(path, pdf_path, label=label)
        return PdfSource.from_path(pdf_path, label, warnings)
    if kind == "postscript":
        from lanfax.documents.external import postscript_to_pdf

        pdf_path = workdir / f"ps-{id(path)}.pdf"
        postscript_to_pdf(
            path, pdf_path, timeout=deadline.left(), max_pages=limits.max_pages, label=label
        )
        return PdfSource.from_path(pdf_path, label)
    if kind == "office":
        from lanfax.documents.external import office_to_pdf

        sub = Path(tempfile.mkdtemp(dir=workdir))
        pdf = office_to_pdf(
            path, sub, timeout=deadline.left(), label=label, memory=limits.office_memory
        )
        return PdfSource.from_path(pdf, label)
    raise DocumentError(f"{label}: unsupported kind {kind}", hint="this is a lanfax bug")


def render_pages(
    sources: Sequence[Source],
    resolution: str,
    header: str | None,
    deadline: _Deadline | None = None,
) -> Iterator[tuple[npt.NDArray[np.uint8], int]]:
    """Yield ``(packed rows, height)`` for every page of ``sources`` in order."""
    import numpy as np

    total = sum(s.pages for s in sources)
    n = 0
    # One grey and one black buffer per page length, reused page after page: each page's
    # black rows are packed before the next page is drawn.
    buffers: dict[int, tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]] = {}
    for src in sources:
        for i in range(src.pages):
            if deadline is not None:
                deadline.check(f"at page {n + 1} of {total}")
            lay = layout(*src.size_in(i), resolution)
            pair = buffers.get(lay.length)
            if pair is None:
                shape = (lay.length, FAX_WIDTH)
                pair = buffers[lay.length] = (np.empty(shape, np.uint8), np.empty(shape, np.bool_))
            grey, bits = pair
            grey.fill(255)
            src.render(i, lay, grey)
            black = binarize(
                grey,
                resolution,
                bilevel=src.bilevel(i),
                threshold=src.threshold(resolution),
                out=bits,
            )
            n += 1
            if header is not None:
                black = with_header(black, header_band(header, n, total, resolution))
            yield np.packbits(black, axis=1), black.shape[0]


def with_header(black: npt.NDArray[np.bool_], band: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """``black`` with the branding ``band`` on top.

    As on other fax machines the header is printed over the page's top margin, so a page that
    fits is never shrunk for it. Only when the page has ink that high (a few rows below the
    band included, so header and content never touch) does the page move down by the band's
    height instead, and the fax page gets that much longer; nothing is covered or shrunk.
    """
    import numpy as np

    rows = band.shape[0]
    if black[: rows + rows // 8].any():
        black = np.concatenate([np.zeros((rows, black.shape[1]), np.bool_), black])
    black[:rows] = band
    return black


def _write_serial(pages: Iterator[tuple[npt.NDArray[np.uint8], int]], writer: FaxTiffWriter) -> int:
    """Render and encode each page in turn on this thread. Returns the first page's height."""
    first_height = 0
    for packed, height in pages:
        first_height = first_height or height
        writer.add_packed(packed, FAX_WIDTH, height)
    return first_height


def _write_overlapped(
    pages: Iterator[tuple[npt.NDArray[np.uint8], int]], writer: FaxTiffWriter
) -> int:
    """Encode pages on a second thread while this one renders the next page.

    Rendering (pdfium) and CCITT encoding (libtiff) each take about half of a text page's
    time and both release the GIL, so overlapping them nearly doubles one conversion's
    speed on a multi-core machine. Only this thread ever calls pdfium (it is not
    thread-safe); the writer thread only calls libtiff. Returns the first page's height.
    """
    done: queue.Queue[tuple[npt.NDArray[np.uint8], int] | None] = queue.Queue(maxsize=3)
    failed: list[BaseException] = []

    def encode() -> None:
        while (item := done.get()) is not None:
            if failed:
                continue  # keep draining so the producer never blocks on a dead consumer
            try:
                writer.add_packed(item[0], FAX_WIDTH, item[1])
            except BaseException as exc:
                failed.append(exc)

    thread = threading.Thread(target=encode, name="lanfax-tiff-encode", daemon=True)
    thread.start()
    first_height = 0
    try:
        for packed, height in pages:
            first_height = first_height or height
            done.put((packed, height))
            if failed:
                break
    finally:
        done.put(None)
        thread.join()
    if failed:
        raise failed[0]
    return first_height


def convert(
    inputs: Sequence[Path],
    out: Path,
    *,
    resolution: str,
    compression: str,
    limits: ConversionLimits,
    header: str | None,
) -> ConversionResult:
    """See :func:`lanfax.documents.convert`."""
    from lanfax.documents.tiffio import FaxTiffWriter

    check_options(resolution, compression, limits.threads)
    if not inputs:
        raise DocumentError("no documents to convert", hint="give at least one input file")
    deadline = _Deadline(limits.timeout)
    out = Path(out)
    if not out.parent.is_dir():
        raise DocumentError(
            f"cannot write {out}: the directory does not exist", hint="create it first"
        )
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    sources: list[Source] = []
    try:
        with tempfile.TemporaryDirectory(prefix="lanfax-doc-") as work:
            for path in inputs:
                sources.append(open_source(Path(path), limits, deadline, Path(work)))
                total = sum(s.pages for s in sources)
                if total > limits.max_pages:
                    raise DocumentError(
                        f"the documents have {total}+ pages, more than the limit of "
                        f"{limits.max_pages}",
                        hint="split them into several faxes",
                    )
            total = sum(s.pages for s in sources)
            first_height = 0
            with FaxTiffWriter(tmp, compression, FAX_YDPI[resolution], total) as writer:
                pages = render_pages(sources, resolution, header, deadline)
                write = _write_overlapped if limits.threads > 1 else _write_serial
                first_height = write(pages, writer)
        size = tmp.stat().st_size
        if size > limits.max_bytes:
            raise DocumentError(
                f"the fax would be {size / 2**20:.1f} MiB, over the limit of "
                f"{limits.max_bytes / 2**20:.1f} MiB",
                hint="send fewer pages, or use standard resolution",
            )
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    finally:
        for s in sources:
            try:
                s.close()
            except Exception:
                # The fax is written (or the error that stopped it is on its way): a source
                # that fails to let go of its file or library handle is worth a log line,
                # not the conversion.
                logging.getLogger("lanfax.outbound").warning(
                    "could not close %s after converting it", s.label, exc_info=True
                )
    return ConversionResult(
        warnings=tuple(w for s in sources for w in s.warnings),
        path=out,
        pages=total,
        width=FAX_WIDTH,
        height=first_height,
        resolution=resolution,
        compression=compression,
        size=size,
    )
