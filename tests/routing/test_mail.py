"""Route through e-mail against a real aiosmtpd server on loopback with STARTTLS and AUTH."""

from __future__ import annotations

import email
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from tests.support.tls import self_signed_certificate

from lanfax.routing import RoutingManager
from lanfax.routing.builtin import EMAIL_GUID

from .conftest import make_fax

USER, PASSWORD = "faxer", "s3cret-pass"


@dataclass
class Mailbox:
    """The aiosmtpd handler: keeps every message it accepts."""

    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SmtpServer:
    port: int
    cert: Path
    mailbox: Mailbox


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[SmtpServer]:
    cert, key = self_signed_certificate(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=ctx,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=True,
    )
    controller.start()
    try:
        yield SmtpServer(port, cert, mailbox)
    finally:
        controller.stop()


def mail_info(server: SmtpServer, **kw: Any) -> dict[str, Any]:
    info: dict[str, Any] = {
        "to": "Front Desk <desk@example.com>, boss@example.com",
        "from": "lanfax@example.com",
        "smtp_host": "127.0.0.1",
        "smtp_port": server.port,
        "security": "starttls",
        "username": USER,
        "password": PASSWORD,
        "subject_template": "Fax {job_id} from {tsid}",
        "body_template": "{page_count} pages from {caller_id} on {device_name}.",
        "attach": "tiff",
        "ca_file": str(server.cert),
        "timeout": 10,
    }
    info.update(kw)
    return info


async def route(manager: RoutingManager, fax_tiff: Path, info: dict[str, Any]) -> Any:
    manager.set_routing_info(EMAIL_GUID, 1, info)
    manager.enable_routing_method(EMAIL_GUID, 1, True)
    outcome = await manager.route_fax(make_fax(42), [fax_tiff], only={EMAIL_GUID})
    return outcome.result(EMAIL_GUID)


@pytest.mark.anyio
async def test_mail_arrives_with_subject_body_and_the_fax(
    manager: RoutingManager, smtp_server: SmtpServer, fax_tiff: Path
) -> None:
    result = await route(manager, fax_tiff, mail_info(smtp_server))
    assert result.ok, result.reason
    ((mail_from, rcpts, raw),) = smtp_server.mailbox.messages
    assert mail_from == "lanfax@example.com"
    assert rcpts == ["desk@example.com", "boss@example.com"]
    msg = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(msg, EmailMessage)
    assert msg["Subject"] == "Fax 42 from ACME Sales"
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None
    assert body.get_content().strip() == "2 pages from +1 555 0100 on line1."
    (attachment,) = list(msg.iter_attachments())
    assert attachment.get_filename() == "fax-42.tif"
    assert attachment.get_content_type() == "image/tiff"
    assert attachment.get_content() == fax_tiff.read_bytes()


@pytest.mark.anyio
async def test_mail_with_pdf(
    manager: RoutingManager, smtp_server: SmtpServer, fax_tiff: Path
) -> None:
    result = await route(manager, fax_tiff, mail_info(smtp_server, attach="pdf"))
    try:
        import lanfax.documents.pages  # noqa: F401
    except ImportError:
        assert not result.ok and result.retryable
        assert "PDF conversion is not available" in result.reason
        assert smtp_server.mailbox.messages == []
        return
    import pypdfium2 as pdfium

    assert result.ok, result.reason
    ((_, _, raw),) = smtp_server.mailbox.messages
    msg = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(msg, EmailMessage)
    (attachment,) = list(msg.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert len(pdfium.PdfDocument(attachment.get_content())) == 2


@pytest.mark.anyio
async def test_wrong_password_is_a_permanent_failure(
    manager: RoutingManager, smtp_server: SmtpServer, fax_tiff: Path
) -> None:
    result = await route(manager, fax_tiff, mail_info(smtp_server, password="wrong-password"))
    assert not result.ok
    assert not result.retryable
    assert "refused the login" in result.reason and "535" in result.reason
    assert smtp_server.mailbox.messages == []


@pytest.mark.anyio
async def test_untrusted_certificate_is_a_permanent_failure(
    manager: RoutingManager, smtp_server: SmtpServer, fax_tiff: Path
) -> None:
    result = await route(manager, fax_tiff, mail_info(smtp_server, ca_file=""))
    assert not result.ok and not result.retryable
    assert "does not verify" in result.reason


@pytest.mark.anyio
async def test_no_starttls_without_tls_is_refused_by_the_server(
    manager: RoutingManager, smtp_server: SmtpServer, fax_tiff: Path
) -> None:
    # Without a password (so "none" is allowed by validation) the server still demands
    # STARTTLS before MAIL: a 5xx answer, not retryable.
    info = mail_info(smtp_server, security="none", username="", password="")
    result = await route(manager, fax_tiff, info)
    assert not result.ok and not result.retryable
    assert "530" in result.reason


@pytest.mark.anyio
async def test_connection_refused_is_retryable(
    manager: RoutingManager, fax_tiff: Path, tmp_path: Path
) -> None:
    info = {
        "to": "desk@example.com",
        "from": "lanfax@example.com",
        "smtp_host": "127.0.0.1",
        "smtp_port": free_port(),
        "attach": "tiff",
        "timeout": 5,
    }
    result = await route(manager, fax_tiff, info)
    assert not result.ok and result.retryable
    assert "refused the connection" in result.reason
