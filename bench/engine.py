"""Fax engine benchmark: lanfax.engine (Python + cffi) beside spandsp's own loop in C.

1. Fast mode: a 3-page fine document sent back to back in memory (audio with ECM on and
   off, T.38 paced), as pages per second of wall time, Python beside the C program
   ``bench/engine_c/loop.c`` (compiled here with ``cc -O2 ... -lspandsp -ltiff``) on the same
   pages with the same step, measured in the same run. Median of ``--reps`` runs.
2. Real time: N audio call pairs ticked every 20 ms by worker threads through the public
   ``tx``/``rx`` API; a pair's tick is late when its step finishes after the next tick is due.
   Reports late ticks and the worst lateness per N, and the largest N with <= 1 % late.

Nothing here asserts a timing; it prints tables. Run: ``.venv/bin/python bench/engine.py``
(``--help`` for sizes; the defaults take about 2-3 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from lanfax.engine import AudioFaxSession, SessionOptions, T38FaxSession, _accel, run_loopback

HERE = Path(__file__).resolve().parent
TICK = 0.020
STEP = 160


def make_document(path: Path, pages: int = 3) -> None:
    """A dense fine-resolution text document (like a typed letter)."""
    try:
        font: ImageFont.ImageFont | ImageFont.FreeTypeFont = ImageFont.truetype(
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 30
        )
    except OSError:
        font = ImageFont.load_default()
    images = []
    for n in range(1, pages + 1):
        im = Image.new("1", (1728, 2292), 1)
        d = ImageDraw.Draw(im)
        d.text((120, 80), f"Benchmark page {n}", fill=0, font=font)
        for row in range(200, 2150, 42):
            d.text(
                (100, row),
                f"{n}:{row} The quick brown fox jumps over the lazy dog. " * 2,
                fill=0,
                font=font,
            )
        images.append(im)
    images[0].save(
        path, compression="group4", dpi=(204, 196), save_all=True, append_images=images[1:]
    )


def compile_peer(out: Path) -> Path | None:
    cc = shutil.which("cc")
    if cc is None:
        print("no C compiler: the C column is left empty", file=sys.stderr)
        return None
    exe = out / "loop"
    subprocess.run(
        [cc, "-O2", "-o", str(exe), str(HERE / "engine_c" / "loop.c"), "-lspandsp", "-ltiff"],
        check=True,
    )
    return exe


def run_python(kind: str, ecm: bool, doc: Path, rx: Path) -> tuple[float, int, float]:
    cls = AudioFaxSession if kind == "audio" else T38FaxSession
    # Same idents as the C program ("A"/"B"), so both exchange the same frames.
    a = cls(True, SessionOptions(local_ident="A", ecm=ecm), tx_file=doc)
    b = cls(False, SessionOptions(local_ident="B", ecm=ecm), rx_file=rx)
    # CPU time on both sides (the C program reads CLOCK_PROCESS_CPUTIME_ID): a loaded
    # machine stretches wall time but hardly the CPU a run needs.
    t0 = time.process_time()
    res = run_loopback(a, b, step=STEP)
    wall = time.process_time() - t0
    a.close()
    b.close()
    if not (res.sender.ok and res.receiver.ok):
        raise SystemExit(f"python {kind} run failed: {res.sender.text} / {res.receiver.text}")
    return wall, res.receiver.pages_rx, res.line_seconds


def run_c(exe: Path, kind: str, ecm: bool, doc: Path, rx: Path, reps: int) -> list[float]:
    out = subprocess.run(
        [str(exe), kind, str(doc), str(rx), str(STEP), "1" if ecm else "0", str(reps)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    walls = []
    for line in filter(None, out):
        f = line.split()
        if f[1] != "1":
            raise SystemExit(f"C {kind} run failed: {line}")
        walls.append(float(f[7]))
    return walls


def fast_mode(work: Path, reps: int) -> None:
    doc = work / "doc3.tif"
    make_document(doc)
    exe = compile_peer(work)
    print(f"\n## Fast mode: 3-page fine document, step {STEP}, median of {reps} runs")
    print(f"engine: {_accel.status()[1]}; times are CPU seconds of the process\n")
    print("| path | line s | Python s | C s | Python pages/s | C pages/s | Python/C |")
    print("|---|---|---|---|---|---|---|")
    for kind, ecm in (("audio", True), ("audio", False), ("t38", True), ("t38", False)):
        # Interleave Python and C runs so that load from other processes hits both alike.
        py, cw = [], []
        pages, line = 0, 0.0
        for _ in range(reps):
            wall, pages, line = run_python(kind, ecm, doc, work / "rx_py.tif")
            py.append(wall)
            if exe is not None:
                cw += run_c(exe, kind, ecm, doc, work / "rx_c.tif", 1)
        p = statistics.median(py)
        c = statistics.median(cw) if cw else float("nan")
        label = f"{kind} ECM {'on' if ecm else 'off'}"
        print(
            f"| {label} | {line:.1f} | {p:.4f} | {c:.4f} | {pages / p:.1f} | "
            f"{pages / c:.1f} | {p / c:.2f} |"
        )


class Pair:
    def __init__(self, doc: Path, rx: Path, prerun_steps: int) -> None:
        self.a = AudioFaxSession(True, SessionOptions(local_ident="A"), tx_file=doc)
        self.b = AudioFaxSession(False, SessionOptions(local_ident="B"), rx_file=rx)
        for _ in range(prerun_steps):
            self.step()

    def step(self) -> None:
        x = self.a.tx(STEP)
        y = self.b.tx(STEP)
        self.b.rx(x)
        self.a.rx(y)

    def close(self) -> None:
        self.a.close()
        self.b.close()


def realtime(work: Path, n: int, seconds: float, threads: int, seed: int) -> tuple[int, int, float]:
    """Run n paced pairs; return (late pair-ticks, total pair-ticks, max lateness in s)."""
    doc = work / "doc3.tif"
    rng = np.random.default_rng(seed)
    # Start calls at mixed points (handshake, pages) as on a busy server: pre-run each pair
    # for a random 0-30 s of line time, unpaced.
    pairs = [
        Pair(doc, work / f"rt_{i}.tif", int(rng.integers(0, int(30 / TICK)))) for i in range(n)
    ]
    groups = [pairs[i::threads] for i in range(threads)]
    ticks = int(seconds / TICK)
    late = [0] * threads
    worst = [0.0] * threads
    start = time.perf_counter() + 0.1

    def worker(k: int) -> None:
        mine = groups[k]
        for t in range(ticks):
            due = start + t * TICK
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            deadline = due + TICK
            for pair in mine:
                pair.step()
                over = time.perf_counter() - deadline
                if over > 0:
                    late[k] += 1
                    worst[k] = max(worst[k], over)

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for p in pairs:
        p.close()
    return sum(late), n * ticks, max(worst)


def realtime_table(work: Path, sizes: list[int], seconds: float, threads: int) -> None:
    print(
        f"\n## Real time: audio pairs ticked every 20 ms, {seconds:g} s each, {threads} threads\n"
    )
    print("| pairs (calls x2 sessions) | late ticks | late % | max lateness ms |")
    print("|---|---|---|---|")
    best = 0
    for n in sizes:
        late, total, worst = realtime(work, n, seconds, threads, seed=n)
        pct = 100.0 * late / total
        if pct <= 1.0:
            best = max(best, n)
        print(f"| {n} | {late}/{total} | {pct:.2f} | {worst * 1000:.1f} |")
    print(f"\nLargest N with <= 1 % late ticks: {best} (target >= 200)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=7, help="fast-mode runs per path")
    ap.add_argument(
        "--sizes",
        default="50,100,200,300,400",
        help="comma-separated pair counts for the real-time test",
    )
    ap.add_argument("--seconds", type=float, default=10.0, help="real-time run length per N")
    ap.add_argument("--threads", type=int, default=2, help="real-time worker threads")
    ap.add_argument("--skip-fast", action="store_true")
    ap.add_argument("--skip-realtime", action="store_true")
    args = ap.parse_args()
    from lanfax.engine._binding import load

    sp = load()
    print(f"spandsp {sp.release} ({sp.path}); Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="lanfax-bench-") as tmp:
        work = Path(tmp)
        if not args.skip_fast:
            fast_mode(work, args.reps)
        if not args.skip_realtime:
            if args.skip_fast:
                make_document(work / "doc3.tif")
            sizes = [int(s) for s in args.sizes.split(",") if s]
            realtime_table(work, sizes, args.seconds, args.threads)


if __name__ == "__main__":
    main()
