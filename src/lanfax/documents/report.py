"""The transmission report: one PDF page saying what happened to a sent fax.

:func:`render_report` takes plain data (the documents room imports only :mod:`lanfax.model`):
a mapping of the job's fields, as the service's :func:`lanfax.service.receipts.report_fields`
makes it, and the path of the fax's TIFF, whose first page is shown as a thumbnail.

Known keys (all optional; values are text, numbers, booleans, datetimes or None):
``job_id``, ``result`` (the queue state's name), ``status_text``, ``recipient_number``,
``recipient_name``, ``sender_name``, ``sender_company``, ``tsid``, ``document_name``,
``user_name``, ``broadcast_id``, ``submitted_at``, ``started_at``, ``completed_at``,
``duration`` (seconds), ``page_count``, ``pages_done``, ``remote_ident``, ``bit_rate``,
``ecm``, ``compression``, ``attempts``, ``retries_left``, ``last_failure``, ``device_id``.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from lanfax.documents.pdfgen import A4_PT, PdfBuilder, text_width
from lanfax.model.errors import DocumentError

#: Width of the first-page thumbnail, in points (about 7 cm).
THUMB_WIDTH_PT = 200.0


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    if isinstance(value, float):
        return f"{value:.1f}"
    # One line: a field may hold peer-controlled text (the remote ident).
    return " ".join(str(value).split())


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        return ""
    s = round(seconds)
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


def rows(f: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The label/value lines of the report for ``f``, in the order printed."""
    pages = _text(f.get("pages_done", 0))
    if f.get("page_count"):
        pages = f"{pages} of {_text(f['page_count'])}"
    rate = f.get("bit_rate") or 0
    sender = ", ".join(
        s for s in (_text(f.get("sender_name")), _text(f.get("sender_company"))) if s
    )
    out = [
        ("Job", _text(f.get("job_id"))),
        ("Result", _text(f.get("result"))),
        ("Status", _text(f.get("status_text"))),
        ("To", _text(f.get("recipient_number"))),
        ("Recipient", _text(f.get("recipient_name"))),
        ("From", sender),
        ("Station id (TSID)", _text(f.get("tsid"))),
        ("Document", _text(f.get("document_name"))),
        ("Submitted by", _text(f.get("user_name"))),
        ("Submitted", _text(f.get("submitted_at"))),
        ("Started", _text(f.get("started_at"))),
        ("Completed", _text(f.get("completed_at"))),
        ("Duration", _duration(f.get("duration"))),
        ("Pages", pages),
        ("Remote ident (CSID)", _text(f.get("remote_ident"))),
        ("Rate", f"{rate} bit/s" if rate else ""),
        ("ECM", _text(f.get("ecm")) if rate else ""),
        ("Compression", _text(f.get("compression")).upper()),
        ("Attempts", _text(f.get("attempts"))),
    ]
    if f.get("retries_left") is not None:
        out.append(("Retries left", _text(f.get("retries_left"))))
    if f.get("last_failure"):
        out.append(("Last failure", _text(f.get("last_failure"))))
    if f.get("device_id"):
        out.append(("Device", _text(f.get("device_id"))))
    if f.get("broadcast_id"):
        out.append(("Broadcast", _text(f.get("broadcast_id"))))
    return out


def _thumbnail(tiff: Path) -> Any:
    from PIL import Image

    from lanfax.documents import thumbnail_png

    data = thumbnail_png(tiff, 0, 400)
    with Image.open(io.BytesIO(data)) as img:
        return img.convert("L")


def report_document(job_fields: Mapping[str, Any], first_page_tiff: Path | None) -> PdfBuilder:
    """The report as an in-memory PDF (one A4 page)."""
    b = PdfBuilder()
    w, h = A4_PT
    m = 50.0
    b.new_page(w, h)
    b.text(m, 80, "Fax transmission report", 22, "sans-bold")
    job = _text(job_fields.get("job_id"))
    if job:
        label = f"Job {job}"
        b.text(w - m - text_width(label, 14, "sans-bold"), 80, label, 14, "sans-bold")
    b.rect(m, 92, w - 2 * m, 2.5, fill=0)
    result = _text(job_fields.get("result")).upper() or "UNKNOWN"
    b.text(m, 124, result, 16, "sans-bold")
    picture = _thumbnail(first_page_tiff) if first_page_tiff is not None else None
    thumb_x = w - m - THUMB_WIDTH_PT
    value_x = m + 122.0
    value_chars = int((thumb_x - 12 - value_x) / 5.6) if picture is not None else 70
    y = 156.0
    for label, value in rows(job_fields):
        b.text(m, y, label, 8.5)
        b.text(value_x, y, value[:value_chars], 10.5, "sans-bold" if label == "Result" else "sans")
        y += 18.5
    if picture is not None:
        thumb_h = THUMB_WIDTH_PT * picture.height / picture.width
        thumb_h = min(thumb_h, h - 160 - 90)
        b.text(thumb_x, 146, "First page", 8.5)
        b.rect(thumb_x - 1, 155, THUMB_WIDTH_PT + 2, thumb_h + 2, stroke=0, line_width=0.8)
        b.image(thumb_x, 156, THUMB_WIDTH_PT, thumb_h, picture)
    b.line(m, h - 70, w - m, h - 70, 0.6)
    b.text(m, h - 55, "Generated by lanfax.", 8)
    b.finish()
    return b


def render_report(job_fields: Mapping[str, Any], first_page_tiff: Path | None, out: Path) -> None:
    """Write the one-page transmission report for ``job_fields`` as a PDF at ``out``
    (atomically: a temporary file renamed), with a thumbnail of ``first_page_tiff``'s first
    page when given. Raises DocumentError when the TIFF cannot be read or ``out`` written."""
    out = Path(out)
    if first_page_tiff is not None and not Path(first_page_tiff).is_file():
        raise DocumentError(
            f"the fax {first_page_tiff} is missing", hint="the job's document was deleted"
        )
    builder = report_document(job_fields, first_page_tiff)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        builder.save(tmp)
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DocumentError(
            f"cannot write {out} ({exc.strerror or exc})", hint="check the folder"
        ) from None
    finally:
        builder.pdf.close()
