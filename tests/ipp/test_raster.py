"""PWG raster and Apple raster (URF) decoders: pages decode to exactly what was encoded,
hostile headers and data are refused with a RasterError saying why, and random or mangled
streams never raise anything else (Hypothesis)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image
from tests.support.raster import pwg_black1, pwg_header, pwg_raster, urf

from lanfax.documents.ippraster import (
    MAX_PIXELS,
    PWG_MIME,
    URF_MIME,
    RasterError,
    decode_pages,
    decode_to_tiff,
    sniff_raster,
)


def _page(h: int = 40, w: int = 64) -> np.ndarray:
    rng = np.random.default_rng(h * 1000 + w)
    page = np.full((h, w), 255, dtype=np.uint8)
    page[5:15, 10:50] = 0
    page[20:30] = rng.integers(0, 256, size=(10, w), dtype=np.uint8)
    return page


def test_pwg_and_urf_decode_exactly() -> None:
    pages = [_page(), _page(33, 17)]
    for data, fmt in ((pwg_raster(pages, 300), PWG_MIME), (urf(pages, 300), URF_MIME)):
        assert sniff_raster(data[:8]) == fmt
        out = list(decode_pages(data, fmt))
        assert len(out) == 2
        for got, want in zip(out, pages, strict=True):
            assert got.xdpi == got.ydpi == 300
            assert np.array_equal(got.grey, want)


def test_black_1() -> None:
    page = _page()
    (got,) = decode_pages(pwg_black1(page), PWG_MIME)
    assert np.array_equal(got.grey, np.where(page < 128, 0, 255))


def test_to_tiff_keeps_pages_and_resolution(tmp_path: Path) -> None:
    out = tmp_path / "r.tif"
    assert decode_to_tiff(pwg_raster([_page(), _page()], 200), PWG_MIME, out) == 2
    with Image.open(out) as img:
        assert img.n_frames == 2 and img.mode == "L"
        assert tuple(round(v) for v in img.info["dpi"]) == (200, 200)


def _pwg_with(offset: int, fmt: str, value: int) -> bytes:
    h = bytearray(pwg_header(64, 40, 200))
    struct.pack_into(fmt, h, offset, value)
    return b"RaS2" + bytes(h) + b"\x00\x80" * 40


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"RaS2" + b"\x00" * 100, "cut short"),
        (b"RaS3" + pwg_header(10, 10, 200), "starts with 'RaS2'"),
        (_pwg_with(372, ">I", 0), "not a page size"),
        (_pwg_with(376, ">I", 10**6), "not a page size"),
        (_pwg_with(400, ">I", 6), "colour space 6"),
        (_pwg_with(388, ">I", 16), "bits per pixel"),
        (_pwg_with(392, ">I", 3), "bytes per line"),
        (_pwg_with(276, ">I", 5), "not plausible"),
        (b"RaS2" + pwg_header(64, 40, 200) + b"\x00\x3f\x00", "ends"),
        (b"RaS2" + pwg_header(64, 40, 200) + b"\x00\x7f\x00" * 2, "more pixels"),
        (b"RaS2" + pwg_header(64, 40, 200) + b"\x00\x80", "128"),
    ],
)
def test_hostile_pwg(data: bytes, words: str) -> None:
    with pytest.raises(RasterError) as info:
        list(decode_pages(data, PWG_MIME))
    assert words in str(info.value)


def test_too_many_pixels_is_refused_before_any_allocation() -> None:
    side = 15_000  # 225 M pixels: refused from the header alone
    assert side * side > MAX_PIXELS
    data = b"RaS2" + pwg_header(side, side, 600)
    with pytest.raises(RasterError, match="more than"):
        list(decode_pages(data, PWG_MIME))


def test_hostile_urf() -> None:
    with pytest.raises(RasterError, match="announces"):
        list(decode_pages(b"UNIRAST\x00" + struct.pack(">I", 10**9), URF_MIME))
    header = struct.pack(">BBBBIIIIIII", 32, 6, 1, 4, 0, 0, 64, 40, 200, 0, 0)
    with pytest.raises(RasterError, match="colour space 6"):
        list(decode_pages(b"UNIRAST\x00\x00\x00\x00\x01" + header, URF_MIME))
    # URF's 0x80 fills the rest of the line with white.
    header = struct.pack(">BBBBIIIIIII", 8, 0, 1, 4, 0, 0, 8, 2, 200, 0, 0)
    body = b"\x01\x00\x00\x80"  # two identical lines: one black pixel, then white
    (page,) = decode_pages(b"UNIRAST\x00\x00\x00\x00\x01" + header + body, URF_MIME)
    assert page.grey.tolist() == [[0] + [255] * 7] * 2


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        hnp.arrays(
            np.uint8,
            st.tuples(st.integers(1, 30), st.integers(1, 40)),
            elements=st.sampled_from([0, 0, 255, 255, 7, 128]),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_round_trip(pages: list[np.ndarray]) -> None:
    for data, fmt in ((pwg_raster(pages), PWG_MIME), (urf(pages), URF_MIME)):
        out = [p.grey for p in decode_pages(data, fmt)]
        assert len(out) == len(pages)
        assert all(np.array_equal(a, b) for a, b in zip(out, pages, strict=True))


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([PWG_MIME, URF_MIME]), st.binary(max_size=400), st.data())
def test_random_and_mangled_streams_only_raise_raster_errors(
    fmt: str, noise: bytes, data: st.DataObject
) -> None:
    base = bytearray(pwg_raster([_page(32, 9)]) if fmt == PWG_MIME else urf([_page(32, 9)]))
    for _ in range(data.draw(st.integers(0, 3))):
        i = data.draw(st.integers(0, len(base) - 1))
        base[i] = data.draw(st.integers(0, 255))
    for stream in (bytes(base), base[:8] + noise, noise):
        try:
            for page in decode_pages(bytes(stream), fmt):
                assert page.grey.dtype == np.uint8
        except RasterError:
            pass
