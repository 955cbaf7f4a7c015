"""RtpBatch (engine.lines): G.711 calls on RTP lines stepped in one C call give, tick for
tick and byte for byte, what the SIP media's audio step gives with ``providers/sip/rtp.py``
(payload-type filter, JitterBuffer, G.711 tables, step_frame, RtpSender.stamp)."""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from lanfax.engine import AudioFaxSession, SessionOptions, batch, g711, lines_tick
from lanfax.engine.events import SessionEvent
from lanfax.engine.lines import RtpBatch, RtpLine
from lanfax.model.errors import EngineError
from lanfax.providers.sip.rtp import JitterBuffer, RtpError, RtpSender, parse_rtp

from .conftest import Doc, read_pages

pytestmark = pytest.mark.skipif(not batch.available(), reason="no compiled helper")

TICK = 160
TICKS = 3000  # 60 s of line time at most
DEPTH = 3
Datagrams = list[bytes]
Line = Callable[[int, Datagrams, random.Random], Datagrams]


def _clean(_t: int, d: Datagrams, _r: random.Random) -> Datagrams:
    return d


_held: dict[int, Datagrams] = {}


def _rough(t: int, d: Datagrams, r: random.Random) -> Datagrams:
    """Loss, duplicates (late), a frame held back one tick (reordered within the jitter
    buffer), foreign and broken datagrams, the long header forms (CSRC, extension,
    padding) and a wrong-sized frame."""
    out = [x for x in d if r.random() > 0.03]
    key = id(r)
    if out and r.random() < 0.05:
        _held.setdefault(-key, []).append(out[0])  # comes again 20 ticks on: late
    if t % 20 == 0:
        out += _held.pop(-key, [])
    late = _held.pop(key, [])
    if out and r.random() < 0.1:
        _held[key] = out
        out = []
    out = late + out
    if t % 97 == 11 and out:
        x = out[0]
        # Same packet with one CSRC, a one-word extension and 3 bytes of padding.
        head = bytes([0x80 | 0x10 | 0x20 | 1, x[1]]) + x[2:12] + b"\0\0\0\1"
        out[0] = head + b"\xbe\xde\x00\x01" + b"\0\0\0\0" + x[12:] + b"\0\0\3"
    if t % 89 == 5:
        out.append(bytes([0x80, 8]) + bytes(170))  # PCMA on a PCMU call: dropped
        out.append(b"\x80\x00\x01")  # short
        out.append(bytes([0x40, 0]) + bytes(170))  # version 1
        out.append(bytes([0xA0, 0]) + bytes(10) + b"\x00")  # bad padding
    if t % 131 == 7 and out:
        x = out.pop()
        out.append(x[:100])  # a short frame: plays as silence
    return out


def _jump(t: int, d: Datagrams, _r: random.Random) -> Datagrams:
    """The far end restarts its numbering at tick 400 (the jitter buffer resyncs)."""
    if t < 400:
        return d
    return [
        x[:2] + struct.pack("!H", (struct.unpack_from("!H", x, 2)[0] + 3000) & 0xFFFF) + x[4:]
        for x in d
    ]


CALLS: list[tuple[str, Line]] = [
    ("ulaw", _clean),
    ("alaw", _clean),
    ("ulaw", _rough),
    ("ulaw", _jump),
]


def _trace(events: list[SessionEvent]) -> list[tuple[str, float]]:
    return [(type(e).__name__, e.line_seconds) for e in events]


def _sessions(doc: Path, tmp: Path, tag: str) -> list[AudioFaxSession]:
    out: list[AudioFaxSession] = []
    for k in range(len(CALLS)):
        out.append(AudioFaxSession(True, SessionOptions(f"A{k}"), tx_file=doc))
        out.append(AudioFaxSession(False, SessionOptions(f"B{k}"), rx_file=tmp / f"{tag}{k}.tif"))
    for s in out:
        s.frame_buffers(TICK)
    return out


def _pt(law: str) -> int:
    return 0 if law == "ulaw" else 8


#: Per session and tick: the datagram sent, the frame heard (the rx buffer after the step:
#: what spandsp left of the decoded frame, the same function of it on both paths), events.
Row = list[tuple[bytes, bytes, list[tuple[str, float]]]]


