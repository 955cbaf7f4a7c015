"""When the SIP account registers (#19 mends): the schedule is a sans-IO core driven by
"now" (:mod:`lanfax.providers.sip.registration`), tested directly; the provider follows it
over real loopback UDP against a registrar played by the scripted far end of :mod:`.peer`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.providers.harness import Harness
from tests.providers.helpers import run
from tests.providers.sip.peer import Peer, is_request

from lanfax.providers.sip import SipProvider
from lanfax.providers.sip.message import Request
from lanfax.providers.sip.registration import (
    FIRST_BACKOFF,
    MAX_BACKOFF,
    MIN_REFRESH,
    RegisterSchedule,
    retry_after,
)

# -- the schedule, on a clock of the test's own ---------------------------------------------


def test_a_refresh_is_due_at_half_the_grant_counted_from_the_send() -> None:
    s = RegisterSchedule(300)
    assert s.due < 0  # the first REGISTER: now
    assert s.granted(300, sent_at=1000.0, now=1000.2) == 1150.0
    # A slow registrar: half the grant had gone by when the answer came: refresh at once.
    assert s.granted(10, sent_at=2000.0, now=2007.0) == 2007.0
    # A tiny grant is not refreshed in a busy loop.
    assert s.granted(1, sent_at=3000.0, now=3000.0) == 3000.0 + MIN_REFRESH


def test_failures_back_off_doubling_to_the_cap_and_a_success_resets_it() -> None:
    s = RegisterSchedule(300)
    waits = []
    now = 0.0
    for _ in range(9):
        due = s.failed(now)
        waits.append(due - now)
        now = due
    assert waits[:4] == [FIRST_BACKOFF, 2 * FIRST_BACKOFF, 4 * FIRST_BACKOFF, 8 * FIRST_BACKOFF]
    assert waits[-1] == MAX_BACKOFF and max(waits) == MAX_BACKOFF
    s.granted(300, sent_at=now, now=now)
    assert s.failed(now) - now == FIRST_BACKOFF


def test_the_registrars_retry_after_wins_over_the_backoff() -> None:
    s = RegisterSchedule(300)
    assert s.failed(100.0, retry_after=120.0) == 220.0
    assert retry_after("120 (in maintenance);duration=60") == 120.0
    assert retry_after("18000;duration=3600") == 18000.0
    assert retry_after(None) is None and retry_after("soon") is None


def test_interval_too_brief_raises_the_expiry_once() -> None:
    s = RegisterSchedule(60)
    assert s.too_brief("3600") and s.expires == 3600
    assert not s.too_brief("3600")  # asked that already: the answer is unusable
    assert not s.too_brief(None) and not s.too_brief("x")


# -- the provider against a registrar on loopback -------------------------------------------


def ok_with(peer: Peer, request: Request, status: int, reason: str, *headers: str) -> None:
    """Answer ``request`` (Via, From, To, Call-ID, CSeq copied) with extra ``headers``."""
    vias = "".join(f"Via: {v}\r\n" for v in request.get_all("Via"))
    extra = "".join(f"{h}\r\n" for h in headers)
    peer.send(
        f"SIP/2.0 {status} {reason}\r\n{vias}"
        f"From: {request['From']}\r\nTo: {request['To']};tag=reg\r\n"
        f"Call-ID: {request.call_id}\r\nCSeq: {request['CSeq']}\r\n"
        f"{extra}Content-Length: 0\r\n\r\n"
    )


async def registering(h: Harness, peer: Peer, expires: int) -> tuple[SipProvider, asyncio.Task]:  # type: ignore[type-arg]
    p = SipProvider()
    init = asyncio.create_task(
        h.add(
            p,
            {
                "type": "sip",
                "registrar": f"127.0.0.1:{peer.port}",
                "user": "391",
                "domain": "127.0.0.1",
                "t38": "off",
                "register_expires": expires,
                "media_ports": "20000-29999",
            },
        )
    )
    return p, init


async def next_register(
    peer: Peer, after: Request | None = None, timeout: float = 15.0
) -> tuple[Request, float]:
    """The next new REGISTER (a UDP retransmission of ``after`` is skipped)."""
    seen = after.cseq[0] if after is not None else 0
    msg = await peer.next(
        lambda m: is_request(m, "REGISTER") and isinstance(m, Request) and m.cseq[0] > seen,
        timeout=timeout,
    )
    assert isinstance(msg, Request)
    via = msg.top_via
    assert via.port is not None
    peer.target = (via.host, via.port)
    return msg, asyncio.get_running_loop().time()


async def unregistering(p: SipProvider, peer: Peer, last: Request) -> Request:
    """Shut ``p`` down, answering its un-REGISTER (the one after ``last``) with 200."""
    closing = asyncio.create_task(p.shutdown())
    bye, _ = await next_register(peer, last)
    ok_with(peer, bye, 200, "OK")
    await asyncio.wait_for(closing, 10)
    return bye


def test_a_slow_registrar_does_not_let_the_binding_lapse(tmp_path: Path) -> None:
    """The registrar answers 3.5 s after a REGISTER for 5 s: the refresh must come before
    the binding expires (5 s after the send), not half the grant after the answer (6 s)."""

    async def scenario() -> tuple[float, str]:
        h = Harness(tmp_path)
        peer = Peer()
        await peer.open()
        try:
            p, init = await registering(h, peer, 5)
            first, sent = await next_register(peer)
            await asyncio.sleep(3.5)
            ok_with(peer, first, 200, "OK")
            await asyncio.wait_for(init, 10)
            again, refreshed = await next_register(peer, first, timeout=10)
            ok_with(peer, again, 200, "OK")
            bye = await unregistering(p, peer, again)
            return refreshed - sent, bye["Expires"]
        finally:
            peer.close()

    gap, unregister = run(scenario(), timeout=40)
    assert gap < 5.0, f"the binding lapsed: the refresh came {gap:.2f} s after the REGISTER"
    assert unregister == "0"


def test_interval_too_brief_is_registered_again_with_min_expires(tmp_path: Path) -> None:
    """§10.2.8: 423 with Min-Expires: 3600 to a REGISTER for 60 s: the account asks again
    with 3600 and starts, rather than failing as a configuration error."""

    async def scenario() -> tuple[str, str, int]:
        h = Harness(tmp_path)
        peer = Peer()
        await peer.open()
        try:
            p, init = await registering(h, peer, 60)
            first, _ = await next_register(peer)
            ok_with(peer, first, 423, "Interval Too Brief", "Min-Expires: 3600")
            second, _ = await next_register(peer, first)
            ok_with(peer, second, 200, "OK")
            await asyncio.wait_for(init, 10)
            registrations = p.registrations
            await unregistering(p, peer, second)
            return first["Expires"], second["Expires"], registrations
        finally:
            peer.close()

    asked, again, registrations = run(scenario(), timeout=40)
    assert (asked, again, registrations) == ("60", "3600", 1)
