"""The first end-to-end checks: real spandsp, two audio sessions back to back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from lanfax.engine import (
    AudioFaxSession,
    PageDone,
    PhaseB,
    PhaseE,
    SessionOptions,
    run_loopback,
)
from lanfax.model.codes import ProviderStatus

from .conftest import Doc, read_pages


def test_two_page_standard_fax_arrives_pixel_identical(
    docs: dict[str, Doc], tmp_path: Path
) -> None:
    doc = docs["std2_g3"]
    rx = tmp_path / "rx.tif"
    with (
        AudioFaxSession(True, SessionOptions(local_ident="+1 555 0100"), tx_file=doc.path) as a,
        AudioFaxSession(False, SessionOptions(local_ident="+1 555 0199"), rx_file=rx) as b,
    ):
        res = run_loopback(a, b)
    assert res.sender.ok and res.receiver.ok, (res.sender.text, res.receiver.text)
    assert res.sender.provider_status is ProviderStatus.COMPLETED
    assert res.sender.failure is None
    assert (res.sender.pages_tx, res.receiver.pages_rx) == (2, 2)
    # Each side saw the other's ident.
    assert res.sender.remote_ident == "+1 555 0199"
    assert res.receiver.remote_ident == "+1 555 0100"
    got = read_pages(rx)
    assert len(got) == 2
    for sent, received in zip(doc.pages, got, strict=True):
        assert np.array_equal(sent, received)
    with Image.open(rx) as im:
        assert im.info["dpi"] == (204.0, 98.0)


def test_events_arrive_in_protocol_order(docs: dict[str, Doc], tmp_path: Path) -> None:
    doc = docs["std2_g3"]
    with (
        AudioFaxSession(True, tx_file=doc.path) as a,
        AudioFaxSession(
            False, SessionOptions(local_ident="RECEIVER"), rx_file=tmp_path / "r.tif"
        ) as b,
    ):
        res = run_loopback(a, b)
    for events in (res.sender_events, res.receiver_events):
        kinds = [type(e) for e in events]
        assert kinds[0] is PhaseB
        assert kinds[-1] is PhaseE
        pages = [e.page for e in events if isinstance(e, PageDone)]
        assert pages == [1, 2]
        times = [e.line_seconds for e in events]
        assert times == sorted(times)
    first_b = res.sender_events[0]
    assert isinstance(first_b, PhaseB) and first_b.frame == "DIS"
    assert first_b.remote_ident == "RECEIVER"
    last = res.receiver_events[-1]
    assert isinstance(last, PhaseE) and last.code == 0 and last.text == "OK"


def test_tx_pads_to_requested_length_and_rx_does_not_modify_input(
    docs: dict[str, Doc], tmp_path: Path
) -> None:
    with AudioFaxSession(True, tx_file=docs["light_g4"].path) as a:
        out = a.tx(333)
        assert out.dtype == np.int16 and out.shape == (333,)
        noise = np.random.default_rng(1).integers(-3000, 3000, 800).astype(np.int16)
        before = noise.copy()
        a.rx(noise)
        assert np.array_equal(noise, before)
        assert a.elapsed_samples == 800
        assert not a.done


def test_step_frame_through_g711_buffers_is_the_same_fax(
    docs: dict[str, Doc], tmp_path: Path
) -> None:
    """The SIP media's allocation-free path: each side's tx buffer is coded to G.711 into
    a reused packet payload and decoded into the other's rx buffer, 20 ms at a time."""
    from lanfax.engine import g711

    doc = docs["std2_g3"]
    rx_path = tmp_path / "rx.tif"
    encoder, decoder = g711.tables("alaw")
    codes = np.zeros(160, dtype=np.uint8)
    with (
        AudioFaxSession(True, tx_file=doc.path) as a,
        AudioFaxSession(False, rx_file=rx_path) as b,
    ):
        a_rx, a_tx = a.frame_buffers(160)
        b_rx, b_tx = b.frame_buffers(160)
        for _ in range(60 * 50):  # at most a minute of line time
            np.take(encoder, a_tx.view(np.uint16), out=codes)
            np.take(decoder, codes, out=b_rx)
            np.take(encoder, b_tx.view(np.uint16), out=codes)
            np.take(decoder, codes, out=a_rx)
            a.step_frame()
            b.step_frame()
            if a.done and b.done:
                break
        assert a.result is not None and b.result is not None
        assert a.result.ok and b.result.ok, (a.result.text, b.result.text)
        assert a.elapsed_samples == b.elapsed_samples > 0
    got = read_pages(rx_path)
    assert len(got) == 2
    for sent, received in zip(doc.pages, got, strict=True):
        assert np.array_equal(sent, received)
