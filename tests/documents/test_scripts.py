"""Text in other scripts: Greek, Cyrillic, Arabic, Hebrew and Chinese text files are drawn
with the installed Noto fonts (read back by tesseract in that language), and a character no
font has is named in a warning on the result, not dropped silently."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lanfax.documents import convert, fonts

from .ocr import accuracy, has_language, ocr, tiff_pages

SAMPLES = {
    "ell": ["Καλημέρα σας, το φαξ έφτασε σήμερα", "Ο λογαριασμός πληρώνεται την Τρίτη"],
    "rus": ["Добрый день, факс пришёл сегодня", "Счёт нужно оплатить во вторник"],
    "ara": ["مرحبا بكم في مكتب الفاكس", "الفاتورة مستحقة يوم الثلاثاء"],
    "heb": ["שלום, הפקס הגיע היום", "החשבון לתשלום ביום שלישי"],
    "chi_sim": ["您好，传真今天已经到了", "请在星期二之前付款"],
}


@pytest.mark.parametrize("lang", list(SAMPLES))
def test_text_in_each_script_is_drawn_and_reads_back(tmp_path: Path, lang: str) -> None:
    lines = SAMPLES[lang]
    src = tmp_path / f"{lang}.txt"
    # Twice as large as a text page's 10 pt would need: the OCR, not the fax, is the limit.
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = convert([src], tmp_path / "o.tif")
    assert result.warnings == ()
    (page,) = tiff_pages(tmp_path / "o.tif")
    assert 0.0003 < page.mean() < 0.05  # ink, in glyphs rather than empty boxes (checked next)
    if not has_language(lang):
        pytest.skip(f"tesseract-ocr-{lang.replace('_', '-')} is not installed")
    # tesseract reads 10 pt text better at twice the size; the same for every script.
    big = np.repeat(np.repeat(page[:400], 2, axis=0), 2, axis=1)
    text = ocr(big, tmp_path, lang=lang, psm=6)
    got = "".join(text.split())
    want = "".join("".join(lines).split())
    assert accuracy(want, got) > 0.8, text


def test_lines_right_to_left_run_from_the_right_margin(tmp_path: Path) -> None:
    (tmp_path / "m.txt").write_text("Hello\nשלום עולם\n", encoding="utf-8")
    convert([tmp_path / "m.txt"], tmp_path / "o.tif")
    (page,) = tiff_pages(tmp_path / "o.tif")
    rows = np.flatnonzero(page.any(axis=1))
    gaps = np.flatnonzero(np.diff(rows) > 1)
    first, second = page[rows[0] : rows[gaps[0]] + 1], page[rows[gaps[0] + 1] : rows[-1] + 1]
    left_line = np.flatnonzero(first.any(axis=0))
    right_line = np.flatnonzero(second.any(axis=0))
    assert left_line[0] < 200  # "Hello" starts at the left margin
    assert right_line[-1] > 1728 - 200 and right_line[0] > 800  # Hebrew ends at the right one


def test_a_character_no_font_has_is_named_in_a_warning(tmp_path: Path) -> None:
    # U+E000 is private use (no font of ours has it); U+10FFFD likewise; Greek is fine.
    (tmp_path / "odd.txt").write_text("Ελλάδα \ue000 and \U0010fffd\n", encoding="utf-8")
    result = convert([tmp_path / "odd.txt"], tmp_path / "o.tif")
    (warning,) = result.warnings
    assert warning.startswith("odd.txt: no installed font has U+E000 (private use)")
    assert "U+10FFFD" in warning
    assert result.pages == 1


def test_plain_ascii_text_keeps_the_fast_path_and_no_warning(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Plain text, naïve café – “quotes”\n", encoding="utf-8")
    assert not fonts.needs_layout((tmp_path / "a.txt").read_text(encoding="utf-8"))
    result = convert([tmp_path / "a.txt"], tmp_path / "o.tif")
    assert result.warnings == ()


@pytest.mark.parametrize("text", ["שלום", "مرحبا", "नमस्ते", "e\u0301", "中文", "\ue000"])
def test_scripts_needing_shaping_or_other_fonts_take_the_layout_path(text: str) -> None:
    assert fonts.needs_layout(text)
