"""The pure parts of e-mail to fax: addresses, MIME, HTML as text, who may send, the
settings, the replies and the submission a mail becomes."""

from __future__ import annotations

import base64
import dataclasses
import importlib.util
import io
import ipaddress
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from lanfax.model.errors import ConfigError, InvalidInput
from lanfax.model.jobs import Job
from lanfax.service.settings import settings_from_mapping
from lanfax.service.smtp import notices, policy
from lanfax.service.smtp.intake import Envelope, read_spooled, submission_data, write_spooled
from lanfax.service.smtp.message import (
    BadRecipient,
    html_to_text,
    parse_message,
    parse_recipient,
    sender_address,
)
from lanfax.service.smtp.settings import SmtpSettings, parse_smtp_settings
from lanfax.service.submit import parse_submission

D = "fax.example.org"

# -- recipients -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "number", "name"),
    [
        (f"101@{D}", "101", ""),
        ("101@FAX.Example.ORG", "101", ""),
        (f"101+Jane_Doe@{D}", "101", "Jane Doe"),
        (f"101+Jane.Doe@{D}", "101", "Jane Doe"),
        (f"+4930123456@{D}", "+4930123456", ""),
        (f"+49-30-123456+Acme_Ltd@{D}", "+4930123456", "Acme Ltd"),
        (f"030-123456@{D}", "030123456", ""),
        (f"*30@{D}", "*30", ""),
        (f"sales@{D}", "@sales", ""),
        (f"Jane_Doe@{D}", "@Jane Doe", ""),
    ],
)
def test_recipient_addresses(address: str, number: str, name: str) -> None:
    r = parse_recipient(address, D)
    assert (r.number, r.name) == (number, name)


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("101@other.example", "relaying denied"),
        (f"_jane@{D}", "is not a fax number"),
        (f"101x@{D}", "a name follows a +"),
        (f"@{D}", "is not NUMBER@"),
        (f'"101"@{D}', "write the fax number"),
        (f"{'1' * 70}@{D}", "too long"),
    ],
)
def test_refused_recipient_addresses(address: str, words: str) -> None:
    with pytest.raises(BadRecipient) as err:
        parse_recipient(address, D)
    assert err.value.reply.startswith("550 5.") and words in err.value.reply


@given(st.text(max_size=80))
def test_any_local_part_is_a_recipient_or_a_550(local: str) -> None:
    try:
        r = parse_recipient(f"{local}@{D}", D)
    except BadRecipient as exc:
        assert exc.reply.startswith("550 ")
    else:
        assert r.number and len(r.number) <= 101
        assert r.is_contact or (len(r.number) <= 64 and "-" not in r.number)


# -- HTML -------------------------------------------------------------------------------------


def test_html_to_text_keeps_what_a_reader_sees() -> None:
    html = (
        "<html><head><title>T</title><style>p {color: red}</style></head><body>"
        "<p>Dear&nbsp;Jane,</p><p>the <b>order</b> &amp; the plan:</p>"
        "<ul><li>one</li><li>two</li></ul><script>alert(1)</script>"
        "<div>Regards<br>Alice</div></body></html>"
    )
    text = html_to_text(html)
    assert text == "Dear Jane,\n\nthe order & the plan:\n\n- one\n- two\n\nRegards\nAlice"
    assert "<" not in text and "color" not in text and "alert" not in text


# -- MIME -------------------------------------------------------------------------------------


def _mail(body: str = "Hello", subtype: str = "plain") -> EmailMessage:
    m = EmailMessage()
    m["From"] = "Alice Example <Alice@Example.org>"
    m["To"] = f"101@{D}"
    m["Subject"] = "Order 4711"
    m["Message-ID"] = "<abc@example.org>"
    m.set_content(body, subtype=subtype)
    return m


def test_plain_mail_with_attachments_in_order() -> None:
    m = _mail("Dear Jane,\nsee attached.")
    m.add_attachment(b"%PDF-1.4 first", maintype="application", subtype="pdf", filename="a.pdf")
    m.add_attachment(b"\x89PNG second", maintype="image", subtype="png", filename="b.png")
    m.add_attachment("third, as text", filename="c.txt")
    c = parse_message(bytes(m))
    assert c.subject == "Order 4711" and c.body == "Dear Jane,\nsee attached."
    assert (c.from_name, c.from_address, c.reply_address) == (
        "Alice Example",
        "alice@example.org",
        "Alice@Example.org",
    )
    assert c.message_id == "<abc@example.org>"
    assert [d.filename for d in c.documents] == ["a.pdf", "b.png", "c.txt"]
    assert c.documents[0].label == "attachment 1 (a.pdf)"
    assert c.documents[0].data == b"%PDF-1.4 first"
    assert c.documents[2].data == b"third, as text\n"


