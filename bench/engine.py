"""Fax engine benchmark: lanfax.engine (Python + cffi) beside spandsp's own loop in C.

1. Fast mode: a 3-page fine document sent back to back in memory (audio with ECM on and
   off, T.38 paced), as pages per second of wall time, Python beside the C program
   ``bench/engine_c/loop.c`` (compiled here with ``cc -O2 ... -lspandsp -ltiff``) on the same
   pages with the same step, measured in the same run. Median of ``--reps`` runs.
2. Real time: N virtual call pairs (audio, the virtual lines' default mode; ``--t38-share``
   mixes T.38 in) through the virtual provider's media path: an ``Exchange`` per call in a
   ``RealtimeRunner``, all in the event loop's shared ticker (one timer; with the compiled
   helper one C call per tick for every pair). A pair-tick is late when it ran after the
   next tick was already due (caught up). Reports late pair-ticks, the worst lateness, the
   CPU used (in cores: 1.0 = one core busy) per N, and the largest N with <= 1 % late.

Nothing here asserts a timing; it prints tables. Run: ``.venv/bin/python bench/engine.py``
(``--help`` for sizes; the defaults take about 2-3 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from lanfax.engine import (
    AudioFaxSession,
    SessionOptions,
    T38FaxSession,
    _accel,
    _binding,
    run_loopback,
)
from lanfax.engine import session as session_module
from lanfax.engine.loopback import advance
from lanfax.engine.session import FaxSession
from lanfax.providers.virtual.media import Exchange, RealtimeRunner, shared_ticker

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


def run_python(
    kind: str, ecm: bool, doc: Path, rx: Path, abi: bool = False
) -> tuple[float, int, float]:
    """One Python run; ``abi``: through the ABI binding with Python callbacks (the
    fallback when the compiled helper cannot be built), for comparison in the same run."""
    cls = AudioFaxSession if kind == "audio" else T38FaxSession
    if abi:
        with mock.patch.object(session_module, "load", _binding.load_abi):
            a = cls(True, SessionOptions(local_ident="A", ecm=ecm), tx_file=doc)
            b = cls(False, SessionOptions(local_ident="B", ecm=ecm), rx_file=rx)
        return _timed(kind, a, b)
    # Same idents as the C program ("A"/"B"), so both exchange the same frames.
    a = cls(True, SessionOptions(local_ident="A", ecm=ecm), tx_file=doc)
    b = cls(False, SessionOptions(local_ident="B", ecm=ecm), rx_file=rx)
    return _timed(kind, a, b)


def _timed(kind: str, a: FaxSession, b: FaxSession) -> tuple[float, int, float]:
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
    compiled = _binding.load().compiled
    print(f"\n## Fast mode: 3-page fine document, step {STEP}, median of {reps} runs")
    print(f"engine: {_accel.status()[1]}; times are CPU seconds of the process\n")
    print(
        "| path | line s | Python s | C s | Python pages/s | C pages/s | Python/C |"
        " ABI fallback s | ABI/C |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for kind, ecm in (("audio", True), ("audio", False), ("t38", True), ("t38", False)):
        # Interleave Python and C runs so that load from other processes hits both alike.
        py, cw, abi = [], [], []
        pages, line = 0, 0.0
        for _ in range(reps):
            wall, pages, line = run_python(kind, ecm, doc, work / "rx_py.tif")
            py.append(wall)
            if compiled:
                abi.append(run_python(kind, ecm, doc, work / "rx_abi.tif", abi=True)[0])
            if exe is not None:
                cw += run_c(exe, kind, ecm, doc, work / "rx_c.tif", 1)
        p = statistics.median(py)
        c = statistics.median(cw) if cw else float("nan")
        f = statistics.median(abi) if abi else float("nan")
        label = f"{kind} ECM {'on' if ecm else 'off'}"
        print(
            f"| {label} | {line:.1f} | {p:.4f} | {c:.4f} | {pages / p:.1f} | "
            f"{pages / c:.1f} | {p / c:.2f} | {f:.4f} | {f / c:.2f} |"
        )


def realtime(
    work: Path, n: int, seconds: float, t38_share: float, seed: int
) -> tuple[int, int, float, float, int]:
    """Run n virtual call pairs in real time on one event loop, through the virtual
    provider's media path (``Exchange`` + ``RealtimeRunner`` in the loop's shared ticker).

    Returns (late pair-ticks, pair-ticks, worst lateness s, CPU s per second, batched)."""
    doc = work / "doc3.tif"
    rng = np.random.default_rng(seed)
    n_t38 = round(n * t38_share)
    sessions = []
    exchanges = []
    for i in range(n):
        cls = T38FaxSession if i < n_t38 else AudioFaxSession
        a = cls(True, SessionOptions(local_ident="A"), tx_file=doc)
        b = cls(False, SessionOptions(local_ident="B"), rx_file=work / f"rt_{i}.tif")
        # Calls at mixed points (handshake, pages) as on a busy server: 0-30 s of line
        # time already done, unpaced.
        advance(a, b, int(rng.integers(0, int(30 / TICK))))
        a.events()
        b.events()
        sessions += [a, b]
        exchanges.append(Exchange(a, b, packets=cls is T38FaxSession, max_seconds=7200))

    async def run() -> tuple[int, int, float, float, int]:
        loop = asyncio.get_running_loop()
        runners = [RealtimeRunner(ex, lambda _p: None, loop) for ex in exchanges]
        for r in runners:
            r.start()
        ticker = shared_ticker(loop)
        await asyncio.sleep(0.5)  # the first (Python) ticks, then the batch
        base = (ticker.member_ticks, ticker.late_member_ticks)
        ticker.max_lateness = 0.0
        cpu0, wall0 = time.process_time(), time.perf_counter()
        batched = 0
        end = wall0 + seconds
        while time.perf_counter() < end:
            await asyncio.sleep(0.25)
            batched = max(batched, ticker.batched)
        cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
        total = ticker.member_ticks - base[0]
        late = ticker.late_member_ticks - base[1]
        worst = ticker.max_lateness
        for r in runners:
            r.cancel()
        return late, total, worst, cpu, batched

    try:
        return asyncio.run(run())
    finally:
        for s in sessions:
            s.close()


def realtime_table(work: Path, sizes: list[int], seconds: float, t38_share: float) -> None:
    print(
        f"\n## Real time: virtual call pairs (Exchange + the shared ticker), 20 ms ticks,"
        f" {seconds:g} s each, {t38_share:.0%} T.38\n"
    )
    print(f"engine: {_accel.status()[1]}\n")
    print(
        "| pairs | late pair-ticks | late % | worst lateness ms | CPU (cores) |"
        " CPU ms per tick | in C batch | load avg |"
    )
    print("|---|---|---|---|---|---|---|---|")
    best = 0
    for n in sizes:
        late, total, worst, cpu, batched = realtime(work, n, seconds, t38_share, seed=n)
        pct = 100.0 * late / total if total else 100.0
        if pct <= 1.0:
            best = max(best, n)
        print(
            f"| {n} | {late}/{total} | {pct:.2f} | {worst * 1000:.1f} | {cpu:.2f} |"
            f" {cpu * TICK * 1000:.1f} | {batched} | {os.getloadavg()[0]:.1f} |"
        )
    print(f"\nLargest N with <= 1 % late ticks: {best} (target >= 600)")
    print(
        "Late ticks are wall-clock: on a machine shared with other work they count the"
        " scheduler too; CPU ms per tick (of 20 ms) is the load-independent cost."
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=7, help="fast-mode runs per path")
    ap.add_argument(
        "--sizes",
        default="100,200,300,400,500,600",
        help="comma-separated pair counts for the real-time test",
    )
    ap.add_argument(
        "--t38-share", type=float, default=0.0, help="share of T.38 pairs in the real-time test"
    )
    ap.add_argument("--seconds", type=float, default=10.0, help="real-time run length per N")
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
            realtime_table(work, sizes, args.seconds, args.t38_share)


if __name__ == "__main__":
    main()
