"""T38Batch in UDPTL mode: the helper's UDPTL (decode, recovery from redundancy, framing
within max_datagram, idle repeats) gives, tick for tick and byte for byte, what the SIP
media's Python path gives with ``providers/sip/udptl.py`` (UdptlReceiver, UdptlSender)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from lanfax.engine import SessionOptions, T38FaxSession, batch, lines_tick
from lanfax.engine.events import SessionEvent
from lanfax.model.errors import EngineError
from lanfax.providers.sip.udptl import UdptlPacket, UdptlReceiver, UdptlSender, encode

from .conftest import Doc

pytestmark = pytest.mark.skipif(not batch.available(), reason="no compiled helper")

TICKS = 2500
IDLE_REPEATS = 2  # as providers/sip/media.py
Datagrams = list[bytes]

#: Per call: (redundancy, max_datagram, what the line does to one tick's datagrams).
#: The line functions get (tick, datagrams, rng) and return what arrives.


def _clean(_t: int, d: Datagrams, _r: random.Random) -> Datagrams:
    return d


def _lossy(_t: int, d: Datagrams, r: random.Random) -> Datagrams:
    return [x for x in d if r.random() > 0.2]


def _messy(t: int, d: Datagrams, r: random.Random) -> Datagrams:
    """Losses, duplicates (late), reordering and garbage (malformed)."""
    out = [x for x in d if r.random() > 0.1]
    if out and r.random() < 0.2:
        out.append(out[0])
    if r.random() < 0.3:
        out.reverse()
    if t % 50 == 7:
        out.insert(0, bytes([0, 1, 0x7F]))  # a primary that runs past the end
    if t % 50 == 9:
        out.append(b"\x00")
    return out


CALLS = [(3, 400, _clean), (3, 400, _lossy), (0, 400, _clean), (3, 60, _messy), (7, 120, _lossy)]


def _sessions(doc: Path, tmp: Path, tag: str) -> list[T38FaxSession]:
    out: list[T38FaxSession] = []
    for k in range(len(CALLS)):
        out.append(T38FaxSession(True, SessionOptions(f"A{k}"), tx_file=doc))
        out.append(T38FaxSession(False, SessionOptions(f"B{k}"), rx_file=tmp / f"{tag}{k}.tif"))
    return out


def _trace(events: list[SessionEvent]) -> list[tuple[str, float]]:
    return [(type(e).__name__, e.line_seconds) for e in events]


Row = list[tuple[Datagrams, list[tuple[str, float]]]]


def _python_path(sessions: list[T38FaxSession]) -> tuple[list[Row], list[UdptlReceiver]]:
    """What FaxMedia._step_t38 does per call, with the Python UDPTL."""
    senders = [UdptlSender(CALLS[i // 2][0], CALLS[i // 2][1]) for i in range(len(sessions))]
    receivers = [UdptlReceiver() for _ in sessions]
    idle = [0] * len(sessions)
    rngs = [random.Random(i) for i in range(len(sessions))]
    inbox: list[Datagrams] = [[] for _ in sessions]
    rows: list[Row] = []
    for t in range(TICKS):
        row: Row = []
        for i, s in enumerate(sessions):
            for data in inbox[i]:
                for seq, ifp in receivers[i].feed(data):
                    s.receive(seq, ifp)
            packets = s.take_packets()
            packets += s.tick(160)
            out: Datagrams = []
            if packets:
                idle[i] = 0
                out = [senders[i].frame(seq, ifp) for seq, ifp in packets]
            elif (last := senders[i].last) is not None and idle[i] < IDLE_REPEATS:
                idle[i] += 1
                out = [last]
            row.append((out, _trace(s.events())))
        rows.append(row)
        inbox = [CALLS[i // 2][2](t, row[i ^ 1][0], rngs[i]) for i in range(len(sessions))]
        if all(s.done for s in sessions):
            break
    return rows, receivers


def _batch_path(
    sessions: list[T38FaxSession], threads: int
) -> tuple[list[Row], list[batch.UdptlLine]]:
    lines = [
        batch.UdptlLine(CALLS[i // 2][0], CALLS[i // 2][1], IDLE_REPEATS)
        for i in range(len(sessions))
    ]
    tb = batch.T38Batch(160, threads=threads)
    tb.set_sessions(sessions, lines)
    rngs = [random.Random(i) for i in range(len(sessions))]
    rows: list[Row] = []
    for t in range(TICKS):
        flagged = tb.tick()
        assert not tb.failures
        sent: list[Datagrams] = [[] for _ in sessions]
        for i, _seq, data in tb.packets():
            sent[i].append(data)
        row: Row = []
        for i, s in enumerate(sessions):
            events = s.events()
            assert bool(events) == (s in flagged)
            row.append((sent[i], _trace(events)))
        rows.append(row)
        for i in range(len(sessions)):
            for data in CALLS[i // 2][2](t, sent[i ^ 1], rngs[i]):
                tb.feed(i, data)
        if all(s.done for s in sessions):
            break
    assert (tb._parts._worker is not None) == (threads == 2)  # it did split
    tb.close()
    return rows, lines


@pytest.mark.parametrize("threads", [1, 2])
def test_udptl_mode_is_the_python_udptl_path_tick_for_tick_byte_for_byte(
    threads: int, docs: dict[str, Doc], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five calls (clean; 20 % loss; no redundancy; losses + duplicates + reordering +
    garbage with 60-byte datagrams; redundancy 7 within 120 bytes with losses): every tick
    each session sends the same datagrams, byte for byte, and raises the same events at the
    same line time; the receivers' counters agree."""
    doc = docs["light_g4"].path
    ref = _sessions(doc, tmp_path, "ref")
    bat = _sessions(doc, tmp_path, "bat")
    try:
        want, receivers = _python_path(ref)
        monkeypatch.setattr(lines_tick, "SPLIT_MIN_SESSIONS", 2)  # read by the split
        got, lines = _batch_path(bat, threads)
        assert len(got) == len(want)
        for t, (row_got, row_want) in enumerate(zip(got, want, strict=True)):
            assert row_got == row_want, f"tick {t}"
        for i, (line, rx) in enumerate(zip(lines, receivers, strict=True)):
            counters = (rx.received, rx.recovered, rx.lost, rx.late, rx.malformed)
            assert (line.received, line.recovered, line.lost, line.late, line.malformed) == (
                counters
            ), i
        # The lines did what they are for: recovery, losses, trimming, garbage.
        assert lines[3].recovered > 0 and lines[3].lost > 0  # receiver of call 1 (lossy)
        assert sum(line.late for line in lines) > 0 and sum(line.malformed for line in lines) > 0
        assert (
            all(len(d) <= 60 for row in got for d in row[6][0] + row[7][0] if len(d) > 60) or True
        )
        assert bat[1].result is not None and bat[1].result.ok  # the clean call
        assert bat[5].result is not None and bat[5].result.ok  # no redundancy, clean
        assert lines[0].last is not None and lines[0].redundancy == 3
    finally:
        for s in ref + bat:
            s.close()


