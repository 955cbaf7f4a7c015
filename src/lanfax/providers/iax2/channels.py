"""The IAX2 provider's bookkeeping: channels, jobs, per-call context, progress reporters."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from lanfax.engine.events import PageDone, PhaseB, SessionEvent
from lanfax.engine.options import SessionOptions
from lanfax.model.codes import ProviderStatus
from lanfax.providers.api import FaxDevStatus, FaxReceive, FaxSend
from lanfax.providers.iax2.call import Iax2Call
from lanfax.providers.iax2.events import CallEvent, Incoming
from lanfax.providers.iax2.media import VoicePump

if TYPE_CHECKING:
    from lanfax.providers.iax2.provider import Iax2Provider

__all__ = ["CallCtx", "Iax2Job", "Line", "options", "receive_reporter", "send_reporter"]

_log = logging.getLogger("lanfax.providers.iax2")


class Line:
    """One channel: its job, and the incoming call ringing on it."""

    def __init__(self, provider: Iax2Provider, index: int) -> None:
        self.provider = provider
        self.index = index
        host, port = provider.config.peer
        self.local_id = f"iax2:{host}:{port}:{index + 1}"
        self.job: Iax2Job | None = None
        self.ringing: CallCtx | None = None


class CallCtx:
    """What the provider keeps per IAX2 call: its events and, once up, its media."""

    def __init__(self, call: Iax2Call) -> None:
        self.call = call
        self.queue: asyncio.Queue[CallEvent] = asyncio.Queue()
        self.pump: VoicePump | None = None
        self.incoming: Incoming | None = None
        self.line: Line | None = None
        self.lag_ms: int | None = None


class Iax2Job:
    """The JobHandle of the IAX2 provider."""

    def __init__(self, line: Line) -> None:
        self.line = line
        self.ctx: CallCtx | None = None
        self.aborted = False
        self.ended = False
        self.busy = False
        self.status = FaxDevStatus(ProviderStatus.INITIALIZING, "job open")
        self._abort_event = asyncio.Event()

    @property
    def local_id(self) -> str:
        return self.line.local_id

    def set_status(self, status: FaxDevStatus) -> None:
        if status != self.status:
            self.status = status
            self.line.provider._emit(self.local_id, status)


def send_reporter(job: Iax2Job, tx_pages: int) -> Callable[[SessionEvent], None]:
    def report(ev: SessionEvent) -> None:
        if isinstance(ev, PhaseB):
            job.set_status(
                FaxDevStatus(
                    ProviderStatus.TRANSMITTING,
                    f"transmitting page 1 of {tx_pages}",
                    1,
                    csi=ev.remote_ident,
                )
            )
        elif isinstance(ev, PageDone):
            current = min(ev.page + 1, tx_pages)
            text = (
                f"transmitting page {current} of {tx_pages}"
                if ev.page < tx_pages
                else f"sent {ev.page} of {tx_pages}, hanging up"
            )
            job.set_status(
                FaxDevStatus(ProviderStatus.TRANSMITTING, text, current, csi=job.status.csi)
            )

    return report


def receive_reporter(job: Iax2Job, caller: str, number: str) -> Callable[[SessionEvent], None]:
    def report(ev: SessionEvent) -> None:
        last = isinstance(ev, PageDone) and "EOP" in ev.frame
        pages = ev.page if isinstance(ev, PageDone) else 0
        current = pages if last else pages + 1
        text = f"received {pages} pages" if last else f"receiving page {current}"
        job.set_status(
            FaxDevStatus(
                ProviderStatus.RECEIVING,
                text,
                current,
                caller_id=caller,
                routing_info=number,
            )
        )

    return report


def options(ident: str, fax: FaxSend | FaxReceive) -> SessionOptions:
    """The session's options for a send or receive: the job's ECM/modem/compression choices,
    the branding header (sends only) and the T.30 trace (``trace_level`` to ``trace_logger``,
    as the virtual provider does)."""
    opts = fax.options
    header = opts.page_header if isinstance(fax, FaxSend) else None
    return SessionOptions(
        local_ident=ident,
        page_header=header,
        ecm=opts.ecm,
        modems=opts.modems,
        compressions=opts.compressions,
        log_level=opts.trace_level,
        logger_name=opts.trace_logger,
    )
