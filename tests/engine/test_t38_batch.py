"""T38Batch (engine.batch): many T.38 sessions on their own lines ticked in one C call give,
tick for tick, the packets and events of the sessions stepped one by one (receive, then
take_packets + tick, as the SIP media does per call)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lanfax.engine import SessionOptions, T38FaxSession, batch, lines_t38, lines_tick
from lanfax.engine import session as session_module
from lanfax.engine._binding import load_abi
from lanfax.engine.events import SessionEvent
from lanfax.model.errors import EngineError

from .conftest import Doc, read_pages

TICKS = 2000  # 40 s of line time: the light page and phase E
Packets = list[tuple[int, bytes]]
#: What a line does to one tick's packets from one side: (tick, packets) -> delivered.
Line = Callable[[int, Packets], Packets]


def _clean(_tick: int, packets: Packets) -> Packets:
    return packets


def _lossy(tick: int, packets: Packets) -> Packets:
    # Loses one packet in seven (by its place, so both runs lose the same ones); T.30
    # repeats its commands, so the call still tends to finish, but another way.
    return [p for k, p in enumerate(packets) if (tick + k) % 7 != 3]


def _reordered(_tick: int, packets: Packets) -> Packets:
    return packets[::-1]


LINES: list[Line] = [_clean, _lossy, _reordered]


def _sessions(doc: Path, tmp: Path, tag: str) -> list[T38FaxSession]:
    """Pairs of sessions: 2k sends to 2k+1 over LINES[k]."""
    out: list[T38FaxSession] = []
    for k in range(len(LINES)):
        out.append(T38FaxSession(True, SessionOptions(f"A{k}"), tx_file=doc))
        out.append(T38FaxSession(False, SessionOptions(f"B{k}"), rx_file=tmp / f"{tag}{k}.tif"))
    return out


def _trace(events: list[SessionEvent]) -> list[tuple[str, float]]:
    return [(type(e).__name__, e.line_seconds) for e in events]


def _peer(i: int) -> int:
    return i ^ 1


def _run_per_session(
    sessions: list[T38FaxSession],
) -> list[list[tuple[Packets, list[tuple[str, float]]]]]:
    """Each session stepped on its own, every tick: what it emitted and its events."""
    ticks: list[list[tuple[Packets, list[tuple[str, float]]]]] = []
    inbox: list[Packets] = [[] for _ in sessions]
    for t in range(TICKS):
        row = []
        sent: list[Packets] = []
        for i, s in enumerate(sessions):
            for seq, ifp in inbox[i]:
                s.receive(seq, ifp)
            packets = s.take_packets()
            packets += s.tick(160)
            sent.append(packets)
            row.append((packets, _trace(s.events())))
        ticks.append(row)
        inbox = [LINES[i // 2](t, sent[_peer(i)]) for i in range(len(sessions))]
        if all(s.done for s in sessions):
            break
    return ticks


def _run_batched(
    sessions: list[T38FaxSession], b: batch.T38Batch
) -> list[list[tuple[Packets, list[tuple[str, float]]]]]:
    b.set_sessions(sessions)
    ticks: list[list[tuple[Packets, list[tuple[str, float]]]]] = []
    for t in range(TICKS):
        flagged = b.tick()
        assert not b.failures
        sent: list[Packets] = [[] for _ in sessions]
        for i, seq, ifp in b.packets():
            sent[i].append((seq, ifp))
        row = []
        for i, s in enumerate(sessions):
            events = s.events()
            assert bool(events) == (s in flagged), (t, i)
            row.append((sent[i], _trace(events)))
        ticks.append(row)
        for i in range(len(sessions)):
            for seq, ifp in LINES[i // 2](t, sent[_peer(i)]):
                b.receive(i, seq, ifp)
        if all(s.done for s in sessions):
            break
    return ticks


@pytest.mark.parametrize(
    ("compiled", "threads"), [(True, 1), (True, 2), (False, 1)], ids=["compiled", "split", "abi"]
)
def test_a_t38_batch_is_each_session_stepped_on_its_own_tick_for_tick(
    compiled: bool,
    threads: int,
    docs: dict[str, Doc],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three calls (a clean line, a lossy one, one that reorders) in one batch against the
    same calls stepped session by session: every tick, each session emits the same packets
    (sequence numbers and bytes) and raises the same events at the same line time."""
    if compiled and not batch.available():
        pytest.skip("no compiled helper")
    if not compiled:
        monkeypatch.setattr(session_module, "load", load_abi)
        monkeypatch.setattr(lines_t38, "load", load_abi)
    doc = docs["light_g4"].path
    reference = _sessions(doc, tmp_path, "ref")
    monkeypatch.setattr(lines_tick, "SPLIT_MIN_SESSIONS", 2)  # six sessions split in two threes
    b = batch.T38Batch(160, threads=threads)
    assert b.compiled is compiled
    batched = _sessions(doc, tmp_path, "batch")
    try:
        want = _run_per_session(reference)
        got = _run_batched(batched, b)
        assert len(got) == len(want)
        for t, (row_got, row_want) in enumerate(zip(got, want, strict=True)):
            assert row_got == row_want, f"tick {t}"
        sent = sum(len(p) for row in got for p, _ in row)
        events = sum(len(e) for row in got for _, e in row)
        assert sent > 500 and events >= 12  # the calls did run
        for k in range(len(LINES)):
            ref_r, bat_r = reference[2 * k + 1].result, batched[2 * k + 1].result
            assert ref_r is not None and bat_r is not None
            assert (bat_r.code, bat_r.pages_rx) == (ref_r.code, ref_r.pages_rx)
        assert batched[1].result is not None and batched[1].result.ok  # the clean line
        assert len(read_pages(tmp_path / "batch0.tif")) == len(docs["light_g4"].pages)
        assert [s.elapsed_samples for s in batched] == [s.elapsed_samples for s in reference]
        assert (b._parts._worker is not None) == (threads == 2 and compiled)  # it did split
    finally:
        b.close()
        for s in reference + batched:
            s.close()


