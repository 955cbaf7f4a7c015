"""The engine's one-crossing tools for SIP media beside their per-call peers (issue #19).

1. T.38: N sessions (N/2 calls back to back, each UDPTL datagram carried to the far end at
   the next tick) stepped every tick three ways: per session with UDPTL in Python
   (``UdptlReceiver.feed``, ``receive`` per IFP, ``take_packets`` + ``tick``,
   ``UdptlSender.frame``, idle repeats: what the SIP media does per call today); one
   ``T38Batch`` (one C call) with UDPTL still in Python; ``T38Batch`` in UDPTL mode
   (datagrams in and out, no Python per packet). All three run the same calls (the test
   suite checks them tick for tick, byte for byte), the last also split over two threads
   (``threads=2``); printed: CPU per tick (mean and 99th percentile, process CPU time, the
   media's part only: the carrying is the same in all), the worst tick's CPU and wall time
   after the first two (those open every document; later the worst are the page ends,
   every receiver writing its page in the same tick, since every call starts in the first
   tick with the same page), C crossings per tick (each releases and re-takes the GIL), and
   the CPU ratio. A last row starts the calls evenly over ``SPREAD`` (2 s), as a server's
   arrive, and runs that much longer: the same work, without the lockstep's worst ticks.
2. G.711 over RTP: N audio sessions (N/2 calls, each RTP datagram carried at the next tick)
   stepped three ways: per session (jitter buffer, G.711 decoding, ``step_frame``, coding,
   ``RtpSender.stamp``: the media's audio step), ``FrameBatch`` (spandsp's part in one C
   call, RTP and G.711 in Python: the media's batched path today) and ``RtpBatch``
   (datagrams in and out, one C call; and on two threads). Printed as for 1; the calls'
   first 10 s by default (``--audio-ticks``), where the modems cost least, so the Python
   share shows most.
3. Datagrams: M non-blocking UDP sockets on loopback in a ring, each sending one 172-byte
   datagram (a G.711 RTP packet) to the next per round, then each reading what it got:
   ``socket.sendto`` / ``recv`` in a loop beside ``send_many`` / ``send_records`` /
   ``recv_many``. Printed: CPU per round, GIL releases per round, and the wall time per
   round while another thread runs Python (the media thread's real situation: each GIL
   re-take waits for the other thread up to the switch interval, set to 0.5 ms as the SIP
   media sets it).

CPU time and GIL releases are the figures to read on a loaded machine, where the wall column
with a busy thread seldom shows the waits (the busy thread is often not running). On a quiet
one it does: at load 1 (2026-12-05, 600 sockets) a ``sendto`` loop took 26 ms of wall time
beside the busy thread (0.63 ms of CPU) and ``send_many`` 1.7 ms; a ``recv`` loop 8.2 ms,
``recv_many`` 0.37 ms. The same run: ``threads=2`` took the lockstep page-end tick of 150
T.38 calls from 251 to 141 ms of wall time (G.711: 149 to 105 ms).

Nothing is asserted. Run: ``.venv/bin/python bench/engine_io.py``
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

import numpy as np
from PIL import Image, ImageDraw

from lanfax.engine import AudioFaxSession, SessionOptions, T38FaxSession, batch, dgram, g711
from lanfax.engine.lines import RtpBatch, RtpLine
from lanfax.providers.sip.rtp import JitterBuffer, RtpSender
from lanfax.providers.sip.udptl import UdptlReceiver, UdptlSender

STEP = 160
RTP_SIZE = 172
REDUNDANCY = 3  # the SIP provider's default t38_redundancy
MAX_DATAGRAM = 400
IDLE_REPEATS = 2  # as providers/sip/media.py
JITTER = 3
#: The "start over S seconds" rows: calls started evenly over this long (a server's calls
#: arrive over time; the other rows start every call in the first tick, in lockstep).
SPREAD = 2.0
#: Wall time of each measured tick of the last run (beside its CPU time).
_walls: list[float] = []


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


Inbox = list[list[bytes]]


def t38_per_session(sessions: list[T38FaxSession], ticks: int) -> tuple[list[float], int]:
    """What the SIP media does per call and tick today: UDPTL in Python, one session's
    ``receive`` per IFP, ``take_packets`` + ``tick``, framing, the idle repeats."""
    senders = [UdptlSender(REDUNDANCY, MAX_DATAGRAM) for _ in sessions]
    receivers = [UdptlReceiver() for _ in sessions]
    idle = [0] * len(sessions)
    inbox: Inbox = [[] for _ in sessions]
    cpu: list[float] = []
    crossings = 0
    clock = time.process_time
    for _ in range(ticks):
        sent: Inbox = []
        t0, w0 = clock(), time.perf_counter()
        for i, s in enumerate(sessions):
            out: list[bytes] = []
            sent.append(out)
            if s.done:
                continue
            for data in inbox[i]:
                for seq, ifp in receivers[i].feed(data):
                    s.receive(seq, ifp)
                    crossings += 1
            packets = s.take_packets()
            packets += s.tick(STEP)
            crossings += 1
            if packets:
                idle[i] = 0
                out += [senders[i].frame(seq, ifp) for seq, ifp in packets]
            elif (last := senders[i].last) is not None and idle[i] < IDLE_REPEATS:
                idle[i] += 1
                out.append(last)
            s.events()
        cpu.append(clock() - t0)
        _walls.append(time.perf_counter() - w0)
        inbox = [sent[i ^ 1] for i in range(len(sessions))]
    return cpu, crossings


def _batched(
    sessions: list[T38FaxSession],
    ticks: int,
    udptl_in_c: bool,
    threads: int = 1,
    spread: int = 0,
) -> tuple[list[float], int]:
    """``spread``: the calls start evenly over that many ticks (0: all in the first)."""
    tb = batch.T38Batch(STEP, threads=threads)
    senders = [UdptlSender(REDUNDANCY, MAX_DATAGRAM) for _ in sessions]
    receivers = [UdptlReceiver() for _ in sessions]
    lines = (
        [batch.UdptlLine(REDUNDANCY, MAX_DATAGRAM, IDLE_REPEATS) for _ in sessions]
        if udptl_in_c
        else []
    )
    idle = [0] * len(sessions)
    calls = len(sessions) // 2
    start = [(i // 2) * spread // max(calls, 1) for i in range(len(sessions))]
    live = [i for i in range(len(sessions)) if start[i] == 0]

    def refresh() -> None:
        chosen = [sessions[i] for i in live]
        tb.set_sessions(chosen, [lines[i] for i in live] if udptl_in_c else None)

    refresh()
    fed = 0
    inbox: Inbox = [[] for _ in sessions]
    cpu: list[float] = []
    crossings = 0
    clock = time.process_time
    for t in range(ticks):
        sent: Inbox = [[] for _ in sessions]
        t0, w0 = clock(), time.perf_counter()
        if any(sessions[i].done for i in live) or (0 < t <= spread and t in start):
            live = [i for i in range(len(sessions)) if start[i] <= t and not sessions[i].done]
            refresh()
        if udptl_in_c:
            feed = tb.feed
            for j, i in enumerate(live):
                for data in inbox[i]:
                    feed(j, data)
        else:
            receive = tb.receive
            for j, i in enumerate(live):
                for data in inbox[i]:
                    for seq, ifp in receivers[i].feed(data):
                        receive(j, seq, ifp)
                        fed += 1
        for s in tb.tick():
            s.events()
        # The ABI fallback steps each session through its methods: a crossing each call.
        crossings += 1 if tb.compiled else len(live) + fed
        fed = 0
        if udptl_in_c:
            for j, _seq, data in tb.packets():
                sent[live[j]].append(data)
        else:
            got: dict[int, list[tuple[int, bytes]]] = {}
            for j, seq, ifp in tb.packets():
                got.setdefault(j, []).append((seq, ifp))
            for j, i in enumerate(live):
                packets = got.get(j)
                if packets:
                    idle[i] = 0
                    sent[i] += [senders[i].frame(seq, ifp) for seq, ifp in packets]
                elif (last := senders[i].last) is not None and idle[i] < IDLE_REPEATS:
                    idle[i] += 1
                    sent[i].append(last)
        cpu.append(clock() - t0)
        _walls.append(time.perf_counter() - w0)
        inbox = [sent[i ^ 1] for i in range(len(sessions))]
    tb.close()
    return cpu, crossings


def t38_batched(sessions: list[T38FaxSession], ticks: int) -> tuple[list[float], int]:
    """T38Batch (IFPs): one C call for the sessions; UDPTL still in Python."""
    return _batched(sessions, ticks, udptl_in_c=False)


def t38_batched_udptl(sessions: list[T38FaxSession], ticks: int) -> tuple[list[float], int]:
    """T38Batch in UDPTL mode: datagrams in, datagrams out, no Python per packet."""
    return _batched(sessions, ticks, udptl_in_c=True)


def t38_batched_udptl_2(sessions: list[T38FaxSession], ticks: int) -> tuple[list[float], int]:
    """The same split over two threads (threads=2)."""
    return _batched(sessions, ticks, udptl_in_c=True, threads=2)


def t38_batched_udptl_spread(sessions: list[T38FaxSession], ticks: int) -> tuple[list[float], int]:
    """UDPTL mode, the calls started evenly over ``SPREAD`` seconds (as a server's arrive)."""
    spread = int(SPREAD / 0.02)
    return _batched(sessions, ticks + spread, udptl_in_c=True, spread=spread)


def t38_table(n: int, ticks: int) -> None:
    print(f"\n1. T.38: {n} sessions ({n // 2} calls), {ticks} ticks of 20 ms line time,")
    print(f"   UDPTL redundancy {REDUNDANCY} within {MAX_DATAGRAM} bytes, carried at the next tick")
    if not batch.available():
        print("   (no compiled helper: the batch steps sessions one by one, no UDPTL mode)")
    paths: list[tuple[str, Callable[[list[T38FaxSession], int], tuple[list[float], int]]]] = [
        ("per session", t38_per_session),
        ("T38Batch IFP", t38_batched),
    ]
    if batch.available():
        paths.append(("T38Batch UDPTL", t38_batched_udptl))
        paths.append(("  on 2 threads", t38_batched_udptl_2))
        paths.append((f"  start {SPREAD:g} s", t38_batched_udptl_spread))
    with tempfile.TemporaryDirectory(prefix="lanfax-bench-io-") as tmp:
        work = Path(tmp)
        doc = work / "doc.tif"
        make_document(doc)
        rows = []
        for name, run in paths:
            sessions = _sessions(doc, work, n, name.replace(" ", "")[:8])
            try:
                _walls.clear()
                cpu, crossings = run(sessions, ticks)
                top_cpu, top_wall = max(cpu[2:], default=0.0), max(_walls[2:], default=0.0)
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
                    1000 * top_cpu,
                    1000 * top_wall,
                    crossings / len(cpu),
                    ok,
                )
            )
        print(
            f"   {'path':<15} {'CPU/tick ms':>12} {'p99 ms':>8} {'max ms':>7} {'wall max':>9}"
            f" {'C calls/tick':>13} {'faxes ok':>9} {'CPU vs per session':>19}"
        )
        for name, mean, p99, top, wall_top, calls, ok in rows:
            print(
                f"   {name:<15} {mean:>12.3f} {p99:>8.3f} {top:>7.2f} {wall_top:>9.2f}"
                f" {calls:>13.1f}"
                f" {ok:>5}/{n // 2} {rows[0][1] / max(mean, 1e-9):>18.2f}x"
            )


