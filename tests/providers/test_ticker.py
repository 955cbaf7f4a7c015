"""The shared ticker: every real-time exchange of a loop on one timer, plain ticks in one C
call (the engine's compiled helper), and the same call as the exchange stepped in Python."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from lanfax.engine import batch
from lanfax.engine.options import SessionOptions
from lanfax.engine.session import AudioFaxSession, FaxSession, T38FaxSession
from lanfax.providers.virtual.media import (
    CutReason,
    Exchange,
    Progress,
    RealtimeRunner,
    Side,
    run_fast,
    shared_ticker,
)
from lanfax.providers.virtual.voice import VoiceEnd

#: Enough line time for CED, DIS/DCS (phase B at both ends) and the start of training.
SECONDS = 7.0


def _pair(kind: str, doc: Path, rx: Path) -> tuple[FaxSession, FaxSession]:
    cls = AudioFaxSession if kind == "audio" else T38FaxSession
    return (
        cls(True, SessionOptions("CALLER"), tx_file=doc),
        cls(False, SessionOptions("CALLEE"), rx_file=rx),
    )


def _exchange(a: object, b: object, packets: bool, seconds: float = SECONDS) -> Exchange:
    return Exchange(a, b, packets=packets, max_seconds=seconds)  # type: ignore[arg-type]


def _summary(seen: list[Progress], ex: Exchange) -> tuple[object, ...]:
    return (
        [(p.side, p.kind, p.pages, p.remote_ident, p.line_seconds) for p in seen],
        ex.cut_reason,
        ex.samples,
        sorted(s.value for s in ex.negotiated),
    )


@pytest.mark.skipif(
    bool(os.environ.get("LANFAX_ENGINE_ABI")), reason="the ABI binding was asked for"
)
def test_the_compiled_helper_batches_here() -> None:
    assert batch.available()


@pytest.mark.slow
def test_realtime_exchanges_share_one_ticker_and_match_the_python_steps(
    tmp_path: Path, docs: dict[str, Path]
) -> None:
    """Two audio and two T.38 calls plus a voice answer run in one ticker for 7 s of line
    time (the watchdog ends them); each ends exactly as the same call stepped in Python by
    run_fast: the same progress at the same line time, the same cut, the same samples. A
    runner cancelled mid-way leaves the ticker while the others go on."""
    kinds = ["audio", "audio", "t38", "t38"]

    def build(tag: str) -> list[tuple[Exchange, FaxSession | None, FaxSession | None]]:
        out: list[tuple[Exchange, FaxSession | None, FaxSession | None]] = []
        for i, kind in enumerate(kinds):
            a, b = _pair(kind, docs["g4"], tmp_path / f"{tag}{i}.tif")
            out.append((_exchange(a, b, kind == "t38"), a, b))
        out.append(
            (_exchange(AudioFaxSession(True, tx_file=docs["g4"]), VoiceEnd(), False), None, None)
        )
        return out

    reference = []
    for ex, a, b in build("ref"):
        seen: list[Progress] = []
        run_fast(ex, seen.extend)
        reference.append(_summary(seen, ex))
        for s in (a, b):
            if s is not None:
                s.close()

    async def scenario() -> tuple[list[tuple[object, ...]], int, int]:
        loop = asyncio.get_running_loop()
        items = build("rt")
        seen: list[list[Progress]] = [[] for _ in items]
        runners = [RealtimeRunner(ex, seen[i].extend, loop) for i, (ex, _a, _b) in enumerate(items)]
        # A sixth call that is cancelled after a second (its sessions closed at once).
        a6, b6 = _pair("audio", docs["g4"], tmp_path / "cancelled.tif")
        r6 = RealtimeRunner(_exchange(a6, b6, False), lambda _p: None, loop)
        for r in [*runners, r6]:
            r.start()
        ticker = shared_ticker(loop)
        assert len(ticker) == 6
        await asyncio.sleep(1.0)
        most_batched = ticker.batched
        r6.cancel()
        a6.close()
        b6.close()
        await asyncio.gather(*(r.done for r in runners))
        assert len(ticker) == 0
        with pytest.raises(asyncio.CancelledError):
            await r6.done
        return (
            [_summary(seen[i], ex) for i, (ex, _a, _b) in enumerate(items)],
            most_batched,
            ticker.late_ticks,
        )

    got, most_batched, _late = asyncio.run(scenario())
    # The four spandsp pairs and the cancelled one ran in C (the voice end cannot); with
    # the ABI binding every exchange steps in Python, in the same ticker.
    assert most_batched == (5 if batch.available() else 0)
    assert got == reference
    for summary in got:
        assert summary[1] is CutReason.WATCHDOG
    audio = got[0][0]
    assert isinstance(audio, list)
    assert {(side, kind) for side, kind, *_ in audio} >= {
        (Side.CALLER, "negotiated"),
        (Side.CALLEE, "negotiated"),
    }


@pytest.mark.slow
def test_a_cut_requested_during_batched_ticks_lands_at_the_next_tick(
    tmp_path: Path, docs: dict[str, Path]
) -> None:
    async def scenario() -> tuple[Exchange, float]:
        loop = asyncio.get_running_loop()
        a, b = _pair("audio", docs["g4"], tmp_path / "rx.tif")
        ex = _exchange(a, b, False, seconds=60)
        runner = RealtimeRunner(ex, lambda _p: None, loop)
        runner.start()
        await asyncio.sleep(1.0)
        assert shared_ticker(loop).batched == (1 if batch.available() else 0)
        ex.request_cut(CutReason.CALLER_ABORT)
        at = ex.line_seconds
        await runner.done
        a.close()
        b.close()
        return ex, at

    ex, at = asyncio.run(scenario())
    assert ex.cut_reason is CutReason.CALLER_ABORT
    assert ex.cut_sides == {Side.CALLER, Side.CALLEE}
    # The cut came within a few ticks of the request (catch-up ticks on a loaded machine).
    assert at <= ex.line_seconds <= at + 1.0


def test_which_lines_the_c_batch_carries(tmp_path: Path, docs: dict[str, Path]) -> None:
    """slin and plain G.711 lines go in the batch (G.711 coded there); a noisy line, a voice
    answer or a cut asked for keeps the exchange in Python."""
    import numpy as np

    from lanfax.providers.virtual.calls import LineModel

    rng = np.random.default_rng(0)
    a, b = _pair("audio", docs["g4"], tmp_path / "rx.tif")
    try:
        plain = Exchange(a, b, packets=False, max_seconds=60)
        ulaw = Exchange(a, b, packets=False, max_seconds=60, line=LineModel("ulaw", None, rng))
        noisy = Exchange(a, b, packets=False, max_seconds=60, line=LineModel("alaw", 30.0, rng))
        voice = Exchange(a, VoiceEnd(), packets=False, max_seconds=60)
        expected = 60 * 8000 if batch.available() else None
        assert plain.batch_limit() == expected and plain.batch_law is None
        assert ulaw.batch_limit() == expected and ulaw.batch_law == "ulaw"
        assert noisy.batch_limit() is None
        assert voice.batch_limit() is None
        plain.request_cut(CutReason.CALLER_ABORT)
        assert plain.batch_limit() is None
        idle = Exchange(a, b, packets=False, max_seconds=60, max_idle_seconds=10)
        assert idle.batch_limit() == (10 * 8000 if batch.available() else None)
    finally:
        a.close()
        b.close()


@pytest.mark.skipif(not batch.available(), reason="no compiled helper")
def test_an_engine_failure_in_the_batch_ends_its_calls_instead_of_stalling(
    tmp_path: Path, docs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A FAKE failure of the batch's C call (the real one cannot be made to fail on
    demand): each batched call's runner gets the error; the ticker does not stop."""
    from lanfax.model.errors import EngineError

    def broken(self: batch.PairBatch) -> list[int]:
        raise EngineError("injected batch failure")

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        a, b = _pair("audio", docs["g4"], tmp_path / "rx.tif")
        runner = RealtimeRunner(_exchange(a, b, False, seconds=60), lambda _p: None, loop)
        voice = RealtimeRunner(
            _exchange(AudioFaxSession(True, tx_file=docs["g4"]), VoiceEnd(), False, 1.0),
            lambda _p: None,
            loop,
        )
        runner.start()
        voice.start()
        await asyncio.sleep(0.3)  # batched by now
        monkeypatch.setattr(batch.PairBatch, "tick", broken)
        with pytest.raises(EngineError, match="injected batch failure"):
            await asyncio.wait_for(runner.done, 5)
        await asyncio.wait_for(voice.done, 5)  # the Python-stepped call went on to its end
        a.close()
        b.close()

    asyncio.run(scenario())
