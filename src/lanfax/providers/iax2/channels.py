"""The IAX2 provider's bookkeeping: channels, jobs, per-call context, progress reporters."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from lanfax.engine.events import PageDone, PhaseB, SessionEvent
from lanfax.providers.common import ProviderJob, receiving_status, sending_status
from lanfax.providers.iax2.call import Iax2Call
from lanfax.providers.iax2.callsetup import Dialer, Ringer
from lanfax.providers.iax2.events import CallEvent, Incoming
from lanfax.providers.iax2.media import VoicePump

if TYPE_CHECKING:
    from lanfax.providers.iax2.provider import Iax2Provider

__all__ = ["CallCtx", "Iax2Job", "Line", "receive_reporter", "send_reporter"]

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

    @property
    def label(self) -> str:
        return f"channel {self.local_id}"


class CallCtx:
    """What the provider keeps per IAX2 call: its set-up core until the answer, its events
    and, once up, its media."""

    def __init__(self, call: Iax2Call) -> None:
        self.call = call
        self.queue: asyncio.Queue[CallEvent] = asyncio.Queue()
        self.dialer: Dialer | None = None
        #: An incoming call's ring core, and the timer that wakes it for the next ring.
        self.ringer: Ringer | None = None
        self.ring_timer: asyncio.TimerHandle | None = None
        self.pump: VoicePump | None = None
        self.incoming: Incoming | None = None
        self.line: Line | None = None
        self.lag_ms: int | None = None


class Iax2Job(ProviderJob):
    """The JobHandle of the IAX2 provider."""

    def __init__(self, line: Line) -> None:
        super().__init__(line.provider, line.local_id)
        self.line = line
        self.ctx: CallCtx | None = None
        self._abort_event = asyncio.Event()


def send_reporter(
    job: Iax2Job, tx_pages: int, first_page: int = 1
) -> Callable[[SessionEvent], None]:
    def report(ev: SessionEvent) -> None:
        if isinstance(ev, PhaseB):
            job.set_status(sending_status(0, tx_pages, ev.remote_ident, first_page=first_page))
        elif isinstance(ev, PageDone):
            job.set_status(sending_status(ev.page, tx_pages, job.status.csi, first_page=first_page))

    return report


def receive_reporter(job: Iax2Job, caller: str, number: str) -> Callable[[SessionEvent], None]:
    def report(ev: SessionEvent) -> None:
        last = isinstance(ev, PageDone) and "EOP" in ev.frame
        pages = ev.page if isinstance(ev, PageDone) else 0
        job.set_status(receiving_status(pages, last, caller_id=caller, routing=number))

    return report
