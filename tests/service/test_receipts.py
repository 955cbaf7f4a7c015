"""Receipts in the service, mailed to a real SMTP server (aiosmtpd on loopback): a delivered
fax, a failed one, a broadcast's single summary, inbox receipts per user, a receipt retried
with backoff on the injected clock while the mail server is down, the catch-up after a crash
between a job's end and its receipt, and the settings' errors."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from tests.support.faxes import make_fax_tiff
from tests.support.inproc import run, running_service, submit, wait_status
from tests.support.receivers import SmtpReceiver, free_port
from tests.support.stores import delete_all_rows

from lanfax.model.clock import ManualClock
from lanfax.model.codes import QueueStatus
from lanfax.model.errors import ConfigError, InvalidInput
from lanfax.service.core import FaxService
from lanfax.service.settings import settings_from_mapping
from lanfax.service.submit import parse_submission

FINAL = (QueueStatus.COMPLETED, QueueStatus.FAILED, QueueStatus.RETRIES_EXCEEDED)


def _toml(port: int, extra: str = "", retries: int = 0) -> str:
    return f"""
[settings]
retries = {retries}
retry_delay = 1
[receipts]
smtp_host = "127.0.0.1"
smtp_port = {port}
security = "none"
sender = "lanfax@example.com"
retry_base = 60
{extra}
"""


def _email(**more: Any) -> dict[str, Any]:
    return {"delivery_report_type": "email", "delivery_report_address": "ada@example.com", **more}


def _pdf_pages(data: bytes) -> int:
    pdf = pdfium.PdfDocument(io.BytesIO(data))
    try:
        return len(pdf)
    finally:
        pdf.close()


async def _send(svc: FaxService, tiff: Path, *numbers: str, **params: Any) -> list[Any]:
    jobs = await submit(svc, tiff, *numbers, **params)
    done = [await wait_status(svc, j.job_id, *FINAL) for j in jobs]
    await svc.receipts.idle()
    return done


def test_delivered_fax_receipt_has_the_facts_and_the_first_page(tmp_path: Path) -> None:
    tiff = make_fax_tiff(tmp_path / "doc", pages=2)
    smtp = SmtpReceiver().start()

    async def main() -> None:
        async with running_service(tmp_path, _toml(smtp.port)) as svc:
            (job,) = await _send(svc, tiff, "5550199", **_email(recipient_name="Accounts"))
            assert job.queue_status is QueueStatus.COMPLETED
            (msg,) = smtp.messages()
            assert msg["To"] == "ada@example.com"
            assert msg["From"] == "lanfax@example.com"
            assert msg["X-Lanfax-Job"] == str(job.job_id)
            assert msg["Subject"] == "Fax to 5550199 (Accounts) delivered (2 pages)"
            body = msg.get_body(("plain",))
            assert body is not None
            text = body.get_content()
            assert f"Job:                 {job.job_id}" in text
            assert "Pages:               2 of 2" in text
            assert "Remote ident (CSID): TEST 5550199" in text
            assert "Result:              completed" in text
            (att,) = smtp.attachments(msg)
            assert att[0] == f"fax-{job.job_id}-page1.pdf"
            assert att[1] == "application/pdf"
            assert _pdf_pages(att[2]) == 1
            (receipt,) = await svc.receipts.list_for(job.user_name)
            assert receipt.state == "sent" and receipt.delivery == "email"
            assert receipt.facts["delivered"] is True
            assert receipt.facts["pages_done"] == 2
            assert receipt.facts["remote_ident"] == "TEST 5550199"

    try:
        run(main())
    finally:
        smtp.stop()


def test_failed_fax_gets_a_failure_receipt(tmp_path: Path) -> None:
    tiff = make_fax_tiff(tmp_path / "doc")
    smtp = SmtpReceiver().start()

    async def main() -> None:
        async with running_service(tmp_path, _toml(smtp.port, 'attach = "report"')) as svc:
            (job,) = await _send(svc, tiff, "9001555", **_email())
            assert job.queue_status is QueueStatus.RETRIES_EXCEEDED
            (msg,) = smtp.messages()
            assert msg["Subject"] == "Fax to 9001555 NOT delivered: busy after 1 attempt(s)"
            body = msg.get_body(("plain",))
            assert body is not None
            text = body.get_content()
            assert "Attempts:            1" in text
            assert "Last failure:        busy" in text
            (att,) = smtp.attachments(msg)
            assert att[0] == f"report-{job.job_id}.pdf" and _pdf_pages(att[2]) == 1
            (receipt,) = await svc.receipts.list_for(job.user_name)
            assert receipt.facts["delivered"] is False
            assert receipt.facts["retries_left"] == 0
            assert receipt.facts["last_failure"] == "busy"

    try:
        run(main())
    finally:
        smtp.stop()


def test_broadcast_summary_is_one_mail_listing_every_recipient(tmp_path: Path) -> None:
    tiff = make_fax_tiff(tmp_path / "doc")
    smtp = SmtpReceiver().start()

    async def main() -> None:
        async with running_service(tmp_path, _toml(smtp.port)) as svc:
            jobs = await _send(
                svc, tiff, "5550101", "9001222", "5550103", receipt_summary=True, **_email()
            )
            assert [j.extra.get("receipt_summary") for j in jobs] == [True, True, True]
            (msg,) = smtp.messages()
            assert msg["Subject"] == f"Broadcast {jobs[0].broadcast_id}: 2 of 3 faxes delivered"
            body = msg.get_body(("plain",))
            assert body is not None
            text = body.get_content()
            for j in jobs:
                assert f"Job {j.job_id}" in text
                assert j.recipient_number in text
            assert "retries_exceeded" in text
            (receipt,) = await svc.receipts.list_for(None)
            assert receipt.kind == "summary"
            assert receipt.facts["total"] == 3 and receipt.facts["delivered"] == 2
            assert [f["job_id"] for f in receipt.facts["jobs"]] == [j.job_id for j in jobs]

    try:
        run(main())
    finally:
        smtp.stop()


def test_inbox_receipts_are_listed_for_their_owner(tmp_path: Path) -> None:
    tiff = make_fax_tiff(tmp_path / "doc")

    async def main() -> None:
        async with running_service(tmp_path, "[settings]\nretries = 0\n") as svc:
            ids = {}
            for user, number in (("alice", "5550001"), ("bob", "9002999")):
                stage = svc.spool.new_stage()
                (stage / "000").write_bytes(tiff.read_bytes())
                params = {
                    "recipients": [{"recipient_number": number}],
                    "delivery_report_type": "inbox",
                }
                _, (job,) = await svc.submit(
                    parse_submission(params), [stage / "000"], user_name=user, stage_dir=stage
                )
                ids[user] = job.job_id
                await wait_status(svc, job.job_id, *FINAL)
            await svc.receipts.idle()
            (mine,) = await svc.receipts.list_for("alice")
            assert mine.job_id == ids["alice"] and mine.delivery == "inbox"
            assert mine.state == "stored" and mine.facts["delivered"] is True
            (theirs,) = await svc.receipts.list_for("bob")
            assert theirs.job_id == ids["bob"] and theirs.facts["last_failure"] == "no_answer"
            assert "NOT delivered: no answer" in theirs.subject

    run(main())


def test_a_receipt_waits_for_the_mail_server_with_backoff(tmp_path: Path) -> None:
    tiff = make_fax_tiff(tmp_path / "doc")
    port = free_port()  # nothing listens here yet
    clock = ManualClock()

    async def main() -> None:
        toml = _toml(port, "on_retry = true", retries=1)
        async with running_service(tmp_path, toml, clock=clock) as svc:
            (job,) = await submit(svc, tiff, "900715550", **_email())
            await wait_status(svc, job.job_id, QueueStatus.RETRYING)
            await svc.receipts.idle()
            (attempt,) = await svc.receipts.list_for(None)
            assert attempt.kind == "attempt" and attempt.state == "pending"
            assert attempt.tries == 1 and "refused" in attempt.last_error
            assert attempt.next_try_at == clock.now() + timedelta(seconds=60)
            assert attempt.facts["retries_left"] == 1
            smtp = SmtpReceiver(port).start()
            try:
                clock.advance(timedelta(minutes=1))
                svc.wake()
                svc.receipts.wake()
                await wait_status(svc, job.job_id, QueueStatus.COMPLETED)
                await svc.receipts.idle()
                subjects = sorted(str(m["Subject"]) for m in smtp.messages())
                assert subjects == [
                    "Fax to 900715550 delivered (1 page)",
                    "Fax to 900715550: attempt 1 failed (busy), 1 retries left",
                ]
                states = {r.kind: (r.state, r.tries) for r in await svc.receipts.list_for(None)}
                assert states == {"attempt": ("sent", 2), "final": ("sent", 1)}
            finally:
                smtp.stop()

    run(main())


def test_without_a_mail_server_the_receipt_fails_but_the_job_does_not(tmp_path: Path) -> None:
    tiff = make_fax_tiff(tmp_path / "doc")

    async def main() -> None:
        async with running_service(tmp_path) as svc:
            (job,) = await _send(svc, tiff, "5550199", **_email())
            assert job.queue_status is QueueStatus.COMPLETED
            (receipt,) = await svc.receipts.list_for(None)
            assert receipt.state == "failed"
            assert "set smtp_host and sender in [receipts]" in receipt.last_error

    run(main())


def test_a_receipt_lost_in_a_crash_is_made_at_the_next_start(tmp_path: Path) -> None:
    tiff = make_fax_tiff(tmp_path / "doc")

    async def main() -> None:
        async with running_service(tmp_path) as svc:
            (job,) = await _send(svc, tiff, "5550199", delivery_report_type="inbox")
            (receipt,) = await svc.receipts.list_for(None)
            # The job's end was committed, its receipt not: what a SIGKILL in between leaves.
            delete_all_rows(svc.ctx.store, "receipts")
            assert await svc.receipts.list_for(None) == []
        async with running_service(tmp_path) as svc:
            await svc.receipts.idle()
            (again,) = await svc.receipts.list_for(None)
            assert again.job_id == job.job_id and again.subject == receipt.subject
        async with running_service(tmp_path) as svc:  # and only once
            await svc.receipts.idle()
            assert len(await svc.receipts.list_for(None)) == 1

    run(main())


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"smtp_host": "mail.example.com"}, "sender is required with smtp_host"),
        ({"sender": "a@example.com"}, "sender is set but smtp_host is not"),
        ({"smtp_host": "m.example.com", "sender": "x"}, "sender"),
        ({"smtp_hots": "m.example.com"}, "unknown field 'smtp_hots'"),
        (
            {"smtp_host": "m.example.com", "sender": "a@example.com", "security": "none"}
            | {"username": "u", "password": "p"},
            "unencrypted",
        ),
        ({"attach": "all"}, "attach"),
        ({"max_tries": 0}, "max_tries"),
    ],
)
def test_receipt_settings_errors_name_the_key(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        settings_from_mapping({"receipts": table}, source="lanfax.toml")
    assert "lanfax.toml: [receipts]" in info.value.message
    assert info.value.hint


def test_receipt_settings_defaults() -> None:
    s = settings_from_mapping(
        {"receipts": {"smtp_host": "mail.example.com", "sender": "fax@example.com"}}
    ).receipts
    assert s.mail_enabled and s.smtp_port == 587 and s.security == "starttls"
    assert s.attach == "first_page" and not s.on_retry
    assert [s.backoff(n) for n in (1, 2, 3)] == [30.0, 60.0, 120.0]
    assert not settings_from_mapping({}).receipts.mail_enabled


def test_submission_checks_the_receipt_params() -> None:
    with pytest.raises(InvalidInput, match="delivery_report_address"):
        parse_submission(
            {"recipients": [{"recipient_number": "555"}], "delivery_report_type": "email"}
        )
    with pytest.raises(InvalidInput, match="receipt_summary"):
        parse_submission({"recipients": [{"recipient_number": "555"}], "receipt_summary": "yes"})
