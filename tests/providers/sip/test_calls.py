"""Real fax calls between SipProvider instances through a real Kamailio (real UDP, real time).

Calls run concurrently inside one scenario to keep the wall time down.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
from tests.providers.harness import Harness
from tests.providers.helpers import run, tiff_pixels
from tests.providers.sip.kamailio import Kamailio
from tests.providers.sip.util import sip_config

from lanfax.model.codes import ProviderStatus
from lanfax.providers.api import CallResult, FaxDevStatus, SendOptions
from lanfax.providers.sip import SipProvider


def same_pages(a: Path, b: Path) -> bool:
    pa, pb = tiff_pixels(a), tiff_pixels(b)
    return len(pa) == len(pb) and all(
        x.shape == y.shape and bool(np.array_equal(x, y)) for x, y in zip(pa, pb, strict=True)
    )


async def providers(h: Harness, k: Kamailio, **users: dict[str, Any]) -> dict[str, SipProvider]:
    out = {}
    for user, kw in users.items():
        p = SipProvider()
        await h.add(p, sip_config(k, user.lstrip("u"), **kw))
        out[user.lstrip("u")] = p
    return out


def ids(p: SipProvider) -> list[str]:
    return [d.local_id for d in p.virtual_devices()]


async def fax(
    h: Harness, src: SipProvider, dst: SipProvider, doc: Path, number: str, ch: int = 0, **kw
):  # type: ignore[no-untyped-def]
    """Send on src channel ``ch`` to ``number``; dst answers on its channel ``ch``."""
    rx = ids(dst)[ch]
    h.answer_after[rx] = 1
    fut = h.expect(rx)
    result, _ = await h.send(src, ids(src)[ch], doc, number, **kw)
    got = await asyncio.wait_for(fut, 30)
    return result, got


def test_g711_and_t38_in_both_directions(
    kamailio: Kamailio, tmp_path: Path, sip_docs: dict[str, Path]
) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        p = await providers(h, kamailio, u200={"t38": "off"}, u201={"t38": "off"}, u202={}, u203={})
        try:
            doc = sip_docs["two"]
            results = await asyncio.gather(
                fax(h, p["200"], p["201"], doc, "201", 0),
                fax(h, p["201"], p["200"], doc, "200", 1),
                fax(h, p["202"], p["203"], doc, "203", 0, caller_name='Accounts "East"\\'),
                fax(h, p["203"], p["202"], doc, "202", 1),
            )
            for (sent, got), media in zip(results, ["audio", "audio", "t38", "t38"], strict=True):
                assert sent.status.status_id is ProviderStatus.COMPLETED, sent
                assert got.result.status.status_id is ProviderStatus.COMPLETED, got.result
                assert sent.pages == 2 and got.result.pages == 2
                assert sent.extra["media"] == media and got.result.extra["media"] == media
                assert same_pages(doc, got.file)
            # T.38 came by re-INVITE from the answering side (one switch on each end).
            assert results[2][1].result.extra["t38_switches"] == 1
            assert results[2][0].extra["t38_switches"] == 1
            assert results[2][0].extra["udptl_received"] > 0
            assert results[2][1].call.caller_id == "202"
            # The sender's name travels as From's display name: the callee's caller name.
            assert results[2][1].call.caller_name == "Accounts East"
            assert results[0][1].call.caller_name == ""
        finally:
            for prov in p.values():
                await prov.shutdown()

    run(scenario(), timeout=150)


def test_488_stays_g711_and_bye_mid_page(
    kamailio: Kamailio, tmp_path: Path, sip_docs: dict[str, Path]
) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        # 200 refuses T.38 (488 to the re-INVITE 201 offers) and refreshes the session every
        # 3 s (RFC 4028, a 6 s interval); 202 -> 203 is cut mid-fax.
        p = await providers(
            h, kamailio, u200={"t38": "off", "session_expires": 6}, u201={}, u202={}, u203={}
        )
        rx_cut = ids(p["203"])[0]
        tx_cut = ids(p["202"])[0]

        async def cut_soon() -> None:
            await asyncio.sleep(0.5)  # page 2 is on the line now
            await p["203"].abort(h.receive_jobs[rx_cut])

        def cut_after_first_page(local_id: str, status: FaxDevStatus) -> None:
            # The sender heard MCF for page 1: cut the receiver while page 2 is sent.
            if local_id == tx_cut and status.pages_done == 1:
                asyncio.get_running_loop().create_task(cut_soon())

        h.watchers.append(cut_after_first_page)
        try:
            (sent, got), (sent2, got2) = await asyncio.gather(
                fax(h, p["200"], p["201"], sip_docs["two"], "201", 0),
                fax(h, p["202"], p["203"], sip_docs["two"], "203", 0),
            )
            assert sent.status.status_id is ProviderStatus.COMPLETED, sent
            assert sent.extra["media"] == "audio"
            assert got.result.extra["t38_refused"] is True
            # Refreshed several times; the far end (not the refresher) never timed out.
            assert sent.extra["session_refreshes"] >= 3
            assert "cut" not in sent.extra or sent.extra["cut"] != "session_expired"
            assert same_pages(sip_docs["two"], got.file)
            # BYE in the middle of page 2: the sender sees a disconnect with 1 page done.
            assert sent2.status.status_id is ProviderStatus.DISCONNECTED, sent2
            assert sent2.pages == 1 and sent2.extra["cut"] == "remote_bye"
            assert got2.result.status.status_id is ProviderStatus.USER_ABORT, got2.result
            assert got2.result.pages == 1
        finally:
            for prov in p.values():
                await prov.shutdown()

    run(scenario(), timeout=150)


def test_failure_responses_map_to_statuses(
    kamailio: Kamailio, tmp_path: Path, sip_docs: dict[str, Path]
) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        p = await providers(h, kamailio, u200={"answer_timeout": 1.5}, u201={"channels": 1})
        a, b = p["200"], p["201"]
        doc = sip_docs["one"]
        try:
            outcomes: dict[str, CallResult] = {}
            # 404: nobody has that number; 480: a known number that is not registered.
            outcomes["404"], _ = await h.send(a, ids(a)[0], doc, "999")
            outcomes["480"], _ = await h.send(a, ids(a)[0], doc, "299")
            # No answer: 201 rings but nobody answers; we CANCEL after answer_timeout.
            outcomes["timeout"], _ = await h.send(a, ids(a)[0], doc, "201")
            # 486: 201's only channel is busy with a job.
            job = await b.start_job(ids(b)[0])
            outcomes["486"], _ = await h.send(a, ids(a)[0], doc, "201")
            await b.end_job(job)
            want = {
                "404": ProviderStatus.BAD_ADDRESS,
                "480": ProviderStatus.NO_ANSWER,
                "timeout": ProviderStatus.NO_ANSWER,
                "486": ProviderStatus.BUSY,
            }
            for key, status in want.items():
                assert outcomes[key].status.status_id is status, (key, outcomes[key])
            assert "404" in outcomes["404"].status.string_id
            assert "486" in outcomes["486"].status.string_id
            # The ringing line saw the call go away (CANCEL).
            assert any(lid == ids(b)[0] for lid, _ in h.ended)
            assert len(h.rings[ids(b)[0]]) >= 1
        finally:
            await a.shutdown()
            await b.shutdown()

    run(scenario(), timeout=60)


def test_bad_password_is_a_clear_error(kamailio: Kamailio, tmp_path: Path) -> None:
    from lanfax.model.errors import ProviderError

    async def scenario() -> None:
        h = Harness(tmp_path)
        p = SipProvider()
        try:
            await h.add(p, sip_config(kamailio, "200", password="wrong"))
        except ProviderError as exc:
            assert "refused" in exc.message and exc.hint and "password" in exc.hint
        else:
            await p.shutdown()
            raise AssertionError("registration with a wrong password succeeded")

    run(scenario(), timeout=30)


def test_a_send_starts_at_its_first_page(
    kamailio: Kamailio, tmp_path: Path, sip_docs: dict[str, Path]
) -> None:
    """SendOptions.first_page over SIP (audio and T.38): only page 2 of the two goes over
    the line; progress is in the document's numbering (issue #14)."""

    async def scenario() -> None:
        h = Harness(tmp_path)
        p = await providers(h, kamailio, u200={"t38": "off"}, u201={"t38": "off"}, u202={}, u203={})
        doc = sip_docs["two"]
        try:
            for src, dst, number in (("200", "201", "201"), ("202", "203", "203")):
                rx = ids(p[dst])[0]
                h.answer_after[rx] = 1
                fut = h.expect(rx)
                result, _ = await h.send(
                    p[src], ids(p[src])[0], doc, number, options=SendOptions(first_page=2)
                )
                got = await asyncio.wait_for(fut, 30)
                assert result.status.status_id is ProviderStatus.COMPLETED, result
                assert result.pages == 1 and got.result.pages == 1
                (page,) = tiff_pixels(got.file)
                assert np.array_equal(page, tiff_pixels(doc)[1])
                done = [s.pages_done for s in h.statuses[ids(p[src])[0]] if s.pages_done]
                assert done and done[-1] == 2, done
        finally:
            for prov in p.values():
                await prov.shutdown()

    run(scenario(), timeout=120)