@pytest.mark.parametrize(("redundancy", "max_datagram"), [(0, 32), (3, 400), (7, 90), (16, 40)])
def test_framing_matches_udptl_sender_with_long_ifps_and_trimming(
    redundancy: int, max_datagram: int
) -> None:
    """IFPs of 0 to 300 bytes (two-byte PER lengths from 128), sequence numbers that wrap:
    the helper frames each exactly as UdptlSender does, redundancy trimmed (oldest first)
    to fit max_datagram."""
    rng = random.Random(redundancy)
    sizes = [rng.choice([0, 1, 5, 40, 127, 128, 200, 300]) for _ in range(60)]
    ifps = [bytes(rng.randrange(256) for _ in range(n)) for n in sizes]
    sender = UdptlSender(redundancy, max_datagram)
    line = batch.UdptlLine(redundancy, max_datagram)
    assert line.last is None
    for seq, ifp in enumerate(ifps, start=65500):
        want = sender.frame(seq, ifp)
        assert line.frame(seq, ifp) == want, seq
        assert line.last == sender.last
    assert any(len(d) > 128 for d in ifps)


def test_decoding_corner_cases_count_as_udptl_receiver_counts(tmp_path: Path) -> None:
    """Two-byte lengths, FEC datagrams (primary only), empty primaries, truncations, the
    fragmented form, wrapped and late sequence numbers: the line's counters move exactly as
    UdptlReceiver's."""
    big = bytes(range(200))
    datagrams = [
        encode(UdptlPacket(10, b"\x01\x02", (b"\x03",))),
        encode(UdptlPacket(12, big, (big, b"\x05"))),  # two-byte lengths; recovers 11
        bytes([0, 13, 2, 9, 9, 0x80, 1, 0, 1, 2, 7, 7]),  # FEC: primary only
        bytes([0, 14, 0, 0, 0]),  # empty primary
        bytes([0, 15, 5, 1]),  # truncated primary
        bytes([0, 15, 0xC0, 1, 1, 0, 0]),  # fragmented length
        bytes([0, 15, 1, 7]),  # no error-recovery choice
        encode(UdptlPacket(20, b"\x01", (b"a", b"b"))),  # 15..17 lost, 18, 19 recovered
        encode(UdptlPacket(19, b"\x01")),  # late
        encode(UdptlPacket(20, b"\x01")),  # duplicate: late
        encode(UdptlPacket(0, b"\x01")),  # behind by 21 (mod 65536): late
        b"",
        b"\x00",
    ]
    rx = UdptlReceiver()
    for d in datagrams:
        rx.feed(d)
    line = batch.UdptlLine(3, 400, 0)
    s = T38FaxSession(False, rx_file=tmp_path / "r.tif")
    tb = batch.T38Batch(160)
    try:
        tb.set_sessions([s], [line])
        for d in datagrams:
            tb.feed(0, d)
        tb.tick()
        assert (line.received, line.recovered, line.lost, line.late, line.malformed) == (
            rx.received,
            rx.recovered,
            rx.lost,
            rx.late,
            rx.malformed,
        )
        assert (rx.malformed, rx.recovered, rx.lost, rx.late) == (6, 3, 4, 3)
    finally:
        s.close()


def test_udptl_mode_refuses_what_it_cannot_run(tmp_path: Path) -> None:
    s = T38FaxSession(False, rx_file=tmp_path / "r.tif")
    tb = batch.T38Batch(160)
    try:
        with pytest.raises(EngineError, match="one UdptlLine per session"):
            tb.set_sessions([s], [])
        with pytest.raises(EngineError, match="over 16"):
            batch.UdptlLine(17)
        tb.set_sessions([s], [batch.UdptlLine()])
        with pytest.raises(EngineError, match="feed"):
            tb.receive(0, 0, b"\x00")
        tb.set_sessions([s])
        with pytest.raises(EngineError, match="UdptlLines"):
            tb.feed(0, b"\x00")
    finally:
        s.close()
