"""Cover pages: default, text and AcroForm templates (checked by reading the text back with
pdfium's text extraction and by OCR-free pixel checks), the template store and ServerCp."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from lanfax.documents.cover import (
    SAMPLE,
    TemplateStore,
    check_server_cp,
    preview,
    render_cover,
)
from lanfax.model.config import ServerConfig
from lanfax.model.errors import AccessDenied, DocumentError, NotFound
from lanfax.model.jobs import CoverPageInfo

from .corpus import assert_class_f, write_acroform_pdf

INFO = CoverPageInfo(
    rec_name="Alice Example",
    rec_fax_number="+49 89 555123",
    sdr_name="Bob Sender",
    sdr_company="Widgets Ltd",
    subject="Quarterly report",
    note="Line one of the note.\nLine two.",
    time_sent=datetime(2026, 3, 4, 5, 6),
    page_count=7,
)


def pdf_text(path: Path) -> str:
    pdf = pdfium.PdfDocument(str(path))
    try:
        return "\n".join(pdf[i].get_textpage().get_text_bounded() for i in range(len(pdf)))
    finally:
        pdf.close()


def test_default_cover_pdf_shows_the_fields(tmp_path: Path) -> None:
    r = render_cover(INFO, None, tmp_path / "c.pdf")
    assert r.pages == 1
    text = pdf_text(tmp_path / "c.pdf")
    for value in ("Alice Example", "+49 89 555123", "Bob Sender", "Widgets Ltd",
                  "Quarterly report", "Line one of the note.", "Line two.", "2026-03-04 05:06",
                  "7 pages"):  # fmt: skip
        assert value in text, value


@pytest.mark.parametrize("res", ["fine", "standard"])
def test_default_cover_as_fax_page(tmp_path: Path, res: str) -> None:
    r = render_cover(INFO, None, tmp_path / "c.tif", res, "mmr")
    (black,) = assert_class_f(tmp_path / "c.tif", 1, res, "mmr")
    assert r.pages == 1 and 0.005 < black.mean() < 0.2


def test_text_template(tmp_path: Path) -> None:
    t = tmp_path / "simple.txt"
    t.write_text("To: {rec_name} ({rec_fax_number})\nFrom: {sdr_name}\nRe: {subject}\n\n{note}\n")
    render_cover(INFO, t, tmp_path / "c.pdf")
    text = pdf_text(tmp_path / "c.pdf")
    assert "To: Alice Example (+49 89 555123)" in text
    assert "From: Bob Sender" in text and "Line two." in text


def test_text_template_unknown_field(tmp_path: Path) -> None:
    t = tmp_path / "bad.txt"
    t.write_text("Hello {recipient_name}\n")
    with pytest.raises(DocumentError, match="recipient_name") as info:
        render_cover(INFO, t, tmp_path / "c.pdf")
    assert "rec_name" in (info.value.hint or "")


def test_acroform_template_is_filled_by_field_name(tmp_path: Path) -> None:
    form = write_acroform_pdf(
        tmp_path / "form.pdf",
        {
            "rec_name": (100, 700, 300, 20),
            "subject": (100, 650, 300, 20),
            "note": (100, 450, 400, 150),
            "unrelated": (100, 400, 200, 20),
        },
    )
    render_cover(INFO, form, tmp_path / "c.pdf")
    pdf = pdfium.PdfDocument(str(tmp_path / "c.pdf"))
    page = pdf[0]
    tp = page.get_textpage()
    # Each value lies inside its field's rectangle (PDF coordinates, y up).
    assert "Alice Example" in tp.get_text_bounded(100, 700, 400, 720)
    assert "Quarterly report" in tp.get_text_bounded(100, 650, 400, 670)
    inside_note = tp.get_text_bounded(100, 450, 500, 600)
    assert "Line one of the note." in inside_note and "Line two." in inside_note
    assert "Alice" not in tp.get_text_bounded(0, 0, 595, 690)  # not drawn anywhere else
    # Filled widgets are gone; the unknown field stays a field.
    assert len(list(page.get_objects())) > 0
    import pypdfium2.raw as c

    assert c.FPDFPage_GetAnnotCount(page.raw) == 1
    pdf.close()


def test_pdf_without_fields_is_refused(tmp_path: Path) -> None:
    from .corpus import A4, RawPage, write_pdf

    plain = write_pdf(tmp_path / "plain.pdf", [RawPage(*A4)])
    with pytest.raises(DocumentError, match="no form fields"):
        render_cover(INFO, plain, tmp_path / "c.pdf")


def test_preview_uses_sample_data(tmp_path: Path) -> None:
    preview(None, tmp_path / "p.pdf")
    assert SAMPLE.rec_name in pdf_text(tmp_path / "p.pdf")


def test_template_store(tmp_path: Path) -> None:
    store = TemplateStore(tmp_path / "server", tmp_path / "personal")
    assert [(t.name, t.scope) for t in store.list("ann")] == [("default", "server")]
    store.add("memo", b"Memo for {rec_name}\n", "txt", "server")
    store.add("mine", b"Personal: {sdr_name}\n", "txt", "personal", "ann")
    store.add("memo", b"Ann's memo {subject}\n", "txt", "personal", "ann")
    names = [(t.name, t.scope) for t in store.list("ann")]
    assert names == [
        ("default", "server"),
        ("memo", "server"),
        ("memo", "personal"),
        ("mine", "personal"),
    ]
    assert store.find("memo", "ann").scope == "personal"  # personal shadows server
    assert store.find("memo", "ann", server_only=True).scope == "server"
    with pytest.raises(NotFound):
        store.find("mine", "ann", server_only=True)
    with pytest.raises(NotFound):
        store.find("mine", "bob")
    with pytest.raises(DocumentError, match="not a valid"):
        store.find("../etc/passwd", "ann")
    with pytest.raises(DocumentError, match="unknown field"):
        store.add("broken", b"{nope}", "txt", "server")
    assert not (tmp_path / "server" / "broken.txt").exists()
    store.delete("memo", "personal", "ann")
    assert store.find("memo", "ann").scope == "server"
    assert store.find("default").path is None


def test_server_cp_check() -> None:
    personal = CoverPageInfo(cover_page_name="mine", use_server_cover_page=False)
    server = CoverPageInfo(cover_page_name="memo", use_server_cover_page=True)
    check_server_cp(personal, ServerConfig(server_cp=False))
    check_server_cp(server, ServerConfig(server_cp=True))
    check_server_cp(CoverPageInfo(), ServerConfig(server_cp=True))  # no cover page at all
    with pytest.raises(AccessDenied, match="ServerCoverpage"):
        check_server_cp(personal, ServerConfig(server_cp=True))
