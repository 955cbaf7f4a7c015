"""Real fax calls between two SipProvider instances through a real Kamailio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tests.providers.helpers import run, tiff_pixels
from tests.providers.sip.kamailio import Kamailio
from tests.providers.sip.util import pair

from lanfax.model.codes import ProviderStatus


def same_pages(a: Path, b: Path) -> bool:
    pa, pb = tiff_pixels(a), tiff_pixels(b)
    return len(pa) == len(pb) and all(
        x.shape == y.shape and bool(np.array_equal(x, y)) for x, y in zip(pa, pb, strict=True)
    )


def test_g711_call_through_kamailio(
    kamailio: Kamailio, tmp_path: Path, sip_docs: dict[str, Path]
) -> None:
    async def scenario() -> None:
        h, pa, pb = await pair(kamailio, tmp_path, b={"t38": "off"})
        try:
            rx_id = pb.virtual_devices()[0].local_id
            fut = h.expect(rx_id)
            result, in_progress = await h.send(
                pa, pa.virtual_devices()[0].local_id, sip_docs["two"], "201"
            )
            got = await fut
            assert result.status.status_id is ProviderStatus.COMPLETED, result
            assert in_progress == 1
            assert result.extra["media"] == "audio" and result.pages == 2
            assert got.result.status.status_id is ProviderStatus.COMPLETED, got.result
            assert got.call.caller_id == "200" and got.call.called_number == "201"
            assert same_pages(sip_docs["two"], got.file)
        finally:
            await pa.shutdown()
            await pb.shutdown()

    run(scenario(), timeout=120)
