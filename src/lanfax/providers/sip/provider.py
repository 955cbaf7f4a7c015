"""SipProvider: fax lines on a SIP account (see docs/sip.md).

One account, one SIP endpoint (UDP or TCP), ``channels`` devices that share the registration. A send
dials ``uri_template`` with an INVITE offering G.711 (digest on 401/407, CANCEL on the answer
timeout or an abort), maps failure responses to device statuses, and on 2xx runs the fax in
real time; a receive answers the INVITE that made the line ring. T.38 arrives by re-INVITE,
in either direction (see :mod:`.callcore`).

Retry recipes: when a fax to a number fails after the far end answered (or on 488), the
next send to that number uses the next recipe, in a cycle (T.38 <-> G.711, then 9600 bit/s
with ECM toggled, then the default again); a success resets it. The recipe is in
``CallResult.extra["recipe"]`` of every result.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

from lanfax.engine import tx_pages
from lanfax.engine.options import MODEM_BITS, SessionOptions
from lanfax.model.codes import PortFlags, ProviderStatus
from lanfax.model.errors import ProviderError
from lanfax.providers.api import (
    CallResult,
    FaxDevStatus,
    FaxReceive,
    FaxSend,
    JobHandle,
    OnCallInProgress,
    ProviderDevice,
    SendOptions,
    ServiceCallbacks,
)
from lanfax.providers.common import CutReason, ReceiveGuard, sending_status, session_options
from lanfax.providers.sip.call import SipCall
from lanfax.providers.sip.config import parse_config
from lanfax.providers.sip.dialog import status_for_response
from lanfax.providers.sip.media import FaxMedia, bind_media
from lanfax.providers.sip.message import response_to
from lanfax.providers.sip.sdp import (
    NotAcceptable,
    Offerer,
    answer,
    negotiated_from_answer,
    parse_sdp,
)
from lanfax.providers.sip.tcp import TcpEndpoint
from lanfax.providers.sip.ticker import Ticker
from lanfax.providers.sip.transport import SipEndpoint
from lanfax.providers.sip.useragent import SipChannel, SipJob, UserAgent

__all__ = ["SipProvider"]

_log = logging.getLogger("lanfax.providers.sip")
#: How long a shutdown keeps the endpoint open for the answers to the CANCELs of the
#: INVITEs it stopped (two UDP sends of each CANCEL: T1 is 0.5 s).
SHUTDOWN_CANCEL_WAIT = 1.0


class SipProvider(UserAgent):
    """Fax over a SIP trunk or PBX: G.711 and T.38 (docs/sip.md)."""

    name: ClassVar[str] = "sip"
    friendly_name: ClassVar[str] = "SIP trunk (T.38 and G.711)"

    # -- FaxDevInitialize / VirtualDeviceCreation / Shutdown ------------------------------

    async def initialize(self, config: Mapping[str, Any], callbacks: ServiceCallbacks) -> None:
        self._check_not_running()
        self._config = parse_config(config)
        self._callbacks = callbacks
        cfg = self._config
        endpoint = TcpEndpoint if cfg.transport == "tcp" else SipEndpoint
        self._endpoint = endpoint(self._on_request, self._on_ack, self._on_no_ack)
        try:
            await self._endpoint.open(cfg.local_address, cfg.sip_port)
        except OSError as exc:
            raise ProviderError(
                f"cannot bind SIP port {cfg.local_address}:{cfg.sip_port}: {exc.strerror}",
                hint="choose another sip_port (0 = any free port) or local_address",
            ) from None
        self._ticker = Ticker(realtime=cfg.realtime)
        channels = [SipChannel(f"sip:{cfg.user}:{i + 1}", i) for i in range(cfg.channels)]
        self._lines = {ch.local_id: ch for ch in channels}
        self._running = True
        if cfg.register:
            first: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._reg_task = asyncio.get_running_loop().create_task(self._register_loop(first))
            try:
                await asyncio.wait_for(asyncio.shield(first), 10.0)
            except TimeoutError:
                pass
            except ProviderError:
                await self.shutdown()
                raise
            if not self.registered_event.is_set():
                self.log_line(
                    logging.WARNING,
                    "the registrar did not answer yet (or cannot be reached);"
                    " retrying in the background",
                )
        for ch in self.channels:
            callbacks.log(
                ch.local_id, logging.INFO, f"SIP channel {ch.index + 1} of {cfg.user} is up"
            )

    def virtual_devices(self) -> list[ProviderDevice]:
        cfg = self.config
        caps = {"t38": cfg.t38 != "off", "codecs": list(cfg.codecs), "max_rate": cfg.max_bit_rate}
        return [
            ProviderDevice(
                local_id=ch.local_id,
                name=f"{cfg.name} #{ch.index + 1}",
                number=cfg.user,
                flags=PortFlags.SEND | PortFlags.RECEIVE,
                capabilities=dict(caps),
            )
            for ch in self.channels
        ]

    async def shutdown(self) -> None:
        if not self._running:
            return
        self._running = False
        dialing = list(self._dialing.values())
        for call in list(self.calls.values()):
            if call.answered:
                await call.hang_up(CutReason.SHUTDOWN)
            elif call.outgoing:
                call.stop(CutReason.SHUTDOWN)  # its INVITE client sends the CANCEL
            else:
                self._refuse_invite(call, 480, "Temporarily Unavailable")
        if dialing:
            # §9.1: each INVITE we stopped is CANCELled from the loop: keep the endpoint
            # open until the far ends answered, briefly (a far end that does not answer
            # in time has its INVITE time out on its own; a shutdown stays quick).
            await asyncio.wait(dialing, timeout=SHUTDOWN_CANCEL_WAIT)
        if self._reg_task is not None:
            self._reg_task.cancel()
            try:
                await self._reg_task
            except asyncio.CancelledError:
                pass  # what we asked for
            except Exception:
                # The loop handles the registrar's refusals itself: this is our own bug,
                # and it ended the registrations before the shutdown did.
                _log.exception("the SIP registration loop had failed")
            if self.registrations:
                try:
                    await asyncio.wait_for(self._register(0), 3.0)
                except (ProviderError, TimeoutError) as exc:
                    # The registrar is gone or refuses: the binding expires by itself.
                    _log.warning("could not unregister from the SIP registrar: %s", exc)
                except Exception:
                    _log.exception("unregistering from the SIP registrar failed")
        for task in list(self._tasks):
            task.cancel()
        if self._ticker is not None:
            self._ticker.close()
        if self._endpoint is not None:
            self._endpoint.close()
            self._endpoint = None

    # -- jobs -----------------------------------------------------------------------------

    def _new_job(self, line: SipChannel) -> SipJob:
        return SipJob(self, line)

    async def abort(self, handle: JobHandle) -> None:
        job = self._job(handle)
        job.aborted = True
        call = job.channel.call
        if call is not None:
            if call.answered:
                await call.hang_up(CutReason.ABORT)
            elif not call.ended.is_set():
                call.stop(CutReason.ABORT)

    def _move_ringing_call(self, ch: SipChannel) -> bool:
        """An incoming call rings on the channel the service picked for a send: move it to
        a free channel (the service answers on whichever line it chooses, see receive)."""
        call = ch.call
        free = next((c for c in self.channels if c.call is None and c.job is None), None)
        if call is None or call.outgoing or call.answered or free is None:
            return call is None
        call.channel, free.call, ch.call = free, call, None
        return True

    # -- FaxDevSend -----------------------------------------------------------------------

    async def send(
        self, handle: JobHandle, fax: FaxSend, on_call_in_progress: OnCallInProgress
    ) -> CallResult:
        job = self._job(handle)
        cfg = self.config
        ch = job.channel
        if job.aborted:
            return self._final(job, ProviderStatus.USER_ABORT, "aborted before dialing")
        # #19: remembered per file version, so the call's sessions do not parse it again.
        pages = tx_pages(fax.file_name)
        number = fax.receiver_number
        recipe = self.recipes.next_for(number)
        tried = {"recipe": recipe.name}
        options = fax.options
        if recipe.toggle_ecm:
            options = replace(options, ecm=not options.ecm)
        if recipe.max_bit_rate is not None and recipe.max_bit_rate < 12000:
            # V.17 is the only modem above 9600 bit/s: leave it out (T.38 gets the same cap
            # through T38MaxBitRate, see recipe_bit_rate).
            modems = (options.modems or frozenset(MODEM_BITS)) - {"v17"}
            options = replace(options, modems=modems)
        session_options = _session_options(fax.caller_number or cfg.ident, options, fax)
        if ch.call is not None and not self._move_ringing_call(ch):
            return self._final(
                job, ProviderStatus.LINE_UNAVAILABLE, "an incoming call is ringing", tried
            )
        call_id = self.ids.call_id(cfg.local_address)
        self._recipe[call_id] = recipe
        call = SipCall(
            self,
            ch,
            outgoing=True,
            call_id=call_id,
            offerer=Offerer(cfg.sdp_address, random.getrandbits(31)),
        )
        call.called_number = number
        ch.call = call
        self.calls[call_id] = call
        try:
            call.ports = await bind_media(cfg.media_address, cfg.media_ports)
            call.media = FaxMedia(
                call.ports,
                calling=True,
                options=session_options,
                tx_file=fax.file_name,
                rx_file=None,
                jitter_frames=cfg.jitter_frames,
                redundancy=cfg.t38_redundancy,
                max_seconds=cfg.max_call_seconds,
                on_progress=call.on_progress,
            )
            job.set_status(FaxDevStatus(ProviderStatus.DIALING, f"dialing {number}"))
            offer = call.our_media_line("audio")
            response = await self._invite(call, number, offer, fax.caller_name)
            if response is None or not 200 <= response.status < 300:
                if call.cut is CutReason.ABORT or job.aborted:
                    return self._final(
                        job, ProviderStatus.USER_ABORT, "aborted while dialing", tried
                    )
                if response is None and call.cut is CutReason.SHUTDOWN:
                    return self._final(
                        job, ProviderStatus.DISCONNECTED, "the provider shut down", tried
                    )
                if response is None:
                    return self._final(job, ProviderStatus.NO_ANSWER, "no answer", tried)
                status = status_for_response(response.status)
                if response.status in (488, 606):
                    # No common media: the next recipe may offer other media. Busy, no
                    # answer, 404... say nothing about the fax path: the recipe stays.
                    self.recipes.failed(number, "none")
                return self._final(job, status, f"{response.status} {response.reason}", tried)
            call.offerer = call.offerer.sent(offer)
            assert call.invite is not None
            call.accepted(call.invite, response)
            if call.ended.is_set():
                # Stopped while the 2xx was on its way (it crossed our CANCEL): the call
                # was taken only to be ended with a BYE (the core sent it).
                if call.cut is CutReason.ABORT or job.aborted:
                    return self._final(
                        job, ProviderStatus.USER_ABORT, "aborted while dialing", tried
                    )
                return self._final(
                    job, ProviderStatus.DISCONNECTED, "the provider shut down", tried
                )
            try:
                media = negotiated_from_answer(offer, parse_sdp(response.body))
            except NotAcceptable as exc:
                await call.hang_up(CutReason.BAD_ANSWER)
                self.recipes.failed(number, "none")
                return self._final(
                    job, ProviderStatus.FATAL_ERROR, f"unusable SDP answer: {exc.message}", tried
                )
            on_call_in_progress()
            job.set_status(sending_status(0, pages, first_page=fax.options.first_page))
            call.start_media(media)
            result = await call.run_media()
            if result.ok:
                self.recipes.succeeded(number)
            elif not job.aborted:  # our own abort says nothing about the path
                self.recipes.failed(number, str(result.extra.get("media", "none")))
            job.set_status(result.status)
            self.log(
                call,
                f"call to {number} ended: {result.status.status_id.name},"
                f" {result.pages} page(s), {result.extra.get('media')}",
            )
            return result
        except BaseException:
            # Whatever failed once the far end answered (a bug of ours, a cancellation),
            # the call must not stay up there: BYE (an INVITE still out is CANCELled by
            # _invite itself).
            if call.answered and not call.core.ended:
                call.feed(call.core.hang_up(CutReason.SHUTDOWN))
            raise
        finally:
            if call.media is not None:
                self.ticker.remove(call.media)
                call.media.close()
            elif call.ports is not None:
                call.ports.close()
            self.calls.pop(call_id, None)
            self._recipe.pop(call_id, None)
            if ch.call is call:
                ch.call = None

    # -- FaxDevReceive --------------------------------------------------------------------

    async def receive(self, handle: JobHandle, fax: FaxReceive) -> CallResult:
        job = self._job(handle)
        cfg = self.config
        ch = job.channel
        call = ch.call
        if call is None or call.outgoing or call.ended.is_set() or call.answered:
            # The line the service answered may differ from the one that rang: take any.
            call = next(
                (
                    c
                    for c in self.calls.values()
                    if not c.outgoing and not c.answered and not c.ended.is_set()
                ),
                None,
            )
            if call is None:
                return self._final(job, ProviderStatus.DISCONNECTED, "no call to answer")
            if call.channel is not ch and call.channel.call is call:
                call.channel.call = None
            call.channel = ch
            ch.call = call
        if job.aborted:
            return self._final(job, ProviderStatus.USER_ABORT, "aborted before answering")
        options = _session_options(fax.receiver_number or cfg.ident, fax.options, None)
        assert call.invite is not None and call.dialog is not None and call.remote_sdp is not None
        try:
            return await self._answer(job, fax, call, options)
        except BaseException as exc:
            # Whatever failed (no free media port, a bug of ours, a cancellation), the
            # caller must not be left ringing until its own timer gives up: a final
            # response to the INVITE we did not answer, a BYE to the one we did.
            if not call.answered:
                if isinstance(exc, asyncio.CancelledError):  # the service gave the call up
                    self._refuse_invite(call, 480, "Temporarily Unavailable")
                elif isinstance(exc, ProviderError):  # no media port, say
                    self._refuse_invite(call, 503, "Service Unavailable")
                else:  # our own bug (the service logs it)
                    self._refuse_invite(call, 500, "Server Internal Error")
            elif not call.core.ended:
                call.feed(call.core.hang_up(CutReason.SHUTDOWN))  # the BYE, not awaited
            raise
        finally:
            if call.media is not None:
                self.ticker.remove(call.media)
                call.media.close()
            elif call.ports is not None:
                call.ports.close()
            self._drop(call)

    async def _answer(
        self, job: SipJob, fax: FaxReceive, call: SipCall, options: SessionOptions
    ) -> CallResult:
        """Bind the media, answer the INVITE and run the fax (receive's body)."""
        cfg = self.config
        assert call.invite is not None and call.dialog is not None and call.remote_sdp is not None
        call.ports = await bind_media(cfg.media_address, cfg.media_ports)

        loop = asyncio.get_running_loop()

        def cut_short() -> None:
            # The guard refused the call: end T.30 now and send BYE at once (the caller
            # would otherwise repeat its frames for many seconds before giving up).
            # Called from a media step, on the Ticker's thread: the BYE goes from the loop.
            if call.media is not None:
                call.media.terminate()
            loop.call_soon_threadsafe(_refuse, call)

        guard = ReceiveGuard(fax, cut_short)
        call.media = FaxMedia(
            call.ports,
            calling=False,
            options=options,
            tx_file=None,
            rx_file=fax.file_name,
            jitter_frames=cfg.jitter_frames,
            redundancy=cfg.t38_redundancy,
            max_seconds=cfg.max_call_seconds,
            on_progress=call.on_progress,
            watch=guard.observe if guard.active else None,
        )
        try:
            sdp, media = answer(
                call.remote_sdp,
                call.offerer,
                rtp_port=call.ports.rtp_port,
                udptl_port=call.ports.udptl_port,
                codecs=cfg.codecs,
                t38=call.t38_params if self.wants_t38(call) else None,
            )
        except NotAcceptable as exc:
            self._refuse_invite(call, 488, "Not Acceptable Here")
            return self._final(job, ProviderStatus.FATAL_ERROR, exc.message)
        if call.ended.is_set():
            return self._final(job, ProviderStatus.DISCONNECTED, "the caller hung up")
        call.offerer = call.offerer.sent(sdp)
        job.set_status(
            FaxDevStatus(
                ProviderStatus.ANSWERED,
                "answered",
                caller_id=call.caller_id,
                routing_info=call.called_number,
            )
        )
        call.answer(sdp.serialize())
        call.start_media(media)
        result = guard.outcome(await call.run_media())
        job.set_status(result.status)
        self.log(
            call,
            f"call from {call.caller_id} ended: {result.status.status_id.name},"
            f" {result.pages} page(s), {result.extra.get('media')}",
        )
        return result

    def _refuse_invite(self, call: SipCall, status: int, reason: str) -> None:
        """A final response to their INVITE that we did not answer, and the end of the
        call (it rings no more). Nothing when it was answered or has ended already."""
        if call.answered or call.ended.is_set() or call.invite is None:
            return
        with contextlib.suppress(ValueError):  # its transaction has its final already
            self.endpoint.respond(
                response_to(
                    call.invite,
                    status,
                    reason,
                    to_tag=call.dialog.local_tag if call.dialog else self.ids.tag(),
                )
            )
        call.stop(None)


def _session_options(ident: str, options: SendOptions, fax: FaxSend | None) -> SessionOptions:
    header = options.page_header
    if header is None and fax is not None and fax.branding:
        header = fax.caller_name or fax.caller_number or None
    # The T.30 trace is not passed on to SIP sessions yet (docs/configuration.md says so).
    untraced = replace(options, trace_level=None)
    return session_options(untraced, ident[:20], page_header=header)


def _refuse(call: SipCall) -> None:
    """Hang up a call its ReceiveGuard cut (on the event loop)."""
    call.spawn(call.hang_up(CutReason.REFUSED), f"refuse {call.call_id}")
