"""The e-mail to fax gateway inside a service run by the test (test provider lines, a
ManualClock): its listener over real loopback sockets with smtplib in a thread, the spool's
recovery after a crash at each step, TLS rules, and rights checked when the mail is
processed."""

from __future__ import annotations

import asyncio
import base64
import email.policy
import shutil
import smtplib
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from tests.support.faxes import make_fax_tiff
from tests.support.inproc import run, running_service
from tests.support.mailcatcher import MailCatcher
from tests.support.tls import self_signed_certificate

from lanfax.model.codes import JobType
from lanfax.service.core import FaxService
from lanfax.service.security import Security
from lanfax.service.smtp.intake import Envelope, write_spooled
from lanfax.service.smtp.listener import MailGateway
from lanfax.service.smtp.message import parse_recipient
from lanfax.store.api import JobQuery

DOMAIN = "fax.example.org"
PW = "bob-password-1"


def _toml(mail: MailCatcher, cert: Path, key: Path, extra: str = "") -> str:
    return (
        mail.toml()
        + "[smtp]\n"
        + f'listen = "127.0.0.1:0"\ndomain = "{DOMAIN}"\n'
        + f'tls_cert = "{cert}"\ntls_key = "{key}"\n'
        + extra
    )


class Rig:
    def __init__(self, svc: FaxService, security: Security, gw: MailGateway, cert: Path) -> None:
        self.svc, self.security, self.gw, self.cert = svc, security, gw, cert

    @property
    def port(self) -> int:
        return self.gw.address[1]

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))

    async def jobs(self, broadcast: str | None = None) -> list[Any]:
        """The faxes the mails made (SEND jobs). A fax to one of the test lines (200, 201)
        is received by that line too: its receive job is not one of them."""
        jobs = await self.svc.list_jobs(JobQuery(limit=1000, broadcast_id=broadcast))
        return [j for j in jobs if j.job_type is JobType.SEND]


@asynccontextmanager
async def rig(tmp_path: Path, mail: MailCatcher, extra: str = "") -> AsyncIterator[Rig]:
    cert, key = self_signed_certificate(tmp_path)
    async with running_service(tmp_path, _toml(mail, cert, key, extra)) as svc:
        security = Security(svc)
        if not await security.list_users():
            await security.add_user("admin", "administrator")
            await security.add_user("bob", "user", PW)
        gw = MailGateway(svc, security, svc.settings.smtp)
        await gw.start()
        try:
            yield Rig(svc, security, gw, cert)
        finally:
            await gw.stop()


def _msg(subject: str, to: str = f"200@{DOMAIN}", body: str = "Hello") -> EmailMessage:
    m = EmailMessage()
    m["From"] = "Bob <bob@example.org>"
    m["To"] = to
    m["Subject"] = subject
    m.set_content(body)
    return m


