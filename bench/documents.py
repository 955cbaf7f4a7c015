"""Benchmark: lanfax.documents.convert against Ghostscript on the same generated PDFs.

Prints pages/s for one process and for two workers (fine and standard, G4 and G3-2D), and OCR
character accuracy (Debian's tesseract) of our pages and Ghostscript's pages against the known
text. Run: ``.venv/bin/python bench/documents.py [--pages 30] [--ocr-pages 3]``.

"warm" is our in-process conversion time (imports done, PDF opening included), which is what
a worker of the service's process pool sees; gs is timed as a whole process, as it is run.
One process converts with the default two threads (render and encode overlapped); the 2-worker
column uses one thread per conversion, as the service's pool does (``service.docs.pool_limits``),
and the "2 threads" column shows the same pool with the overlap left on, for comparison.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import difflib
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from lanfax.documents import ConversionLimits, convert
from lanfax.documents.pdfgen import A4_PT, PdfBuilder

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
    "fax",
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
    "tax",
    "balance",
    "shipping",
    "handling",
    "signature",
    "approved",
    "received",
    "Monday",
    "Tuesday",
    "Wednesday",
    "2026",
    "0815",
    "Müller",
    "Straße",
    "42",
    "ltd",
    "inc",
    "please",
    "contact",
    "us",
    "regarding",
    "the",
    "attached",
    "document",
]
SIZES = (7.0, 8.0, 9.0, 10.0, 12.0)
GS_DEVICE = {"mmr": "tiffg4", "mr": "tiffg32d"}
ROWS = {"fine": (196, 2292), "standard": (98, 1146)}


def make_pdf(path: Path, pages: int, seed: int) -> list[str]:
    """A text-heavy A4 PDF (sizes 7-12 pt, sans and mono, a shaded table band on each page);
    returns each page's text, for OCR scoring."""
    rng = random.Random(seed)
    b = PdfBuilder()
    texts = []
    for p in range(pages):
        b.new_page(*A4_PT)
        size = SIZES[p % len(SIZES)]
        font = "mono" if p % 2 else "sans"
        lead = size * 1.35
        y = 60.0 + size
        lines = []
        b.rect(50, 300, 495, 60, fill=235)  # light table shading
        b.line(50, 300, 545, 300, 0.4)
        while y < 800:
            line = " ".join(rng.choice(WORDS) for _ in range(int(70 / size * 8 / 1.3)))
            while len(line) * size * 0.6 > 480:
                line = line.rsplit(" ", 1)[0]
            b.text(56, y, line, size, font)
            lines.append(line)
            y += lead
        texts.append("\n".join(lines))
    b.save(path)
    return texts


def run_gs(pdf: Path, out: Path, res: str, comp: str) -> None:
    ydpi, rows = ROWS[res]
    subprocess.run(
        ["gs", "-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", f"-sDEVICE={GS_DEVICE[comp]}",
         f"-r204x{ydpi}", f"-g1728x{rows}", "-dFIXEDMEDIA", "-dPDFFitPage",
         f"-sOutputFile={out}", str(pdf)],
        check=True, timeout=600,
    )  # fmt: skip


def run_ours(pdf: Path, out: Path, res: str, comp: str) -> float:
    t = time.perf_counter()
    convert([pdf], out, resolution=res, compression=comp)
    return time.perf_counter() - t


def single(
    pdf: Path, pages: int, work: Path, res: str, comp: str, reps: int
) -> tuple[float, float]:
    ours, gs = [], []
    for _ in range(reps):
        ours.append(run_ours(pdf, work / "ours.tif", res, comp))
        t = time.perf_counter()
        run_gs(pdf, work / "gs.tif", res, comp)
        gs.append(time.perf_counter() - t)
    return pages / statistics.median(ours), pages / statistics.median(gs)


def _ours_job(args: tuple[str, str, str, str, int]) -> int:
    pdf, out, res, comp, threads = args
    limits = ConversionLimits(threads=threads)
    return convert([Path(pdf)], Path(out), resolution=res, compression=comp, limits=limits).pages


