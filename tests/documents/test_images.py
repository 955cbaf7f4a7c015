"""Raster inputs: every mode/size/DPI becomes one valid, uncropped fax page; TIFFs in other
widths, resolutions and compressions; bilevel pages stay sharp."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from lanfax.documents import convert

from .corpus import assert_class_f, bbox, photo

FORMATS = {
    "PNG": ["1", "L", "P", "RGB", "RGBA", "LA", "I;16"],
    "TIFF": ["1", "L", "RGB", "RGBA", "CMYK", "I;16"],
    "JPEG": ["L", "RGB", "CMYK"],
    "GIF": ["P", "L"],
    "BMP": ["1", "L", "RGB"],
    "WEBP": ["RGB", "RGBA"],
}


@st.composite
def images(draw: st.DrawFn) -> tuple[str, str, int, int, tuple[int, int] | None]:
    fmt = draw(st.sampled_from(sorted(FORMATS)))
    mode = draw(st.sampled_from(FORMATS[fmt]))
    w = draw(st.integers(1, 2400))
    h = draw(st.integers(1, max(1, min(2400, 1_500_000 // w))))
    dpi = draw(st.one_of(st.none(), st.tuples(st.integers(50, 600), st.integers(50, 600))))
    return fmt, mode, w, h, dpi


def framed(mode: str, w: int, h: int) -> Image.Image:
    """A photo with a black frame (about 2 % of each side, at least 1 px) around it."""
    base = photo(w, h, "RGB", seed=w * 7 + h)
    arr = np.array(base)
    t = max(1, round(0.02 * w)), max(1, round(0.02 * h))
    arr[: t[1]] = 0
    arr[-t[1] :] = 0
    arr[:, : t[0]] = 0
    arr[:, -t[0] :] = 0
    img = Image.fromarray(arr, "RGB")
    if mode == "1":
        return img.convert("L").point(lambda v: 255 if v > 128 else 0).convert("1")
    if mode == "I;16":
        return Image.fromarray(np.array(img.convert("L")).astype(np.uint16) * 257)
    if mode == "LA":
        return img.convert("LA")
    return img.convert(mode)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=images())
def test_any_image_becomes_one_uncropped_fax_page(
    tmp_path: Path, spec: tuple[str, str, int, int, tuple[int, int] | None]
) -> None:
    fmt, mode, w, h, dpi = spec
    src = tmp_path / f"in.{fmt.lower()}"
    kwargs = {"dpi": dpi} if dpi and fmt in ("PNG", "TIFF", "JPEG", "BMP") else {}
    framed(mode, w, h).save(src, fmt, **kwargs)
    out = tmp_path / "out.tif"
    convert([src], out)
    (black,) = assert_class_f(out, 1, "fine", "mr")
    assert 2292 <= black.shape[0] <= 2809
    top, bottom, left, right = bbox(black)
    # Physical aspect (portrait after turning landscape images), at 204 x 196 dpi.
    xd, yd = dpi if kwargs else (1, 1)
    pw, ph = w / xd, h / yd
    if pw > ph:
        pw, ph = ph, pw
    want = ph / pw
    got = ((bottom - top + 1) / 196) / ((right - left + 1) / 204)
    # Relative error: 3 %, plus two pixels of rounding on the shorter side.
    assert abs(got - want) / want <= 0.03 + 2 / min(right - left + 1, bottom - top + 1)
    # Fitted: touches the full width or the full box height; centred.
    assert right - left + 1 >= 1724 or bottom - top + 1 >= 2290 - 4
    assert abs((left + right) / 2 - 863.5) <= 2


@pytest.mark.parametrize(
    ("width", "xdpi", "ydpi", "compression", "mode"),
    [
        (2048, 204, 196, "group4", "1"),  # B4 fax width
        (2432, 204, 98, "group3", "1"),  # A3 fax width, standard
        (1728, 204, 98, "tiff_lzw", "1"),
        (2480, 300, 300, "packbits", "1"),  # a 300 dpi scan
        (1700, 200, 200, "tiff_deflate", "L"),
        (1240, 150, 150, "jpeg", "L"),
        (850, 100, 100, None, "RGB"),
    ],
)
def test_multipage_tiff_in_other_geometries(
    tmp_path: Path, width: int, xdpi: int, ydpi: int, compression: str | None, mode: str
) -> None:
    height = round(width / xdpi * 11.69 / 8.27 * ydpi)  # A4 proportions
    frames = []
    for i in range(3):
        img = Image.new("L", (width, height), 255)
        px = np.array(img)
        # A bar whose position encodes the page number: order must be kept.
        y = (i + 1) * height // 5
        px[y : y + max(2, height // 50), width // 10 : 9 * width // 10] = 0
        frames.append(Image.fromarray(px, "L").convert(mode))
    src = tmp_path / "in.tif"
    extra = {"compression": compression} if compression else {}
    frames[0].save(src, save_all=True, append_images=frames[1:], dpi=(xdpi, ydpi), **extra)
    convert([src], tmp_path / "o.tif", resolution="standard", compression="mmr")
    pages = assert_class_f(tmp_path / "o.tif", 3, "standard", "mmr")
    for i, black in enumerate(pages):
        top, _bottom, left, right = bbox(black)
        rel = top / black.shape[0]
        assert abs(rel - (i + 1) / 5) < 0.03  # page order and vertical position kept
        assert 0.75 * 1728 < right - left < 0.85 * 1728


def test_class_f_bilevel_tiff_passes_through_pixel_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    black = np.zeros((2292, 1728), bool)
    black[::7, :] = True  # one-pixel lines: any resampling or dithering would show
    black[:, ::11] = True
    black[1000:1400, 200:900] = rng.random((400, 700)) < 0.5
    Image.fromarray(~black).save(tmp_path / "in.tif", compression="group4", dpi=(204, 196))
    convert([tmp_path / "in.tif"], tmp_path / "o.tif")
    (out,) = assert_class_f(tmp_path / "o.tif", 1, "fine", "mr")
    assert np.array_equal(out, black)


def test_standard_fax_to_fine_doubles_rows_exactly(tmp_path: Path) -> None:
    black = np.zeros((1146, 1728), bool)
    black[100:105, 100:1600] = True
    black[::13, 800:801] = True
    Image.fromarray(~black).save(tmp_path / "std.tif", compression="group3", dpi=(204, 98))
    convert([tmp_path / "std.tif"], tmp_path / "o.tif", resolution="fine")
    (out,) = assert_class_f(tmp_path / "o.tif", 1, "fine", "mr")
    assert np.array_equal(out, np.repeat(black, 2, axis=0))


def test_photo_keeps_tones(tmp_path: Path) -> None:
    photo(1600, 1200, "RGB").save(tmp_path / "p.jpg", quality=90)
    convert([tmp_path / "p.jpg"], tmp_path / "o.tif")
    (black,) = assert_class_f(tmp_path / "o.tif", 1, "fine", "mr")
    top, bottom, left, right = bbox(black)
    area = black[top:bottom, left:right]
    # Continuous tone: about half black on average, and not in solid blobs (error diffusion
    # alternates pixels): many black/white transitions along rows.
    assert 0.25 < area.mean() < 0.75
    transitions = np.count_nonzero(area[:, 1:] != area[:, :-1]) / area.size
    assert transitions > 0.2
