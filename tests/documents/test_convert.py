"""PDF and text conversion: Class F validity, geometry, rotation, legibility, header."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from lanfax.documents import ConversionResult, convert, is_fax_ready
from lanfax.model.errors import DocumentError

from .corpus import A4, LEGAL, LETTER, RawPage, assert_class_f, bbox, rect_op, text_page, write_pdf

YDPI = {"fine": 196, "standard": 98}
A4_ROWS = {"fine": 2292, "standard": 1146}


def expected_box(
    page: tuple[float, float], rect: tuple[float, float, float, float], res: str
) -> tuple[float, float, float, float]:
    """Where a rectangle (x, top, w, h in points) should land on an A4-box fax page, computed
    from first principles: a page that fits the 1728-pixel line (up to 1 % wider: A4, Letter)
    keeps its true size, a smaller one grows to the line, a wider one shrinks to it; aspect kept,
    centred in 1728 x A4 rows."""
    pw, ph = page[0] / 72 * 204, page[1] / 72 * YDPI[res]
    s_w = max(1.0, 1728 / pw) if pw <= 1728 * 1.01 else 1728 / pw
    s = min(s_w, A4_ROWS[res] / ph)
    x0, y0 = (1728 - pw * s) / 2, (A4_ROWS[res] - ph * s) / 2
    x, top, w, h = rect
    sx, sy = 204 / 72 * s, YDPI[res] / 72 * s
    return y0 + top * sy, y0 + (top + h) * sy, x0 + x * sx, x0 + (x + w) * sx


@pytest.mark.parametrize("res", ["fine", "standard"])
@pytest.mark.parametrize("comp", ["mh", "mr", "mmr"])
def test_text_pdf_is_class_f_in_every_mode(tmp_path: Path, res: str, comp: str) -> None:
    pdf = write_pdf(
        tmp_path / "t.pdf",
        [
            text_page(A4, [f"Page {i} line {j} the quick brown fox" for j in range(40)])
            for i in range(3)
        ],
    )
    out = tmp_path / "out.tif"
    result = convert([pdf], out, resolution=res, compression=comp)
    pages = assert_class_f(out, 3, res, comp)
    assert result == ConversionResult(out, 3, 1728, A4_ROWS[res], res, comp, out.stat().st_size)
    for black in pages:
        assert black.shape == (A4_ROWS[res], 1728)
        assert 0.005 < black.mean() < 0.2  # text, neither blank nor flooded
    assert is_fax_ready(out) == result


@pytest.mark.parametrize("res", ["fine", "standard"])
@pytest.mark.parametrize("size", [A4, LETTER], ids=["a4", "letter"])
def test_rectangle_lands_where_expected(
    tmp_path: Path, res: str, size: tuple[float, float]
) -> None:
    rect = (100.0, 200.0, 150.0, 80.0)
    pdf = write_pdf(tmp_path / "r.pdf", [RawPage(*size, rect_op(*rect, size[1]))])
    convert([pdf], tmp_path / "o.tif", resolution=res)
    (black,) = assert_class_f(tmp_path / "o.tif", 1, res, "mr")
    top, bottom, left, right = bbox(black)
    e_top, e_bottom, e_left, e_right = expected_box(size, rect, res)
    assert abs(top - e_top) <= 2 and abs(bottom - (e_bottom - 1)) <= 2
    assert abs(left - e_left) <= 2 and abs(right - (e_right - 1)) <= 2


def test_letter_fills_the_width_and_a4_keeps_a4_length(tmp_path: Path) -> None:
    pdf = write_pdf(
        tmp_path / "w.pdf",
        [RawPage(*LETTER, rect_op(0, 300, LETTER[0], 20, LETTER[1])), RawPage(*A4)],
    )
    convert([pdf], tmp_path / "o.tif")
    letter, a4 = assert_class_f(tmp_path / "o.tif", 2, "fine", "mr")
    _, _, left, right = bbox(letter)
    assert left <= 3 and right >= 1724  # 8.5 in at 204 dpi is 1734 px: fitted to 1728
    assert a4.shape[0] == 2292 and not a4.any()


@pytest.mark.parametrize("res", ["fine", "standard"])
def test_legal_keeps_its_length_and_nothing_is_cropped(tmp_path: Path, res: str) -> None:
    h = LEGAL[1]
    pdf = write_pdf(
        tmp_path / "l.pdf",
        [RawPage(*LEGAL, rect_op(0, 0, 612, 10, h) + rect_op(0, h - 10, 612, 10, h))],
    )
    convert([pdf], tmp_path / "o.tif", resolution=res)
    (black,) = assert_class_f(tmp_path / "o.tif", 1, res, "mr")
    expected = 14 * YDPI[res]  # 14 in long at its true size: 8.5 in fits the line
    assert abs(black.shape[0] - expected) <= 2
    top, bottom, _, _ = bbox(black)
    assert top <= 2 and bottom >= black.shape[0] - 3  # both bars present: no crop


def test_very_long_page_is_scaled_to_b4_length_not_cropped(tmp_path: Path) -> None:
    h = 3000.0
    pdf = write_pdf(
        tmp_path / "long.pdf",
        [RawPage(612, h, rect_op(0, 0, 612, 20, h) + rect_op(0, h - 20, 612, 20, h))],
    )
    convert([pdf], tmp_path / "o.tif")
    (black,) = assert_class_f(tmp_path / "o.tif", 1, "fine", "mr")
    assert black.shape[0] == round(364 / 25.4 * 196)  # ISO B4 length at fine
    top, bottom, left, right = bbox(black)
    assert top <= 2 and bottom >= black.shape[0] - 3
    assert right - left < 1728 * 0.95  # narrower: scaled down to fit the length


def test_landscape_pages_turn_to_portrait(tmp_path: Path) -> None:
    land = (A4[1], A4[0])
    # A mark in the landscape page's top-left corner; a portrait page between.
    pdf = write_pdf(
        tmp_path / "mixed.pdf",
        [
            RawPage(*A4, rect_op(0, 0, 60, 30, A4[1])),
            RawPage(*land, rect_op(0, 0, 60, 30, land[1])),
        ],
    )
    convert([pdf], tmp_path / "o.tif")
    portrait, turned = assert_class_f(tmp_path / "o.tif", 2, "fine", "mr")
    assert portrait.shape == turned.shape == (2292, 1728)
    top, _, left, _ = bbox(portrait)
    assert top < 100 and left < 100
    # Turned a quarter counter-clockwise: the top-left corner is now bottom-left, and the
    # 60 x 30 pt mark is now taller than wide.
    t_top, t_bottom, t_left, t_right = bbox(turned)
    assert t_bottom > 2292 - 100 and t_left < 100
    height_in = (t_bottom - t_top + 1) / 196
    width_in = (t_right - t_left + 1) / 204
    assert height_in > 1.5 * width_in


def test_pdf_rotate_attribute_is_honoured(tmp_path: Path) -> None:
    # A portrait MediaBox displayed with /Rotate 90 is a landscape page: it is turned back.
    page = RawPage(*A4, rect_op(0, 0, 60, 30, A4[1]), rotate=90)
    convert([write_pdf(tmp_path / "r.pdf", [page])], tmp_path / "o.tif")
    (black,) = assert_class_f(tmp_path / "o.tif", 1, "fine", "mr")
    top, bottom, left, right = bbox(black)
    # Net effect of /Rotate 90 then our quarter turn back: the mark is where it was drawn.
    assert top < 100 and left < 100
    assert (right - left) / 204 > (bottom - top) / 196


def test_hairlines_stay_solid_at_standard(tmp_path: Path) -> None:
    # 0.25 pt horizontal rules: at 98 dpi they are a third of a row tall, the case where
    # thresholding anti-aliased output at 128 breaks strokes.
    h = A4[1]
    tops = [100.0 + 37.3 * i for i in range(15)]
    content = "".join(rect_op(72, t, 400, 0.25, h) for t in tops)
    convert(
        [write_pdf(tmp_path / "h.pdf", [RawPage(*A4, content)])],
        tmp_path / "o.tif",
        resolution="standard",
    )
    (black,) = assert_class_f(tmp_path / "o.tif", 1, "standard", "mr")
    _, _, e_left, e_right = expected_box(A4, (72, 0, 400, 1), "standard")
    span = slice(int(e_left) + 2, int(e_right) - 2)
    for t in tops:
        row = round(expected_box(A4, (72, t, 400, 0.25), "standard")[0])
        band = black[row - 2 : row + 3, span]
        assert band.any(axis=0).all(), f"rule at {t} pt is broken"


def test_grey_photo_is_dithered_not_black(tmp_path: Path) -> None:
    from PIL import Image

    ramp = np.tile(np.linspace(0, 255, 800, dtype=np.float32), (600, 1)).astype(np.uint8)
    Image.fromarray(ramp, "L").save(tmp_path / "ramp.png")
    convert([tmp_path / "ramp.png"], tmp_path / "o.tif")
    (black,) = assert_class_f(tmp_path / "o.tif", 1, "fine", "mr")
    # Landscape image: turned, so the ramp now runs bottom (dark) to top (light).
    top, bottom, left, right = bbox(black)
    strips = np.array_split(black[:, left : right + 1][top : bottom + 1], 8, axis=0)
    darkness = [s.mean() for s in strips]
    assert darkness[-1] > 0.8 and darkness[0] < 0.2
    assert 0.25 < np.mean(darkness[3:5]) < 0.75
    assert all(b >= a - 0.05 for a, b in itertools.pairwise(darkness))


def test_text_next_to_grey_fill_stays_clean(tmp_path: Path) -> None:
    h = A4[1]
    lines = "".join(
        f"BT /F1 11 Tf 0 g 72 {h - 100 - 16 * i} Td (Invoice line {i} total 123.45) Tj ET\n"
        for i in range(20)
    )
    content = lines + rect_op(72, 500, 450, 200, h, grey=0.5)
    convert([write_pdf(tmp_path / "m.pdf", [RawPage(*A4, content)])], tmp_path / "o.tif")
    (black,) = assert_class_f(tmp_path / "o.tif", 1, "fine", "mr")
    fill = black[round(520 / 72 * 196) : round(680 / 72 * 196), 300:1300]
    assert 0.3 < fill.mean() < 0.7  # the 50 % grey area is dithered to about half black
    # The text area is thresholded: rows between text lines are pure white (no dither dots).
    text_area = black[round(60 / 72 * 196) : round(420 / 72 * 196), :]
    white_rows = ~text_area.any(axis=1)
    assert white_rows.sum() > 0.3 * text_area.shape[0]


def test_inputs_are_concatenated_in_order(tmp_path: Path) -> None:
    from PIL import Image

    first = write_pdf(tmp_path / "a.pdf", [RawPage(*A4, rect_op(0, 0, 50, 50, A4[1]))])
    Image.new("L", (400, 600), 255).save(tmp_path / "b.png")
    (tmp_path / "c.txt").write_text("hello\fworld\n", encoding="utf-8")
    last = write_pdf(tmp_path / "d.pdf", [RawPage(*A4, rect_op(545, 790, 50, 50, A4[1]))])
    result = convert([first, tmp_path / "b.png", tmp_path / "c.txt", last], tmp_path / "o.tif")
    assert result.pages == 5
    pages = assert_class_f(tmp_path / "o.tif", 5, "fine", "mr")
    assert bbox(pages[0])[0] < 200 and bbox(pages[0])[2] < 200  # mark top-left
    assert not pages[1].any()  # the blank PNG
    assert pages[2].any() and pages[3].any()  # two text pages (form feed)
    assert bbox(pages[4])[1] > 2000 and bbox(pages[4])[3] > 1500  # mark bottom-right


@pytest.mark.parametrize("res", ["fine", "standard"])
def test_header_over_content_moves_the_page_down(tmp_path: Path, res: str) -> None:
    # Content touching the very top of the page: the page moves down by the band, whole.
    pdfs = write_pdf(
        tmp_path / "top.pdf", [RawPage(*A4, rect_op(0, 0, A4[0], 20, A4[1])) for _ in range(3)]
    )
    convert([pdfs], tmp_path / "o.tif", resolution=res, header="FAX-TSID 2026-11-21 08:00 Bob")
    pages = assert_class_f(tmp_path / "o.tif", 3, res, "mr")
    band = band_of(res)
    for black in pages:
        assert black.shape[0] == A4_ROWS[res] + band  # longer, not shrunk
        assert black[: band - 4].any()  # header text
        bar = np.flatnonzero(black[:, 800])  # a column through the bar, away from the text
        assert bar.min() >= band - 3  # the header rule sits in the band's last rows
        content = bar[bar >= band]
        assert content.size >= round(20 / 72 * YDPI[res]) - 1  # the 20 pt bar is all there


def band_of(res: str) -> int:
    return 40 if res == "fine" else 20


@pytest.mark.parametrize("res", ["fine", "standard"])
@pytest.mark.parametrize("size", [A4, LETTER], ids=["a4", "letter"])
def test_header_goes_over_the_top_margin_and_nothing_shrinks(
    tmp_path: Path, res: str, size: tuple[float, float]
) -> None:
    # An ordinary page (text from 0.5 in down): the header is printed over the top margin,
    # the page keeps its length and its content stays exactly where it was without a header.
    h = size[1]
    content = rect_op(72, 36, 400, 30, h) + rect_op(72, h - 100, 300, 30, h)
    pdf = write_pdf(tmp_path / "m.pdf", [RawPage(*size, content)])
    convert([pdf], tmp_path / "plain.tif", resolution=res)
    convert([pdf], tmp_path / "head.tif", resolution=res, header="ACME 2026-11-21 To Bob")
    (plain,) = assert_class_f(tmp_path / "plain.tif", 1, res, "mr")
    (head,) = assert_class_f(tmp_path / "head.tif", 1, res, "mr")
    band = band_of(res)
    assert head.shape == plain.shape == (A4_ROWS[res], 1728)
    assert head[:band].any() and not plain[:band].any()
    assert np.array_equal(head[band:], plain[band:])


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract-ocr not installed")
def test_header_reads_page_n_of_m(tmp_path: Path) -> None:
    from PIL import Image

    pdf = write_pdf(tmp_path / "p.pdf", [RawPage(*A4) for _ in range(3)])
    convert([pdf], tmp_path / "o.tif", header="ACME-FAX 2026-11-21 To Bob")
    pages = assert_class_f(tmp_path / "o.tif", 3, "fine", "mr")
    band = np.where(pages[1][:40], 0, 255).astype(np.uint8)
    Image.fromarray(np.pad(band, 20, constant_values=255), "L").save(tmp_path / "band.png")
    text = subprocess.run(
        ["tesseract", str(tmp_path / "band.png"), "-", "--psm", "7"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "Page 2 of 3" in text
    assert "2026-11-21" in text and "Bob" in text


def test_text_file_pages_and_wrapping(tmp_path: Path) -> None:
    from lanfax.documents.pdfgen import paginate_text

    long_line = "W" * 200
    text = "\n".join(f"line {i}" for i in range(150)) + "\f" + long_line + "\n\f"
    pages = paginate_text(text)
    assert len(pages) == 4  # 150 lines over 3 pages, then the long-line page; no blank last
    assert "".join(pages[3]) == long_line  # wrapped, not cut
    assert all(len(line) <= 84 for page in pages for line in page)
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    assert convert([tmp_path / "t.txt"], tmp_path / "o.tif").pages == 4
    out = assert_class_f(tmp_path / "o.tif", 4, "fine", "mr")
    wrapped_rows = np.flatnonzero(out[3].any(axis=1))
    assert wrapped_rows.max() - wrapped_rows.min() > 2 * 12 / 72 * 196  # three text lines


def test_output_is_atomic(tmp_path: Path) -> None:
    out = tmp_path / "o.tif"
    out.write_bytes(b"previous")
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4\n garbage")
    with pytest.raises(DocumentError):
        convert([tmp_path / "bad.pdf"], out)
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pdf", "o.tif"]


def test_convert_runs_in_a_process_pool(tmp_path: Path) -> None:
    # The service calls convert in a process pool: arguments, result and errors must pickle.
    import concurrent.futures as cf

    from lanfax.documents import ConversionLimits

    pdf = write_pdf(tmp_path / "a.pdf", [RawPage(*A4, rect_op(0, 0, 50, 50, A4[1]))])
    (tmp_path / "empty.pdf").write_bytes(b"")
    with cf.ProcessPoolExecutor(1) as pool:
        ok = pool.submit(
            convert, [pdf], tmp_path / "o.tif", resolution="standard", compression="mmr",
            limits=ConversionLimits(max_pages=3), header="H",
        )  # fmt: skip
        bad = pool.submit(convert, [tmp_path / "empty.pdf"], tmp_path / "x.tif")
        assert ok.result(timeout=60).pages == 1
        with pytest.raises(DocumentError) as info:
            bad.result(timeout=60)
    assert "empty" in info.value.message and info.value.hint
    assert_class_f(tmp_path / "o.tif", 1, "standard", "mmr")


@pytest.mark.parametrize(
    ("res", "comp", "header"), [("fine", "mr", None), ("standard", "mmr", "H")]
)
def test_one_thread_and_two_threads_write_the_same_bytes(
    tmp_path: Path, res: str, comp: str, header: str | None
) -> None:
    # ConversionLimits.threads=1 (the service's process pool) renders and encodes on one
    # thread; 2 overlaps them. Same pages, same encoder: the files must be byte-identical.
    from PIL import Image

    from lanfax.documents import ConversionLimits

    lines = [f"line {i} of the threads test, with some words" for i in range(60)]
    pdf = write_pdf(
        tmp_path / "a.pdf",
        [
            text_page(A4, lines),
            RawPage(*A4, rect_op(0, 0, 50, 50, A4[1])),
            text_page(LETTER, lines),
        ],
    )
    Image.new("L", (400, 600), 128).save(tmp_path / "grey.png")
    (tmp_path / "t.txt").write_text("hello\fworld\n", encoding="utf-8")
    inputs = [pdf, tmp_path / "grey.png", tmp_path / "t.txt"]
    outputs = {}
    for threads in (1, 2):
        out = tmp_path / f"o{threads}.tif"
        result = convert(
            inputs, out, resolution=res, compression=comp, header=header,
            limits=ConversionLimits(threads=threads),
        )  # fmt: skip
        assert result.pages == 6
        outputs[threads] = out.read_bytes()
    assert_class_f(tmp_path / "o1.tif", 6, res, comp)
    assert outputs[1] == outputs[2]


@pytest.mark.parametrize("threads", [0, 3])
def test_threads_other_than_one_or_two_is_an_error(tmp_path: Path, threads: int) -> None:
    from lanfax.documents import ConversionLimits

    pdf = write_pdf(tmp_path / "a.pdf", [RawPage(*A4)])
    with pytest.raises(DocumentError) as info:
        convert([pdf], tmp_path / "o.tif", limits=ConversionLimits(threads=threads))
    assert "threads" in info.value.message and "process pool" in (info.value.hint or "")
    assert not (tmp_path / "o.tif").exists()
