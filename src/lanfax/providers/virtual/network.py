"""The in-process telephone network: lines by number, and calls between them.

Every :class:`~lanfax.providers.virtual.VirtualProvider` in a process that names the same
network (``network = "default"`` unless configured) attaches its lines to one
:class:`VirtualNetwork`, so any line can dial any other, across providers. A network lives on
one event loop: all of its state is touched from that loop only (the media of a fast call runs
in a worker thread, but it only touches the call's own :class:`~.media.Exchange`).

A :class:`Call` is the signalling of one call: ringing, answered, ended. The caller's provider
owns it and runs its media; the callee's provider rings its line and answers it.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from lanfax.engine.events import SessionEvent
from lanfax.engine.session import FaxSession
from lanfax.model.errors import ConfigError, ProviderError
from lanfax.providers.api import CallResult
from lanfax.providers.virtual.media import AudioEnd, CutReason, Exchange, PacketEnd, Progress
from lanfax.providers.virtual.numbers import Dialed

__all__ = [
    "Answer",
    "Call",
    "CallState",
    "LineEndpoint",
    "VirtualNetwork",
    "get_network",
    "networks",
]


class CallState(enum.Enum):
    RINGING = "ringing"
    CONNECTED = "connected"
    ENDED = "ended"


class CallGaveUp(Exception):
    """The caller stopped ringing (abort, answer timeout, shutdown); internal to the package."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What the answering side brings to a call: its end of the media, built for the call's
    ``media`` by the side that answers (so its own errors stay its own).

    ``session`` is the spandsp session behind ``end`` (None for a voice); ``report`` receives
    the callee's progress on the event loop; ``far_end`` says who answered ("line", "robot",
    "voice"); ``rx_file`` is where a robot kept what it received; ``cleanup`` runs once the
    media is over (a robot deleting its temporary directory); ``watch`` sees each of the
    callee's session events on the media's own thread, as they happen (a
    :class:`~lanfax.providers.common.ReceiveGuard` cutting the call).
    """

    end: AudioEnd | PacketEnd
    session: FaxSession | None
    report: Callable[[Progress], None]
    far_end: str = "line"
    rx_file: Path | None = None
    cleanup: Callable[[], None] | None = None
    watch: Callable[[SessionEvent], None] | None = None


class Call:
    """One call's signalling. Created by the caller's provider; all methods run on the loop."""

    _ids = itertools.count(1)

    def __init__(
        self,
        caller_number: str,
        called_number: str,
        dialed: Dialed,
        network: VirtualNetwork,
        media: str,
    ) -> None:
        loop = asyncio.get_running_loop()
        self.call_id = f"{network.name}-{next(self._ids)}"
        self.caller_number = caller_number
        self.called_number = called_number
        self.dialed = dialed
        #: "audio" or "t38": the caller's mode decides what kind of end the callee builds.
        self.media = media
        self.state = CallState.RINGING
        self.answered: asyncio.Future[Answer] = loop.create_future()
        #: Set by the caller's side when the media ended: the callee's result.
        self.callee_result: asyncio.Future[CallResult] = loop.create_future()
        #: Set whenever the state changes (ring loops wait on it between rings).
        self.changed = asyncio.Event()
        self.exchange: Exchange | None = None
        self._pending_cut: CutReason | None = None

    def answer(self, answer: Answer) -> bool:
        """The callee picks up; False if the call is no longer ringing."""
        if self.state is not CallState.RINGING or self.answered.done():
            return False
        self.state = CallState.CONNECTED
        self.answered.set_result(answer)
        self.changed.set()
        return True

    def give_up(self, why: str) -> None:
        """The caller hangs up before an answer (timeout, abort, shutdown)."""
        if self.state is CallState.RINGING:
            self.state = CallState.ENDED
            if not self.answered.done():
                self.answered.set_exception(CallGaveUp(why))
                # Retrieve it so asyncio does not warn when nobody is waiting any more.
                self.answered.exception()
            self.changed.set()

    def attach(self, exchange: Exchange) -> None:
        """The media started; a cut requested before now is applied to it."""
        self.exchange = exchange
        if self._pending_cut is not None:
            exchange.request_cut(self._pending_cut)

    def cut(self, reason: CutReason) -> None:
        """Hang up a connected call (an abort on either side): the media ends at its next tick."""
        if self.exchange is not None:
            self.exchange.request_cut(reason)
        elif self._pending_cut is None:
            self._pending_cut = reason

    def end(self) -> None:
        self.state = CallState.ENDED
        self.changed.set()


class LineEndpoint(Protocol):
    """What the network needs from a line (implemented by the virtual provider's lines)."""

    @property
    def number(self) -> str: ...

    def is_busy(self) -> bool: ...

    def offer(self, call: Call) -> None:
        """Start ringing with ``call`` (only called when not busy)."""


class VirtualNetwork:
    """Lines by number. Attach and detach happen at provider initialize/shutdown."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lines: dict[str, LineEndpoint] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self, line: LineEndpoint, owner: str) -> None:
        """Add a line; ConfigError if its number is taken on this network."""
        loop = asyncio.get_running_loop()
        if self._lines and self._loop is not loop:
            raise ProviderError(
                f"virtual network {self.name!r} is in use on another event loop",
                hint="give this provider its own network name, or shut the other one down",
            )
        self._loop = loop
        if line.number in self._lines:
            raise ConfigError(
                f"number {line.number} is already used on virtual network {self.name!r}",
                hint=f"give {owner}'s line another number, or put it on another network",
            )
        self._lines[line.number] = line

    def detach(self, line: LineEndpoint) -> None:
        if self._lines.get(line.number) is line:
            del self._lines[line.number]
        if not self._lines:
            self._loop = None
            _NETWORKS.pop(self.name, None)

    def lookup(self, number: str) -> LineEndpoint | None:
        return self._lines.get(number)

    def numbers(self) -> list[str]:
        return sorted(self._lines)


_NETWORKS: dict[str, VirtualNetwork] = {}


def get_network(name: str) -> VirtualNetwork:
    """The process-wide network called ``name`` (created on first use)."""
    net = _NETWORKS.get(name)
    if net is None:
        net = _NETWORKS[name] = VirtualNetwork(name)
    return net


def networks() -> dict[str, VirtualNetwork]:
    """The networks in use (for diagnostics and tests)."""
    return dict(_NETWORKS)
