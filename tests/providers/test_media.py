"""The sans-IO exchange driven directly with real spandsp sessions (no provider around it)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from lanfax.engine.options import SessionOptions
from lanfax.engine.session import AudioFaxSession, T38FaxSession
from lanfax.providers.virtual.media import (
    HANGUP_GRACE,
    SAMPLE_RATE,
    CutReason,
    Exchange,
    Progress,
    RealtimeRunner,
    Side,
    run_fast,
)
from lanfax.providers.virtual.voice import VoiceEnd


def pair(tmp_path: Path, doc: Path) -> tuple[AudioFaxSession, AudioFaxSession]:
    a = AudioFaxSession(True, SessionOptions("CALLER"), tx_file=doc)
    b = AudioFaxSession(False, SessionOptions("CALLEE"), rx_file=tmp_path / "rx.tif")
    return a, b


def test_progress_order_and_end(tmp_path: Path, docs: dict[str, Path]) -> None:
    a, b = pair(tmp_path, docs["g4"])
    ex = Exchange(a, b, packets=False, max_seconds=600)
    seen: list[Progress] = []
    run_fast(ex, seen.extend)
    for side in Side:
        kinds = [p.kind for p in seen if p.side is side]
        assert kinds[0] == "negotiated" and kinds[-1] == "ended"
        assert kinds.count("page") == 2 and kinds.count("ended") == 1
    assert ex.finished and ex.cut_reason is None and ex.cut_sides == set()
    assert ex.negotiated == {Side.CALLER, Side.CALLEE}
    assert ex.pages == {Side.CALLER: 2, Side.CALLEE: 2}
    callee_pages = [p for p in seen if p.side is Side.CALLEE and p.kind == "page"]
    assert [p.last for p in callee_pages] == [False, True]
    assert a.result is not None and a.result.ok and b.result is not None and b.result.ok
    # Stepping a finished exchange changes nothing.
    samples = ex.samples
    assert ex.step() == [] and ex.samples == samples
    a.close()
    b.close()


def test_cut_from_another_thread(tmp_path: Path, docs: dict[str, Path]) -> None:
    a, b = pair(tmp_path, docs["dense"])
    ex = Exchange(a, b, packets=False, max_seconds=3600)

    def report(batch: list[Progress]) -> None:
        if any(p.kind == "page" and p.side is Side.CALLEE for p in batch):
            t = threading.Thread(target=ex.request_cut, args=(CutReason.CALLER_ABORT,))
            t.start()
            t.join()

    run_fast(ex, report)
    assert ex.cut_reason is CutReason.CALLER_ABORT
    assert ex.cut_sides == {Side.CALLER, Side.CALLEE}
    assert b.result is not None and b.result.pages_rx == 1
    a.close()
    b.close()


def test_voice_is_hung_up_after_the_fax_gives_up(tmp_path: Path, docs: dict[str, Path]) -> None:
    a = AudioFaxSession(True, SessionOptions("CALLER"), tx_file=docs["one"])
    voice = VoiceEnd(seed=1)
    ex = Exchange(a, voice, packets=False, max_seconds=3600)
    run_fast(ex, lambda batch: None)
    assert a.result is not None and not a.result.ok and not a.result.terminated
    assert ex.negotiated == set()  # nobody ever spoke T.30 to the caller
    assert ex.cut_reason is CutReason.HUNG_UP and ex.cut_sides == {Side.CALLEE}
    assert ex.line_seconds >= a.result.line_seconds + HANGUP_GRACE - 0.1
    assert voice.heard_samples > 0
    a.close()


def test_watchdog_cuts_on_line_time(tmp_path: Path, docs: dict[str, Path]) -> None:
    a, b = pair(tmp_path, docs["dense"])
    ex = Exchange(a, b, packets=False, max_seconds=20)
    run_fast(ex, lambda batch: None)
    assert ex.cut_reason is CutReason.WATCHDOG
    assert ex.samples <= 20 * SAMPLE_RATE + ex.tick_samples
    a.close()
    b.close()


def test_t38_exchange(tmp_path: Path, docs: dict[str, Path]) -> None:
    a = T38FaxSession(True, SessionOptions("A"), tx_file=docs["g3"])
    b = T38FaxSession(False, SessionOptions("B"), rx_file=tmp_path / "rx.tif")
    ex = Exchange(a, b, packets=True, max_seconds=600)
    run_fast(ex, lambda batch: None)
    assert a.result is not None and a.result.ok and a.result.pages_tx == 2
    a.close()
    b.close()


def test_realtime_runner_catches_up_after_a_stall() -> None:
    """Two voices never end by themselves; the watchdog ends the call after 0.5 s of line
    time. A stall of the event loop makes the runner run the missed ticks back to back."""

    async def scenario() -> tuple[Exchange, RealtimeRunner]:
        loop = asyncio.get_running_loop()
        ex = Exchange(VoiceEnd(1), VoiceEnd(2), packets=False, max_seconds=0.5)
        runner = RealtimeRunner(ex, lambda batch: None, loop)
        runner.start()
        loop.call_later(0.1, time.sleep, 0.2)  # a blocking callback stalls the loop
        await runner.done
        return ex, runner

    ex, runner = asyncio.run(scenario())
    assert ex.cut_reason is CutReason.WATCHDOG
    assert runner.late_ticks >= 5  # 200 ms of stall is at least 10 ticks of 20 ms
    assert ex.line_seconds == pytest.approx(0.5, abs=0.03)
