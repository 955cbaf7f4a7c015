"""Binarisation internals that the speed work (#15) rewrote: the mid-grey probe and the
reusable output buffer give the same black pixels as the plain definitions."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from lanfax.documents import raster
from lanfax.documents.cli import convert_main

from .corpus import photo


def test_probe_marks_exactly_the_mid_greys_of_one_pixel_in_sixteen() -> None:
    # Every grey level once per sampled position: (2, 2), (2, 6), ... carry 0..255.
    grey = np.full((64, 64), 255, np.uint8)
    grey[2::4, 2::4] = np.arange(256, dtype=np.uint8).reshape(16, 16)
    probe = raster._probe(grey)
    assert probe.shape == (16, 16)
    levels = grey[2::4, 2::4].ravel()
    want = (levels > raster._TONE_LO) & (levels < raster._TONE_HI)
    assert np.array_equal(probe.ravel(), want)
    # Pixels off the sample grid are never looked at.
    grey[0::4, :] = 128
    assert np.array_equal(raster._probe(grey), probe)


def _page() -> np.ndarray:
    """A fine A4 grey page: a photo in the middle (tonal blocks, dithered) and thin dark
    strokes beside it (thresholded)."""
    rng = np.random.default_rng(15)
    page = np.full((2292, 1728), 255, np.uint8)
    page[600:1000, 300:1100] = np.asarray(photo(800, 400).convert("L"))
    page[1200:1210:2, 100:1600] = rng.integers(0, 180, (5, 1500), dtype=np.uint8)
    return page


@pytest.mark.parametrize("res", ["fine", "standard"])
@pytest.mark.parametrize("threshold", [None, 192])
def test_binarize_into_a_reused_buffer_equals_a_fresh_result(
    res: str, threshold: int | None
) -> None:
    page = _page()
    assert raster.tonal_blocks(page).any()  # the photo takes the dithering path
    fresh = raster.binarize(page, res, threshold=threshold)
    assert fresh.any() and not fresh.all()
    buf = np.ones(page.shape, np.bool_)  # stale content from "an earlier page"
    out = raster.binarize(page, res, threshold=threshold, out=buf)
    assert out is buf
    assert np.array_equal(out, fresh)


def test_lanfax_convert_keeps_a_blas_thread_count_the_user_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "t.txt").write_text("hello\n", encoding="utf-8")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    assert convert_main([str(tmp_path / "t.txt"), "-o", str(tmp_path / "o.tif")]) == 0
    assert (tmp_path / "o.tif").stat().st_size > 0
    assert os.environ["OPENBLAS_NUM_THREADS"] == "3"
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    assert convert_main([str(tmp_path / "t.txt"), "-o", str(tmp_path / "p.tif")]) == 0
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"


@pytest.mark.parametrize("shape", [(2292, 1728), (1146, 1728), (777, 1234), (96, 40)])
def test_tonal_blocks_count_each_blocks_samples_exactly(shape: tuple[int, int]) -> None:
    # The plain definition: per 32x32 block, how many of its 8x8 samples are mid-grey.
    rng = np.random.default_rng(shape[0])
    grey = rng.integers(0, 256, shape, dtype=np.uint8)
    top = shape[0] // 3
    grey[:top] = np.where(grey[:top] < 128, 0, 255)  # a text-like third: no tone
    probe = raster._probe(grey)
    bh, bw = -(-shape[0] // 32), -(-shape[1] // 32)
    padded = np.zeros((bh * 8, bw * 8), np.int64)
    padded[: probe.shape[0], : probe.shape[1]] = probe
    count = padded.reshape(bh, 8, bw, 8).sum(axis=(1, 3))
    core = count > 32
    grown = core.copy()
    grown[1:] |= core[:-1]
    grown[:-1] |= core[1:]
    grown[:, 1:] |= core[:, :-1]
    grown[:, :-1] |= core[:, 1:]
    want = core | (grown & (count > 6))
    got = raster.tonal_blocks(grey, probe)
    assert want.any() and not want.all()
    assert np.array_equal(got, want)
