"""VirtualProvider: fax lines on the in-process telephone network, with real T.30 on them.

A send dials (``numbers.classify``), rings the far end, and once it is answered runs two
spandsp sessions against each other (audio through the configured codec, or T.38 packets).
The caller's provider runs the media: in a worker thread (``timing = "fast"``) or on the
event loop in 20 ms ticks (``timing = "realtime"``); the callee's provider only rings its
line and waits for the result of the call it answered.

Job states (FAX_DEV_STATUS.StatusId) are reported through ``callbacks.status`` on every
change: INITIALIZING (job open), DIALING, TRANSMITTING / ANSWERED, RECEIVING, then the final
status. During a call ``page_count`` is the page being transferred (1-based); in the final
status it is the pages done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from lanfax.engine.session import AudioFaxSession, T38FaxSession
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
    ProviderJob,
    ReceiveGuard,
    receiving_status,
    sending_status,
    session_options,
)
from lanfax.providers.virtual.calls import make_session, page_header, robot_answer, run_call
from lanfax.providers.virtual.config import VirtualConfig, parse_config
from lanfax.providers.virtual.media import CutReason, Progress, Side
from lanfax.providers.virtual.network import (
    Answer,
    Call,
    CallGaveUp,
    CallState,
    VirtualNetwork,
    get_network,
)
from lanfax.providers.virtual.numbers import Dialed, Kind, classify

__all__ = ["VirtualJob", "VirtualLine", "VirtualProvider"]

_log = logging.getLogger("lanfax.providers.virtual")


class VirtualLine:
    """One line: its number, its open job and the call on it (ringing or connected)."""

    def __init__(self, provider: VirtualProvider, number: str, name: str, ident: str) -> None:
        self.provider = provider
        self._number = number
        self.name = name
        self.ident = ident
        self.local_id = f"{provider.config.network}:{number}"
        self.job: VirtualJob | None = None
        self.call: Call | None = None
        self._ring_task: asyncio.Task[None] | None = None

    @property
    def number(self) -> str:
        return self._number

    @property
    def label(self) -> str:
        return f"line {self._number}"

    def is_busy(self) -> bool:
        return self.call is not None or self.job is not None

    def offer(self, call: Call) -> None:
        self.call = call
        self._ring_task = asyncio.get_running_loop().create_task(
            self.provider._ring(self, call), name=f"ring {self.local_id}"
        )


class VirtualJob(ProviderJob):
    """The JobHandle of the virtual provider."""

    def __init__(self, line: VirtualLine) -> None:
        super().__init__(line.provider, line.local_id)
        self.line = line
        self.call: Call | None = None
        self.side: Side | None = None


class VirtualProvider(LineProvider[VirtualLine, VirtualJob]):
    """Virtual lines on an in-process telephone network (see docs/providers.md)."""

    name: ClassVar[str] = "virtual"
    friendly_name: ClassVar[str] = "Virtual fax lines (in-process telephone network)"
    line_noun: ClassVar[str] = "virtual line"

    def __init__(self) -> None:
        super().__init__()
        self.config = VirtualConfig()
        self._network: VirtualNetwork | None = None

    # -- FaxDevInitialize / VirtualDeviceCreation / Shutdown ------------------------------

    async def initialize(self, config: Mapping[str, Any], callbacks: ServiceCallbacks) -> None:
        self._check_not_running()
        self.config = parse_config(config)
        self._callbacks = callbacks
        network = get_network(self.config.network)
        lines = [VirtualLine(self, lc.number, lc.name, lc.ident) for lc in self.config.lines]
        attached: list[VirtualLine] = []
        try:
            for line in lines:
                network.attach(line, owner=line.name)
                attached.append(line)
        except Exception:
            for line in attached:
                network.detach(line)
            raise
        self._network = network
        self._lines = {line.local_id: line for line in lines}
        self._running = True
        for line in lines:
            callbacks.log(line.local_id, logging.INFO, f"virtual line {line.number} is up")

    def virtual_devices(self) -> list[ProviderDevice]:
        caps = {
            "mode": self.config.mode,
            "codec": self.config.codec,
            "timing": self.config.timing,
            "network": self.config.network,
            "t38": self.config.mode == "t38",
        }
        return [
            ProviderDevice(
                local_id=line.local_id,
                name=line.name,
                number=line.number,
                flags=PortFlags.SEND | PortFlags.RECEIVE | PortFlags.VIRTUAL,
                capabilities=dict(caps),
            )
            for line in self._lines.values()
        ]

    async def shutdown(self) -> None:
        """End every call (the far ends see a disconnect), stop ringing, free the numbers."""
        if not self._running:
            return
        self._running = False
        for line in self._lines.values():
            call = line.call
            if call is not None:
                if call.state is CallState.RINGING:
                    call.give_up("shutdown")
                else:
                    call.cut(CutReason.DROPPED)
        tasks = [t for t in self._tasks if not t.done()]
        if tasks:
            # The watchdog bounds every call, and a cut ends the media at its next tick.
            await asyncio.wait(tasks, timeout=30.0)
        for line in self._lines.values():
            if line._ring_task is not None:
                line._ring_task.cancel()
            if self._network is not None:
                self._network.detach(line)
        self._network = None

    # -- jobs -----------------------------------------------------------------------------

    def _new_job(self, line: VirtualLine) -> VirtualJob:
        return VirtualJob(line)

    async def abort(self, handle: JobHandle) -> None:
        job = self._job(handle)
        job.aborted = True
        call = job.call
        if call is None:
            return
        if call.state is CallState.RINGING:
            call.give_up("aborted")
        elif call.state is CallState.CONNECTED:
            call.cut(CutReason.CALLER_ABORT if job.side is Side.CALLER else CutReason.CALLEE_ABORT)

    # -- FaxDevSend -----------------------------------------------------------------------

    async def send(
        self, handle: JobHandle, fax: FaxSend, on_call_in_progress: OnCallInProgress
    ) -> CallResult:
        """Dial, ring, and on answer run the call. Bad input (the document, the ident, the
        header) raises a FaxError before anything is dialed; line outcomes are results."""
        job = self._job(handle)
        self._begin(job)
        job.side = Side.CALLER
        line = job.line
        session: AudioFaxSession | T38FaxSession | None = None
        answer: Answer | None = None
        try:
            if job.aborted:
                return self._final(job, ProviderStatus.USER_ABORT, "aborted before dialing")
            ident = fax.caller_number or line.ident
            options = session_options(fax.options, ident, page_header=page_header(fax, line.ident))
            # The modem is set up (and the document checked) before the number is dialed.
            session = make_session(self.config.mode, True, options, tx_file=fax.file_name)
            number = fax.receiver_number
            job.set_status(FaxDevStatus(ProviderStatus.DIALING, f"dialing {number}"))
            if line.call is not None:
                # An incoming call is ringing on this line: no dial tone for us (glare).
                return self._final(
                    job, ProviderStatus.LINE_UNAVAILABLE, "an incoming call is ringing"
                )
            dialed = classify(number, self.config.special_prefix)
            await self._callee_hangs_up(dialed)
            refusal = self._refusal(line, dialed)
            if refusal is not None:
                return self._final(job, *refusal)
            call = Call(line.number, number, dialed, self._net(), self.config.mode)
            job.call = call
            line.call = call
            callee = self._net().lookup(dialed.line) if dialed.kind is Kind.LINE else None
            if callee is not None:
                callee.offer(call)
            elif dialed.kind is not Kind.NO_ANSWER:
                self._spawn(self._robot_answers(call), f"robot {call.call_id}")
            try:
                answer = await asyncio.wait_for(
                    asyncio.shield(call.answered), self.config.answer_timeout
                )
            except TimeoutError:
                call.give_up("no answer")
                return self._final(job, ProviderStatus.NO_ANSWER, "no answer")
            except CallGaveUp:
                status = ProviderStatus.USER_ABORT if job.aborted else ProviderStatus.DISCONNECTED
                return self._final(job, status, "hung up while ringing")
            on_call_in_progress()
            tx_pages = session.tx_pages
            first = options.first_page
            job.set_status(sending_status(0, tx_pages, first_page=first))
            caller_result, callee_result = await run_call(
                self, job, call, session, answer, self._caller_reporter(job, tx_pages, first)
            )
            session = None  # run_call closed it
            answer = None
            if not call.callee_result.done():
                call.callee_result.set_result(callee_result)
            job.set_status(caller_result.status)
            self._cb().log(
                line.local_id,
                logging.INFO,
                f"call {call.call_id} to {number} ended: {caller_result.status.status_id.name}"
                f", {caller_result.pages} page(s), T.30 {caller_result.t30_code}"
                f" {caller_result.t30_text!r}",
            )
            return caller_result
        finally:
            if session is not None:
                session.close()
            if answer is not None:
                # Answered, but the media never ran: free the far end's session too.
                if answer.session is not None:
                    answer.session.close()
                if answer.cleanup is not None:
                    answer.cleanup()
            call_ = job.call
            if call_ is not None:
                if call_.state is CallState.RINGING:
                    call_.give_up("caller left")
                if not call_.callee_result.done():
                    call_.callee_result.set_result(
                        _result(ProviderStatus.DISCONNECTED, "the caller hung up")
                    )
                call_.end()
                if line.call is call_:
                    line.call = None
            job.busy = False

    def _caller_reporter(
        self, job: VirtualJob, tx_pages: int, first: int
    ) -> Callable[[Progress], None]:
        def report(p: Progress) -> None:
            if p.kind == "negotiated":
                job.set_status(sending_status(0, tx_pages, p.remote_ident, first_page=first))
            elif p.kind == "page":
                job.set_status(sending_status(p.pages, tx_pages, job.status.csi, first_page=first))

        return report

    async def _callee_hangs_up(self, dialed: Dialed) -> None:
        """Let a callee line that is still putting down its last received call finish first.

        On a real network setting up a call takes longer than the far end's hang-up and
        bookkeeping; with fast timing the simulated set-up is instant, so a call placed right
        after the previous one to the same line raced the callee's end of job (its received
        pages being made durable) and found a line that was about to be free "busy". The wait
        is bounded (one ring interval): a line that stays occupied is busy as before.
        """
        if dialed.kind is not Kind.LINE:
            return
        callee = self._net().lookup(dialed.line)
        if not isinstance(callee, VirtualLine):
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(self.config.ring_interval, 0.5)
        while (
            callee.call is None
            and callee.job is not None
            and callee.job.side is Side.CALLEE
            and loop.time() < deadline
        ):
            await asyncio.sleep(0.01)

    def _refusal(self, line: VirtualLine, dialed: Dialed) -> tuple[ProviderStatus, str] | None:
        """Outcomes decided by signalling alone (no answer needed), or None to ring."""
        kind = dialed.kind
        if kind is Kind.NO_DIAL_TONE:
            return ProviderStatus.NO_DIAL_TONE, "no dial tone"
        if kind is Kind.INVALID:
            return ProviderStatus.BAD_ADDRESS, dialed.reason or "number unobtainable"
        if kind is Kind.BUSY:
            return ProviderStatus.BUSY, "busy"
        if kind is Kind.LINE:
            callee = self._net().lookup(dialed.line)
            if callee is None:
                return ProviderStatus.BAD_ADDRESS, f"number {dialed.line} is not connected"
            if callee is line or callee.is_busy():
                return ProviderStatus.BUSY, "busy"
        return None

    async def _robot_answers(self, call: Call) -> None:
        """A robot (fax or voice) picks up after one ring."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(call.changed.wait(), self.config.ring_interval)
        if call.state is not CallState.RINGING:
            return
        answer = robot_answer(self, call)
        if not call.answer(answer):
            if answer.session is not None:
                answer.session.close()
            if answer.cleanup is not None:
                answer.cleanup()

    # -- ringing and FaxDevReceive --------------------------------------------------------

    async def _ring(self, line: VirtualLine, call: Call) -> None:
        ring = 0
        try:
            while call.state is CallState.RINGING and self._running:
                ring += 1
                call.changed.clear()
                self._cb().ring(
                    line.local_id,
                    IncomingCall(call.call_id, call.caller_number, line.number, ring),
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(call.changed.wait(), self.config.ring_interval)
        finally:
            if call.state is not CallState.CONNECTED:
                # Never answered: the service may have a ringing indicator to clear.
                if line.call is call:
                    line.call = None
                if self._callbacks is not None:
                    self._callbacks.call_ended(line.local_id, call.call_id)

    async def receive(self, handle: JobHandle, fax: FaxReceive) -> CallResult:
        """Answer the call ringing on the job's line and store the fax in ``fax.file_name``.

        With no call ringing (it went away before the answer) the result is DISCONNECTED.
        An unusable receive file or ident raises a FaxError and leaves the call ringing.
        """
        job = self._job(handle)
        self._begin(job)
        job.side = Side.CALLEE
        line = job.line
        session: AudioFaxSession | T38FaxSession | None = None
        try:
            if job.aborted:
                return self._final(job, ProviderStatus.USER_ABORT, "aborted before answering")
            call = line.call
            if call is None or call.state is not CallState.RINGING:
                return self._final(job, ProviderStatus.DISCONNECTED, "no call to answer")
            ident = fax.receiver_number or line.ident
            options = session_options(fax.options, ident)
            session = make_session(call.media, False, options, rx_file=fax.file_name)
            job.call = call
            job.set_status(
                FaxDevStatus(
                    ProviderStatus.ANSWERED,
                    "answered",
                    caller_id=call.caller_number,
                    routing_info=line.number,
                )
            )
            # The caller's provider runs the media (maybe in a worker thread): the guard
            # watches this side's events there and terminates this side's session.
            guard = ReceiveGuard(fax, session.terminate)
            answer = Answer(
                session,
                session,
                self._callee_reporter(job, call),
                watch=guard.observe if guard.active else None,
            )
            if not call.answer(answer):
                return self._final(job, ProviderStatus.DISCONNECTED, "the caller hung up")
            session = None  # the caller's side runs and closes it now
            try:
                result = guard.outcome(await asyncio.shield(call.callee_result))
            except asyncio.CancelledError:
                call.cut(CutReason.CALLEE_ABORT)
                raise
            job.set_status(result.status)
            return result
        finally:
            if session is not None:
                session.close()
            if job.call is not None and line.call is job.call:
                line.call = None
            job.busy = False

    def _callee_reporter(self, job: VirtualJob, call: Call) -> Callable[[Progress], None]:
        def report(p: Progress) -> None:
            if p.kind not in ("negotiated", "page"):
                return
            job.set_status(
                receiving_status(
                    p.pages, p.last, caller_id=call.caller_number, routing=job.line.number
                )
            )

        return report

    # -- helpers --------------------------------------------------------------------------

    def _net(self) -> VirtualNetwork:
        if self._network is None:
            raise ProviderError("the virtual provider is not running")
        return self._network

    def robot_dir(self) -> Path:
        """Where a robot stores what it receives: robot_dir, or a fresh temp dir."""
        if self.config.robot_dir is not None:
            return self.config.robot_dir
        return Path(tempfile.mkdtemp(prefix="lanfax-robot-"))


def _result(status: ProviderStatus, text: str) -> CallResult:
    """A result decided by signalling (no T.30 took place)."""
    return CallResult(status=FaxDevStatus(status, text))
