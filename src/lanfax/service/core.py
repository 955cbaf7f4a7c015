"""FaxService: the one facade the HTTP API (and tests) call.

Life cycle: ``service = FaxService(settings)``, ``await service.start()`` on the event loop
that will run it (opens the store, recovers from a crash, loads providers, starts
dispatching), then ``await service.stop()`` (stops dispatching, aborts calls, closes the
store). Every method raises only FaxError subclasses for bad input or a forbidden state.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from lanfax import __version__
from lanfax.documents.types import ConversionLimits
from lanfax.model.clock import Clock, SystemClock
from lanfax.model.codes import (
    NO_JOB,
    EventId,
    LogCategory,
    LogLevel,
    PortOpenMode,
    QueueStatus,
)
from lanfax.model.config import DEFAULT_LOGGING, LOGGER_FOR_CATEGORY, LoggingCategory, ServerConfig
from lanfax.model.devices import DeviceStatusInfo, PortInfo
from lanfax.model.errors import ConfigError, FaxError, InvalidInput, NotFound
from lanfax.model.events import Event, NewEvent
from lanfax.model.jobs import Job
from lanfax.model.wire import enum_from_wire
from lanfax.service import covers, docs
from lanfax.service.accounts import PREFIX as ACCOUNT_PREFIX
from lanfax.service.accounts import Accounts
from lanfax.service.archive import Archiver
from lanfax.service.contacts import ContactBook
from lanfax.service.context import ServiceContext
from lanfax.service.control import JobControl
from lanfax.service.devices import DeviceManager
from lanfax.service.dispatcher import Dispatcher
from lanfax.service.extensions import Extensions
from lanfax.service.inbound import InboundPipeline, InboundRouter
from lanfax.service.leases import NodeLeases
from lanfax.service.looplag import LoopLagMonitor
from lanfax.service.metrics import ServiceMetrics
from lanfax.service.nodes import ClusterBridge, NodeKeeper, node_of_device
from lanfax.service.outbound import OutboundTable
from lanfax.service.outbound_admin import NAMESPACE as OUTBOUND_NAMESPACE
from lanfax.service.outbound_admin import OutboundRouting
from lanfax.service.receipts import Receipts
from lanfax.service.recovery import recover, take_over, take_over_unleased
from lanfax.service.retention import Retention, RetentionSettings
from lanfax.service.routing import open_routing
from lanfax.service.settings import ServiceSettings
from lanfax.service.spool import Spool
from lanfax.service.submit import Submission, Submitter
from lanfax.store.api import AuditEntry, JobQuery, Store
from lanfax.store.notify import listen_url

log = logging.getLogger("lanfax.init")
#: #18: how often a node of a cluster looks for what a dead node left owed (receipts, the
#: archive, routing jobs) besides its own start.
CLUSTER_CATCH_UP_S = 60.0

#: Python logging level for each FAXLOG level.
_PY_LEVEL = {
    LogLevel.NONE: logging.CRITICAL + 10,
    LogLevel.MIN: logging.WARNING,
    LogLevel.MED: logging.INFO,
    LogLevel.MAX: logging.DEBUG,
}


def open_store(url: str) -> Store:
    """The store for ``url`` (lanfax.store.open_store)."""
    from lanfax import store as store_pkg

    opener = getattr(store_pkg, "open_store", None)
    if opener is None:  # pragma: no cover - only while the store is not merged
        from lanfax.model.errors import Unavailable

        raise Unavailable("lanfax.store.open_store is missing", hint="install the store package")
    result: Store = opener(url)
    return result


class FaxService:
    """The fax service runtime. Create on any thread; start/stop on its event loop."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        clock: Clock | None = None,
        store: Store | None = None,
        router: InboundRouter | None = None,
        tz: tzinfo | None = None,
    ) -> None:
        if not settings.data_dir.is_absolute():
            # Paths are made absolute once, here at the latest (lanfax serve does it when it
            # reads its settings): the folder route refuses relative folders.
            from lanfax.service.settings import absolute_paths

            settings = absolute_paths(settings)
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.spool = Spool(settings.data_dir, node=settings.node.name)  # #18: per-node tmp
        self._store = store
        self._tz = tz
        self._router = router
        self.started_at: datetime | None = None
        #: The event loop's stalls (issue #14, item 7).
        self.loop_lag = LoopLagMonitor()
        #: Pruning of events, audit and activity by age (issue #14, item 12).
        self.retention: Retention | None = None
        self._ctx: ServiceContext | None = None
        self._logging: list[LoggingCategory] = list(DEFAULT_LOGGING)
        #: This node's name (#18; "main" unless [node] name says otherwise), its API's URL
        #: (set by lanfax serve before start, recorded in the nodes table) and its keeper.
        self.node_name = settings.node.name
        self.node_url = ""
        self.node: NodeKeeper | None = None
        self._bridge: ClusterBridge | None = None
        self._settings_listeners: list[Callable[[str | None], None]] = []
        #: The Prometheus metrics of /metrics (#18).
        self.metrics = ServiceMetrics(self, lambda: self.node_name)

    # -- life cycle ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True between a completed start() and stop()."""
        return self._ctx is not None and self.started_at is not None

    @property
    def ctx(self) -> ServiceContext:
        if self._ctx is None:
            raise RuntimeError("the service is not started")
        return self._ctx

    async def start(self) -> None:
        """Open everything, recover from a crash, and begin dispatching."""
        try:
            await self._start()
        except BaseException:
            if self._bridge is not None:
                self._bridge.stop()
                self._bridge = None
            if self.node is not None:  # #18: a failed start gives the node's place back
                self.node.release()
                self.node = None
            raise

    # -- #18: other nodes' settings changes ---------------------------------------------------

    def on_settings_changed(self, listener: Callable[[str | None], None]) -> None:
        """Call ``listener(namespace)`` when another node changed a settings namespace (None:
        any may have changed). Called on the service's loop; it drops what it cached."""
        self._settings_listeners.append(listener)

    def _settings_changed(self, namespace: str | None) -> None:
        for listener in self._settings_listeners:
            listener(namespace)
        if namespace in (None, "config", "logging") and self._ctx is not None:
            asyncio.get_running_loop().create_task(self._reload_config())

    def _abort_heard(self, job_id: int) -> None:
        """Another node committed the cancel of a job on a call: abort it if it is ours."""
        if self._ctx is not None and getattr(self, "dispatcher", None) is not None:
            asyncio.get_running_loop().create_task(self._abort_call(job_id))

    async def _abort_call(self, job_id: int) -> None:
        if await self.dispatcher.abort(job_id):
            log.info("job %d canceled through another node: its call is aborted", job_id)

    async def _lease_beat(self, *, renew: bool = True) -> None:
        """#18, after each heartbeat: renew this node's leases (a lease found lost aborts its
        call), then settle the calls of nodes whose leases expired."""
        ctx = self.ctx
        if renew:
            await ctx.leases.renew()
        if self._bridge is None:
            return  # SQLite or memory: one node, nobody else's calls to settle
        await take_over(ctx, self.metrics.lease_takeovers.inc)
        if self.node is not None:  # calls without a lease (receives) of dead or unknown nodes
            mine, live = self.node.number, await self.node.live_others()
            self.dispatcher.others_alive = bool(live)
            await take_over_unleased(
                ctx, lambda n: n != mine and n not in live, self.metrics.lease_takeovers.inc
            )

    async def _reload_config(self) -> None:
        """Another node changed the configuration or the logging levels: take them over."""
        try:
            self.ctx.config = await self._load_config()
            await self._load_logging()
        except (FaxError, RuntimeError) as exc:  # stopping, or the database is away
            log.warning("the configuration changed by another node was not reloaded: %s", exc)
            return
        self.ctx.wake()

    async def _start(self) -> None:
        settings = self.settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.spool.create()
        store = self._store or open_store(settings.store_url)
        self._store = store
        tz = self._tz or settings.tz()
        ctx = ServiceContext(store, self.spool, self.clock, tz)
        self._ctx = ctx
        await ctx.run(store.open)
        await ctx.start()
        # #18: this process as a node of the database, before anything touches the queue (a
        # second lanfax serve on the same SQLite file is refused here).
        self.node = NodeKeeper(ctx, settings.node, self.node_url)
        await self.node.register()
        # #18: this node's leases on jobs (claims, fenced writes, renewals with the heartbeat).
        ctx.leases = NodeLeases(ctx, self.node_name, self.node.lease)
        self.node.start()
        url = listen_url(store)
        if url is not None:  # #18: hear what other nodes of this database commit
            self._bridge = ClusterBridge(ctx, url, self._settings_changed, self._abort_heard)
            self._bridge.start()
            ctx.shared = True  # one job read for an answer: the store's, not the copy's lag
        ctx.config = await self._load_config()
        await self._load_logging()
        removed = await ctx.run(self.spool.clean_tmp)
        if removed:
            log.info("removed %d orphan staged upload(s)", removed)
        self.devices = DeviceManager(ctx)
        self.devices.node_number = self.node.number  # #18: device ids name their node
        self.devices.node_name = self.node.record.name if self.node.record else "main"
        self.routing = await open_routing(ctx, settings.data_dir, settings.routing, self.devices)
        if url is not None:  # #18: faxes other nodes received, their routing state
            self.routing.scan_every = self.node.lease.total_seconds()
            self.routing.node_number = self.node.number
            self.routing.defer = self.node.lease.total_seconds()
            self.on_settings_changed(self.routing.settings_changed)
        self.extensions = Extensions(self)  # registered providers / extensions (issue #13)
        await self.extensions.load_routing()
        await self.extensions.load_providers()
        self.inbound = InboundPipeline(ctx, self.devices, self._router or self.routing)
        self.inbound.min_free_bytes = settings.min_free_bytes
        self.archiver = Archiver(ctx, settings.data_dir)
        if url is not None:  # #18: faxes a dead node left unarchived
            self.archiver.catch_up_every = CLUSTER_CATCH_UP_S
        self.receipts = Receipts(ctx, settings.receipts)
        if url is not None:  # #18: other nodes may die owing receipts: look for them
            self.receipts.catch_up_every = CLUSTER_CATCH_UP_S
        self.dispatcher = Dispatcher(ctx, self.devices, dialing_rules=settings.dialing)
        if self._bridge is not None:  # #18: a job on a call here keeps this node's copy
            self._bridge.on_call_here = self.dispatcher.is_running
        # Outgoing routing groups and rules (#13): the dispatcher dials by them.
        self.outbound = OutboundRouting(ctx, self.devices, settings.dialing, self._outbound_changed)
        await self.outbound.load()
        if url is not None:  # #18: groups and rules another node changed
            self.on_settings_changed(self._outbound_heard)
        self.accounts = Accounts(ctx)  # #13 fax accounts and personal inboxes
        await self.accounts.load()
        if url is not None:  # #18: accounts another node created or removed
            self.on_settings_changed(self._accounts_heard)
        self.devices.listener = _Listener(self)
        self.submitter = Submitter(
            ctx,
            limits=ConversionLimits(
                max_pages=settings.max_pages, timeout=settings.conversion_timeout
            ),
            memory_bytes=settings.conversion_memory_bytes,
        )
        self.submitter.max_recipient_pages = settings.max_recipient_pages
        self.submitter.max_spool_bytes = settings.max_spool_bytes
        self.submitter.min_free_bytes = settings.min_free_bytes
        self.submitter.receipt_allows = settings.receipts.allows
        self.control = JobControl(ctx, self.dispatcher, self.spool)
        self.contacts = ContactBook(ctx)  # the address book (issue #13)
        # #18: another live node's calls are its own, not a crash's (device ids name nodes).
        others = await self.node.live_others()
        # #18: alone on the database, a receipt claim left by this node's earlier process is
        # its own: the receipts are tried again at once rather than when the claim ends.
        self.receipts.retry_claimed_at_start = not others
        await recover(ctx, skip=lambda job: node_of_device(job.device_id) in others)
        # #18: dead nodes' calls whose lease expired are settled now, then with the heartbeat.
        await self._lease_beat(renew=False)
        self.node.on_beat.append(self._lease_beat)
        ctx.load_unfinished(await ctx.run(store.unfinished_jobs))
        await self.devices.start(settings.providers)
        await self.extensions.start_providers()
        self.started_at = self.clock.now()
        await ctx.emit([NewEvent(EventId.FAXSVC_STARTED, 0, NO_JOB, {"version": __version__})])
        self.dispatcher.start()
        self.loop_lag.start()
        self.retention = Retention(
            ctx,
            RetentionSettings(
                settings.keep_events_days, settings.keep_audit_days, settings.keep_activity_days
            ),
        )
        self.retention.start()
        await self.routing.start()
        await self.archiver.start()
        await self.receipts.start()
        # /metrics (#18): counts from here on (recovery's changes are the baseline).
        self.metrics.baseline(ctx.unfinished.values())
        ctx.on_jobs_changed(self.metrics.jobs_changed)
        self.submitter.on_conversion = self.metrics.observe_conversion

    async def stop(self) -> None:
        """Stop dispatching, abort calls in progress, shut providers down, close the store."""
        if self._ctx is None:
            return
        ctx = self._ctx
        await self.loop_lag.stop()
        if self.retention is not None:
            await self.retention.stop()
        await self.dispatcher.stop(abort_calls=True)
        await self.inbound.stop()
        await self.routing.stop()
        await self.archiver.stop()
        await self.receipts.stop()
        await self.devices.shutdown()
        try:
            await ctx.emit([NewEvent(EventId.FAXSVC_ENDED, 0, NO_JOB)])
        finally:
            await ctx.bus.close()
            if self._bridge is not None:
                await ctx.run(self._bridge.stop)
                self._bridge = None
            if self.node is not None:  # #18: a clean stop, the node's place given back
                await self.node.stop()
                self.node = None
            self.submitter.close()
            await ctx.run(ctx.store.close)
            ctx.close_executor()
            self._ctx = None

    def _outbound_heard(self, namespace: str | None) -> None:
        """#18: another node changed the outgoing routing groups or rules: read them again."""
        if namespace in (None, OUTBOUND_NAMESPACE):
            asyncio.get_running_loop().create_task(self._reload_outbound())

    async def _reload_outbound(self) -> None:
        try:
            await self.outbound.load()
        except (FaxError, RuntimeError) as exc:  # stopping, or the database is away
            log.warning("outgoing routing changed by another node not reloaded: %s", exc)
            return
        self.ctx.wake()

    def _accounts_heard(self, namespace: str | None) -> None:
        """#18: another node created or removed a fax account: read it (or all) again."""
        if namespace is None or namespace.startswith(ACCOUNT_PREFIX):
            asyncio.get_running_loop().create_task(self._reload_accounts(namespace))

    async def _reload_accounts(self, namespace: str | None) -> None:
        try:
            await self.accounts.reload(namespace)
        except (FaxError, RuntimeError) as exc:  # stopping, or the database is away
            log.warning("fax accounts changed by another node not reloaded: %s", exc)

    def _outbound_changed(self, table: OutboundTable) -> None:
        self.dispatcher.outbound = table

    def wake(self) -> None:
        """Plan again now (after a test moved a ManualClock, for instance)."""
        self.ctx.wake()
        self.routing.wake()

    # -- server ---------------------------------------------------------------------------

    def server_info(self) -> dict[str, Any]:
        ctx = self.ctx
        active = sum(
            1 for j in ctx.unfinished.values() if j.queue_status is QueueStatus.IN_PROGRESS
        )
        return {
            "version": __version__,
            "started_at": self.started_at,
            "queue_paused": ctx.config.pause_server_queue,
            "devices": len(self.devices.devices),
            "jobs_active": active,
            # the newest event's cursor: follow /events?after=<this> to hear only what is new
            "last_event_seq": ctx.bus.published_seq,
            # Stalls of the event loop over 100 ms since the start (issue #14).
            "loop_lag": self.loop_lag.stats.to_wire(),
        }

    # -- configuration ---------------------------------------------------------------------

    async def _load_config(self) -> ServerConfig:
        stored = dict(await self.ctx.get_settings("config"))
        config = ServerConfig.from_mapping(self.settings.initial_config)
        archive = stored.get("archive_directory")
        if isinstance(archive, str) and archive and not os.path.isabs(archive):
            # Stored by a version that accepted relative paths: it meant this directory.
            stored["archive_directory"] = os.path.abspath(archive)
            log.warning("archive_directory %r read as %r", archive, stored["archive_directory"])
        try:
            return config.with_changes(stored)
        except ConfigError as exc:
            log.error("stored configuration ignored: %s", exc)
            return config

    def get_config(self) -> ServerConfig:
        return self.ctx.config

    async def set_config(self, changes: Mapping[str, Any]) -> ServerConfig:
        """Validate and apply ``changes`` (lanfax or Windows names), persist, emit
        CONFIG_CHANGED; effective at once."""
        if not isinstance(changes, Mapping) or not changes:
            raise ConfigError("no settings given", hint='send e.g. {"retries": 5}')
        ctx = self.ctx
        new = ctx.config.with_changes(changes)
        changed = sorted(k for k, v in new.to_dict().items() if ctx.config.to_dict()[k] != v)
        await ctx.put_settings(
            "config",
            new.to_dict(),
            [NewEvent(EventId.CONFIG_CHANGED, 0, NO_JOB, {"changed": changed})],
        )
        ctx.config = new
        ctx.wake()  # PauseServerQueue, retry delay, discount period: plan again
        return new

    # -- logging categories -------------------------------------------------------------------

    async def _load_logging(self) -> None:
        stored = await self.ctx.get_settings("logging")
        levels = stored.get("levels", {})
        out = []
        for cat in DEFAULT_LOGGING:
            raw = levels.get(cat.category.name.lower())
            level = cat.level
            if raw is not None:
                try:
                    level = enum_from_wire(LogLevel, raw, "level")
                except InvalidInput:
                    log.error("stored logging level %r ignored", raw)
            out.append(LoggingCategory(cat.name, cat.category, level))
        self._apply_logging(out)

    def _apply_logging(self, categories: list[LoggingCategory]) -> None:
        self._logging = categories
        for cat in categories:
            logging.getLogger(LOGGER_FOR_CATEGORY[cat.category]).setLevel(_PY_LEVEL[cat.level])

    def get_logging(self) -> list[LoggingCategory]:
        return list(self._logging)

    async def set_logging(self, items: Sequence[Mapping[str, Any]]) -> list[LoggingCategory]:
        """FaxSetLoggingCategories: set the level of the categories given (by ``category``)."""
        if not isinstance(items, list) or not items:
            raise InvalidInput(
                "expected a list of logging categories",
                hint='send e.g. [{"category": "outbound", "level": "max"}]',
            )
        by_cat = {c.category: c for c in self._logging}
        for i, item in enumerate(items):
            if not isinstance(item, Mapping) or "category" not in item or "level" not in item:
                raise InvalidInput(
                    f"logging[{i}] needs category and level",
                    hint='e.g. {"category": "outbound", "level": "max"}',
                )
            cat = enum_from_wire(LogCategory, item["category"], f"logging[{i}].category")
            level = enum_from_wire(LogLevel, item["level"], f"logging[{i}].level")
            by_cat[cat] = LoggingCategory(by_cat[cat].name, cat, level)
        new = [by_cat[c.category] for c in DEFAULT_LOGGING]
        await self.ctx.put_settings(
            "logging",
            {"levels": {c.category.name.lower(): c.level.name.lower() for c in new}},
            [NewEvent(EventId.CONFIG_CHANGED, 0, NO_JOB, {"changed": ["logging"]})],
        )
        self._apply_logging(new)
        return new

    # -- ports -------------------------------------------------------------------------------

    def ports(self) -> list[PortInfo]:
        return self.devices.ports()

    def port(self, device_id: int) -> PortInfo:
        return self.devices.port_info(device_id)

    def device_status(self, device_id: int) -> DeviceStatusInfo:
        return self.devices.status(device_id)

    def open_port(self, device_id: int, mode: PortOpenMode) -> str:
        return self.devices.open_handle(device_id, mode)

    def close_handle(self, handle: str) -> None:
        self.devices.close_handle(handle)

    async def set_port(
        self, device_id: int, handle: str | None, changes: Mapping[str, Any]
    ) -> PortInfo:
        return await self.devices.set_port(device_id, handle, changes)

    # -- jobs ------------------------------------------------------------------------------

    async def submit(
        self,
        submission: Submission,
        files: Sequence[Path],
        *,
        user_name: str = "anonymous",
        stage_dir: Path | None = None,
        labels: Sequence[str] = (),
        audit: Sequence[AuditEntry] = (),
        broadcast_id: str | None = None,
        write_first: Callable[[], None] | None = None,
    ) -> tuple[str, list[Job]]:
        """Commit one job per recipient sharing one document; see lanfax.service.submit.
        ``labels`` name the files in errors ("file part 2 (scan.pdf)"); ``audit`` entries are
        committed with the jobs; ``write_first`` writes deferred uploads (#19)."""
        began = self.clock.monotonic()
        result = await self.submitter.submit(
            submission,
            files,
            user_name=user_name,
            stage_dir=stage_dir,
            labels=labels,
            audit=audit,
            broadcast_id=broadcast_id,
            write_first=write_first,
        )
        self.metrics.observe_submission(self.clock.monotonic() - began)  # /metrics (#18)
        return result

    async def get_job(self, job_id: int) -> Job:
        job = await self.ctx.get_job(job_id)
        if job is None:
            raise NotFound(f"there is no job {job_id}", hint="list the jobs to see their ids")
        return job

    async def list_jobs(self, query: JobQuery) -> list[Job]:
        return await self.ctx.run(self.ctx.store.list_jobs, query)

    async def pause(self, job_id: int) -> Job:
        return await self.control.pause(await self.get_job(job_id))

    async def resume(self, job_id: int) -> Job:
        return await self.control.resume(await self.get_job(job_id))

    async def cancel(self, job_id: int) -> Job:
        return await self.control.cancel(await self.get_job(job_id))

    async def restart(self, job_id: int) -> Job:
        return await self.control.restart(await self.get_job(job_id))

    async def delete(self, job_id: int) -> None:
        self.archiver.check_deletable(job_id)  # its fax may be the archive's only copy (#14)
        await self.control.delete(await self.get_job(job_id))

    async def job_document(self, job_id: int) -> Path:
        """The job's whole TIFF. For a job with a cover page of its own (issue #14: the body
        is stored once per broadcast) it is joined into ``spool/tmp``: a file the caller
        removes when done (:meth:`Spool.is_temporary` says so)."""
        job = await self.get_job(job_id)
        if not job.document_path:
            raise NotFound(f"job {job_id} has no document", hint="nothing was sent or received")
        path = await self.ctx.run(self.spool.resolve, job.document_path)
        body = covers.body_path(job.extra)
        if not body:
            return path
        joined = self.spool.tmp / f"whole-{job_id}-{secrets.token_hex(4)}.tif"
        body_file = await self.ctx.run(self.spool.resolve, body)
        await self.ctx.run(covers.join, path, body_file, joined)
        return joined

    async def page_data(self, job_id: int) -> tuple[bytes, int, int]:
        """FaxGetPageData: the first page as TIFF Class F, with width and height (a job's
        own cover page, when it has one, is its first page)."""
        job = await self.get_job(job_id)
        if not job.document_path:
            raise NotFound(f"job {job_id} has no document", hint="nothing was sent or received")
        path = await self.ctx.run(self.spool.resolve, job.document_path)
        return await self.ctx.run(docs.first_page, path)

    # -- events ------------------------------------------------------------------------------

    def subscribe(self, after_seq: int = 0) -> AsyncGenerator[Event, None]:
        return self.ctx.bus.subscribe(after_seq)

    async def events_after(self, after_seq: int, limit: int = 1000) -> list[Event]:
        return await self.ctx.bus.backlog(after_seq, limit)


class _Listener:
    """Routes provider notifications to the dispatcher (sends) or the inbound pipeline."""

    def __init__(self, service: FaxService) -> None:
        self._s = service

    def ring(self, device: Any, call: Any) -> None:
        self._s.inbound.ring(device, call)

    def call_ended(self, device: Any, call_id: str) -> None:
        self._s.inbound.call_ended(device, call_id)

    def status(self, device: Any, status: Any) -> None:
        from lanfax.model.codes import JobType

        if device.live.job_type is JobType.RECEIVE:
            self._s.inbound.status(device, status)
        else:
            self._s.dispatcher.status(device, status)

    async def progress_recorded(self, device: Any) -> None:
        from lanfax.model.codes import JobType

        if device.live.job_type is not JobType.RECEIVE:
            await self._s.dispatcher.progress_recorded(device)
