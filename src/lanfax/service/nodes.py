"""This process as a node of the database (issue #18): registration at start, heartbeats.

:class:`NodeKeeper` registers the node (``[node] name``) when the service starts, before
anything else touches the queue, so a second ``lanfax serve`` on the same SQLite file (or a
second process with the same node name on PostgreSQL) is refused before it could recover,
dispatch or answer anything (lanfax.store.nodes says how). It then writes a heartbeat every
``heartbeat_s`` and records a clean stop.

The node's ``number`` names its devices (lanfax.service.devices) and its spool ``tmp``
directory is its own (lanfax.service.spool). After each heartbeat it runs :attr:`on_beat`:
the service renews this node's leases on jobs there and takes over the calls of nodes whose
leases expired (lanfax.service.leases, lanfax.service.recovery.take_over).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import timedelta

from lanfax import __version__
from lanfax.model.codes import NO_JOB, QueueStatus
from lanfax.model.devices import node_of_device as node_of_device  # importable from here too
from lanfax.model.errors import FaxError
from lanfax.service.cluster_settings import NodeSettings
from lanfax.service.context import ServiceContext
from lanfax.store.nodes import NodeRecord, NodeRegistry, NodeStart, open_nodes
from lanfax.store.notify import ABORTS, EVENTS, SETTINGS, PgListener

log = logging.getLogger("lanfax.init")


class NodeKeeper:
    """Registers this node, beats its heart, records its stop."""

    def __init__(self, ctx: ServiceContext, settings: NodeSettings, url: str = "") -> None:
        self.ctx = ctx
        self.settings = settings
        self.url = url
        self.registry: NodeRegistry = open_nodes(ctx.store)
        self.record: NodeRecord | None = None
        self._task: asyncio.Task[None] | None = None
        #: Run after each heartbeat (#18: renew this node's leases, take over dead nodes' jobs).
        self.on_beat: list[Callable[[], Awaitable[object]]] = []

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.lease_s)

    @property
    def number(self) -> int:
        if self.record is None:
            raise RuntimeError("the node is not registered")
        return self.record.number

    async def register(self) -> NodeRecord:
        """Take this node's place in the database (Conflict when another process has it)."""
        me = NodeStart(self.settings.name, socket.gethostname(), os.getpid(), self.url, __version__)
        self.record = await self.ctx.run(
            self.registry.register, me, self.ctx.clock.now(), self.lease
        )
        log.info(
            "node %r (number %d, start %d) registered",
            self.record.name,
            self.record.number,
            self.record.incarnation,
        )
        now = self.ctx.clock.now()
        others = [
            n.name
            for n in await self.ctx.run(self.registry.nodes)
            if n.name != self.record.name and n.alive(now, self.lease)
        ]
        if others:
            log.info("other live node(s) on this database: %s", ", ".join(others))
        return self.record

    def start(self) -> None:
        """Beat every heartbeat_s until :meth:`stop`."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._beat(), name="node-heartbeat")

    async def _beat(self) -> None:
        rec = self.record
        assert rec is not None
        while True:
            await asyncio.sleep(self.settings.heartbeat_s)
            try:
                ok = await self.ctx.run(
                    self.registry.heartbeat, rec.name, rec.incarnation, self.ctx.clock.now()
                )
            except FaxError as exc:  # the database is away: the next beat tries again
                log.warning("node heartbeat not written: %s", exc)
                continue
            if not ok:
                log.error(
                    "node %r: the nodes table names another start of this node; this"
                    " process no longer owns the name (check for a second lanfax serve"
                    " with the same [node] name)",
                    rec.name,
                )
            for hook in self.on_beat:
                try:
                    await hook()
                except FaxError as exc:  # the database is away: the next beat tries again
                    log.warning("after the heartbeat: %s", exc)
                except Exception:  # a bug must not stop the heartbeat (the node would die)
                    log.exception("after the heartbeat")

    async def stop(self) -> None:
        """Stop beating and record a clean stop (the node's lock is released)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        rec, self.record = self.record, None
        if rec is None:
            return
        try:
            await self.ctx.run(self.registry.stop, rec.name, rec.incarnation, self.ctx.clock.now())
        except FaxError as exc:  # the lock is released anyway; the heartbeat ages out
            log.warning("node stop not recorded: %s", exc)

    def release(self) -> None:
        """Drop the node's lock without writing (a start that failed after registering)."""
        self.registry.release()
        self.record = None

    async def live_others(self) -> frozenset[int]:
        """The numbers of the other nodes whose heartbeat is fresh (their calls are theirs)."""
        me = self.record.name if self.record else ""
        now = self.ctx.clock.now()
        nodes = await self.ctx.run(self.registry.nodes)
        return frozenset(n.number for n in nodes if n.name != me and n.alive(now, self.lease))

    async def nodes_info(self) -> list[dict[str, object]]:
        """Every node as the database has it, with ``alive`` judged by this node's lease."""
        nodes = await self.ctx.run(self.registry.nodes)
        now = self.ctx.clock.now()
        return [n.to_dict(now, self.lease) for n in nodes]


class ClusterBridge:
    """What other nodes commit, heard here (PostgreSQL LISTEN, lanfax.store.notify).

    New events: the event bus reads the store again, so this node's event-stream clients see
    them, and the jobs they name are read again into this node's copy of the queue (#18:
    the planner sees a job submitted, paused, resumed or finished on another node, and plans
    again at once). A settings namespace changed: ``on_settings`` is told its name (None:
    anything may have changed, after a reconnection) and drops or reloads what it cached of
    it. A job was canceled through another node: ``on_abort`` aborts its call if this node
    has it.
    """

    def __init__(
        self,
        ctx: ServiceContext,
        url: str,
        on_settings: Callable[[str | None], None],
        on_abort: Callable[[int], None] = lambda job_id: None,
    ) -> None:
        self.ctx = ctx
        self._on_settings = on_settings
        self._on_abort = on_abort
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pumping = False
        #: The last event whose job this node read again (the copy of the queue in step).
        self._jobs_seq = ctx.bus.published_seq
        #: Whether a job is on a call of this node (set by the service: the dispatcher's).
        self.on_call_here: Callable[[int], bool] = lambda job_id: False
        self._listener = PgListener(url, (EVENTS, SETTINGS, ABORTS), self._heard)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._listener.start()

    def stop(self) -> None:
        self._listener.stop()
        self._loop = None

    def _heard(self, channel: str, payload: str | None) -> None:  # the listener's thread
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._on_loop, channel, payload)

    def _on_loop(self, channel: str, payload: str | None) -> None:
        if channel == EVENTS:
            if not self._pumping:  # a burst of commits: one read of the store
                self._pumping = True
                asyncio.get_running_loop().create_task(self._pump())
        elif channel == SETTINGS:
            self._on_settings(payload)
        elif channel == ABORTS and payload and payload.isdigit():
            self._on_abort(int(payload))

    async def _pump(self) -> None:
        try:
            self._pumping = False  # a commit heard from now on pumps again
            await self.ctx.bus.pump()
            await self._jobs_in_step()
        except FaxError as exc:
            log.warning("other nodes' events not read: %s", exc)

    async def _jobs_in_step(self) -> None:
        """Read again the jobs named by the events committed since the last time, and put
        them in this node's copy of the queue (final ones leave it); then plan again. A job
        on a call of this node keeps its copy (this node writes it), but one found CANCELING
        is aborted: canceled through another node whose notification may have been lost."""
        ctx = self.ctx
        ids: set[int] = set()
        while True:
            events = await ctx.run(ctx.store.events_after, self._jobs_seq, 500)
            for ev in events:
                self._jobs_seq = max(self._jobs_seq, ev.seq)
                if ev.job_id != NO_JOB:
                    ids.add(ev.job_id)
            if len(events) < 500:
                break
        if not ids:
            return
        jobs = await ctx.leases.read_again(ids, keep=self.on_call_here)
        for job in jobs:
            if job.queue_status is QueueStatus.CANCELING and self.on_call_here(job.job_id):
                self._on_abort(job.job_id)
