"""OCR helpers for the legibility tests: tesseract (Debian's) on fax pages, scored against the
known text. Independent of lanfax.documents (Pillow reads the TIFF; Ghostscript is the peer)."""

from __future__ import annotations

import difflib
import os
import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

needs_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None, reason="tesseract-ocr not installed"
)

WORDS = [
    "invoice",
    "total",
    "amount",
    "customer",
    "order",
    "delivery",
    "account",
    "number",
    "payment",
    "due",
    "date",
    "telephone",
    "address",
    "street",
    "city",
    "postal",
    "code",
    "reference",
    "quantity",
    "price",
    "unit",
    "balance",
    "shipping",
    "handling",
    "signature",
    "approved",
    "received",
    "Monday",
    "Tuesday",
    "2026",
    "0815",
    "please",
    "contact",
    "regarding",
    "attached",
    "document",
    "minimum",
    "between",
]


def has_language(lang: str) -> bool:
    if shutil.which("tesseract") is None:
        return False
    out = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True).stdout
    return lang in out.split()


def random_lines(seed: int, count: int, fits: object) -> list[str]:
    """``count`` lines of random words; ``fits(line) -> bool`` says whether a line fits."""
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        line = " ".join(rng.choice(WORDS) for _ in range(30))
        while not fits(line):  # type: ignore[operator]
            line = line.rsplit(" ", 1)[0]
        lines.append(line)
    return lines


def tiff_pages(path: Path) -> list[np.ndarray]:
    """Every page of a TIFF as a bool array (True = black)."""
    pages = []
    with Image.open(path) as img:
        for i in range(getattr(img, "n_frames", 1)):
            img.seek(i)
            pages.append(~np.asarray(img.convert("1"), dtype=bool))
    return pages


def ocr(black: np.ndarray, work: Path, *, standard: bool = False, lang: str = "eng",
        psm: int = 6) -> str:  # fmt: skip
    """Tesseract's reading of a fax page. Standard pages get their rows doubled, because
    tesseract expects square pixels (done the same for every converter compared)."""
    img = Image.fromarray(np.where(black, 0, 255).astype(np.uint8), "L")
    if standard:
        img = img.resize((img.width, img.height * 2), Image.Resampling.NEAREST)
    png = work / f"ocr-{os.getpid()}-{random.random():.9f}.png"
    img.save(png, dpi=(204, 196))
    try:
        return subprocess.run(
            ["tesseract", str(png), "-", "-l", lang, "--psm", str(psm)],
            capture_output=True, text=True, check=True, timeout=300,
            env={**os.environ, "OMP_THREAD_LIMIT": "1"},
        ).stdout  # fmt: skip
    finally:
        png.unlink(missing_ok=True)


def accuracy(truth: str, got: str) -> float:
    """Character accuracy: characters of ``truth`` matched in order by ``got`` (difflib
    alignment, whitespace normalised) over the length of ``truth``."""
    want, have = " ".join(truth.split()), " ".join(got.split())
    sm = difflib.SequenceMatcher(None, want, have, autojunk=False)
    return sum(b.size for b in sm.get_matching_blocks()) / max(1, len(want))


def gs_fax(src: Path, out: Path, resolution: str) -> Path:
    """Ghostscript's fax TIFF of ``src`` (PDF or PostScript), the way HylaFAX makes one."""
    ydpi, rows = (196, 2292) if resolution == "fine" else (98, 1146)
    subprocess.run(
        ["gs", "-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", "-sDEVICE=tiffg4", f"-r204x{ydpi}",
         f"-g1728x{rows}", "-dFIXEDMEDIA", "-dPDFFitPage", f"-sOutputFile={out}", str(src)],
        check=True, timeout=300, capture_output=True,
    )  # fmt: skip
    return out
