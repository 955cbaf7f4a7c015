"""lanfax's modem provider against efax (another Class 1 program), both directions:
``peer.sh up bare`` wires two bare iaxmodems, efax runs on /dev/ttyIAX0 (number 1000) and
lanfax on /dev/ttyIAX1 (2000). efax speaks MH without ECM; its own log of the DCS must
agree with lanfax's result, and the pages must decode to what was sent.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from tests.interop.hylafax import HylaFax, require_hylafax
from tests.interop.test_hylafax import agreement, fax_tiff
from tests.providers.harness import Harness
from tests.providers.helpers import tiff_pixels

from lanfax.providers.api import CallResult
from lanfax.providers.modem import ModemProvider

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(400)]

DEVICE = "modem:ttyIAX1"
EFAX_VERBOSITY = "ewinchrmaf"


@pytest.fixture(scope="module")
def bare() -> Iterator[HylaFax]:
    require_hylafax()
    if shutil.which("efax") is None:
        pytest.fail("efax missing (apt-get install efax)", pytrace=False)
    peer_dir = Path(tempfile.mkdtemp(prefix="lanfax-bare-"))
    peer_dir.chmod(0o755)
    peer = HylaFax(peer_dir, "", mode="bare")
    peer.up()
    try:
        yield peer
    finally:
        peer.down()
        shutil.rmtree(peer_dir, ignore_errors=True)


def _efax_session(log: str) -> tuple[int, str]:
    """(bit rate, coding) from efax's "session" line (e.g. '98lpi 14.4kbps ... 1D')."""
    m = re.search(r"session\s+\d+lpi\s+([\d.]+)kbps\s+\S+\s+\S+\s+(1D|2D)", log)
    assert m, log[-3000:]
    return round(float(m.group(1)) * 1000), {"1D": "mh", "2D": "mr"}[m.group(2)]


async def _provider(h: Harness) -> ModemProvider:
    p = ModemProvider()
    await h.add(p, {"device": "/dev/ttyIAX1", "flow": "none", "number": "2000"})
    return p


def test_modem_sends_to_efax(bare: HylaFax, tmp_path: Path) -> None:
    pages = 2
    doc = fax_tiff(tmp_path / "doc.tif", pages, False)
    rx = tmp_path / "efax"
    rx.mkdir()
    efax_log = tmp_path / "efax.log"
    sink = efax_log.open("wb")  # a file: efax's log would fill a pipe
    efax = subprocess.Popen(
        ["efax", "-d", "/dev/ttyIAX0", "-o1", "-l", "1000 efax", "-iS0=1", "-w",
         "-r", str(rx / "rx"), "-v", EFAX_VERBOSITY],
        stdout=sink,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:

        async def scenario() -> CallResult:
            h = Harness(tmp_path)
            p = await _provider(h)
            try:
                await asyncio.sleep(6)  # iaxmodem's busy-out after the resets
                result, _ = await h.send(p, DEVICE, doc, "1000", caller_number="LANFAX MODEM")
                return result
            finally:
                await p.shutdown()

        result = asyncio.run(asyncio.wait_for(scenario(), 200))
        efax.wait(timeout=60)
    finally:
        if efax.poll() is None:
            efax.kill()
            efax.wait()
        sink.close()
    log = efax_log.read_text(errors="replace")
    assert result.ok, (result.status, result.t30_text, log[-2000:])
    assert result.pages == pages and result.remote_ident == "1000 efax"
    assert not result.ecm
    assert (result.bit_rate, result.compression) == _efax_session(log)
    files = sorted(rx.glob("rx.[0-9][0-9][0-9]"))
    assert len(files) == pages, log[-2000:]
    for f, s in zip(files, tiff_pixels(doc), strict=True):
        [g] = tiff_pixels(f)
        assert agreement(s, g) > 0.995


def test_efax_sends_to_modem(bare: HylaFax, tmp_path: Path) -> None:
    pages = 2
    src = fax_tiff(tmp_path / "src.tif", pages, False)
    # efax is given PBM pages (it encodes them itself; it misreads Pillow's G3 TIFF).
    files = []
    with Image.open(src) as im:
        for i in range(pages):
            im.seek(i)
            f = tmp_path / f"page{i + 1}.pbm"
            im.copy().convert("1").save(f)
            files.append(f)

    efax_log = tmp_path / "efax.log"

    async def scenario() -> tuple[CallResult, str, Path]:
        h = Harness(tmp_path)
        p = await _provider(h)
        h.answer_after[DEVICE] = 1
        got = h.expect(DEVICE)
        try:
            await asyncio.sleep(6)
            with efax_log.open("wb") as sink:  # a file: efax's log would fill a pipe
                proc = await asyncio.create_subprocess_exec(
                    "efax", "-d", "/dev/ttyIAX0", "-o1", "-l", "1000 efax", "-v",
                    EFAX_VERBOSITY, "-t", "T2000", *map(str, files),
                    stdout=sink, stderr=asyncio.subprocess.STDOUT,
                )  # fmt: skip
            try:
                received = await asyncio.wait_for(got, 200)
                await asyncio.wait_for(proc.wait(), 60)
            except TimeoutError:
                raise AssertionError(efax_log.read_text(errors="replace")[-3000:]) from None
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            return received.result, efax_log.read_text(errors="replace"), received.file
        finally:
            await p.shutdown()

    result, log, file = asyncio.run(asyncio.wait_for(scenario(), 300))
    assert result.ok, (result.status, result.t30_text, log[-2000:])
    assert result.pages == pages
    assert result.remote_ident == "1000 efax"
    assert not result.ecm
    assert (result.bit_rate, result.compression) == _efax_session(log)
    for s, g in zip(tiff_pixels(src), tiff_pixels(file), strict=True):
        # efax draws its header line (date, ident, page) above the page: compare below it.
        assert g.shape[0] - s.shape[0] in range(0, 41), g.shape
        assert agreement(s, g[g.shape[0] - s.shape[0] :]) > 0.995
