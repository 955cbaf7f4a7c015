"""What every line-based provider does the same way: job bookkeeping, session options, results.

A provider offers lines (virtual lines, IAX2 channels, SIP channels); each line carries at most
one job at a time. :class:`LineProvider` keeps that rule once for all of them: which handles
are valid, when a job may open, what ending one does, how a status change reaches the service,
how a call decided by signalling alone is reported. A provider names its line and job
classes (``LineProvider[VirtualLine, VirtualJob]``), says what a line is called in messages
(:attr:`LineProvider.line_noun`), and makes its own job objects (:meth:`LineProvider._new_job`).
The functions are the rules a call's session options, progress statuses and result follow
wherever a provider builds them; :class:`ReceiveGuard` cuts a receive short as
FaxReceive.max_pages and FaxReceive.screen ask.

The calls themselves (dialling, ringing, media) stay in each provider: they share a shape,
not their logic. How a connected call ended is decided once, for all of them, by
:func:`call_end` from the T.30 result and the :class:`CutReason` the provider recorded.
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import enum
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, ClassVar, Generic, Protocol, TypeVar, cast

from lanfax.engine.events import PageDone, PhaseB, SessionEvent, SessionResult
from lanfax.engine.options import SessionOptions
from lanfax.model.codes import ProviderStatus
from lanfax.model.errors import ProviderError
from lanfax.providers.api import (
    CallResult,
    FaxDevStatus,
    FaxProvider,
    FaxReceive,
    JobHandle,
    SendOptions,
    ServiceCallbacks,
)

__all__ = [
    "CallEnd",
    "CutReason",
    "LineProvider",
    "ProviderJob",
    "ReceiveGuard",
    "call_end",
    "receiving_status",
    "sending_status",
    "session_options",
    "session_result",
]


def session_options(
    options: SendOptions, local_ident: str, *, page_header: str | None = None
) -> SessionOptions:
    """The T.30 session's options for one send or receive: the job's ECM, modem and
    compression choices, the T.30 trace (``trace_level`` to ``trace_logger``), our ident and
    the header line the provider chose (None for receives and for no header).

    InvalidInput (from SessionOptions) if the ident or the header is unusable."""
    return SessionOptions(
        local_ident=local_ident,
        page_header=page_header,
        ecm=options.ecm,
        modems=options.modems,
        compressions=options.compressions,
        log_level=options.trace_level,
        logger_name=options.trace_logger,
        first_page=options.first_page,
    )


def session_result(
    res: SessionResult,
    status: ProviderStatus,
    text: str,
    *,
    calling: bool,
    duration: float,
    extra: Mapping[str, Any],
    caller_id: str = "",
    routing: str = "",
) -> CallResult:
    """The CallResult of a call whose T.30 session ran: ``status`` and ``text`` are what the
    provider decided from the session and the line; the rest is what spandsp negotiated.
    The pages are those sent (calling) or received; the CSI is only a caller's to report."""
    pages = res.pages_tx if calling else res.pages_rx
    return CallResult(
        status=FaxDevStatus(
            status,
            text,
            page_count=pages,
            csi=res.remote_ident if calling else "",
            caller_id=caller_id,
            routing_info=routing,
            error_code=res.code,
        ),
        pages=pages,
        remote_ident=res.remote_ident,
        bit_rate=res.bit_rate,
        ecm=res.ecm,
        compression=res.compression,
        modem=res.modem,
        t30_code=res.code,
        t30_text=res.text,
        duration=duration,
        extra=dict(extra),
    )


