"""Every broken or hostile input gets a DocumentError with a message and a hint, quickly."""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from PIL import Image

from lanfax.documents import ConversionLimits, convert, identify
from lanfax.model.errors import DocumentError

from .corpus import A4, RawPage, assert_class_f, bbox, rect_op, text_page, write_pdf


def fails(inputs: list[Path], tmp_path: Path, **kw: object) -> DocumentError:
    with pytest.raises(DocumentError) as info:
        convert(inputs, tmp_path / "out.tif", **kw)  # type: ignore[arg-type]
    err = info.value
    assert err.message and err.hint, "every error says what was wrong and what to do"
    assert not (tmp_path / "out.tif").exists()
    return err


def test_zero_bytes(tmp_path: Path) -> None:
    (tmp_path / "empty.pdf").write_bytes(b"")
    assert "empty" in fails([tmp_path / "empty.pdf"], tmp_path).message


def test_missing_file(tmp_path: Path) -> None:
    assert "no such file" in fails([tmp_path / "nope.pdf"], tmp_path).message


def test_truncated_pdf(tmp_path: Path) -> None:
    good = write_pdf(tmp_path / "g.pdf", [text_page(A4, ["hello"]) for _ in range(3)])
    (tmp_path / "cut.pdf").write_bytes(good.read_bytes()[:60])
    err = fails([tmp_path / "cut.pdf"], tmp_path)
    assert "not a readable PDF" in err.message


def test_unknown_binary(tmp_path: Path) -> None:
    (tmp_path / "x.pdf").write_bytes(bytes(range(256)) * 4)
    assert "unknown document type" in fails([tmp_path / "x.pdf"], tmp_path).message


def test_latin1_text_is_named(tmp_path: Path) -> None:
    (tmp_path / "l.txt").write_bytes("Grüße aus Köln, très bien\n".encode("latin-1") * 5)
    err = fails([tmp_path / "l.txt"], tmp_path)
    assert "UTF-8" in err.message and "UTF-8" in (err.hint or "")


def test_zip_that_is_not_office(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as z:
        z.writestr("readme.txt", "hi")
    assert "ZIP" in fails([tmp_path / "a.zip"], tmp_path).message


def test_wrong_extension_is_identified_by_content(tmp_path: Path) -> None:
    Image.new("L", (100, 140), 255).save(tmp_path / "pic.pdf", "PNG")
    write_pdf(tmp_path / "doc.txt", [RawPage(*A4, rect_op(0, 0, 30, 30, A4[1]))])
    (tmp_path / "note.png").write_text("just text\n", encoding="utf-8")
    assert identify(tmp_path / "pic.pdf") == "png"
    assert identify(tmp_path / "doc.txt") == "pdf"
    assert identify(tmp_path / "note.png") == "text"
    r = convert(
        [tmp_path / "pic.pdf", tmp_path / "doc.txt", tmp_path / "note.png"], tmp_path / "o.tif"
    )
    assert r.pages == 3


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"%PDF-1.7\n", "pdf"),
        (b"%!PS-Adobe-3.0\n", "postscript"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n", "postscript"),
        (b"II*\x00\x08\x00\x00\x00", "tiff"),
        (b"MM\x00*\x00\x00\x00\x08", "tiff"),
        (b"\x89PNG\r\n\x1a\n....", "png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "jpeg"),
        (b"GIF89a....", "gif"),
        (b"BM" + b"\x00" * 12 + struct.pack("<I", 40) + b"\x00" * 30, "bmp"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "webp"),
        (b"{\\rtf1\\ansi hello}", "office"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "office"),
        ("Grüße — ünïcode text\n".encode(), "text"),
        (b"\xef\xbb\xbfBOM text\n", "text"),
    ],
)
def test_identify_by_content(tmp_path: Path, data: bytes, kind: str) -> None:
    (tmp_path / "file.bin").write_bytes(data)
    assert identify(tmp_path / "file.bin") == kind


