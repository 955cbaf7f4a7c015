"""The offline CLI verbs, run as a real subprocess and in process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lanfax.documents.cli import main

from .corpus import A4, RawPage, assert_class_f, rect_op, write_pdf


def test_convert_subprocess(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "a.pdf", [RawPage(*A4, rect_op(0, 0, 50, 50, A4[1]))] * 2)
    (tmp_path / "b.txt").write_text("hello\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "lanfax.documents.cli", "convert", str(pdf), str(tmp_path / "b.txt"),
         "-o", str(tmp_path / "o.tif"), "--standard", "--mmr"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "3 page(s)" in proc.stdout
    assert_class_f(tmp_path / "o.tif", 3, "standard", "mmr")


def test_convert_error_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "e.pdf").write_bytes(b"")
    code = main(["convert", str(tmp_path / "e.pdf"), "-o", str(tmp_path / "o.tif")])
    assert code == 2  # DocumentError -> InvalidInput's exit code
    err = capsys.readouterr().err
    assert "error: e.pdf is empty" in err and "hint:" in err


def test_cover_preview(tmp_path: Path) -> None:
    assert main(["cover", "preview", "default", "-o", str(tmp_path / "c.pdf"),
                 "--templates", str(tmp_path / "none")]) == 0  # fmt: skip
    assert (tmp_path / "c.pdf").read_bytes().startswith(b"%PDF")
    t = tmp_path / "tpl"
    t.mkdir()
    (t / "memo.txt").write_text("Memo to {rec_name}\n", encoding="utf-8")
    assert (
        main(["cover", "preview", "memo", "-o", str(tmp_path / "m.tif"), "--templates", str(t)])
        == 0
    )
    assert_class_f(tmp_path / "m.tif", 1, "fine", "mr")
    assert (
        main(["cover", "preview", "nope", "-o", str(tmp_path / "x.pdf"), "--templates", str(t)])
        == 3
    )


def test_convert_prints_warnings_and_still_succeeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "odd.txt").write_text("price \ue000 42\n", encoding="utf-8")
    code = main(["convert", str(tmp_path / "odd.txt"), "-o", str(tmp_path / "o.tif")])
    assert code == 0
    out = capsys.readouterr()
    assert "lanfax: warning: odd.txt: no installed font has U+E000 (private use)" in out.err
    assert "1 page(s)" in out.out
