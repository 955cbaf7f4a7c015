"""The IAX2 provider over real UDP on loopback: two providers calling each other (real time),
signalling outcomes against a scripted peer, and configuration errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from tests.providers.harness import Harness
from tests.providers.helpers import light_pages, run, save_tiff, tiff_pixels

from lanfax.model.codes import ProviderStatus
from lanfax.providers.api import SendOptions
from lanfax.providers.iax2 import Iax2Provider


@pytest.fixture(scope="module")
def one_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("iax2docs")
    return save_tiff(d / "one.tif", light_pages(1, height=300), "group4")


def test_two_providers_fax_each_other_in_real_time(tmp_path: Path, one_page: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        callee = Iax2Provider()
        await h.add(callee, {"peer": "127.0.0.1:9", "number": "200", "ring_interval": 0.2})
        host, port = callee.address
        caller = Iax2Provider()
        await h.add(caller, {"peer": f"{host}:{port}", "number": "100", "codec": "ulaw"})
        [rx_dev] = callee.virtual_devices()
        [tx_dev] = caller.virtual_devices()
        h.answer_after[rx_dev.local_id] = 2
        got = h.expect(rx_dev.local_id)
        try:
            result, in_progress = await h.send(
                caller, tx_dev.local_id, one_page, "200", options=SendOptions(ecm=False)
            )
            received = await asyncio.wait_for(got, 30)
        finally:
            await caller.shutdown()
            await callee.shutdown()
        assert result.ok, result
        assert in_progress == 1
        assert result.pages == 1 and result.bit_rate == 14400 and not result.ecm
        assert result.extra["codec"] == "ulaw"
        assert result.extra["frames_sent"] > 100
        assert "late_frames" in result.extra
        assert received.result.ok and received.result.pages == 1
        assert received.call.caller_id == "100" and received.call.called_number == "200"
        assert [r.ring_count for r in h.rings[rx_dev.local_id]] == [1, 2]
        sent, got_px = tiff_pixels(one_page)[0], tiff_pixels(received.file)[0]
        assert sent.shape == got_px.shape
        assert np.count_nonzero(sent != got_px) == 0
        statuses = [s.status_id for s in h.statuses[tx_dev.local_id]]
        assert statuses[0] == ProviderStatus.DIALING and statuses[-1] == ProviderStatus.COMPLETED

    run(scenario(), timeout=90)
