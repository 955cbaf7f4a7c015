"""The SIP user agent under SipProvider: registration, dialling (INVITE with digest, CANCEL),
and requests from the network (incoming INVITE and CANCEL, in-dialog requests to calls).

:class:`UserAgent` is the signalling half of the provider; :mod:`.provider` adds the
FaxDev* methods. Both use the sans-IO core through :class:`~.transport.SipEndpoint`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import ClassVar

from lanfax.model.codes import ProviderStatus
from lanfax.model.errors import ProviderError
from lanfax.providers.api import FaxDevStatus, IncomingCall
from lanfax.providers.common import (
    CutReason,
    LineProvider,
    ProviderJob,
    receiving_status,
    sending_status,
)
from lanfax.providers.sip.actions import SendRequest
from lanfax.providers.sip.call import SipCall
from lanfax.providers.sip.config import SipConfig
from lanfax.providers.sip.dialog import Ids, new_request
from lanfax.providers.sip.invite import (
    Credentials,
    InviteAction,
    InviteClient,
    Ringing,
    credentials_header,
)
from lanfax.providers.sip.message import (
    NameAddr,
    Request,
    Response,
    SipParseError,
    Uri,
    response_to,
)
from lanfax.providers.sip.recipes import DEFAULT as DEFAULT_RECIPE
from lanfax.providers.sip.recipes import Recipe, RecipeBook
from lanfax.providers.sip.registration import RegisterSchedule, retry_after
from lanfax.providers.sip.sdp import (
    NotAcceptable,
    Offerer,
    SessionDescription,
    parse_sdp,
)
from lanfax.providers.sip.ticker import Ticker
from lanfax.providers.sip.transport import Address, EndpointBase

__all__ = ["SipChannel", "SipJob", "UserAgent"]

_log = logging.getLogger("lanfax.providers.sip")


class RegistrarUnavailable(ProviderError):
    """REGISTER got no answer, a transport failure or a 5xx "try later": retried, not fatal
    (after ``retry_after`` seconds when the registrar said so)."""

    def __init__(
        self, message: str, *, hint: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


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


def _send_nothing(action: SendRequest) -> None:
    """What an INVITE's send becomes once its call is closed."""


