"""The SMTP listener: a thin aiosmtpd adapter on the service's event loop.

aiosmtpd speaks the protocol (RFC 5321, STARTTLS RFC 3207, AUTH RFC 4954, size limit
RFC 1870); this module only answers its hooks with the decisions of :mod:`.policy` and
:mod:`.message`, and hands an accepted mail to :class:`~.intake.MailIntake`, which has it on
disk before the ``250``.

AUTH: aiosmtpd's authenticator callback is synchronous, and checking a password (scrypt)
must not block the loop, so the handler implements ``auth_PLAIN``/``auth_LOGIN`` itself:
aiosmtpd's own methods read the exchange (the callback only collects the login and
password) and the handler then checks them with the API's authentication, asynchronously.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from typing import TYPE_CHECKING, Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from lanfax.model.codes import AccessRight, AccessRightEx
from lanfax.model.contacts import name_key
from lanfax.model.errors import InvalidInput, RateLimited, Unauthenticated
from lanfax.service.rights import Caller, Role, effective_rights
from lanfax.service.smtp import policy
from lanfax.service.smtp.intake import Envelope, MailIntake, new_mail_id
from lanfax.service.smtp.message import BadRecipient, parse_recipient, sender_address
from lanfax.service.smtp.settings import SmtpSettings

if TYPE_CHECKING:
    from lanfax.service.core import FaxService
    from lanfax.service.security import Security

log = logging.getLogger("lanfax.outbound")
# aiosmtpd narrates every command at INFO (AUTH exchanges at DEBUG) and warns of its own
# deprecated login_data at each login.
logging.getLogger("mail.log").setLevel(logging.ERROR)


def _collect(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    """aiosmtpd's (synchronous) authenticator: only hands the credentials on."""
    return AuthResult(success=True, handled=False, auth_data=data)


def _peer_ip(session: Any) -> str:
    peer = session.peer
    return str(peer[0]) if isinstance(peer, tuple) and peer else str(peer or "")


