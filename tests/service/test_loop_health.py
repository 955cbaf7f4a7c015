"""Blocking and starving (issue #14, item 7): heavy work runs in its own small pool, a
verified password is not hashed again for a minute, and a monitor counts (and logs) the
event loop's stalls over 100 ms."""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
import time
from pathlib import Path

import pytest
from tests.support.inproc import run, running_service

from lanfax.model.errors import Unauthenticated
from lanfax.service import security as security_module
from lanfax.service.looplag import LoopLagMonitor, lateness
from lanfax.service.security import Security


def test_lateness_and_one_log_line_per_period(caplog: pytest.LogCaptureFixture) -> None:
    assert lateness(10.0, 0.05, 10.05) == pytest.approx(0.0, abs=1e-9)
    assert lateness(10.0, 0.05, 10.01) == 0.0
    assert lateness(10.0, 0.05, 10.30) == pytest.approx(0.25)
    monitor = LoopLagMonitor(log_every=10.0)
    with caplog.at_level(logging.WARNING, logger="lanfax.init"):
        monitor.observe(0.02, now=1.0)  # not a stall
        monitor.observe(0.25, now=2.0)
        monitor.observe(0.40, now=3.0)  # counted, not logged again so soon
        monitor.observe(0.15, now=13.0)  # logged again, with the count since
    assert monitor.stats.stalls == 3 and monitor.stats.worst == pytest.approx(0.40)
    lines = [r.getMessage() for r in caplog.records if "stalled" in r.getMessage()]
    assert len(lines) == 2 and "2 stall(s)" in lines[1], lines


def test_a_blocked_loop_is_seen_and_reported(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path) as svc:
            await asyncio.sleep(0.2)
            before = svc.loop_lag.stats.stalls
            time.sleep(0.35)  # a blocking call on the loop, as the monitor must catch
            await asyncio.sleep(0.2)
            info = svc.server_info()["loop_lag"]
            assert info["stalls"] >= before + 1, info
            assert info["worst_ms"] >= 250, info

    run(body())


def test_a_verified_password_is_not_hashed_again_and_hashing_is_off_the_store_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    real = security_module.verify_password

    def spy(password: str, stored: str) -> bool:
        threads.append(threading.current_thread().name)
        return real(password, stored)

    monkeypatch.setattr(security_module, "verify_password", spy)

    def basic(user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    async def body() -> None:
        async with running_service(tmp_path, "[security]\nauthentication = true\n") as svc:
            security = Security(svc)
            await security.add_user("alice", "user", password="correct horse battery")
            good = basic("alice", "correct horse battery")
            for _ in range(5):
                caller = await security.authenticate(
                    authorization=good, user_header=None, address="192.0.2.1"
                )
                assert caller.user == "alice"
            assert len(threads) == 1, threads  # hashed once, then remembered
            assert threads[0].startswith("lanfax-heavy"), threads
            # A wrong password is always checked (and refused).
            with pytest.raises(Unauthenticated):
                await security.authenticate(
                    authorization=basic("alice", "wrong one entirely"),
                    user_header=None,
                    address="192.0.2.1",
                )
            # A changed password: the remembered one no longer works.
            await security.set_password("alice", "a brand new passphrase")
            with pytest.raises(Unauthenticated):
                await security.authenticate(authorization=good, user_header=None, address="x")

    run(body())