def _send(port: int, tls: ssl.SSLContext | None, msg: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        if tls is not None:
            s.starttls(context=tls)
        s.login("bob", PW)
        s.send_message(msg)


def test_auth_waits_for_starttls_off_loopback(tmp_path: Path) -> None:
    """Off loopback (here: the rule forced on a loopback listener), AUTH before STARTTLS is
    refused with 538 and the EHLO does not offer it; after STARTTLS it works."""

    async def main() -> None:
        with MailCatcher() as mail:
            async with rig(tmp_path, mail) as r:
                await r.gw.stop()
                r.gw.auth_requires_tls = True
                await r.gw.start()

                def client() -> tuple[int, bytes, str, str]:
                    with smtplib.SMTP("127.0.0.1", r.port, timeout=30) as s:
                        s.ehlo()
                        before = s.esmtp_features.get("auth", "")
                        code, text = s.docmd("AUTH", "PLAIN AGJvYgBib2ItcGFzc3dvcmQtMQ==")
                        s.starttls(context=r.tls())
                        s.ehlo()
                        after = s.esmtp_features.get("auth", "")
                        s.login("bob", PW)
                        return code, text, before, after

                code, text, before, after = await asyncio.to_thread(client)
                assert code == 538 and b"Encryption required" in text
                assert before == "" and "PLAIN" in after

    run(main(), timeout=120)


def test_implicit_tls(tmp_path: Path) -> None:
    async def main() -> None:
        with MailCatcher() as mail:
            async with rig(tmp_path, mail, "implicit_tls = true\n") as r:

                def client() -> None:
                    with smtplib.SMTP_SSL("127.0.0.1", r.port, timeout=30, context=r.tls()) as s:
                        s.login("bob", PW)
                        s.send_message(_msg("Over implicit TLS"))

                await asyncio.to_thread(client)
                await r.gw.intake.idle()
                (job,) = await r.jobs()
                assert job.document_name == "Over implicit TLS" and job.user_name == "bob"
                # the first connection made bob's fax account, as through the API
                assert r.svc.accounts.get("bob").name == "bob"

    run(main(), timeout=120)


def test_spooled_mail_is_faxed_at_start(tmp_path: Path) -> None:
    """A mail on disk when the service starts (acknowledged, then a crash) is processed."""

    async def main() -> None:
        with MailCatcher() as mail:
            spool = tmp_path / "data" / "spool" / "mail"
            spool.mkdir(parents=True)
            env = Envelope(
                mail_id="00000000cafe0001",
                received_at="2026-01-05T09:00:00+00:00",
                peer="127.0.0.1",
                mail_from="bob@example.org",
                recipients=(parse_recipient(f"200+Ann@{DOMAIN}", DOMAIN),),
                user="bob",
                via="password",
            )
            write_spooled(spool, env, bytes(_msg("Left in the spool")))
            (spool / ".deadbeef.part").write_bytes(b"never acknowledged")
            async with rig(tmp_path, mail) as r:
                await r.gw.intake.idle()
                (job,) = await r.jobs("00000000cafe0001")
                assert job.recipient_name == "Ann" and job.user_name == "bob"
                assert not list(spool.glob("*.mail")) and not list(spool.glob(".*"))
                (reply,) = await asyncio.to_thread(
                    mail.wait_for, lambda rc, m: "Left in the spool" in str(m["subject"])
                )
                assert str(reply["subject"]).startswith("Fax accepted, 1 job")

    run(main(), timeout=120)


def test_crash_after_the_commit_does_not_fax_twice(tmp_path: Path) -> None:
    """The jobs committed, then a crash before the spool file was removed: at the restart
    the mail is recognized by its broadcast id, and neither the fax nor the reply repeats."""

    async def main() -> None:
        with MailCatcher() as mail:
            async with rig(tmp_path, mail) as r:
                await asyncio.to_thread(_send, r.port, r.tls(), _msg("Once only"))
                await r.gw.intake.idle()
                (job,) = await r.jobs()
                mail_id = job.broadcast_id
                await asyncio.to_thread(
                    mail.wait_for, lambda rc, m: "Once only" in str(m["subject"])
                )
                env = Envelope(
                    mail_id=mail_id,
                    received_at="2026-01-05T09:00:00+00:00",
                    peer="127.0.0.1",
                    mail_from="bob@example.org",
                    recipients=(parse_recipient(f"200@{DOMAIN}", DOMAIN),),
                    user="bob",
                    via="password",
                )
                write_spooled(r.gw.intake.directory, env, bytes(_msg("Once only")))
                await r.gw.intake.process(mail_id)
                assert len(await r.jobs()) == 1
                assert not list(r.gw.intake.directory.glob("*.mail"))
                await r.svc.receipts.idle()
                replies = [m for _, m in mail.messages if "Once only" in str(m["subject"])]
                assert len(replies) == 1, [str(m["subject"]) for m in replies]

    run(main(), timeout=120)


def test_rights_are_checked_when_the_mail_is_processed(tmp_path: Path) -> None:
    """A user removed between the 250 and the processing sends nothing; the reply says so."""

    async def main() -> None:
        with MailCatcher() as mail:
            async with rig(tmp_path, mail) as r:
                await r.gw.intake.stop()  # hold the worker: the mail stays spooled
                await asyncio.to_thread(_send, r.port, r.tls(), _msg("Too late"))
                await r.security.remove_user("bob")
                await r.gw.intake.start()
                await r.gw.intake.idle()
                assert await r.jobs() == []
                (reply,) = await asyncio.to_thread(
                    mail.wait_for, lambda rc, m: "Too late" in str(m["subject"])
                )
                assert str(reply["subject"]) == "Fax NOT sent: Too late"
                body = reply.get_body(("plain",))
                assert body is not None and "there is no user 'bob'" in body.get_content()

    run(main(), timeout=120)


def test_user_without_submit_right_is_refused_at_rcpt(tmp_path: Path) -> None:
    async def main() -> None:
        with MailCatcher() as mail:
            async with rig(tmp_path, mail) as r:
                await r.security.revoke("bob", ["submit_normal"])

                def client() -> tuple[int, bytes]:
                    with smtplib.SMTP("127.0.0.1", r.port, timeout=30) as s:
                        s.starttls(context=r.tls())
                        s.login("bob", PW)
                        s.mail("bob@example.org")
                        return s.rcpt(f"200@{DOMAIN}")

                code, text = await asyncio.to_thread(client)
                assert code == 550 and b"submit_normal" in text

    run(main(), timeout=120)


def test_too_many_recipients_and_size_limit(tmp_path: Path) -> None:
    async def main() -> None:
        with MailCatcher() as mail:
            async with rig(tmp_path, mail, "max_recipients = 2\nmax_message_mb = 1\n") as r:

                def client() -> tuple[list[int], int]:
                    with smtplib.SMTP("127.0.0.1", r.port, timeout=30) as s:
                        s.starttls(context=r.tls())
                        s.login("bob", PW)
                        s.mail("bob@example.org")
                        codes = [s.rcpt(f"20{i}@{DOMAIN}")[0] for i in range(3)]
                        s.rset()
                        big = _msg("Big", body="x" * (2 * 1024 * 1024))
                        try:
                            s.send_message(big)
                        except smtplib.SMTPSenderRefused as exc:
                            return codes, exc.smtp_code
                        except smtplib.SMTPDataError as exc:
                            return codes, exc.smtp_code
                        return codes, 250

                codes, big = await asyncio.to_thread(client)
                assert codes == [250, 250, 452]
                assert big == 552
                assert await r.jobs() == []

    run(main(), timeout=120)


@pytest.mark.parametrize("body", ["", "Some words"])
def test_text_only_mail_is_the_document(tmp_path: Path, body: str) -> None:
    async def main() -> None:
        with MailCatcher() as mail:
            async with rig(tmp_path, mail) as r:
                await asyncio.to_thread(_send, r.port, r.tls(), _msg("Text only", body=body))
                await r.gw.intake.idle()
                jobs = await r.jobs()
                if body:
                    (job,) = jobs
                    assert job.page_count == 2  # the subject's cover page + the text
                else:
                    assert jobs == []
                    (reply,) = await asyncio.to_thread(
                        mail.wait_for, lambda rc, m: "Text only" in str(m["subject"])
                    )
                    b = reply.get_body(("plain",))
                    assert b is not None and "nothing to fax" in b.get_content()

    run(main(), timeout=120)


def test_broadcast_with_html_body_is_one_broadcast_with_a_readable_cover(tmp_path: Path) -> None:
    async def main() -> None:
        with MailCatcher() as mail:
            async with rig(tmp_path, mail) as r:
                m = EmailMessage()
                m["From"] = "Bob <bob@example.org>"
                m["To"] = f"200+First@{DOMAIN}, 201+Second@{DOMAIN}"
                m["Cc"] = f"200+first@{DOMAIN}"  # the same address again: one fax
                m["Subject"] = "To both"
                m.set_content("<p>Hello <b>both</b> &amp; welcome</p><p>Bob</p>", subtype="html")
                m.add_attachment(
                    Path(__file__).read_bytes()[:2000], maintype="text", subtype="plain",
                    filename="code.txt",
                )  # fmt: skip
                await asyncio.to_thread(_send, r.port, r.tls(), m)
                await r.gw.intake.idle()
                jobs = await r.jobs()
                assert sorted((j.recipient_number, j.recipient_name) for j in jobs) == [
                    ("200", "First"),
                    ("201", "Second"),
                ]
                assert len({j.broadcast_id for j in jobs}) == 1
                for j in jobs:
                    assert j.cover_page is not None
                    assert j.cover_page.note == "Hello both & welcome\n\nBob"
                    assert j.cover_page.subject == "To both"
                    assert j.extra["receipt_summary"] is True
                    assert j.extra["receipt_attach"] == "report"
                    assert j.delivery_report_address == "bob@example.org"
                (reply,) = await asyncio.to_thread(
                    mail.wait_for, lambda rc, m: "To both" in str(m["subject"])
                )
                assert str(reply["subject"]) == "Fax accepted, 2 jobs: To both"

    run(main(), timeout=120)


def test_fax_ready_tiff_alone_is_sent_as_it_is(tmp_path: Path) -> None:
    """No subject, no text: no cover page; a fax-ready TIFF keeps its pages."""

    async def main() -> None:
        with MailCatcher() as mail:
            async with rig(tmp_path, mail) as r:
                tiff = make_fax_tiff(tmp_path / "t", pages=3).read_bytes()
                m = EmailMessage()
                m["From"] = "bob@example.org"
                m["To"] = f"200@{DOMAIN}"
                m.add_attachment(tiff, maintype="image", subtype="tiff", filename="scan.tif")
                await asyncio.to_thread(_send, r.port, r.tls(), m)
                await r.gw.intake.idle()
                (job,) = await r.jobs()
                assert job.page_count == 3 and job.cover_page is None
                assert job.document_name == "scan.tif"

    run(main(), timeout=120)


def test_undecodable_attachment_refusal_keeps_the_subject(tmp_path: Path) -> None:
    async def main() -> None:
        with MailCatcher() as mail:
            async with rig(tmp_path, mail) as r:
                m = _msg("Broken scan")
                m["Reply-To"] = "desk@example.org"
                m.add_attachment(b"x", maintype="application", subtype="pdf", filename="s.pdf")
                raw = bytes(m).replace(b"eA==", b"eA=!!")

                def client() -> None:
                    with smtplib.SMTP("127.0.0.1", r.port, timeout=30) as s:
                        s.starttls(context=r.tls())
                        s.login("bob", PW)
                        s.sendmail("bob@example.org", [f"200@{DOMAIN}"], raw)

                await asyncio.to_thread(client)
                await r.gw.intake.idle()
                assert await r.jobs() == []
                (reply,) = await asyncio.to_thread(
                    mail.wait_for, lambda rc, m: "Broken scan" in str(m["subject"])
                )
                assert str(reply["subject"]) == "Fax NOT sent: Broken scan"
                assert str(reply["To"]) == "desk@example.org"
                body = reply.get_body(("plain",))
                assert body is not None
                assert "attachment 1 (s.pdf) cannot be decoded" in body.get_content()

    run(main(), timeout=120)


def _odt(text: str) -> bytes:
    """A minimal OpenDocument text (one paragraph), written by hand."""
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(
            zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text"
        )  # stored first, uncompressed, as ODF requires
        z.writestr(
            "META-INF/manifest.xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"'
            ' manifest:version="1.2">'
            '<manifest:file-entry manifest:full-path="/"'
            ' manifest:media-type="application/vnd.oasis.opendocument.text"/>'
            '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
            "</manifest:manifest>",
        )
        z.writestr(
            "content.xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            "<office:document-content"
            ' xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
            ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
            f"<office:body><office:text><text:p>{text}</text:p></office:text></office:body>"
            "</office:document-content>",
        )
    return out.getvalue()


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("soffice") is None or shutil.which("tesseract") is None,
    reason="LibreOffice or tesseract is not installed",
)
def test_office_attachment_after_a_tiff_keeps_the_order(tmp_path: Path) -> None:
    async def main() -> None:
        with MailCatcher() as mail:
            async with rig(tmp_path, mail) as r:
                tiff = make_fax_tiff(tmp_path / "t", pages=2).read_bytes()
                m = _msg("Letter and scan", body="Two documents.")
                m.add_attachment(tiff, maintype="image", subtype="tiff", filename="scan.tif")
                m.add_attachment(
                    _odt("An office letter faxed by e-mail."),
                    maintype="application",
                    subtype="vnd.oasis.opendocument.text",
                    filename="letter.odt",
                )
                await asyncio.to_thread(_send, r.port, r.tls(), m)
                await r.gw.intake.idle()
                (job,) = await r.jobs()
                assert job.page_count == 4  # cover + 2 TIFF pages + 1 letter page
                texts = await asyncio.to_thread(
                    _ocr_pages, await r.svc.job_document(job.job_id), tmp_path
                )
                # tesseract reads each page: the cover (subject, the mail's text), then the
                # attachments in the mail's order
                assert "Letter and scan" in texts[0] and "Two documents" in texts[0]
                assert "test page 1 of 2" in texts[1] and "test page 2 of 2" in texts[2]
                assert "office letter" in texts[3]

    run(main(), timeout=300)


