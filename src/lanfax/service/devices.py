"""The device manager: providers, their devices (ports), port settings, handles, live status.

Each device gets a permanent numeric DeviceId, stable across restarts: the store keeps a map
from ``<provider instance>/<local id>`` to the id it was given (namespace ``devices``). A
port's settings (name, flags, rings, priority, TSID, CSID) are saved under ``port:<key>``.

Handles mirror FaxOpenPort: any number of query handles, at most one modify handle per port;
FaxSetPort needs the modify handle, and closing it (FaxClose) lets the next modifier in.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from lanfax.model.codes import NO_JOB, DeviceStatus, EventId, PortFlags, PortOpenMode
from lanfax.model.devices import DeviceStatusInfo, PortInfo
from lanfax.model.errors import ConfigError, Conflict, InvalidInput, NotFound
from lanfax.model.events import NewEvent
from lanfax.model.wire import enum_from_wire
from lanfax.providers.api import (
    FaxDevStatus,
    FaxProvider,
    IncomingCall,
    JobHandle,
    ProviderDevice,
)
from lanfax.providers.loader import ProviderSpec, create_provider, parse_provider_tables
from lanfax.service.context import ServiceContext
from lanfax.service.scheduler import DeviceView, own_key

log = logging.getLogger("lanfax.init")

_PORT_FIELDS = ("device_name", "flags", "rings", "priority", "tsid", "csid")
#: A port handle unused this long expires (FaxOpenPort's handles had no end, issue #14).
HANDLE_IDLE_SECONDS = 15 * 60.0
#: Port handles the server keeps open at once.
MAX_HANDLES = 1000


class DeviceEvents(Protocol):
    """What the device manager tells the rest of the service about calls on a line."""

    def ring(self, device: Device, call: IncomingCall) -> None: ...

    def call_ended(self, device: Device, call_id: str) -> None: ...

    def status(self, device: Device, status: FaxDevStatus) -> None: ...

    async def progress_recorded(self, device: Device) -> None: ...


@dataclass
class Device:
    """One device: its provider, its saved port settings and its live state."""

    device_id: int
    key: str
    instance: str
    provider: FaxProvider
    provider_type: str
    local_id: str
    offered: ProviderDevice
    port: PortInfo
    live: DeviceStatusInfo
    #: True while a job (send or receive) holds the line; set before any await, so the
    #: dispatcher and the inbound pipeline never both take it.
    busy: bool = False
    job_id: int | None = None
    handle: JobHandle | None = None
    #: Rings counted for the call currently offered (call_id -> rings).
    rings: dict[str, int] = field(default_factory=dict)

    @property
    def can_send(self) -> bool:
        return bool(self.port.flags & PortFlags.SEND)

    @property
    def can_receive(self) -> bool:
        return bool(self.port.flags & PortFlags.RECEIVE)

    def view(self) -> DeviceView:
        return DeviceView(
            self.device_id,
            self.can_send,
            not self.busy,
            self.port.priority,
            own_key(self.port.number),  # a line does not dial itself while another could
        )

    def set_live(self, **changes: Any) -> None:
        self.live = dataclasses.replace(self.live, **changes)


class _Callbacks:
    """The ServiceCallbacks given to one provider instance (local ids are per provider)."""

    def __init__(self, manager: DeviceManager, instance: str) -> None:
        self._manager = manager
        self._instance = instance

    def _device(self, local_id: str) -> Device | None:
        dev = self._manager.by_key.get(f"{self._instance}/{local_id}")
        if dev is None:
            log.warning("provider %s reported on unknown device %r", self._instance, local_id)
        return dev

    def ring(self, local_id: str, call: IncomingCall) -> None:
        dev = self._device(local_id)
        if dev is not None and self._manager.listener is not None:
            self._manager.listener.ring(dev, call)

    def call_ended(self, local_id: str, call_id: str) -> None:
        dev = self._device(local_id)
        if dev is not None and self._manager.listener is not None:
            self._manager.listener.call_ended(dev, call_id)

    def status(self, local_id: str, status: FaxDevStatus) -> None:
        dev = self._device(local_id)
        if dev is not None and self._manager.listener is not None:
            self._manager.listener.status(dev, status)

    async def progress_recorded(self, local_id: str) -> None:
        dev = self._device(local_id)
        if dev is not None and self._manager.listener is not None:
            await self._manager.listener.progress_recorded(dev)

    def log(self, local_id: str, level: int, message: str) -> None:
        logging.getLogger("lanfax.unknown").log(
            level, "%s/%s: %s", self._instance, local_id, message
        )


class DeviceManager:
    """Loads providers and keeps every device's settings and state."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.devices: dict[int, Device] = {}
        self.by_key: dict[str, Device] = {}
        self.providers: list[tuple[ProviderSpec, FaxProvider]] = []
        self.listener: DeviceEvents | None = None
        self._handles: dict[str, tuple[int, PortOpenMode]] = {}
        #: When each handle was last used (monotonic seconds of the service's clock).
        self._handle_used: dict[str, float] = {}
        #: #18: this node's number and name (lanfax.service.nodes). Node 0 keeps the one-node
        #: ids and settings names; node n's devices are numbered from n << 16 (n * 65536 + 1).
        self.node_number = 0
        self.node_name = "main"

    @property
    def _ids_namespace(self) -> str:
        """Where the device-id map is saved: one per node (no two nodes write one map)."""
        return "devices" if self.node_number == 0 else f"devices@{self.node_name}"

    def _port_namespace(self, key: str) -> str:
        """Where a port's settings are saved (two nodes may both have "virtual/100")."""
        return f"port:{key}" if self.node_number == 0 else f"port:{self.node_name}/{key}"

    async def start(self, tables: Sequence[Mapping[str, Any]]) -> None:
        """Create and initialise every configured provider and register its devices."""
        specs = parse_provider_tables(list(tables))
        ids: dict[str, Any] = await self.ctx.get_settings(self._ids_namespace)
        for spec in specs:
            await self._start_provider(spec, ids)
        await self.ctx.put_settings(self._ids_namespace, ids)

    async def add_provider(self, table: Mapping[str, Any]) -> list[Device]:
        """Start one more provider (a ``[[providers]]`` table with its ``id``) while the
        service runs (a provider registered with its configuration, issue #13); returns its
        new devices. A provider that fails to start is shut down again and nothing changes."""
        (spec,) = parse_provider_tables([dict(table)])
        if any(s.instance == spec.instance for s, _ in self.providers):
            raise Conflict(
                f"a provider named {spec.instance!r} is already running",
                hint="give the registration another name",
            )
        ids: dict[str, Any] = await self.ctx.get_settings(self._ids_namespace)
        before = set(self.devices)
        await self._start_provider(spec, ids)
        await self.ctx.put_settings(self._ids_namespace, ids)
        return [d for i, d in self.devices.items() if i not in before]

    async def _start_provider(self, spec: ProviderSpec, ids: dict[str, Any]) -> None:
        """Create and initialise one provider and register its devices; ``ids`` (the saved
        device id map, updated here) gives each device its permanent id."""
        next_id = int(ids.get("__next__", (self.node_number << 16) + 1))
        provider = create_provider(spec.type)
        try:
            await provider.initialize(spec.config, _Callbacks(self, spec.instance))
        except ConfigError as exc:
            raise ConfigError(f"provider {spec.instance!r}: {exc.message}", hint=exc.hint) from None
        offered_all = provider.virtual_devices()
        keys = [f"{spec.instance}/{o.local_id}" for o in offered_all]
        clash = next((k for i, k in enumerate(keys) if k in self.by_key or k in keys[:i]), None)
        if clash is not None:
            with contextlib.suppress(Exception):
                await provider.shutdown()
            raise ConfigError(
                f"provider {spec.instance!r} offers device {clash.split('/', 1)[1]!r} twice",
                hint="give every line its own number or id",
            )
        self.providers.append((spec, provider))
        for offered, key in zip(offered_all, keys, strict=True):
            if key not in ids:
                if self.node_number and next_id >= (self.node_number + 1) << 16:
                    raise ConfigError(
                        f"node {self.node_name!r} has used its 65535 device ids",
                        hint="give the lines to another node ([node] name)",
                    )
                ids[key] = next_id
                next_id += 1
            device_id = int(ids[key])
            saved = await self.ctx.get_settings(self._port_namespace(key))
            port = self._port_from(saved, offered, device_id, spec, len(self.devices))
            dev = Device(
                device_id=device_id,
                key=key,
                instance=spec.instance,
                provider=provider,
                provider_type=spec.type,
                local_id=offered.local_id,
                offered=offered,
                port=port,
                live=DeviceStatusInfo(
                    device_id,
                    port.device_name,
                    DeviceStatus.AVAILABLE,
                    csid=port.csid,
                    tsid=port.tsid,
                ),
            )
            self.devices[device_id] = dev
            self.by_key[key] = dev
        ids["__next__"] = next_id

    @staticmethod
    def _port_from(
        saved: Mapping[str, Any],
        offered: ProviderDevice,
        device_id: int,
        spec: ProviderSpec,
        position: int,
    ) -> PortInfo:
        flags = offered.flags
        if "flags" in saved:
            flags = enum_from_wire(PortFlags, saved["flags"], "flags")
        return PortInfo(
            device_id=device_id,
            device_name=str(saved.get("device_name") or offered.name),
            state=DeviceStatus.AVAILABLE,
            flags=flags,
            rings=int(saved.get("rings", 2 if offered.rings is None else offered.rings)),
            priority=int(saved.get("priority", position + 1)),
            tsid=str(saved.get("tsid", offered.number)),
            csid=str(saved.get("csid", offered.number)),
            provider=spec.instance,
            number=offered.number,
            capabilities=dict(offered.capabilities),
        )

    async def shutdown(self) -> None:
        for spec, provider in self.providers:
            try:
                await provider.shutdown()
            except Exception:  # one provider's failure must not keep the others running
                log.exception("provider %s failed to shut down", spec.instance)

    # -- lookups ------------------------------------------------------------------------

    def get(self, device_id: int) -> Device:
        dev = self.devices.get(device_id)
        if dev is None:
            known = ", ".join(str(d) for d in sorted(self.devices)) or "none"
            raise NotFound(f"there is no device {device_id}", hint=f"known devices: {known}")
        return dev

    def ports(self) -> list[PortInfo]:
        return [self.port_info(d) for d in sorted(self.devices)]

    def port_info(self, device_id: int) -> PortInfo:
        dev = self.get(device_id)
        return dataclasses.replace(dev.port, state=dev.live.status)

    def status(self, device_id: int) -> DeviceStatusInfo:
        return self.get(device_id).live

    def views(self) -> list[DeviceView]:
        return [d.view() for d in self.devices.values()]

    # -- handles ------------------------------------------------------------------------

    def open_handle(self, device_id: int, mode: PortOpenMode) -> str:
        """FaxOpenPort. A second modify handle on a port raises Conflict (unless the first
        went unused for HANDLE_IDLE_SECONDS: it expired)."""
        self.get(device_id)
        self._expire_handles()
        if len(self._handles) >= MAX_HANDLES:
            raise Conflict(
                f"{len(self._handles)} port handles are open, the most the server keeps",
                hint="close the handles you no longer use (DELETE /handles/{handle})",
            )
        if mode is PortOpenMode.MODIFY:
            for dev_id, m in self._handles.values():
                if dev_id == device_id and m is PortOpenMode.MODIFY:
                    raise Conflict(
                        f"device {device_id} is already open for modification",
                        hint="wait until the other administrator closes the port, then retry",
                    )
        handle = secrets.token_urlsafe(16)
        self._handles[handle] = (device_id, mode)
        self._handle_used[handle] = self._monotonic()
        return handle

    def _monotonic(self) -> float:
        return self.ctx.clock.monotonic()

    def _expire_handles(self) -> None:
        """Forget handles unused for HANDLE_IDLE_SECONDS (issue #14: a modify handle that was
        never closed locked its port for good, and handles piled up)."""
        now = self._monotonic()
        for handle, used in list(self._handle_used.items()):
            if now - used > HANDLE_IDLE_SECONDS:
                self._handle_used.pop(handle, None)
                self._handles.pop(handle, None)

    def close_handle(self, handle: str) -> None:
        """FaxClose on a port handle."""
        self._handle_used.pop(handle, None)
        if self._handles.pop(handle, None) is None:
            raise NotFound("no such port handle", hint="it was closed already, or never opened")

    def handle_info(self, handle: str) -> tuple[int, PortOpenMode]:
        self._expire_handles()
        info = self._handles.get(handle)
        if info is not None:
            self._handle_used[handle] = self._monotonic()
        if info is None:
            raise NotFound("no such port handle", hint="open the port with a handle first")
        return info

    async def set_port(
        self, device_id: int, handle: str | None, changes: Mapping[str, Any]
    ) -> PortInfo:
        """FaxSetPort: needs the port's modify handle; validates, saves, emits PORT_CHANGED."""
        dev = self.get(device_id)
        self._expire_handles()
        info = self._handles.get(handle or "")
        if info is not None and handle:
            self._handle_used[handle] = self._monotonic()
        if info is None or info != (device_id, PortOpenMode.MODIFY):
            raise Conflict(
                f"changing device {device_id} needs its modify handle",
                hint="open the port in modify mode (POST /ports/{id}/handles) and send "
                "the handle in X-Lanfax-Port-Handle",
            )
        new = self._validated(dev.port, changes)
        saved = {
            "device_name": new.device_name,
            "flags": [f.name.lower() for f in PortFlags if f and f in new.flags and f.name],
            "rings": new.rings,
            "priority": new.priority,
            "tsid": new.tsid,
            "csid": new.csid,
        }
        await self.ctx.put_settings(
            self._port_namespace(dev.key),
            saved,
            [NewEvent(EventId.PORT_CHANGED, device_id, NO_JOB, {"changed": sorted(changes)})],
        )
        dev.port = new
        dev.set_live(device_name=new.device_name, csid=new.csid, tsid=new.tsid)
        self.ctx.wake()  # a port may now send, or have a new priority
        return self.port_info(device_id)

    @staticmethod
    def _validated(port: PortInfo, changes: Mapping[str, Any]) -> PortInfo:
        unknown = sorted(set(changes) - set(_PORT_FIELDS))
        if unknown:
            raise InvalidInput(
                f"port field(s) {', '.join(unknown)} cannot be set",
                hint=f"settable: {', '.join(_PORT_FIELDS)}",
            )
        out: dict[str, Any] = {}
        for name, value in changes.items():
            if name == "flags":
                out[name] = enum_from_wire(PortFlags, value, "flags")
            elif name in ("rings", "priority"):
                lo, hi = (0, 99) if name == "rings" else (1, 9999)
                if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                    raise InvalidInput(
                        f"{name}: {value!r} is not allowed", hint=f"use a whole number {lo}..{hi}"
                    )
                out[name] = value
            else:
                limit = 64 if name == "device_name" else 20
                if not isinstance(value, str) or len(value) > limit or not value.isprintable():
                    raise InvalidInput(
                        f"{name}: {value!r} is not allowed",
                        hint=f"use printable text of at most {limit} characters",
                    )
                if name == "device_name" and not value.strip():
                    raise InvalidInput("device_name is empty", hint="give the port a name")
                out[name] = value
        return dataclasses.replace(port, **out)
