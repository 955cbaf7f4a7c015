"""Refusals: bad documents, bad options, misuse, a broken callback, a wrong library."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from lanfax.engine import AudioFaxSession, SessionOptions, T38FaxSession, check_tx_tiff
from lanfax.engine._binding import _check_abi, load, open_library
from lanfax.model.errors import EngineError, InvalidInput

from .conftest import Doc, draw_page


def test_eight_bit_grey_is_refused_before_the_call(tmp_path: Path) -> None:
    path = tmp_path / "grey.tif"
    Image.new("L", (1728, 1146), 200).save(path, dpi=(204, 98))
    with pytest.raises(EngineError) as err:
        AudioFaxSession(True, tx_file=path)
    assert "1 bit" in err.value.message and "lanfax convert" in (err.value.hint or "")


def test_width_1700_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "narrow.tif"
    Image.new("1", (1700, 1146), 1).save(path, compression="group4", dpi=(204, 98))
    with pytest.raises(EngineError) as err:
        T38FaxSession(True, tx_file=path)
    assert "1700" in err.value.message and err.value.hint


def test_missing_bits_per_sample_is_refused(tmp_path: Path) -> None:
    # Pillow leaves BitsPerSample out of uncompressed 1-bit files; spandsp then fails (41).
    path = tmp_path / "raw.tif"
    draw_page(1, 1146).save(path, compression="raw", dpi=(204, 98))
    with Image.open(path) as im:
        assert 258 not in im.tag_v2  # type: ignore[attr-defined]  # the premise of the test
    with pytest.raises(EngineError) as err:
        AudioFaxSession(True, tx_file=path)
    assert "BitsPerSample" in err.value.message
    assert "tiffset" in (err.value.hint or "")


def test_bad_page_in_the_middle_is_named(tmp_path: Path) -> None:
    path = tmp_path / "mixed.tif"
    good = draw_page(1, 1146)
    good.save(
        path,
        compression="tiff_lzw",
        dpi=(204, 98),
        save_all=True,
        append_images=[Image.new("L", (1728, 1146), 255)],
    )
    with pytest.raises(EngineError, match="page 2"):
        check_tx_tiff(path)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
@pytest.mark.parametrize("content", [b"", b"%PDF-1.4 not a tiff", b"II*\x00garbage"])
def test_unreadable_files_are_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.tif"
    path.write_bytes(content)
    with pytest.raises(EngineError):
        AudioFaxSession(True, tx_file=path)


def test_png_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "page.png"
    draw_page(1, 1146).save(path)
    with pytest.raises(EngineError, match="PNG"):
        AudioFaxSession(True, tx_file=path)


def test_missing_document_and_missing_spool_dir(tmp_path: Path, docs: dict[str, Doc]) -> None:
    with pytest.raises(EngineError, match="does not exist"):
        AudioFaxSession(True, tx_file=tmp_path / "nope.tif")
    with pytest.raises(EngineError, match="directory"):
        AudioFaxSession(False, rx_file=tmp_path / "no" / "such" / "dir" / "rx.tif")
    with pytest.raises(EngineError, match="tx_file"):
        AudioFaxSession(True)


def test_overlong_paths_are_refused_not_truncated(tmp_path: Path, docs: dict[str, Doc]) -> None:
    deep = tmp_path / ("d" * 120) / ("e" * 120)
    deep.mkdir(parents=True)
    with pytest.raises(EngineError, match="truncates"):
        AudioFaxSession(False, rx_file=deep / "received.tif")
    copy = deep / "doc.tif"
    shutil.copy(docs["light_g4"].path, copy)
    with pytest.raises(EngineError, match="truncates"):
        AudioFaxSession(True, tx_file=copy)


def test_good_tiff_variants_pass_the_check(tmp_path: Path) -> None:
    page = draw_page(2, 2292)
    for compression in ("group3", "group4", "tiff_lzw", "packbits"):
        path = tmp_path / f"{compression}.tif"
        page.save(path, compression=compression, dpi=(204, 196))
        (info,) = check_tx_tiff(path)
        assert (info.width, info.length) == (1728, 2292)
        assert (info.x_dpi, info.y_dpi) == (204.0, 196.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"local_ident": "x" * 21},
        {"local_ident": "caf\u00e9"},
        {"page_header": "h" * 51},
        {"page_header": "tab\there"},
        {"modems": frozenset({"v34"})},
        {"compressions": frozenset({"jbig"})},
        {"rx_encoding": "jpeg"},
        {"log_level": -1},
        {"logger_name": ""},
    ],
)
def test_bad_options_are_refused_with_a_hint(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as err:
        SessionOptions(**kwargs)
    assert err.value.hint


@given(st.text(max_size=30))
def test_ident_validation_matches_the_t30_rule(ident: str) -> None:
    valid = len(ident) <= 20 and all(" " <= ch <= "~" for ch in ident)
    if valid:
        assert SessionOptions(local_ident=ident).local_ident == ident
    else:
        with pytest.raises(InvalidInput):
            SessionOptions(local_ident=ident)


def test_closed_session_refuses_use(docs: dict[str, Doc]) -> None:
    a = AudioFaxSession(True, tx_file=docs["light_g4"].path)
    a.close()
    with pytest.raises(EngineError, match="closed"):
        a.tx(160)
    with pytest.raises(EngineError, match="closed"):
        a.rx(np.zeros(160, np.int16))


def test_bad_sample_counts(docs: dict[str, Doc], tmp_path: Path) -> None:
    with AudioFaxSession(True, tx_file=docs["light_g4"].path) as a:
        with pytest.raises(EngineError):
            a.tx(0)
        a.rx(np.zeros(0, np.int16))  # empty is a no-op
        assert a.elapsed_samples == 0
    with T38FaxSession(False, rx_file=tmp_path / "r.tif") as b, pytest.raises(EngineError):
        b.tick(-1)


def faulty_record(kind: int, value: int) -> None:
    """A FAKE event recorder that raises: injects a failure inside a spandsp callback (ABI
    mode, where the callbacks are Python), which the real library cannot be made to produce
    on demand. The compiled helper's callbacks are C and do not raise."""
    raise RuntimeError("injected callback failure")