def _feed_nothing(step: Callable[[], list[InviteAction]]) -> None:
    """What an INVITE's feed becomes once its call is closed."""


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
        self._schedule = RegisterSchedule(300)  # replaced by the loop's, configured one
        self.recipes = RecipeBook()
        self._recipe: dict[str, Recipe] = {}  # by Call-ID of our outgoing calls
        #: The outcome of each INVITE of ours still without one, by Call-ID: a shutdown
        #: waits for them (their CANCEL answered) before it closes the endpoint.
        self._dialing: dict[str, asyncio.Future[Response | None]] = {}

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
    def endpoint_open(self) -> bool:
        """Whether the endpoint is still there (a call's late timer must not use it)."""
        return self._endpoint is not None

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

    async def _register(self, expires: int) -> tuple[int, float]:
        """One REGISTER (with digest; §10.2.8: again with Min-Expires after a 423);
        returns the granted expiry and when the accepted REGISTER was sent (loop clock)."""
        cfg = self.config
        loop = asyncio.get_running_loop()
        call_id = self._reg_call_id
        aor = self._aor()
        response: Response | None = None
        challenge: Response | None = None
        challenges = 0
        sent_at = loop.time()
        for _ in range(4):  # at most: two challenges, one 423, the answer
            self._reg_cseq += 1
            extra: list[tuple[str, str]] = [("Expires", str(expires))]
            if challenge is not None:
                extra.append(self._credentials(challenge, "REGISTER", f"sip:{cfg.domain}"))
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
            sent_at = loop.time()
            response = await self.endpoint.request(request, cfg.registrar).final
            if response.status in (401, 407) and challenges < 2:
                challenge, challenges = response, challenges + 1
                continue
            if (
                response.status == 423
                and expires > 0
                and self._schedule.too_brief(response.get("Min-Expires"))
            ):
                expires = self._schedule.expires
                continue
            break
        assert response is not None
        if 200 <= response.status < 300:
            granted = expires
            for c in response.get_all("Contact"):
                try:
                    value = NameAddr.parse(c)
                    if value.uri.port == self.endpoint.local[1]:
                        granted = int(dict(value.params).get("expires", granted))
                except (SipParseError, ValueError) as exc:
                    # Another binding's Contact, or an odd expires: ours is what we asked.
                    _log.debug("ignored a Contact in the REGISTER answer: %s", exc)
            return granted, sent_at
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
                retry_after=retry_after(response.get("Retry-After")),
            )
        raise ProviderError(
            f"REGISTER failed: {response.status} {response.reason}",
            hint=f"is {cfg.registrar[0]}:{cfg.registrar[1]} a SIP registrar?",
        )

    async def _register_loop(self, first: asyncio.Future[None]) -> None:
        """REGISTER when :attr:`_schedule` says (its deadlines on the loop's clock)."""
        loop = asyncio.get_running_loop()
        self._reg_call_id = self.ids.call_id(self.config.local_address)
        self._reg_tag = self.ids.tag()
        self._reg_cseq = 0
        schedule = self._schedule = RegisterSchedule(self.config.register_expires)
        while self._running:
            await _until(schedule.due)
            try:
                granted, sent_at = await self._register(schedule.expires)
            except ProviderError as exc:
                if not first.done():
                    if not isinstance(exc, RegistrarUnavailable):
                        first.set_exception(exc)  # refused: a configuration error
                        return
                    first.set_result(None)  # unreachable for now: the service starts
                self.log_line(logging.ERROR, str(exc))
                wait = exc.retry_after if isinstance(exc, RegistrarUnavailable) else None
                schedule.failed(loop.time(), wait)
                continue
            self.registrations += 1
            self.registered_event.set()
            if not first.done():
                first.set_result(None)
            schedule.granted(granted, sent_at, loop.time())

    def _credentials(self, challenge: Response, method: str, uri: str) -> tuple[str, str]:
        return credentials_header(challenge, self._creds(), method, uri, self.ids.tag())

    def _creds(self) -> Credentials:
        return Credentials(self.config.auth_user, self.config.password)

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

    async def _invite(
        self, call: SipCall, number: str, offer: SessionDescription, display: str = ""
    ) -> Response | None:
        """Send the INVITE (again with credentials on 401/407); CANCEL it when the answer
        timeout passes or the call is stopped (an abort, a shutdown). None: cancelled
        before an answer. The decisions are :class:`.invite.InviteClient`'s."""
        cfg = self.config
        target = cfg.target_uri(number)
        client = InviteClient(
            call.core.settings,
            call_id=call.call_id,
            target=target,
            from_=replace(self._aor(), display=_display(display)).with_tag(self.ids.tag()),
            to=NameAddr(Uri.parse(target)),
            headers=call.timer_headers(),
            body=offer.serialize(),
            credentials=self._creds(),
            answer_timeout=cfg.answer_timeout,
        )
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[Response | None] = loop.create_future()
        timer: asyncio.TimerHandle | None = None
        job = call.channel.job

        def feed(step: Callable[[], list[InviteAction]]) -> None:
            nonlocal timer
            try:
                actions = step()
            except Exception as exc:  # an unusable challenge (ProviderError), or a bug
                if not outcome.done():
                    outcome.set_exception(exc)
                return
            for action in actions:
                if isinstance(action, SendRequest):
                    send(action)
                elif isinstance(action, Ringing):
                    if job is not None:
                        job.set_status(FaxDevStatus(ProviderStatus.DIALING, "ringing"))
                elif not outcome.done():
                    outcome.set_result(action.response)
            if timer is not None:
                timer.cancel()
                timer = None
            deadline = client.next_deadline()
            if deadline is not None:
                timer = loop.call_at(deadline, feed, lambda: client.poll(loop.time()))
            elif client.done:
                # The INVITE has its final answer: the client decides nothing more (it
                # ignores what comes after), so let go now. #19: a call refused before
                # media (busy, not found, no answer) never reaches SipCall.close, and kept
                # the cycle below, with the call and its media, until a full collection.
                release()

        def send(action: SendRequest) -> None:
            if not self.endpoint_open:
                return  # shut down meanwhile: the pending INVITE was cancelled with it
            request = action.request
            if request.method == "INVITE":
                call.invite = request

            def answered(response: Response) -> None:
                feed(lambda: client.response_received(request, response, loop.time()))

            on_2xx = call.send_ack if request.method == "INVITE" else None
            pending = self.endpoint.request(
                request, action.dest, on_provisional=answered, on_2xx=on_2xx
            )

            def final(fut: asyncio.Future[Response]) -> None:
                if fut.cancelled():
                    # The endpoint closed under us (a shutdown): the send is cancelled,
                    # as it was when it awaited this future itself.
                    if not outcome.done():
                        outcome.cancel()
                elif fut.exception() is None:
                    answered(fut.result())

            pending.final.add_done_callback(final)

        def release() -> None:
            # #19: feed and send refer to each other and feed to itself (reference cycles
            # holding the call, its media and everything they hold, ~80 objects a call,
            # until a full collection): once the call is over (SipCall.close), nothing of
            # this INVITE is sent or decided any more.
            nonlocal send, feed
            send, feed = _send_nothing, _feed_nothing

        call.on_close.append(release)
        ended = asyncio.ensure_future(call.ended.wait())
        ended.add_done_callback(
            lambda fut: (
                None if fut.cancelled() else feed(lambda: client.stop(call.cut, loop.time()))
            )
        )
        self._dialing[call.call_id] = outcome
        try:
            feed(lambda: client.start(loop.time()))
            return await outcome
        except asyncio.CancelledError:
            # The send was cancelled rather than stopped through the call: CANCEL the
            # INVITE all the same (§9.1), or the far end rings on until its own timeout.
            # (Cancelled by the endpoint's close instead: there is nothing left to send on.)
            if not client.done:
                feed(lambda: client.stop(CutReason.ABORT, loop.time()))
            raise
        finally:
            self._dialing.pop(call.call_id, None)
            ended.cancel()
            if timer is not None:
                timer.cancel()

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
            if invite is None or call is None or not call.core.ringing:
                ep.respond(response_to(request, 481, "Call/Transaction Does Not Exist"))
                return
            call.on_cancel(request)
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
            offer = None  # 488 below, once the call has its tag
        except SipParseError as exc:
            _log.info("400 to the INVITE of %s: %s", invite.call_id, exc.message)
            ep.respond(response_to(invite, 400, "Bad SDP", to_tag=self.ids.tag()))
            return
        except Exception:
            # Not the far end's SDP but our own bug: say so, and tell the caller it is ours.
            _log.exception("reading the SDP of the INVITE of %s failed", invite.call_id)
            ep.respond(response_to(invite, 500, "Server Internal Error", to_tag=self.ids.tag()))
            return
        call = SipCall(
            self,
            channel,
            outgoing=False,
            call_id=invite.call_id,
            offerer=Offerer(self.config.sdp_address, random.getrandbits(31)),
        )
        call.core.offered(invite, self.ids.tag())
        assert call.dialog is not None
        call.remote_sdp = offer
        call.called_number = Uri.parse(invite.uri).user or invite.to.uri.user
        pai = invite.get("P-Asserted-Identity")
        who = NameAddr.parse(pai) if pai else invite.from_
        call.caller_id = who.uri.user or who.display
        call.caller_name = who.display[:64]  # the display name, as a PBX passes the CNAM
        if offer is None:
            ep.respond(
                response_to(invite, 488, "Not Acceptable Here", to_tag=call.dialog.local_tag)
            )
            return
        channel.call = call
        self.calls[call.call_id] = call
        ep.respond(response_to(invite, 180, "Ringing", to_tag=call.dialog.local_tag))
        call.ring()

    def ring(self, call: SipCall, count: int) -> None:
        """Tell the service the call rings (the core's Ring, every ring_interval)."""
        if self._running and not call.answered and not call.ended.is_set():
            self._cb().ring(
                call.channel.local_id,
                IncomingCall(
                    call.call_id,
                    call.caller_id,
                    call.called_number,
                    count,
                    caller_name=call.caller_name,
                ),
            )

    def ring_ended(self, call: SipCall) -> None:
        """Their call ended before we answered it (a CANCEL, a shutdown, a refusal)."""
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
            call.on_ack()

    def _on_no_ack(self, invite: Request) -> None:
        call = self.calls.get(invite.call_id)
        if call is not None and call.invite is invite:
            self.log(call, "our 200 OK was never acknowledged: hanging up")
            self._spawn(call.hang_up(CutReason.NO_ACK), "bye")

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


async def _until(when: float) -> None:
    """Wait until the event loop's clock reads ``when`` (at once when it has)."""
    loop = asyncio.get_running_loop()
    if when <= loop.time():
        return
    due: asyncio.Future[None] = loop.create_future()
    handle = loop.call_at(when, lambda: None if due.done() else due.set_result(None))
    try:
        await due
    finally:
        handle.cancel()


def _display(name: str) -> str:
    """A sender's name as the From header's display name (the callee's caller name):
    printable, no quote or backslash, at most 64 characters."""
    return "".join(c for c in name if c.isprintable() and c not in '"\\').strip()[:64]
