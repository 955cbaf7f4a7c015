"""Negotiation matrix: modems, compressions, ECM, resolutions, G.711 laws and T.38."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lanfax.engine import AudioFaxSession, SessionOptions, T38FaxSession, run_loopback

from .conftest import Doc, read_pages

# What T.30 allows each modem: the best rate two spandsp ends reach on a clean line is the
# modem's top rate.
TOP_RATE = {"v17": 14400, "v29": 9600, "v27ter": 4800}


def _assert_identical(doc: Doc, rx: Path) -> None:
    got = read_pages(rx)
    assert len(got) == len(doc.pages)
    for n, (sent, received) in enumerate(zip(doc.pages, got, strict=True), start=1):
        diff = int(np.count_nonzero(sent != received))
        assert diff == 0, f"page {n}: {diff} pixels differ"


@pytest.mark.parametrize("modem", ["v17", "v29", "v27ter"])
@pytest.mark.parametrize("ecm", [True, False])
def test_modem_restriction_sets_the_bit_rate(
    docs: dict[str, Doc], tmp_path: Path, modem: str, ecm: bool
) -> None:
    doc = docs["light_g4"]
    rx = tmp_path / "rx.tif"
    # Only the sender is restricted: the receiver offers everything, so the choice is ours.
    opts = SessionOptions(modems=frozenset({modem}), ecm=ecm)
    with (
        AudioFaxSession(True, opts, tx_file=doc.path) as a,
        AudioFaxSession(False, SessionOptions(ecm=ecm), rx_file=rx) as b,
    ):
        res = run_loopback(a, b)
    assert res.sender.ok and res.receiver.ok
    for r in (res.sender, res.receiver):
        assert r.modem == modem
        assert r.bit_rate == TOP_RATE[modem]
        assert r.ecm is ecm
    _assert_identical(doc, rx)


@pytest.mark.parametrize(
    ("compressions", "ecm", "expected"),
    [
        ({"mh"}, False, "mh"),
        ({"mh", "mr"}, False, "mr"),
        ({"mh", "mr", "mmr"}, False, "mr"),  # MMR needs ECM
        ({"mh", "mr", "mmr"}, True, "mmr"),
        ({"mh"}, True, "mh"),
    ],
)
def test_compression_negotiation(
    docs: dict[str, Doc], tmp_path: Path, compressions: set[str], ecm: bool, expected: str
) -> None:
    doc = docs["light_g4"]
    rx = tmp_path / "rx.tif"
    opts = SessionOptions(compressions=frozenset(compressions), ecm=ecm)
    with (
        AudioFaxSession(True, opts, tx_file=doc.path) as a,
        AudioFaxSession(False, SessionOptions(), rx_file=rx) as b,
    ):
        res = run_loopback(a, b)
    assert res.sender.ok and res.receiver.ok
    assert res.sender.compression == expected
    assert res.receiver.compression == expected
    _assert_identical(doc, rx)


@pytest.mark.parametrize("name", ["fine3_g4", "fine3_g3", "std2_g3"])
def test_multi_page_documents_arrive_identical(
    docs: dict[str, Doc], tmp_path: Path, name: str
) -> None:
    doc = docs[name]
    rx = tmp_path / "rx.tif"
    with (
        AudioFaxSession(True, tx_file=doc.path) as a,
        AudioFaxSession(False, rx_file=rx) as b,
    ):
        res = run_loopback(a, b)
    assert res.sender.ok and res.receiver.ok
    assert res.sender.pages_tx == res.receiver.pages_rx == len(doc.pages)
    assert (res.receiver.x_dpi, res.receiver.y_dpi) == doc.dpi
    _assert_identical(doc, rx)


@pytest.mark.parametrize("codec", ["ulaw", "alaw"])
def test_through_g711_companding(docs: dict[str, Doc], tmp_path: Path, codec: str) -> None:
    doc = docs["std2_g3"]
    rx = tmp_path / "rx.tif"
    with (
        AudioFaxSession(True, tx_file=doc.path) as a,
        AudioFaxSession(False, rx_file=rx) as b,
    ):
        res = run_loopback(a, b, codec=codec)
    assert res.sender.ok and res.receiver.ok
    assert res.sender.bit_rate == 14400
    _assert_identical(doc, rx)


def test_rx_encoding_mmr_stores_group4(docs: dict[str, Doc], tmp_path: Path) -> None:
    from PIL import Image

    doc = docs["light_g4"]
    rx = tmp_path / "rx.tif"
    with (
        AudioFaxSession(True, tx_file=doc.path) as a,
        AudioFaxSession(False, SessionOptions(rx_encoding="mmr"), rx_file=rx) as b,
    ):
        assert run_loopback(a, b).receiver.ok
    with Image.open(rx) as im:
        assert im.info["compression"] == "group4"
    _assert_identical(doc, rx)


@pytest.mark.parametrize("pacing", [True, False])
@pytest.mark.parametrize("ecm", [True, False])
def test_t38_multi_page(docs: dict[str, Doc], tmp_path: Path, pacing: bool, ecm: bool) -> None:
    doc = docs["fine3_g4"]
    rx = tmp_path / "rx.tif"
    with (
        T38FaxSession(
            True, SessionOptions(local_ident="T38 A", ecm=ecm), tx_file=doc.path, pacing=pacing
        ) as a,
        T38FaxSession(
            False, SessionOptions(local_ident="T38 B", ecm=ecm), rx_file=rx, pacing=pacing
        ) as b,
    ):
        res = run_loopback(a, b, step=160)
    assert res.sender.ok and res.receiver.ok, (res.sender.text, res.receiver.text)
    assert res.sender.remote_ident == "T38 B" and res.receiver.remote_ident == "T38 A"
    assert res.sender.ecm is ecm
    assert res.packets[0] > 0 and res.packets[1] > 0
    _assert_identical(doc, rx)


def test_t38_sequence_numbers_count_up_per_direction(docs: dict[str, Doc], tmp_path: Path) -> None:
    with (
        T38FaxSession(True, tx_file=docs["light_g4"].path) as a,
        T38FaxSession(False, rx_file=tmp_path / "rx.tif") as b,
    ):
        seqs: dict[str, list[int]] = {"a": [], "b": []}
        for _ in range(20000):
            pa, pb = a.tick(160), b.tick(160)
            seqs["a"] += [s for s, _ in pa]
            seqs["b"] += [s for s, _ in pb]
            for s, p in pa:
                b.receive(s, p)
            for s, p in pb:
                a.receive(s, p)
            if a.done and b.done:
                break
        assert a.done and b.done and a.result is not None and a.result.ok
    for got in seqs.values():
        assert got == list(range(len(got)))
