"""Registered providers and routing extensions, and extension configuration (issue #13).

**Registration** (FaxRegisterServiceProvider, FaxRegisterRoutingExtension) names code that is
already installed on the server, by ``module.path:ClassName`` or by entry-point name: nothing
is ever uploaded. The class is imported and checked when it is registered (a typo is a 422
at once, not a failure at the next start). A registration is kept in the settings namespace
``registered:provider:<name>`` / ``registered:routing:<name>`` (emptied when removed) and:

* a routing extension is loaded and initialised at once (FaxRouteInitialize), and at every
  start after the installed (entry-point) ones;
* a provider becomes a provider type the configuration may name (``type = "<name>"``); with a
  ``config`` (the rest of a ``[[providers]]`` table) it is also started at once, its devices
  appear without a restart, and it starts with the service from then on.

A registered provider or extension that cannot be loaded at a later start is reported
(``state: "failed"`` with the reason) and does not keep the service from starting.

**Extension configuration** (FaxExtGetData / FaxExtSetData) is a JSON object per data GUID
and device (0: not tied to a device), kept in ``ext:<guid>:<device>``: the namespace routing
extensions already keep their per-method data in, read and written through the routing
state (its cache stays right). A change is delivered at once to every running provider and
routing extension that implements ``ext_config_changed`` (FaxExtConfigChange).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lanfax.model.codes import NO_JOB, EventId
from lanfax.model.errors import (
    AccessDenied,
    ConfigError,
    Conflict,
    FaxError,
    InvalidInput,
    NotFound,
)
from lanfax.model.events import NewEvent
from lanfax.providers.api import FaxProvider
from lanfax.providers.loader import default_registry
from lanfax.routing.api import RoutingConfig, RoutingExtension, ext_namespace, normalize_guid
from lanfax.service.rights import Caller, Role
from lanfax.store import codec

if TYPE_CHECKING:
    from lanfax.service.context import ServiceContext
    from lanfax.service.core import FaxService

__all__ = ["Extensions", "Registration"]

log = logging.getLogger("lanfax.init")

_PROVIDER, _ROUTING = "registered:provider:", "registered:routing:"
#: The largest extension data object (its JSON text), per GUID and device.
MAX_DATA_BYTES = 64 * 1024
#: How long one extension may take to take a change in.
NOTIFY_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Registration:
    """One registration, as kept in the store."""

    kind: str  # "provider" or "routing"
    name: str
    friendly_name: str
    image_name: str
    tsp_name: str = ""
    config: Mapping[str, Any] | None = None
    methods: tuple[str, ...] = ()
    registered_by: str = ""
    registered_at: str = ""

    def record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "friendly_name": self.friendly_name,
            "image_name": self.image_name,
            "tsp_name": self.tsp_name,
            "config": dict(self.config) if self.config is not None else None,
            "methods": list(self.methods),
            "registered_by": self.registered_by,
            "registered_at": self.registered_at,
        }

    @classmethod
    def from_record(cls, kind: str, rec: Mapping[str, Any]) -> Registration:
        config = rec.get("config")
        return cls(
            kind=kind,
            name=str(rec["name"]),
            friendly_name=str(rec.get("friendly_name", "")),
            image_name=str(rec.get("image_name", "")),
            tsp_name=str(rec.get("tsp_name", "")),
            config=dict(config) if isinstance(config, Mapping) else None,
            methods=tuple(str(m) for m in rec.get("methods", [])),
            registered_by=str(rec.get("registered_by", "")),
            registered_at=str(rec.get("registered_at", "")),
        )


def _administrator(caller: Caller) -> None:
    """Registering names code the server will run: administrators only, whatever rights a
    user was granted one by one."""
    if caller.role is not Role.ADMINISTRATOR:
        raise AccessDenied(
            f"user {caller.user!r} is not an administrator",
            hint="only administrators register providers and routing extensions",
        )


def _text(body: Mapping[str, Any], key: str, *, required: bool = False) -> str:
    value = body.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > 512:
        raise InvalidInput(f"{key} must be text", hint=f'e.g. {{"{key}": "..."}}')
    if required and not value.strip():
        raise InvalidInput(f"{key} is missing", hint="see docs/http-api.md, Registration")
    return value.strip()


def _check_body(body: object, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise InvalidInput("the body must be a JSON object", hint="see docs/http-api.md")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidInput(
            f"unknown field(s): {', '.join(unknown)}", hint=f"known: {', '.join(sorted(allowed))}"
        )
    return body


def _overrides(obj: object, base: type) -> bool:
    return getattr(type(obj), "ext_config_changed", None) is not getattr(
        base, "ext_config_changed", None
    )


class Extensions:
    """The registrations of one running service, and extension data with notification."""

    def __init__(self, service: FaxService) -> None:
        self.service = service
        #: name -> reason, for registrations that could not be loaded or started.
        self._failed: dict[tuple[str, str], str] = {}

    @property
    def _ctx(self) -> ServiceContext:
        return self.service.ctx

    def _now(self) -> str:
        now: datetime = self._ctx.clock.now()
        return now.isoformat()

    async def _records(self, prefix: str, kind: str) -> list[Registration]:
        out = []
        for ns in await self._ctx.run(self._ctx.store.list_namespaces, prefix):
            rec = await self._ctx.get_settings(ns)
            if rec:
                out.append(Registration.from_record(kind, rec))
        return out

    async def _get(self, kind: str, name: str) -> Registration | None:
        prefix = _PROVIDER if kind == "provider" else _ROUTING
        rec = await self._ctx.get_settings(prefix + name)
        return Registration.from_record(kind, rec) if rec else None

    # -- start-up ---------------------------------------------------------------------------

    async def load_routing(self) -> None:
        """At start, after the installed extensions: load every registered one."""
        for reg in await self._records(_ROUTING, "routing"):
            try:
                await self._load_routing(reg)
            except FaxError as exc:
                self._failed[("routing", reg.name)] = exc.message
                log.error("registered routing extension %s not loaded: %s", reg.name, exc)

    async def load_providers(self) -> None:
        """At start, before the devices: make every registered provider type known (so the
        configuration may name it). Those with a config start afterwards, through
        :meth:`start_providers`, so that one failing keeps the others going."""
        for reg in await self._records(_PROVIDER, "provider"):
            try:
                self._provider_class(reg.image_name, reg.name)
            except FaxError as exc:
                self._failed[("provider", reg.name)] = exc.message
                log.error("registered provider %s not loaded: %s", reg.name, exc)

    async def start_providers(self) -> None:
        """At start, after the configured devices: start the registered providers that
        have a configuration."""
        for reg in await self._records(_PROVIDER, "provider"):
            if reg.config is None or ("provider", reg.name) in self._failed:
                continue
            try:
                await self._start_provider(reg, notify=False)  # routing.start() tells them
            except FaxError as exc:
                self._failed[("provider", reg.name)] = exc.message
                log.error("registered provider %s not started: %s", reg.name, exc)

    # -- providers --------------------------------------------------------------------------

    @staticmethod
    def _provider_class(image_name: str, name: str) -> type[FaxProvider]:
        registry = default_registry()
        cls = registry.resolve(image_name)  # ConfigError naming what is wrong
        registry.register(cls, name=name)  # ConfigError if another class has that name
        return cls

    async def _start_provider(self, reg: Registration, *, notify: bool = True) -> list[int]:
        table = {**(reg.config or {}), "type": reg.name, "id": reg.name}
        devices = await self.service.devices.add_provider(table)
        for dev in devices if notify else ():
            self.service.routing.manager.device_changed(dev.device_id, True)
        return [d.device_id for d in devices]

    async def register_provider(self, caller: Caller, body: object) -> dict[str, Any]:
        """FaxRegisterServiceProvider: ``{"name", "friendly_name", "image_name", "tsp_name",
        "config"}``; ``image_name`` is ``module:Class`` or an installed entry point."""
        _administrator(caller)
        data = _check_body(body, {"name", "friendly_name", "image_name", "tsp_name", "config"})
        name = _text(data, "name", required=True)
        image = _text(data, "image_name", required=True)
        config = data.get("config")
        if config is not None and not isinstance(config, Mapping):
            raise InvalidInput(
                "config must be an object", hint='the [[providers]] table, e.g. {"lines": 2}'
            )
        if config is not None and ({"type", "id"} & set(config)):
            raise InvalidInput("config must not hold type or id", hint="they are the name")
        if await self._get("provider", name) is not None:
            raise Conflict(f"provider {name!r} is already registered", hint="remove it first")
        if name in default_registry().names():
            raise Conflict(
                f"a provider named {name!r} is already installed",
                hint="choose another name for the registration",
            )
        if any(spec.instance == name for spec, _ in self.service.devices.providers):
            raise Conflict(f"a provider instance named {name!r} runs already", hint="rename")
        try:
            cls = await self._ctx.run(self._provider_class, image, name)
        except ConfigError as exc:
            raise InvalidInput(f"image_name: {exc.message}", hint=exc.hint) from None
        reg = Registration(
            "provider",
            name,
            _text(data, "friendly_name") or cls.friendly_name,
            image,
            _text(data, "tsp_name"),
            dict(config) if config is not None else None,
            registered_by=caller.user,
            registered_at=self._now(),
        )
        devices: list[int] = []
        if reg.config is not None:
            try:
                devices = await self._start_provider(reg)
            except ConfigError as exc:
                default_registry().unregister(name)
                raise InvalidInput(f"config: {exc.message}", hint=exc.hint) from None
        await self._save(_PROVIDER + name, reg.record())
        out = self._provider_entry(reg)
        out["devices"] = devices or out["devices"]
        return out

    async def unregister_provider(self, caller: Caller, name: str) -> None:
        """Forget a registration; a provider it started keeps running until the next start."""
        _administrator(caller)
        if await self._get("provider", name) is None:
            raise NotFound(f"no provider {name!r} is registered", hint="GET /api/v1/providers")
        await self._save(_PROVIDER + name, {})
        self._failed.pop(("provider", name), None)

    def _provider_entry(self, reg: Registration) -> dict[str, Any]:
        running = [
            d.device_id for d in self.service.devices.devices.values() if d.instance == reg.name
        ]
        error = self._failed.get(("provider", reg.name), "")
        state = "failed" if error else "running" if running else "loaded"
        return {
            **reg.record(),
            "source": "registered",
            "state": state,
            "error": error,
            "devices": running,
        }

    async def list_providers(self) -> list[dict[str, Any]]:
        """Every provider: installed ones (entry points) and registered ones, with state."""
        registered = {r.name: r for r in await self._records(_PROVIDER, "provider")}
        instances: dict[str, list[int]] = {}
        for dev in self.service.devices.devices.values():
            instances.setdefault(dev.provider_type, []).append(dev.device_id)
        out = []
        for info in await self._ctx.run(default_registry().list):
            if info.name in registered:
                continue
            running = instances.get(info.name, [])
            out.append(
                {
                    "name": info.name,
                    "friendly_name": info.friendly_name,
                    "image_name": info.image,
                    "source": info.source,
                    "state": "failed" if info.error else "running" if running else "loaded",
                    "error": info.error,
                    "devices": running,
                }
            )
        out += [self._provider_entry(r) for r in registered.values()]
        return sorted(out, key=lambda e: str(e["name"]))

    # -- routing extensions -----------------------------------------------------------------

    def _routing_class(self, image_name: str) -> type[RoutingExtension]:
        from lanfax.providers.loader import _REFERENCE  # the one spelling of module:Class

        if not _REFERENCE.match(image_name):
            raise InvalidInput(
                f"image_name {image_name!r} is not a 'module.path:ClassName' reference",
                hint="installed extensions (entry points) are loaded already; name the class",
            )
        import importlib

        module_name, _, attr = image_name.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise InvalidInput(
                f"image_name: cannot load {image_name!r}: {exc}",
                hint="the module must be installed on the server (nothing is uploaded)",
            ) from None
        if not (isinstance(obj, type) and issubclass(obj, RoutingExtension)):
            raise InvalidInput(
                f"image_name: {image_name!r} is not a RoutingExtension class",
                hint="subclass lanfax.routing.api.RoutingExtension",
            )
        return obj

    async def _build_routing(self, image_name: str) -> RoutingExtension:
        """The extension object of ``image_name`` (imported and built, not yet loaded)."""
        cls: type[RoutingExtension] = await self._ctx.run(self._routing_class, image_name)
        settings = self.service.settings
        config = RoutingConfig(
            settings.data_dir,
            settings.routing.allowed_roots,
            self._ctx.clock,
            settings.routing.options(cls.name),
        )
        return cls.from_config(config)

    async def _load_routing(self, reg: Registration) -> None:
        """At start: build and register (routing.start() initialises it with the others)."""
        ext = await self._build_routing(reg.image_name)
        self.service.routing.manager.register(ext)  # ConfigError: name or GUID taken

    async def register_routing(self, caller: Caller, body: object) -> dict[str, Any]:
        """FaxRegisterRoutingExtension: ``{"name", "friendly_name", "image_name",
        "methods": [{"guid", ...}]}``; the methods, when given, must be the class's."""
        _administrator(caller)
        data = _check_body(body, {"name", "friendly_name", "image_name", "methods"})
        image = _text(data, "image_name", required=True)
        ext = await self._build_routing(image)
        name = _text(data, "name") or ext.name
        if name != ext.name:
            raise InvalidInput(
                f"name {name!r} is not the extension's name ({ext.name!r})",
                hint=f"register it as {ext.name!r}",
            )
        guids = [m.guid for m in ext.methods()]
        raw_methods = data.get("methods") or []
        if not isinstance(raw_methods, list):
            raise InvalidInput("methods must be a list", hint='[{"guid": "{...}"}]')
        for i, m in enumerate(raw_methods):
            guid = m.get("guid") if isinstance(m, Mapping) else None
            if not isinstance(guid, str) or _guid(guid) not in guids:
                raise InvalidInput(
                    f"methods[{i}]: {guid!r} is not a method of {name!r}",
                    hint=f"its methods are {', '.join(guids)}",
                )
        if await self._get("routing", name) is not None:
            raise Conflict(f"routing extension {name!r} is already registered", hint="remove it")
        manager = self.service.routing.manager
        try:
            manager.register(ext)
        except ConfigError as exc:
            raise Conflict(exc.message, hint=exc.hint) from None
        await manager.start()  # FaxRouteInitialize: the new extension only
        for device_id in self.service.devices.devices:
            ext.device_changed(device_id, True)
        reg = Registration(
            "routing",
            name,
            _text(data, "friendly_name") or ext.friendly_name,
            image,
            methods=tuple(guids),
            registered_by=caller.user,
            registered_at=self._now(),
        )
        await self._save(_ROUTING + name, reg.record())
        return self._routing_entry(reg)

    async def unregister_routing(self, caller: Caller, name: str) -> None:
        """Forget a registration; the extension stays loaded until the next start."""
        _administrator(caller)
        if await self._get("routing", name) is None:
            raise NotFound(
                f"no routing extension {name!r} is registered",
                hint="GET /api/v1/routing/extensions",
            )
        await self._save(_ROUTING + name, {})
        self._failed.pop(("routing", name), None)

    def _routing_entry(self, reg: Registration) -> dict[str, Any]:
        loaded = any(e.name == reg.name for e in self.service.routing.manager.extensions)
        error = self._failed.get(("routing", reg.name), "")
        state = "failed" if error else "loaded" if loaded else "registered"
        return {**reg.record(), "source": "registered", "state": state, "error": error}

    async def list_routing(self) -> list[dict[str, Any]]:
        registered = {r.name: r for r in await self._records(_ROUTING, "routing")}
        out = [self._routing_entry(r) for r in registered.values()]
        for ext in self.service.routing.manager.extensions:
            if ext.name in registered:
                continue
            out.append(
                {
                    "name": ext.name,
                    "friendly_name": ext.friendly_name,
                    "image_name": f"{type(ext).__module__}:{type(ext).__qualname__}",
                    "methods": [m.guid for m in ext.methods()],
                    "source": "entry-point",
                    "state": "loaded",
                    "error": "",
                }
            )
        return sorted(out, key=lambda e: str(e["name"]))

    async def _save(self, namespace: str, record: Mapping[str, Any]) -> None:
        await self._ctx.put_settings(namespace, dict(record))

    # -- extension data (FaxExtGetData / FaxExtSetData / FaxExtConfigChange) -----------------

    def _device(self, device_id: int) -> int:
        if device_id != 0:
            self.service.devices.get(device_id)  # NotFound for an unknown device
        return device_id

    async def get_data(self, guid: str, device_id: int) -> dict[str, Any]:
        g = _guid(guid)
        self._device(device_id)
        state = self.service.routing.manager.state
        data = await self._ctx.run(state.get, ext_namespace(g, device_id))
        return {"guid": g, "device_id": device_id, "data": data}

    async def set_data(
        self, caller: Caller, guid: str, device_id: int, data: object
    ) -> dict[str, Any]:
        """Replace the data, durably, then tell every running extension (FaxExtConfigChange)."""
        g = _guid(guid)
        self._device(device_id)
        if not isinstance(data, Mapping):
            raise InvalidInput("the extension data must be a JSON object", hint='{"key": 1}')
        methods = {m.guid for e in self.service.routing.manager.extensions for m in e.methods()}
        if g in methods:
            # That namespace holds the method's enable flag and routing info: replacing it
            # would lose them. Its configuration has routes of its own.
            raise Conflict(
                f"{g} is a routing method's GUID; its data is its enable flag and routing info",
                hint="use PUT /api/v1/routing/devices/{id}/methods/{guid}/info, or a data GUID "
                "of the extension's own",
            )
        text = codec.dump_json(dict(data), "extension data")
        if len(text.encode()) > MAX_DATA_BYTES:
            raise InvalidInput(
                f"the extension data is larger than {MAX_DATA_BYTES // 1024} KB",
                hint="keep configuration small; put large files on disk",
            )
        state = self.service.routing.manager.state
        await self._ctx.run(state.put, ext_namespace(g, device_id), dict(data))
        await self._ctx.emit(
            [
                NewEvent(
                    EventId.CONFIG_CHANGED,
                    device_id,
                    NO_JOB,
                    {"extension_data": g, "device_id": device_id, "by": caller.user},
                )
            ]
        )
        notified, failed = await self._notify(device_id, g, dict(data))
        return {
            "guid": g,
            "device_id": device_id,
            "data": dict(data),
            "notified": notified,
            "failed": failed,
        }

    async def _notify(
        self, device_id: int, guid: str, data: dict[str, Any]
    ) -> tuple[list[str], list[dict[str, str]]]:
        targets: list[tuple[str, Any]] = [
            (f"routing:{e.name}", e)
            for e in self.service.routing.manager.extensions
            if _overrides(e, RoutingExtension)
        ]
        targets += [
            (f"provider:{spec.instance}", p)
            for spec, p in self.service.devices.providers
            if _overrides(p, FaxProvider)
        ]
        notified: list[str] = []
        failed: list[dict[str, str]] = []
        for label, target in targets:
            try:
                await asyncio.wait_for(
                    target.ext_config_changed(device_id, guid, dict(data)), NOTIFY_TIMEOUT
                )
            except Exception as exc:  # one extension's failure must not hide the others
                log.exception("%s failed to take extension data %s in", label, guid)
                failed.append({"extension": label, "error": f"{type(exc).__name__}: {exc}"})
            else:
                notified.append(label)
        return notified, failed


def _guid(guid: str) -> str:
    try:
        return normalize_guid(guid)
    except ConfigError as exc:
        raise InvalidInput(exc.message, hint=exc.hint) from None
