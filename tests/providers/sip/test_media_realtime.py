"""The SIP media thread under SCHED_FIFO while calls are in media (#19,
lanfax.engine.realtime through providers/sip/ticker.py): a Ticker of an account with
``realtime = true`` (the default) makes the process's media thread real-time while its
calls are in media and normal again when none is; ``realtime = false`` leaves it normal.
A real audio fax between two FaxMedia on loopback on the real media thread; skipped where
this process may not use SCHED_FIFO (the refusal is tested in tests/engine/test_realtime.py).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import pytest
from tests.engine.test_realtime import _policy, needs_fifo
from tests.providers.sip.test_media_collector import _pair, _until

from lanfax.engine.realtime import MEDIA_PRIORITY, realtime
from lanfax.model.errors import ConfigError
from lanfax.providers.sip.config import parse_config
from lanfax.providers.sip.ticker import Ticker

FIFO = getattr(os, "SCHED_FIFO", -1)


def _media_thread() -> int:
    for t in threading.enumerate():
        if t.name == "lanfax-sip-media" and t.native_id is not None:
            return t.native_id
    raise AssertionError("no media thread")


def _idle() -> None:
    deadline = time.monotonic() + 30.0
    while realtime().held and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not realtime().held, "an earlier test left calls in media"


@needs_fifo
@pytest.mark.parametrize("wanted", [True, False])
def test_the_media_thread_is_realtime_only_while_calls_of_a_realtime_account_are_in_media(
    wanted: bool, tmp_path: Path, sip_docs: dict[str, Path]
) -> None:
    _idle()

    async def scenario() -> tuple[tuple[int, int], tuple[int, int]]:
        a, b = await _pair(sip_docs["one"], tmp_path / "rx.tif", [])
        ticker = Ticker(realtime=wanted)
        try:
            ticker.add(a)
            ticker.add(b)
            seen = ticker.total_ticks
            await _until(lambda: ticker.total_ticks >= seen + 5, 10.0)
            during = _policy(_media_thread())
        finally:
            for m in (a, b):
                ticker.remove(m)
                m.close()
            ticker.close()
        await _until(lambda: not realtime().held, 10.0)
        return during, _policy(_media_thread())

    during, after = asyncio.run(scenario())
    assert during == ((FIFO, MEDIA_PRIORITY) if wanted else (os.SCHED_OTHER, 0))
    assert _policy() == (os.SCHED_OTHER, 0)  # the loop's thread: raised for ticks only
    assert after == (os.SCHED_OTHER, 0)


def test_realtime_is_an_account_setting_true_by_default() -> None:
    base = {"registrar": "127.0.0.1:5060", "user": "201"}
    assert parse_config(base).realtime is True
    assert parse_config({**base, "realtime": False}).realtime is False
    with pytest.raises(ConfigError, match="realtime must be true or false"):
        parse_config({**base, "realtime": "yes"})