def _ocr_pages(tiff: Path, work: Path) -> list[str]:
    import subprocess

    from PIL import Image

    out = []
    with Image.open(tiff) as im:
        for i in range(getattr(im, "n_frames", 1)):
            im.seek(i)
            page = im.convert("L")
            # fine resolution is 204 x 196 dpi: make the pixels square for the reader
            page = page.resize((page.width, page.height * 204 // 196))
            png = work / f"page{i}.png"
            page.save(png)
            run = subprocess.run(
                ["tesseract", str(png), "-", "--psm", "3"],
                capture_output=True,
                text=True,
                check=True,
            )
            out.append(" ".join(run.stdout.split()))
    return out


def test_relayed_mail_of_a_user_without_the_right_is_refused_at_data(tmp_path: Path) -> None:
    async def main() -> None:
        with MailCatcher() as mail:
            extra = 'trusted_relays = ["127.0.0.1"]\nsender_domains = ["example.org"]\n'
            async with rig(tmp_path, mail, extra) as r:
                await r.security.revoke("bob", ["submit_normal"])

                def client() -> tuple[int, bytes]:
                    with smtplib.SMTP("127.0.0.1", r.port, timeout=30) as s:
                        try:
                            s.send_message(_msg("Relayed"))
                        except smtplib.SMTPDataError as exc:
                            return exc.smtp_code, exc.smtp_error
                        return 250, b""

                code, text = await asyncio.to_thread(client)
                assert code == 550 and b"'bob'" in text and b"submit_normal" in text
                assert await r.jobs() == []

    run(main(), timeout=120)


def test_cover_page_template_of_the_settings(tmp_path: Path) -> None:
    from lanfax.service.covers import template_store

    async def main() -> None:
        with MailCatcher() as mail:
            async with rig(tmp_path, mail, 'cover_page = "memo"\n') as r:
                store = template_store(r.svc.settings.data_dir)
                store.add("memo", b"MEMO {subject}\n{note}\n", "txt", "server")
                await asyncio.to_thread(_send, r.port, r.tls(), _msg("With memo", body="Hi"))
                await r.gw.intake.idle()
                store.delete("memo", "server")
                await asyncio.to_thread(_send, r.port, r.tls(), _msg("Without memo"))
                await r.gw.intake.idle()
                (job,) = await r.jobs()
                assert job.cover_page is not None and job.cover_page.cover_page_name == "memo"
                assert job.page_count == 2
                (reply,) = await asyncio.to_thread(
                    mail.wait_for, lambda rc, m: "Without memo" in str(m["subject"])
                )
                body = reply.get_body(("plain",))
                assert body is not None
                assert "no cover page template named 'memo'" in body.get_content()

    run(main(), timeout=120)


def test_mail_to_a_distribution_list_and_a_personal_contact(tmp_path: Path) -> None:
    """sales@ (a shared list) and Ann_Lee@ (bob's own contact) become one broadcast; an
    unknown name is refused at RCPT for a logged-in sender."""
    from lanfax.service.rights import ROLE_RIGHTS, Caller, Role

    async def main() -> None:
        with MailCatcher() as mail:
            async with rig(tmp_path, mail) as r:
                admin = Caller("admin", Role.ADMINISTRATOR, *ROLE_RIGHTS[Role.ADMINISTRATOR])
                bob = Caller("bob", Role.USER, *ROLE_RIGHTS[Role.USER])
                await r.svc.contacts.add_list(
                    admin,
                    {
                        "name": "Sales",
                        "scope": "shared",
                        "members": [
                            {"fax_number": "200", "name": "North"},
                            {"fax_number": "201", "name": "South"},
                        ],
                    },
                )
                await r.svc.contacts.add_contact(bob, {"name": "Ann Lee", "fax_number": "202"})

                def client() -> tuple[int, bytes]:
                    with smtplib.SMTP("127.0.0.1", r.port, timeout=30) as s:
                        s.starttls(context=r.tls())
                        s.login("bob", PW)
                        s.mail("bob@example.org")
                        unknown = s.rcpt(f"nobody@{DOMAIN}")
                        assert s.rcpt(f"sales@{DOMAIN}")[0] == 250
                        assert s.rcpt(f"Ann_Lee@{DOMAIN}")[0] == 250
                        msg = _msg("To the book", to=f"sales@{DOMAIN}, Ann_Lee@{DOMAIN}")
                        assert s.data(msg.as_bytes(policy=email.policy.SMTP))[0] == 250
                        return unknown

                code, text = await asyncio.to_thread(client)
                assert code == 550 and b"no contact or distribution list named 'nobody'" in text
                await r.gw.intake.idle()
                jobs = await r.jobs()
                assert sorted((j.recipient_number, j.recipient_name) for j in jobs) == [
                    ("200", "North"),
                    ("201", "South"),
                    ("202", "Ann Lee"),
                ]
                assert len({j.broadcast_id for j in jobs}) == 1

    run(main(), timeout=120)


def test_password_guessing_is_slowed_down(tmp_path: Path) -> None:
    """The API's login limit (per client address) holds over SMTP AUTH too: 454 4.7.0."""

    async def main() -> None:
        with MailCatcher() as mail:
            async with rig(tmp_path, mail) as r:

                def client() -> list[int]:
                    codes = []
                    with smtplib.SMTP("127.0.0.1", r.port, timeout=30) as s:
                        s.starttls(context=r.tls())
                        s.ehlo()
                        for i in range(15):
                            pair = base64.b64encode(f"\0bob\0guess-{i}".encode()).decode()
                            codes.append(s.docmd("AUTH", f"PLAIN {pair}")[0])
                    return codes

                codes = await asyncio.to_thread(client)
                assert codes == [535] * 10 + [454] * 5, codes  # the clock stands still

    run(main(), timeout=120)


def test_a_long_text_goes_in_front_of_the_attachments(tmp_path: Path) -> None:
    async def main() -> None:
        with MailCatcher() as mail:
            async with rig(tmp_path, mail) as r:
                body = "\n".join(f"paragraph {i} of a long letter" for i in range(45))
                m = _msg("Long letter", body=body)
                tiff = make_fax_tiff(tmp_path / "t", pages=1).read_bytes()
                m.add_attachment(tiff, maintype="image", subtype="tiff", filename="scan.tif")
                await asyncio.to_thread(_send, r.port, r.tls(), m)
                await r.gw.intake.idle()
                (job,) = await r.jobs()
                assert job.cover_page is not None and job.cover_page.note == ""
                assert job.page_count == 3  # cover (subject), the letter's text, the scan

    run(main(), timeout=120)
