"""Route through e-mail: the fax as an attachment, sent with the standard library's smtplib
in a worker thread (one short session per fax; no need for an async SMTP dependency).

Failures are classified for the retry policy: a server that cannot be reached, a dropped
connection, a timeout or a 4xx reply may pass by themselves (retryable); a refused password, a
certificate that does not verify, a missing STARTTLS or a 5xx reply need a person (not
retryable).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import smtplib
import socket
import ssl
from collections.abc import Mapping
from datetime import tzinfo
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from lanfax.model.clock import Clock
from lanfax.model.errors import ConfigError
from lanfax.routing.api import FaxRoute, RouteCallbacks, RouteResult
from lanfax.routing.builtin.common import CONTENT_TYPE, SUFFIX, document
from lanfax.routing.schema import (
    Field,
    boolean,
    email_address,
    email_list,
    hostname,
    integer,
    number,
    one_of,
    text,
    validate,
)
from lanfax.routing.targets import TargetPolicy
from lanfax.routing.templates import check_template, render, template_fields

DEFAULT_SUBJECT = "Fax from {tsid} ({page_count} pages)"
DEFAULT_BODY = (
    "A fax was received on {device_name} at {iso_time}.\n\n"
    "From (TSID): {tsid}\nCaller id: {caller_id}\nTo (CSID): {csid}\n"
    "Pages: {page_count}\nJob: {job_id}\n"
)
DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}


def _template(what: str, max_length: int) -> Any:
    return lambda v: check_template(text(max_length=max_length)(v), what, max_length=max_length)


def _ca_file(v: Any) -> str:
    s = text(max_length=4096)(v)
    if s and not Path(s).is_absolute():
        meant = os.path.abspath(s)  # the server keeps the directory it was started in
        raise ConfigError(
            f"{s!r} is not an absolute path (it would mean {meant!r})",
            hint=f"give the CA file's full path, e.g. {meant}",
        )
    return s


FIELDS = [
    Field("to", email_list, required=True, doc="one or more addresses, e.g. fax@example.com"),
    Field("from", email_address, required=True, doc="the sender address, e.g. lanfax@example.com"),
    Field("smtp_host", hostname, required=True, doc="the mail server, e.g. mail.example.com"),
    Field("smtp_port", integer(1, 65535), 0),
    Field("security", one_of("none", "starttls", "tls"), "starttls"),
    Field("username", text(max_length=256), ""),
    Field("password", text(max_length=1024), ""),
    Field("subject_template", _template("the subject template", 500), DEFAULT_SUBJECT),
    Field("body_template", _template("the body template", 20000), DEFAULT_BODY),
    Field("attach", one_of("pdf", "tiff"), "pdf"),
    Field("verify_tls", boolean, True),
    Field("ca_file", _ca_file, ""),
    Field("timeout", number(1, 600), 60.0),
]


def check(info: Mapping[str, Any]) -> dict[str, Any]:
    out = validate("route through e-mail", info, FIELDS)
    if not out["smtp_port"]:
        out["smtp_port"] = DEFAULT_PORTS[out["security"]]
    if bool(out["username"]) != bool(out["password"]):
        raise ConfigError(
            "route through e-mail: username and password go together",
            hint="set both to log in to the mail server, or neither",
        )
    if out["username"] and out["security"] == "none":
        raise ConfigError(
            "route through e-mail: a password would be sent unencrypted",
            hint='set security to "starttls" or "tls", or leave username and password empty',
        )
    return out


def build_message(
    fax: FaxRoute, info: Mapping[str, Any], attachment: bytes, *, tz: tzinfo | None, clock: Clock
) -> EmailMessage:
    """The message for ``fax`` (pure apart from its arguments)."""
    values = template_fields(fax, tz)
    msg = EmailMessage()
    # Templates may put fax fields (peer-controlled text) in the subject: no line breaks.
    subject = " ".join(render(info["subject_template"], values).split())
    msg["Subject"] = subject
    msg["From"] = info["from"]
    msg["To"] = ", ".join(info["to"])
    msg["Date"] = format_datetime(clock.now())
    # Stable per fax, so a mail client can recognise a second copy after a retry.
    digest = hashlib.sha256(f"{fax.job_id}|{fax.receive_time.isoformat()}".encode()).hexdigest()
    domain = info["from"].rsplit("@", 1)[1].rstrip(">").strip()
    msg["Message-ID"] = f"<lanfax.{fax.job_id}.{digest[:16]}@{domain}>"
    msg["X-Lanfax-Job"] = str(fax.job_id)
    msg.set_content(render(info["body_template"], values))
    fmt = info["attach"]
    maintype, subtype = CONTENT_TYPE[fmt].split("/")
    msg.add_attachment(
        attachment, maintype=maintype, subtype=subtype, filename=f"fax-{fax.job_id}{SUFFIX[fmt]}"
    )
    return msg


def _tls_context(info: Mapping[str, Any]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=info["ca_file"] or None)
    if not info["verify_tls"]:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _checked(base: type[smtplib.SMTP], policy: TargetPolicy | None) -> type[smtplib.SMTP]:
    """``base`` (SMTP or SMTP_SSL) checking the address it connected to before it reads the
    greeting or writes a command (DNS rebinding: see lanfax.routing.targets)."""

    class Checked(base):  # type: ignore[valid-type,misc]
        def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
            sock: socket.socket = super()._get_socket(host, port, timeout)
            if policy is not None:
                try:
                    policy.check_peer(host, sock.getpeername())
                except BaseException:
                    sock.close()
                    raise
            return sock

    return Checked


def send(
    msg: EmailMessage, info: Mapping[str, Any], policy: TargetPolicy | None = None
) -> dict[str, tuple[int, bytes]]:
    """One SMTP session (blocking; run it in a thread). Returns the refused recipients.
    ``policy`` checks the address the connection reached (AccessDenied)."""
    host, port, timeout = info["smtp_host"], info["smtp_port"], info["timeout"]
    ctx = _tls_context(info) if info["security"] != "none" else None
    smtp: smtplib.SMTP
    if info["security"] == "tls":
        ssl_class: Any = _checked(smtplib.SMTP_SSL, policy)
        smtp = ssl_class(host, port, timeout=timeout, context=ctx)
    else:
        smtp = _checked(smtplib.SMTP, policy)(host, port, timeout=timeout)
    with smtp:
        smtp.ehlo()
        if info["security"] == "starttls":
            smtp.starttls(context=ctx)
            smtp.ehlo()
        if info["username"]:
            smtp.login(info["username"], info["password"])
        return smtp.send_message(msg)


def _reply(code: int, text: bytes | str) -> str:
    t = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {t}".strip()


def classify(exc: Exception, server: str) -> RouteResult:
    """An SMTP session's exception as a route failure, retryable or not."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return RouteResult.failure(
            f"{server} refused the login: {_reply(exc.smtp_code, exc.smtp_error)}",
            retryable=False,
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return RouteResult.failure(f"{server} does not support it: {exc}", retryable=False)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [c for c, _ in exc.recipients.values()]
        detail = "; ".join(f"{r}: {_reply(c, m)}" for r, (c, m) in exc.recipients.items())
        return RouteResult.failure(
            f"{server} refused every recipient: {detail}",
            retryable=all(400 <= c < 500 for c in codes),
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return RouteResult.failure(
            f"{server} answered {_reply(exc.smtp_code, exc.smtp_error)}",
            retryable=400 <= exc.smtp_code < 500,
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return RouteResult.failure(f"{server} closed the connection: {exc}", retryable=True)
    if isinstance(exc, smtplib.SMTPException):
        return RouteResult.failure(f"mail to {server} failed: {exc}", retryable=False)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return RouteResult.failure(
            f"the certificate of {server} does not verify: {exc.verify_message}",
            retryable=False,
        )
    if isinstance(exc, ssl.SSLError):
        return RouteResult.failure(f"TLS with {server} failed: {exc}", retryable=False)
    if isinstance(exc, TimeoutError):
        return RouteResult.failure(f"{server} did not answer in time", retryable=True)
    if isinstance(exc, ConnectionRefusedError):
        return RouteResult.failure(f"{server} refused the connection", retryable=True)
    return RouteResult.failure(f"cannot reach {server}: {exc}", retryable=True)


async def route(
    fax: FaxRoute,
    info: Mapping[str, Any],
    *,
    callbacks: RouteCallbacks,
    tz: tzinfo | None,
    clock: Clock,
    policy: TargetPolicy | None = None,
) -> RouteResult:
    async with document(callbacks, fax, info["attach"]) as path:
        data = await asyncio.to_thread(path.read_bytes)
    msg = build_message(fax, info, data, tz=tz, clock=clock)
    server = f"{info['smtp_host']}:{info['smtp_port']}"
    try:
        refused = await asyncio.to_thread(send, msg, info, policy)
    except (smtplib.SMTPException, OSError) as exc:
        return classify(exc, server)
    if refused:
        # Delivered to some: a retry would duplicate theirs, so this needs a person.
        detail = "; ".join(f"{r}: {_reply(c, m)}" for r, (c, m) in refused.items())
        return RouteResult.failure(
            f"{server} refused some recipients: {detail}",
            retryable=False,
            data={"refused": sorted(refused)},
        )
    return RouteResult(ok=True, reason=f"mailed to {', '.join(info['to'])} via {server}")
