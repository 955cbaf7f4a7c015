"""What a receipt says, and the ``[receipts]`` settings: pure functions over jobs.

Nothing here does I/O: :func:`report_fields` turns a job into the plain data the transmission
report and the receipts print, :func:`compose` makes a receipt's subject, body and facts,
:func:`build_message` the e-mail (attachments are passed in). The runtime that watches jobs
and mails receipts is :mod:`lanfax.service.receipts`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from lanfax.model.codes import QueueStatus
from lanfax.model.config import ServerConfig
from lanfax.model.errors import ConfigError
from lanfax.model.jobs import Job
from lanfax.model.wire import datetime_to_wire
from lanfax.routing.builtin.mail import DEFAULT_PORTS
from lanfax.routing.schema import (
    Field,
    boolean,
    email_address,
    hostname,
    integer,
    number,
    one_of,
    text,
    validate,
)

ATTACH_CHOICES = ("first_page", "report", "none")

FIELDS = [
    Field("smtp_host", hostname, "", doc="the mail server, e.g. mail.example.com"),
    Field("smtp_port", integer(1, 65535), 0),
    Field("security", one_of("none", "starttls", "tls"), "starttls"),
    Field("username", text(max_length=256), ""),
    Field("password", text(max_length=1024), ""),
    Field("sender", email_address, "", doc="the From address, e.g. lanfax@example.com"),
    Field("verify_tls", boolean, True),
    Field("ca_file", text(max_length=4096), ""),
    Field("timeout", number(1, 600), 30.0),
    Field("on_retry", boolean, False),
    Field("attach", one_of(*ATTACH_CHOICES), "first_page"),
    Field("max_tries", integer(1, 100), 5),
    Field("retry_base", number(0, 86400), 30.0),
    Field("retry_cap", number(0, 86400), 1800.0),
    # issue #14: receipts only to these domains (default: the sender's), "*" for any.
    Field("allowed_domains", lambda v: _domains(v), []),
]


def _domains(v: Any) -> list[str]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(d, str) and d.strip() for d in v):
        raise ConfigError(
            "allowed_domains must be a list of mail domains",
            hint='e.g. allowed_domains = ["example.com"], or ["*"] for any',
        )
    return [d.strip().lower().lstrip("@") for d in v]


@dataclass(frozen=True, slots=True)
class ReceiptSettings:
    """The ``[receipts]`` section of the settings file.

    ::

        [receipts]
        smtp_host = "mail.example.com"   # no smtp_host: e-mail receipts cannot be sent
        smtp_port = 587                  # default by security: 25 / 587 / 465
        security = "starttls"            # "none", "starttls" or "tls"
        username = ""                    # with password, to log in (never over "none")
        password = ""
        sender = "lanfax@example.com"    # required with smtp_host
        verify_tls = true
        ca_file = ""                     # absolute path of a CA bundle for a private CA
        timeout = 30                     # seconds per SMTP session
        on_retry = false                 # also a receipt for each failed attempt
        attach = "first_page"            # "first_page" (PDF), "report" (PDF) or "none"
        max_tries = 5                    # mailing attempts before a receipt is given up
        retry_base = 30                  # seconds before the first retry, doubling ...
        retry_cap = 1800                 # ... up to this
    """

    values: Mapping[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name] if name in self.values else _DEFAULTS[name]
        except KeyError:
            raise AttributeError(name) from None

    def allows(self, address: str) -> bool:
        """Whether an e-mail receipt may go to ``address``: its domain (or a subdomain) is in
        ``allowed_domains``, by default the sender's domain; ``"*"`` allows any. The server
        is no open relay for whoever may submit a fax (issue #14)."""
        allowed = list(self.allowed_domains)
        if not allowed and self.sender:
            allowed = [str(self.sender).rsplit("@", 1)[-1].lower()]
        if "*" in allowed:
            return True
        domain = address.rsplit("@", 1)[-1].strip().lower().rstrip(">")
        return any(domain == d or domain.endswith("." + d) for d in allowed)

    @property
    def mail_enabled(self) -> bool:
        return bool(self.values.get("smtp_host"))

    def smtp_info(self) -> dict[str, Any]:
        """The settings in the shape ``lanfax.routing.builtin.mail.send`` takes."""
        return {k: self.__getattr__(k) for k in _SMTP_KEYS}

    def backoff(self, tries: int) -> float:
        """Seconds to wait after the ``tries``-th failed mailing."""
        return float(min(self.retry_cap, self.retry_base * 2 ** max(0, tries - 1)))


_DEFAULTS = {f.name: f.default for f in FIELDS}
_SMTP_KEYS = (
    "smtp_host",
    "smtp_port",
    "security",
    "username",
    "password",
    "verify_tls",
    "ca_file",
    "timeout",
)


def parse_receipt_settings(table: Any, *, source: str = "(defaults)") -> ReceiptSettings:
    """Validate the ``[receipts]`` table; ConfigError naming the key and what to write."""
    where = f"{source}: [receipts]"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table", hint="write it as [receipts]")
    out = validate(where, table, FIELDS)
    if out["smtp_host"] and not out["sender"]:
        raise ConfigError(
            f"{where}: sender is required with smtp_host",
            hint='add sender = "lanfax@example.com" (the From address of receipts)',
        )
    if out["sender"] and not out["smtp_host"]:
        raise ConfigError(
            f"{where}: sender is set but smtp_host is not",
            hint='add smtp_host = "mail.example.com" (the server that sends receipts)',
        )
    if bool(out["username"]) != bool(out["password"]):
        raise ConfigError(
            f"{where}: username and password go together",
            hint="set both to log in to the mail server, or neither",
        )
    if out["username"] and out["security"] == "none":
        raise ConfigError(
            f"{where}: the password would be sent unencrypted",
            hint='set security = "starttls" or "tls", or leave username and password empty',
        )
    if out["ca_file"] and not out["ca_file"].startswith("/"):
        raise ConfigError(f"{where}: ca_file {out['ca_file']!r} is not absolute", hint="start /")
    if out["retry_cap"] < out["retry_base"]:
        raise ConfigError(
            f"{where}: retry_cap is below retry_base", hint="the cap is the longest delay"
        )
    if not out["smtp_port"]:
        out["smtp_port"] = DEFAULT_PORTS[out["security"]]
    return ReceiptSettings(out)


# -- facts ------------------------------------------------------------------------------------


def _local(when: datetime | None, tz: tzinfo | None) -> datetime | None:
    return None if when is None else when.astimezone(tz) if tz else when


def retries_left(job: Job, config: ServerConfig) -> int:
    """Calls the scheduler will still make by itself (0 for a final job)."""
    if job.is_final:
        return 0
    return max(0, config.retries + 1 - job.attempts)


def report_fields(job: Job, config: ServerConfig, tz: tzinfo | None) -> dict[str, Any]:
    """The plain data of ``job`` for :func:`lanfax.documents.report.render_report`."""
    duration = None
    if job.started_at is not None and job.completed_at is not None:
        duration = max(0.0, (job.completed_at - job.started_at).total_seconds())
    return {
        "job_id": job.job_id,
        "result": job.queue_status.name.lower(),
        "status_text": job.status_text,
        "recipient_number": job.recipient_number,
        "recipient_name": job.recipient_name,
        "sender_name": job.sender_name,
        "sender_company": job.sender_company,
        "tsid": job.tsid,
        "document_name": job.document_name,
        "user_name": job.user_name,
        "broadcast_id": job.broadcast_id,
        "submitted_at": _local(job.submitted_at, tz),
        "started_at": _local(job.started_at, tz),
        "completed_at": _local(job.completed_at, tz),
        "duration": duration,
        "page_count": job.page_count,
        "pages_done": job.pages_done,
        "remote_ident": job.remote_ident,
        "bit_rate": job.bit_rate,
        "ecm": job.ecm,
        "compression": job.compression,
        "attempts": job.attempts,
        "retries_left": None if job.is_final else retries_left(job, config),
        "last_failure": job.last_failure.value if job.last_failure else "",
        "device_id": job.device_id or 0,
    }


def job_facts(job: Job, config: ServerConfig) -> dict[str, Any]:
    """A receipt's facts about one job (JSON-able: times as ISO 8601 UTC)."""
    f = report_fields(job, config, None)
    for key in ("submitted_at", "started_at", "completed_at"):
        f[key] = datetime_to_wire(f[key]) if f[key] is not None else None
    f["delivered"] = job.queue_status is QueueStatus.COMPLETED
    f["retries_left"] = retries_left(job, config)
    if job.next_attempt_at is not None and not job.is_final:
        f["next_attempt_at"] = datetime_to_wire(job.next_attempt_at)
    return f


def _pages(job: Job) -> str:
    n = job.pages_done
    return f"{n} page{'s' if n != 1 else ''}"


def _to(job: Job) -> str:
    name = " ".join(job.recipient_name.split())
    return f"{job.recipient_number} ({name})" if name else job.recipient_number


def job_subject(job: Job, config: ServerConfig) -> str:
    status = job.queue_status
    if status is QueueStatus.COMPLETED:
        return f"Fax to {_to(job)} delivered ({_pages(job)})"
    if status is QueueStatus.CANCELED:
        return f"Fax to {_to(job)} canceled"
    if status in (QueueStatus.FAILED, QueueStatus.RETRIES_EXCEEDED):
        why = job.last_failure.value.replace("_", " ") if job.last_failure else "failed"
        return f"Fax to {_to(job)} NOT delivered: {why} after {job.attempts} attempt(s)"
    why = job.last_failure.value.replace("_", " ") if job.last_failure else "failed"
    left = retries_left(job, config)
    return f"Fax to {_to(job)}: attempt {job.attempts} failed ({why}), {left} retries left"


def job_lines(job: Job, config: ServerConfig, tz: tzinfo | None) -> list[str]:
    """The facts of one job, a line each (the report's lines, empty ones left out)."""
    from lanfax.documents.report import rows  # here: the settings file parser imports us

    return [
        f"{label + ':':<21}{value}"
        for label, value in rows(report_fields(job, config, tz))
        if value
    ]


def compose(
    kind: str, jobs: Sequence[Job], config: ServerConfig, tz: tzinfo | None
) -> tuple[str, str, dict[str, Any]]:
    """Subject, body and facts of a receipt of ``kind`` about ``jobs`` (one job, or every
    job of a broadcast for a summary)."""
    if kind != "summary":
        (job,) = jobs
        subject = job_subject(job, config)
        intro = subject + "."
        if kind == "attempt" and job.next_attempt_at is not None:
            at = _local(job.next_attempt_at, tz)
            assert at is not None
            intro += f"\nThe next attempt is due at {at.strftime('%Y-%m-%d %H:%M %Z').strip()}."
        body = "\n".join([intro, "", *job_lines(job, config, tz), ""])
        return subject, body, job_facts(job, config)
    ok = [j for j in jobs if j.queue_status is QueueStatus.COMPLETED]
    bid = jobs[0].broadcast_id
    subject = f"Broadcast {bid}: {len(ok)} of {len(jobs)} faxes delivered"
    lines = [subject + ".", ""]
    for j in jobs:
        state = j.queue_status.name.lower()
        lines.append(
            f"Job {j.job_id:<6} {_to(j):<32} {state:<17} {j.pages_done}/{j.page_count} pages"
            + (f"  {' '.join(j.remote_ident.split())}" if j.remote_ident else "")
        )
    for j in jobs:
        lines += ["", f"-- job {j.job_id} --", *job_lines(j, config, tz)]
    facts = {
        "broadcast_id": bid,
        "delivered": len(ok),
        "total": len(jobs),
        "jobs": [job_facts(j, config) for j in jobs],
    }
    return subject, "\n".join(lines) + "\n", facts


def build_message(
    *,
    key: str,
    subject: str,
    body: str,
    sender: str,
    to: str,
    job_id: int,
    now: datetime,
    attachments: Sequence[tuple[str, bytes]] = (),
    in_reply_to: str = "",
) -> EmailMessage:
    """The receipt e-mail; ``attachments`` are (file name, PDF bytes); ``in_reply_to`` (a
    Message-ID) threads it under the mail it answers (e-mail to fax)."""
    msg = EmailMessage()
    msg["Subject"] = " ".join(subject.split())
    msg["From"] = sender
    msg["To"] = to
    msg["Date"] = format_datetime(now)
    # Stable per receipt, so a mail client recognises the copy a retry may produce.
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    domain = sender.rsplit("@", 1)[1].rstrip(">").strip()
    msg["Message-ID"] = f"<lanfax.receipt.{digest}@{domain}>"
    if job_id:
        msg["X-Lanfax-Job"] = str(job_id)
    if in_reply_to.startswith("<") and in_reply_to.endswith(">") and "\n" not in in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(body)
    for name, data in attachments:
        msg.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return msg
