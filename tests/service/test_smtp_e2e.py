"""E-mail to fax against a real ``lanfax serve``: real clients (Python's smtplib, Debian's
swaks) over STARTTLS with AUTH, the replies caught by a real SMTP server, and the faxes
received on virtual line 101."""

from __future__ import annotations

import io
import shutil
import smtplib
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from tests.documents.corpus import RawPage, text_op, write_pdf
from tests.support.authhttp import httpx
from tests.support.mailcatcher import MailCatcher, free_port
from tests.support.server import LanfaxServer, start_lanfax_server
from tests.support.tls import self_signed_certificate

DOMAIN = "fax.example.org"
ALICE, ALICE_PW = "alice", "alice-password-1"
FINAL = {"completed", "failed", "retries_exceeded", "canceled"}


class Site:
    def __init__(self, server: LanfaxServer, mail: MailCatcher, smtp_port: int, cert: Path):
        self.server = server
        self.mail = mail
        self.smtp_port = smtp_port
        self.cert = cert
        self.alice_token = ""

    @property
    def api(self) -> str:
        return self.server.api

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))

    def client(self, source: str = "127.0.0.1") -> smtplib.SMTP:
        return smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=60, source_address=(source, 0))

    def jobs(self, **params: Any) -> list[dict[str, Any]]:
        r = httpx.get(f"{self.api}/jobs", params={"limit": 1000, **params}, timeout=30)
        assert r.status_code == 200, r.text
        result: list[dict[str, Any]] = r.json()["jobs"]
        return result

    def received(self) -> list[dict[str, Any]]:
        return self.jobs(type="receive")

    def wait_received(self, before: int, timeout: float = 120.0) -> dict[str, Any]:
        """The next fax received (a completed RECEIVE job beyond the ``before`` first)."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.received()
            done = [j for j in got[before:] if j["queue_status"] in FINAL]
            if done:
                return done[0]
            assert time.monotonic() < deadline, f"no fax received; jobs: {self.jobs()}"
            time.sleep(0.2)  # polling the API under a deadline


def _wait_line(server: LanfaxServer, text: str) -> None:
    """Wait until the server printed a line holding ``text`` (its stdout reader thread may
    be a line behind the health check)."""
    deadline = time.monotonic() + 10
    while not any(text in line for line in server.stdout_lines):
        assert time.monotonic() < deadline, server.stdout_lines
        time.sleep(0.05)


def _toml(port: int, cert: Path, key: Path, mail: MailCatcher) -> str:
    return (
        mail.toml()
        + '[dialing]\nblocked = ["0900*"]\n'
        + "[smtp]\n"
        + f'listen = "127.0.0.1:{port}"\ndomain = "{DOMAIN}"\n'
        + f'tls_cert = "{cert}"\ntls_key = "{key}"\n'
        + 'trusted_relays = ["127.0.0.2"]\nsender_domains = ["example.org"]\n'
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("smtp")
    cert, key = self_signed_certificate(tmp)
    port = free_port()
    with MailCatcher() as mail:
        server = start_lanfax_server(tmp, _toml(port, cert, key, mail))
        try:
            _wait_line(server, f"smtp://127.0.0.1:{port}")
            r = httpx.post(
                f"{server.api}/users",
                json={"name": ALICE, "role": "user", "password": ALICE_PW},
                timeout=30,
            )
            assert r.status_code == 201, r.text
            s = Site(server, mail, port, cert)
            r = httpx.post(f"{server.api}/tokens", json={"user": ALICE, "label": "mail"})
            assert r.status_code == 201, r.text
            s.alice_token = r.json()["token"]
            yield s
        finally:
            server.close()


def _pdf(tmp: Path, text: str, pages: int = 1) -> bytes:
    h = 841.89
    raw = [
        RawPage(595.276, h, text_op(72, 120, f"{text} page {i + 1}", 28, h)) for i in range(pages)
    ]
    return write_pdf(tmp / "doc.pdf", raw).read_bytes()


def _png() -> bytes:
    img = Image.new("L", (800, 600), 255)
    for x in range(100, 700):
        for y in (200, 201, 202, 400, 401, 402):
            img.putpixel((x, y), 0)
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def _about(subject: str) -> Callable[[list[str], EmailMessage], bool]:
    return lambda rcpts, m: subject in str(m["subject"])


def test_smtplib_starttls_auth_plain_pdf_and_image_with_cover(site: Site, tmp_path: Path) -> None:
    before = len(site.received())
    msg = EmailMessage()
    msg["From"] = "Alice Example <alice@example.org>"
    msg["To"] = f"101+Jane_Doe@{DOMAIN}"
    msg["Subject"] = "Order 4711"
    msg["Message-ID"] = make_msgid(domain="example.org")
    msg.set_content("Dear Jane,\nplease find the order attached.\nAlice")
    msg.add_attachment(
        _pdf(tmp_path, "ORDER", pages=2), maintype="application", subtype="pdf", filename="o.pdf"
    )
    msg.add_attachment(_png(), maintype="image", subtype="png", filename="plan.png")
    with site.client() as smtp:
        smtp.ehlo()
        smtp.starttls(context=site.tls())
        smtp.ehlo()
        assert "PLAIN" in smtp.esmtp_features.get("auth", "")
        code, text = smtp.login(ALICE, ALICE_PW)
        assert code == 235 and ALICE in text.decode()
        refused = smtp.send_message(msg)
        assert refused == {}
    accepted = site.mail.wait_for(_about("Fax accepted, 1 job: Order 4711"))[0]
    assert accepted["In-Reply-To"] == msg["Message-ID"]  # threaded under the mail
    body = accepted.get_body(("plain",))
    assert body is not None and "to 101 (Jane Doe)" in body.get_content()
    fax = site.wait_received(before)
    assert fax["queue_status"] == "completed", fax
    # cover page + 2 PDF pages + 1 image page
    assert fax["page_count"] == 4, fax
    (send,) = [j for j in site.jobs(type="send", user=ALICE) if j["document_name"] == "Order 4711"]
    assert send["recipient_name"] == "Jane Doe" and send["user_name"] == ALICE
    assert send["sender_name"] == "Alice Example"
    receipt = site.mail.wait_for(
        lambda rc, m: m["X-Lanfax-Job"] == str(send["job_id"]) and "accepted" not in m["subject"]
    )[0]
    assert "alice@example.org" in str(receipt["To"])
    assert receipt["In-Reply-To"] == msg["Message-ID"]  # the receipt too
    names = [p.get_filename() for p in receipt.iter_attachments()]
    assert names == [f"report-{send['job_id']}.pdf"], names
    # alice's receipts list the reply and the receipt (her own token); the mailer marks a
    # receipt sent just after the mail server took it
    deadline = time.monotonic() + 30
    while True:
        mine = httpx.get(
            f"{site.api}/receipts", headers={"Authorization": f"Bearer {site.alice_token}"}
        )
        assert mine.status_code == 200, mine.text
        kinds = {
            (r["kind"], r["state"])
            for r in mine.json()["receipts"]
            if r["job_id"] == send["job_id"]
        }
        if kinds == {("smtp_accepted", "sent"), ("final", "sent")}:
            break
        assert time.monotonic() < deadline, kinds
        time.sleep(0.1)  # polling the API under a deadline


@pytest.mark.skipif(shutil.which("swaks") is None, reason="Debian's swaks is not installed")
def test_swaks_starttls_auth_login_with_token_text_attachment(site: Site, tmp_path: Path) -> None:
    before = len(site.received())
    notes = tmp_path / "notes.txt"
    notes.write_text("Line one of the notes.\nLine two.\n")
    run = subprocess.run(
        [
            "swaks",
            "--server", f"127.0.0.1:{site.smtp_port}",
            "--from", "alice@example.org",
            "--to", f"101@{DOMAIN}",
            "--tls", "--tls-verify", "--tls-ca-path", str(site.cert),
            "--auth", "LOGIN",
            "--auth-user", "anything",
            "--auth-password", site.alice_token,
            "--header", "Subject: swaks notes",
            "--body", "The notes, as text.",
            "--attach-type", "text/plain",
            "--attach-name", "notes.txt",
            "--attach", f"@{notes}",
        ],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "250 2.0.0 queued as" in run.stdout
    assert "235 2.7.0 logged in as alice" in run.stdout
    site.mail.wait_for(_about("Fax accepted, 1 job: swaks notes"))
    fax = site.wait_received(before)
    assert fax["queue_status"] == "completed", fax
    assert fax["page_count"] == 2, fax  # the cover page (subject, body) + the text


def test_no_login_is_refused_at_rcpt_with_the_reason(site: Site) -> None:
    with site.client() as smtp:
        smtp.ehlo()
        smtp.starttls(context=site.tls())
        smtp.ehlo()
        smtp.mail("alice@example.org")
        code, text = smtp.rcpt(f"101@{DOMAIN}")
    assert code == 530 and b"authentication required" in text


def test_bad_password_and_wrong_domain(site: Site) -> None:
    with site.client() as smtp:
        smtp.ehlo()
        smtp.starttls(context=site.tls())
        smtp.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            smtp.login(ALICE, "wrong-password")
        assert err.value.smtp_code == 535 and b"wrong user name or password" in err.value.smtp_error
        smtp.login(ALICE, ALICE_PW)
        smtp.mail("alice@example.org")
        code, text = smtp.rcpt("101@elsewhere.example")
        assert code == 550 and b"relaying denied" in text
        code, text = smtp.rcpt(f"jane@{DOMAIN}")
        assert code == 550 and b"no contact or distribution list named 'jane'" in text
        code, text = smtp.rcpt(f"_jane@{DOMAIN}")
        assert code == 550 and b"is not a fax number" in text
    # The refused login is in the audit trail, as the API's refusals are.
    r = httpx.get(f"{site.api}/audit", params={"action": "smtp_auth", "user": ALICE})
    assert r.status_code == 200, r.text
    entries = r.json()["entries"]
    assert entries and entries[0]["outcome"] == "denied" and entries[0]["address"] == "127.0.0.1"


def _mail(subject: str, to: list[str], **kw: Any) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = kw.get("sender", "alice@example.org")
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg.set_content(kw.get("body", "see attached"))
    for name, data, ctype in kw.get("files", []):
        main, sub = ctype.split("/")
        msg.add_attachment(data, maintype=main, subtype=sub, filename=name)
    return msg


def _send_as_alice(site: Site, msg: EmailMessage) -> None:
    with site.client() as smtp:
        smtp.starttls(context=site.tls())
        smtp.login(ALICE, ALICE_PW)
        assert smtp.send_message(msg) == {}


def test_blocked_number_in_a_broadcast_refuses_all_of_it(site: Site, tmp_path: Path) -> None:
    jobs_before = len(site.jobs())
    msg = _mail(
        "Premium broadcast",
        [f"101@{DOMAIN}", f"0900123456@{DOMAIN}"],
        files=[("a.pdf", _pdf(tmp_path, "X"), "application/pdf")],
    )
    _send_as_alice(site, msg)
    (refusal,) = site.mail.wait_for(_about("Fax NOT sent: Premium broadcast"))
    body = refusal.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "0900123456" in text and "blocked" in text and "Nothing was queued" in text
    assert len(site.jobs()) == jobs_before  # nothing half-sent
    r = httpx.get(f"{site.api}/audit", params={"action": "submit", "user": ALICE})
    failed = [e for e in r.json()["entries"] if e["outcome"] == "failed"]
    assert failed and "blocked" in failed[0]["detail"]["reason"]


def test_unreadable_attachment_is_refused_naming_it(site: Site) -> None:
    jobs_before = len(site.jobs())
    msg = _mail(
        "Zipped",
        [f"101@{DOMAIN}"],
        files=[("stuff.bin", b"\x00\x01\x02 not a document at all" * 50, "application/zip")],
    )
    _send_as_alice(site, msg)
    (refusal,) = site.mail.wait_for(_about("Fax NOT sent: Zipped"))
    body = refusal.get_body(("plain",))
    assert body is not None and "attachment 1 (stuff.bin)" in body.get_content()
    assert len(site.jobs()) == jobs_before


def test_trusted_relay_maps_from_to_a_user(site: Site) -> None:
    before = len(site.received())
    with site.client(source="127.0.0.2") as smtp:  # the "mail server" in front of lanfax
        msg = _mail("Stranger", [f"101@{DOMAIN}"], sender="mallory@evil.example")
        with pytest.raises(smtplib.SMTPDataError) as err:
            smtp.send_message(msg)
        assert err.value.smtp_code == 550 and b"not a lanfax user" in err.value.smtp_error
        msg = _mail("Relayed text", [f"101@{DOMAIN}"], body="Only text, no attachment.")
        assert smtp.send_message(msg) == {}
    site.mail.wait_for(_about("Fax accepted, 1 job: Relayed text"))
    fax = site.wait_received(before)
    assert fax["queue_status"] == "completed", fax
    (send,) = [j for j in site.jobs(type="send") if j["document_name"] == "Relayed text"]
    assert send["user_name"] == ALICE


def test_a_mail_accepted_before_a_kill_is_faxed_after_the_restart(
    tmp_path: Path,
) -> None:
    cert, key = self_signed_certificate(tmp_path)
    port = free_port()
    with MailCatcher() as mail:
        server = start_lanfax_server(tmp_path, _toml(port, cert, key, mail))
        try:
            r = httpx.post(
                f"{server.api}/users",
                json={"name": ALICE, "role": "user", "password": ALICE_PW},
                timeout=30,
            )
            assert r.status_code == 201, r.text
            site = Site(server, mail, port, cert)
            # A long text: its conversion takes a while, and the kill comes right after 250.
            long_text = "\n".join(f"line {i} of a long fax" for i in range(600)).encode()
            msg = _mail(
                "Survives a crash",
                [f"101@{DOMAIN}"],
                files=[("long.txt", long_text, "text/plain")],
            )
            _send_as_alice(site, msg)
            server.kill()  # SIGKILL: the mail is only on disk
            spooled = list((server.data_dir / "spool" / "mail").glob("*.mail"))
            assert len(spooled) == 1, "the mail was queued before the kill: nothing recovered"
            server.start()
            mail.wait_for(_about("Fax accepted, 1 job: Survives a crash"), timeout=120)
            fax = site.wait_received(0, timeout=240)
            assert fax["queue_status"] == "completed", fax
            sends = [j for j in site.jobs(type="send") if j["document_name"] == "Survives a crash"]
            assert len(sends) == 1, sends  # faxed once, not twice
            assert not list((server.data_dir / "spool" / "mail").glob("*.mail"))
        finally:
            server.close()


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ('[smtp]\nlisten = "127.0.0.1:0"\n', "smtp.domain is missing"),
        ('[smtp]\nlisten = "0.0.0.0:0"\ndomain = "f.example"\n', "nobody could send"),
    ],
)
def test_serve_refuses_a_bad_smtp_section(tmp_path: Path, toml: str, words: str) -> None:
    import sys

    from tests.support.server import REPO_ROOT

    config = tmp_path / "lanfax.toml"
    config.write_text(toml)
    run = subprocess.run(
        [sys.executable, "-m", "lanfax.cli.serve", "--config", str(config)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2, run.stderr
    assert words in run.stderr and "hint:" in run.stderr


def test_sigterm_with_an_smtp_client_connected_stops_cleanly(tmp_path: Path) -> None:
    import signal

    port = free_port()
    server = start_lanfax_server(
        tmp_path, f'[smtp]\nlisten = "127.0.0.1:{port}"\ndomain = "{DOMAIN}"\n'
    )
    try:
        _wait_line(server, "no replies and no receipts")
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            smtp.ehlo()
            assert server.stop(signal.SIGTERM, timeout=30) == 0
    finally:
        server.close()


def _ocr_fax(tiff: bytes, work: Path) -> list[str]:
    """What tesseract reads on each page of a received fax (pixels made square first)."""
    pages = []
    with Image.open(io.BytesIO(tiff)) as im:
        for i in range(getattr(im, "n_frames", 1)):
            im.seek(i)
            page = im.convert("L")
            if page.info.get("dpi", (204, 196))[1] < 150:  # standard: 204 x 98
                page = page.resize((page.width, page.height * 2))
            else:
                page = page.resize((page.width, page.height * 204 // 196))
            png = work / f"rx-page{i}.png"
            page.save(png)
            run = subprocess.run(
                ["tesseract", str(png), "-", "--psm", "3"],
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
            )
            pages.append(" ".join(run.stdout.split()))
    return pages


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed")
def test_html_mail_is_faxed_laid_out_not_as_source(site: Site, tmp_path: Path) -> None:
    """An HTML mail with a heading, a table and an inline (cid:) picture: its text becomes
    laid-out pages (WeasyPrint), received on line 101; tesseract reads the heading and a
    table cell, and no HTML source."""
    before = len(site.received())
    msg = EmailMessage()
    msg["From"] = "Alice Example <alice@example.org>"
    msg["To"] = f"101@{DOMAIN}"
    msg["Subject"] = "Price list"
    msg["Message-ID"] = make_msgid(domain="example.org")
    msg.set_content("Price list\n\nWidget 42.00\nGadget 17.50\n")  # the plain alternative
    msg.add_alternative(
        "<!DOCTYPE html><html><head><style>"
        "body { font-family: sans-serif; font-size: 16pt }"
        "td, th { padding: 6px 36px 6px 0; text-align: left }"  # (tesseract skips boxed cells)
        "</style></head><body>"
        "<h1>Quarterly Price List</h1>"
        '<p><img src="cid:logo@example.org" style="width: 60mm" alt="logo"></p>'
        "<table><tr><th>Article</th><th>Price</th></tr>"
        "<tr><td>Widget</td><td>42.00</td></tr>"
        "<tr><td>Gadget</td><td>17.50</td></tr></table>"
        '<p>Tracked? <img src="https://tracker.invalid/pixel.gif" width="1" height="1"></p>'
        "</body></html>",
        subtype="html",
    )
    html_part = msg.get_payload()[1]  # type: ignore[index]
    assert isinstance(html_part, EmailMessage)
    html_part.add_related(_png(), maintype="image", subtype="png", cid="<logo@example.org>")
    with site.client() as smtp:
        smtp.ehlo()
        smtp.starttls(context=site.tls())
        smtp.ehlo()
        smtp.login(ALICE, ALICE_PW)
        assert smtp.send_message(msg) == {}
    site.mail.wait_for(_about("Fax accepted, 1 job: Price list"))
    fax = site.wait_received(before)
    assert fax["queue_status"] == "completed", fax
    assert fax["page_count"] == 2, fax  # the cover page (subject) + the laid-out HTML
    (send,) = [j for j in site.jobs(type="send", user=ALICE) if j["document_name"] == "Price list"]
    assert send["cover_page"]["subject"] == "Price list"
    assert send["cover_page"]["note"] == ""  # the text is its own page, not cut in the note
    doc = httpx.get(f"{site.api}/jobs/{fax['job_id']}/document", timeout=30)
    assert doc.status_code == 200, doc.text
    cover, page = _ocr_fax(doc.content, tmp_path)
    assert "Price list" in cover
    assert "Quarterly Price List" in page, page
    assert "Widget" in page and "42.00" in page and "Gadget" in page, page
    for source in ("<table", "<h1", "<td", "<img", "</", "cid:", "DOCTYPE"):
        assert source not in page and source not in cover, (source, page)
