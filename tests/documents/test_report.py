"""The transmission report: a one-page PDF read back with pdfium (text and objects)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from tests.support.faxes import make_fax_tiff

from lanfax.documents.report import render_report, rows
from lanfax.model.errors import DocumentError

FIELDS = {
    "job_id": 4711,
    "result": "completed",
    "status_text": "sent",
    "recipient_number": "555 0199",
    "recipient_name": "Accounts",
    "sender_name": "Ada",
    "submitted_at": datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
    "started_at": datetime(2026, 1, 5, 9, 1, tzinfo=UTC),
    "completed_at": datetime(2026, 1, 5, 9, 2, 30, tzinfo=UTC),
    "duration": 90.0,
    "page_count": 3,
    "pages_done": 3,
    "remote_ident": "+49 30 999",
    "bit_rate": 14400,
    "ecm": True,
    "compression": "mmr",
    "attempts": 2,
}


def _page_text(path: Path) -> tuple[int, str, list[int]]:
    pdf = pdfium.PdfDocument(str(path))
    try:
        n = len(pdf)
        page = pdf[0]
        text = page.get_textpage().get_text_range()
        types = [obj.type for obj in page.get_objects()]
        return n, text, types
    finally:
        pdf.close()


def test_report_has_the_facts_and_a_thumbnail(tmp_path: Path) -> None:
    tiff = make_fax_tiff(tmp_path / "doc", pages=3)
    out = tmp_path / "report.pdf"
    render_report(FIELDS, tiff, out)
    n, text, types = _page_text(out)
    assert n == 1
    assert "Job 4711" in text
    assert "3 of 3" in text
    assert "COMPLETED" in text
    assert "+49 30 999" in text
    assert "14400 bit/s" in text
    assert "1 min 30 s" in text
    assert "MMR" in text
    assert pdfium_c.FPDF_PAGEOBJ_IMAGE in types
    assert not list(tmp_path.glob(".*.tmp"))


def test_report_without_a_document_has_no_image(tmp_path: Path) -> None:
    out = tmp_path / "report.pdf"
    failed = dict(FIELDS, result="retries_exceeded", pages_done=0, bit_rate=0, remote_ident="")
    failed["last_failure"] = "busy"
    render_report(failed, None, out)
    n, text, types = _page_text(out)
    assert n == 1
    assert "RETRIES_EXCEEDED" in text
    assert "busy" in text
    assert pdfium_c.FPDF_PAGEOBJ_IMAGE not in types


def test_rows_keep_peer_text_on_one_line() -> None:
    got = dict(rows({"remote_ident": "evil\r\nBcc: x", "job_id": 1}))
    assert got["Remote ident (CSID)"] == "evil Bcc: x"


def test_missing_tiff_is_a_document_error(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="missing"):
        render_report(FIELDS, tmp_path / "nope.tif", tmp_path / "r.pdf")