def test_alternative_prefers_plain_and_html_only_is_made_text() -> None:
    m = _mail("The plain text")
    m.add_alternative("<p>The <i>HTML</i> text</p>", subtype="html")
    c = parse_message(bytes(m))
    assert c.body == "The plain text" and c.documents == ()
    h = _mail("<p>Only <b>HTML</b> here</p><p>second</p>", subtype="html")
    c = parse_message(bytes(h))
    assert c.body == "Only HTML here\n\nsecond"


def test_pictures_of_an_html_body_are_not_documents() -> None:
    m = _mail("plain")
    m.add_alternative('<p>Hi <img src="cid:logo"></p>', subtype="html")
    html_part = m.get_payload()[1]  # type: ignore[index]
    assert isinstance(html_part, EmailMessage)
    html_part.add_related(b"\x89PNG logo", maintype="image", subtype="png", cid="<logo>")
    m.add_attachment(b"%PDF-1.4 x", maintype="application", subtype="pdf", filename="x.pdf")
    c = parse_message(bytes(m))
    assert [d.filename for d in c.documents] == ["x.pdf"]


def test_reply_to_wins_and_header_only_sender() -> None:
    m = _mail()
    m["Reply-To"] = "desk@example.org"
    assert parse_message(bytes(m)).reply_address == "desk@example.org"
    assert sender_address(bytes(m)) == "alice@example.org"
    assert sender_address(b"Subject: none\r\n\r\nbody") == ""


def test_html_attachment_is_faxed_as_its_text() -> None:
    m = _mail()
    m.add_attachment("<h1>Title</h1><p>a &lt; b</p>", subtype="html", filename="page.html")
    (doc,) = parse_message(bytes(m)).documents
    assert doc.data == b"Title\n\na < b"


def test_broken_base64_and_empty_attachments_are_named() -> None:
    m = _mail()
    m.add_attachment(b"%PDF-1.4 fine", maintype="application", subtype="pdf", filename="ok.pdf")
    m.add_attachment(b"x", maintype="application", subtype="pdf", filename="cut.pdf")
    raw = bytes(m).replace(base64.b64encode(b"x"), b"eA=!!")
    with pytest.raises(InvalidInput) as err:
        parse_message(raw)
    assert "attachment 2 (cut.pdf) cannot be decoded" in err.value.message
    e = _mail()
    e.add_attachment(b"", maintype="application", subtype="pdf", filename="empty.pdf")
    with pytest.raises(InvalidInput, match=r"attachment 1 \(empty.pdf\) is empty"):
        parse_message(bytes(e))


def test_signatures_and_cruft_are_not_faxed_and_encrypted_mail_is_refused() -> None:
    m = _mail("signed text")
    m.add_attachment(b"%PDF-1.4 x", maintype="application", subtype="pdf", filename="x.pdf")
    m.add_attachment(b"\x30\x82sig", maintype="application", subtype="pkcs7-signature",
                     filename="smime.p7s")  # fmt: skip
    m.add_attachment(b"TNEF", maintype="application", subtype="ms-tnef", filename="winmail.dat")
    m.add_attachment("BEGIN:VCARD\nEND:VCARD\n", subtype="vcard", filename="me.vcf")
    c = parse_message(bytes(m))
    assert [d.filename for d in c.documents] == ["x.pdf"] and c.body == "signed text"
    enc = (
        b"From: a@example.org\r\nSubject: secret\r\nContent-Type: application/pkcs7-mime;"
        b' smime-type=enveloped-data; name="smime.p7m"\r\nContent-Transfer-Encoding: base64'
        b"\r\n\r\nMIIB\r\n"
    )
    with pytest.raises(InvalidInput, match="the mail is encrypted"):
        parse_message(enc)