def _absurd_tiff(path: Path, width: int, height: int) -> None:
    """A tiny TIFF whose header claims ``width`` x ``height`` bilevel pixels."""
    entries = [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 1, 1),
        (259, 3, 1, 4),
        (262, 3, 1, 0),
        (273, 4, 1, 8 + 2 + 12 * 9 + 4),
        (277, 3, 1, 1),
        (278, 4, 1, height),
        (279, 4, 1, 16),
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        ifd += struct.pack("<HHII", tag, typ, count, value)
    path.write_bytes(b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x00" * 4 + b"\x00" * 16)


def test_tiff_with_absurd_dimensions(tmp_path: Path) -> None:
    _absurd_tiff(tmp_path / "huge.tif", 1_000_000, 1_000_000)
    err = fails([tmp_path / "huge.tif"], tmp_path)
    assert "1,000,000,000,000 pixels" in err.message and "100,000,000" in err.message


def test_tiff_over_our_pixel_limit_names_the_limit(tmp_path: Path) -> None:
    _absurd_tiff(tmp_path / "big.tif", 10_000, 8_000)  # 80 M pixels, under Pillow's guard
    err = fails([tmp_path / "big.tif"], tmp_path, limits=ConversionLimits(max_pixels=50_000_000))
    assert "80,000,000" in err.message and "50,000,000" in err.message


def _png_bomb(path: Path, side: int) -> None:
    """A 1-bit PNG of ``side`` x ``side`` white pixels: a few hundred KiB on disk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    row = b"\x00" + b"\xff" * ((side + 7) // 8)
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row * 1000) for _ in range(side // 1000)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


def test_decompression_bomb_png(tmp_path: Path) -> None:
    _png_bomb(tmp_path / "bomb.png", 12_000)  # 144 M pixels, under 1 MiB on disk
    assert (tmp_path / "bomb.png").stat().st_size < 2**20
    err = fails([tmp_path / "bomb.png"], tmp_path)
    assert "144,000,000" in err.message and "100,000,000" in err.message


def test_page_limit(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "p.pdf", [RawPage(*A4) for _ in range(5)])
    err = fails([pdf, pdf], tmp_path, limits=ConversionLimits(max_pages=8))
    assert "limit of 8" in err.message


def test_byte_limit(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "p.pdf", [text_page(A4, ["x" * 80] * 60) for _ in range(3)])
    err = fails([pdf], tmp_path, limits=ConversionLimits(max_bytes=1000))
    assert "MiB" in err.message and "limit" in err.message


def test_time_limit_between_pages(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "p.pdf", [RawPage(*A4) for _ in range(3)])
    err = fails([pdf], tmp_path, limits=ConversionLimits(timeout=0.0))
    assert "time limit" in err.message


def test_bad_options(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "p.pdf", [RawPage(*A4)])
    assert "resolution" in fails([pdf], tmp_path, resolution="superfine").message
    assert "compression" in fails([pdf], tmp_path, compression="jbig").message
    assert "no documents" in fails([], tmp_path).message
    with pytest.raises(DocumentError, match="does not exist"):
        convert([pdf], tmp_path / "no" / "dir" / "o.tif")


def test_truncated_png(tmp_path: Path) -> None:
    Image.new("RGB", (800, 600), (10, 200, 30)).save(tmp_path / "ok.png")
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    fails([tmp_path / "cut.png"], tmp_path)


# -- PostScript through Ghostscript ---------------------------------------------------------
PS_RECT = b"""%!PS-Adobe-3.0
%%BoundingBox: 0 0 595 842
<< /PageSize [595 842] >> setpagedevice
0 setgray 100 600 200 100 rectfill
showpage
"""


def test_postscript(tmp_path: Path) -> None:
    (tmp_path / "r.ps").write_bytes(PS_RECT)
    convert([tmp_path / "r.ps"], tmp_path / "o.tif", compression="mmr")
    (black,) = assert_class_f(tmp_path / "o.tif", 1, "fine", "mmr")
    top, bottom, left, right = bbox(black)
    # 200 x 100 pt at 204 x 196 dpi (A4 fits at very nearly 1:1).
    assert abs((right - left + 1) - 200 / 72 * 204) < 12
    assert abs((bottom - top + 1) - 100 / 72 * 196) < 12
    assert abs(top - (842 - 700) / 72 * 196) < 12


def test_eps_is_cropped_to_its_bounding_box(tmp_path: Path) -> None:
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 200\n0 setgray 0 0 100 200 rectfill\n"
    (tmp_path / "f.eps").write_bytes(eps)
    convert([tmp_path / "f.eps"], tmp_path / "o.tif")
    (black,) = assert_class_f(tmp_path / "o.tif", 1, "fine", "mr")
    top, bottom, left, right = bbox(black)
    assert bottom - top + 1 >= 2290 - 4  # 1:2 box fills the page height
    assert abs(((right - left + 1) / 204) / ((bottom - top + 1) / 196) - 0.5) < 0.02


def test_postscript_loop_hits_the_time_limit(tmp_path: Path) -> None:
    (tmp_path / "loop.ps").write_bytes(b"%!PS\n{ 1 pop } loop\n")
    err = fails([tmp_path / "loop.ps"], tmp_path, limits=ConversionLimits(timeout=1.0))
    assert "time limit" in err.message


def test_broken_postscript(tmp_path: Path) -> None:
    (tmp_path / "bad.ps").write_bytes(b"%!PS\n/foo bar baz undefinedcommand\nshowpage\n")
    assert "Ghostscript" in fails([tmp_path / "bad.ps"], tmp_path).message


def _docx(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<document/>")


def test_office_document_is_identified(tmp_path: Path) -> None:
    _docx(tmp_path / "letter.bin")
    assert identify(tmp_path / "letter.bin") == "office"


def test_office_without_libreoffice_names_the_package(tmp_path: Path) -> None:
    # The bootstrap installs LibreOffice; a machine without it is one whose PATH finds none.
    # A fresh process: this one may already run a long-lived LibreOffice from earlier tests.
    import os
    import subprocess
    import sys

    (tmp_path / "bin").mkdir()
    _docx(tmp_path / "letter.docx")
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from lanfax.documents import convert\n"
        "from lanfax.model.errors import DocumentError\n"
        "try:\n"
        "    convert([Path(sys.argv[1])], Path(sys.argv[2]))\n"
        "except DocumentError as err:\n"
        "    print(err.message)\n"
        "    print(err.hint)\n"
    )
    env = dict(os.environ, PATH=str(tmp_path / "bin"))
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "letter.docx"), str(tmp_path / "o.tif")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "LibreOffice" in out.stdout, out
    assert "libreoffice-writer-nogui" in out.stdout, out
