"""Session batches (engine.batch): many sessions' ticks in one C call give the same calls
as the sessions stepped one by one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lanfax.engine import AudioFaxSession, SessionOptions, T38FaxSession, batch, run_loopback
from lanfax.engine.events import SessionEvent
from lanfax.engine.loopback import advance
from lanfax.engine.session import FaxSession
from lanfax.model.errors import EngineError

from .conftest import Doc, read_pages

pytestmark = pytest.mark.skipif(not batch.available(), reason="no compiled helper")

KINDS = ["audio", "t38", "audio", "t38"]
TICKS = 1500  # 30 s of line time: negotiation and the light pages


def _pairs(doc: Path, tmp: Path, tag: str) -> list[tuple[FaxSession, FaxSession]]:
    out: list[tuple[FaxSession, FaxSession]] = []
    for i, kind in enumerate(KINDS):
        cls = AudioFaxSession if kind == "audio" else T38FaxSession
        a = cls(True, SessionOptions("A"), tx_file=doc)
        b = cls(False, SessionOptions("B"), rx_file=tmp / f"{tag}{i}.tif")
        out.append((a, b))
    return out


def _trace(events: list[SessionEvent]) -> list[tuple[str, float]]:
    return [(type(e).__name__, e.line_seconds) for e in events]


@pytest.mark.parametrize("threads", [1, 2])
def test_a_pair_batch_runs_the_same_calls_as_stepping_each_pair(
    threads: int, docs: dict[str, Doc], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four pairs (audio and T.38) ticked together, in one thread or split over two (the
    split threshold lowered so that four pairs split), end exactly as each pair stepped on
    its own: the same events at the same line time, the same pages."""
    monkeypatch.setattr(batch, "SPLIT_MIN_PAIRS", 2)
    doc = docs["light_g4"].path
    reference = []
    for a, b in _pairs(doc, tmp_path, "ref"):
        advance(a, b, TICKS)
        reference.append((_trace(a.events()), _trace(b.events())))
        a.close()
        b.close()

    pairs = _pairs(doc, tmp_path, "batch")
    pb = batch.PairBatch(160, threads=threads)
    try:
        pb.set_pairs([(a, b, 0, TICKS * 160, None) for a, b in pairs])
        events: list[tuple[list[SessionEvent], list[SessionEvent]]] = [([], []) for _ in pairs]
        at_limit = set()
        for _ in range(TICKS):
            for i in pb.tick():
                a, b = pairs[i]
                batch.collect(a)
                batch.collect(b)
                events[i][0].extend(a.events())
                events[i][1].extend(b.events())
                if pb.samples(i) >= TICKS * 160:
                    at_limit.add(i)
        got = [(_trace(ea), _trace(eb)) for ea, eb in events]
        assert got == reference
        assert at_limit == {0, 1, 2, 3}  # each flagged when its line time reached the limit
        # Line time ran on after phase E (the batch ticks what it holds), in C and session.
        assert all(pb.samples(i) == TICKS * 160 for i in range(4))
        assert all(a.elapsed_samples == TICKS * 160 for a, _ in pairs)
        assert pb.packets(1)[0] > 0 and pb.packets(0) == (0, 0)
        for i, (a, b) in enumerate(pairs):
            assert a.done and b.done and b.result is not None and b.result.ok, i
            assert len(read_pages(tmp_path / f"batch{i}.tif")) == len(docs["light_g4"].pages)
    finally:
        pb.close()
        for a, b in pairs:
            a.close()
            b.close()


