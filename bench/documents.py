"""Benchmark: lanfax.documents.convert against Ghostscript on the same generated documents.

Prints, in one run and beside Ghostscript for each mode (fine and standard; MMR, MR and MH):

- pages/s of one process and of a pool of two workers (one conversion per core, as the
  service's pool runs them) on text PDFs (7-12 pt, sans and mono, a shaded table band);
- OCR character accuracy (Debian's tesseract) on small print: 6, 7 and 8 pt serif and sans
  (Times, Helvetica and embedded Liberation Serif/Sans) on A4 and Letter pages;
- where our time goes per page (pdfium drawing, binarising, libtiff coding), CPU on one thread,
  beside Ghostscript's CPU per page with its start-up taken off;
- the whole process: ``lanfax convert`` of a 40-page PDF (Python start-up and imports
  included) against ``gs`` of the same PDF, wall-clock and CPU.

The CPU columns (milliseconds of CPU per page, ours in-process with every thread counted, gs
as its process) say how much work each converter does for a page; on a shared, loaded machine
they move much less than the pages/s figures, whose ratio then mostly measures the scheduler.

Run: ``.venv/bin/python bench/documents.py [--pages 30] [--reps 3]``. "warm" is our in-process
conversion time (imports done, PDF opening included), which is what a worker of the service's
process pool sees; gs is timed as a whole process, as it is run. One process converts with the
default two threads (render and encode overlapped); the 2-worker column uses one thread per
conversion, as the service's pool does (``service.docs.pool_limits``).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import difflib
import os
import random
import resource
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
GS_DEVICE = {"mmr": "tiffg4", "mr": "tiffg32d", "mh": "tiffg3"}
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


SMALL_FONTS = [
    ("Times-Roman", None),
    ("Helvetica", None),
    ("LiberationSerif", "/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf"),
    ("LiberationSans", "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf"),
]


def make_small_print(path: Path, seed: int) -> list[str]:
    """Small print with reportlab: for 6, 7 and 8 pt, each of four fonts (serif and sans,
    base-14 and embedded TrueType), alternately on A4 and Letter; 24 lines a page. Returns
    each page's text."""
    from reportlab.lib.pagesizes import A4, letter
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    rng = random.Random(seed)
    cv = canvas.Canvas(str(path))
    texts = []
    n = 0
    for size in (6.0, 7.0, 8.0):
        for font, ttf in SMALL_FONTS:
            if ttf is not None and font not in pdfmetrics.getRegisteredFontNames():
                pdfmetrics.registerFont(TTFont(font, ttf))
            page = A4 if n % 2 == 0 else letter
            n += 1
            cv.setPageSize(page)
            y, lines = page[1] - 60, []
            for _ in range(24):
                line = " ".join(rng.choice(WORDS) for _ in range(30))
                while cv.stringWidth(line, font, size) > page[0] - 100:
                    line = line.rsplit(" ", 1)[0]
                cv.setFont(font, size)
                cv.drawString(50, y, line)
                lines.append(line)
                y -= size * 1.3
            texts.append("\n".join(lines))
            cv.showPage()
    cv.save()
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