class _PyCall:
    """FaxMedia's audio step (providers/sip/media.py), per session."""

    def __init__(self, s: AudioFaxSession, law: str, ssrc: int, seq: int) -> None:
        self.s = s
        self.pt = _pt(law)
        self.rtp = RtpSender(self.pt, ssrc, seq)
        self.jitter = JitterBuffer(DEPTH)
        frame = s._frame
        assert frame is not None
        self.rx, self.tx = frame[0], frame[1]
        self.tx_bits = self.tx.view(np.uint16)
        self.packet = bytearray(12 + TICK)
        self.payload = np.frombuffer(self.packet, dtype=np.uint8, offset=12)
        self.encoder, self.decoder = g711.tables(law)
        self.codes = bytearray(TICK)
        self.u8 = np.frombuffer(self.codes, dtype=np.uint8)

    def step(self, queue: Datagrams) -> bytes:
        for data in queue:
            if len(data) > 12 and data[0] == 0x80:
                if data[1] & 0x7F == self.pt:
                    self.jitter.push((data[2] << 8) | data[3], data[12:])
                continue
            try:
                pkt = parse_rtp(data)
            except RtpError:
                continue
            if pkt.payload_type == self.pt:
                self.jitter.push(pkt.seq, pkt.payload)
        frame = self.jitter.pop()
        if frame is not None and len(frame) == TICK:
            self.codes[:] = frame
            self.decoder.take(self.u8, out=self.rx, mode="clip")
        else:
            self.rx.fill(0)
        self.s.step_frame()
        self.encoder.take(self.tx_bits, out=self.payload, mode="wrap")
        self.rtp.stamp(self.packet, TICK)
        return bytes(self.packet)


