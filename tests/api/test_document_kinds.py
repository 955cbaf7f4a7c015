"""Documents of the new kinds through a real ``lanfax serve`` (its conversion pool of worker
processes): a text with a character no font has gives a job that carries the warning; an
office document and an HTML page become fax pages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.authhttp import httpx, login_as
from tests.support.server import LanfaxServer

from lanfax.documents import office


def _submit(api: str, name: str, data: bytes, mime: str) -> httpx.Response:
    return httpx.post(
        f"{api}/jobs",
        data={"params": json.dumps({"recipients": [{"recipient_number": "555 01"}]})},
        files=[("file", (name, data, mime))],
        headers=login_as(api, "alice"),
        timeout=120,
    )


def test_a_missing_glyph_is_a_warning_on_the_job(server: LanfaxServer) -> None:
    r = _submit(server.api, "odd.txt", "Grüße \ue000 Καλημέρα\n".encode(), "text/plain")
    assert r.status_code == 201, r.text
    (job,) = r.json()["jobs"]
    (warning,) = job["extra"]["warnings"]
    assert "U+E000 (private use)" in warning
    assert "odd.txt" in warning or "file" in warning  # named as the user knows it
    again: dict[str, Any] = httpx.get(
        f"{server.api}/jobs/{job['job_id']}", headers=login_as(server.api, "alice"), timeout=30
    ).json()
    assert again["extra"]["warnings"] == [warning]


def test_html_and_office_documents_are_converted_by_the_pool(
    server: LanfaxServer, tmp_path: Path
) -> None:
    page = b"<!DOCTYPE html><html><body><h1>Order shipped</h1><p>Thank you</p></body></html>"
    r = _submit(server.api, "mail.html", page, "text/html")
    assert r.status_code == 201, r.text
    assert r.json()["jobs"][0]["page_count"] == 1
    assert "warnings" not in r.json()["jobs"][0]["extra"]
    if not office.available():
        return
    import docx

    d = docx.Document()
    d.add_paragraph("A letter from the office")
    d.save(str(tmp_path / "letter.docx"))
    r = _submit(
        server.api,
        "letter.docx",
        (tmp_path / "letter.docx").read_bytes(),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    )
    assert r.status_code == 201, r.text
    assert r.json()["jobs"][0]["page_count"] == 1
