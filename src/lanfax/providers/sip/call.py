"""One SIP fax call on the event loop: the asyncio adapter of :class:`.callcore.CallCore`.

The core decides (T.38 switch and glare, session timers, in-dialog requests, CANCEL, the
hang-up) and keeps the timers; this class owns the call's resources (media ports, the fax
media on the ticker), carries out the core's actions through the SIP endpoint, arms one
loop timer at the core's next deadline, and waits for the call to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lanfax.engine.events import SessionResult
from lanfax.providers.api import CallResult, FaxDevStatus
from lanfax.providers.common import CutReason, call_end, session_result
from lanfax.providers.sip.actions import (
    Action,
    CallSettings,
    Ended,
    Note,
    Respond,
    Ring,
    SendAck,
    SendRequest,
    UseMedia,
)
from lanfax.providers.sip.callcore import CallCore
from lanfax.providers.sip.dialog import Dialog
from lanfax.providers.sip.media import FaxMedia, MediaPorts
from lanfax.providers.sip.message import Request, Response, response_to
from lanfax.providers.sip.sdp import Media, Offerer, SessionDescription, T38Params

if TYPE_CHECKING:
    from lanfax.providers.sip.useragent import SipChannel, UserAgent

__all__ = ["SipCall"]

_log = logging.getLogger("lanfax.providers.sip")
#: How long a BYE of ours may take to be answered before we let the call go.
BYE_WAIT = 40.0


class SipCall:
    """A call on one channel, incoming or outgoing (the state is :attr:`core`'s)."""

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
        cfg = provider.config
        self.core = CallCore(
            CallSettings(
                via_host=cfg.local_address,
                via_port=provider.endpoint.local[1],
                transport=provider.endpoint.transport_name,
                contact=provider.contact,
                next_hop=provider.next_hop,
                sdp_address=cfg.sdp_address,
                codecs=provider.codecs_for(self),
                t38=self.t38_params if provider.wants_t38(self) else None,
                offers_t38=provider.offers_t38(self),
                ids=provider.ids,
                ring_interval=cfg.ring_interval,
            ),
            outgoing=outgoing,
            call_id=call_id,
            offerer=offerer,
            session_expires=cfg.session_expires,
        )
        self._ports: MediaPorts | None = None
        self.media: FaxMedia | None = None
        self.remote_sdp: SessionDescription | None = None
        self.caller_id = ""
        self.caller_name = ""
        self.called_number = ""
        self.ended = asyncio.Event()
        self.session_ended = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._bye: asyncio.Future[Response] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Run once by :meth:`close` (#19: the INVITE's closures let go of each other then,
        #: so the call is freed by reference counting, not left for a full collection).
        self.on_close: list[Callable[[], None]] = []

    # -- the core's state, as the provider reads it ------------------------------------------

    @property
    def dialog(self) -> Dialog | None:
        return self.core.dialog

    @property
    def invite(self) -> Request | None:
        return self.core.invite

    @invite.setter
    def invite(self, request: Request | None) -> None:
        self.core.invite = request

    @property
    def answered(self) -> bool:
        return self.core.answered

    @property
    def cut(self) -> CutReason | None:
        return self.core.cut

    @property
    def offerer(self) -> Offerer:
        return self.core.offerer

    @offerer.setter
    def offerer(self, value: Offerer) -> None:
        self.core.offerer = value

    @property
    def ports(self) -> MediaPorts | None:
        return self._ports

    @ports.setter
    def ports(self, ports: MediaPorts | None) -> None:
        self._ports = ports
        self.core.ports = (ports.rtp_port, ports.udptl_port) if ports else (0, 0)

    @property
    def t38_params(self) -> T38Params:
        return T38Params(max_bit_rate=self.provider.recipe_bit_rate(self))

    def timer_headers(self) -> tuple[tuple[str, str], ...]:
        return self.core.timer_headers()

    def our_media_line(self, kind: str) -> SessionDescription:
        return self.core.our_media_line(kind)

    # -- driving the core ---------------------------------------------------------------------

    def now(self) -> float:
        return self._loop.time()

    def feed(self, actions: list[Action]) -> None:
        """Carry out the core's actions, then re-arm its timer."""
        endpoint = self.provider.endpoint
        for action in actions:
            if isinstance(action, SendRequest):
                self._start(action)
            elif isinstance(action, SendAck):
                endpoint.send_direct(action.ack, action.dest)
            elif isinstance(action, Respond):
                endpoint.respond(action.response)
            elif isinstance(action, UseMedia):
                if self.media is not None:
                    self.media.set_remote(action.media)
            elif isinstance(action, Ended):
                self.ended.set()
                if self.media is not None:
                    self.media.terminate()
                if not self.outgoing and not self.core.answered:
                    self._loop.call_soon(self.provider.ring_ended, self)
            elif isinstance(action, Ring):
                # As the ringing task did: the service hears of it from the loop.
                self._loop.call_soon(self.provider.ring, self, action.count)
            elif isinstance(action, Note):
                self.provider.log(self, action.message)
        self._arm()

    def _start(self, action: SendRequest) -> None:
        request = action.request

        def answered(response: Response) -> None:
            if self._open():
                self.feed(self.core.response_received(request, response, self.now()))

        pending = self.provider.endpoint.request(request, action.dest, on_2xx=answered)
        if request.method == "BYE":
            self._bye = pending.final

        def final(fut: asyncio.Future[Response]) -> None:
            if not fut.cancelled() and fut.exception() is None:
                answered(fut.result())

        pending.final.add_done_callback(final)

    def _open(self) -> bool:
        return self.provider.endpoint_open

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.core.next_deadline()
        if deadline is not None and self._open():
            self._timer = self._loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self.feed(self.core.poll(self.now()))

    def spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- events from the provider ------------------------------------------------------------

    def send_ack(self, response: Response) -> None:
        """ACK a (repeated) 2xx to our INVITE (§13.2.2.4)."""
        self.feed([self.core.ack_for(response)])

    def accepted(self, invite: Request, response: Response) -> None:
        """Our INVITE was answered: the dialog exists; ACK it."""
        self.feed(self.core.accepted(invite, response))

    def answer(self, body: bytes) -> None:
        """Answer their INVITE with our 200 OK."""
        self.feed([self.core.answer_ok(body)])

    def on_request(self, request: Request) -> None:
        try:
            actions = self.core.request_received(request, self.now())
        except Exception:
            # Not the far end's fault (bad SDP is a 400 or 488 from the core): our own bug.
            # Log it and answer 500 rather than leave the far end retransmitting.
            _log.exception("handling %s in call %s failed", request.method, self.call_id)
            actions = [Respond(response_to(request, 500, "Server Internal Error"))]
        self.feed(actions)

    def on_ack(self) -> None:
        self.feed(self.core.ack_received(self.now()))

    def ring(self) -> None:
        """Their call rings here (our 180 is out): rings until answered or ended."""
        self.feed(self.core.ring(self.now()))

    def on_cancel(self, cancel: Request) -> None:
        self.feed(self.core.cancel_received(cancel))

    def stop(self, cut: CutReason | None) -> None:
        """End a call that was not answered (no BYE: the INVITE's CANCEL or our final
        response ends it)."""
        self.feed(self.core.stop(cut))

    # -- media ----------------------------------------------------------------------------------

    def on_progress(self, kind: str, pages: int, info: str) -> None:
        self.provider.progress(self, kind, pages, info)
        if self._open():  # not once the provider shut down (a media report can come after)
            self.feed(self.core.progress(kind, pages, self.now()))
        if kind == "ended":
            self.session_ended.set()

    def start_media(self, media: Media) -> None:
        assert self.media is not None
        self.feed(self.core.media_started(media, self.now()))  # UseMedia: the session starts
        self.provider.ticker.add(self.media)

    # -- ending ---------------------------------------------------------------------------------

    async def hang_up(self, reason: CutReason | None) -> None:
        """Send BYE (once) and end the media; ``reason`` None: T.30 completed."""
        if self.core.ended:
            return
        self.feed(self.core.hang_up(reason))
        await self._bye_answered()

    async def _bye_answered(self) -> None:
        """Wait (at most BYE_WAIT) for the answer to our BYE, if we sent one; a BYE that
        the closing endpoint gave up on ends the wait too."""
        if self._bye is not None:
            await asyncio.wait({self._bye}, timeout=BYE_WAIT)

    async def run_media(self) -> CallResult:
        """Wait for the call to end (the core hangs up once T.30 is over, or the line is
        cut), for our BYE's answer, and for phase E; build the result."""
        assert self.media is not None
        media = self.media
        try:
            await self.ended.wait()
            await self._bye_answered()
            # Let phase E of a terminated session arrive (the next tick).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.session_ended.wait(), 2.0)
        finally:
            self.close()
            self.provider.ticker.remove(media)
            media.close()
        return self.result(media.result)

    def close(self) -> None:
        """Stop the timer and the call's tasks (the call is over for the provider)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in list(self._tasks):
            task.cancel()
        closers, self.on_close = self.on_close, []
        for closer in closers:
            closer()

    def result(self, res: SessionResult | None) -> CallResult:
        media, core = self.media, self.core
        extra: dict[str, Any] = {
            "media": media.kind if media else "none",
            "t38_switches": media.switches if media else 0,
            "t38_refused": core.t38_refused,
            "glare": core.glare,
            "session_refreshes": core.refreshes,
            "call_id": self.call_id,
            "recipe": self.provider.recipe_of(self).name,
        }
        if media is not None:
            extra.update(media.stats)
            extra["ticks"] = media.ticks
        if core.cut is not None:
            extra["cut"] = core.cut.value
        routing = self.called_number if not self.outgoing else ""
        caller = self.caller_id if not self.outgoing else ""
        negotiated = media is not None and media.negotiated
        end = call_end(res, core.cut, calling=self.outgoing, negotiated=negotiated)
        if res is None:
            return CallResult(
                FaxDevStatus(end.status, end.text, caller_id=caller, routing_info=routing),
                extra=extra,
            )
        return session_result(
            res,
            end.status,
            end.text,
            calling=self.outgoing,
            duration=res.line_seconds,
            extra=extra,
            caller_id=caller,
            routing=routing,
        )
