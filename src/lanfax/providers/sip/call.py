"""One SIP fax call: its dialog, its SDP, its media, and the in-call signalling that makes
fax work on VoIP lines (T.38 switch by re-INVITE, 488 fallback, glare, session timers).

The pure decisions live in the sans-IO modules (:mod:`.sdp` answers offers, :mod:`.dialog`
builds requests and times glare retries and refreshes); this class sequences them with
asyncio and owns the call's resources.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from lanfax.engine.events import SessionResult
from lanfax.model.codes import ProviderStatus
from lanfax.providers.api import CallResult, FaxDevStatus
from lanfax.providers.common import session_result
from lanfax.providers.sip.dialog import Dialog, glare_retry_delay, session_refresh
from lanfax.providers.sip.media import FaxMedia, MediaPorts
from lanfax.providers.sip.message import Request, Response, response_to
from lanfax.providers.sip.sdp import (
    Media,
    NotAcceptable,
    Offerer,
    SessionDescription,
    T38Params,
    answer,
    audio_media,
    negotiated_from_answer,
    parse_sdp,
    t38_media,
)

if TYPE_CHECKING:
    from lanfax.providers.sip.useragent import SipChannel, UserAgent

__all__ = ["SipCall"]

_log = logging.getLogger("lanfax.providers.sip")
#: After its own phase E the callee waits this long for the caller's BYE before hanging up.
HANGUP_GRACE = 4.0
#: A T.38 re-INVITE that meets glare (491) is retried this many times.
GLARE_RETRIES = 3


class SipCall:
    """A call on one channel, incoming or outgoing."""

    def __init__(
        self,
        provider: UserAgent,
        channel: SipChannel,
        *,
        outgoing: bool,
        call_id: str,
        offerer: Offerer,
    ) -> None:
        self.provider = provider
        self.channel = channel
        self.outgoing = outgoing
        self.call_id = call_id
        self.offerer = offerer
        self.dialog: Dialog | None = None
        self.invite: Request | None = None  # the initial INVITE (ours, or theirs)
        self.ports: MediaPorts | None = None
        self.media: FaxMedia | None = None
        self.remote_sdp: SessionDescription | None = None
        self.caller_id = ""
        self.called_number = ""
        self.answered = False
        self.ended = asyncio.Event()
        self.session_ended = asyncio.Event()
        self.refreshed = asyncio.Event()
        self.acked = asyncio.Event()  # the ACK of our 2xx to the initial INVITE
        self.cut: str | None = None  # "remote_bye" | "abort" | "session_expired" | "shutdown"
        self.reinvite_pending = False
        self.t38_refused = False
        self.glare = 0
        self.refreshes = 0
        self.session_expires = provider.config.session_expires
        self.refresher_is_us = outgoing
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- helpers --------------------------------------------------------------------------

    @property
    def t38_params(self) -> T38Params:
        return T38Params(max_bit_rate=self.provider.recipe_bit_rate(self))

    def spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def our_media_line(self, kind: str) -> SessionDescription:
        assert self.ports is not None
        cfg = self.provider.config
        if kind == "t38":
            m = t38_media(cfg.sdp_address, self.ports.udptl_port, self.t38_params)
        else:
            codec = self.media.remote.codec if self.media and self.media.remote else None
            codecs = (codec,) if codec else self.provider.codecs_for(self)
            m = audio_media(cfg.sdp_address, self.ports.rtp_port, codecs)
        return self.offerer.make(m)

    def in_dialog(
        self, method: str, body: bytes = b"", extra: tuple[tuple[str, str], ...] = ()
    ) -> Request:
        assert self.dialog is not None
        p = self.provider
        return self.dialog.request(
            method,
            via_host=p.config.local_address,
            via_port=p.endpoint.local[1],
            transport=p.endpoint.transport_name,
            branch=p.ids.branch(),
            contact=p.contact,
            extra=extra,
            body=body,
        )

    def send_ack(self, response: Response) -> None:
        """ACK a 2xx to an INVITE (§13.2.2.4: a new transaction-less request, the INVITE's
        CSeq number)."""
        assert self.dialog is not None
        number = response.cseq[0]
        ack = self.dialog.request(
            "ACK",
            via_host=self.provider.config.local_address,
            via_port=self.provider.endpoint.local[1],
            transport=self.provider.endpoint.transport_name,
            branch=self.provider.ids.branch(),
            cseq=number,
        )
        self.provider.endpoint.send_direct(ack, self.dialog.next_hop(self.provider.next_hop))

    def timer_headers(self) -> tuple[tuple[str, str], ...]:
        refresher = "uac" if self.refresher_is_us == self.outgoing else "uas"
        return (
            ("Supported", "timer"),
            ("Session-Expires", f"{self.session_expires};refresher={refresher}"),
        )

    # -- media ----------------------------------------------------------------------------

    def on_progress(self, kind: str, pages: int, info: str) -> None:
        self.provider.progress(self, kind, pages, info)
        if kind == "ended":
            self.session_ended.set()

    def start_media(self, media: Media) -> None:
        assert self.media is not None
        self.media.set_remote(media)
        self.provider.ticker.add(self.media)
        self.spawn(self._session_timer(), f"session timer {self.call_id}")
        if media.kind == "audio" and self.provider.offers_t38(self):
            # The answering fax sends CED: that is our "fax detected" moment (a gateway
            # would hear it); switch the call to T.38 before T.30 gets going. (A caller
            # does this only under the media-swapped retry recipe.)
            self.spawn(self.switch_to_t38(), f"t38 switch {self.call_id}")

    async def switch_to_t38(self, *, delay: float = 0.0) -> None:
        """Offer T.38 by re-INVITE; on 491 retry after the §14.1 delay; on any other
        refusal (488...) stay on G.711."""
        if delay:
            await asyncio.sleep(delay)
        if not self.outgoing:
            # §14.1: no re-INVITE before the ACK of the initial INVITE arrived.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.acked.wait(), 32.0)
            if not self.acked.is_set():
                return
        for _attempt in range(GLARE_RETRIES + 1):
            if self.ended.is_set() or self.media is None or self.media.kind == "t38":
                return
            if self.media.pages > 0 or self.media.session_done:
                return  # too late: a page went through on audio, keep it that way
            if self.reinvite_pending:
                await asyncio.sleep(0.2)
                continue
            offer = self.our_media_line("t38")
            response = await self.reinvite(offer)
            if response is None:
                return
            if 200 <= response.status < 300:
                try:
                    agreed = negotiated_from_answer(offer, parse_sdp(response.body))
                except NotAcceptable:
                    self.t38_refused = True
                    return
                self.offerer = self.offerer.sent(offer)
                if agreed.kind == "t38":
                    self.media.set_remote(agreed)
                else:
                    self.t38_refused = True
                return
            if response.status == 491:
                self.glare += 1
                await asyncio.sleep(glare_retry_delay(self.provider.ids, owner=self.outgoing))
                continue
            self.t38_refused = True
            self.provider.log(self, f"far end refused T.38 ({response.status}): staying on G.711")
            return

    async def reinvite(self, offer: SessionDescription) -> Response | None:
        """Send an in-dialog INVITE with ``offer`` and ACK a 2xx; None if the call ended."""
        if self.dialog is None or self.ended.is_set():
            return None
        self.reinvite_pending = True
        try:
            request = self.in_dialog("INVITE", offer.serialize(), self.timer_headers())
            pending = self.provider.endpoint.request(
                request, self.dialog.next_hop(self.provider.next_hop), on_2xx=self.send_ack
            )
            response = await pending.final
            if 200 <= response.status < 300:
                self.send_ack(response)
            return response
        finally:
            self.reinvite_pending = False

    async def _session_timer(self) -> None:
        """RFC 4028: the refresher re-INVITEs at half the interval; the other side hangs up
        when no refresh came in time (a dead far end must not hold the line)."""
        while not self.ended.is_set():
            wait = session_refresh(self.session_expires, self.refresher_is_us)
            if self.refresher_is_us:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.ended.wait(), wait)
                if self.ended.is_set():
                    return
                if self.reinvite_pending:
                    continue
                assert self.media is not None
                offer = self.offerer.sdp or self.our_media_line(self.media.kind)
                response = await self.reinvite(offer)
                if response is not None and 200 <= response.status < 300:
                    self.refreshes += 1
                elif response is not None and response.status in (408, 481):
                    self.provider.log(self, "session refresh failed: hanging up")
                    await self.hang_up("session_expired")
                    return
            else:
                self.refreshed.clear()
                try:
                    await asyncio.wait_for(self.refreshed.wait(), wait)
                except TimeoutError:
                    if not self.ended.is_set():
                        self.provider.log(self, "no session refresh (RFC 4028): hanging up")
                        await self.hang_up("session_expired")
                    return

    # -- in-dialog requests from the far end ----------------------------------------------

    def on_request(self, request: Request) -> None:
        endpoint = self.provider.endpoint
        assert self.dialog is not None
        if not self.dialog.accept_remote_seq(request):
            endpoint.respond(response_to(request, 500, "Server Internal Error (CSeq order)"))
            return
        if request.method == "BYE":
            endpoint.respond(response_to(request, 200, "OK"))
            self.remote_hangup("remote_bye")
        elif request.method == "INVITE":
            self._on_reinvite(request)
        elif request.method in ("UPDATE", "OPTIONS"):
            self.refreshed.set()
            endpoint.respond(response_to(request, 200, "OK", extra=self.timer_headers()))
        else:
            endpoint.respond(
                response_to(
                    request,
                    405,
                    "Method Not Allowed",
                    extra=[("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE")],
                )
            )

    def _on_reinvite(self, request: Request) -> None:
        endpoint = self.provider.endpoint
        self.refreshed.set()
        if self.reinvite_pending:
            # §14.2: glare. Both sides answer 491 and retry after their random delays.
            endpoint.respond(response_to(request, 491, "Request Pending"))
            return
        if self.media is None:
            endpoint.respond(
                response_to(request, 500, "Server Internal Error", extra=[("Retry-After", "1")])
            )
            return
        if not request.body:
            # An offer-less re-INVITE (a refresh): we offer our current SDP in the 200.
            body = (self.offerer.sdp or self.our_media_line(self.media.kind)).serialize()
            self._ok(request, body)
            return
        try:
            offer = parse_sdp(request.body)
            t38 = self.t38_params if self.provider.wants_t38(self) else None
            if self.media.pages > 0 and self.media.kind == "audio":
                t38 = None  # a page already went through on audio: switching now restarts T.30
            ans, agreed = answer(
                offer,
                self.offerer,
                rtp_port=self.ports.rtp_port if self.ports else 0,
                udptl_port=self.ports.udptl_port if self.ports else 0,
                codecs=self.provider.codecs_for(self),
                t38=t38,
            )
        except NotAcceptable as exc:
            self.provider.log(self, f"488 to a re-INVITE: {exc.message}")
            endpoint.respond(response_to(request, 488, "Not Acceptable Here"))
            return
        if (
            self.media.kind == agreed.kind
            and self.offerer.sdp is not None
            and _same_media(self.offerer.sdp, ans)
        ):
            # Nothing changed (a refresh, or "T.38 invite stutter"): same o= version, §8.
            ans = self.offerer.sdp
        self.offerer = self.offerer.sent(ans)
        self.remote_sdp = offer
        self._ok(request, ans.serialize())
        self.media.set_remote(agreed)

    def _ok(self, request: Request, body: bytes) -> None:
        extra = [("Contact", self.provider.contact), *self.timer_headers()]
        extra.append(("Content-Type", "application/sdp"))
        self.provider.endpoint.respond(
            response_to(
                request,
                200,
                "OK",
                to_tag=self.dialog.local_tag if self.dialog else None,
                extra=extra,
                body=body,
            )
        )

    # -- ending ---------------------------------------------------------------------------

    def remote_hangup(self, reason: str) -> None:
        if self.cut is None:
            self.cut = reason
        if self.media is not None:
            self.media.terminate()
        self.ended.set()

    async def hang_up(self, reason: str) -> None:
        """Send BYE (once) and end the media."""
        if self.ended.is_set():
            return
        if self.cut is None and reason != "completed":
            self.cut = reason
        self.ended.set()
        if self.media is not None:
            self.media.terminate()
        if self.dialog is not None:
            request = self.in_dialog("BYE")
            pending = self.provider.endpoint.request(
                request, self.dialog.next_hop(self.provider.next_hop)
            )
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(pending.final, 40)

    async def run_media(self) -> CallResult:
        """Wait for T.30 to end (or the line to be cut), hang up, and build the result."""
        assert self.media is not None
        media = self.media
        ended = asyncio.create_task(self.ended.wait())
        done = asyncio.create_task(self.session_ended.wait())
        try:
            await asyncio.wait({ended, done}, return_when=asyncio.FIRST_COMPLETED)
            if not self.ended.is_set():
                if not self.outgoing:
                    # The caller hangs up after its DCN; give it the chance to.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.ended.wait(), HANGUP_GRACE)
                await self.hang_up("completed")
            # Let phase E of a terminated session arrive (the next tick).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.session_ended.wait(), 2.0)
        finally:
            ended.cancel()
            done.cancel()
            self.provider.ticker.remove(media)
            media.close()
            for task in list(self._tasks):
                task.cancel()
        return self.result(media.result)

    def result(self, res: SessionResult | None) -> CallResult:
        media = self.media
        extra: dict[str, Any] = {
            "media": media.kind if media else "none",
            "t38_switches": media.switches if media else 0,
            "t38_refused": self.t38_refused,
            "glare": self.glare,
            "session_refreshes": self.refreshes,
            "call_id": self.call_id,
            "recipe": self.provider.recipe_of(self).name,
        }
        if media is not None:
            extra.update(media.stats)
            extra["ticks"] = media.ticks
        if self.cut is not None:
            extra["cut"] = self.cut
        routing = self.called_number if not self.outgoing else ""
        caller = self.caller_id if not self.outgoing else ""
        if res is None:
            status = (
                ProviderStatus.USER_ABORT if self.cut == "abort" else ProviderStatus.DISCONNECTED
            )
            return CallResult(
                FaxDevStatus(
                    status, self.cut or "no fax session", caller_id=caller, routing_info=routing
                ),
                extra=extra,
            )
        status = res.provider_status
        if self.cut == "abort":
            status = ProviderStatus.USER_ABORT
        elif self.cut is not None and status is not ProviderStatus.COMPLETED:
            status = ProviderStatus.DISCONNECTED
        elif (
            self.outgoing
            and status is not ProviderStatus.COMPLETED
            and not (media is not None and media.negotiated)
        ):
            status = ProviderStatus.NOT_FAX_CALL
        text = res.text if self.cut is None else f"{res.text} ({self.cut.replace('_', ' ')})"
        return session_result(
            res,
            status,
            text,
            calling=self.outgoing,
            duration=res.line_seconds,
            extra=extra,
            caller_id=caller,
            routing=routing,
        )


def _same_media(a: SessionDescription, b: SessionDescription) -> bool:
    return [replace(m) for m in a.media] == [replace(m) for m in b.media]
