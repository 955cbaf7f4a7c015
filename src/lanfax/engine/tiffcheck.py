"""Check a TIFF before spandsp sees it, so that a bad document is a clear error, not code 41."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from lanfax.model.errors import EngineError

#: Page widths T.30 allows (215/255/303 mm at R8, R16 and 300 dpi-ish variants).
ALLOWED_WIDTHS = frozenset({1728, 2048, 2432, 2592, 3072, 3456, 3648, 4096, 4864})
#: spandsp copies file names into 256-byte buffers and silently truncates longer ones.
MAX_PATH_BYTES = 255
_CONVERT = "convert it with `lanfax convert` (1-bit, 1728 pixels wide, G3/G4 TIFF)"


@dataclass(frozen=True, slots=True)
class TiffPage:
    width: int
    length: int
    x_dpi: float
    y_dpi: float


def check_path_length(path: Path, what: str) -> bytes:
    """The path as bytes for C, or EngineError if spandsp would truncate it."""
    raw = os.fsencode(path)
    if len(raw) > MAX_PATH_BYTES:
        raise EngineError(
            f"{what} path is {len(raw)} bytes long; spandsp truncates paths over "
            f"{MAX_PATH_BYTES} bytes: {path}",
            hint="use a shorter spool directory",
        )
    return raw


def check_tx_tiff(path: Path) -> list[TiffPage]:
    """The pages of a TIFF spandsp can send, or :class:`EngineError` saying what is wrong.

    Checked per page: readable, 1 bit per sample with the BitsPerSample tag present (spandsp
    reads it without a default), one sample per pixel, a width T.30 allows.
    """
    from PIL import Image, ImageSequence, UnidentifiedImageError

    if not path.is_file():
        raise EngineError(f"the document to send does not exist: {path}", hint=_CONVERT)
    pages: list[TiffPage] = []
    try:
        with Image.open(path) as im:
            if im.format != "TIFF":
                raise EngineError(f"{path} is a {im.format} image, not a TIFF", hint=_CONVERT)
            for number, frame in enumerate(ImageSequence.Iterator(im), start=1):
                tags = frame.tag_v2  # type: ignore[attr-defined]
                where = f"{path} page {number}"
                if frame.mode != "1":
                    raise EngineError(
                        f"{where} is {frame.mode!r} ({tags.get(258, '?')} bits per sample), "
                        "a fax page must be 1 bit per pixel",
                        hint=_CONVERT,
                    )
                if 258 not in tags:
                    raise EngineError(
                        f"{where} has no BitsPerSample tag (spandsp cannot read it)",
                        hint=_CONVERT + "; or add the tag: tiffset -s 258 1 FILE",
                    )
                width, length = frame.size
                if width not in ALLOWED_WIDTHS:
                    raise EngineError(
                        f"{where} is {width} pixels wide; T.30 allows "
                        f"{sorted(ALLOWED_WIDTHS)} (1728 for A4/Letter)",
                        hint=_CONVERT,
                    )
                dpi = frame.info.get("dpi", (0.0, 0.0))
                pages.append(TiffPage(width, length, float(dpi[0]), float(dpi[1])))
    except EngineError:
        raise
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise EngineError(f"cannot read the TIFF {path}: {exc}", hint=_CONVERT) from exc
    if not pages:
        raise EngineError(f"{path} has no pages", hint=_CONVERT)
    return pages


def check_rx_path(path: Path) -> None:
    """EngineError unless a received fax can be written at ``path``."""
    parent = path.parent
    if not parent.is_dir():
        raise EngineError(
            f"cannot store the received fax: directory {parent} does not exist",
            hint="create the spool directory or fix its path in the configuration",
        )
    if not os.access(parent, os.W_OK):
        raise EngineError(
            f"cannot store the received fax: directory {parent} is not writable",
            hint="fix the permissions of the spool directory",
        )