def test_exception_inside_a_callback_surfaces_after_the_c_call(
    docs: dict[str, Doc], abi_mode: None
) -> None:
    with AudioFaxSession(True, tx_file=docs["light_g4"].path) as a:
        a._record = faulty_record  # type: ignore[method-assign]
        with pytest.raises(EngineError, match="injected callback failure"):
            a.terminate()  # t30_terminate calls the phase E handler synchronously


def test_a_callback_failure_is_raised_by_its_own_session_only(
    docs: dict[str, Doc], abi_mode: None
) -> None:
    """Two sessions alive at once: a failure inside one's callback is raised by that one,
    once, and the other never sees it (each session's callbacks are its own closures; no
    process-wide list of errors is left for whichever session looks next)."""
    doc = docs["light_g4"].path
    with AudioFaxSession(True, tx_file=doc) as a, AudioFaxSession(False, tx_file=doc) as b:
        a._record = faulty_record  # type: ignore[method-assign]
        with pytest.raises(EngineError, match="injected callback failure"):
            a.terminate()
        assert a._cb_errors == []  # raised once, not kept for later
        b.terminate()  # its own phase E handler runs: no error of a's comes out here
        assert b.done and b.result is not None and not a.done


def test_library_load_is_lazy() -> None:
    code = (
        "import lanfax.engine, sys\n"
        "maps = open('/proc/self/maps').read()\n"
        "sys.exit(1 if 'libspandsp' in maps else 0)\n"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_release_of_the_loaded_library_is_0_0_6() -> None:
    sp = load()
    assert sp.release == "20110122 075024"
    assert load() is sp


def test_missing_library_is_refused_with_the_package_hint() -> None:
    with pytest.raises(EngineError) as err:
        open_library("libspandsp-not-installed.so.9")
    assert "libspandsp2" in (err.value.hint or "")


def test_other_library_is_refused() -> None:
    with pytest.raises(EngineError, match=r"not the spandsp 0\.0\.6 ABI"):
        open_library("libtiff.so.6")


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler to build the fake")
def test_newer_spandsp_is_refused(tmp_path: Path) -> None:
    # A FAKE "newer spandsp": exports 0.0.6's names plus one only newer releases have.
    src = tmp_path / "fake.c"
    names = [
        "span_set_error_handler",
        "span_log_set_error_handler",
        "fax_init",
        "t38_terminal_init",
        "t30_get_transfer_statistics",
        "span_log_bump_time",
    ]
    src.write_text("".join(f"void {n}(void) {{}}\n" for n in names))
    lib = tmp_path / "libfakespandsp.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    with pytest.raises(EngineError, match="newer") as err:
        _check_abi(str(lib))
    assert "span_log_bump_time" in err.value.message
