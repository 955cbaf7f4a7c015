"""Raster inputs (TIFF, PNG, JPEG, GIF, BMP, WebP) through Pillow.

Dimensions are checked against the pixel limit from the header, before any pixel is decoded,
so a decompression bomb costs nothing. A TIFF contributes every page; the other formats
contribute their first frame.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lanfax.documents.raster import Layout
from lanfax.model.errors import DocumentError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from PIL import Image


def _plausible_dpi(info: Mapping[Any, Any]) -> tuple[float, float]:
    dpi = info.get("dpi")
    try:
        x, y = float(dpi[0]), float(dpi[1])  # type: ignore[index]
    except (TypeError, ValueError, IndexError):
        return 1.0, 1.0
    if 10 <= x <= 10_000 and 10 <= y <= 10_000:
        return x, y
    return 1.0, 1.0  # absent or nonsense: assume square pixels


class ImageSource:
    """The pages of one raster file as fax page rasters."""

    def __init__(self, path: Path, kind: str, label: str, max_pixels: int, max_pages: int) -> None:
        from PIL import Image

        self.label = label
        self.warnings: list[str] = []
        self.max_pixels = max_pixels
        self._kind = kind
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                self.img: Image.Image = Image.open(path)
        except Image.DecompressionBombError as exc:
            # Pillow refuses absurd sizes itself, before our own check can run.
            m = re.search(r"\((\d+) pixels\)", str(exc))
            size = f"{int(m.group(1)):,} pixels" if m else "too many pixels"
            raise DocumentError(
                f"{label}: the image is {size}, over the limit of {max_pixels:,}",
                hint="scale the image down (200-300 dpi is plenty for fax) and send it again",
            ) from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise DocumentError(
                f"{label} is not a readable {kind.upper()} image ({exc})",
                hint="the file is damaged or truncated; save or download it again",
            ) from None
        if kind == "tiff":
            try:
                # n_frames walks the directory chain only; stop counting past the page limit.
                self.pages = int(getattr(self.img, "n_frames", 1))
            except (OSError, SyntaxError, ValueError, EOFError, TypeError, KeyError) as exc:
                raise DocumentError(
                    f"{label}: the TIFF's page directory is damaged ({exc})",
                    hint="save the TIFF again",
                ) from None
        else:
            self.pages = 1
        if self.pages > max_pages:
            raise DocumentError(
                f"{label} has {self.pages} pages, more than the limit of {max_pages}",
                hint="split the document into smaller faxes",
            )
        self._checked = -1

    def _seek(self, index: int) -> Image.Image:
        try:
            if index != self.img.tell():
                self.img.seek(index)
        except (EOFError, OSError, ValueError) as exc:
            raise DocumentError(
                f"{self.label}: page {index + 1} cannot be read ({exc})", hint="save it again"
            ) from None
        w, h = self.img.size
        if w <= 0 or h <= 0:
            raise DocumentError(f"{self.label}: page {index + 1} is empty (0 pixels)", hint="")
        if w * h > self.max_pixels:
            raise DocumentError(
                f"{self.label}: page {index + 1} is {w} x {h} = {w * h:,} pixels, "
                f"over the limit of {self.max_pixels:,}",
                hint="scale the image down (200-300 dpi is plenty for fax) and send it again",
            )
        return self.img

    def size_in(self, index: int) -> tuple[float, float]:
        img = self._seek(index)
        xd, yd = _plausible_dpi(img.info)
        return img.size[0] / xd, img.size[1] / yd

    def bilevel(self, index: int) -> bool:
        return self._seek(index).mode == "1"

    def threshold(self, resolution: str) -> int | None:
        return None  # binarize's default: 128 at fine, 192 at standard

    def _grey(self, img: Image.Image, size: tuple[int, int]) -> Image.Image:
        """``img`` as an 8-bit grey image, transparency composited on white paper."""
        import numpy as np
        from PIL import Image

        if img.format == "JPEG":
            img.draft("L", size)  # decode at a reduced scale when much larger than needed
        img.load()
        mode = img.mode
        if mode in ("L", "1"):
            return img.convert("L")
        if mode == "P":
            img = img.convert("RGBA" if "transparency" in img.info else "RGB")
            mode = img.mode
        if mode in ("RGBA", "LA", "PA", "La", "RGBa"):
            rgba = img.convert("RGBA")
            paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(paper, rgba).convert("L")
        if mode.startswith("I") or mode == "F":
            arr = np.asarray(img, dtype=np.float32)
            top = float(arr.max()) if arr.size else 0.0
            scaled = arr * (255.0 / top) if top > 0 else arr
            return Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8), "L")
        if mode not in ("RGB", "CMYK"):
            img = img.convert("RGB")
        return img.convert("L")

    def render(self, index: int, lay: Layout, out: npt.NDArray[np.uint8]) -> None:
        """Draw page ``index`` into ``out`` (a white ``lay.length`` x 1728 uint8 array)."""
        import numpy as np
        from PIL import Image

        img = self._seek(index)
        bilevel = img.mode == "1"
        target = (lay.ch, lay.cw) if lay.rotate else (lay.cw, lay.ch)
        try:
            grey = self._grey(img, target)
        except (OSError, SyntaxError, ValueError, MemoryError) as exc:
            raise DocumentError(
                f"{self.label}: page {index + 1} cannot be decoded ({exc})",
                hint="the file is damaged or truncated; save or download it again",
            ) from None
        if lay.rotate:
            grey = grey.transpose(Image.Transpose.ROTATE_90)  # counter-clockwise: top -> left
        if grey.size != (lay.cw, lay.ch):
            up = lay.cw >= grey.size[0] and lay.ch >= grey.size[1]
            if bilevel:
                # Bilevel stays sharp: replicate pixels going up, average (then threshold
                # generously) going down so thin strokes survive.
                method = Image.Resampling.NEAREST if up else Image.Resampling.BOX
                grey = grey.resize((lay.cw, lay.ch), method)
            else:
                grey = grey.resize(
                    (lay.cw, lay.ch),
                    Image.Resampling.BICUBIC if up else Image.Resampling.LANCZOS,
                    reducing_gap=None if up else 2.0,
                )
        pixels = np.asarray(grey, dtype=np.uint8)
        if lay.x0 < 0:  # a page up to 1 % wider than the line: its side margins are cut
            pixels = pixels[:, -lay.x0 : -lay.x0 + out.shape[1]]
        x0 = max(0, lay.x0)
        out[lay.y0 : lay.y0 + lay.ch, x0 : x0 + pixels.shape[1]] = pixels

    def close(self) -> None:
        self.img.close()