def _python_path(sessions: list[AudioFaxSession]) -> tuple[list[Row], list[_PyCall]]:
    calls = [_PyCall(s, CALLS[i // 2][0], 1000 + i, 65000 + 7 * i) for i, s in enumerate(sessions)]
    rngs = [random.Random(i) for i in range(len(sessions))]
    _held.clear()
    inbox: list[Datagrams] = [[] for _ in sessions]
    rows: list[Row] = []
    for t in range(TICKS):
        row: Row = []
        for i, c in enumerate(calls):
            sent = c.step(inbox[i])
            row.append((sent, c.rx.tobytes(), _trace(c.s.events())))
        rows.append(row)
        inbox = [CALLS[i // 2][1](t, [row[i ^ 1][0]], rngs[i]) for i in range(len(sessions))]
        if all(s.done for s in sessions):
            break
    return rows, calls


def _batch_path(sessions: list[AudioFaxSession], threads: int) -> tuple[list[Row], list[RtpLine]]:
    lines = [
        RtpLine(
            CALLS[i // 2][0], _pt(CALLS[i // 2][0]), 1000 + i, 65000 + 7 * i, jitter_frames=DEPTH
        )
        for i in range(len(sessions))
    ]
    rb = RtpBatch(TICK, threads=threads)
    rb.set_sessions(sessions, lines)
    rngs = [random.Random(i) for i in range(len(sessions))]
    _held.clear()
    rows: list[Row] = []
    for t in range(TICKS):
        flagged = rb.tick()
        assert not rb.failures
        sent = {i: d for i, _seq, d in rb.packets()}
        assert sorted(sent) == list(range(len(sessions)))
        row: Row = []
        for i, s in enumerate(sessions):
            events = s.events()
            assert bool(events) == (s in flagged)
            frame = s._frame
            assert frame is not None
            row.append((sent[i], frame[0].tobytes(), _trace(events)))
        rows.append(row)
        for i in range(len(sessions)):
            for data in CALLS[i // 2][1](t, [row[i ^ 1][0]], rngs[i]):
                rb.feed(i, data)
        if all(s.done for s in sessions):
            break
    assert (rb._parts._worker is not None) == (threads == 2)  # it did split
    rb.close()
    return rows, lines


@pytest.mark.parametrize("threads", [1, 2])
def test_rtp_batch_is_the_media_audio_step_tick_for_tick_byte_for_byte(
    threads: int, docs: dict[str, Doc], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four calls (PCMU and PCMA clean; a rough line: loss, duplicates, a held-back frame,
    foreign and broken datagrams, long headers, a short frame; a far end that restarts
    its numbering): every tick each session sends the same RTP datagram, byte for byte,
    and raises the same events at the same line time; the jitter counters agree."""
    doc = docs["light_g4"].path
    ref = _sessions(doc, tmp_path, "ref")
    bat = _sessions(doc, tmp_path, "bat")
    try:
        want, calls = _python_path(ref)
        monkeypatch.setattr(lines_tick, "SPLIT_MIN_SESSIONS", 2)  # read by the split
        got, lines = _batch_path(bat, threads)
        assert len(got) == len(want)
        for t, (row_got, row_want) in enumerate(zip(got, want, strict=True)):
            assert row_got == row_want, f"tick {t}"
        for i, (line, c) in enumerate(zip(lines, calls, strict=True)):
            jb = c.jitter
            assert (line.played, line.missing, line.late) == (jb.played, jb.missing, jb.late), i
            assert (line.seq, line.timestamp) == (c.rtp.seq, c.rtp.timestamp)
        assert lines[5].late > 0 and lines[5].missing > 0  # the rough line's receiver
        for k in (0, 1):  # the clean calls got their page
            result = bat[2 * k + 1].result
            assert result is not None and result.ok, k
            assert len(read_pages(tmp_path / f"bat{k}.tif")) == len(docs["light_g4"].pages)
        first = got[0][0][0]
        assert first[1] & 0x80 and not got[1][0][0][1] & 0x80  # the marker, once
    finally:
        for s in ref + bat:
            s.close()


def test_out_columns_send_through_send_columns(docs: dict[str, Doc]) -> None:
    """A tick's packets as columns go out with one send_columns call, fd and destination
    picked per session index by numpy: what arrives is what packets() gave."""
    import socket

    from lanfax.engine import dgram

    doc = docs["light_g4"].path
    sessions = [AudioFaxSession(True, tx_file=doc) for _ in range(3)]
    for s in sessions:
        s.frame_buffers(TICK)
    lines = [RtpLine("ulaw", 0, 7 + i) for i in range(3)]
    rx = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for r in rx:
            r.bind(("127.0.0.1", 0))
        tx.bind(("127.0.0.1", 0))
        io = dgram.Datagrams()
        fd_of = np.array([tx.fileno()] * 3, dtype=np.int32)
        dest_of = np.array([io.destination(r.getsockname()) for r in rx], dtype=np.int32)
        rb = RtpBatch(TICK)
        rb.set_sessions(sessions, lines)
        rb.tick()
        data, index, seq, offsets, lengths = rb.out_columns()
        assert list(index) == [0, 1, 2] and list(lengths) == [172] * 3
        assert list(offsets) == [0, 172, 344] and list(seq) == [0, 0, 0]
        assert io.send_columns(data, fd_of[index], offsets, lengths, dest_of[index]) == [0] * 3
        for i, r in enumerate(rx):
            r.settimeout(10)
            assert r.recv(2048) == rb.packets()[i][2]
    finally:
        for s in sessions:
            s.close()
        for r in rx:
            r.close()
        tx.close()


def test_rtp_batches_refuse_what_they_cannot_run(tmp_path: Path) -> None:
    s = AudioFaxSession(False, rx_file=tmp_path / "r.tif")
    rb = RtpBatch(TICK)
    try:
        with pytest.raises(EngineError, match="frame_buffers"):
            rb.set_sessions([s], [RtpLine("ulaw", 0, 1)])
        s.frame_buffers(TICK)
        with pytest.raises(EngineError, match="one RtpLine per session"):
            rb.set_sessions([s], [])
        with pytest.raises(EngineError, match="jitter capacity"):
            RtpLine("ulaw", 0, 1, capacity=65)
        rb.set_sessions([s], [RtpLine("alaw", 8, 1)])
        with pytest.raises(EngineError, match="no session 1"):
            rb.feed(1, b"")
        with pytest.raises(ValueError, match="past the data"):
            rb.feed_all(b"abc", [0], [4])
        with pytest.raises(ValueError, match="one length"):
            rb.feed_all(b"abc", [0, 0], [3])
        s.close()
        with pytest.raises(EngineError, match="session 0 of this batch was closed"):
            rb.tick()
        rb.set_sessions([], [])
        assert rb.tick() == [] and rb.packets() == []
    finally:
        s.close()


def test_a_whole_media_tick_over_real_sockets_in_five_crossings(
    docs: dict[str, Doc], tmp_path: Path
) -> None:
    """Two G.711 calls and two T.38 calls, every session on its own UDP socket on loopback:
    per tick one recv_many over every socket, the datagrams fed to the RTP and the T.38
    batch as columns, one tick each, one send_columns each; no Python per packet. Every
    fax arrives whole and no datagram fails to send."""
    import socket

    from lanfax.engine import T38FaxSession, dgram
    from lanfax.engine.lines import T38Batch, UdptlLine

    doc = docs["light_g4"].path
    made = _sessions(doc, tmp_path, "a")
    audio = made[:4]
    for extra in made[4:]:
        extra.close()
    t38: list[T38FaxSession] = []
    for k in range(2):
        t38.append(T38FaxSession(True, tx_file=doc))
        t38.append(T38FaxSession(False, rx_file=tmp_path / f"t{k}.tif"))
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(8)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
        io = dgram.Datagrams()
        fds = [sock.fileno() for sock in socks]
        # Sockets 0-3: the audio sessions, 4-7: the T.38 ones; each sends to its peer's.
        fd_of = np.array(fds, dtype=np.int32)
        dest_of = np.array(
            [io.destination(socks[i ^ 1].getsockname()) for i in range(8)], dtype=np.int32
        )
        rtp_of_fd = np.array([0, 1, 2, 3, -1, -1, -1, -1], dtype=np.int32)
        t38_of_fd = np.array([-1, -1, -1, -1, 0, 1, 2, 3], dtype=np.int32)
        rb = RtpBatch(TICK)
        rb.set_sessions(audio, [RtpLine("ulaw", 0, i) for i in range(4)])
        tb = T38Batch(TICK)
        tb.set_sessions(t38, [UdptlLine() for _ in range(4)])
        errors = 0
        for _ in range(TICKS):
            data, index, _offsets, lengths = io.recv_many(fds).columns()
            rb.feed_all(data, rtp_of_fd[index], lengths)
            tb.feed_all(data, t38_of_fd[index], lengths)
            rb.tick()
            tb.tick()
            for base, batch_ in ((0, rb), (4, tb)):
                out, idx, _seq, offsets, lens = batch_.out_columns()
                sent = io.send_columns(out, fd_of[idx + base], offsets, lens, dest_of[idx + base])
                errors += sum(1 for e in sent if e)
            if all(f.done for f in [*audio, *t38]):
                break
        assert errors == 0
        for receiver in [*audio[1::2], *t38[1::2]]:
            assert receiver.result is not None and receiver.result.ok
        for name in ("a0.tif", "a1.tif", "t0.tif", "t1.tif"):
            assert len(read_pages(tmp_path / name)) == len(docs["light_g4"].pages)
    finally:
        for sock in socks:
            sock.close()
        for f in [*audio, *t38]:
            f.close()


def test_without_the_compiled_helper_the_line_batches_say_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On the ABI fallback the wire-format batches refuse with a clear error (the caller
    keeps its Python path); T38Batch with IFPs still runs (tested in test_t38_batch)."""
    from lanfax.engine import lines, lines_rtp, lines_t38
    from lanfax.engine._binding import load_abi

    monkeypatch.setattr(lines_rtp, "load", load_abi)  # where the batches load the helper
    monkeypatch.setattr(lines_t38, "load", load_abi)
    for make in (
        lambda: lines.RtpLine("ulaw", 0, 1),
        lambda: lines.RtpBatch(),
        lambda: lines.UdptlLine(),
    ):
        with pytest.raises(EngineError, match="compiled helper"):
            make()
    tb = lines.T38Batch()
    assert not tb.compiled
    with pytest.raises(EngineError, match="compiled helper"):
        tb.set_sessions([], [])