def test_packets_queued_before_the_tick_come_out_first(
    docs: dict[str, Doc], tmp_path: Path
) -> None:
    """What a session queued outside the batch (here: the answers to packets handed to it
    directly) comes out of the next tick first, as take_packets() + tick() would give it."""
    doc = docs["light_g4"].path
    a1, b1 = T38FaxSession(True, tx_file=doc), T38FaxSession(False, rx_file=tmp_path / "1.tif")
    a2, b2 = T38FaxSession(True, tx_file=doc), T38FaxSession(False, rx_file=tmp_path / "2.tif")
    tb = batch.T38Batch(160)
    try:
        tb.set_sessions([b2])
        for _ in range(100):  # the caller's CNG/CED/DIS start
            for seq, ifp in a1.tick(160):
                b1.receive(seq, ifp)
                b2.receive(seq, ifp)
            a2.tick(160)
            want = b1.take_packets() + b1.tick(160)
            tb.tick()
            got = [(seq, ifp) for i, seq, ifp in tb.packets() if i == 0]
            assert got == want
            b1.events()
            b2.events()
    finally:
        for s in (a1, b1, a2, b2):
            s.close()


def test_a_t38_batch_refuses_what_it_cannot_run(docs: dict[str, Doc], tmp_path: Path) -> None:
    from lanfax.engine import AudioFaxSession

    doc = docs["light_g4"].path
    audio = AudioFaxSession(True, tx_file=doc)
    t38 = T38FaxSession(False, rx_file=tmp_path / "r.tif")
    tb = batch.T38Batch(160)
    try:
        with pytest.raises(EngineError, match="cannot be ticked"):
            tb.set_sessions([t38, audio])  # type: ignore[list-item]
        tb.set_sessions([t38])
        with pytest.raises(EngineError, match="no session 1"):
            tb.receive(1, 0, b"\x00")
        assert tb.tick() == []
        assert {i for i, _, _ in tb.packets()} <= {0}  # the answerer's first indicator
        t38.close()
        with pytest.raises(EngineError, match="session 0 of this batch was closed"):
            tb.tick()
        with pytest.raises(EngineError, match="cannot be ticked"):
            tb.set_sessions([t38])
        with pytest.raises(EngineError, match="positive step"):
            batch.T38Batch(0)
        tb.set_sessions([])
        assert tb.tick() == [] and len(tb) == 0
    finally:
        audio.close()
        t38.close()


def test_a_split_batch_dropped_unclosed_lets_its_worker_end(
    docs: dict[str, Doc], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc
    import threading

    if not batch.available():
        pytest.skip("no compiled helper")
    monkeypatch.setattr(lines_tick, "SPLIT_MIN_SESSIONS", 2)
    sessions = [T38FaxSession(False, rx_file=tmp_path / f"{i}.tif") for i in range(4)]
    tb = batch.T38Batch(160, threads=2)
    try:
        tb.set_sessions(sessions)
        tb.tick()
        worker = tb._parts._worker
        assert worker is not None and worker.is_alive()
        del tb
        gc.collect()
        worker.join(timeout=10)
        assert not worker.is_alive()
        assert worker not in threading.enumerate()
    finally:
        for s in sessions:
            s.close()
