"""A disk that fills during a receive (issue #14, item 6): spandsp's TIFF writer reports no
write error, so without a check the receiver confirms pages it never stored and the sender
moves on: the fax is silently short. The session checks each page on disk before it is
confirmed and ends the call when one is missing, so the sender keeps that page."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from tests.support.smallfs import small_fs

from lanfax.documents import convert
from lanfax.engine import AudioFaxSession, SessionOptions, T38FaxSession, run_loopback
from lanfax.engine.codes import T30_CALLDROPPED
from lanfax.engine.loopback import LoopbackResult
from lanfax.engine.session import tiff_pages_on_disk
from lanfax.model.codes import ProviderStatus


def _busy_document(path: Path, pages: int) -> Path:
    """Pages dense enough that each takes tens of kilobytes in the received file."""
    pngs = []
    for i in range(pages):
        im = Image.new("L", (1728, 2200), 255)
        draw = ImageDraw.Draw(im)
        rng = np.random.default_rng(i)
        for _ in range(3000):
            x, y = int(rng.integers(0, 1700)), int(rng.integers(0, 2150))
            w, h = int(rng.integers(2, 20)), int(rng.integers(2, 20))
            draw.rectangle([x, y, x + w, y + h], fill=0)
        png = path.parent / f"{path.stem}-{i}.png"
        im.save(png, dpi=(204, 196))
        pngs.append(png)
    convert(pngs, path, resolution="fine")
    return path


def _bytes_for_pages(path: Path, pages: int) -> int:
    """Where the ``pages``-th directory of a TIFF ends: the room those pages need."""
    import struct

    data = path.read_bytes()
    (offset,) = struct.unpack_from("<I", data, 4)
    for _ in range(pages - 1):
        (count,) = struct.unpack_from("<H", data, offset)
        (offset,) = struct.unpack_from("<I", data, offset + 2 + 12 * count)
    (count,) = struct.unpack_from("<H", data, offset)
    return offset + 2 + 12 * count + 4


def _send(kind: str, ecm: bool, doc: Path, rx: Path) -> LoopbackResult:
    """``doc`` sent over a loopback call into ``rx``."""
    session = T38FaxSession if kind == "t38" else AudioFaxSession
    opts = SessionOptions(ecm=ecm)
    with session(True, opts, tx_file=doc) as a, session(False, opts, rx_file=rx) as b:
        return run_loopback(a, b)


def _send_into_room(
    tmp_path: Path, kind: str, ecm: bool, doc: Path, room: int
) -> tuple[LoopbackResult, int]:
    """``doc`` received on a real tmpfs with about ``room`` bytes (whole 4 KB blocks, and one
    more): the call's result and the pages the received file holds."""
    size_k = math.ceil((room + 4096) / 4096) * 4
    with small_fs(tmp_path / "small", f"{size_k}k") as fs:
        rx = fs.root / "rx.tif"
        res = _send(kind, ecm, doc, rx)
        return res, tiff_pages_on_disk(rx)


@pytest.mark.parametrize(
    ("kind", "ecm"), [("t38", True), ("t38", False), ("audio", True), ("audio", False)]
)
def test_a_page_the_disk_cannot_hold_is_never_confirmed(
    tmp_path: Path, kind: str, ecm: bool
) -> None:
    doc = _busy_document(tmp_path / "doc.tif", 4)
    # The same fax received where there is room: how many bytes its first two pages take.
    whole = tmp_path / "whole.tif"
    res = _send(kind, ecm, doc, whole)
    assert res.receiver.ok and res.receiver.pages_rx == 4 == tiff_pages_on_disk(whole)
    room = _bytes_for_pages(whole, 2)
    assert _bytes_for_pages(whole, 3) - room > 16384, "page 3 must not fit in the slack"
    res, stored = _send_into_room(tmp_path, kind, ecm, doc, room)
    assert stored == 2
    # The receiver says what happened and counts only what it kept ...
    assert not res.receiver.ok
    assert "could not be written" in res.receiver.text and res.receiver.pages_rx == 2
    # ... and the sender was never told page 3 arrived: its retry starts there.
    assert not res.sender.ok
    assert res.sender.pages_tx == 2


def test_pages_on_disk_counts_whole_directories(tmp_path: Path) -> None:
    doc = _busy_document(tmp_path / "doc.tif", 2)
    assert tiff_pages_on_disk(doc) == 2
    data = doc.read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(data[: _bytes_for_pages(doc, 2) - 20])  # the second directory cut short
    assert tiff_pages_on_disk(cut) == 1
    (tmp_path / "junk.tif").write_bytes(b"not a tiff at all")
    assert tiff_pages_on_disk(tmp_path / "junk.tif") == 0
    assert tiff_pages_on_disk(tmp_path / "missing.tif") == 0


@pytest.mark.parametrize(("kind", "ecm"), [("t38", True), ("audio", True), ("audio", False)])
@pytest.mark.parametrize("pages", [1, 2])
def test_a_last_page_the_disk_cannot_hold_makes_no_received_fax(
    tmp_path: Path, kind: str, ecm: bool, pages: int
) -> None:
    """The page that does not fit is the last one (EOP): spandsp had finished as far as it
    knew and reported success (code 0), so the receiver said "received" with the pages
    before it (none for a one-page fax) and the service routed a short (or empty) fax as
    whole. It is a dropped call now, like a write failure on any other page."""
    doc = _busy_document(tmp_path / "doc.tif", pages)
    whole = tmp_path / "whole.tif"
    res = _send(kind, ecm, doc, whole)
    assert res.receiver.ok and res.receiver.pages_rx == pages == tiff_pages_on_disk(whole)
    room = _bytes_for_pages(whole, pages - 1) if pages > 1 else 8  # the header only
    res, stored = _send_into_room(tmp_path, kind, ecm, doc, room)
    assert stored == pages - 1
    assert not res.receiver.ok and res.receiver.code == T30_CALLDROPPED
    assert res.receiver.provider_status is not ProviderStatus.COMPLETED
    assert "could not be written" in res.receiver.text and res.receiver.pages_rx == pages - 1
    assert not res.sender.ok and res.sender.pages_tx == pages - 1
