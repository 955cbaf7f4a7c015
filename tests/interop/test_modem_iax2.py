"""lanfax's modem provider calls lanfax's own IAX2 line, and the other way, through
iaxmodem's software modem (``peer.sh up modem HOST:PORT``: one bare iaxmodem on
/dev/ttyIAX1 whose IAX2 peer is lanfax's IAX2 provider). Both ends are lanfax, but the modem
end goes through a real Class 1 modem (iaxmodem's T.31 and V.17/V.21 modems) and the IAX2
end through spandsp's audio terminal, so the two T.30 front ends meet on a real line."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.interop.hylafax import HylaFax, free_udp_port, require_hylafax
from tests.interop.test_hylafax import agreement, fax_tiff
from tests.providers.harness import Harness
from tests.providers.helpers import tiff_pixels

from lanfax.providers.api import CallResult
from lanfax.providers.iax2 import Iax2Provider
from lanfax.providers.modem import ModemProvider

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(400)]

MODEM = "modem:ttyIAX1"
#: iaxmodem's UDP port for ttyIAX1 in peer.sh.
IAXMODEM_PORT = 4571


@pytest.fixture(scope="module")
def modem_line() -> Iterator[HylaFax]:
    require_hylafax()
    peer_dir = Path(tempfile.mkdtemp(prefix="lanfax-modem-iax2-"))
    peer_dir.chmod(0o755)
    peer = HylaFax(peer_dir, f"127.0.0.1:{free_udp_port()}", mode="modem")
    peer.up()
    try:
        yield peer
    finally:
        peer.down()
        shutil.rmtree(peer_dir, ignore_errors=True)


async def _both(h: Harness, peer: HylaFax) -> tuple[ModemProvider, Iax2Provider, str]:
    iax = Iax2Provider()
    await h.add(
        iax,
        {
            "peer": f"127.0.0.1:{IAXMODEM_PORT}",
            "bind": peer.iax_endpoint,
            "number": "100",
            "ring_interval": 1.0,
            "answer_timeout": 60,
        },
    )
    [dev] = iax.virtual_devices()
    modem = ModemProvider()
    await h.add(modem, {"device": "/dev/ttyIAX1", "flow": "none", "number": "3000"})
    await asyncio.sleep(6)  # iaxmodem's busy-out after our ATZ
    return modem, iax, dev.local_id


def _check(result: CallResult, received: CallResult, doc: Path, file: Path, pages: int) -> None:
    assert result.ok, (result.status, result.t30_text, result.extra)
    assert received.ok, (received.status, received.t30_text)
    assert result.pages == received.pages == pages
    assert (result.bit_rate, result.ecm, result.compression) == (
        received.bit_rate,
        received.ecm,
        received.compression,
    )
    for s, g in zip(tiff_pixels(doc), tiff_pixels(file), strict=True):
        assert agreement(s, g) > 0.995


def test_modem_calls_the_iax2_line(modem_line: HylaFax, tmp_path: Path) -> None:
    doc = fax_tiff(tmp_path / "doc.tif", 2, False)

    async def scenario() -> tuple[CallResult, CallResult, Path]:
        h = Harness(tmp_path)
        modem, iax, iax_dev = await _both(h, modem_line)
        h.answer_after[iax_dev] = 1
        got = h.expect(iax_dev)
        try:
            result, _ = await h.send(modem, MODEM, doc, "100", caller_number="LANFAX MODEM")
            received = await asyncio.wait_for(got, 60)
            return result, received.result, received.file
        finally:
            await modem.shutdown()
            await iax.shutdown()

    result, received, file = asyncio.run(asyncio.wait_for(scenario(), 300))
    _check(result, received, doc, file, 2)
    assert result.remote_ident == "100"


def test_iax2_line_calls_the_modem(modem_line: HylaFax, tmp_path: Path) -> None:
    doc = fax_tiff(tmp_path / "doc.tif", 2, True)

    async def scenario() -> tuple[CallResult, CallResult, Path]:
        h = Harness(tmp_path)
        modem, iax, iax_dev = await _both(h, modem_line)
        h.answer_after[MODEM] = 1
        got = h.expect(MODEM)
        try:
            result, _ = await h.send(iax, iax_dev, doc, "3000", caller_number="LANFAX IAX2")
            received = await asyncio.wait_for(got, 60)
            return result, received.result, received.file
        finally:
            await modem.shutdown()
            await iax.shutdown()

    result, received, file = asyncio.run(asyncio.wait_for(scenario(), 300))
    _check(result, received, doc, file, 2)
    assert received.remote_ident == "LANFAX IAX2"
