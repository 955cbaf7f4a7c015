"""lanfax's modem provider (Class 1) against HylaFAX: two iaxmodems wired to each other
(``peer.sh up pair``), HylaFAX's faxgetty on ttyIAX0 (number 1000), lanfax's modem provider
on /dev/ttyIAX1 (number 2000). Real T.30 with another implementation, through real Class 1
modems (iaxmodem's T.31), in both directions; pages compared pixel by pixel, and the rate,
ECM and coding on lanfax's result equal to those in HylaFAX's own session log.
Every call runs in real time (about 20-40 s each).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.interop.hylafax import HylaFax, negotiated, require_hylafax
from tests.interop.test_hylafax import agreement, fax_tiff, ink_agreement, resolution
from tests.providers.harness import Harness, Received
from tests.providers.helpers import tiff_pixels

from lanfax.model.codes import ProviderStatus
from lanfax.providers.api import CallResult, SendOptions
from lanfax.providers.modem import ModemProvider

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(400)]

TTY = "/dev/ttyIAX1"
DEVICE = "modem:ttyIAX1"


@pytest.fixture(scope="module")
def pair() -> Iterator[HylaFax]:
    require_hylafax()
    peer_dir = Path(tempfile.mkdtemp(prefix="lanfax-hylafax-pair-"))
    peer_dir.chmod(0o755)
    peer = HylaFax(peer_dir, "", mode="pair")
    peer.up()
    try:
        yield peer
    finally:
        peer.down()
        shutil.rmtree(peer_dir, ignore_errors=True)


async def _provider(h: Harness) -> ModemProvider:
    p = ModemProvider()
    await h.add(p, {"device": TTY, "flow": "none", "number": "2000", "init": ["AT+VCID=1"]})
    [dev] = p.virtual_devices()
    assert "error" not in dev.capabilities, dev.capabilities
    return p


async def _send(
    h: Harness, p: ModemProvider, doc: Path, tries: int = 8, ecm: bool = True
) -> CallResult:
    """Dial HylaFAX (1000). iaxmodem busies itself out for 5 s after every reset (ours at
    start, faxgetty's after each call): NO DIALTONE / BUSY are retried, as the service would."""
    for _ in range(tries):
        result, in_progress = await h.send(
            p, DEVICE, doc, "1000", caller_number="LANFAX MODEM", options=SendOptions(ecm=ecm)
        )
        if result.status.status_id not in (ProviderStatus.BUSY, ProviderStatus.NO_DIAL_TONE):
            assert in_progress == 1, result
            return result
        await asyncio.sleep(2)
    raise AssertionError(f"HylaFAX's line stayed busy for {tries} tries")


def _new_session_log(peer: HylaFax, before: set[str], marker: str) -> str:
    deadline = time.monotonic() + 20
    fresh: list[str] = []
    while time.monotonic() < deadline:
        logs = peer.session_logs()
        fresh = [t for n, t in logs.items() if n not in before and marker in t]
        if fresh:
            break
        time.sleep(0.5)
    assert len(fresh) == 1, f"expected one new HylaFAX session log with {marker!r}"
    return fresh[0]


def _same_as_hylafax(result: CallResult, log: str) -> None:
    view = negotiated(log)
    assert (result.bit_rate, result.ecm, result.compression) == (
        view.bit_rate,
        view.ecm,
        view.compression,
    ), view.evidence
    assert result.modem in ("v17", "v29", "v27ter")


def test_probe_records_the_modem(pair: HylaFax, tmp_path: Path) -> None:
    async def scenario() -> dict[str, object]:
        h = Harness(tmp_path)
        p = await _provider(h)
        try:
            return dict(p.virtual_devices()[0].capabilities)
        finally:
            await p.shutdown()

    caps = asyncio.run(scenario())
    assert caps["classes"] == ["0", "1", "1.0"]
    assert caps["class1.0"] is True
    assert caps["modulations"] == ["v17", "v27ter", "v29"]
    assert caps["max_rate"] == 14400
    assert caps["identity"] == "spandsp"  # iaxmodem's ATI
    assert not Path("/var/lock/LCK..ttyIAX1").exists()  # released at shutdown


@pytest.mark.parametrize(
    ("pages", "fine", "ecm"),
    [(3, False, True), (1, True, False)],
    ids=["3p-standard-ecm", "1p-fine-noecm"],
)
def test_modem_sends_to_hylafax(
    pair: HylaFax, tmp_path: Path, pages: int, fine: bool, ecm: bool
) -> None:
    doc = fax_tiff(tmp_path / "doc.tif", pages, fine)
    pair.wait_idle()
    before = set(pair.received())
    logs_before = set(pair.session_logs())

    async def scenario() -> CallResult:
        h = Harness(tmp_path)
        p = await _provider(h)
        try:
            return await _send(h, p, doc, ecm=ecm)
        finally:
            await p.shutdown()

    result = asyncio.run(asyncio.wait_for(scenario(), 300))
    assert result.ok, (result.status, result.t30_text, result.extra)
    assert result.pages == pages
    assert result.ecm is ecm
    assert result.compression == ("mmr" if ecm else "mr")
    assert result.remote_ident == "HylaFAX ttyIAX0"
    _same_as_hylafax(result, _new_session_log(pair, logs_before, "RECV FAX"))
    deadline = time.monotonic() + 30
    new: list[Path] = []
    while time.monotonic() < deadline and not new:
        new = sorted(set(pair.received()) - before)
        time.sleep(0.5)
    assert len(new) == 1, f"HylaFAX recvq: {pair.received()}\n{pair.logs()}"
    got, sent = tiff_pixels(new[0]), tiff_pixels(doc)
    assert len(got) == pages
    for (w, hgt, dpi), s, g in zip(resolution(new[0]), sent, got, strict=True):
        assert w == 1728
        assert abs(dpi - (196 if fine else 98)) < 2
        assert abs(hgt - s.shape[0]) <= 2
        assert agreement(s, g) > 0.995


def test_hylafax_sends_to_modem(pair: HylaFax, tmp_path: Path) -> None:
    pages = 2
    doc = fax_tiff(tmp_path / "doc.tif", pages, True)
    pair.wait_idle()
    logs_before = set(pair.session_logs())

    async def scenario() -> tuple[Received, str, Harness]:
        h = Harness(tmp_path)
        p = await _provider(h)
        h.answer_after[DEVICE] = 1
        got = h.expect(DEVICE)
        try:
            await asyncio.sleep(6)  # iaxmodem's busy-out after our ATZ
            job = await asyncio.to_thread(pair.sh, "send", str(doc), "2000", "-m")
            received = await asyncio.wait_for(got, 240)
            final = await asyncio.to_thread(pair.wait, job.stdout.strip(), 120)
            return received, final, h
        finally:
            await p.shutdown()

    received, final, h = asyncio.run(asyncio.wait_for(scenario(), 380))
    result = received.result
    assert result.ok, (result.status, result.t30_text, result.extra)
    assert result.pages == pages
    assert result.ecm  # HylaFAX offers ECM, and lanfax frames it on the host
    assert received.call.caller_id == "1000"  # NMBR= from iaxmodem (AT+VCID=1)
    assert h.rings[DEVICE][0].ring_count == 1
    _same_as_hylafax(result, _new_session_log(pair, logs_before, "SEND FAX"))
    got, sent = tiff_pixels(received.file), tiff_pixels(doc)
    assert len(got) == pages
    for (w, _hgt, dpi), s, g in zip(resolution(received.file), sent, got, strict=True):
        assert w == 1728
        assert abs(dpi - 196) < 2, dpi  # -m: fine
        assert ink_agreement(s, g, skip_top=60) > 0.95
    assert final, pair.done_jobs()
