"""The engine's one-crossing tools for SIP media beside their per-call peers (issue #19).

1. T.38: N sessions (N/2 calls back to back, each packet carried to the far end at the next
   tick, as over UDPTL) stepped every tick the per-session way (``receive`` per packet,
   ``take_packets`` + ``tick``: what the SIP media does per call) and in one ``T38Batch``
   (one C call per tick). Both run the same calls (the test suite checks them tick for
   tick); printed: CPU per tick (mean and 99th percentile, process CPU time, only the
   engine's part: the carrying is the same in both), C crossings per tick (each releases
   and re-takes the GIL), and the ratio.
2. Datagrams: M non-blocking UDP sockets on loopback in a ring, each sending one 172-byte
   datagram (a G.711 RTP packet) to the next per round, then each reading what it got:
   ``socket.sendto`` / ``recv`` in a loop beside ``send_many`` / ``send_records`` /
   ``recv_many``. Printed: CPU per round, GIL releases per round, and the wall time per
   round while another thread runs Python (the media thread's real situation: each GIL
   re-take waits for the other thread up to the switch interval, set to 0.5 ms as the SIP
   media sets it).

CPU time is the figure to read on a loaded machine; the wall column with a busy thread
shows the waits. Nothing is asserted. Run: ``.venv/bin/python bench/engine_io.py``
(``--help`` for sizes; about a minute).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import threading
import time
from array import array
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw

from lanfax.engine import SessionOptions, T38FaxSession, batch, dgram

STEP = 160
RTP_SIZE = 172


def make_document(path: Path) -> None:
    """A one-page standard-resolution letter (a light page, as most faxes)."""
    im = Image.new("1", (1728, 1146), 1)
    d = ImageDraw.Draw(im)
    for row in range(100, 1000, 40):
        d.text((100, row), "lanfax engine I/O benchmark: the quick brown fox " * 3, fill=0)
    im.save(path, compression="group4", dpi=(204, 98))


# -- 1. T.38 ----------------------------------------------------------------------------------


def _sessions(doc: Path, work: Path, n: int, tag: str) -> list[T38FaxSession]:
    out = []
    for k in range(n // 2):
        out.append(T38FaxSession(True, SessionOptions("A"), tx_file=doc))
        out.append(T38FaxSession(False, SessionOptions("B"), rx_file=work / f"{tag}{k}.tif"))
    return out


def t38_per_session(sessions: list[T38FaxSession], ticks: int) -> tuple[list[float], int]:
    inbox: list[list[tuple[int, bytes]]] = [[] for _ in sessions]
    cpu: list[float] = []
    crossings = 0
    clock = time.process_time
    for _ in range(ticks):
        sent: list[list[tuple[int, bytes]]] = []
        t0 = clock()
        for i, s in enumerate(sessions):
            if s.done:
                sent.append([])
                continue
            for seq, ifp in inbox[i]:
                s.receive(seq, ifp)
            crossings += len(inbox[i]) + 1
            packets = s.take_packets()
            packets += s.tick(STEP)
            sent.append(packets)
            s.events()
        cpu.append(clock() - t0)
        inbox = [sent[i ^ 1] for i in range(len(sessions))]
    return cpu, crossings


def t38_batched(sessions: list[T38FaxSession], ticks: int) -> tuple[list[float], int]:
    tb = batch.T38Batch(STEP)
    live = list(sessions)
    tb.set_sessions(live)
    where = {id(s): i for i, s in enumerate(sessions)}
    inbox: list[list[tuple[int, bytes]]] = [[] for _ in sessions]
    cpu: list[float] = []
    crossings = 0
    clock = time.process_time
    for _ in range(ticks):
        sent: list[list[tuple[int, bytes]]] = [[] for _ in sessions]
        t0 = clock()
        if any(s.done for s in live):
            live = [s for s in live if not s.done]
            tb.set_sessions(live)
        receive = tb.receive
        for j, s in enumerate(live):
            for seq, ifp in inbox[where[id(s)]]:
                receive(j, seq, ifp)
        for s in tb.tick():
            s.events()
        crossings += 1
        for j, seq, ifp in tb.packets():
            sent[where[id(live[j])]].append((seq, ifp))
        cpu.append(clock() - t0)
        inbox = [sent[i ^ 1] for i in range(len(sessions))]
    return cpu, crossings


def t38_table(n: int, ticks: int) -> None:
    print(f"\n1. T.38: {n} sessions ({n // 2} calls), {ticks} ticks of 20 ms line time")
    print(f"   engine: {'compiled helper' if batch.available() else 'ABI fallback'}")
    with tempfile.TemporaryDirectory(prefix="lanfax-bench-io-") as tmp:
        work = Path(tmp)
        doc = work / "doc.tif"
        make_document(doc)
        rows = []
        for name, run in (("per session", t38_per_session), ("T38Batch", t38_batched)):
            sessions = _sessions(doc, work, n, name[:3])
            try:
                cpu, crossings = run(sessions, ticks)
                ok = sum(1 for s in sessions[1::2] if s.result is not None and s.result.ok)
            finally:
                for s in sessions:
                    s.close()
            busy = sorted(cpu)
            rows.append(
                (
                    name,
                    1000 * statistics.fmean(cpu),
                    1000 * busy[int(0.99 * (len(busy) - 1))],
                    crossings / ticks,
                    ok,
                )
            )
        print(
            f"   {'path':<12} {'CPU/tick ms':>12} {'p99 ms':>8} {'C calls/tick':>13}"
            f" {'faxes ok':>9}"
        )
        for name, mean, p99, calls, ok in rows:
            print(f"   {name:<12} {mean:>12.3f} {p99:>8.3f} {calls:>13.1f} {ok:>5}/{n // 2}")
        print(f"   per session / batch, CPU per tick: {rows[0][1] / max(rows[1][1], 1e-9):.2f}x")


# -- 2. datagrams -----------------------------------------------------------------------------


class Busy(threading.Thread):
    """Another thread running Python (the event loop's part of the process)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop = False

    def run(self) -> None:
        x = 0
        while not self.stop:
            x += 1


def dgram_table(m: int, rounds: int) -> None:
    print(f"\n2. Datagrams: {m} UDP sockets on loopback in a ring, one {RTP_SIZE}-byte datagram")
    print(f"   each per round, {rounds} rounds; wall with a busy thread at switch interval 0.5 ms")
    socks = []
    for _ in range(m):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
        socks.append(s)
    try:
        fds = [s.fileno() for s in socks]
        dests = [socks[(i + 1) % m].getsockname() for i in range(m)]
        payload = bytes(RTP_SIZE)
        io = dgram.Datagrams()
        ids = [io.destination(d) for d in dests]
        frames = bytes(RTP_SIZE * m)
        rec = array("i")
        for i in range(m):
            rec.extend((fds[i], i * RTP_SIZE, RTP_SIZE, ids[i]))
        items = [(fds[i], payload, dests[i]) for i in range(m)]

        def sendto_loop() -> None:
            for s, d in zip(socks, dests, strict=True):
                try:  # noqa: SIM105 - as the media does it
                    s.sendto(payload, d)
                except OSError:
                    pass

        def recv_loop() -> None:
            for s in socks:
                recv = s.recv
                while True:
                    try:
                        recv(65535)
                    except BlockingIOError:
                        break

        sends: list[tuple[str, Callable[[], object], int]] = [
            ("sendto loop", sendto_loop, m),
            ("send_many", lambda: io.send_many(items), 1),
            ("send_records", lambda: io.send_records(frames, rec), 1),
        ]
        recvs: list[tuple[str, Callable[[], object], int]] = [
            ("recv loop", recv_loop, 2 * m),
            ("recv_many", lambda: io.recv_many(fds), 1),
        ]
        old = sys.getswitchinterval()
        print(
            f"   {'call':<14} {'CPU/round ms':>13} {'GIL releases':>13}"
            f" {'wall+busy median/max ms':>24}"
        )
        for what, run, releases in sends + recvs:
            reader = recv_loop if what in ("sendto loop", "send_many", "send_records") else None
            writer = sendto_loop if reader is None else None
            cpu: list[float] = []
            for _ in range(rounds):
                t0 = time.process_time()
                run()
                cpu.append(time.process_time() - t0)
                if reader is not None:
                    reader()
                elif writer is not None:
                    writer()
                    run()
            # The same again with another thread running Python.
            busy = Busy()
            sys.setswitchinterval(0.0005)
            busy.start()
            walls = []
            try:
                for _ in range(max(10, rounds // 2)):
                    if writer is not None:
                        writer()
                    t0 = time.perf_counter()
                    run()
                    walls.append(time.perf_counter() - t0)
                    if reader is not None:
                        reader()
            finally:
                busy.stop = True
                busy.join()
                sys.setswitchinterval(old)
            print(
                f"   {what:<14} {1000 * statistics.fmean(cpu):>13.3f} {releases:>13}"
                f" {1000 * statistics.median(walls):>15.2f} / {1000 * max(walls):>6.2f}"
            )
    finally:
        for s in socks:
            s.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=300, help="T.38 sessions (even)")
    ap.add_argument("--ticks", type=int, default=1500, help="T.38 ticks (20 ms each)")
    ap.add_argument("--sockets", type=int, default=600, help="UDP sockets in the ring")
    ap.add_argument("--rounds", type=int, default=200, help="datagram rounds")
    args = ap.parse_args()
    print(
        f"lanfax engine I/O benchmark (#19), load average {Path('/proc/loadavg').read_text()[:14]}"
    )
    t38_table(args.sessions - args.sessions % 2, args.ticks)
    dgram_table(args.sockets, args.rounds)


if __name__ == "__main__":
    main()
