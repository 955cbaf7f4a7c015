"""G.711 tables against spandsp's own codec; spandsp's log reaching Python logging;
the branding header."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from lanfax.engine import AudioFaxSession, SessionOptions, g711, run_loopback
from lanfax.engine._binding import load
from lanfax.model.errors import InvalidInput

from .conftest import Doc, read_pages

ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = np.arange(256, dtype=np.uint8)


def _spandsp_codec(law: str) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    """Encode every sample and decode every code with libspandsp's g711_encode/decode."""
    sp = load()
    ffi, lib = sp.ffi, sp.lib
    state = lib.g711_init(ffi.NULL, 1 if law == "ulaw" else 0)  # G711_ULAW = 1
    try:
        enc = np.zeros(ALL_SAMPLES.size, np.uint8)
        lib.g711_encode(
            state,
            ffi.from_buffer("uint8_t[]", enc),
            ffi.from_buffer("int16_t[]", ALL_SAMPLES),
            ALL_SAMPLES.size,
        )
        dec = np.zeros(256, np.int16)
        lib.g711_decode(
            state, ffi.from_buffer("int16_t[]", dec), ffi.from_buffer("uint8_t[]", ALL_CODES), 256
        )
    finally:
        lib.g711_free(state)
    return enc, dec


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_tables_match_spandsp_for_every_value(law: str) -> None:
    enc, dec = _spandsp_codec(law)
    assert np.array_equal(g711.encode(ALL_SAMPLES, law), enc)
    assert np.array_equal(g711.decode(ALL_CODES, law), dec)
    assert np.array_equal(g711.decode(ALL_CODES.tobytes(), law), dec)


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_companding_is_monotonic_and_stable(law: str) -> None:
    rt = g711.roundtrip(ALL_SAMPLES, law).astype(np.int64)
    assert np.all(np.diff(rt) >= 0)
    # A decoded value encodes back to itself.
    levels = g711.decode(ALL_CODES, law)
    assert np.array_equal(g711.roundtrip(levels, law), levels)
    # Relative error stays within one quantisation step (1/16 of the segment) above 256.
    big = np.abs(ALL_SAMPLES.astype(np.int64)) > 256
    x = ALL_SAMPLES.astype(np.int64)[big]
    clipped = np.clip(x, -32124, 32124) if law == "ulaw" else np.clip(x, -32256, 32256)
    assert np.max(np.abs(rt[big] - clipped) / np.abs(x)) <= 1 / 16 + 1e-9


def test_unknown_law_is_refused() -> None:
    with pytest.raises(InvalidInput):
        g711.encode([0], "g722")


def test_spandsp_log_reaches_the_named_logger(
    docs: dict[str, Doc], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    opts = SessionOptions(log_level=logging.DEBUG, logger_name="test.fax.a")
    with (
        caplog.at_level(logging.DEBUG, logger="test.fax.a"),
        AudioFaxSession(True, opts, tx_file=docs["light_g4"].path) as a,
        AudioFaxSession(False, rx_file=tmp_path / "rx.tif") as b,
    ):
        assert run_loopback(a, b).sender.ok
    mine = [r for r in caplog.records if r.name == "test.fax.a"]
    assert mine, "no spandsp message reached the logger"
    text = "\n".join(r.getMessage() for r in mine)
    assert "DIS" in text and "DCS" in text  # the T.30 exchange is logged
    assert not [r for r in caplog.records if r.name == "lanfax.engine.t30"]  # b is silent


def test_page_header_adds_a_branding_band(docs: dict[str, Doc], tmp_path: Path) -> None:
    doc = docs["light_g4"]
    rx = tmp_path / "rx.tif"
    opts = SessionOptions(local_ident="+1 555 0100", page_header="ACME Corp")
    with (
        AudioFaxSession(True, opts, tx_file=doc.path) as a,
        AudioFaxSession(False, rx_file=rx) as b,
    ):
        assert run_loopback(a, b).receiver.ok
    (got,) = read_pages(rx)
    sent = doc.pages[0]
    # spandsp puts the header band above the page (16 rows at standard resolution).
    extra = got.shape[0] - sent.shape[0]
    assert extra > 0 and got.shape[1] == sent.shape[1]
    assert np.array_equal(got[extra:], sent)
    assert not np.all(got[:extra])  # there is ink in the band
