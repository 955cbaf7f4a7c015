"""is_fax_ready, first_page (FaxGetPageData), thumbnails and TIFF -> PDF."""

from __future__ import annotations

import io
import re
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lanfax.documents import convert, first_page, is_fax_ready, thumbnail_png, tiff_to_pdf
from lanfax.model.errors import DocumentError

from .corpus import A4, RawPage, assert_class_f, rect_op, text_page, write_pdf


@pytest.fixture
def fax(tmp_path: Path) -> Path:
    pdf = write_pdf(
        tmp_path / "d.pdf",
        [RawPage(*A4, rect_op(50 + 100 * i, 100, 80, 80, A4[1])) for i in range(3)],
    )
    convert([pdf], tmp_path / "fax.tif", resolution="standard", compression="mh")
    return tmp_path / "fax.tif"


def gs_tiff(tmp_path: Path, device: str) -> Path:
    pdf = write_pdf(tmp_path / "g.pdf", [text_page(A4, ["ghostscript page"])] * 2)
    out = tmp_path / f"{device}.tif"
    subprocess.run(
        [
            "gs",
            "-q",
            "-dNOPAUSE",
            "-dBATCH",
            "-dSAFER",
            f"-sDEVICE={device}",
            "-r204x196",
            "-g1728x2292",
            "-dFIXEDMEDIA",
            "-dPDFFitPage",
            f"-sOutputFile={out}",
            str(pdf),
        ],
        check=True,
        timeout=60,
    )
    return out


def test_is_fax_ready_on_our_output(fax: Path) -> None:
    r = is_fax_ready(fax)
    assert r is not None
    assert (r.pages, r.width, r.height, r.resolution, r.compression) == (
        3,
        1728,
        1146,
        "standard",
        "mh",
    )
    assert r.size == fax.stat().st_size


@pytest.mark.parametrize(
    ("device", "comp"), [("tiffg4", "mmr"), ("tiffg32d", "mr"), ("tiffg3", "mh")]
)
def test_is_fax_ready_on_ghostscript_output(tmp_path: Path, device: str, comp: str) -> None:
    r = is_fax_ready(gs_tiff(tmp_path, device))
    assert r is not None and (r.pages, r.resolution, r.compression) == (2, "fine", comp)


def test_not_fax_ready(tmp_path: Path) -> None:
    Image.new("1", (2048, 2292), 1).save(
        tmp_path / "wide.tif", compression="group4", dpi=(204, 196)
    )
    Image.new("L", (1728, 2292), 255).save(tmp_path / "grey.tif", dpi=(204, 196))
    Image.new("1", (1728, 2292), 1).save(
        tmp_path / "lzw.tif", compression="tiff_lzw", dpi=(204, 196)
    )
    Image.new("1", (1728, 2292), 1).save(tmp_path / "res.tif", compression="group4", dpi=(300, 300))
    write_pdf(tmp_path / "doc.pdf", [RawPage(*A4)])
    (tmp_path / "empty.tif").write_bytes(b"")
    for name in ("wide.tif", "grey.tif", "lzw.tif", "res.tif", "doc.pdf", "empty.tif", "none.tif"):
        assert is_fax_ready(tmp_path / name) is None, name


def _retag(path: Path, old: int, new: int) -> None:
    """Renumber one tag in the first IFD of a little-endian TIFF (to 'remove' it)."""
    data = bytearray(path.read_bytes())
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd)
    for i in range(count):
        at = ifd + 2 + 12 * i
        if struct.unpack_from("<H", data, at)[0] == old:
            struct.pack_into("<H", data, at, new)
    path.write_bytes(bytes(data))


def test_missing_bits_per_sample_is_not_ready(fax: Path, tmp_path: Path) -> None:
    broken = tmp_path / "nobps.tif"
    broken.write_bytes(fax.read_bytes())
    _retag(broken, 258, 65000)  # spandsp refuses pages without BitsPerSample
    assert is_fax_ready(broken) is None


def test_min_is_black_is_not_ready(fax: Path, tmp_path: Path) -> None:
    data = bytearray(fax.read_bytes())
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd)
    for i in range(count):
        at = ifd + 2 + 12 * i
        if struct.unpack_from("<H", data, at)[0] == 262:
            struct.pack_into("<H", data, at + 8, 1)
    (tmp_path / "mib.tif").write_bytes(bytes(data))
    assert is_fax_ready(tmp_path / "mib.tif") is None