# -- 2. G.711 over RTP -------------------------------------------------------------------------


class _AudioCall:
    """What the SIP media's audio step does per call and tick (providers/sip/media.py)."""

    def __init__(self, s: AudioFaxSession, ssrc: int) -> None:
        self.s = s
        self.rtp = RtpSender(0, ssrc)
        self.jitter = JitterBuffer(JITTER)
        self.rx, self.tx = s.frame_buffers(STEP)
        self.tx_bits = self.tx.view(np.uint16)
        self.packet = bytearray(12 + STEP)
        self.payload = np.frombuffer(self.packet, dtype=np.uint8, offset=12)
        self.encoder, self.decoder = g711.tables("ulaw")
        self.codes = bytearray(STEP)
        self.u8 = np.frombuffer(self.codes, dtype=np.uint8)

    def audio_in(self, queue: list[bytes]) -> None:
        for data in queue:
            if len(data) > 12 and data[0] == 0x80:
                if data[1] & 0x7F == 0:
                    self.jitter.push((data[2] << 8) | data[3], data[12:])
                continue
        frame = self.jitter.pop()
        if frame is not None and len(frame) == STEP:
            self.codes[:] = frame
            self.decoder.take(self.u8, out=self.rx, mode="clip")
        else:
            self.rx.fill(0)

    def audio_out(self) -> bytes:
        self.encoder.take(self.tx_bits, out=self.payload, mode="wrap")
        self.rtp.stamp(self.packet, STEP)
        return bytes(self.packet)