class CutReason(enum.Enum):
    """Why a connected call's line was cut, by us or by the far end, rather than ended by T.30
    alone. The value is what ``CallResult.extra["cut"]`` carries (SIP and virtual lines)."""

    #: FaxDevAbortOperation on this side (SIP, IAX2, modem).
    ABORT = "abort"
    #: Virtual lines: both ends are ours, so the abort names the end that asked for it.
    CALLER_ABORT = "caller_abort"
    CALLEE_ABORT = "callee_abort"
    #: We hung up: the provider shut down; the receive guard refused the call; the SDP answer
    #: was unusable; our 200 OK was never acknowledged; no RFC 4028 refresh came in time.
    SHUTDOWN = "shutdown"
    REFUSED = "refused"
    BAD_ANSWER = "bad_answer"
    NO_ACK = "no_ack"
    SESSION_EXPIRED = "session_expired"
    #: The call ran past its maximum length, or stayed idle too long.
    WATCHDOG = "watchdog"
    #: The far end ended it: a SIP BYE; a CANCEL before the answer; an IAX2 HANGUP, REJECT
    #: or lost link; a virtual line's far end that hung up and was not followed in time.
    REMOTE_BYE = "remote_bye"
    CANCELLED = "cancelled"
    FAR_END_GONE = "far_end_gone"
    HUNG_UP = "hung_up"
    #: The network dropped the line (a virtual line's special number 31<N>).
    DROPPED = "dropped"

    @property
    def text(self) -> str:
        """How a status text names the cut, in parentheses after T.30's own text."""
        return _CUT_TEXT.get(self, self.value.replace("_", " "))

    def is_own_abort(self, *, calling: bool) -> bool:
        """Whether this cut is the abort of the side that is ``calling`` (or answering)."""
        own = CutReason.CALLER_ABORT if calling else CutReason.CALLEE_ABORT
        return self is CutReason.ABORT or self is own


_CUT_TEXT = {
    CutReason.ABORT: "aborted",
    CutReason.FAR_END_GONE: "the far end hung up",
}


@dataclasses.dataclass(frozen=True, slots=True)
class CallEnd:
    """How a connected call ended, for one side: the device status and its text."""

    status: ProviderStatus
    text: str


def call_end(
    res: SessionResult | None, cut: CutReason | None, *, calling: bool, negotiated: bool
) -> CallEnd:
    """How a connected call ended for one side (the one table every provider follows).

    ``res`` is the side's T.30 result (None: no session ran to a result), ``cut`` why its
    line was cut (None: T.30 ended by itself), ``calling`` whether it is the caller,
    ``negotiated`` whether it heard the far end speak T.30 (a phase B). In order:

    ================================================  ==========================
    the cut is this side's own abort                  USER_ABORT
    a session that completed                          COMPLETED
    any other cut                                     DISCONNECTED
    no session result                                 DISCONNECTED
    a caller that never heard T.30                    NOT_FAX_CALL
    otherwise                                         T.30's own status
    ================================================  ==========================

    The text is T.30's with the cut named after it ("... (remote bye)"); without a result,
    "the line was cut" or "no fax session". A provider that counts a cut only while T.30 ran
    passes ``cut`` only then (the virtual lines' cut sides; IAX2 when T.30 did not complete).
    """
    if res is None:
        aborted = cut is not None and cut.is_own_abort(calling=calling)
        status = ProviderStatus.USER_ABORT if aborted else ProviderStatus.DISCONNECTED
        return CallEnd(status, "the line was cut" if cut is not None else "no fax session")
    status = res.provider_status
    if cut is not None and cut.is_own_abort(calling=calling):
        status = ProviderStatus.USER_ABORT
    elif status is ProviderStatus.COMPLETED:
        pass
    elif cut is not None:
        status = ProviderStatus.DISCONNECTED
    elif calling and not negotiated:
        status = ProviderStatus.NOT_FAX_CALL
    text = res.text if cut is None else f"{res.text} ({cut.text})"
    return CallEnd(status, text)


def sending_status(
    pages_done: int, tx_pages: int, csi: str = "", *, first_page: int = 1
) -> FaxDevStatus:
    """TRANSMITTING once ``pages_done`` pages of this call are confirmed (0: the call is up or
    T.30 has just negotiated). ``tx_pages`` is the document's page count and ``first_page``
    the page this call started with; ``page_count`` (the page on the line) and
    ``FaxDevStatus.pages_done`` are in the document's numbering."""
    done = first_page - 1 + pages_done
    current = min(done + 1, tx_pages)
    text = (
        f"transmitting page {current} of {tx_pages}"
        if done < tx_pages
        else f"sent {done} of {tx_pages}, hanging up"
    )
    return FaxDevStatus(ProviderStatus.TRANSMITTING, text, current, csi=csi, pages_done=done)