@pytest.mark.parametrize("threads", [1, 2])
def test_a_frame_batch_is_step_frame_for_every_session(
    threads: int, docs: dict[str, Doc], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two calls on RTP-like lines: one stepped session by session (step_frame), one in a
    FrameBatch (on one thread, or split over two: the threshold lowered so that two
    sessions split); the same samples go out and the same events come, tick for tick."""
    monkeypatch.setattr(batch, "SPLIT_MIN_SESSIONS", 2)
    doc = docs["light_g4"].path

    def make(tag: str) -> tuple[AudioFaxSession, AudioFaxSession]:
        return (
            AudioFaxSession(True, tx_file=doc),
            AudioFaxSession(False, rx_file=tmp_path / f"{tag}.tif"),
        )

    a1, b1 = make("one")
    a2, b2 = make("batch")
    bufs1 = [s.frame_buffers(160) for s in (a1, b1)]
    bufs2 = [s.frame_buffers(160) for s in (a2, b2)]
    fb = batch.FrameBatch(160, threads=threads)
    fb.set_sessions([a2, b2])
    try:
        flagged_events = 0
        for _ in range(TICKS):
            for (rx, _), (_, tx) in ((bufs1[0], bufs1[1]), (bufs1[1], bufs1[0])):
                rx[:] = tx
            for (rx, _), (_, tx) in ((bufs2[0], bufs2[1]), (bufs2[1], bufs2[0])):
                rx[:] = tx
            a1.step_frame()
            b1.step_frame()
            for s in fb.tick():
                flagged_events += len(s._events)
            assert np.array_equal(bufs1[0][1], bufs2[0][1])
            assert np.array_equal(bufs1[1][1], bufs2[1][1])
            assert _trace(a1.events()) == _trace(a2.events())
            assert _trace(b1.events()) == _trace(b2.events())
            if a1.done and b1.done:
                break
        assert a2.done and b2.done and flagged_events > 0
        assert b2.result is not None and b2.result.ok
        assert a1.elapsed_samples == a2.elapsed_samples
        assert (fb._worker is not None) == (threads == 2)
    finally:
        fb.close()
        for s in (a1, b1, a2, b2):
            s.close()


def test_batches_refuse_what_they_cannot_run(docs: dict[str, Doc], tmp_path: Path) -> None:
    doc = docs["light_g4"].path
    audio = AudioFaxSession(True, tx_file=doc)
    t38 = T38FaxSession(False, rx_file=tmp_path / "r.tif")
    try:
        assert audio.compiled and batch.frame_batchable(audio)
        assert not batch.frame_batchable(t38)
        assert batch.pair_kind(audio, t38) is None
        with pytest.raises(EngineError, match="cannot be ticked"):
            batch.PairBatch().set_pairs([(audio, t38, 0, 1, None)])
        with pytest.raises(EngineError, match="frame_buffers"):
            batch.FrameBatch().set_sessions([audio])
    finally:
        audio.close()
        t38.close()
    assert not batch.frame_batchable(audio)  # closed


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_a_pair_batch_on_a_g711_line_is_the_python_round_trip(
    law: str, docs: dict[str, Doc], tmp_path: Path
) -> None:
    """A pair on a G.711 line: the batch's C table gives the same call as the Python
    round trip (run_loopback with codec=law), event for event, page for page."""
    doc = docs["light_g4"].path
    a = AudioFaxSession(True, SessionOptions("A"), tx_file=doc)
    b = AudioFaxSession(False, SessionOptions("B"), rx_file=tmp_path / "ref.tif")
    try:
        ref = run_loopback(a, b, codec=law)
    finally:
        a.close()
        b.close()
    assert ref.sender.ok and ref.receiver.ok
    a = AudioFaxSession(True, SessionOptions("A"), tx_file=doc)
    b = AudioFaxSession(False, SessionOptions("B"), rx_file=tmp_path / "batch.tif")
    pb = batch.PairBatch(160, threads=1)
    try:
        pb.set_pairs([(a, b, 0, 10**9, law)])
        assert pb._pairs[0].line != pb._ffi.NULL
        ev_a: list[SessionEvent] = []
        ev_b: list[SessionEvent] = []
        while not (a.done and b.done) and pb.samples(0) < TICKS * 160:
            if pb.tick():
                batch.collect(a)
                batch.collect(b)
                ev_a += a.events()
                ev_b += b.events()
        # The same events; an event raised inside fax_tx is stamped at the start of its
        # tick by the public tx() (run_loopback's impaired path) and at its end by a batch
        # (as by run_loopback's plain path): at most one tick apart.
        for got, want in ((ev_a, ref.sender_events), (ev_b, ref.receiver_events)):
            assert [k for k, _ in _trace(got)] == [k for k, _ in _trace(want)]
            for (_, t_got), (_, t_want) in zip(_trace(got), _trace(want), strict=True):
                assert t_want <= t_got <= t_want + 0.02 + 1e-9
        assert b.result is not None and b.result.ok
        for got_page, want_page in zip(
            read_pages(tmp_path / "batch.tif"), read_pages(tmp_path / "ref.tif"), strict=True
        ):
            assert np.array_equal(got_page, want_page)
    finally:
        pb.close()
        a.close()
        b.close()


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_the_line_table_is_the_g711_round_trip_of_every_sample(law: str) -> None:
    from lanfax.engine import g711

    pb = batch.PairBatch(160, threads=1)
    table = np.frombuffer(pb._ffi.buffer(pb._line_table(law), 65536 * 2), dtype=np.int16)
    samples = np.arange(-32768, 32768, dtype=np.int64).astype(np.int16)
    want = g711.roundtrip(samples, law)
    assert np.array_equal(table[samples.view(np.uint16)], want)
    assert not np.array_equal(want, samples)  # the line does change the samples
