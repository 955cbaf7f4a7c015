"""Faxes through a lossy, jittery, reordering media path (the MediaRelay fault injector).

Each provider advertises a relay address in its SDP; the relay forwards to the provider's
real media address after dropping/delaying packets. All calls run concurrently.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

from tests.providers.harness import Harness
from tests.providers.helpers import run
from tests.providers.sip.kamailio import Kamailio
from tests.providers.sip.relay import Impairments, MediaRelay
from tests.providers.sip.test_calls import fax, same_pages
from tests.providers.sip.util import sip_config
from tests.support.ports import reserve_port_range

from lanfax.model.codes import ProviderStatus
from lanfax.providers.sip import SipProvider

_hosts = itertools.count(10)


async def impaired(
    h: Harness, k: Kamailio, user: str, impair: Impairments, relays: list[MediaRelay], **kw: Any
) -> SipProvider:
    n = next(_hosts)
    real, advertised = f"127.0.1.{n}", f"127.0.2.{n}"
    low, high = reserve_port_range(4, (real, advertised))  # the provider's and the relay's
    relay = MediaRelay(advertised, real, range(low, high + 1), impair)
    await relay.start()
    relays.append(relay)
    p = SipProvider()
    cfg = sip_config(k, user, channels=1, media_ports=f"{low}-{high}", **kw)
    await h.add(p, {**cfg, "media_address": real, "sdp_address": advertised})
    return p


def test_t38_redundancy_through_5_percent_loss_and_g711_through_jitter(
    kamailio: Kamailio, tmp_path: Path, sip_docs: dict[str, Path]
) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        relays: list[MediaRelay] = []
        lossy5 = Impairments(loss=0.05, jitter=0.01, reorder=0.02, seed=5)
        jittery = Impairments(jitter=0.03, reorder=0.05, seed=1)
        slow = {"jitter_frames": 5}
        a = await impaired(h, kamailio, "200", lossy5, relays)
        b = await impaired(h, kamailio, "201", lossy5, relays)
        c = await impaired(h, kamailio, "202", jittery, relays, t38="off", **slow)
        d = await impaired(h, kamailio, "203", jittery, relays, t38="off", **slow)
        try:
            doc = sip_docs["two"]
            (t38_sent, t38_got), (g711_sent, g711_got) = await asyncio.gather(
                fax(h, a, b, doc, "201"), fax(h, c, d, doc, "203")
            )
            # T.38 with redundancy: complete and identical despite 5% loss each way.
            assert t38_sent.extra["media"] == "t38"
            assert t38_sent.status.status_id is ProviderStatus.COMPLETED, t38_sent
            assert t38_got.result.status.status_id is ProviderStatus.COMPLETED
            assert same_pages(doc, t38_got.file)
            recovered = t38_sent.extra["udptl_recovered"] + t38_got.result.extra["udptl_recovered"]
            assert recovered > 0
            assert relays[0].stats.dropped > 0 and relays[1].stats.dropped > 0
            # G.711 through 30 ms of jitter and 5% reordering: the jitter buffer hides it.
            assert g711_sent.extra["media"] == "audio"
            assert g711_sent.status.status_id is ProviderStatus.COMPLETED, g711_sent
            assert same_pages(doc, g711_got.file)
            # Late packets (after their play-out slot) stay rare: how rare also depends on how
            # loaded the machine is (the receiver's tick itself can be late), so this is a
            # bound, not zero. Without the jitter buffer, most delayed packets would be late.
            assert relays[2].stats.delayed > 0
            late, played = g711_sent.extra["rtp_late"], g711_sent.extra["rtp_played"]
            assert played > 500 and late <= played // 100, (late, played)
        finally:
            for p in (a, b, c, d):
                await p.shutdown()
            for r in relays:
                r.close()

    run(scenario(), timeout=150)


def test_g711_through_1_and_5_percent_loss_ends_cleanly(
    kamailio: Kamailio, tmp_path: Path, sip_docs: dict[str, Path]
) -> None:
    """Lost G.711 frames are holes in the modem signal: at 1% the V.21/V.17 exchange may
    or may not survive (that is why T.38 exists); at 5% it usually does not. Whatever T.30
    makes of it, both ends must end with a final status and consistent page counts."""

    async def scenario() -> None:
        h = Harness(tmp_path)
        relays: list[MediaRelay] = []
        one, five = Impairments(loss=0.01, seed=3), Impairments(loss=0.05, seed=9)
        a = await impaired(h, kamailio, "200", one, relays, t38="off")
        b = await impaired(h, kamailio, "201", one, relays, t38="off")
        c = await impaired(h, kamailio, "202", five, relays, t38="off")
        d = await impaired(h, kamailio, "203", five, relays, t38="off")
        finals = {
            ProviderStatus.COMPLETED,
            ProviderStatus.DISCONNECTED,
            ProviderStatus.NO_ANSWER,
            ProviderStatus.NOT_FAX_CALL,
            ProviderStatus.FATAL_ERROR,
        }
        try:
            calls = await asyncio.gather(
                fax(h, a, b, sip_docs["one"], "201"), fax(h, c, d, sip_docs["one"], "203")
            )
            for loss, (sent, got) in zip(("1%", "5%"), calls, strict=True):
                print(f"G.711 at {loss} loss:", sent.status.status_id.name, sent.status.string_id)
                assert sent.status.status_id in finals, sent
                assert got.result.status.status_id in finals | {ProviderStatus.USER_ABORT}
                assert sent.pages <= got.result.pages <= 1
                if sent.ok:
                    assert same_pages(sip_docs["one"], got.file)
            assert all(r.stats.dropped > 0 for r in relays)
        finally:
            for p in (a, b, c, d):
                await p.shutdown()
            for r in relays:
                r.close()

    run(scenario(), timeout=200)