def _children_cpu() -> float:
    """CPU seconds (user + system) of the waited-for child processes so far."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def single(
    pdf: Path, pages: int, work: Path, res: str, comp: str, reps: int
) -> tuple[float, float, float, float]:
    """pages/s of ours (in-process) and of gs (a process), then the CPU milliseconds per page
    each spent (ours: every thread of this process; gs: its process). On a loaded machine the
    CPU figures move much less than the wall-clock ones."""
    ours, gs, ours_cpu, gs_cpu = [], [], [], []
    for _ in range(reps):
        c = time.process_time()
        ours.append(run_ours(pdf, work / "ours.tif", res, comp))
        ours_cpu.append(time.process_time() - c)
        c = _children_cpu()
        t = time.perf_counter()
        run_gs(pdf, work / "gs.tif", res, comp)
        gs.append(time.perf_counter() - t)
        gs_cpu.append(_children_cpu() - c)
    return (
        pages / statistics.median(ours),
        pages / statistics.median(gs),
        1000 * statistics.median(ours_cpu) / pages,
        1000 * statistics.median(gs_cpu) / pages,
    )


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
) -> tuple[float, float]:
    """pages/s of 2 workers with one thread per conversion (the service's pool) and of 2 gs
    processes, each converting the 4 documents (medians of ``reps``)."""
    ours, gs = [], []
    for _ in range(reps):
        jobs = [(str(p), str(work / f"w{i}.tif"), res, comp, 1) for i, p in enumerate(pdfs)]
        t = time.perf_counter()
        done = sum(pool.map(_ours_job, jobs))
        ours.append(done / (time.perf_counter() - t))
        t = time.perf_counter()
        with cf.ThreadPoolExecutor(2) as tp:
            list(tp.map(lambda p: run_gs(p, work / f"{p.stem}.gs.tif", res, comp), pdfs))
        gs.append(pages * len(pdfs) / (time.perf_counter() - t))
    return statistics.median(ours), statistics.median(gs)


def stages(pdf: Path, pages: int, work: Path, res: str, comp: str) -> dict[str, float]:
    """Where our time goes, CPU ms per page on one thread: pdfium drawing the page
    (page loading and the white fill included), binarising (threshold, tone probe, packing),
    CCITT encoding and TIFF writing (libtiff); and Ghostscript's CPU per page once its
    start-up is taken off (a 1-page run subtracted from the ``pages`` run)."""
    import numpy as np

    from lanfax.documents.pdf import PdfSource
    from lanfax.documents.raster import binarize, layout
    from lanfax.documents.tiffio import FaxTiffWriter
    from lanfax.documents.types import FAX_WIDTH, FAX_YDPI

    src = PdfSource.from_path(pdf)
    cpu = {"render": 0.0, "binarise": 0.0, "encode": 0.0}
    packed = []
    buffers: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # reused as render_pages does
    for i in range(src.pages):
        c = time.process_time()
        lay = layout(*src.size_in(i), res)
        if lay.length not in buffers:
            shape = (lay.length, FAX_WIDTH)
            buffers[lay.length] = (np.empty(shape, np.uint8), np.empty(shape, np.bool_))
        grey, bits = buffers[lay.length]
        grey.fill(255)
        src.render(i, lay, grey)
        c2 = time.process_time()
        cpu["render"] += c2 - c
        black = binarize(grey, res, threshold=src.threshold(res), out=bits)
        packed.append(np.packbits(black, axis=1))
        cpu["binarise"] += time.process_time() - c2
    src.close()
    c = time.process_time()
    with FaxTiffWriter(work / "stages.tif", comp, FAX_YDPI[res], len(packed)) as w:
        for p in packed:
            w.add_packed(p, FAX_WIDTH, p.shape[0])
    cpu["encode"] = time.process_time() - c
    result = {k: 1000 * v / pages for k, v in cpu.items()}
    one = work / "one.pdf"
    import pypdfium2 as pdfium

    doc, first = pdfium.PdfDocument(str(pdf)), pdfium.PdfDocument.new()
    first.import_pages(doc, [0])
    first.save(str(one))
    c = _children_cpu()
    run_gs(one, work / "gs1.tif", res, comp)
    c1 = _children_cpu()
    run_gs(pdf, work / "gsn.tif", res, comp)
    result["gs"] = 1000 * ((_children_cpu() - c1) - (c1 - c)) / (pages - 1)
    return result


def ocr_scores(tif: Path, truth: list[str], res: str, work: Path) -> list[tuple[int, int]]:
    """Per page: (characters matched, characters of the known text), difflib alignment,
    whitespace normalised. Standard pages get their rows doubled for tesseract, which expects
    square pixels (done the same for both converters)."""
    scores = []
    with Image.open(tif) as img:
        for i in range(len(truth)):
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
            scores.append((sum(b.size for b in sm.get_matching_blocks()), len(want)))
    return scores


def whole_process(
    pdf: Path, pages: int, work: Path, reps: int
) -> tuple[float, float, float, float]:
    """pages/s of ``lanfax convert`` and of ``gs``, each a whole process (fine, MR), then
    the CPU seconds of each whole process (medians of ``reps``)."""
    lanfax = Path(sys.executable).with_name("lanfax")
    ours, gs, ours_cpu, gs_cpu = [], [], [], []
    for _ in range(reps):
        c = _children_cpu()
        t = time.perf_counter()
        subprocess.run(
            [str(lanfax), "convert", str(pdf), "-o", str(work / "cli.tif")],
            check=True, capture_output=True, timeout=600,
        )  # fmt: skip
        ours.append(time.perf_counter() - t)
        ours_cpu.append(_children_cpu() - c)
        c = _children_cpu()
        t = time.perf_counter()
        run_gs(pdf, work / "cli-gs.tif", "fine", "mr")
        gs.append(time.perf_counter() - t)
        gs_cpu.append(_children_cpu() - c)
    return (
        pages / statistics.median(ours),
        pages / statistics.median(gs),
        statistics.median(ours_cpu),
        statistics.median(gs_cpu),
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=30)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    if shutil.which("gs") is None:
        print("Ghostscript (gs) is not installed: no peer to compare with", file=sys.stderr)
        return 1
    load = os.getloadavg()[0]
    print(f"load average at start: {load:.2f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="lanfax-bench-") as tmp:
        work = Path(tmp)
        pdfs = [work / f"text{i}.pdf" for i in range(4)]
        for i, p in enumerate(pdfs):
            make_pdf(p, args.pages, seed=i)
        print(f"corpus: 4 generated text PDFs x {args.pages} A4 pages (7-12 pt, sans and mono)")
        print(f"speed, pages/s (median of {args.reps}; 2 workers = 4 documents over 2 processes)\n")
        print(
            "| mode | compression | ours 1 proc | gs 1 proc | ratio | ours 2 workers "
            "| gs 2 procs | ratio | ours CPU ms/page | gs CPU ms/page | CPU ratio |"
        )
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        with cf.ProcessPoolExecutor(2) as pool:
            list(pool.map(_ours_job, [(str(pdfs[0]), str(work / f"warm{i}.tif"), "fine", "mr", 1)
                                      for i in range(2)]))  # fmt: skip
            for res in ("fine", "standard"):
                for comp in ("mmr", "mr", "mh"):
                    o1, g1, oc, gc = single(pdfs[0], args.pages, work, res, comp, args.reps)
                    o2, g2 = two_workers(pdfs, args.pages, work, res, comp, pool, args.reps)
                    cells = [res, f"{comp} ({GS_DEVICE[comp]})", f"{o1:.1f}", f"{g1:.1f}",
                             f"{o1 / g1:.2f}x", f"{o2:.1f}", f"{g2:.1f}",
                             f"{o2 / g2:.2f}x", f"{oc:.1f}", f"{gc:.1f}",
                             f"{gc / oc:.2f}x"]  # fmt: skip
                    print("| " + " | ".join(cells) + " |")
        print(f"\nwhere the time goes: CPU ms per page, one thread, {args.pages} pages "
              "(gs: its start-up taken off)\n")  # fmt: skip
        print("| mode | compression | pdfium render | binarise | encode + write | ours total "
              "| gs per page | render / gs |")  # fmt: skip
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        for res in ("fine", "standard"):
            for comp in ("mmr", "mr", "mh"):
                st = stages(pdfs[0], args.pages, work, res, comp)
                total = st["render"] + st["binarise"] + st["encode"]
                cells = [res, comp, f"{st['render']:.1f}", f"{st['binarise']:.1f}",
                         f"{st['encode']:.1f}", f"{total:.1f}", f"{st['gs']:.1f}",
                         f"{st['render'] / st['gs']:.0%}"]  # fmt: skip
                print("| " + " | ".join(cells) + " |")
        forty = work / "forty.pdf"
        make_pdf(forty, 40, seed=9)
        o, g, oc, gc = whole_process(forty, 40, work, args.reps)
        print(f"\nwhole process, 40-page PDF, fine MR: `lanfax convert` {o:.1f} pages/s, "
              f"`gs` {g:.1f} pages/s ({o / g:.2f}x); CPU `lanfax convert` {oc:.2f} s, "
              f"`gs` {gc:.2f} s ({gc / oc:.2f}x)")  # fmt: skip
        if shutil.which("tesseract") is None:
            print("\ntesseract not installed: OCR not measured (apt-get install tesseract-ocr)")
            return 0
        small = work / "small.pdf"
        truths = make_small_print(small, seed=7)
        print(f"\nOCR character accuracy (tesseract), small print: {len(truths)} pages, 6-8 pt "
              "serif and sans, A4 and Letter\n")  # fmt: skip
        print("| mode | ours | gs | ours 6 pt | gs 6 pt |")
        print("|---|---:|---:|---:|---:|")
        for res in ("fine", "standard"):
            convert([small], work / "ours.tif", resolution=res, compression="mmr")
            run_gs(small, work / "gs.tif", res, "mmr")
            a = ocr_scores(work / "ours.tif", truths, res, work)
            b = ocr_scores(work / "gs.tif", truths, res, work)
            six = len(SMALL_FONTS)  # the first pages are the 6 pt ones
            cells = [res, f"{_mean(a):.2%}", f"{_mean(b):.2%}", f"{_mean(a[:six]):.2%}",
                     f"{_mean(b[:six]):.2%}"]  # fmt: skip
            print("| " + " | ".join(cells) + " |")
    print(f"\nload average at end: {os.getloadavg()[0]:.2f} (the machine is shared: figures move)")
    return 0


def _mean(scores: list[tuple[int, int]]) -> float:
    return sum(m for m, _ in scores) / max(1, sum(t for _, t in scores))


if __name__ == "__main__":
    raise SystemExit(main())
