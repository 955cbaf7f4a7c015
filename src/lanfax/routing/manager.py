"""The routing manager: every loaded extension, the global order of their methods, the
per-device enable flags and routing info, and :meth:`RoutingManager.route_fax`.

The service builds one manager, registers or discovers extensions, calls :meth:`start`
(FaxRouteInitialize for each), and then, for every received fax, :meth:`route_fax`. A method
that fails is reported in the :class:`RoutingOutcome`; the service keeps the fax as a routing
job and, at :func:`next_retry`, calls ``route_fax(fax, files, only=outcome.retry_guids)``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from lanfax.model.clock import Clock, SystemClock
from lanfax.model.errors import ConfigError, FaxError, NotFound
from lanfax.model.routing import GlobalRoutingInfo, RoutingMethod
from lanfax.routing.api import (
    FaxRoute,
    RouteCallbacks,
    RouteResult,
    RoutingConfig,
    RoutingExtension,
    RoutingMethodInfo,
    RoutingStateStore,
    normalize_guid,
)
from lanfax.routing.files import FileSetCallbacks

log = logging.getLogger("lanfax.inbound")

#: The entry-point group extensions are discovered in.
ENTRY_POINT_GROUP = "lanfax.routing"
#: Where the global priority order is kept in the state store.
ORDER_NAMESPACE = "routing:order"


# -- retry backoff (pure) ----------------------------------------------------------------


def next_retry(
    attempts: int,
    now: datetime,
    *,
    base: timedelta = timedelta(minutes=1),
    factor: float = 2.0,
    cap: timedelta = timedelta(hours=1),
    max_attempts: int = 10,
) -> datetime | None:
    """When to try the failed methods of a routing job again, or None to stop retrying.

    ``attempts`` is how many routing attempts have failed so far (1 after the first); the
    delay is ``base * factor**(attempts-1)``, at most ``cap``. ``now`` comes from the injected
    clock. After ``max_attempts`` failed attempts the answer is None: the job stays kept for a
    person to restart.
    """
    if attempts < 1:
        raise ValueError("attempts counts failed attempts and starts at 1")
    if attempts >= max_attempts:
        return None
    seconds = min(base.total_seconds() * factor ** (attempts - 1), cap.total_seconds())
    return now + timedelta(seconds=seconds)


# -- outcome -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MethodOutcome:
    """What one method did with one fax."""

    guid: str
    friendly_name: str
    result: RouteResult


@dataclass(frozen=True, slots=True)
class RoutingOutcome:
    """Per-method results of one :meth:`RoutingManager.route_fax`, in the order they ran.

    ``skipped`` lists methods asked for with ``only`` that are no longer enabled on the
    device (they are not run and need no retry).
    """

    job_id: int
    results: tuple[MethodOutcome, ...]
    skipped: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return all(r.result.ok for r in self.results)

    @property
    def succeeded(self) -> list[str]:
        return [r.guid for r in self.results if r.result.ok]

    @property
    def failed(self) -> list[MethodOutcome]:
        return [r for r in self.results if not r.result.ok]

    @property
    def retry_guids(self) -> set[str]:
        """The methods worth trying again later (failed and retryable)."""
        return {r.guid for r in self.results if not r.result.ok and r.result.retryable}

    def result(self, guid: str) -> RouteResult:
        g = normalize_guid(guid)
        for r in self.results:
            if r.guid == g:
                return r.result
        raise NotFound(f"method {g} did not run for fax {self.job_id}", hint="see .results")


# -- manager -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entry:
    extension: RoutingExtension
    method: RoutingMethodInfo


class RoutingManager:
    """Loads extensions and routes received faxes through their methods.

    ``state`` keeps the global order and every extension's per-device data; ``callbacks``
    are the faxroute.h callbacks handed to the extensions (a :class:`FileSetCallbacks` in
    memory when not given). ``method_timeout`` bounds one method's work on one fax.
    """

    def __init__(
        self,
        state: RoutingStateStore,
        *,
        clock: Clock | None = None,
        callbacks: RouteCallbacks | None = None,
        method_timeout: float = 600.0,
    ) -> None:
        self.state = state
        self.clock: Clock = clock or SystemClock()
        self.callbacks: RouteCallbacks = callbacks or FileSetCallbacks()
        self.method_timeout = method_timeout
        self._extensions: dict[str, RoutingExtension] = {}
        self._methods: dict[str, _Entry] = {}
        self._initialized: set[str] = set()

    # -- loading -------------------------------------------------------------------

    def register(self, extension: RoutingExtension) -> None:
        """Add an extension (FaxRegisterRoutingExtension). Names and GUIDs must be unique."""
        if not isinstance(extension, RoutingExtension):
            raise ConfigError(
                f"{extension!r} is not a RoutingExtension",
                hint="subclass lanfax.routing.api.RoutingExtension",
            )
        name = extension.name
        if name in self._extensions:
            raise ConfigError(
                f"a routing extension named {name!r} is already loaded",
                hint="give each extension its own name",
            )
        new: dict[str, _Entry] = {}
        for m in extension.methods():
            if m.guid in self._methods or m.guid in new:
                raise ConfigError(
                    f"routing method {m.guid} of {name!r} is already loaded",
                    hint="every routing method needs its own GUID",
                )
            new[m.guid] = _Entry(extension, m)
        extension.attach_state(self.state)
        self._extensions[name] = extension
        self._methods.update(new)

    def load_entry_points(
        self, config: RoutingConfig, *, names: Collection[str] | None = None
    ) -> list[str]:
        """Discover extensions in the ``lanfax.routing`` entry-point group, build each with
        ``from_config(config)`` and register it. ``names`` limits which are loaded. Returns
        the names loaded, in discovery (sorted) order."""
        loaded: list[str] = []
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if names is not None and ep.name not in names:
                continue
            try:
                cls = ep.load()
            except (ImportError, AttributeError) as exc:
                raise ConfigError(
                    f"routing extension {ep.name!r} ({ep.value}) cannot be loaded: {exc}",
                    hint="reinstall the package that provides it, or remove it",
                ) from None
            if not (isinstance(cls, type) and issubclass(cls, RoutingExtension)):
                raise ConfigError(
                    f"entry point {ep.name!r} ({ep.value}) is not a RoutingExtension class",
                    hint="point the entry point at a subclass of RoutingExtension",
                )
            self.register(cls.from_config(config))
            loaded.append(ep.name)
        return loaded

    async def start(self) -> None:
        """FaxRouteInitialize for every extension not yet initialized."""
        for name, ext in self._extensions.items():
            if name not in self._initialized:
                await ext.initialize(self.callbacks)
                self._initialized.add(name)

    @property
    def extensions(self) -> list[RoutingExtension]:
        return list(self._extensions.values())

    def _entry(self, guid: str) -> _Entry:
        g = normalize_guid(guid)
        entry = self._methods.get(g)
        if entry is None:
            known = ", ".join(
                f"{e.method.guid} ({e.method.friendly_name})" for e in self._ordered()
            )
            raise NotFound(
                f"no routing method {g} is loaded", hint=f"loaded methods: {known or 'none'}"
            )
        return entry

    # -- global order (FaxEnumGlobalRoutingInfo / FaxSetGlobalRoutingInfo) -----------

    def _ordered(self) -> list[_Entry]:
        saved = self.state.get(ORDER_NAMESPACE).get("order", [])
        order: list[str] = []
        for g in saved if isinstance(saved, list) else []:
            try:
                ng = normalize_guid(g)
            except ConfigError:
                continue
            if ng in self._methods and ng not in order:
                order.append(ng)
        # Methods never ordered go last, in registration order.
        order += [g for g in self._methods if g not in order]
        return [self._methods[g] for g in order]

    def _save_order(self, guids: Sequence[str]) -> None:
        # Keep GUIDs of extensions not loaded right now, so unloading one keeps its place.
        saved = self.state.get(ORDER_NAMESPACE).get("order", [])
        rest = [g for g in saved if isinstance(g, str) and g not in guids]
        self.state.put(ORDER_NAMESPACE, {"order": [*guids, *rest]})

    def enum_global_routing_info(self) -> list[GlobalRoutingInfo]:
        """Every loaded method with its priority (1 = first), in order."""
        return [
            GlobalRoutingInfo(
                priority=i,
                guid=e.method.guid,
                friendly_name=e.method.friendly_name,
                function_name=e.method.function_name,
                extension_image_name=e.extension.name,
                extension_friendly_name=e.extension.friendly_name,
            )
            for i, e in enumerate(self._ordered(), start=1)
        ]

    def set_global_routing_info(self, info: GlobalRoutingInfo) -> None:
        """Move method ``info.guid`` to ``info.priority`` (1-based); the others shift."""
        self.set_priority(info.guid, info.priority)

    def set_priority(self, guid: str, priority: int) -> None:
        entry = self._entry(guid)
        order = [e.method.guid for e in self._ordered()]
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise ConfigError(f"priority {priority!r} is not a number", hint="use 1, 2, ...")
        if not 1 <= priority <= len(order):
            raise ConfigError(
                f"priority {priority} is out of range", hint=f"use a number from 1 to {len(order)}"
            )
        order.remove(entry.method.guid)
        order.insert(priority - 1, entry.method.guid)
        self._save_order(order)

    def set_global_order(self, guids: Sequence[str]) -> None:
        """Set the whole order at once: ``guids`` must name every loaded method once."""
        wanted = [normalize_guid(g) for g in guids]
        loaded = set(self._methods)
        if len(set(wanted)) != len(wanted) or set(wanted) != loaded:
            missing = sorted(loaded - set(wanted))
            unknown = sorted(set(wanted) - loaded)
            raise ConfigError(
                "the routing order must list every loaded method exactly once",
                hint=f"missing: {missing or 'none'}; unknown: {unknown or 'none'}; "
                "duplicates are not allowed",
            )
        self._save_order(wanted)

    # -- per device (FaxEnumRoutingMethods / FaxEnableRoutingMethod / routing info) ---

    def enum_routing_methods(self, device_id: int, device_name: str = "") -> list[RoutingMethod]:
        """Every method with its enable flag on ``device_id``, in global order."""
        return [
            RoutingMethod(
                device_id=device_id,
                enabled=e.extension.device_enable(e.method.guid, device_id, None),
                device_name=device_name,
                guid=e.method.guid,
                friendly_name=e.method.friendly_name,
                function_name=e.method.function_name,
                extension_image_name=e.extension.name,
                extension_friendly_name=e.extension.friendly_name,
            )
            for e in self._ordered()
        ]

    def enable_routing_method(self, guid: str, device_id: int, enabled: bool) -> bool:
        """Enable or disable a method on a device; returns the new state."""
        if not isinstance(enabled, bool):
            raise ConfigError(f"enabled must be true or false, not {enabled!r}", hint="true/false")
        e = self._entry(guid)
        return e.extension.device_enable(e.method.guid, device_id, enabled)

    def is_enabled(self, guid: str, device_id: int) -> bool:
        e = self._entry(guid)
        return e.extension.device_enable(e.method.guid, device_id, None)

    def get_routing_info(
        self, guid: str, device_id: int, *, redact: bool = False
    ) -> dict[str, Any]:
        """FaxGetRoutingInfo: a method's routing info on a device."""
        e = self._entry(guid)
        return e.extension.get_routing_info(e.method.guid, device_id, redact=redact)

    def set_routing_info(
        self, guid: str, device_id: int, info: Mapping[str, Any]
    ) -> dict[str, Any]:
        """FaxSetRoutingInfo: validate and save; ConfigError (with a hint) when invalid."""
        e = self._entry(guid)
        return e.extension.set_routing_info(e.method.guid, device_id, info)

    def device_changed(self, device_id: int, new: bool) -> None:
        """FaxRouteDeviceChangeNotification to every extension."""
        for ext in self._extensions.values():
            ext.device_changed(device_id, new)

    # -- routing -----------------------------------------------------------------------

    async def route_fax(
        self, fax: FaxRoute, files: Sequence[Path], *, only: Collection[str] | None = None
    ) -> RoutingOutcome:
        """Run every method enabled on ``fax.device_id``, in global order, one after another.

        ``files`` are the fax's files, the received TIFF first. With ``only``, just those
        methods run (a retry of the failed ones); a method named there that is not loaded is
        a non-retryable failure, one no longer enabled is skipped. A method that raises is
        reported as a failure (a FaxError's message is the reason), never propagated.
        """
        await self.start()
        await self.callbacks.register_files(fax.job_id, [Path(p) for p in files])
        wanted = None if only is None else {normalize_guid(g) for g in only}
        results: list[MethodOutcome] = []
        skipped: list[str] = []
        if wanted is not None:
            for g in sorted(wanted - set(self._methods)):
                results.append(
                    MethodOutcome(
                        g,
                        "",
                        RouteResult.failure(
                            f"routing method {g} is no longer installed", retryable=False
                        ),
                    )
                )
        for entry in self._ordered():
            guid = entry.method.guid
            if wanted is not None and guid not in wanted:
                continue
            if not entry.extension.device_enable(guid, fax.device_id, None):
                if wanted is not None:
                    skipped.append(guid)
                continue
            result = await self._run(entry, fax)
            results.append(MethodOutcome(guid, entry.method.friendly_name, result))
        return RoutingOutcome(fax.job_id, tuple(results), tuple(skipped))

    async def _run(self, entry: _Entry, fax: FaxRoute) -> RouteResult:
        guid = entry.method.guid
        name = entry.method.friendly_name
        try:
            data = await self.callbacks.get_routing_data(fax.job_id, guid)
            per_method = dataclasses.replace(fax, routing_data=data)
            result = await asyncio.wait_for(
                entry.extension.route(guid, per_method), self.method_timeout
            )
        except TimeoutError:
            result = RouteResult.failure(
                f"{name} took longer than {self.method_timeout:g} s", retryable=True
            )
        except FaxError as exc:
            # A configuration problem needs a person; anything else may pass by itself.
            retryable = not isinstance(exc, ConfigError)
            result = RouteResult.failure(str(exc), retryable=retryable)
        except Exception as exc:  # an extension's bug must not stop the other methods
            log.exception("routing method %s (%s) raised on fax %s", name, guid, fax.job_id)
            result = RouteResult.failure(
                f"{name} failed unexpectedly: {type(exc).__name__}: {exc}", retryable=True
            )
        if not isinstance(result, RouteResult):
            result = RouteResult.failure(
                f"{name} returned {type(result).__name__}, not a RouteResult", retryable=False
            )
        if result.ok:
            log.info("fax %s routed by %s", fax.job_id, name)
        else:
            log.warning(
                "fax %s: %s failed (%s): %s",
                fax.job_id,
                name,
                "will retry" if result.retryable else "not retryable",
                result.reason,
            )
        return result
