"""The mail spool and the worker that turns a spooled mail into one broadcast.

Durability: the listener answers ``250`` only after :meth:`MailIntake.accept` has written the
mail to ``<data>/spool/mail/<id>.mail`` (a JSON envelope line, then the message as
received), fsynced, renamed into place and its directory fsynced. The worker then, for each
spooled mail in the order received:

1. if jobs of broadcast ``<id>`` exist, they were committed before a crash: go to 3;
2. reads the mail (:mod:`.message`), checks the sender's rights and every number (dialing
   rules, blocked numbers: :func:`lanfax.service.submit.parse_submission`), stages the
   documents (an HTML text that is faxed as pages of its own is laid out by
   :func:`lanfax.documents.html_to_pdf` first, with the mail's ``cid:`` pictures) and submits
   them as ONE broadcast whose id is the spool id - the jobs of all
   recipients commit in one transaction, or none does;
3. commits the "accepted" reply (or, when step 2 refused the mail, the "refused" reply) to
   the receipts table, idempotent by ``smtp:<id>``, which the receipts mailer sends;
4. removes the spool file.

A crash anywhere repeats at most the steps after the last one done, so a mail accepted with
``250`` becomes its faxes (or its refusal) exactly once after a restart. A failure that may
pass (the store unavailable) leaves the file and tries again every 30 s, for about an hour,
then refuses the mail; a bug moves it to ``spool/mail/failed/`` for the administrator, and
the sender is told.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import secrets
import shutil
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lanfax.model.codes import AccessRight, AccessRightEx
from lanfax.model.errors import FaxError, InvalidInput, RateLimited, StoreError, Unavailable
from lanfax.model.jobs import Job, JobQuery
from lanfax.service.receipts import ATTACH_KEY, MESSAGE_ID_KEY
from lanfax.service.rights import ROLE_RIGHTS, Caller, Role, effective_rights
from lanfax.service.smtp import notices
from lanfax.service.smtp.message import (
    FaxRecipient,
    MailContent,
    parse_headers,
    parse_message,
)
from lanfax.service.smtp.settings import SmtpSettings
from lanfax.service.spool import fsync_dir, write_durably
from lanfax.service.submit import contact_references, parse_submission

if TYPE_CHECKING:
    from lanfax.service.core import FaxService
    from lanfax.service.security import Security

log = logging.getLogger("lanfax.outbound")

#: Seconds before a mail whose processing failed in a way that may pass is tried again,
#: and how many tries before it is refused (about an hour).
RETRY_SECONDS = 30.0
MAX_TRIES = 120
#: ``job.extra`` key marking a job that came by e-mail (its spool id is the broadcast id).
SOURCE_KEY = "source"
#: The message box of the built-in cover page: lines of this many characters (see
#: lanfax.documents.cover); a longer text is faxed as a page of its own.
NOTE_WIDTH = 80
NOTE_LINES = 20


@dataclass(frozen=True, slots=True)
class Envelope:
    """What the SMTP conversation established about one mail."""

    mail_id: str
    received_at: str
    peer: str
    mail_from: str
    recipients: tuple[FaxRecipient, ...]
    user: str
    #: "password", "token" (SMTP AUTH), "relay" (From: mapped), "none" (authentication off)
    via: str

    def to_json(self) -> bytes:
        doc = dataclasses.asdict(self)
        doc["recipients"] = [dataclasses.asdict(r) for r in self.recipients]
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Envelope:
        doc = json.loads(data)
        doc["recipients"] = tuple(FaxRecipient(**r) for r in doc["recipients"])
        return cls(**doc)


def new_mail_id() -> str:
    return secrets.token_hex(8)


def write_spooled(directory: Path, envelope: Envelope, raw: bytes) -> Path:
    """Write one mail durably (blocking): a hidden temporary file, fsync, rename, fsync
    the directory. Only then may the listener say 250."""
    tmp = directory / f".{envelope.mail_id}.part"
    write_durably(tmp, envelope.to_json() + b"\n" + raw)
    final = directory / f"{envelope.mail_id}.mail"
    os.replace(tmp, final)
    fsync_dir(directory)
    return final


def read_spooled(path: Path) -> tuple[Envelope, bytes]:
    data = path.read_bytes()
    head, _, raw = data.partition(b"\n")
    return Envelope.from_json(head), raw


def spooled_in_order(directory: Path) -> list[str]:
    """The ids of the spooled mails, oldest first (a crash's leftovers are removed)."""
    found: list[tuple[float, str]] = []
    for entry in directory.iterdir():
        if entry.name.startswith(".") and entry.name.endswith(".part"):
            entry.unlink(missing_ok=True)  # never acknowledged: the client will send it again
        elif entry.suffix == ".mail" and entry.is_file():
            found.append((entry.stat().st_mtime, entry.stem))
    return [mail_id for _, mail_id in sorted(found)]


def _unique(recipients: tuple[FaxRecipient, ...]) -> list[FaxRecipient]:
    """Each address once (a mail To: and Cc: the same address is one fax)."""
    seen: set[str] = set()
    out = []
    for r in recipients:
        if r.address.lower() not in seen:
            seen.add(r.address.lower())
            out.append(r)
    return out


def note_fits(text: str) -> bool:
    """Whether ``text`` fits the message box of the built-in cover page (longer text would
    be cut there, so it is faxed as a page of its own instead)."""
    lines = sum(len(textwrap.wrap(p, NOTE_WIDTH)) or 1 for p in text.splitlines())
    return lines <= NOTE_LINES


def submission_data(
    envelope: Envelope, content: MailContent, settings: SmtpSettings, reply_to: str
) -> tuple[dict[str, Any], bool]:
    """The ``params`` of a submission for this mail (as the HTTP API takes them), and
    whether the mail's text is a document of its own, in front of the attachments (a mail
    with no attachment, a text too long for the cover page's message box, or an HTML text
    with tables, pictures or headings, which the note's plain text would lose)."""
    recipients = [
        {"recipient_number": r.number, "recipient_name": r.name}
        for r in _unique(envelope.recipients)
    ]
    first_file = next((d.filename for d in content.documents if d.filename), "")
    data: dict[str, Any] = {
        "recipients": recipients,
        "sender_name": content.from_name or envelope.user,
        "document_name": (content.subject or first_file or "e-mail")[:200],
        "resolution": settings.resolution,
    }
    if reply_to:
        data["delivery_report_type"] = "email"
        data["delivery_report_address"] = reply_to
        data["receipt_summary"] = len(recipients) > 1
    rich = content.html_is_rich
    if not content.documents and not content.body and not rich:
        raise InvalidInput(
            "the mail has nothing to fax: no attachment and no text",
            hint="attach the documents (PDF, images, TIFF, office files, text) "
            "or write the text to fax in the mail",
        )
    text_is_document = (bool(content.body) or rich) and (
        not content.documents or rich or not note_fits(content.body)
    )
    cover: dict[str, Any] = {}
    if text_is_document and content.subject:
        cover = {"subject": content.subject}
    elif not text_is_document and (content.subject or content.body):
        cover = {"subject": content.subject, "note": content.body}
    if cover:
        cover["sdr_name"] = data["sender_name"]
        if settings.cover_page:
            cover["cover_page_name"] = settings.cover_page
        data["cover_page"] = cover
    return data, text_is_document


class MailIntake:
    """The spool and its worker. ``start()``/``stop()`` on the service's loop."""

    def __init__(self, service: FaxService, security: Security, settings: SmtpSettings) -> None:
        self.service = service
        self.security = security
        self.settings = settings
        self.directory = service.settings.data_dir / "spool" / "mail"
        self.failed = self.directory / "failed"
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._later: set[asyncio.TimerHandle] = set()
        self._tries: dict[str, int] = {}

    async def start(self) -> None:
        ctx = self.service.ctx
        await ctx.run(self.failed.mkdir, 0o750, True, True)
        waiting = await ctx.run(spooled_in_order, self.directory)
        if waiting:
            log.info("e-mail to fax: %d mail(s) accepted before the restart", len(waiting))
        for mail_id in waiting:
            self._queue.put_nowait(mail_id)
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="lanfax-mail-in")

    async def stop(self) -> None:
        for handle in self._later:
            handle.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def idle(self) -> None:
        """Wait until every mail spooled so far is processed (tests)."""
        await self._queue.join()

    async def accept(self, envelope: Envelope, raw: bytes) -> None:
        """Spool one mail durably, then queue it. Raises OSError when it is not on disk."""
        await self.service.ctx.run(write_spooled, self.directory, envelope, raw)
        self._queue.put_nowait(envelope.mail_id)

    # -- the worker ---------------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            mail_id = await self._queue.get()
            try:
                await self.process(mail_id)
            except Exception:  # a bug must not stop the mails behind this one
                log.exception("e-mail to fax: mail %s not processed", mail_id)
            finally:
                self._queue.task_done()

    def _retry_later(self, mail_id: str) -> None:
        loop = asyncio.get_running_loop()

        def again() -> None:
            self._later.discard(handle)
            self._queue.put_nowait(mail_id)

        handle = loop.call_later(RETRY_SECONDS, again)
        self._later.add(handle)

    async def process(self, mail_id: str) -> None:
        ctx = self.service.ctx
        path = self.directory / f"{mail_id}.mail"
        try:
            envelope, raw = await ctx.run(read_spooled, path)
        except FileNotFoundError:
            return  # done meanwhile
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.error("e-mail to fax: spool file %s unreadable (%s); moved to failed/", path, exc)
            await ctx.run(os.replace, path, self.failed / path.name)
            return
        unreadable: FaxError | None = None
        try:
            content = parse_message(raw)
        except FaxError as exc:  # refused below, answered with what the header says
            content, unreadable = parse_headers(raw), exc
        reply_to = content.reply_address or envelope.mail_from
        done = await self.service.list_jobs(JobQuery(limit=10_000, broadcast_id=mail_id))
        try:
            if done:
                log.info("e-mail to fax: mail %s was queued before a restart", mail_id)
            else:
                if unreadable is not None:
                    raise unreadable
                done = await self._submit(envelope, content, reply_to)
        except (Unavailable, StoreError, RateLimited) as exc:
            tries = self._tries[mail_id] = self._tries.get(mail_id, 0) + 1
            if tries < MAX_TRIES:
                log.warning(
                    "e-mail to fax: mail %s waits (try %d of %d): %s",
                    mail_id,
                    tries,
                    MAX_TRIES,
                    exc.message,
                )
                self._retry_later(mail_id)
                return
            later = "the fax server could not queue it for a long time; send it again later"
            await self._refuse(envelope, content, reply_to, mail_id, exc.message, later)
        except FaxError as exc:
            await self._refuse(envelope, content, reply_to, mail_id, exc.message, exc.hint)
        except Exception:
            log.exception("e-mail to fax: mail %s failed; kept in %s", mail_id, self.failed)
            await ctx.run(os.replace, path, self.failed / path.name)
            await self._notify_refused(
                envelope,
                content,
                reply_to,
                "the fax server could not process this mail (an internal error)",
                f"tell the administrator: it is kept as spool/mail/failed/{mail_id}.mail",
            )
            return
        else:
            await self._notify_accepted(envelope, content, reply_to, done)
        self._tries.pop(mail_id, None)
        await ctx.run(_remove, path)

    async def _refuse(
        self,
        envelope: Envelope,
        content: MailContent,
        reply_to: str,
        mail_id: str,
        reason: str,
        hint: str | None,
    ) -> None:
        log.info("e-mail to fax: mail %s from %s refused: %s", mail_id, envelope.user, reason)
        claimed = Caller(envelope.user, Role.USER, AccessRight(0), AccessRightEx(0), envelope.peer)
        await self.security.record(
            claimed,
            "submit",
            mail_id,
            outcome="failed",
            detail={"via": "smtp", "reason": reason, "message_id": content.message_id},
        )
        await self._notify_refused(envelope, content, reply_to, reason, hint)

    async def _caller(self, envelope: Envelope) -> Caller:
        if not self.security.enabled:
            basic, ext = ROLE_RIGHTS[Role.ADMINISTRATOR]
            return Caller(envelope.user, Role.ADMINISTRATOR, basic, ext, envelope.peer, "none")
        # The user now, not at RCPT time: removed or stripped of its rights meanwhile, it
        # may not send.
        user = await self.security.get_user(envelope.user)
        basic, ext = effective_rights(user.role, user.granted, user.revoked)
        return Caller(user.name, user.role, basic, ext, envelope.peer, envelope.via)

    async def _submit(self, envelope: Envelope, content: MailContent, reply_to: str) -> list[Job]:
        service, ctx = self.service, self.service.ctx
        caller = await self._caller(envelope)
        caller.require(AccessRight.JOB_SUBMIT)
        caller.require(AccessRightEx.SUBMIT_NORMAL)
        data, text_is_document = submission_data(envelope, content, self.settings, reply_to)
        names = contact_references(data)  # sales@fax.example.org: the user's address book
        directory = await service.contacts.directory(caller, names) if names else None
        submission = parse_submission(
            data,
            dialing=service.settings.dialing,
            # [smtp] max_recipients bounded the RCPTs; a list may hold more, as for the API
            max_recipients=service.settings.max_recipients,
            contacts=directory,
        )
        extra = {ATTACH_KEY: self.settings.receipt_attach, SOURCE_KEY: "smtp"}
        if content.message_id:
            extra[MESSAGE_ID_KEY] = content.message_id
        submission = dataclasses.replace(submission, extra=extra)
        items = [(d.label, d.data) for d in content.documents]
        if text_is_document and content.html:
            pdf = await ctx.run_heavy(render_html, content, envelope.mail_id)
            items.insert(0, ("the mail's text", pdf))
        elif text_is_document:
            items.insert(0, ("the mail's text", content.body.encode("utf-8") + b"\n"))
        total = sum(len(blob) for _, blob in items)
        if total > service.settings.max_upload_bytes:
            raise InvalidInput(
                f"the documents are larger than {service.settings.max_upload_bytes >> 20} MB",
                hint="send fewer or smaller documents",
            )
        stage = await ctx.run(service.spool.new_stage)
        staged: list[Path] = []
        try:
            for i, (_, blob) in enumerate(items):
                path = stage / f"{i:03d}"
                await ctx.run(write_durably, path, blob)
                staged.append(path)
        except BaseException:
            await ctx.run(shutil.rmtree, stage, True)
            raise
        audit = [
            self.security.trail.entry(
                caller,
                "submit",
                envelope.mail_id,
                outcome="ok",
                detail={
                    "via": "smtp",
                    "message_id": content.message_id,
                    "recipients": len(submission.recipients),
                },
            )
        ]
        _, jobs = await service.submit(
            submission,
            staged,
            user_name=caller.user,
            stage_dir=stage,
            labels=[label for label, _ in items],
            audit=audit,
            broadcast_id=envelope.mail_id,
        )
        for entry in audit:
            self.security.trail.log_entry(entry)
        log.info(
            "e-mail to fax: mail %s from %s queued as %d job(s)",
            envelope.mail_id,
            caller.user,
            len(jobs),
        )
        return jobs

    async def _notify_accepted(
        self, envelope: Envelope, content: MailContent, reply_to: str, jobs: list[Job]
    ) -> None:
        if not reply_to:
            return
        subject, body = notices.accepted(content.subject, jobs)
        await self.service.receipts.add_notice(
            notices.ACCEPTED,
            f"smtp:{envelope.mail_id}",
            user_name=envelope.user,
            address=reply_to,
            subject=subject,
            body=body,
            job_id=jobs[0].job_id if jobs else 0,
            broadcast_id=envelope.mail_id,
            facts={"jobs": [j.job_id for j in jobs], "message_id": content.message_id},
        )

    async def _notify_refused(
        self,
        envelope: Envelope,
        content: MailContent,
        reply_to: str,
        reason: str,
        hint: str | None,
    ) -> None:
        if not reply_to:
            log.warning("e-mail to fax: mail %s refused; no address to tell", envelope.mail_id)
            return
        subject, body = notices.refused(content.subject, reason, hint)
        await self.service.receipts.add_notice(
            notices.REFUSED,
            f"smtp:{envelope.mail_id}",
            user_name=envelope.user,
            address=reply_to,
            subject=subject,
            body=body,
            broadcast_id=envelope.mail_id,
            facts={"reason": reason, "message_id": content.message_id},
        )


def render_html(content: MailContent, mail_id: str = "") -> bytes:
    """The mail's HTML text laid out as PDF (blocking; WeasyPrint): its ``cid:`` pictures are
    used, nothing is fetched (remote pictures, tracking pixels are left out and logged).
    Raises DocumentError (refusing the mail, saying why) when it cannot be laid out."""
    from lanfax.documents import html_to_pdf

    resources = {url: (data, mime) for url, data, mime in content.resources}
    with tempfile.TemporaryDirectory(prefix="lanfax-mail-") as tmp:
        out = Path(tmp) / "text.pdf"
        warnings = html_to_pdf(content.html, out, resources=resources, label="the mail's text")
        for warning in warnings:
            log.info("e-mail to fax: mail %s: %s", mail_id, warning)
        return out.read_bytes()


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    fsync_dir(path.parent)