def two_workers(
    pdfs: list[Path],
    pages: int,
    work: Path,
    res: str,
    comp: str,
    pool: cf.ProcessPoolExecutor,
    reps: int,
) -> tuple[float, float, float]:
    """pages/s of 2 workers with one thread per conversion, with two, and of 2 gs processes
    (ours: median of ``reps``, the two modes alternating so that both see the same load)."""
    rates: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(reps):
        for threads in (1, 2):
            jobs = [
                (str(p), str(work / f"w{i}-{threads}.tif"), res, comp, threads)
                for i, p in enumerate(pdfs)
            ]
            t = time.perf_counter()
            done = sum(pool.map(_ours_job, jobs))
            rates[threads].append(done / (time.perf_counter() - t))
    t = time.perf_counter()
    with cf.ThreadPoolExecutor(2) as tp:
        list(tp.map(lambda p: run_gs(p, work / f"{p.stem}.gs.tif", res, comp), pdfs))
    gs = pages * len(pdfs) / (time.perf_counter() - t)
    return statistics.median(rates[1]), statistics.median(rates[2]), gs


def ocr_accuracy(tif: Path, truth: list[str], pages: int, res: str, work: Path) -> float:
    """Character accuracy: matched characters / characters of the known text (difflib
    alignment, whitespace normalised). Standard pages get their rows doubled for tesseract,
    which expects square pixels (done the same for both converters)."""
    matched = total = 0
    with Image.open(tif) as img:
        for i in range(pages):
            img.seek(i)
            page = img.convert("L")
            if res == "standard":
                page = page.resize((page.width, page.height * 2), Image.Resampling.NEAREST)
            png = work / f"ocr{i}.png"
            page.save(png, dpi=(204, 196))
            text = subprocess.run(
                ["tesseract", str(png), "-", "--psm", "6"], capture_output=True, text=True,
                env={**os.environ, "OMP_THREAD_LIMIT": "1"},
                check=True, timeout=300,
            ).stdout  # fmt: skip
            got, want = " ".join(text.split()), " ".join(truth[i].split())
            sm = difflib.SequenceMatcher(None, want, got, autojunk=False)
            matched += sum(b.size for b in sm.get_matching_blocks())
            total += len(want)
    return matched / total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=30)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--ocr-pages", type=int, default=5)
    args = ap.parse_args(argv)
    if shutil.which("gs") is None:
        print("Ghostscript (gs) is not installed: no peer to compare with", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="lanfax-bench-") as tmp:
        work = Path(tmp)
        pdfs = [work / f"text{i}.pdf" for i in range(4)]
        truths = [make_pdf(p, args.pages, seed=i) for i, p in enumerate(pdfs)]
        print(f"corpus: 4 generated text PDFs x {args.pages} A4 pages (7-12 pt, sans and mono)")
        print(f"speed, pages/s (median of {args.reps}; 2 workers = 4 documents over 2 processes)\n")
        print(
            "| mode | compression | ours 1 proc | gs 1 proc | ratio | ours 2 workers "
            "| (2 threads) | gs 2 procs | ratio | ours 2w / gs 1p |"
        )
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        with cf.ProcessPoolExecutor(2) as pool:
            list(pool.map(_ours_job, [(str(pdfs[0]), str(work / f"warm{i}.tif"), "fine", "mr", 2)
                                      for i in range(2)]))  # fmt: skip
            for res in ("fine", "standard"):
                for comp in ("mmr", "mr"):
                    o1, g1 = single(pdfs[0], args.pages, work, res, comp, args.reps)
                    o2, o2t, g2 = two_workers(pdfs, args.pages, work, res, comp, pool, args.reps)
                    cells = [f"{res}", f"{comp} ({GS_DEVICE[comp]})", f"{o1:.1f}", f"{g1:.1f}",
                             f"{o1 / g1:.2f}x", f"{o2:.1f}", f"{o2t:.1f}", f"{g2:.1f}",
                             f"{o2 / g2:.2f}x", f"{o2 / g1:.2f}x"]  # fmt: skip
                    print("| " + " | ".join(cells) + " |")
        if shutil.which("tesseract") is None:
            print(
                "\ntesseract not installed: OCR accuracy not measured"
                " (apt-get install tesseract-ocr)"
            )
            return 0
        n = min(args.ocr_pages, args.pages)
        print(f"\nOCR character accuracy (tesseract, first {n} pages of one document)\n")
        print("| mode | ours | gs |")
        print("|---|---:|---:|")
        for res in ("fine", "standard"):
            run_ours(pdfs[0], work / "ours.tif", res, "mmr")
            run_gs(pdfs[0], work / "gs.tif", res, "mmr")
            a = ocr_accuracy(work / "ours.tif", truths[0], n, res, work)
            g = ocr_accuracy(work / "gs.tif", truths[0], n, res, work)
            print(f"| {res} | {a:.2%} | {g:.2%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
