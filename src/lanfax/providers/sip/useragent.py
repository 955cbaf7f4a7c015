"""The SIP user agent under SipProvider: registration, dialling (INVITE with digest, CANCEL),
and requests from the network (incoming INVITE and CANCEL, in-dialog requests to calls).

:class:`UserAgent` is the signalling half of the provider; :mod:`.provider` adds the
FaxDev* methods. Both use the sans-IO core through :class:`~.transport.SipEndpoint`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from typing import Any, ClassVar

from lanfax.model.codes import ProviderStatus
from lanfax.model.errors import ProviderError
from lanfax.providers.api import FaxDevStatus, IncomingCall
from lanfax.providers.common import (
    LineProvider,
    ProviderJob,
    receiving_status,
    sending_status,
)
from lanfax.providers.sip.auth import DigestError, authorization, parse_challenge
from lanfax.providers.sip.call import SipCall
from lanfax.providers.sip.config import SipConfig
from lanfax.providers.sip.dialog import Dialog, Ids, new_request
from lanfax.providers.sip.media import Ticker
from lanfax.providers.sip.message import NameAddr, Request, Response, Uri, response_to
from lanfax.providers.sip.recipes import DEFAULT as DEFAULT_RECIPE
from lanfax.providers.sip.recipes import Recipe, RecipeBook
from lanfax.providers.sip.sdp import (
    NotAcceptable,
    Offerer,
    parse_sdp,
)
from lanfax.providers.sip.transport import Address, EndpointBase

__all__ = ["SipChannel", "SipJob", "UserAgent"]

_log = logging.getLogger("lanfax.providers.sip")


class RegistrarUnavailable(ProviderError):
    """REGISTER got no answer, a transport failure or a 5xx "try later": retried, not fatal."""


@dataclass
class SipChannel:
    local_id: str
    index: int
    job: SipJob | None = None
    call: SipCall | None = None

    @property
    def label(self) -> str:
        return self.local_id


class SipJob(ProviderJob):
    def __init__(self, provider: UserAgent, channel: SipChannel) -> None:
        super().__init__(provider, channel.local_id)
        self.channel = channel


class UserAgent(LineProvider[SipChannel, SipJob]):
    """Signalling for the sip provider (abstract: SipProvider adds the FaxDev* methods)."""

    line_noun: ClassVar[str] = "SIP channel"

    def __init__(self) -> None:
        super().__init__()
        self._config: SipConfig | None = None
        self._endpoint: EndpointBase | None = None
        self._ticker: Ticker | None = None
        self.ids = Ids()
        self.calls: dict[str, SipCall] = {}
        self.registered_event = asyncio.Event()
        self.registrations = 0
        self._reg_task: asyncio.Task[None] | None = None
        self.recipes = RecipeBook()
        self._recipe: dict[str, Recipe] = {}  # by Call-ID of our outgoing calls

    # -- accessors ------------------------------------------------------------------------

    @property
    def channels(self) -> list[SipChannel]:
        """The account's channels (the devices), in order."""
        return list(self._lines.values())

    @property
    def config(self) -> SipConfig:
        if self._config is None:
            raise ProviderError("the sip provider is not initialized", hint="call initialize()")
        return self._config

    @property
    def endpoint(self) -> EndpointBase:
        if self._endpoint is None:
            raise ProviderError("the sip provider is not running", hint="call initialize()")
        return self._endpoint

    @property
    def ticker(self) -> Ticker:
        assert self._ticker is not None
        return self._ticker

    @property
    def next_hop(self) -> Address:
        return self.config.proxy

    @property
    def contact(self) -> str:
        ep, cfg = self.endpoint, self.config
        return f"<sip:{cfg.user}@{cfg.local_address}:{ep.local[1]}{ep.uri_params}>"

    @property
    def late_ticks(self) -> int:
        return self._ticker.late_ticks if self._ticker else 0

    @property
    def total_ticks(self) -> int:
        return self._ticker.total_ticks if self._ticker else 0

    def _aor(self) -> NameAddr:
        return NameAddr(Uri("sip", self.config.user, self.config.domain))

    # -- registration ---------------------------------------------------------------------

    async def _register(self, expires: int) -> int:
        """One REGISTER (with digest); returns the granted expiry."""
        cfg = self.config
        call_id = self._reg_call_id
        aor = self._aor()
        response: Response | None = None
        for attempt in range(3):
            self._reg_cseq += 1
            extra: list[tuple[str, str]] = [("Expires", str(expires))]
            if response is not None:
                extra.append(self._credentials(response, "REGISTER", f"sip:{cfg.domain}"))
            request = new_request(
                "REGISTER",
                f"sip:{cfg.registrar[0]}:{cfg.registrar[1]}{self.endpoint.uri_params}",
                from_=aor.with_tag(self._reg_tag),
                to=aor,
                call_id=call_id,
                cseq=self._reg_cseq,
                via_host=cfg.local_address,
                via_port=self.endpoint.local[1],
                transport=self.endpoint.transport_name,
                branch=self.ids.branch(),
                contact=self.contact,
                extra=tuple(extra),
            )
            response = await self.endpoint.request(request, cfg.registrar).final
            if response.status in (401, 407) and attempt < 2:
                continue
            break
        assert response is not None
        if 200 <= response.status < 300:
            granted = expires
            for c in response.get_all("Contact"):
                with contextlib.suppress(Exception):
                    value = NameAddr.parse(c)
                    if value.uri.port == self.endpoint.local[1]:
                        granted = int(dict(value.params).get("expires", granted))
            return granted
        if response.status in (401, 403, 407):
            raise ProviderError(
                f"the registrar refused {cfg.auth_user}@{cfg.domain}:"
                f" {response.status} {response.reason}",
                hint="check user, auth_user and password of the [[providers]] sip table",
            )
        if response.status in (408, 500, 503, 504):
            raise RegistrarUnavailable(
                f"REGISTER failed: {response.status} {response.reason}",
                hint=f"is the registrar {cfg.registrar[0]}:{cfg.registrar[1]} up"
                f" (transport {cfg.transport})? retrying with backoff",
            )
        raise ProviderError(
            f"REGISTER failed: {response.status} {response.reason}",
            hint=f"is {cfg.registrar[0]}:{cfg.registrar[1]} a SIP registrar?",
        )

    async def _register_loop(self, first: asyncio.Future[None]) -> None:
        self._reg_call_id = self.ids.call_id(self.config.local_address)
        self._reg_tag = self.ids.tag()
        self._reg_cseq = 0
        delay = 5.0
        while self._running:
            try:
                granted = await self._register(self.config.register_expires)
            except ProviderError as exc:
                if not first.done():
                    if not isinstance(exc, RegistrarUnavailable):
                        first.set_exception(exc)  # refused: a configuration error
                        return
                    first.set_result(None)  # unreachable for now: the service starts
                self.log_line(logging.ERROR, str(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 300.0)
                continue
            self.registrations += 1
            self.registered_event.set()
            if not first.done():
                first.set_result(None)
            delay = 5.0
            # Refresh before expiry: at half the granted time (RFC 3261 §10.2.4 leaves it open).
            await asyncio.sleep(max(granted / 2, 1.0))

    def _credentials(self, challenge: Response, method: str, uri: str) -> tuple[str, str]:
        cfg = self.config
        proxy = challenge.status == 407
        header = challenge.get("Proxy-Authenticate" if proxy else "WWW-Authenticate")
        if header is None:
            raise ProviderError(f"{challenge.status} without a challenge", hint="a registrar bug")
        try:
            ch = parse_challenge(header)
        except DigestError as exc:
            raise ProviderError(exc.message, hint=exc.hint) from None
        value = authorization(
            ch,
            user=cfg.auth_user,
            password=cfg.password,
            method=method,
            uri=uri,
            cnonce=self.ids.tag(),
        )
        return ("Proxy-Authorization" if proxy else "Authorization", value)

    # -- retry recipes --------------------------------------------------------------------

    def recipe_of(self, call: SipCall) -> Recipe:
        return self._recipe.get(call.call_id, DEFAULT_RECIPE)

    def recipe_bit_rate(self, call: SipCall) -> int:
        rate = self.recipe_of(call).max_bit_rate
        return min(rate or self.config.max_bit_rate, self.config.max_bit_rate)

    def wants_t38(self, call: SipCall) -> bool:
        """Whether this call takes (or offers) T.38 at all."""
        return self.config.t38 != "off" and self.recipe_of(call).t38 != "never"

    def offers_t38(self, call: SipCall) -> bool:
        """Whether this call offers T.38 by re-INVITE itself once it is up: the answering
        side with ``t38 = "offer"``; the caller only under the media-swapped recipe."""
        if not self.wants_t38(call):
            return False
        if call.outgoing:
            return self.recipe_of(call).t38 == "offer"
        return self.config.t38 == "offer"

    def codecs_for(self, call: SipCall) -> tuple[str, ...]:
        return self.config.codecs

    async def _invite(self, call: SipCall, number: str, offer: Any) -> Response | None:
        """Send the INVITE (again with credentials on 401/407); CANCEL it when the answer
        timeout passes or the job is aborted. None: cancelled before an answer."""
        cfg = self.config
        target = cfg.target_uri(number)
        to = NameAddr(Uri.parse(target))
        from_ = self._aor().with_tag(self.ids.tag())
        cseq = 0
        response: Response | None = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + cfg.answer_timeout
        for _attempt in range(3):
            cseq += 1
            extra: list[tuple[str, str]] = list(call.timer_headers())
            extra.append(("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE"))
            if response is not None:
                extra.append(self._credentials(response, "INVITE", target))
            request = new_request(
                "INVITE",
                target,
                from_=from_,
                to=to,
                call_id=call.call_id,
                cseq=cseq,
                via_host=cfg.local_address,
                via_port=self.endpoint.local[1],
                transport=self.endpoint.transport_name,
                branch=self.ids.branch(),
                contact=self.contact,
                extra=tuple(extra),
                body=offer.serialize(),
            )
            call.invite = request

            def provisional(resp: Response, job: SipJob | None = call.channel.job) -> None:
                if resp.status in (180, 183) and job is not None:
                    job.set_status(FaxDevStatus(ProviderStatus.DIALING, "ringing"))

            pending = self.endpoint.request(
                request, self.next_hop, on_provisional=provisional, on_2xx=call.send_ack
            )
            ended: asyncio.Future[Any] = asyncio.ensure_future(call.ended.wait())
            try:
                await asyncio.wait(
                    {pending.final, ended},
                    timeout=max(deadline - loop.time(), 0.01),
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                ended.cancel()
            if not pending.final.done():
                await self._cancel(request)
                try:
                    response = await asyncio.wait_for(asyncio.shield(pending.final), 10)
                except TimeoutError:
                    return None
                if 200 <= response.status < 300:
                    return response  # answered as we cancelled: take the call (§9.1)
                return None if call.cut == "abort" or call.cut == "shutdown" else response
            response = pending.final.result()
            if response.status in (401, 407):
                continue
            return response
        return response

    async def _cancel(self, invite: Request) -> None:
        """§9.1: CANCEL with the INVITE's Via branch, Call-ID, From, To and CSeq number."""
        h: list[tuple[str, str]] = [("Via", invite.get_all("Via")[0])]
        h += [("Route", r) for r in invite.get_all("Route", split=False)]
        h += [
            ("Max-Forwards", "70"),
            ("From", invite["From"]),
            ("To", invite["To"]),
            ("Call-ID", invite.call_id),
            ("CSeq", f"{invite.cseq[0]} CANCEL"),
        ]
        cancel = Request(tuple(h), b"", "CANCEL", invite.uri)
        pending = self.endpoint.request(cancel, self.next_hop)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(pending.final, 5)

    # -- incoming requests ----------------------------------------------------------------

    def _on_request(self, request: Request, source: Address) -> None:
        ep = self.endpoint
        to_tag = request.to.tag
        if to_tag is not None:
            call = self.calls.get(request.call_id)
            if call is None or call.dialog is None or not call.dialog.matches(request):
                if request.method != "ACK":
                    ep.respond(response_to(request, 481, "Call/Transaction Does Not Exist"))
                return
            call.on_request(request)
            return
        if request.method == "INVITE":
            self._incoming(request)
        elif request.method == "CANCEL":
            invite = ep.layer.server_invite(request.top_via.branch)
            call = self.calls.get(request.call_id)
            if invite is None or call is None:
                ep.respond(response_to(request, 481, "Call/Transaction Does Not Exist"))
                return
            ep.respond(response_to(request, 200, "OK"))
            tag = call.dialog.local_tag if call.dialog else self.ids.tag()
            ep.respond(response_to(invite, 487, "Request Terminated", to_tag=tag))
            call.cut = "cancelled"
            call.ended.set()
        elif request.method == "OPTIONS":
            ep.respond(
                response_to(
                    request,
                    200,
                    "OK",
                    to_tag=self.ids.tag(),
                    extra=[("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE")],
                )
            )
        elif request.method != "ACK":
            ep.respond(response_to(request, 405, "Method Not Allowed", to_tag=self.ids.tag()))

    def _incoming(self, invite: Request) -> None:
        ep = self.endpoint
        if invite.call_id in self.calls:
            ep.respond(response_to(invite, 482, "Loop Detected", to_tag=self.ids.tag()))
            return
        channel = next((c for c in self.channels if c.call is None and c.job is None), None)
        if channel is None or not self._running:
            ep.respond(response_to(invite, 486, "Busy Here", to_tag=self.ids.tag()))
            return
        try:
            offer = parse_sdp(invite.body) if invite.body else None
        except NotAcceptable:
            offer = None
        except Exception:
            ep.respond(response_to(invite, 400, "Bad SDP", to_tag=self.ids.tag()))
            return
        call = SipCall(
            self,
            channel,
            outgoing=False,
            call_id=invite.call_id,
            offerer=Offerer(self.config.sdp_address, random.getrandbits(31)),
        )
        call.invite = invite
        call.remote_sdp = offer
        call.dialog = Dialog.as_uas(invite, self.ids.tag())
        call.called_number = Uri.parse(invite.uri).user or invite.to.uri.user
        pai = invite.get("P-Asserted-Identity")
        who = NameAddr.parse(pai) if pai else invite.from_
        call.caller_id = who.uri.user or who.display
        if offer is None:
            ep.respond(
                response_to(invite, 488, "Not Acceptable Here", to_tag=call.dialog.local_tag)
            )
            return
        se = invite.get("Session-Expires")
        if se:
            call.session_expires = max(int(se.split(";")[0].strip() or 0), 4)
            call.refresher_is_us = "refresher=uas" in se
        channel.call = call
        self.calls[call.call_id] = call
        ep.respond(response_to(invite, 180, "Ringing", to_tag=call.dialog.local_tag))
        self._spawn(self._ring(call), f"ring {call.call_id}")

    async def _ring(self, call: SipCall) -> None:
        ring = 0
        try:
            while not call.answered and not call.ended.is_set() and self._running:
                ring += 1
                self._cb().ring(
                    call.channel.local_id,
                    IncomingCall(call.call_id, call.caller_id, call.called_number, ring),
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(call.ended.wait(), self.config.ring_interval)
        finally:
            if not call.answered:
                self._drop(call)
                if self._callbacks is not None:
                    self._callbacks.call_ended(call.channel.local_id, call.call_id)

    def _drop(self, call: SipCall) -> None:
        self.calls.pop(call.call_id, None)
        if call.channel.call is call:
            call.channel.call = None

    def _on_ack(self, invite: Request, ack: Request) -> None:
        call = self.calls.get(invite.call_id)
        if call is not None:
            call.refreshed.set()
            call.acked.set()

    def _on_no_ack(self, invite: Request) -> None:
        call = self.calls.get(invite.call_id)
        if call is not None and call.invite is invite:
            self.log(call, "our 200 OK was never acknowledged: hanging up")
            self._spawn(call.hang_up("no_ack"), "bye")

    # -- plumbing -------------------------------------------------------------------------

    def progress(self, call: SipCall, kind: str, pages: int, info: str) -> None:
        job = call.channel.job
        if job is None:
            return
        if call.outgoing:
            # Pages in the document's numbering: a retry starts at SendOptions.first_page.
            session = call.media.session if call.media is not None else None
            tx_pages = session.tx_pages if session is not None else 0
            first = session.options.first_page if session is not None else 1
            if kind == "negotiated":
                job.set_status(sending_status(0, tx_pages, info, first_page=first))
            elif kind == "page":
                job.set_status(sending_status(pages, tx_pages, job.status.csi, first_page=first))
        elif kind in ("negotiated", "page"):
            job.set_status(
                receiving_status(
                    pages,
                    kind == "page" and info == "EOP",
                    caller_id=call.caller_id,
                    routing=call.called_number,
                )
            )

    def log(self, call: SipCall, message: str) -> None:
        if self._callbacks is not None:
            self._callbacks.log(call.channel.local_id, logging.INFO, message)

    def log_line(self, level: int, message: str) -> None:
        _log.log(level, message)
        if self._callbacks is not None and self.channels:
            self._callbacks.log(self.channels[0].local_id, level, message)
