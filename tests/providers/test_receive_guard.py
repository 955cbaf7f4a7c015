"""FaxReceive.max_pages and FaxReceive.screen: a receive cut short by the provider
(providers/common.py ReceiveGuard), on virtual lines with real spandsp and over IAX2 on
loopback. The guard is one piece of code; these tests drive it through each provider's media."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.providers.harness import Harness
from tests.providers.helpers import light_pages, run, save_tiff, tiff_pixels
from tests.providers.test_calls import setup

from lanfax.model.codes import ProviderStatus
from lanfax.providers.api import SendOptions
from lanfax.providers.iax2 import Iax2Provider

S = ProviderStatus


@pytest.mark.parametrize("mode", ["audio", "t38"])
def test_max_pages_cuts_after_the_limit_and_keeps_the_pages(
    tmp_path: Path, docs: dict[str, Path], mode: str
) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        prov, net = await setup(h, mode=mode)
        rx = f"{net}:101"
        h.answer_after[rx] = 1
        h.receive_limits[rx] = {"max_pages": 1}
        got = h.expect(rx)
        result, _ = await h.send(prov, f"{net}:100", docs["g4"], "101")  # two pages
        received = await got
        await prov.shutdown()

        status = received.result.status
        assert status.status_id is S.DISCONNECTED
        assert status.string_id.startswith("more than 1 pages"), status.string_id
        assert received.result.pages == 1 and status.page_count == 1
        assert received.result.extra["cut_by"] == "max_pages"
        kept = tiff_pixels(received.file)
        assert len(kept) == 1 and np.array_equal(kept[0], tiff_pixels(docs["g4"])[0])
        # The sender sees its call dropped before page 2: the receiver never confirmed page 1
        # (it hung up instead of answering the MPS after it).
        assert result.status.status_id is S.DISCONNECTED
        assert result.pages == 0

    run(scenario())


def test_a_fax_of_exactly_max_pages_is_not_cut(tmp_path: Path, docs: dict[str, Path]) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        prov, net = await setup(h)
        rx = f"{net}:101"
        h.answer_after[rx] = 1
        h.receive_limits[rx] = {"max_pages": 2}
        got = h.expect(rx)
        result, _ = await h.send(prov, f"{net}:100", docs["g4"], "101")
        received = await got
        await prov.shutdown()
        assert result.ok and received.result.ok and received.result.pages == 2
        assert "cut_by" not in received.result.extra

    run(scenario())


@pytest.mark.parametrize("blocked", [True, False], ids=["blocked", "passes"])
def test_screen_refuses_a_tsid_after_phase_b(
    tmp_path: Path, docs: dict[str, Path], blocked: bool
) -> None:
    seen: list[str] = []

    def screen(tsid: str) -> str | None:
        seen.append(tsid)
        return "on the list" if blocked and tsid == "LANFAX 100" else None

    async def scenario() -> None:
        h = Harness(tmp_path)
        prov, net = await setup(h)
        rx = f"{net}:101"
        h.answer_after[rx] = 1
        h.receive_limits[rx] = {"screen": screen}
        got = h.expect(rx)
        result, _ = await h.send(prov, f"{net}:100", docs["g4"], "101", caller_number="LANFAX 100")
        received = await got
        await prov.shutdown()

        assert seen == ["LANFAX 100"]  # once, with the TSID phase B brought
        if blocked:
            status = received.result.status
            assert status.status_id is S.CALL_BLACKLISTED
            assert "'LANFAX 100'" in status.string_id and "on the list" in status.string_id
            assert received.result.pages == 0
            assert result.status.status_id is S.DISCONNECTED and result.pages == 0
        else:
            assert received.result.ok and received.result.pages == 2
            assert result.ok

    run(scenario())


def test_iax2_receive_cut_by_the_screen(tmp_path: Path) -> None:
    """Over real IAX2 (real time): the callee hangs up right after phase B; the caller sees
    the far end hang up."""
    doc = save_tiff(tmp_path / "one.tif", light_pages(1, height=300), "group4")
    seen: list[str] = []

    def screen(tsid: str) -> str | None:
        seen.append(tsid)
        return "blocked by the test"

    async def scenario() -> tuple[Any, Any]:
        h = Harness(tmp_path)
        callee = Iax2Provider()
        await h.add(callee, {"peer": "127.0.0.1:9", "number": "200", "ring_interval": 0.2})
        host, port = callee.address
        caller = Iax2Provider()
        await h.add(caller, {"peer": f"{host}:{port}", "number": "100", "codec": "ulaw"})
        [rx_dev] = callee.virtual_devices()
        [tx_dev] = caller.virtual_devices()
        h.answer_after[rx_dev.local_id] = 1
        h.receive_limits[rx_dev.local_id] = {"screen": screen}
        got = h.expect(rx_dev.local_id)
        try:
            result, _ = await h.send(
                caller,
                tx_dev.local_id,
                doc,
                "200",
                caller_number="IAX TEST 100",
                options=SendOptions(ecm=False),
            )
            received = await asyncio.wait_for(got, 30)
        finally:
            await caller.shutdown()
            await callee.shutdown()
        return result, received

    result, received = run(scenario(), timeout=60)
    assert seen == ["IAX TEST 100"]
    assert received.result.status.status_id is S.CALL_BLACKLISTED
    assert received.result.pages == 0 and received.result.extra["cut_by"] == "tsid"
    assert result.status.status_id is S.DISCONNECTED and result.pages == 0
    assert "far_end_hangup" in result.extra
