"""A small stand-in for the fax service, driving providers only through the provider API.

It implements ServiceCallbacks, answers a ringing line after N rings with start_job +
receive + end_job (as the service does after the port's Rings), and records every status,
ring and log line so tests can assert on them.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lanfax.providers.api import (
    CallResult,
    FaxDevStatus,
    FaxProvider,
    FaxReceive,
    FaxSend,
    IncomingCall,
    SendOptions,
)


@dataclass
class Received:
    local_id: str
    call: IncomingCall
    file: Path
    result: CallResult


@dataclass
class Harness:
    """ServiceCallbacks plus an auto-answering receive loop."""

    rx_dir: Path
    #: Rings before answering, per local_id; lines not listed are never answered.
    answer_after: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, list[FaxDevStatus]] = field(default_factory=lambda: defaultdict(list))
    #: How often a provider waited for its confirmed pages to be recorded (per line).
    progress_waits: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    rings: dict[str, list[IncomingCall]] = field(default_factory=lambda: defaultdict(list))
    ended: list[tuple[str, str]] = field(default_factory=list)
    logs: list[tuple[str, int, str]] = field(default_factory=list)
    received: dict[str, asyncio.Future[Received]] = field(default_factory=dict)
    owners: dict[str, FaxProvider] = field(default_factory=dict)
    #: Called after each status is recorded (a test reacts to progress through these).
    watchers: list[Callable[[str, FaxDevStatus], None]] = field(default_factory=list)
    receive_jobs: dict[str, Any] = field(default_factory=dict)
    #: SendOptions for answering, per local_id (default: SendOptions()).
    receive_options: dict[str, SendOptions] = field(default_factory=dict)
    #: FaxReceive.max_pages / FaxReceive.screen for answering, per local_id.
    receive_limits: dict[str, dict[str, Any]] = field(default_factory=dict)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _n: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # -- ServiceCallbacks -----------------------------------------------------------------

    def ring(self, local_id: str, call: IncomingCall) -> None:
        asyncio.get_running_loop()  # callbacks must come on the event loop thread
        self.rings[local_id].append(call)
        wanted = self.answer_after.get(local_id)
        if wanted is not None and call.ring_count == wanted:
            task = asyncio.get_running_loop().create_task(self._answer(local_id, call))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def call_ended(self, local_id: str, call_id: str) -> None:
        asyncio.get_running_loop()
        self.ended.append((local_id, call_id))

    def status(self, local_id: str, status: FaxDevStatus) -> None:
        asyncio.get_running_loop()
        self.statuses[local_id].append(status)
        for watcher in self.watchers:
            watcher(local_id, status)

    async def progress_recorded(self, local_id: str) -> None:
        asyncio.get_running_loop()
        self.progress_waits[local_id] += 1

    def log(self, local_id: str, level: int, message: str) -> None:
        self.logs.append((local_id, level, message))

    # -- helpers --------------------------------------------------------------------------

    async def add(self, provider: FaxProvider, config: Mapping[str, Any]) -> FaxProvider:
        await provider.initialize(config, self)
        for dev in provider.virtual_devices():
            self.owners[dev.local_id] = provider
        return provider

    def expect(self, local_id: str) -> asyncio.Future[Received]:
        fut: asyncio.Future[Received] = asyncio.get_running_loop().create_future()
        self.received[local_id] = fut
        return fut

    async def _answer(self, local_id: str, call: IncomingCall) -> None:
        provider = self.owners[local_id]
        target = self.rx_dir / f"rx-{local_id.replace(':', '_')}-{next(self._n)}.tif"
        fut = self.received.get(local_id)
        try:
            job = await provider.start_job(local_id)
            self.receive_jobs[local_id] = job
            try:
                options = self.receive_options.get(local_id, SendOptions())
                limits = self.receive_limits.get(local_id, {})
                fax = FaxReceive(target, receiver_number="", options=options, **limits)
                result = await provider.receive(job, fax)
            finally:
                await provider.end_job(job)
        except BaseException as exc:
            if fut is not None and not fut.done():
                fut.set_exception(exc)
            raise
        if fut is not None and not fut.done():
            fut.set_result(Received(local_id, call, target, result))

    async def send(
        self,
        provider: FaxProvider,
        local_id: str,
        document: Path,
        number: str,
        **kw: Any,
    ) -> tuple[CallResult, int]:
        """start_job + send + end_job; returns the result and how often the call was
        reported in progress."""
        in_progress = 0

        def cb() -> None:
            nonlocal in_progress
            in_progress += 1

        job = await provider.start_job(local_id)
        try:
            result = await provider.send(job, FaxSend(document, number, **kw), cb)
        finally:
            await provider.end_job(job)
        return result, in_progress