def receiving_status(pages_done: int, last: bool, *, caller_id: str, routing: str) -> FaxDevStatus:
    """RECEIVING once ``pages_done`` pages are stored; ``last``: the far end said EOP."""
    current = pages_done if last else pages_done + 1
    text = f"received {pages_done} pages" if last else f"receiving page {current}"
    return FaxDevStatus(
        ProviderStatus.RECEIVING,
        text,
        current,
        caller_id=caller_id,
        routing_info=routing,
        pages_done=pages_done,
        last_page=last,
    )


class ReceiveGuard:
    """FaxReceive.screen and FaxReceive.max_pages, applied to one receiving session.

    Sans-IO: the provider hands :meth:`observe` every event of its receiving session as soon
    as the session reports it, on the thread that runs the session (before the pages go on:
    a cut must land before the next page starts), and gives ``hang_up``, which ends the
    session at once (``session.terminate()``, plus whatever the line needs). When the call
    is over, :meth:`outcome` turns the provider's own result into the cut's.

    * A phase B whose TSID ``fax.screen`` refuses: hang up, CALL_BLACKLISTED.
    * A page done, ``fax.max_pages`` stored and more to come (the post-page message is not
      EOP): hang up before the next page; the pages stored stay (spandsp closes the file
      with them), DISCONNECTED "more than N pages".
    """

    def __init__(self, fax: FaxReceive, hang_up: Callable[[], None]) -> None:
        self._screen = fax.screen
        self._max_pages = fax.max_pages or None
        self._hang_up = hang_up
        self._screened: set[str] = set()
        #: ("tsid", reason) or ("max_pages", text) once the guard cut the call.
        self.cut: tuple[str, str] | None = None

    @property
    def active(self) -> bool:
        """Whether there is anything to enforce (a provider may skip the guard otherwise)."""
        return self._screen is not None or self._max_pages is not None

    def observe(self, ev: SessionEvent) -> None:
        if self.cut is not None:
            return
        if isinstance(ev, PhaseB) and self._screen is not None:
            tsid = ev.remote_ident
            if tsid in self._screened:
                return
            self._screened.add(tsid)
            reason = self._screen(tsid)
            if reason is not None:
                self._cut("tsid", f"the far end's TSID {tsid!r} is refused ({reason})")
        elif (
            isinstance(ev, PageDone)
            and self._max_pages is not None
            and ev.page >= self._max_pages
            and "EOP" not in ev.frame
        ):
            self._cut(
                "max_pages",
                f"more than {self._max_pages} pages: the call was cut after page {ev.page}",
            )

    def _cut(self, kind: str, text: str) -> None:
        self.cut = (kind, text)
        self._hang_up()

    def outcome(self, result: CallResult) -> CallResult:
        """``result`` as the cut makes it (unchanged when the guard did not cut)."""
        if self.cut is None:
            return result
        kind, text = self.cut
        status = ProviderStatus.CALL_BLACKLISTED if kind == "tsid" else ProviderStatus.DISCONNECTED
        return dataclasses.replace(
            result,
            status=dataclasses.replace(result.status, status_id=status, string_id=text),
            extra={**result.extra, "cut_by": kind},
        )


class ProviderJob:
    """The JobHandle fields every provider keeps; a provider's job class adds its call."""

    def __init__(self, provider: LineProvider[Any, Any], local_id: str) -> None:
        self.provider = provider
        self._local_id = local_id
        self.status = FaxDevStatus(ProviderStatus.INITIALIZING, "job open")
        #: FaxDevAbortOperation was called.
        self.aborted = False
        #: FaxDevEndJob was called: the handle is no longer valid.
        self.ended = False
        #: A send or receive is running on this job (see LineProvider._begin).
        self.busy = False

    @property
    def local_id(self) -> str:
        return self._local_id

    def set_status(self, status: FaxDevStatus) -> None:
        """Record a new status and tell the service (only when it changed)."""
        if status != self.status:
            self.status = status
            self.provider._emit(self.local_id, status)


JobT = TypeVar("JobT", bound=ProviderJob)


class ProviderLine(Protocol[JobT]):
    """What the bookkeeping needs of a line: its id, its open job, its name in messages."""

    local_id: str
    job: JobT | None

    @property
    def label(self) -> str:
        """How messages name the line ("line 100", "channel iax2:…:1")."""
        ...