def test_a_mail_that_is_one_attachment() -> None:
    raw = (
        b"From: a@example.org\r\nSubject: scan\r\nContent-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="s.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(b"%PDF-1.4 scan") + b"\r\n"
    )
    c = parse_message(raw)
    assert c.body == "" and [d.data for d in c.documents] == [b"%PDF-1.4 scan"]


@given(st.binary(max_size=2000))
def test_any_bytes_parse_or_refuse_clearly(raw: bytes) -> None:
    try:
        parse_message(raw)
    except InvalidInput as exc:
        assert exc.message


# -- who may send -------------------------------------------------------------------------------


def test_map_sender() -> None:
    users = {"alice", "bob@corp.example", "carol"}
    domains = ("example.org",)
    senders = {"boss@other.example": "carol", "ghost@x.example": "nobody"}
    assert policy.map_sender("Alice@Example.org", users, domains, senders) == "alice"
    assert policy.map_sender("bob@corp.example", users, domains, senders) == "bob@corp.example"
    assert policy.map_sender("boss@other.example", users, domains, senders) == "carol"
    assert policy.map_sender("ghost@x.example", users, domains, senders) is None
    assert policy.map_sender("alice@elsewhere.example", users, domains, senders) is None
    assert policy.map_sender("", users, domains, senders) is None


def test_trusted_relays() -> None:
    relays = (ipaddress.ip_network("192.0.2.0/24"), ipaddress.ip_network("2001:db8::/32"))
    assert policy.is_trusted("192.0.2.7", relays)
    assert policy.is_trusted("::ffff:192.0.2.7", relays)
    assert policy.is_trusted("2001:db8::1", relays)
    assert not policy.is_trusted("198.51.100.1", relays)
    assert not policy.is_trusted("not an address", relays)


def test_rcpt_refusals_say_why() -> None:
    common: dict[str, Any] = {"count": 0, "max_recipients": 10, "tls_active": False}
    no_login = policy.rcpt_refusal(
        user=None, relay=False, may_submit=True, tls_required_for_auth=True, **common
    )
    assert no_login is not None and no_login.startswith("530 5.7.0") and "STARTTLS" in no_login
    assert (
        policy.rcpt_refusal(
            user=None, relay=True, may_submit=True, tls_required_for_auth=True, **common
        )
        is None
    )
    no_right = policy.rcpt_refusal(
        user="bob", relay=False, may_submit=False, tls_required_for_auth=False, **common
    )
    assert no_right is not None and no_right.startswith("550 5.7.1")
    many = policy.rcpt_refusal(
        user="bob",
        relay=False,
        may_submit=True,
        tls_required_for_auth=False,
        count=10,
        max_recipients=10,
        tls_active=True,
    )
    assert many is not None and many.startswith("452 4.5.3")
    refusal = policy.relay_sender_refusal("x@y.example", None)
    assert refusal is not None and refusal.startswith("550 5.7.1")


def test_auth_rules_and_credentials() -> None:
    assert policy.auth_requires_tls(listener_loopback=False, implicit_tls=False)
    assert not policy.auth_requires_tls(listener_loopback=True, implicit_tls=False)
    assert not policy.auth_requires_tls(listener_loopback=False, implicit_tls=True)
    assert policy.authorization_header("x", "lfx_ab_secret") == "Bearer lfx_ab_secret"
    basic = policy.authorization_header("alice", "pw:with:colons")
    assert base64.b64decode(basic.split()[1]) == b"alice:pw:with:colons"


# -- settings -----------------------------------------------------------------------------------


