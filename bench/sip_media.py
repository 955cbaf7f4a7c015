"""SIP media CPU benchmark: what one line-second of a SIP fax call costs, load aside.

    .venv/bin/python bench/sip_media.py                    # 100 G.711 + 100 T.38 calls
    .venv/bin/python bench/sip_media.py --calls 50 --profile

``bench/sip.py`` measures the real thing (two processes, SIP, real time) but its wall-clock
figures depend on what else runs on the machine. This one measures the CPU cost of the media
path alone and is repeatable on a loaded machine (process time, or instructions under
``valgrind --tool=callgrind``): N G.711 and N T.38 calls, both ends in this process, each
end a real :class:`~lanfax.providers.sip.media.FaxMedia` on its own loopback UDP sockets,
stepped by two real Tickers (one per side, as one provider per server) as fast as the CPU
allows instead of every 20 ms (with the compiled helper: G.711 calls in one RtpBatch, T.38
calls in one T38Batch, RTP and UDPTL in C, sockets read with one recv_many and written with
one send_columns per batch and tick). Each call sends
one light page, as in ``bench/sip.py``.

Prints the CPU per line-second (one end of one call for one second of line time) of the
whole media path (sockets, RTP/UDPTL, jitter buffer, spandsp, tick loop) beside the peer: the
same spandsp sessions stepped back to back in memory with no sockets or framing (the
engine's own cost). ``--profile`` adds where the media path's time goes (cProfile, by
component).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lanfax.engine.options import SessionOptions
from lanfax.engine.session import AudioFaxSession, T38FaxSession
from lanfax.providers.sip.media import FaxMedia, bind_media
from lanfax.providers.sip.sdp import Media, T38Params
from lanfax.providers.sip.ticker import Ticker
from lanfax.service import docs

TICKS_PER_SECOND = 50


def light_doc(directory: Path) -> Path:
    text = directory / "page.txt"
    text.write_text("lanfax SIP benchmark: one light page at standard resolution\n")
    out = directory / "page.tif"
    docs.convert([text], out, resolution="standard")
    return out


async def media_path(n: int, doc: Path, tmp: Path, max_ticks: int, profile: bool) -> dict[str, Any]:
    """N calls of each medium through FaxMedia and two Tickers; CPU per line-second."""
    options = SessionOptions()
    sides = (Ticker(), Ticker())
    for ticker in sides:
        ticker.manual()  # stepped below as fast as the CPU allows, not every 20 ms
    pairs: list[tuple[FaxMedia, FaxMedia]] = []
    port = 20000
    for kind in ("audio", "t38"):
        for i in range(n):
            ends = []
            for calling in (True, False):
                ports = await bind_media("127.0.0.1", (port, port + 1))
                port += 2
                ends.append(
                    FaxMedia(
                        ports,
                        calling=calling,
                        options=options,
                        tx_file=doc if calling else None,
                        rx_file=None if calling else tmp / f"rx-{kind}-{i}.tif",
                        jitter_frames=3,
                        redundancy=3,
                        max_seconds=120.0,
                        on_progress=lambda kind, pages, info: None,
                    )
                )
            a, b = ends
            t38 = T38Params() if kind == "t38" else None
            a.set_remote(Media(kind, "127.0.0.1", _port(b, kind), t38=t38))
            b.set_remote(Media(kind, "127.0.0.1", _port(a, kind), t38=t38))
            pairs.append((a, b))
    for a, b in pairs:
        sides[0].add(a)
        sides[1].add(b)
    prof = cProfile.Profile() if profile else None
    cpu0 = time.process_time()
    if prof is not None:
        prof.enable()
    ticks = 0
    while ticks < max_ticks and not all(a.session_done and b.session_done for a, b in pairs):
        for ticker in sides:
            ticker.tick()
            await asyncio.sleep(0)  # the progress the steps posted
        ticks += 1
    if prof is not None:
        prof.disable()
    cpu = time.process_time() - cpu0
    line_seconds = sum(t.call_ticks for t in sides) / TICKS_PER_SECOND
    ok = sum(1 for a, b in pairs if a.result and a.result.ok and b.result and b.result.ok)
    for a, b in pairs:
        for m in (a, b):
            for t in sides:
                t.remove(m)
            m.close()
    for t in sides:
        t.close()
    return {"cpu": cpu, "line_seconds": line_seconds, "ok": ok, "ticks": ticks, "prof": prof}


def _port(media: FaxMedia, kind: str) -> int:
    return media.ports.rtp_port if kind == "audio" else media.ports.udptl_port


def engine_only(n: int, doc: Path, tmp: Path, max_ticks: int) -> dict[str, Any]:
    """The peer: the same sessions stepped back to back, no sockets, framing or ticker."""
    options = SessionOptions()
    audio = []
    for i in range(n):
        a = AudioFaxSession(True, options, tx_file=doc)
        b = AudioFaxSession(False, options, rx_file=tmp / f"e-rx-a-{i}.tif")
        audio.append((a, b, a.frame_buffers(160), b.frame_buffers(160)))
    t38 = [
        (
            T38FaxSession(True, options, tx_file=doc),
            T38FaxSession(False, options, rx_file=tmp / f"e-rx-t-{i}.tif"),
        )
        for i in range(n)
    ]
    inbox: dict[int, list[tuple[int, bytes]]] = {}
    cpu0 = time.process_time()
    steps = 0
    for _ in range(max_ticks):
        live = False
        for a, b, (arx, atx), (brx, btx) in audio:
            if a.done and b.done:
                continue
            live = True
            arx[:] = btx
            brx[:] = atx
            for s in (a, b):
                if not s.done:
                    s.step_frame()
                    steps += 1
                s.events()
        for a, b in t38:
            if a.done and b.done:
                continue
            live = True
            for me, other in ((a, b), (b, a)):
                if me.done:
                    continue
                for seq, ifp in inbox.pop(id(me), []):
                    me.receive(seq, ifp)
                out = me.take_packets() + me.tick(160)
                inbox.setdefault(id(other), []).extend(out)
                me.events()
                steps += 1
        if not live:
            break
    cpu = time.process_time() - cpu0
    for pair in audio:
        pair[0].close()
        pair[1].close()
    for a, b in t38:
        a.close()
        b.close()
    return {"cpu": cpu, "line_seconds": steps / TICKS_PER_SECOND}


COMPONENTS = (
    # #19: the batches' C calls (FrameBatch, T38Batch) and recv_many/send_many by name.
    # (lf_step_rtp and lf_tick_t38 carry the calls' RTP/UDPTL in C as well as spandsp.)
    (
        "spandsp (cffi calls)",
        ("session.py", "lf_step_frames", "lf_step_rtp", "lf_tick_t38", "batch.py", "lines.py"),
    ),
    ("jitter buffer", ("rtp.py:1", "JitterBuffer")),
    ("RTP framing", ("rtp.py",)),
    ("UDPTL framing", ("udptl.py",)),
    ("G.711 (numpy take)", ("take", "_wrapfunc", "fromnumeric")),
    ("sockets: send", ("sendto", "'send'", "'_send'", "lf_send_many", "send_many", "send_col")),
    (
        "sockets: receive",
        ("recv", "poll", "datagram_received", "_read_ready", "drain", "dgram.py"),
    ),
    ("event loop", ("asyncio", "selectors", "select", "base_events")),
    ("watchdog", ("watchdog.py",)),
    # Handing half of a batch to its second thread and waiting for it (its C time in parallel).
    ("batch's second thread: hand-over, wait", ("of '_thread.lock'",)),
    ("tick loop and FaxMedia", ("media.py", "ticker.py", "RLock")),
)


def split(prof: cProfile.Profile | str) -> list[tuple[str, float]]:
    """Each function's own time (tottime), summed by component."""
    stats = pstats.Stats(prof)
    by: Counter[str] = Counter()
    for (file, line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{Path(file).name}:{line} {name!r}"
        for label, keys in COMPONENTS:
            if any(k in where for k in keys):
                by[label] += row[2]
                break
        else:
            by[f"other ({name})"] += row[2]
    total = sum(by.values())
    return [(k, v / total) for k, v in by.most_common(14)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=100, help="calls of each medium")
    parser.add_argument("--max-seconds", type=float, default=40.0, help="line time bound")
    parser.add_argument("--profile", action="store_true", help="where the time goes")
    parser.add_argument(
        "--split-profile",
        metavar="FILE",
        help="only split a profile written by bench/sip.py --profile by component",
    )
    args = parser.parse_args()
    if args.split_profile:
        for label, share in split(args.split_profile):
            print(f"  {100 * share:5.1f}%  {label}")
        return
    max_ticks = int(args.max_seconds * TICKS_PER_SECOND)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        doc = light_doc(tmp)
        peer = engine_only(args.calls, doc, tmp, max_ticks)
        ours = asyncio.run(media_path(args.calls, doc, tmp, max_ticks, args.profile))
    print(f"{args.calls} G.711 + {args.calls} T.38 calls, one light page each, not real time")
    print(f"{'path':<44} {'line-s':>8} {'CPU s':>7} {'CPU ms/line-s':>14}")
    for label, r in (
        ("spandsp sessions back to back (peer)", peer),
        ("SIP media path (sockets, framing, ticker)", ours),
    ):
        per = 1000 * r["cpu"] / r["line_seconds"] if r["line_seconds"] else 0.0
        print(f"{label:<44} {r['line_seconds']:>8.0f} {r['cpu']:>7.2f} {per:>14.3f}")
    print(f"calls completed through the media path: {ours['ok']}/{2 * args.calls}")
    if ours["prof"] is not None:
        print("where the media path's time goes (cProfile, own time by component):")
        for label, share in split(ours["prof"]):
            print(f"  {100 * share:5.1f}%  {label}")


if __name__ == "__main__":
    main()
