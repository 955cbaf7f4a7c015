"""The page number in the header of a resumed call (issue #14, item 1: a retry starts after
the last confirmed page, ``SessionOptions.first_page``).

spandsp draws the branding header itself: the date and time, the header text, our ident and
"p.N". A retry that starts at page 3 of 5 must say "p.3" on its first page, as the page said
in the first attempt, not "p.1": the receiver files the pages of both calls together. Checked
by decoding the header band of the pages received and comparing the right-hand part of it
(ident and page number; the date and time on the left may change between two calls) with the
bands spandsp drew for every page of the whole document sent from page 1.

Checked against spandsp 0.0.6 (Debian's): it numbers by the page's place in the document,
so this test guards that behaviour (for a spandsp upgrade) rather than a fix of ours.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from lanfax.engine import AudioFaxSession, SessionOptions, run_loopback

from .conftest import draw_page, read_pages, write_tiff

HEIGHT = 1100
#: The band's columns from here on hold our ident and the page number, not the date/time.
RIGHT = 1000


def _send(doc: Path, rx: Path, first_page: int) -> list[npt.NDArray[np.bool_]]:
    opts = SessionOptions(local_ident="+1 555 0100", page_header="ACME Corp", first_page=first_page)
    with (
        AudioFaxSession(True, opts, tx_file=doc) as a,
        AudioFaxSession(False, rx_file=rx) as b,
    ):
        result = run_loopback(a, b)
        assert result.receiver.ok, result
    return read_pages(rx)


def _number_part(page: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    band = page[: page.shape[0] - HEIGHT]
    assert band.shape[0] > 0 and not np.all(band[:, RIGHT:]), "no header band with ink"
    return band[:, RIGHT:]


def test_a_resumed_call_numbers_its_pages_as_in_the_document(tmp_path: Path) -> None:
    doc = write_tiff(
        tmp_path / "doc.tif", [draw_page(n, HEIGHT) for n in range(1, 6)], (204, 98), "group4"
    )
    resumed = _send(doc.path, tmp_path / "resumed.tif", first_page=3)
    whole = _send(doc.path, tmp_path / "whole.tif", first_page=1)
    assert len(whole) == 5 and len(resumed) == 3
    expected = [_number_part(p) for p in whole]
    # The five bands differ from each other only by their number: the comparison can tell.
    assert all(not np.array_equal(expected[0], e) for e in expected[1:])
    for i, page in enumerate(resumed):
        got = _number_part(page)
        matches = [n + 1 for n, e in enumerate(expected) if np.array_equal(got, e)]
        assert matches == [3 + i], f"page {i + 1} of the resumed call says p.{matches}"
        # And the page itself is the document's page 3 + i.
        assert np.array_equal(page[page.shape[0] - HEIGHT :], doc.pages[2 + i])
