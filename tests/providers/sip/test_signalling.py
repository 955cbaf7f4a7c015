"""In-call signalling: re-INVITE glare, "T.38 invite stutter", session expiry (RFC 4028) and
retry recipes.

The pure parts (the §14.1 delays, RFC 4028 timing, the recipe cycle) are tested directly;
the call behaviour against a scripted far end (:mod:`.peer`) over real loopback UDP, the
three scenarios at once; the recipes in real calls through Kamailio.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.providers.harness import Harness, Received
from tests.providers.helpers import run
from tests.providers.sip.kamailio import Kamailio
from tests.providers.sip.peer import T38_SDP, Peer, is_request, is_response
from tests.providers.sip.test_calls import fax, ids, providers, same_pages
from tests.support.ports import reserve_media_ports

from lanfax.model.codes import ProviderStatus
from lanfax.providers.api import FaxDevStatus
from lanfax.providers.sip import SipProvider
from lanfax.providers.sip.dialog import Ids, glare_retry_delay, session_refresh
from lanfax.providers.sip.message import Request, Response
from lanfax.providers.sip.recipes import RecipeBook, recipe_for

# -- pure -----------------------------------------------------------------------------------


def test_glare_retry_delays_follow_rfc3261_14_1() -> None:
    ids = Ids(seed=3)
    owner = [glare_retry_delay(ids, owner=True) for _ in range(200)]
    other = [glare_retry_delay(ids, owner=False) for _ in range(200)]
    assert all(2.1 <= d <= 4.0 for d in owner)
    assert all(0.0 <= d <= 2.0 for d in other)
    assert len(set(owner)) > 100  # random, so two owners' retries do not collide again


def test_session_timer_deadlines_rfc4028() -> None:
    assert session_refresh(1800, True) == 900
    assert session_refresh(1800, False) == 1800 - 32
    assert session_refresh(6, False) == 4  # short intervals: a third before the end


def test_recipes_cycle_on_failures_and_reset_on_success() -> None:
    book = RecipeBook()
    seen = []
    for media in ("audio", "t38", "audio", "t38"):
        seen.append(book.next_for("5551"))
        book.failed("5551", media)
    assert [r.name for r in seen] == [
        "default",
        "media-swapped",
        "slow-ecm-toggled",
        "default",
    ]
    assert seen[1].t38 == "offer"  # after a G.711 failure: try T.38
    assert recipe_for(1, "t38").t38 == "never"  # after a T.38 failure: try G.711
    assert seen[2].max_bit_rate == 9600 and seen[2].toggle_ecm
    assert book.next_for("5552").name == "default"  # per number
    book.succeeded("5551")
    assert book.next_for("5551").name == "default"


# -- against a scripted far end -------------------------------------------------------------


async def callee(h: Harness, peer: Peer, t38: str, user: int) -> SipProvider:
    """A provider (``user``: 3xx, no registration) whose every request goes to ``peer``; its
    media ports are a range of its own (10 ports), picked at run time."""
    p = SipProvider()
    await h.add(
        p,
        {
            "type": "sip",
            "registrar": f"127.0.0.1:{peer.port}",
            "register": False,
            "user": str(user),
            "domain": "127.0.0.1",
            "t38": t38,
            "ring_interval": 0.2,
            "media_ports": reserve_media_ports(10),
        },
    )
    peer.target = ("127.0.0.1", p.endpoint.local[1])
    h.answer_after[ids(p)[0]] = 1
    return p


async def glare(h: Harness, peer: Peer) -> dict[str, Any]:
    """The provider (t38=offer) re-INVITEs for T.38 right after our ACK; we send our own
    re-INVITE at the same moment: both get 491, the provider retries after its §14.1 delay
    and the call ends up on T.38."""
    p = await callee(h, peer, "offer", 300)
    got = h.expect(ids(p)[0])
    await peer.call()
    theirs = await peer.next(lambda m: is_request(m, "INVITE"))
    assert isinstance(theirs, Request) and b"m=image" in theirs.body
    peer.request("INVITE", body=T38_SDP.format(version=2, port=peer.media_port))
    ours = await peer.next(
        lambda m: isinstance(m, Response) and m.cseq[1] == "INVITE" and m.status >= 200
    )
    assert isinstance(ours, Response)
    peer.answer(theirs, 491, "Request Pending")
    retry = await peer.next(lambda m: is_request(m, "INVITE"))
    assert isinstance(retry, Request) and b"m=image" in retry.body
    assert retry.cseq[0] > theirs.cseq[0]
    peer.answer(retry, 200, "OK", T38_SDP.format(version=2, port=peer.media_port))
    await peer.next(lambda m: is_request(m, "ACK"))
    peer.request("BYE")
    await peer.next(lambda m: is_response(m, 200, "BYE"))
    received = await asyncio.wait_for(got, 15)
    await p.shutdown()
    return {"our_reinvite": ours.status, "result": received}


async def stutter(h: Harness, peer: Peer) -> dict[str, Any]:
    """We switch to T.38, retransmit our re-INVITE, then send a second re-INVITE with the
    same offer: the provider answers both the same way and keeps one T.38 session."""
    p = await callee(h, peer, "accept", 301)
    got = h.expect(ids(p)[0])
    await peer.call()
    offer = T38_SDP.format(version=2, port=peer.media_port)
    first = peer.request("INVITE", body=offer, branch="z9hG4bKstutter1")
    ok1 = await peer.next(lambda m: is_response(m, 200, "INVITE"))
    peer.send(first)  # the same INVITE again (our 200 "got lost")
    ok1_again = await peer.next(lambda m: is_response(m, 200, "INVITE"))
    peer.ack(ok1.cseq[0])
    peer.request("INVITE", body=offer)  # and the "stutter": a new re-INVITE, same offer
    ok2 = await peer.next(lambda m: is_response(m, 200, "INVITE"))
    peer.ack(ok2.cseq[0])
    peer.request("BYE")
    bye_ok = await peer.next(
        lambda m: isinstance(m, Response) and m.cseq[1] == "BYE" and m.status >= 200
    )
    received = await asyncio.wait_for(got, 15)
    await p.shutdown()
    return {
        "bodies": (ok1.body, ok1_again.body, ok2.body),
        "bye": bye_ok,
        "result": received,
        "errors": [m for m in peer.seen if isinstance(m, Response) and m.status >= 300],
    }


async def expiry(h: Harness, peer: Peer) -> dict[str, Any]:
    """We ask for a 6 s session with us as the refresher and never refresh: the provider
    (not the refresher) hangs up with a BYE."""
    p = await callee(h, peer, "off", 302)
    got = h.expect(ids(p)[0])
    ok = await peer.call("Supported: timer\r\nSession-Expires: 6;refresher=uac\r\n")
    bye = await peer.next(lambda m: is_request(m, "BYE"), timeout=20)
    assert isinstance(bye, Request)
    peer.answer(bye, 200, "OK")
    received = await asyncio.wait_for(got, 15)
    await p.shutdown()
    return {"ok": ok, "result": received}


def test_glare_stutter_and_session_expiry_against_a_scripted_far_end(tmp_path: Path) -> None:
    async def scenario() -> list[dict[str, Any]]:
        h = Harness(tmp_path)
        peers = [Peer(), Peer(), Peer()]
        for peer in peers:
            await peer.open()
        try:
            return list(
                await asyncio.gather(glare(h, peers[0]), stutter(h, peers[1]), expiry(h, peers[2]))
            )
        finally:
            for peer in peers:
                peer.close()

    g, s, e = run(scenario(), timeout=60)
    # Glare: our re-INVITE met theirs (491); theirs was retried and the call went to T.38.
    assert g["our_reinvite"] == 491
    result = g["result"].result
    assert result.extra["glare"] == 1, result.extra
    assert result.extra["media"] == "t38" and result.extra["t38_switches"] == 1
    assert result.extra["cut"] == "remote_bye"
    # Stutter: the same answer three times (same o= version), one T.38 session, no error.
    first, again, second = s["bodies"]
    assert b"m=image" in first and first == again == second
    assert s["errors"] == []
    assert s["bye"].status == 200
    result = s["result"].result
    assert result.extra["media"] == "t38" and result.extra["t38_switches"] == 1
    assert result.extra["cut"] == "remote_bye"
    # Session expiry: the provider agreed to the interval with us as refresher, then cut.
    assert "refresher=uac" in e["ok"]["Session-Expires"]
    result = e["result"].result
    assert result.extra["cut"] == "session_expired", result.extra
    assert result.status.status_id is ProviderStatus.DISCONNECTED


# -- retry recipes in real calls ------------------------------------------------------------


def test_failed_attempts_to_a_number_get_different_recipes(
    kamailio: Kamailio, tmp_path: Path, sip_docs: dict[str, Path]
) -> None:
    """201 hangs up right after phase B twice; 200's attempts to 201 use the default recipe
    (T.38, which 201 offers), then media-swapped (G.711: 200 refuses T.38), then the slow
    one (9600 bit/s, ECM off) which is let through; after that success, default again."""

    async def scenario() -> list[tuple[Any, Received]]:
        h = Harness(tmp_path)
        p = await providers(h, kamailio, u200={}, u201={})
        a, b = p["200"], p["201"]
        rx = ids(b)[0]
        hang_up = {"on": True}

        def cut_after_phase_b(local_id: str, status: FaxDevStatus) -> None:
            if local_id == rx and hang_up["on"] and status.string_id.startswith("receiving"):
                job = h.receive_jobs[rx]
                asyncio.get_running_loop().create_task(b.abort(job))

        h.watchers.append(cut_after_phase_b)
        results = []
        try:
            for attempt in range(4):
                hang_up["on"] = attempt != 2
                results.append(await fax(h, a, b, sip_docs["one"], "201"))
        finally:
            await a.shutdown()
            await b.shutdown()
        return results

    results = run(scenario(), timeout=150)
    sent = [r[0] for r in results]
    assert [r.extra["recipe"] for r in sent] == [
        "default",
        "media-swapped",
        "slow-ecm-toggled",
        "default",
    ]
    for i in (0, 1, 3):
        assert sent[i].status.status_id is ProviderStatus.DISCONNECTED, sent[i]
    assert sent[0].extra["media"] == "t38"
    assert sent[1].extra["media"] == "audio"
    assert results[1][1].result.extra["t38_refused"] is True
    slow = sent[2]
    assert slow.status.status_id is ProviderStatus.COMPLETED, slow
    assert slow.extra["media"] == "t38" and 0 < slow.bit_rate <= 9600
    assert slow.ecm is False  # the job asked for ECM (the default); the recipe flipped it
    assert same_pages(sip_docs["one"], results[2][1].file)