class _Handler:
    def __init__(self, gateway: MailGateway) -> None:
        self.g = gateway

    # -- AUTH -----------------------------------------------------------------------------

    async def _check(self, server: SMTP, result: AuthResult) -> AuthResult:
        if not result.success or not isinstance(result.auth_data, LoginPassword):
            return result  # aiosmtpd answered already (bad base64, '*')
        try:
            login = result.auth_data.login.decode("utf-8")
            password = result.auth_data.password.decode("utf-8")
        except UnicodeDecodeError:
            return AuthResult(
                success=False, handled=False, message="535 5.7.8 the login is not UTF-8"
            )
        address = _peer_ip(server.session)
        try:
            caller = await self.g.security.authenticate(
                authorization=policy.authorization_header(login, password),
                user_header=login,
                address=address,
            )
        except Unauthenticated as exc:
            log.info("e-mail to fax: AUTH refused for %r from %s: %s", login, address, exc)
            await self.g.audit(login[:64], address, "smtp_auth", "", exc.message)
            return AuthResult(success=False, handled=False, message=f"535 5.7.8 {exc.message}")
        except RateLimited as exc:
            reply = f"454 4.7.0 {exc.message}; {exc.hint}"
            return AuthResult(success=False, handled=False, message=reply)
        await self.g.connected(caller.user)
        return AuthResult(
            success=True,
            auth_data=caller,
            message=f"235 2.7.0 logged in as {caller.user}",
        )

    async def auth_PLAIN(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._check(server, await SMTP.auth_PLAIN(server, None, args))

    async def auth_LOGIN(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._check(server, await SMTP.auth_LOGIN(server, None, args))

    # -- the envelope ---------------------------------------------------------------------

    def _who(self, server: SMTP, session: Any) -> tuple[Caller | None, bool]:
        caller = session.auth_data if isinstance(session.auth_data, Caller) else None
        relay = caller is None and policy.is_trusted(
            _peer_ip(session), self.g.settings.trusted_relays
        )
        return caller, relay

    async def handle_RCPT(
        self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        s = self.g.settings
        caller, relay = self._who(server, session)
        refusal = policy.rcpt_refusal(
            user=caller.user if caller else None,
            relay=relay,
            may_submit=caller is None
            or (caller.holds(AccessRight.JOB_SUBMIT) and caller.holds(AccessRightEx.SUBMIT_NORMAL)),
            count=len(envelope.rcpt_tos),
            max_recipients=s.max_recipients,
            tls_required_for_auth=self.g.auth_requires_tls,
            tls_active=session.ssl is not None or s.implicit_tls,
        )
        if refusal is not None:
            return refusal
        try:
            rcpt = parse_recipient(address, s.domain)
        except BadRecipient as exc:
            return exc.reply
        if rcpt.is_contact:
            # A logged-in sender hears at once whether its address book knows the name; a
            # relayed mail's user is known at DATA, and its names are looked up then.
            refusal = await self._look_up(caller, rcpt.contact) if caller else None
            if refusal is not None:
                return refusal
            envelope.rcpt_tos.append(address)
            return f"250 2.1.5 fax to the address book's {rcpt.contact!r}"
        envelope.rcpt_tos.append(address)
        named = f" ({rcpt.name})" if rcpt.name else ""
        return f"250 2.1.5 fax to {rcpt.number}{named}"

    async def _look_up(self, caller: Caller, name: str) -> str | None:
        try:
            found = await self.g.service.contacts.directory(caller, [name_key(name)])
        except InvalidInput as exc:  # a contact without a number, an empty list
            return f"550 5.1.1 {exc.message}"
        if found:
            return None
        return (
            f"550 5.1.1 no contact or distribution list named {name!r} in your address book "
            f"or the shared one: write NUMBER@{self.g.settings.domain}"
        )

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        s = self.g.settings
        caller, relay = self._who(server, session)
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        if caller is not None:
            user, via = caller.user, caller.via
        elif relay:
            frm = sender_address(raw)
            if self.g.security.enabled:
                users = {u.name for u in await self.g.security.list_users()}
                mapped = policy.map_sender(frm, users, s.sender_domains, s.senders)
            else:
                mapped = frm or None
            refusal = policy.relay_sender_refusal(frm, mapped)
            if refusal is not None or mapped is None:
                log.info("e-mail to fax: relayed mail from %r refused: no lanfax user", frm)
                await self.g.audit(frm[:64], _peer_ip(session), "smtp_relay", frm, "no user")
                return refusal or "550 5.7.1 no sender"
            user, via = mapped, "relay" if self.g.security.enabled else "none"
            await self.g.connected(mapped)
            if self.g.security.enabled:
                info = await self.g.security.get_user(mapped)
                basic, ext = effective_rights(info.role, info.granted, info.revoked)
                if AccessRight.JOB_SUBMIT not in basic or AccessRightEx.SUBMIT_NORMAL not in ext:
                    return (
                        f"550 5.7.1 user {mapped!r} (From: {frm}) lacks the right to send "
                        "faxes (submit_normal); ask an administrator"
                    )
        else:  # unreachable: RCPT refused it already
            return "530 5.7.0 authentication required"
        if caller is not None and self.g.security.enabled:
            try:
                self.g.security.check_rate(caller)
            except RateLimited as exc:
                return f"451 4.7.0 {exc.message}; {exc.hint}"
        recipients = tuple(parse_recipient(a, s.domain) for a in envelope.rcpt_tos)
        spooled = Envelope(
            mail_id=new_mail_id(),
            received_at=self.g.service.clock.now().isoformat(),
            peer=_peer_ip(session),
            mail_from=envelope.mail_from or "",
            recipients=recipients,
            user=user,
            via=via,
        )
        try:
            await self.g.intake.accept(spooled, bytes(raw))
        except OSError as exc:
            log.error("e-mail to fax: cannot spool a mail: %s", exc)
            return "451 4.3.0 the fax server cannot store the mail now; try again later"
        log.info(
            "e-mail to fax: mail %s from %s (%s, %s) for %s",
            spooled.mail_id,
            user,
            via,
            spooled.peer,
            ", ".join(r.number for r in recipients),
        )
        return f"250 2.0.0 queued as {spooled.mail_id}; the answer comes by e-mail"


class MailGateway:
    """The listener and its intake. ``start()``/``stop()`` on the service's loop, after the
    service started and before it stops."""

    def __init__(self, service: FaxService, security: Security, settings: SmtpSettings) -> None:
        self.service = service
        self.security = security
        self.settings = settings
        self.intake = MailIntake(service, security, settings)
        self.auth_requires_tls = policy.auth_requires_tls(settings.loopback, settings.implicit_tls)
        self._server: asyncio.Server | None = None
        self.address: tuple[str, int] = (settings.host, settings.port)

    async def connected(self, user: str) -> None:
        """A user reached the server: its fax account is made on its first connection when
        the server says so (auto_create_account_on_connect), as through the API."""
        accounts = getattr(self.service, "accounts", None)
        if accounts is not None:
            await accounts.on_connect(user)

    async def audit(self, user: str, address: str, action: str, target: str, why: str) -> None:
        """A refused login or sender in the audit trail (as the API's 401 and 403 are)."""
        claimed = Caller(user or "(unknown)", Role.USER, AccessRight(0), AccessRightEx(0), address)
        await self.security.record(
            claimed, action, target, outcome="denied", detail={"via": "smtp", "reason": why}
        )

    def _tls(self) -> ssl.SSLContext | None:
        s = self.settings
        if s.tls_cert is None or s.tls_key is None:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(s.tls_cert, s.tls_key)
        return ctx

    async def start(self) -> None:
        s = self.settings
        tls = self._tls()
        handler = _Handler(self)
        loop = asyncio.get_running_loop()

        def protocol() -> SMTP:
            return SMTP(
                handler,
                hostname=s.hostname,
                ident="lanfax e-mail to fax",
                data_size_limit=s.max_message_bytes,
                enable_SMTPUTF8=True,
                tls_context=None if s.implicit_tls else tls,
                auth_require_tls=self.auth_requires_tls,
                authenticator=_collect,
                loop=loop,
            )

        await self.intake.start()
        family = socket.AF_INET6 if ":" in s.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((s.host, s.port))
            sock.listen(128)
            self._server = await loop.create_server(
                protocol, sock=sock, ssl=tls if s.implicit_tls else None
            )
        except BaseException:
            sock.close()
            await self.intake.stop()
            raise
        self.address = sock.getsockname()[:2]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            # A client still connected must not hold the service's stop for long.
            try:
                await asyncio.wait_for(self._server.wait_closed(), 3.0)
            except TimeoutError:
                log.warning("e-mail to fax: stopped with SMTP clients still connected")
            self._server = None
        await self.intake.stop()
