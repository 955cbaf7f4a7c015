"""The one-pass check of a submitted TIFF (#19, lanfax.service.faxcheck): the same answers as
the tag check (``is_fax_ready``) and the every-page check it replaced (#14), on real files."""

from __future__ import annotations

import os
import struct
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.support.faxes import make_fax_tiff, tiff_entry, tiff_ifds

from lanfax.documents import is_fax_ready
from lanfax.documents.tiffio import FaxTiffWriter
from lanfax.documents.types import MAX_LENGTH
from lanfax.service import faxcheck

STRIP_OFFSETS, STRIP_BYTE_COUNTS, IMAGE_LENGTH = 273, 279, 257


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_fax_tiff(tmp_path_factory.mktemp("three"), pages=3).read_bytes()


def _damage(data: bytes, page: int) -> bytes:
    """``data`` with the last two thirds of page ``page``'s (1-based) coded data garbage."""
    out = bytearray(data)
    ifd = tiff_ifds(data)[page - 1]
    _, offset = tiff_entry(data, ifd, STRIP_OFFSETS)
    _, count = tiff_entry(data, ifd, STRIP_BYTE_COUNTS)
    out[offset + count // 3 : offset + count] = os.urandom(count - count // 3)
    return bytes(out)


def _lengthen(data: bytes, page: int, rows: int) -> bytes:
    out = bytearray(data)
    at, _ = tiff_entry(data, tiff_ifds(data)[page - 1], IMAGE_LENGTH)
    struct.pack_into("<I", out, at, rows)
    return bytes(out)


def _scan(tmp_path: Path, data: bytes, max_pages: int = 100) -> faxcheck.Scan:
    path = tmp_path / "upload"
    path.write_bytes(data)
    return faxcheck.scan(path, MAX_LENGTH, max_pages)


def test_a_good_fax_is_ready_as_the_tag_check_says(tmp_path: Path, three: bytes) -> None:
    found = _scan(tmp_path, three)
    assert found.bad is None
    assert found.ready == is_fax_ready(tmp_path / "upload")
    assert found.ready is not None and found.ready.pages == 3


def test_what_is_not_class_f_is_not_ready(tmp_path: Path, three: bytes) -> None:
    """Not a TIFF, a TIFF that is not Class F (Pillow's min-is-black G4), and the text of a
    PDF: each is converted (None), as the tag check answers."""
    pillow = tmp_path / "pillow.tif"
    Image.new("1", (1728, 2200), 1).save(pillow, compression="group4", dpi=(204, 196))
    for data in (b"%PDF-1.4\n" + b"x" * 500, pillow.read_bytes(), b"II*\x00" + b"\xff" * 64):
        found = _scan(tmp_path, data)
        assert found == faxcheck.Scan(None), data[:16]
        assert is_fax_ready(tmp_path / "upload") is None


def test_pages_that_disagree_are_not_ready(tmp_path: Path) -> None:
    """A fine page then a standard one: is_fax_ready can name one resolution only."""
    packed = np.zeros((100, 216), dtype=np.uint8)
    parts = []
    for yres in (196, 98):
        part = tmp_path / f"{yres}.tif"
        with FaxTiffWriter(part, "mmr", yres, 1) as w:
            w.add_packed(packed, 1728, 100)
        parts.append(part)
    path = tmp_path / "mixed.tif"
    subprocess.run(["tiffcp", *map(str, parts), str(path)], check=True)
    assert is_fax_ready(parts[1]) is not None and is_fax_ready(path) is None
    assert faxcheck.scan(path, MAX_LENGTH, 100) == faxcheck.Scan(None)


@pytest.mark.parametrize("page", [1, 2, 3])
def test_a_damaged_page_is_named(tmp_path: Path, three: bytes, page: int) -> None:
    found = _scan(tmp_path, _damage(three, page))
    assert found.ready is not None and found.ready.pages == 3
    assert found.bad == (page, faxcheck.DAMAGED)


def test_a_page_longer_than_paper_is_converted_even_after_a_damaged_one(
    tmp_path: Path, three: bytes
) -> None:
    """As before #19, where every length was checked before any page was decoded: a page
    longer than paper sends the file to the converter, whatever else is wrong with it."""
    found = _scan(tmp_path, _lengthen(_damage(three, 2), 3, 20000))
    assert found.bad is not None and found.bad[0] == 3 and "rows" in found.bad[1]
    first_too_long = _scan(tmp_path, _lengthen(three, 1, 20000))
    assert first_too_long == faxcheck.Scan(None)


def test_a_directory_pointing_outside_the_file_is_damage(tmp_path: Path, three: bytes) -> None:
    data = bytearray(three)
    ifd = tiff_ifds(three)[1]
    (n,) = struct.unpack_from("<H", three, ifd)
    struct.pack_into("<I", data, ifd + 2 + 12 * n, len(three) + 4096)  # page 3 "is" past EOF
    found = _scan(tmp_path, bytes(data))
    assert found.ready is not None and found.ready.pages == 2
    assert found.bad == (2, faxcheck.DAMAGED_DIRECTORY)


def test_pages_past_the_limit_are_counted_not_decoded(tmp_path: Path, three: bytes) -> None:
    """The page limit refuses the file (the caller's check, with its own message); a damaged
    page beyond it is not decoded first."""
    found = _scan(tmp_path, _damage(three, 3), max_pages=2)
    assert found.ready is not None and found.ready.pages == 3 and found.bad is None


def test_threads_at_once_each_get_their_own_answer(tmp_path: Path, three: bytes) -> None:
    """Each scan has its own error handler: a damaged file on one thread never marks a good
    one on another."""
    good, bad = tmp_path / "good.tif", tmp_path / "bad.tif"
    good.write_bytes(three)
    bad.write_bytes(_damage(three, 2))
    wrong: list[str] = []

    def run(path: Path, expect: tuple[int, str] | None) -> None:
        for _ in range(30):
            found = faxcheck.scan(path, MAX_LENGTH, 100)
            if found.ready is None or found.bad != expect:
                wrong.append(f"{path.name}: {found}")

    threads = [threading.Thread(target=run, args=(good, None)) for _ in range(3)]
    threads += [threading.Thread(target=run, args=(bad, (2, faxcheck.DAMAGED))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def test_without_a_handler_of_its_own_only_lengths_are_checked(
    tmp_path: Path, three: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libtiff older than 4.5 (no TIFFOpenExt): the tags as is_fax_ready reads them and every
    page's length, no decoding (a damaged page is not seen), as before #19."""
    monkeypatch.setattr(faxcheck, "_api", lambda: None)
    assert _scan(tmp_path, three).bad is None
    assert _scan(tmp_path, _damage(three, 2)).bad is None
    too_long = _scan(tmp_path, _lengthen(three, 3, 20000))
    assert too_long.ready is not None and too_long.bad is not None
    assert too_long.bad[0] == 3 and "rows" in too_long.bad[1]
    assert _scan(tmp_path, _lengthen(three, 1, 20000)) == faxcheck.Scan(None)
    assert _scan(tmp_path, b"%PDF-1.4\n") == faxcheck.Scan(None)


@pytest.mark.parametrize("fill", ["nofill", "libtiff"])
def test_the_check_decodes_without_writing_pixels_and_finds_the_same_damage(
    fill: str, tmp_path: Path, three: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the engine's compiled helper the strips are decoded through its no-op G3/G4
    fill (the pixels are never read): the strip buffer is left as it was, and a damaged
    page is found and named exactly as with libtiff's own fill (LANFAX_FAXCHECK_FILL=1,
    and the ABI path)."""
    from lanfax.engine import fax_nofill_address

    if fill == "nofill" and fax_nofill_address() is None:
        pytest.skip("no compiled helper")
    monkeypatch.setattr(faxcheck, "_fill", [])
    if fill == "libtiff":
        monkeypatch.setenv("LANFAX_FAXCHECK_FILL", "1")
    buf = faxcheck._strip_buffer(1)
    ctypes_memset = bytes([0xAB]) * len(buf)
    buf.raw = ctypes_memset
    assert _scan(tmp_path, three).bad is None
    untouched = buf.raw == ctypes_memset
    assert untouched == (fill == "nofill")
    for page in (1, 2, 3):
        found = _scan(tmp_path, _damage(three, page))
        assert found.bad == (page, faxcheck.DAMAGED), (fill, page)
