"""Iax2Provider: N fax channels on one IAX2 peer (an Asterisk PBX, or iaxmodem + HylaFAX).

One UDP socket carries every call; the sans-IO :class:`~.endpoint.Endpoint` demultiplexes
them and this module does the I/O: a datagram protocol feeds it, one timer drives its
retransmissions and keep-alives, and each connected call runs a
:class:`~.media.VoicePump` (spandsp's audio terminal, paced at 20 ms).

Until the answer, the decisions are the sans-IO cores' of :mod:`.callsetup`; this adapter
feeds them the call's events and the loop's time, and does what their actions say.

Outgoing: NEW → ACCEPT (or AUTHREQ → AUTHREP, or REJECT) → RINGING → ANSWER → fax → HANGUP.
:meth:`Iax2Provider.send` waits for the call's next event, the job's abort, or the
:class:`~.callsetup.Dialer`'s deadline (the answer timeout), whichever comes first.
Incoming: NEW → ACCEPT + RINGING; the device rings (``callbacks.ring`` every
``ring_interval``) until the service calls :meth:`Iax2Provider.receive`, which answers. The
:class:`~.callsetup.Ringer` is fed from the datagram callback and woken by one timer at its
deadline: no task runs while a line rings.

How a call that did not complete is reported (FS_* statuses):

=====================================================  =====================
far end / network                                      status
=====================================================  =====================
REJECT or HANGUP before answer, cause 17 / "busy",     BUSY
CONTROL/BUSY, cause 21 (call rejected)
cause 18, 19, or no ANSWER within ``answer_timeout``   NO_ANSWER
cause 1, 2, 3, 22, 28 (no such number)                 BAD_ADDRESS
cause 34, 38, 41, 42, 58, CONTROL/CONGESTION, the      LINE_UNAVAILABLE
peer never answers our NEW
authentication refused or impossible                   FATAL_ERROR
hangup or lost link after answer, before T.30 ended    DISCONNECTED
answered, but no T.30 heard (no phase B)               NOT_FAX_CALL
=====================================================  =====================
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from lanfax.engine.events import SessionEvent
from lanfax.engine.session import AudioFaxSession
from lanfax.model.codes import PortFlags, ProviderStatus
from lanfax.model.errors import ProviderError
from lanfax.providers.api import (
    CallResult,
    FaxDevStatus,
    FaxReceive,
    FaxSend,
    IncomingCall,
    JobHandle,
    OnCallInProgress,
    ProviderDevice,
    ServiceCallbacks,
)
from lanfax.providers.common import (
    LineProvider,
    ReceiveGuard,
    sending_status,
    session_options,
)
from lanfax.providers.iax2.call import AUDIO_FORMATS, CallState, Iax2Call
from lanfax.providers.iax2.callsetup import (
    Connected,
    Dialer,
    Failed,
    Note,
    Ring,
    RingEnded,
    Ringer,
    RingHeard,
    SetupAction,
)
from lanfax.providers.iax2.channels import (
    CallCtx,
    Iax2Job,
    Line,
    receive_reporter,
    send_reporter,
)
from lanfax.providers.iax2.config import Iax2Config, parse_config
from lanfax.providers.iax2.connected import run_fax
from lanfax.providers.iax2.endpoint import Address, Endpoint
from lanfax.providers.iax2.events import Audio, CallEvent, Closed, Incoming
from lanfax.providers.iax2.frames import Cause, MediaFormat
from lanfax.providers.iax2.transport import Iax2Transport

__all__ = ["Iax2Job", "Iax2Provider"]

_log = logging.getLogger("lanfax.providers.iax2")


class Iax2Provider(LineProvider[Line, Iax2Job]):
    """Fax lines on an IAX2 peer (see docs/iax2.md)."""

    name: ClassVar[str] = "iax2"
    friendly_name: ClassVar[str] = "IAX2 lines (Asterisk, iaxmodem)"
    line_noun: ClassVar[str] = "iax2 channel"

    def __init__(self) -> None:
        super().__init__()
        self.config = Iax2Config()
        self._endpoint: Endpoint | None = None
        self._net: Iax2Transport | None = None
        self._ctx: dict[int, CallCtx] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Set when no call is waiting for the ACK of our HANGUP (shutdown waits on it).
        self._settled: asyncio.Event | None = None

    # -- FaxDevInitialize / VirtualDeviceCreation / Shutdown -------------------------------

    async def initialize(self, config: Mapping[str, Any], callbacks: ServiceCallbacks) -> None:
        self._check_not_running()
        self.config = parse_config(config)
        self._callbacks = callbacks
        self._loop = asyncio.get_running_loop()
        others = [int(f) for f in AUDIO_FORMATS if f != self.config.media_format]
        formats = (self.config.media_format, *others)
        self._endpoint = Endpoint(
            formats=formats, username=self.config.username, secret=self.config.secret
        )
        self._net = await Iax2Transport.open(self._endpoint, self.config.bind, self._dispatch)
        self._lines = {}
        for i in range(self.config.channels):
            line = Line(self, i)
            self._lines[line.local_id] = line
        self._running = True

    @property
    def address(self) -> Address:
        """The UDP address we listen on (its port is the one to give the peer)."""
        if self._net is None:
            raise ProviderError("the iax2 provider is not running", hint="call initialize()")
        return self._net.address

    def virtual_devices(self) -> list[ProviderDevice]:
        host, port = self.config.peer
        return [
            ProviderDevice(
                line.local_id,
                f"IAX2 {host}:{port} channel {line.index + 1}",
                self.config.number,
                PortFlags.SEND | PortFlags.RECEIVE,
                {"iax2_peer": f"{host}:{port}", "codec": self.config.codec, "max_rate": 14400},
            )
            for line in self._lines.values()
        ]

    async def shutdown(self) -> None:
        if not self._running:
            return
        self._running = False
        for line in self._lines.values():
            if line.job is not None and line.job.busy:
                await self.abort(line.job)
        ep = self._endpoint
        loop = self._loop
        if ep is not None and loop is not None:
            now = loop.time()
            for line in self._lines.values():
                ctx = line.ringing
                if ctx is not None and ctx.ringer is not None and ctx.ringer.ringing:
                    self._ring_actions(line, ctx, ctx.ringer.stop(now, Cause.NORMAL_CLEARING))
            for call in ep.calls:
                call.hangup(now)
            self._flush()
            # Give the peer a moment (one second) to acknowledge our HANGUPs; a peer that is
            # gone never will, and the calls are over here either way.
            self._settled = asyncio.Event()
            self._check_settled()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._settled.wait(), 1.0)
            self._settled = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        # A task that failed (rather than being cancelled here) is a bug worth a log line.
        for task, outcome in zip(
            tasks, await asyncio.gather(*tasks, return_exceptions=True), strict=True
        ):
            if isinstance(outcome, Exception):
                _log.error("iax2 task %s failed: %r", task.get_name(), outcome, exc_info=outcome)
        if self._net is not None:
            self._net.close()
        self._net = None

    def _flush(self) -> None:
        if self._net is not None:
            self._net.flush()

    def _check_settled(self) -> None:
        ep = self._endpoint
        if self._settled is None or ep is None:
            return
        if not any(c.state is CallState.HANGING_UP for c in ep.calls):
            self._settled.set()

    def _dispatch(self, call: Iax2Call, event: CallEvent) -> None:
        if isinstance(event, Closed):
            self._check_settled()
        ctx = self._ctx.get(call.local_call)
        if ctx is None:
            if isinstance(event, Incoming):
                self._offer(call, event)
            return
        if isinstance(event, Audio):
            if ctx.pump is not None:
                ctx.pump.audio(event.payload, event.media_format)
            return
        if isinstance(event, Closed):
            self._ctx.pop(call.local_call, None)
        ringer = ctx.ringer
        if ringer is not None and ringer.ringing and ctx.line is not None:
            self._ring_actions(ctx.line, ctx, ringer.event(event, self._now()))
            return
        ctx.queue.put_nowait(event)

    # -- incoming calls -----------------------------------------------------------------------

    def _offer(self, call: Iax2Call, incoming: Incoming) -> None:
        free = next(
            (
                line
                for line in self._lines.values()
                if line.ringing is None and (line.job is None or not line.job.busy)
            ),
            None,
        )
        if free is None or not self._running:
            call.reject(self._now(), Cause.USER_BUSY)
            self._log_all(logging.INFO, f"incoming call from {incoming.calling_number!r}: busy")
            return
        ctx = CallCtx(call)
        ctx.incoming = incoming
        ctx.line = free
        ctx.ringer = Ringer(call, ring_interval=self.config.ring_interval)
        self._ctx[call.local_call] = ctx
        free.ringing = ctx
        self._cb().log(
            free.local_id,
            logging.INFO,
            f"incoming call {call.local_call} from {incoming.calling_number!r}"
            f" ({incoming.calling_name!r}) to {incoming.called_number!r},"
            f" format {MediaFormat(incoming.media_format).name}",
        )
        self._ring_actions(free, ctx, ctx.ringer.start(self._now()))

    def _ring_actions(self, line: Line, ctx: CallCtx, actions: list[SetupAction]) -> None:
        """Do what the ring core asked, then sleep until its next deadline."""
        assert ctx.incoming is not None and ctx.ringer is not None
        call_id = f"iax2-{ctx.call.local_call}"
        todo = list(actions)
        while todo:
            action = todo.pop(0)
            if isinstance(action, Ring):
                ring = IncomingCall(
                    call_id,
                    ctx.incoming.calling_number,
                    ctx.incoming.called_number,
                    action.count,
                    caller_name=ctx.incoming.calling_name,
                )
                try:
                    self._cb().ring(line.local_id, ring)
                except Exception:
                    _log.exception("%s: the ring callback failed; not answering", line.label)
                    if ctx.ringer.ringing:
                        todo += ctx.ringer.stop(self._now(), Cause.NO_ANSWER)
            elif isinstance(action, RingEnded):
                if line.ringing is ctx:
                    line.ringing = None
                self._ctx.pop(ctx.call.local_call, None)
                if self._callbacks is not None:
                    self._callbacks.call_ended(line.local_id, call_id)
        self._flush()
        self._arm_ring(line, ctx)

    def _arm_ring(self, line: Line, ctx: CallCtx) -> None:
        if ctx.ring_timer is not None:
            ctx.ring_timer.cancel()
            ctx.ring_timer = None
        deadline = ctx.ringer.next_deadline() if ctx.ringer is not None else None
        if deadline is not None and self._loop is not None:
            ctx.ring_timer = self._loop.call_at(deadline, self._ring_due, line, ctx)

    def _ring_due(self, line: Line, ctx: CallCtx) -> None:
        ctx.ring_timer = None
        if ctx.ringer is not None:
            self._ring_actions(line, ctx, ctx.ringer.poll(self._now()))

    # -- jobs ------------------------------------------------------------------------------

    def _new_job(self, line: Line) -> Iax2Job:
        return Iax2Job(line)

    async def abort(self, handle: JobHandle) -> None:
        job = self._job(handle)
        job.aborted = True
        job._abort_event.set()
        ctx = job.ctx
        if ctx is not None and ctx.pump is not None:
            ctx.pump.session.terminate()

    # -- FaxDevSend -------------------------------------------------------------------------

    async def send(
        self, handle: JobHandle, fax: FaxSend, on_call_in_progress: OnCallInProgress
    ) -> CallResult:
        job = self._job(handle)
        self._begin(job)
        line = job.line
        loop = asyncio.get_running_loop()
        session: AudioFaxSession | None = None
        ctx: CallCtx | None = None
        try:
            if job.aborted:
                return self._final(job, ProviderStatus.USER_ABORT, "aborted before dialing")
            ident = fax.caller_number or self.config.number
            # The document is checked (and the modem set up) before anything is dialed.
            opts = session_options(fax.options, ident, page_header=fax.options.page_header)
            session = AudioFaxSession(True, opts, tx_file=fax.file_name)
            if line.ringing is not None:
                return self._final(
                    job, ProviderStatus.LINE_UNAVAILABLE, "an incoming call is ringing"
                )
            number = fax.receiver_number
            job.set_status(FaxDevStatus(ProviderStatus.DIALING, f"dialing {number}"))
            call = self._ep().new_call(self.config.peer, loop.time())
            ctx = CallCtx(call)
            ctx.line = line
            peer = "{}:{}".format(*self.config.peer)
            ctx.dialer = Dialer(call, answer_timeout=self.config.answer_timeout, peer=peer)
            job.ctx = ctx
            self._ctx[call.local_call] = ctx
            actions = ctx.dialer.dial(
                loop.time(),
                number,
                calling_number=self.config.number,
                calling_name=fax.caller_name or self.config.name,
                calltoken=self.config.calltoken,
            )
            failed = await self._until_answered(job, ctx, ctx.dialer, actions)
            if failed is not None:
                return self._final(job, failed.status, failed.text)
            on_call_in_progress()
            tx_pages = session.tx_pages
            first = opts.first_page
            job.set_status(sending_status(0, tx_pages, first_page=first))
            result = await self._media(job, ctx, session, send_reporter(job, tx_pages, first))
            session = None
            return result
        finally:
            if session is not None:
                session.close()
            self._release(job, ctx)

    async def _until_answered(
        self, job: Iax2Job, ctx: CallCtx, dialer: Dialer, actions: list[SetupAction]
    ) -> Failed | None:
        """Drive the dial core until the answer (None) or the end of the call (Failed): sleep
        until the call's next event, the job's abort, or the core's deadline."""
        loop = asyncio.get_running_loop()
        while True:
            self._flush()
            for action in actions:
                if isinstance(action, Connected):
                    return None
                if isinstance(action, Failed):
                    return action
                if isinstance(action, Note):
                    self._cb().log(job.local_id, logging.INFO, action.text)
                elif isinstance(action, RingHeard):
                    job.set_status(FaxDevStatus(ProviderStatus.DIALING, "ringing"))
            if job.aborted:
                actions = dialer.abort(loop.time())
                continue
            deadline = dialer.next_deadline()
            assert deadline is not None  # still dialing: neither Connected nor Failed yet
            remaining = deadline - loop.time()
            event = await self._next_event(job, ctx, remaining) if remaining > 0 else None
            now = loop.time()
            actions = dialer.poll(now) if event is None else dialer.event(event, now)

    async def _next_event(self, job: Iax2Job, ctx: CallCtx, timeout: float) -> CallEvent | None:
        """The call's next event, or None on timeout or abort."""
        get = asyncio.ensure_future(ctx.queue.get())
        abort = asyncio.ensure_future(job._abort_event.wait())
        try:
            done, _ = await asyncio.wait(
                {get, abort}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            abort.cancel()
            if not get.done():
                get.cancel()
        if get in done:
            return get.result()
        return None

    # -- FaxDevReceive ----------------------------------------------------------------------

    async def receive(self, handle: JobHandle, fax: FaxReceive) -> CallResult:
        job = self._job(handle)
        self._begin(job)
        line = job.line
        loop = asyncio.get_running_loop()
        session: AudioFaxSession | None = None
        ctx = line.ringing
        try:
            if job.aborted:
                return self._final(job, ProviderStatus.USER_ABORT, "aborted before answering")
            if ctx is None or ctx.ringer is None or not ctx.ringer.answerable:
                return self._final(job, ProviderStatus.DISCONNECTED, "no call to answer")
            ident = fax.receiver_number or self.config.number
            opts = session_options(fax.options, ident)
            session = AudioFaxSession(False, opts, rx_file=fax.file_name)
            line.ringing = None
            job.ctx = ctx
            caller = ctx.incoming.calling_number if ctx.incoming else ""
            ctx.ringer.answer(loop.time())
            self._arm_ring(line, ctx)  # cancels the ring timer
            self._flush()
            job.set_status(
                FaxDevStatus(
                    ProviderStatus.ANSWERED,
                    "answered",
                    caller_id=caller,
                    routing_info=self.config.number,
                )
            )
            guard = ReceiveGuard(fax, session.terminate)
            progress = receive_reporter(job, caller, self.config.number)

            def report(ev: SessionEvent) -> None:
                guard.observe(ev)  # may end the session: the pump then hangs the call up
                progress(ev)

            result = guard.outcome(await self._media(job, ctx, session, report))
            session = None
            job.set_status(result.status)
            return result
        finally:
            if session is not None:
                session.close()
            self._release(job, ctx if job.ctx is ctx else None)

    # -- the connected call -------------------------------------------------------------------

    async def _media(
        self,
        job: Iax2Job,
        ctx: CallCtx,
        session: AudioFaxSession,
        report: Callable[[SessionEvent], None],
    ) -> CallResult:
        """Run the fax over the connected call (see :func:`.connected.run_fax`)."""
        call = ctx.call
        return await run_fax(
            job,
            ctx,
            session,
            report,
            config=self.config,
            send_voice=lambda payload: self._send_voice(call, payload),
            flush=self._flush,
            log=lambda text: self._cb().log(job.local_id, logging.INFO, text),
        )

    def _send_voice(self, call: Iax2Call, payload: bytes) -> None:
        loop = self._loop
        if loop is None:
            return
        call.send_voice(
            loop.time(),
            payload,
            len(payload) // 2 if call.media_format == MediaFormat.SLINEAR else len(payload),
        )
        self._flush()

    # -- helpers ------------------------------------------------------------------------------

    def _release(self, job: Iax2Job, ctx: CallCtx | None) -> None:
        if ctx is not None:
            loop = self._loop
            if loop is not None and ctx.call.state not in (CallState.CLOSED, CallState.HANGING_UP):
                ctx.call.hangup(loop.time())
                self._flush()
            if ctx.call.state is CallState.CLOSED:
                self._ctx.pop(ctx.call.local_call, None)
        job.busy = False

    def _now(self) -> float:
        if self._loop is None:
            raise ProviderError("the iax2 provider is not running", hint="call initialize()")
        return self._loop.time()

    def _ep(self) -> Endpoint:
        if self._endpoint is None:
            raise ProviderError("the iax2 provider is not running", hint="call initialize()")
        return self._endpoint

    def _log_all(self, level: int, message: str) -> None:
        for line in self._lines.values():
            self._cb().log(line.local_id, level, message)
            break
