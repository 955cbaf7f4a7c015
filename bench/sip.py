"""SIP benchmark: concurrent real-time fax calls between two SIP provider instances.

    .venv/bin/python bench/sip.py                          # N = 10, 25, 50, 100; 75 s each
    .venv/bin/python bench/sip.py --sizes 5,10 --step-seconds 40
    .venv/bin/python bench/sip.py --media t38 --sizes 100

Two processes on loopback, as two fax servers would be: this one sends, a child process
(``--role answer``) answers. Each side has two SIP accounts (one provider each, so one
media Ticker each, both run by the process's one media thread): ``g711`` (``t38 = "off"``)
and ``t38`` (the answerer re-INVITEs to T.38).
The accounts talk directly (no registrar: ``register = false``, the sender dials the
answerer's SIP port), so the figures are the providers' own.

A step starts N G.711 calls and N T.38 calls, evenly over ``--start-spread`` seconds (default
2 s: calls reach a real server one after another, so their page ends, where spandsp writes a
received page to its TIFF, do not all fall in the same 20 ms tick), each sending one light
page (standard resolution, mostly white), and waits at most ``--step-seconds``; calls still
running then are aborted. Then, as a stress row that is printed but not counted, the same N
all started at once (every call's page end in the same few ticks: 150 T.38 receivers put
~250 ms of spandsp's CPU into one tick, whatever the media path; ``--no-lockstep`` skips it).
Counted per medium: calls completed (both ends COMPLETED), the peak number of calls in media at
once (the fewer of the two processes'; a row counts only if it reaches N), late
media packets (the Ticker's count: every call's packet in a tick that ran more than one
20 ms period late, both processes), the worst lateness of a tick, and the CPU time of both
processes per line-second (one end of one call for one second of media). The target (#19)
is 300 concurrent calls of each medium with no late packet; the last line names the largest
N with every call completed and none late. Beside them, the media thread's CPU and wall-clock
time per tick of each account (both processes): wall above CPU is time a tick waited (for the
GIL, a call's lock, a core), which is what makes ticks late on a busy process. Under each
step, each process's garbage collections run by its media thread (#19: while calls are in
media the automatic collection is off and the media thread runs it after its ticks; see
lanfax.providers.sip.collector). The accounts keep ``realtime = true`` (the media thread,
and the event loop during each tick, under SCHED_FIFO while calls are in media, where the
process may: lanfax.engine.realtime; the last line says which each process got);
``--no-realtime`` runs the same without, for comparison. Prints a table; asserts nothing.
The wall-clock figures depend on the machine's load (see bench/sip_media.py for the media
path's CPU alone).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lanfax.engine.realtime import realtime
from lanfax.providers.api import FaxDevStatus, FaxReceive, FaxSend, IncomingCall
from lanfax.providers.sip import SipProvider
from lanfax.providers.sip.collector import media_collector
from lanfax.service import docs
from lanfax.service.heap import settle

MEDIA = ("g711", "t38")
#: #19: concurrent calls of each medium with no late media packet.
TARGET = 300
#: The media tick, in seconds.
PERIOD = 0.02


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def account(
    user: str, sip_port: int, peer_port: int, media_low: int, channels: int, realtime: bool
) -> dict[str, Any]:
    return {
        "realtime": realtime,
        "type": "sip",
        "registrar": f"127.0.0.1:{peer_port}",
        "register": False,
        "user": user,
        "domain": "127.0.0.1",
        "sip_port": sip_port,
        "uri_template": f"sip:{{number}}@127.0.0.1:{peer_port}",
        "t38": "off" if user == "g711" else "offer",
        "channels": channels,
        "media_ports": f"{media_low}-{media_low + 2 * channels + 99}",
        "ring_interval": 0.5,
        "answer_timeout": 30.0,
    }


class Callbacks:
    """The service's side, reduced to what a benchmark needs: answer every call at once."""

    def __init__(self, rx_dir: Path) -> None:
        self.rx_dir = rx_dir
        self.providers: dict[str, SipProvider] = {}
        self.completed = 0
        self.failed = 0
        self._n = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def ring(self, local_id: str, call: IncomingCall) -> None:
        if call.ring_count == 1:
            task = asyncio.get_running_loop().create_task(self._answer(local_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer(self, local_id: str) -> None:
        provider = self.providers[local_id.split(":")[1]]
        self._n += 1
        target = self.rx_dir / f"rx-{self._n}.tif"
        job = await provider.start_job(local_id)
        try:
            result = await provider.receive(job, FaxReceive(target, receiver_number=""))
        finally:
            await provider.end_job(job)
        target.unlink(missing_ok=True)
        if result.ok:
            self.completed += 1
        else:
            self.failed += 1

    def call_ended(self, local_id: str, call_id: str) -> None:
        pass

    def status(self, local_id: str, status: FaxDevStatus) -> None:
        pass

    async def progress_recorded(self, local_id: str) -> None:
        pass

    def log(self, local_id: str, level: int, message: str) -> None:
        pass


def scheduling() -> str:
    """How this process's media thread was scheduled while calls were in media."""
    rt = realtime()
    if rt.mode in ("denied", "unsupported"):
        return f"normal (real-time {'not permitted' if rt.mode == 'denied' else 'not on Linux'})"
    return "real-time (SCHED_FIFO)" if rt.generation else "normal"


def gc_stats() -> dict[str, Any]:
    """The media thread's garbage collections so far (#19: lanfax.providers.sip.collector)."""
    s = media_collector().stats
    return {
        "collections": list(s.collections),
        "seconds": list(s.seconds),
        "worst": list(s.worst),
        "deferred": s.deferred,
        "forced": s.forced,
        "scheduling": scheduling(),
    }


def gc_line(role: str, now: dict[str, Any], was: dict[str, Any]) -> str:
    """One process's media-thread collections during a step."""
    counts = [a - b for a, b in zip(now["collections"], was["collections"], strict=True)]
    took = [a - b for a, b in zip(now["seconds"], was["seconds"], strict=True)]
    return (
        f"{role}: generations 0/1/2 {counts[0]}/{counts[1]}/{counts[2]}"
        f" ({1000 * took[0]:.0f}/{1000 * took[1]:.0f}/{1000 * took[2]:.0f} ms; worst full"
        f" {1000 * now['worst'][2]:.1f} ms so far), full ones waiting for room"
        f" {now['deferred'] - was['deferred']} ticks, forced {now['forced'] - was['forced']}"
    )


def ticker_stats(providers: dict[str, SipProvider]) -> dict[str, dict[str, float]]:
    out = {}
    for user, p in providers.items():
        t = p.ticker if p._ticker is not None else None
        out[user] = {
            "late_packets": t.late_packets if t else 0,
            "max_lateness": t.max_lateness if t else 0.0,
            "call_ticks": t.call_ticks if t else 0,
            "total_ticks": t.total_ticks if t else 0,
            # (getattr: 0 when run against a tree from before these counters, for A/B runs)
            "tick_wall": getattr(t, "tick_wall", 0.0),
            "tick_cpu": getattr(t, "tick_cpu", 0.0),
            "peak_media": getattr(t, "peak_media", 0),
        }
        if t is not None:
            t.max_lateness = 0.0
            t.peak_media = 0
    return out


async def answerer(
    ports: dict[str, int], peer_ports: dict[str, int], channels: int, realtime: bool
) -> None:
    """The child: two answering accounts; reads commands on stdin ("stats", "quit")."""
    with tempfile.TemporaryDirectory() as tmp:
        cb = Callbacks(Path(tmp))
        for i, user in enumerate(MEDIA):
            p = SipProvider()
            cfg = account(user, ports[user], peer_ports[user], 40000 + 5000 * i, channels, realtime)
            await p.initialize(cfg, cb)
            cb.providers[user] = p
        settle()  # as lanfax serve does once started (#19: lanfax.service.heap)
        loop = asyncio.get_running_loop()
        print(json.dumps({"ready": True}), flush=True)
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if line.strip() == "stats":
                stats = ticker_stats(cb.providers)
                cpu = time.process_time()
                print(
                    json.dumps(
                        {"stats": stats, "completed": cb.completed, "cpu": cpu, "gc": gc_stats()}
                    ),
                    flush=True,
                )
            else:
                break
        for p in cb.providers.values():
            await p.shutdown()


async def one_call(p: SipProvider, local_id: str, doc: Path, number: str) -> bool:
    job = await p.start_job(local_id)
    try:
        result = await p.send(job, FaxSend(doc, number), lambda: None)
    finally:
        await p.end_job(job)
    return result.ok


async def step(
    senders: dict[str, SipProvider],
    doc: Path,
    n: int,
    media: tuple[str, ...],
    seconds: float,
    spread: float,
) -> dict[str, int]:
    """N calls of each medium, started evenly over ``spread`` seconds (0: all at once, in
    one go), both media interleaved; waits at most ``seconds`` from the first start."""
    tasks: dict[asyncio.Task[bool], str] = {}
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    devices = {user: senders[user].virtual_devices()[:n] for user in media}
    for i in range(n):
        if spread > 0:
            await asyncio.sleep(max(0.0, t0 + i * spread / n - loop.time()))
        for user in media:
            p = senders[user]
            task = asyncio.create_task(one_call(p, devices[user][i].local_id, doc, user))
            tasks[task] = user
    done, pending = await asyncio.wait(tasks, timeout=max(1.0, t0 + seconds - loop.time()))
    for task in pending:  # over the bound: abort what is still on the line
        p = senders[tasks[task]]
        for ch in p.channels:
            if ch.job is not None:
                await p.abort(ch.job)
    await asyncio.wait(tasks, timeout=30)
    completed = dict.fromkeys(media, 0)
    for task in done:
        if not task.cancelled() and task.exception() is None and task.result():
            completed[tasks[task]] += 1
    return completed


def light_doc(directory: Path) -> Path:
    text = directory / "page.txt"
    text.write_text("lanfax SIP benchmark: one light page at standard resolution\n")
    out = directory / "page.tif"
    docs.convert([text], out, resolution="standard")
    return out


async def sender(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    media = tuple(MEDIA) if args.media == "both" else (args.media,)
    channels = max(sizes)
    mine = {user: free_port() for user in MEDIA}
    theirs = {user: free_port() for user in MEDIA}
    child = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--role",
            "answer",
            "--channels",
            str(channels),
            "--ports",
            json.dumps(theirs),
            "--peer-ports",
            json.dumps(mine),
            "--loop",
            args.loop,
            "--trace-slow",
            str(args.trace_slow),
            *(["--trace-late"] if args.trace_late else []),
            *(["--no-realtime"] if args.no_realtime else []),
            "--profile",
            args.profile,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        if json.loads(child.stdout.readline()).get("ready") is not True:
            raise SystemExit("the answering process did not start")
        cb = Callbacks(Path("."))
        senders: dict[str, SipProvider] = {}
        for i, user in enumerate(MEDIA):
            p = SipProvider()
            await p.initialize(
                account(
                    user, mine[user], theirs[user], 30000 + 5000 * i, channels, not args.no_realtime
                ),
                cb,
            )
            senders[user] = p
        settle()  # as lanfax serve does once started (#19: lanfax.service.heap)

        def child_stats() -> dict[str, Any]:
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write("stats\n")
            child.stdin.flush()
            result: dict[str, Any] = json.loads(child.stdout.readline())
            return result

        with tempfile.TemporaryDirectory() as tmp:
            doc = light_doc(Path(tmp))
            spread = args.start_spread
            starts = [spread] + ([] if args.no_lockstep else [0.0])
            stress = "" if args.no_lockstep else ", then all at once (stress, not counted)"
            print(
                f"{os.cpu_count()} cores; one light page per call;"
                f" at most {args.step_seconds:.0f} s per step; each N started over"
                f" {spread:g} s (counted){stress}"
            )
            print(
                f"{'N':>5} {'start':>9} {'medium':>6} {'completed':>10} {'peak':>5}"
                f" {'late packets':>13} {'max lateness ms':>16} {'wall s':>7}"
                f" {'CPU ms/line-s':>14} {'tick ms CPU/wall':>17}"
            )
            loop = asyncio.get_running_loop()
            first = child_stats()
            base, cbase = ticker_stats(senders), first["stats"]
            gc_base, cgc_base = gc_stats(), first["gc"]
            cpu_base = time.process_time() + first["cpu"]
            largest = 0
            failed = False  # largest N with every smaller size clean as well
            for n in sizes:
                for start in starts:
                    t0 = time.monotonic()
                    completed = await step(senders, doc, n, media, args.step_seconds, start)
                    wall = time.monotonic() - t0
                    mine_now = ticker_stats(senders)
                    child_now = await loop.run_in_executor(None, child_stats)
                    theirs_now = child_now["stats"]
                    cpu_now = time.process_time() + child_now["cpu"]
                    clean = report_rows(
                        n, start, media, completed, wall, cpu_now - cpu_base,
                        (mine_now, base), (theirs_now, cbase),
                    )  # fmt: skip
                    if start == spread:  # the counted row
                        if clean and not failed:
                            largest = max(largest, n)
                        failed = failed or not clean
                    gc_now = gc_stats()
                    print(
                        f"{'':>5} collections on the media thread: "
                        f"{gc_line('send', gc_now, gc_base)};"
                        f" {gc_line('answer', child_now['gc'], cgc_base)}",
                        flush=True,
                    )
                    gc_base, cgc_base = gc_now, child_now["gc"]
                    base, cbase, cpu_base = mine_now, theirs_now, cpu_now
            print(
                f"largest N with every call completed, all N in media at once and no late"
                f" media packet, calls started over {spread:g} s (every smaller N too):"
                f" {largest} (target {TARGET}); load average {os.getloadavg()[0]:.2f}",
                flush=True,
            )
            print(
                f"media thread scheduling (realtime = {str(not args.no_realtime).lower()}):"
                f" send {scheduling()}, answer {child_now['gc']['scheduling']}",
                flush=True,
            )
        for p in senders.values():
            await p.shutdown()
    finally:
        if child.poll() is None:
            child.stdin.write("quit\n")
            child.stdin.flush()
            try:
                child.wait(20)
            except subprocess.TimeoutExpired:
                child.kill()


Stats = dict[str, dict[str, float]]


def report_rows(
    n: int,
    start: float,
    media: tuple[str, ...],
    completed: dict[str, int],
    wall: float,
    cpu: float,
    mine: tuple[Stats, Stats],
    theirs: tuple[Stats, Stats],
) -> bool:
    """Print one step's row per medium; True when it was clean: every call completed, all N
    in media at once in both processes, no late packet."""
    (mine_now, base), (theirs_now, cbase) = mine, theirs
    # One line-second: one end of one call for one second (50 ticks of one FaxMedia); both
    # processes' CPU (process time) over both ends' media.
    line_s = sum(
        now[u]["call_ticks"] - was[u]["call_ticks"] for now, was in (mine, theirs) for u in MEDIA
    ) / (1 / PERIOD)
    per_line_s = 1000 * cpu / line_s if line_s else 0.0
    label_start = f"over {start:g}s" if start > 0 else "at once"
    clean = True
    for user in media:
        late = int(
            (mine_now[user]["late_packets"] - base[user]["late_packets"])
            + (theirs_now[user]["late_packets"] - cbase[user]["late_packets"])
        )
        # Calls in media at once: the fewer of the two ends' peaks.
        peak = int(min(mine_now[user]["peak_media"], theirs_now[user]["peak_media"]))
        clean = clean and late == 0 and completed[user] == n and peak >= n
        worst = max(mine_now[user]["max_lateness"], theirs_now[user]["max_lateness"])
        label = "G.711" if user == "g711" else "T.38"
        # The media thread's time per tick of this account (both processes): CPU, and
        # wall-clock (above the CPU: waiting for the GIL, a call's lock or a core).
        ticks, tick_cpu, tick_wall = (
            (mine_now[user][k] - base[user][k]) + (theirs_now[user][k] - cbase[user][k])
            for k in ("total_ticks", "tick_cpu", "tick_wall")
        )
        ticks = max(ticks, 1)
        per_tick = f"{1000 * tick_cpu / ticks:.2f}/{1000 * tick_wall / ticks:.2f}"
        print(
            f"{n:>5} {label_start:>9} {label:>6} {completed[user]:>6}/{n:<3} {peak:>5}"
            f" {late:>13} {worst * 1000:>16.1f} {wall:>7.1f} {per_line_s:>14.3f}"
            f" {per_tick:>17}",
            flush=True,
        )
    return clean


def trace_late(role: str) -> None:
    """Report every media tick that starts more than one period late (stderr), with the
    media thread's time since its previous tick ended split into running, waiting on the
    run queue for a core, and the rest (asleep: its timer, the GIL, a call's lock), and the
    previous tick's own split: which of the cores, the GIL or the work made it late."""
    from lanfax.providers.sip import ticker as tk

    run_due = tk.Ticker._run_due

    gc_seconds = media_collector().stats.seconds

    def stat() -> tuple[float, float, float, float]:
        with open("/proc/thread-self/schedstat") as f:
            ran, queued, _ = f.read().split()
        return time.monotonic(), int(ran) / 1e9, int(queued) / 1e9, sum(gc_seconds)

    last: dict[str, tuple[float, float, float, float]] = {}

    def ms(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> str:
        wall, ran, queued, gc = (1000 * (y - x) for x, y in zip(a, b, strict=True))
        asleep = wall - ran - queued
        return (
            f"{wall:5.1f} ms wall: ran {ran:4.1f} (collections {gc:4.1f}),"
            f" run queue {queued:4.1f}, asleep {asleep:4.1f}"
        )

    def traced(ticker: Any, now: float) -> bool:
        begin = stat()
        late = now - ticker._due()
        if late > PERIOD and "end" in last:
            print(
                f"[{role}] {begin[0]:.3f} tick {late * 1000:.1f} ms late,"
                f" {len(ticker._media)} calls; since the previous tick {ms(last['end'], begin)};"
                f" that tick {ms(last['begin'], last['end'])}",
                file=sys.stderr,
            )
        busy = run_due(ticker, now)
        last["begin"], last["end"] = begin, stat()
        return bool(busy)

    tk.Ticker._run_due = traced  # type: ignore[method-assign,assignment]


def trace_slow(threshold: float, role: str) -> None:
    """Report slow loop callbacks and garbage collections on stderr as they end, and at exit
    the process's CPU time split by kind of callback (the media ticks, each coroutine, ...)."""
    import atexit
    import gc
    import threading
    from asyncio import events
    from collections import Counter

    run = events.Handle._run
    clock, cpu_clock = time.perf_counter, time.thread_time
    split: Counter[str] = Counter()

    def timed(handle: events.Handle) -> None:
        t0, c0 = clock(), cpu_clock()
        run(handle)
        took, cpu = clock() - t0, cpu_clock() - c0
        callback = getattr(handle, "_callback", None)
        task = getattr(callback, "__self__", None)
        if hasattr(task, "get_coro"):
            coro = task.get_coro()  # type: ignore[union-attr]
            what = f"task {getattr(coro, '__qualname__', coro)}"
        else:
            what = getattr(callback, "__qualname__", repr(callback))
        split[what] += cpu
        if took >= threshold:
            print(
                f"[{role}] {t0:.3f} {took * 1000:6.1f} ms ({cpu * 1000:.1f} ms CPU) in {what:.160}",
                file=sys.stderr,
            )

    events.Handle._run = timed  # type: ignore[method-assign]
    started = [0.0, 0.0, 0]
    # Per generation and thread: collections, wall seconds, and the worst one.
    collections: Counter[str] = Counter()
    gc_wall: Counter[str] = Counter()
    gc_worst: dict[str, float] = {}

    def on_gc(phase: str, info: dict[str, int]) -> None:
        gen = info["generation"]
        if phase == "start":
            # The objects this collection examines (the young generations merge into the
            # collected one); counted before the clock starts, only for full collections.
            examined = sum(len(gc.get_objects(g)) for g in range(gen + 1)) if gen == 2 else 0
            started[:] = clock(), cpu_clock(), examined
            return
        took = clock() - started[0]
        split[f"gc generation {gen} (inside the above)"] += cpu_clock() - started[1]
        key = f"gen {gen} on {threading.current_thread().name}"
        collections[key] += 1
        gc_wall[key] += took
        gc_worst[key] = max(gc_worst.get(key, 0.0), took)
        if took >= threshold or gen == 2:
            print(
                f"[{role}] {started[0]:.3f} {took * 1000:6.1f} ms in gc generation {gen}"
                f" on {threading.current_thread().name}, {started[2]} objects examined,"
                f" {info['collected']} collected",
                file=sys.stderr,
            )

    gc.callbacks.append(on_gc)

    from lanfax.providers.sip.ticker import Ticker

    step_all = Ticker._step_all

    def traced_step_all(ticker: Ticker, lateness: float) -> bool:
        t0, c0 = clock(), cpu_clock()
        busy = step_all(ticker, lateness)
        took, cpu = clock() - t0, cpu_clock() - c0
        split["media ticks (on the media threads)"] += cpu
        if lateness > 0.02 or took >= threshold:
            print(
                f"[{role}] {t0:.3f} tick {lateness * 1000:5.1f} ms late, took"
                f" {took * 1000:5.1f} ms ({cpu * 1000:.1f} ms CPU), {len(ticker._media)} calls",
                file=sys.stderr,
            )
        return busy

    Ticker._step_all = traced_step_all  # type: ignore[method-assign]

    def report() -> None:
        total = time.process_time()
        print(f"[{role}] CPU {total:.2f} s in all, by loop callback:", file=sys.stderr)
        for what, cpu in split.most_common(12):
            print(f"[{role}]   {cpu:7.3f} s  {what:.100}", file=sys.stderr)
        for key, count in sorted(collections.items()):
            print(
                f"[{role}]   {key}: {count} collections, {gc_wall[key] * 1000:.0f} ms wall,"
                f" worst {gc_worst[key] * 1000:.1f} ms",
                file=sys.stderr,
            )

    atexit.register(report)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="10,25,50,100", help="concurrent calls per medium")
    parser.add_argument("--media", choices=("both", *MEDIA), default="both")
    parser.add_argument("--step-seconds", type=float, default=75.0)
    parser.add_argument(
        "--start-spread",
        type=float,
        default=2.0,
        metavar="S",
        help="start each N's calls evenly over S seconds, as calls reach a real server (the"
        " counted rows; default 2 s; the peak column checks that all N were in media at once)",
    )
    parser.add_argument(
        "--no-lockstep",
        action="store_true",
        help="skip the stress rows (every call started at once: their page ends in one tick)",
    )
    parser.add_argument("--role", choices=("send", "answer"), default="send")
    parser.add_argument("--channels", type=int, default=100, help=argparse.SUPPRESS)
    parser.add_argument("--ports", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--peer-ports", default="{}", help=argparse.SUPPRESS)
    parser.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="event loop of both processes: asyncio's (as lanfax serve runs) or uvloop's"
        " (#19: measured, it made late media packets more frequent: 240-360 late G.711/T.38"
        " packets at 60+60 calls against 0-120 with asyncio's loop)",
    )
    parser.add_argument(
        "--trace-slow",
        type=float,
        default=0.0,
        metavar="MS",
        help="print (to stderr, per process) every event-loop callback and garbage collection"
        " that took at least MS milliseconds: what delays the media ticks",
    )
    parser.add_argument(
        "--no-realtime",
        action="store_true",
        help="the accounts' realtime = false: media thread and event loop at the normal"
        " scheduling priority (#19: by default SCHED_FIFO while calls are in media, where"
        " the process may; see lanfax.engine.realtime)",
    )
    parser.add_argument(
        "--trace-late",
        action="store_true",
        help="print (to stderr, per process) every media tick that started late, with where"
        " the media thread's time went since the end of its previous tick: running, waiting"
        " for a core (the kernel's run queue) or asleep (its timer, the GIL, a lock); cheap"
        " (two reads of /proc per tick)",
    )
    parser.add_argument(
        "--profile",
        default="",
        metavar="DIR",
        help="run both processes under cProfile and write DIR/send.prof and DIR/answer.prof"
        " (bench/sip_media.py --split-profile DIR/answer.prof splits one by component)",
    )
    args = parser.parse_args()
    if args.profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
        try:
            run(args)
        finally:
            prof.disable()
            Path(args.profile).mkdir(parents=True, exist_ok=True)
            prof.dump_stats(Path(args.profile) / f"{args.role}.prof")
    else:
        run(args)


def run(args: argparse.Namespace) -> None:
    if args.trace_slow > 0:
        trace_slow(args.trace_slow / 1000, args.role)
    if args.trace_late:
        trace_late(args.role)
    factory = None
    if args.loop == "uvloop":
        import uvloop  # not a dependency of lanfax: pip install uvloop to compare

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        if args.trace_slow > 0:  # Python tasks: a slow step names its coroutine
            runner.get_loop().set_task_factory(
                lambda loop, coro, **kw: asyncio.tasks._PyTask(coro, loop=loop, **kw)  # type: ignore[attr-defined]
            )
        if args.role == "answer":
            ports, peers = json.loads(args.ports), json.loads(args.peer_ports)
            runner.run(answerer(ports, peers, args.channels, not args.no_realtime))
        else:
            print(f"event loop: {type(runner.get_loop()).__module__}", flush=True)
            runner.run(sender(args))


if __name__ == "__main__":
    main()