def _audio_sessions(doc: Path, work: Path, n: int, tag: str) -> list[AudioFaxSession]:
    out = []
    for k in range(n // 2):
        out.append(AudioFaxSession(True, SessionOptions("A"), tx_file=doc))
        out.append(AudioFaxSession(False, SessionOptions("B"), rx_file=work / f"{tag}{k}.tif"))
    return out


def rtp_per_session(sessions: list[AudioFaxSession], ticks: int) -> tuple[list[float], int]:
    calls = [_AudioCall(s, i) for i, s in enumerate(sessions)]
    inbox: list[list[bytes]] = [[] for _ in sessions]
    cpu: list[float] = []
    clock = time.process_time
    for _ in range(ticks):
        t0, w0 = clock(), time.perf_counter()
        sent = []
        for i, c in enumerate(calls):
            c.audio_in(inbox[i])
            c.s.step_frame()
            sent.append(c.audio_out())
            c.s.events()
        cpu.append(clock() - t0)
        _walls.append(time.perf_counter() - w0)
        inbox = [[sent[i ^ 1]] for i in range(len(sessions))]
    return cpu, 2 * len(sessions) * ticks


def rtp_frame_batch(sessions: list[AudioFaxSession], ticks: int) -> tuple[list[float], int]:
    """FrameBatch (spandsp's part in one C call), RTP and G.711 in Python: the media today."""
    calls = [_AudioCall(s, i) for i, s in enumerate(sessions)]
    fb = batch.FrameBatch(STEP)
    fb.set_sessions(sessions)
    inbox: list[list[bytes]] = [[] for _ in sessions]
    cpu: list[float] = []
    clock = time.process_time
    for _ in range(ticks):
        t0, w0 = clock(), time.perf_counter()
        for i, c in enumerate(calls):
            c.audio_in(inbox[i])
        for s in fb.tick():
            s.events()
        sent = [c.audio_out() for c in calls]
        cpu.append(clock() - t0)
        _walls.append(time.perf_counter() - w0)
        inbox = [[sent[i ^ 1]] for i in range(len(sessions))]
    return cpu, ticks


def rtp_batch(
    sessions: list[AudioFaxSession], ticks: int, threads: int = 1, spread: int = 0
) -> tuple[list[float], int]:
    """RtpBatch: datagrams in, datagrams out, one C call (``spread``: as for T.38)."""
    for s in sessions:
        s.frame_buffers(STEP)
    rb = RtpBatch(STEP, threads=threads)
    lines = [RtpLine("ulaw", 0, i, jitter_frames=JITTER) for i in range(len(sessions))]
    calls = len(sessions) // 2
    start = [(i // 2) * spread // max(calls, 1) for i in range(len(sessions))]
    live = [i for i in range(len(sessions)) if start[i] == 0]
    rb.set_sessions([sessions[i] for i in live], [lines[i] for i in live])
    inbox: list[bytes] = [b""] * len(sessions)
    cpu: list[float] = []
    clock = time.process_time
    for t in range(ticks):
        t0, w0 = clock(), time.perf_counter()
        if 0 < t <= spread and t in start:
            live = [i for i in range(len(sessions)) if start[i] <= t]
            rb.set_sessions([sessions[i] for i in live], [lines[i] for i in live])
        feed = rb.feed
        for j, i in enumerate(live):
            if inbox[i]:
                feed(j, inbox[i])
        for s in rb.tick():
            s.events()
        data, index, _seq, offsets, lengths = rb.out_columns()
        cpu.append(clock() - t0)
        _walls.append(time.perf_counter() - w0)
        sent = [b""] * len(sessions)
        for j, o, n in zip(index.tolist(), offsets.tolist(), lengths.tolist(), strict=True):
            sent[live[j]] = data[o : o + n]
        inbox = [sent[i ^ 1] for i in range(len(sessions))]
    rb.close()
    return cpu, ticks


def rtp_batch_2(sessions: list[AudioFaxSession], ticks: int) -> tuple[list[float], int]:
    """The same split over two threads (threads=2)."""
    return rtp_batch(sessions, ticks, threads=2)


def rtp_batch_spread(sessions: list[AudioFaxSession], ticks: int) -> tuple[list[float], int]:
    """RtpBatch, the calls started evenly over ``SPREAD`` seconds."""
    spread = int(SPREAD / 0.02)
    return rtp_batch(sessions, ticks + spread, spread=spread)


def rtp_table(n: int, ticks: int) -> None:
    print(f"\n2. G.711 over RTP: {n} sessions ({n // 2} calls), {ticks} ticks, jitter {JITTER}")
    if not batch.available():
        print("   (no compiled helper: skipped)")
        return
    paths: list[tuple[str, Callable[[list[AudioFaxSession], int], tuple[list[float], int]]]] = [
        ("per session", rtp_per_session),
        ("FrameBatch", rtp_frame_batch),
        ("RtpBatch", rtp_batch),
        ("  on 2 threads", rtp_batch_2),
        (f"  start {SPREAD:g} s", rtp_batch_spread),
    ]
    with tempfile.TemporaryDirectory(prefix="lanfax-bench-io-") as tmp:
        work = Path(tmp)
        doc = work / "doc.tif"
        make_document(doc)
        rows = []
        for name, run in paths:
            sessions = _audio_sessions(doc, work, n, name[:3])
            try:
                _walls.clear()
                cpu, crossings = run(sessions, ticks)
                top_cpu, top_wall = max(cpu[2:], default=0.0), max(_walls[2:], default=0.0)
            finally:
                for s in sessions:
                    s.close()
            busy = sorted(cpu)
            rows.append(
                (
                    name,
                    1000 * statistics.fmean(cpu),
                    1000 * busy[int(0.99 * (len(busy) - 1))],
                    1000 * top_cpu,
                    1000 * top_wall,
                    crossings / len(cpu),
                )
            )
        print(
            f"   {'path':<15} {'CPU/tick ms':>12} {'p99 ms':>8} {'max ms':>7} {'wall max':>9}"
            f" {'C calls/tick':>13} {'CPU vs per session':>19}"
        )
        for name, mean, p99, top, wall_top, calls in rows:
            print(
                f"   {name:<15} {mean:>12.3f} {p99:>8.3f} {top:>7.2f} {wall_top:>9.2f}"
                f" {calls:>13.1f}"
                f" {rows[0][1] / max(mean, 1e-9):>18.2f}x"
            )


# -- 3. datagrams -----------------------------------------------------------------------------


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
    print(f"\n3. Datagrams: {m} UDP sockets on loopback in a ring, one {RTP_SIZE}-byte datagram")
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
            ("send_many", lambda: io.send_many(items), 1 if io.compiled else m),
            ("send_records", lambda: io.send_records(frames, rec), 1 if io.compiled else m),
        ]
        recvs: list[tuple[str, Callable[[], object], int]] = [
            ("recv loop", recv_loop, 2 * m),
            ("recv_many", lambda: io.recv_many(fds), 1 if io.compiled else 2 * m),
        ]
        sendto_loop()
        got = len(io.recv_many(fds))
        if got != m:  # loopback delivers at once; a loaded machine may drop (full buffers)
            print(f"   (the ring delivered {got} of {m} datagrams: figures are approximate)")
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
                if writer is not None:
                    writer()  # a datagram waiting on every socket
                t0 = time.process_time()
                run()
                cpu.append(time.process_time() - t0)
                if reader is not None:
                    reader()  # every socket empty again
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
    ap.add_argument("--audio-ticks", type=int, default=500, help="G.711 ticks (20 ms each)")
    ap.add_argument("--sockets", type=int, default=600, help="UDP sockets in the ring")
    ap.add_argument("--rounds", type=int, default=200, help="datagram rounds")
    args = ap.parse_args()
    print(
        f"lanfax engine I/O benchmark (#19), load average {Path('/proc/loadavg').read_text()[:14]}"
    )
    t38_table(args.sessions - args.sessions % 2, args.ticks)
    rtp_table(args.sessions - args.sessions % 2, args.audio_ticks)
    dgram_table(args.sockets, args.rounds)


if __name__ == "__main__":
    main()