def test_off_by_default_and_a_full_section(tmp_path: Path) -> None:
    assert not settings_from_mapping({}).smtp.enabled
    s = settings_from_mapping(
        {
            "smtp": {
                "listen": "0.0.0.0:2525",
                "domain": "Fax.Example.org.",
                "tls_cert": "c.pem",
                "tls_key": "k.pem",
                "trusted_relays": ["192.0.2.10", "2001:db8::/32"],
                "sender_domains": ["example.org"],
                "senders": {"Jane@Example.org": "jane"},
                "max_recipients": 5,
                "receipt_attach": "first_page",
            }
        },
        base_dir=tmp_path,
    ).smtp
    assert s.enabled and not s.loopback and s.tls
    assert (s.host, s.port, s.domain, s.hostname) == (
        "0.0.0.0",
        2525,
        "fax.example.org",
        "fax.example.org",
    )
    assert s.tls_cert == tmp_path / "c.pem"
    assert s.senders == {"jane@example.org": "jane"} and s.max_recipients == 5


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ({"listen": "127.0.0.1:25"}, "smtp.domain is missing"),
        ({"listen": "127.0.0.1"}, "is not HOST:PORT"),
        ({"listen": "127.0.0.1:25", "domain": "bad domain"}, "is not a mail domain"),
        ({"listen": "127.0.0.1:25", "domain": "f.org", "tls_cert": "c.pem"}, "go together"),
        ({"listen": "127.0.0.1:25", "domain": "f.org", "implicit_tls": True}, "needs a cert"),
        ({"listen": "0.0.0.0:25", "domain": "f.org"}, "nobody could send"),
        ({"listen": "127.0.0.1:25", "domain": "f.org", "trusted_relays": ["x"]}, "not an addr"),
        ({"listen": "127.0.0.1:25", "domain": "f.org", "senders": {"a": "b"}}, "address = user"),
        ({"listen": "127.0.0.1:25", "domain": "f.org", "max_message_mb": 0}, "not allowed"),
        ({"listen": "127.0.0.1:25", "domain": "f.org", "resolution": "hd"}, "not allowed"),
        ({"listen": "127.0.0.1:25", "domain": "f.org", "receipt_attach": "x"}, "not allowed"),
        ({"listen": "127.0.0.1:25", "domain": "f.org", "cover_page": 5}, "not a template"),
        ({"listn": "127.0.0.1:25"}, "unknown key(s) listn"),
    ],
)
def test_settings_errors_name_the_key(table: dict[str, object], words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_smtp_settings(table, source="lanfax.toml")
    assert words in err.value.message and err.value.message.startswith("lanfax.toml: smtp")


# -- replies and the submission ------------------------------------------------------------------


def _job(job_id: int, number: str, name: str = "") -> Job:
    from datetime import UTC, datetime

    from lanfax.model.codes import JobType, QueueStatus

    return Job(
        job_id=job_id,
        job_type=JobType.SEND,
        queue_status=QueueStatus.PENDING,
        submitted_at=datetime(2026, 1, 5, tzinfo=UTC),
        recipient_number=number,
        recipient_name=name,
        page_count=3,
        broadcast_id="b1",
    )


def test_notices() -> None:
    subject, body = notices.accepted("Order", [_job(7, "101", "Jane"), _job(8, "102")])
    assert subject == "Fax accepted, 2 jobs: Order"
    assert "2 fax jobs of 3 pages each" in body and "job 7: to 101 (Jane)" in body
    subject, body = notices.refused("", "the number 0900 is blocked", "ask an administrator")
    assert subject == "Fax NOT sent"
    assert "0900 is blocked" in body and "What to do: ask an administrator" in body


def _env(*addresses: str) -> Envelope:
    return Envelope(
        mail_id="m1",
        received_at="",
        peer="127.0.0.1",
        mail_from="env@example.org",
        recipients=tuple(parse_recipient(a, D) for a in addresses),
        user="alice",
        via="password",
    )


def test_submission_data_is_a_valid_submission() -> None:
    m = _mail("Body text")
    m.add_attachment(b"%PDF-1.4 x", maintype="application", subtype="pdf", filename="x.pdf")
    content = parse_message(bytes(m))
    env = _env(f"101+Jane@{D}", f"102@{D}", f"101+jane@{D}".upper().replace("FAX.", "fax."))
    data, text_is_doc = submission_data(env, content, SmtpSettings(), "alice@example.org")
    assert not text_is_doc
    sub = parse_submission(data)
    assert [(p.recipient_number, p.recipient_name) for p in sub.recipients] == [
        ("101", "Jane"),
        ("102", ""),
    ]
    assert sub.receipt_summary and sub.cover_page is not None
    assert sub.cover_page.subject == "Order 4711" and sub.cover_page.note == "Body text"
    assert sub.recipients[0].sender_name == "Alice Example"
    assert sub.recipients[0].delivery_report_address == "alice@example.org"
    nothing = parse_message(bytes(_mail("")))
    with pytest.raises(InvalidInput, match="nothing to fax"):
        submission_data(_env(f"101@{D}"), nothing, SmtpSettings(), "")


def test_a_long_text_is_a_page_of_its_own_not_a_cut_note() -> None:
    long = "\n".join(f"line {i}" for i in range(40))
    m = _mail(long)
    m.add_attachment(b"%PDF-1.4 x", maintype="application", subtype="pdf", filename="x.pdf")
    data, text_first = submission_data(
        _env(f"101@{D}"), parse_message(bytes(m)), SmtpSettings(), ""
    )
    assert text_first and data["cover_page"] == {
        "subject": "Order 4711",
        "sdr_name": "Alice Example",
    }
    short, text_first = submission_data(
        _env(f"101@{D}"), parse_message(bytes(_mail("a few words"))), SmtpSettings(), ""
    )
    assert text_first  # no attachment: the text is the document
    assert "note" not in short["cover_page"]


def _rich_mail(attach: bool = True) -> EmailMessage:
    m = _mail("Prices\n\nWidget 42")
    m.add_alternative(
        '<h1>Prices</h1><p><img src="cid:logo@x"></p>'
        "<table><tr><td>Widget</td><td>42</td></tr></table>",
        subtype="html",
    )
    html_part = m.get_payload()[1]  # type: ignore[index]
    assert isinstance(html_part, EmailMessage)
    out = io.BytesIO()
    Image.new("L", (40, 10), 0).save(out, "PNG")
    png = out.getvalue()
    html_part.add_related(png, maintype="image", subtype="png", cid="<logo@x>")
    if attach:
        m.add_attachment(b"%PDF-1.4 x", maintype="application", subtype="pdf", filename="x.pdf")
    return m


def test_html_alternative_and_its_pictures_are_kept_for_the_layout() -> None:
    content = parse_message(bytes(_rich_mail()))
    assert content.body == "Prices\n\nWidget 42"  # the plain text, once (not the HTML's)
    assert "<table>" in content.html and content.html_is_rich
    ((url, data, mime),) = content.resources
    assert url == "cid:logo@x" and data.startswith(b"\x89PNG") and mime == "image/png"
    assert [d.filename for d in content.documents] == ["x.pdf"]
    plain = parse_message(bytes(_mail("just text")))
    assert plain.html == "" and plain.resources == () and not plain.html_is_rich
    simple = parse_message(bytes(_mail("<p>Hello <b>you</b></p><ul><li>a</li></ul>", "html")))
    assert simple.html and not simple.html_is_rich  # reads fine as a note


def test_rich_html_is_its_own_pages_even_when_its_text_would_fit_the_note() -> None:
    content = parse_message(bytes(_rich_mail()))
    data, text_first = submission_data(_env(f"101@{D}"), content, SmtpSettings(), "")
    assert text_first and "note" not in data["cover_page"]
    # the same text with simple HTML stays the cover page's note, as readable text
    simple = _mail("<p>Dear <b>Jane</b>,</p><p>see attached.</p>", "html")
    simple.add_attachment(b"%PDF-1.4 x", maintype="application", subtype="pdf", filename="x.pdf")
    data, text_first = submission_data(
        _env(f"101@{D}"), parse_message(bytes(simple)), SmtpSettings(), ""
    )
    assert not text_first and data["cover_page"]["note"] == "Dear Jane,\n\nsee attached."


def test_render_html_uses_the_cid_picture_and_fetches_nothing() -> None:
    # Not importorskip: importing weasyprint here would leave Pillow's LOAD_TRUNCATED_IMAGES
    # on for every later test (lanfax imports it through documents.html, which restores it).
    if importlib.util.find_spec("weasyprint") is None:
        pytest.skip("weasyprint is not installed")
    from lanfax.service.smtp.intake import render_html

    content = parse_message(bytes(_rich_mail(attach=False)))
    pdf = render_html(content)
    assert pdf.startswith(b"%PDF") and b"/Image" in pdf  # the logo, from the mail itself
    no_logo = dataclasses.replace(content, resources=())
    assert b"/Image" not in render_html(no_logo)  # cid: is never looked up elsewhere


def test_spool_file_round_trip(tmp_path: Path) -> None:
    env = _env(f"101+Jane@{D}")
    path = write_spooled(tmp_path, env, b"raw\nmessage\r\n")
    assert path.name == "m1.mail" and not list(tmp_path.glob(".*"))
    assert read_spooled(path) == (env, b"raw\nmessage\r\n")