def test_first_page_of_a_fax(fax: Path) -> None:
    data, w, h = first_page(fax)
    assert (w, h) == (1728, 1146)
    out = fax.with_name("p1.tif")
    out.write_bytes(data)
    (page,) = assert_class_f(out, 1, "standard", "mh")
    with Image.open(fax) as img:
        assert np.array_equal(page, ~np.asarray(img, dtype=bool))


def test_first_page_of_a_pdf(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "d.pdf", [RawPage(*A4, rect_op(0, 0, 40, 40, A4[1]))] * 4)
    data, w, h = first_page(pdf)
    (tmp_path / "p1.tif").write_bytes(data)
    (page,) = assert_class_f(tmp_path / "p1.tif", 1, "fine", "mmr")
    assert (w, h) == (1728, 2292) and page[:200, :200].any() and not page[300:].any()


def test_thumbnail_restores_aspect(fax: Path) -> None:
    png = thumbnail_png(fax, page=2, width=200)
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.width == 200
    # A standard page is 1146 rows at 98 dpi: 11.7 in tall, 8.5 in wide.
    assert abs(img.height - 200 * (1146 / 98) / (1728 / 204)) <= 1
    # The third page's mark (x = 250..330 pt) shows as dark pixels in the right place.
    arr = np.asarray(img.convert("L"))
    cols = np.flatnonzero(arr.min(axis=0) < 128)
    assert abs(cols.min() / 200 - (20 + 250 / 72 * 204) / 1728) < 0.03


def test_thumbnail_errors(fax: Path) -> None:
    with pytest.raises(DocumentError, match="no page 4"):
        thumbnail_png(fax, page=3)
    with pytest.raises(DocumentError, match="width"):
        thumbnail_png(fax, width=5)


def test_tiff_to_pdf_keeps_physical_size(fax: Path, tmp_path: Path) -> None:
    out = tmp_path / "fax.pdf"
    tiff_to_pdf(fax, out)
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"Pages:\s+3", info)
    m = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info)
    assert m
    assert abs(float(m.group(1)) - 1728 / 204 * 72) < 1
    assert abs(float(m.group(2)) - 1146 / 98 * 72) < 1
    # And it renders: poppler finds the marks on page 2.
    subprocess.run(
        ["pdftoppm", "-f", "2", "-l", "2", "-r", "50", "-gray", str(out), str(tmp_path / "r")],
        check=True,
        timeout=60,
    )
    (pgm,) = tmp_path.glob("r*.pgm")
    arr = np.asarray(Image.open(pgm))
    assert (arr < 128).any()


def test_tiff_to_pdf_rejects_non_tiff(tmp_path: Path) -> None:
    write_pdf(tmp_path / "d.pdf", [RawPage(*A4)])
    with pytest.raises(DocumentError, match="not a TIFF"):
        tiff_to_pdf(tmp_path / "d.pdf", tmp_path / "o.pdf")


def test_public_functions_survive_submodule_imports(tmp_path: Path) -> None:
    # Importing a submodule binds its name on the package: none may shadow a public function.
    import lanfax.documents as docs
    from lanfax.documents import cover, pages, pdf, pdfgen, pipeline, raster, sniff, tiffio

    del cover, pages, pdf, pdfgen, pipeline, raster, sniff, tiffio
    for name in docs.__all__:
        assert not isinstance(getattr(docs, name), type(docs)), name


def _cut_second_page(path: Path) -> None:
    """A two-page TIFF whose second directory lost its tags, as a receive cut while it wrote
    its second page leaves it (seen in the chaos campaign)."""
    first = Image.new("1", (1728, 200), 1)
    second = Image.new("1", (1728, 200), 0)
    buf = io.BytesIO()
    first.save(buf, "TIFF", save_all=True, append_images=[second], compression="group4")
    b = bytearray(buf.getvalue())
    off1 = struct.unpack_from("<I", b, 4)[0]
    n1 = struct.unpack_from("<H", b, off1)[0]
    off2 = struct.unpack_from("<I", b, off1 + 2 + 12 * n1)[0]
    n2 = struct.unpack_from("<H", b, off2)[0]
    b[off2 + 2 : off2 + 2 + 12 * n2] = bytes(12 * n2)
    path.write_bytes(bytes(b))


def test_a_fax_cut_while_writing_a_page_shows_the_pages_before_it(tmp_path: Path) -> None:
    src = tmp_path / "cut.tif"
    _cut_second_page(src)
    out = tmp_path / "cut.pdf"
    tiff_to_pdf(src, out)
    import pypdfium2

    assert len(pypdfium2.PdfDocument(out)) == 1
    with pytest.raises(DocumentError, match="page 2 cannot be read"):
        thumbnail_png(src, page=1)
    assert thumbnail_png(src, page=0).startswith(b"\x89PNG")
