"""Page data for people and for the console: FaxGetPageData's first page, thumbnails and
received faxes as PDF."""

from __future__ import annotations

import io
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from lanfax.documents.types import FAX_WIDTH, ConversionLimits
from lanfax.model.errors import DocumentError

if TYPE_CHECKING:
    from PIL import Image


def _open_tiff(path: Path) -> Image.Image:
    from PIL import Image

    from lanfax.documents.sniff import identify

    if identify(path) != "tiff":
        raise DocumentError(f"{path.name} is not a TIFF", hint="give a fax TIFF file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(path)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DocumentError(
            f"{path.name} is not a readable TIFF ({exc})", hint="the file is damaged"
        ) from None


def readable_pages(img: Image.Image) -> int:
    """How many pages of a TIFF can be read, in order: a receive cut while it wrote a page
    leaves a last directory without its tags, and the pages before it are still the fax."""
    n = 0
    limit = ConversionLimits().max_pages + 1  # enough to tell "too many"
    while n < limit:
        try:
            img.seek(n)
        except EOFError:
            break
        except (OSError, SyntaxError, ValueError, TypeError, KeyError):
            break
        n += 1
    img.seek(0)
    return n


def _dpi(img: Image.Image) -> tuple[float, float]:
    from lanfax.documents.images import _plausible_dpi

    x, y = _plausible_dpi(img.info)
    return (204.0, 196.0) if (x, y) == (1.0, 1.0) else (x, y)


def _load(img: Image.Image, index: int, label: str) -> Image.Image:
    limits = ConversionLimits()
    try:
        img.seek(index)
    except (EOFError, ValueError):
        raise DocumentError(
            f"{label} has no page {index + 1}",
            hint=f"pages are numbered from 0 to {readable_pages(img) - 1}",
        ) from None
    except (OSError, SyntaxError, TypeError, KeyError) as exc:
        raise DocumentError(
            f"{label}: page {index + 1} cannot be read ({exc})",
            hint="the file is damaged or was cut while it was written",
        ) from None
    w, h = img.size
    if w * h > limits.max_pixels:
        raise DocumentError(
            f"{label}: page {index + 1} is {w} x {h} pixels, over the limit",
            hint=f"at most {limits.max_pixels:,} pixels per page",
        )
    try:
        img.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise DocumentError(
            f"{label}: page {index + 1} cannot be decoded ({exc})", hint="the file is damaged"
        ) from None
    return img


def first_page(path: Path) -> tuple[bytes, int, int]:
    """See :func:`lanfax.documents.first_page`. A Class F input keeps its resolution and
    compression; anything else is converted like :func:`lanfax.documents.convert` would
    (fine, MMR), but only its first page."""
    import numpy as np

    from lanfax.documents.pipeline import Source, _Deadline, open_source, render_pages
    from lanfax.documents.tiffio import FaxTiffWriter, is_fax_ready

    ready = is_fax_ready(path)
    with tempfile.TemporaryDirectory(prefix="lanfax-page-") as work:
        out = Path(work) / "page1.tif"
        if ready is not None:
            img = _load(_open_tiff(path), 0, path.name)
            with img:
                black = ~np.asarray(img.convert("1"), dtype=bool)
            height = black.shape[0]
            yres = 196 if ready.resolution == "fine" else 98
            with FaxTiffWriter(out, ready.compression, yres, 1) as w:
                w.add_packed(np.packbits(black, axis=1), FAX_WIDTH, height)
        else:
            limits = ConversionLimits()
            src: Source = open_source(path, limits, _Deadline(limits.timeout), Path(work))
            try:
                src.pages = 1  # only the first page is wanted
                with FaxTiffWriter(out, "mmr", 196, 1) as w:
                    for packed, height in render_pages([src], "fine", None):
                        w.add_packed(packed, FAX_WIDTH, height)
            finally:
                src.close()
        return out.read_bytes(), FAX_WIDTH, height


def thumbnail_png(path: Path, page: int = 0, width: int = 300) -> bytes:
    """See :func:`lanfax.documents.thumbnail_png`."""
    from PIL import Image

    if not 16 <= width <= 4000:
        raise DocumentError(f"thumbnail width {width} is out of range", hint="use 16 to 4000")
    if page < 0:
        raise DocumentError(f"page {page} does not exist", hint="pages are numbered from 0")
    with _open_tiff(path) as img:
        _load(img, page, path.name)
        xd, yd = _dpi(img)
        aspect = (img.height / yd) / (img.width / xd)
        height = max(1, round(width * aspect))
        thumb = img.convert("L").resize((width, height), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    thumb.save(buf, "PNG", optimize=False)
    return buf.getvalue()


def tiff_to_pdf(path: Path, out: Path) -> None:
    """See :func:`lanfax.documents.tiff_to_pdf`. Pages whose resolution differs from the
    first page's are resampled to it, so every page keeps its physical size (a PDF written by
    Pillow has one resolution). Bilevel pages are stored CCITT G4 compressed."""
    from PIL import Image

    with _open_tiff(path) as img:
        n = readable_pages(img)
        if n == 0:
            raise DocumentError(f"{path.name} has no readable page", hint="the file is damaged")
        if n > ConversionLimits().max_pages:
            raise DocumentError(f"{path.name} has {n} pages", hint="too many pages for a PDF")
        pages: list[Image.Image] = []
        dpi = (204.0, 196.0)
        for i in range(n):
            frame = _load(img, i, path.name)
            xd, yd = _dpi(frame)
            if i == 0:
                dpi = (xd, yd)
            page = frame.copy() if frame.mode in ("1", "L", "RGB") else frame.convert("RGB")
            if (xd, yd) != dpi:
                size = (round(page.width * dpi[0] / xd), round(page.height * dpi[1] / yd))
                page = page.resize(size, Image.Resampling.NEAREST)
            pages.append(page)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        pages[0].save(tmp, "PDF", save_all=True, append_images=pages[1:], dpi=dpi)
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DocumentError(f"cannot write {out} ({exc.strerror})", hint="check the path") from None
