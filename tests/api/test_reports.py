"""Receipts and transmission reports on a real ``lanfax serve`` (test provider lines 200 and
201, receipts mailed to a real aiosmtpd server): the report PDF over HTTP, the sync and async
clients and the ``lanfax report`` command; 409 for a job that has not ended; the caller's
receipts; a receipt owed when the server is killed -9 is mailed after the restart."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx as raw_httpx
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from tests.support.authhttp import httpx, login_as
from tests.support.faxes import make_fax_tiff
from tests.support.http import wait_for
from tests.support.receivers import SmtpReceiver, free_port
from tests.support.server import TEST_PROVIDER_TOML, LanfaxServer, start_lanfax_server

from lanfax.client import AsyncClient, Client
from lanfax.model.errors import Conflict

LANFAX = str(Path(sys.executable).with_name("lanfax"))
FINAL = ("completed", "failed", "retries_exceeded", "canceled")


def _toml(smtp_port: int, extra: str = "") -> str:
    return (
        TEST_PROVIDER_TOML
        + f"""
[settings]
retries = 0
[receipts]
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
security = "none"
sender = "lanfax@example.com"
{extra}
"""
    )


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpReceiver]:
    rec = SmtpReceiver().start()
    try:
        yield rec
    finally:
        rec.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, smtp: SmtpReceiver) -> Iterator[LanfaxServer]:
    srv = start_lanfax_server(tmp_path_factory.mktemp("reports"), _toml(smtp.port))
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture(scope="module")
def fax(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fax_tiff(tmp_path_factory.mktemp("doc"), pages=2)


def _submit(api: str, tiff: Path, numbers: list[str], **params: Any) -> list[int]:
    body = {"recipients": [{"recipient_number": n} for n in numbers], **params}
    r = httpx.post(
        f"{api}/jobs",
        data={"params": json.dumps(body)},
        files=[("file", ("doc.tif", tiff.read_bytes(), "image/tiff"))],
        timeout=30,
    )
    assert r.status_code == 201, r.text
    return [j["job_id"] for j in r.json()["jobs"]]


def _job(api: str, job_id: int) -> dict[str, Any]:
    out: dict[str, Any] = httpx.get(f"{api}/jobs/{job_id}").json()
    return out


def _final(api: str, job_id: int) -> dict[str, Any]:
    return wait_for(  # type: ignore[no-any-return]
        api,
        f"job {job_id} ended",
        lambda: (j := _job(api, job_id))["queue_status"] in FINAL and j,
    )


def _pdf(data: bytes) -> tuple[int, str, list[int]]:
    pdf = pdfium.PdfDocument(io.BytesIO(data))
    try:
        page = pdf[0]
        return len(pdf), page.get_textpage().get_text_range(), [o.type for o in page.get_objects()]
    finally:
        pdf.close()


def test_report_over_http_and_the_clients(server: LanfaxServer, fax: Path) -> None:
    (job_id,) = _submit(server.api, fax, ["5550111"], document_name="invoice.pdf")
    job = _final(server.api, job_id)
    assert job["queue_status"] == "completed"
    r = httpx.get(f"{server.api}/jobs/{job_id}/report")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    pages, text, objects = _pdf(r.content)
    assert pages == 1
    assert f"Job {job_id}" in text and "2 of 2" in text and "COMPLETED" in text
    assert "invoice.pdf" in text and "TEST 5550111" in text
    assert pdfium_c.FPDF_PAGEOBJ_IMAGE in objects
    with Client(server.url) as client:
        assert _pdf(client.report(job_id))[0] == 1

    async def async_report() -> bytes:
        async with AsyncClient(server.url) as client:
            return await client.report(job_id)

    assert _pdf(asyncio.run(async_report()))[0] == 1


def test_report_of_a_failed_job(server: LanfaxServer, fax: Path) -> None:
    (job_id,) = _submit(server.api, fax, ["9001333"])
    assert _final(server.api, job_id)["queue_status"] == "retries_exceeded"
    with Client(server.url) as client:
        _, text, _ = _pdf(client.report(job_id))
    assert "RETRIES_EXCEEDED" in text and "busy" in text and f"Job {job_id}" in text


def test_no_report_for_a_pending_job(server: LanfaxServer, fax: Path) -> None:
    (job_id,) = _submit(
        server.api,
        fax,
        ["5550112"],
        schedule_action="specific_time",
        schedule_time="2099-01-01T00:00:00Z",
    )
    r = httpx.get(f"{server.api}/jobs/{job_id}/report")
    assert r.status_code == 409
    problem = r.json()
    assert "pending" in problem["detail"] and problem["hint"]
    with Client(server.url) as client, pytest.raises(Conflict):
        client.report(job_id)
    assert httpx.get(f"{server.api}/jobs/999999/report").status_code == 404
    assert httpx.delete(f"{server.api}/jobs/{job_id}").status_code in (204, 409)


def test_cli_writes_the_report(server: LanfaxServer, fax: Path, tmp_path: Path) -> None:
    (job_id,) = _submit(server.api, fax, ["5550113"])
    _final(server.api, job_id)
    out = tmp_path / "report.pdf"
    env = dict(os.environ, LANFAX_SERVER=server.url)
    done = subprocess.run(
        [LANFAX, "report", str(job_id), "-o", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"transmission report of job {job_id}" in done.stdout
    assert _pdf(out.read_bytes())[0] == 1
    bad = subprocess.run(
        [LANFAX, "report", "999999", "-o", str(tmp_path / "x.pdf")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert bad.returncode != 0 and "error:" in bad.stderr and "hint:" in bad.stderr
    assert not (tmp_path / "x.pdf").exists()


def test_receipts_of_the_caller(server: LanfaxServer, smtp: SmtpReceiver, fax: Path) -> None:
    ids = _submit(
        server.api,
        fax,
        ["5550121", "5550122", "9002123"],
        delivery_report_type="email",
        delivery_report_address="ops@example.com",
        receipt_summary=True,
    )
    for job_id in ids:
        _final(server.api, job_id)
    (inbox_job,) = _submit(server.api, fax, ["5550124"], delivery_report_type="inbox")
    _final(server.api, inbox_job)

    def listed() -> list[dict[str, Any]]:
        r = httpx.get(f"{server.api}/receipts")
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["receipts"]
        done = [i for i in items if i["state"] in ("sent", "stored")]
        return done if len(done) >= 2 else []

    items = wait_for(server.api, "two receipts", listed)
    summary = next(i for i in items if i["kind"] == "summary")
    assert summary["facts"]["total"] == 3 and summary["facts"]["delivered"] == 2
    assert summary["address"] == "ops@example.com"
    inbox = next(i for i in items if i["delivery"] == "inbox")
    assert inbox["job_id"] == inbox_job and inbox["state"] == "stored"
    mails = [m for m in smtp.messages() if m["To"] == "ops@example.com"]
    assert len(mails) == 1 and "2 of 3 faxes delivered" in str(mails[0]["Subject"])
    with Client(server.url) as client:
        got = client.receipts(limit=1)
        assert len(got) == 1 and got[0].receipt_id == max(i["receipt_id"] for i in items)
        older = client.receipts(before=got[0].receipt_id)
        assert got[0].receipt_id not in [r.receipt_id for r in older]
    bad = httpx.post(
        f"{server.api}/jobs",
        data={
            "params": json.dumps({"recipients": [{"recipient_number": "5"}], "receipt_summary": 1})
        },
        files=[("file", ("doc.tif", fax.read_bytes(), "image/tiff"))],
    )
    assert bad.status_code == 422 and "receipt_summary" in bad.json()["detail"]


def test_a_receipt_owed_at_sigkill_is_mailed_after_restart(tmp_path: Path, fax: Path) -> None:
    port = free_port()  # the mail server is down while the fax is sent
    toml = _toml(port, "retry_base = 1\nmax_tries = 100")
    with start_lanfax_server(tmp_path, toml) as server:
        (job_id,) = _submit(
            server.api,
            fax,
            ["5550131"],
            delivery_report_type="email",
            delivery_report_address="ada@example.com",
        )
        assert _final(server.api, job_id)["queue_status"] == "completed"
        server.kill()
        smtp = SmtpReceiver(port).start()
        try:
            server.start()
            assert smtp.box.arrived.wait(60), "the receipt never arrived"
            (msg,) = smtp.messages()
            assert msg["X-Lanfax-Job"] == str(job_id)
            assert "delivered (2 pages)" in str(msg["Subject"])
        finally:
            smtp.stop()


def test_own_jobs_rule_for_reports_and_receipts(server: LanfaxServer, fax: Path) -> None:
    api = server.api
    ann = login_as(api, "ann", role="user")
    bob = login_as(api, "bob", role="user")
    r = raw_httpx.post(
        f"{api}/jobs",
        data={
            "params": json.dumps(
                {"recipients": [{"recipient_number": "5550141"}], "delivery_report_type": "inbox"}
            )
        },
        files=[("file", ("doc.tif", fax.read_bytes(), "image/tiff"))],
        headers=ann,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    job_id = r.json()["jobs"][0]["job_id"]
    _final(api, job_id)
    assert raw_httpx.get(f"{api}/jobs/{job_id}/report", headers=ann).status_code == 200
    r = raw_httpx.get(f"{api}/jobs/{job_id}/report", headers=bob)
    assert r.status_code == 403 and "another user" in r.json()["detail"]

    def anns() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = raw_httpx.get(f"{api}/receipts", headers=ann).json()[
            "receipts"
        ]
        return items

    (mine,) = wait_for(api, "ann's receipt", anns)
    assert mine["job_id"] == job_id and mine["user_name"] == "ann"
    assert raw_httpx.get(f"{api}/receipts", headers=bob).json()["receipts"] == []
    r = raw_httpx.get(f"{api}/receipts", params={"user": "ann"}, headers=bob)
    assert r.status_code == 403
    everyone = httpx.get(f"{api}/receipts", params={"user": "*"}).json()["receipts"]
    assert job_id in [i["job_id"] for i in everyone]