LineT = TypeVar("LineT", bound=ProviderLine[Any])


class LineProvider(FaxProvider, Generic[LineT, JobT]):
    """A FaxProvider whose devices are lines with at most one job each.

    Subclasses fill ``_lines`` (by local id) and set ``_running`` in ``initialize``, and
    ``_callbacks`` as soon as they have them.
    """

    #: What one line is called in messages: "virtual line", "iax2 channel", "SIP channel".
    line_noun: ClassVar[str]

    def __init__(self) -> None:
        self._callbacks: ServiceCallbacks | None = None
        self._lines: dict[str, LineT] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._running = False

    @abc.abstractmethod
    def _new_job(self, line: LineT) -> JobT:
        """A fresh job object on ``line`` (start_job records it)."""

    # -- FaxDevStartJob / EndJob / ReportStatus -------------------------------------------

    async def start_job(self, local_id: str) -> JobHandle:
        self._check_running()
        line = self._line(local_id)
        if line.job is not None:
            raise ProviderError(
                f"{line.label} already has a job open", hint="wait for end_job on the current job"
            )
        job = self._new_job(line)
        line.job = job
        return job

    async def end_job(self, handle: JobHandle) -> None:
        job = self._job(handle)
        if job.busy:
            # FaxDevEndJob during a call: hang up first so the line is really free.
            await self.abort(job)
        job.ended = True
        line = self._lines.get(job.local_id)
        if line is not None and line.job is job:
            line.job = None

    def report_status(self, handle: JobHandle) -> FaxDevStatus:
        return self._own(handle).status

    # -- lookups --------------------------------------------------------------------------

    def _line(self, local_id: str) -> LineT:
        line = self._lines.get(local_id)
        if line is None:
            plural = self.line_noun.split()[-1] + "s"
            raise ProviderError(
                f"no {self.line_noun} {local_id!r}",
                hint=f"known {plural}: {', '.join(sorted(self._lines)) or '(none)'}",
            )
        return line

    def _own(self, handle: JobHandle) -> JobT:
        """``handle`` as this provider's job (ended or not)."""
        if not isinstance(handle, ProviderJob) or handle.provider is not self:
            raise ProviderError(
                "this job handle does not belong to this provider",
                hint="pass the handle start_job returned",
            )
        # Only this provider's _new_job makes jobs that name it.
        return cast(JobT, handle)

    def _job(self, handle: JobHandle) -> JobT:
        """``handle`` as this provider's job, which must not have ended."""
        job = self._own(handle)
        if job.ended:
            raise ProviderError("the job has ended", hint="open a new job with start_job")
        return job

    # -- helpers --------------------------------------------------------------------------

    def _check_not_running(self) -> None:
        """initialize() is called once until shutdown()."""
        if self._running:
            raise ProviderError(
                f"the {self.name} provider is already initialized", hint="call shutdown() first"
            )

    def _check_running(self) -> None:
        if not self._running:
            raise ProviderError(
                f"the {self.name} provider is not running", hint="call initialize() first"
            )

    def _begin(self, job: JobT) -> None:
        """A send or receive starts on ``job``: one at a time."""
        self._check_running()
        if job.busy:
            raise ProviderError(
                "a send or receive is already running on this job",
                hint=f"one job carries one call; open another job on another {self.line_noun}",
            )
        job.busy = True

    def _final(
        self,
        job: JobT,
        status: ProviderStatus,
        text: str,
        extra: Mapping[str, Any] | None = None,
    ) -> CallResult:
        """The result of a call decided by signalling alone (no T.30 took place)."""
        result = CallResult(FaxDevStatus(status, text), extra=dict(extra or {}))
        job.set_status(result.status)
        if self._callbacks is not None:
            self._callbacks.log(job.local_id, logging.INFO, f"{status.name}: {text}")
        return result

    def _cb(self) -> ServiceCallbacks:
        if self._callbacks is None:
            raise ProviderError(f"the {self.name} provider is not initialized")
        return self._callbacks

    def _emit(self, local_id: str, status: FaxDevStatus) -> None:
        if self._callbacks is not None:
            self._callbacks.status(local_id, status)

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """Run ``coro`` as a task the provider keeps until it is done (shutdown may cancel)."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
