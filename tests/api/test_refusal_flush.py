"""The count of the last burst of refused requests reaches the audit trail (issue #14, item
12): refusals are aggregated per address, user and status (the first of a minute written, the
others counted), and the count used to be written only with a refusal after the minute - a
burst with none after it was never written. Now the count is written when its minute ends
(a timer) and when the service stops.

* A real ``lanfax serve`` refuses a burst of bad tokens, is stopped (SIGTERM) and started
  again: the audit trail holds the burst's first refusal and the count of the others.
* In the service with a manual clock: the minute passes with no later refusal and the count
  is written by the timer, once (the stop adds nothing).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx as raw_httpx
from tests.support.authhttp import httpx
from tests.support.inproc import run, running_service
from tests.support.server import start_lanfax_server

from lanfax.model.clock import ManualClock
from lanfax.model.codes import AccessRight, AccessRightEx
from lanfax.service.refusals import RefusalWindows
from lanfax.service.rights import Caller, Role
from lanfax.service.security import Security
from lanfax.store.audit import AuditQuery


def _refused(api: str) -> list[dict[str, Any]]:
    entries = httpx.get(f"{api}/audit", params={"limit": 500}).json()["entries"]
    return [e for e in entries if e["user"] == "(unauthenticated)"]


def test_the_last_burst_is_counted_at_the_stop(tmp_path: Path) -> None:
    with start_lanfax_server(tmp_path) as srv:
        bad = {"Authorization": "Bearer lfx_0123456789ab_" + "x" * 43}
        codes = [raw_httpx.get(f"{srv.api}/server", headers=bad).status_code for _ in range(10)]
        assert codes == [401] * 10, codes
        (first,) = _refused(srv.api)  # the first is written at once, the others counted
        assert "repeated" not in first["detail"], first
        assert srv.stop() == 0
        srv.start()
        rows = _refused(srv.api)
        assert sorted(r["detail"].get("repeated", 0) for r in rows) == [0, 9], rows
        assert {r["detail"]["status"] for r in rows} == {401}
        assert {r["address"] for r in rows} == {"127.0.0.1"}


def test_the_last_burst_is_counted_when_its_minute_ends(tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))

    async def body() -> None:
        async with running_service(tmp_path, clock=clock) as svc:
            security = Security(svc)
            caller = Caller("mallory", Role.USER, AccessRight(0), AccessRightEx(0), "192.0.2.7")
            for _ in range(5):
                await security.record(
                    caller, "list_users", outcome="denied", detail={"status": 403}
                )
            assert len(await security.audit(AuditQuery(user_name="mallory"))) == 1
            clock.advance(61)  # the minute ends; no refusal comes after it
            deadline = asyncio.get_running_loop().time() + 15
            while len(rows := await security.audit(AuditQuery(user_name="mallory"))) < 2:
                assert asyncio.get_running_loop().time() < deadline, "the count never came"
                await asyncio.sleep(0.05)
            assert sorted(r.detail.get("repeated", 0) for r in rows) == [0, 4], rows
            assert all(r.detail["status"] == 403 and r.outcome == "denied" for r in rows)
            await security.stop()  # nothing left to write: not counted twice
            assert len(await security.audit(AuditQuery(user_name="mallory"))) == 2

    run(body())


def test_the_windows_decide_what_is_written_and_when() -> None:
    """The core (service/refusals.py), in virtual time."""
    w = RefusalWindows(window=60.0)
    a, b = ("192.0.2.7", "", 401), ("192.0.2.8", "", 401)
    assert w.next_deadline() is None
    assert w.refused(a, 0.0, "a1") == 0  # the first: written at once
    assert [w.refused(a, t, f"a{t}") for t in (1.0, 2.0, 3.0)] == [None, None, None]
    assert w.refused(b, 30.0, "b1") == 0
    assert w.next_deadline() == 60.0
    assert w.ended(59.9) == []
    (ended,) = w.ended(60.0)  # a's minute is over: its 3 counted refusals, the latest given
    assert (ended.repeated, ended.last) == (3, "a3.0")
    assert w.refused(a, 61.0, "a-again") == 0  # a new window, nothing owed from before
    assert w.ended(90.0) == []  # b had no refusal after its first: nothing to write
    assert w.refused(a, 62.0, "a2") is None
    assert [x.repeated for x in w.drain()] == [1] and len(w) == 0  # the stop
    # Without a timer in between, the count goes with the next refusal after the minute.
    assert w.refused(a, 200.0) == 0 and w.refused(a, 201.0) is None
    assert w.refused(a, 261.0) == 1
