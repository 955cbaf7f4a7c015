"""The routing-extension API: ``faxroute.h`` as Python.

A routing extension exports one or more routing methods (a GUID, a friendly name, a function
name). For every received fax the service calls each method enabled on the receiving device, in
global priority order (see :class:`lanfax.routing.manager.RoutingManager`).

=====================================  ================================================
faxroute.h                             here
=====================================  ================================================
FaxRouteInitialize                     :meth:`RoutingExtension.initialize`
FaxRouteMethod (one per method)        :meth:`RoutingExtension.route`
FaxRouteDeviceEnable                   :meth:`RoutingExtension.device_enable`
FaxRouteDeviceChangeNotification       :meth:`RoutingExtension.device_changed`
FaxRouteGetRoutingInfo / Set...        :meth:`RoutingExtension.get_routing_info` / ``set_``
FaxRouteAddFile, DeleteFile, GetFile,  :class:`RouteCallbacks` (the service implements it;
EnumFiles, ModifyRoutingData           :class:`lanfax.routing.files.FileSetCallbacks` is one)
FaxExtGetData / FaxExtSetData          :class:`RoutingStateStore` (``ext:<guid>:<device>``)
=====================================  ================================================

The base class keeps the per-device enable flag and routing info of every method in the
injected :class:`RoutingStateStore`, so an extension only says what its routing info looks like
(:meth:`RoutingExtension.validate_routing_info`) and what its defaults are.
"""

from __future__ import annotations

import copy
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

from lanfax.model.clock import Clock
from lanfax.model.errors import ConfigError, Unavailable

#: What a secret field reads as when routing info is fetched with ``redact=True``. Setting a
#: secret field to this value keeps the stored secret (so a console can round-trip a form).
REDACTED = "********"

_GUID = re.compile(
    r"^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?$"
)


def normalize_guid(guid: str) -> str:
    """The canonical spelling of a method GUID: lower case, in braces.

    ``"85273ED7-..."``, ``"{85273ed7-...}"`` are the same method. Raises ConfigError otherwise.
    """
    m = _GUID.match(guid.strip()) if isinstance(guid, str) else None
    if m is None:
        raise ConfigError(
            f"{guid!r} is not a routing method GUID",
            hint="write it as {xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx} (hex digits)",
        )
    return "{" + m.group(1).lower() + "}"


@dataclass(frozen=True, slots=True)
class RoutingMethodInfo:
    """One routing method an extension exports (FaxRoutingInstallationCallback's arguments)."""

    guid: str
    friendly_name: str
    function_name: str
    #: Routing-info fields that hold secrets (passwords, keys); redacted on request.
    secret_fields: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "guid", normalize_guid(self.guid))


@dataclass(frozen=True, slots=True)
class FaxRoute:
    """FAX_ROUTE: what a routing method learns about one received fax.

    ``receive_time`` is an aware datetime (UTC from the service); ``elapsed_time`` is the
    length of the call in seconds. ``routing_info`` is the routing string the line delivered
    (a DID, a subaddress), not a method's configuration. ``routing_data`` is the data attached
    to this fax for the method being called (set with
    :meth:`RouteCallbacks.modify_routing_data`, by the service or by another method).
    """

    job_id: int
    receive_time: datetime
    page_count: int
    elapsed_time: float = 0.0
    csid: str = ""
    tsid: str = ""
    caller_id: str = ""
    routing_info: str = ""
    receiver_name: str = ""
    receiver_number: str = ""
    device_name: str = ""
    device_id: int = 0
    routing_data: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.receive_time.tzinfo is None:
            raise ValueError("FaxRoute.receive_time must be an aware datetime")

    def fields(self) -> dict[str, Any]:
        """The plain fields (no routing data) as a JSON-able dict."""
        return {
            "job_id": self.job_id,
            "receive_time": self.receive_time.isoformat(),
            "page_count": self.page_count,
            "elapsed_time": self.elapsed_time,
            "csid": self.csid,
            "tsid": self.tsid,
            "caller_id": self.caller_id,
            "routing_info": self.routing_info,
            "receiver_name": self.receiver_name,
            "receiver_number": self.receiver_number,
            "device_name": self.device_name,
            "device_id": self.device_id,
        }


@dataclass(frozen=True, slots=True)
class RouteResult:
    """FaxRouteMethod's answer: success, or a failure with a reason.

    ``retryable`` says whether trying the same method again later may succeed (a mail server
    that is down) or not without a person changing something (a refused password, a printer
    that does not exist). ``failure_data`` is the method's own note for its next attempt
    (FaxRouteMethod's FailureData); the service keeps it with the routing job.
    ``owner`` (lanfax addition, #13) is the user a successful method gives the fax to (the
    "route to a user" method): the service records it as the fax's owner, whose personal
    inbox then holds it; empty: the method says nothing about the owner.
    """

    ok: bool
    reason: str = ""
    retryable: bool = False
    failure_data: Mapping[str, Any] | None = None
    owner: str = ""

    @classmethod
    def success(cls) -> RouteResult:
        return cls(ok=True)

    @classmethod
    def failure(
        cls, reason: str, *, retryable: bool, data: Mapping[str, Any] | None = None
    ) -> RouteResult:
        return cls(ok=False, reason=reason, retryable=retryable, failure_data=data)


@runtime_checkable
class RouteCallbacks(Protocol):
    """The service's side of faxroute.h: the files of a received fax, and routing data.

    Index 0 of a fax's file list is always the received fax (a TIFF). A method that makes a
    new file (a PDF, say) may add it so that later methods can use it.
    """

    async def register_files(self, job_id: int, files: Sequence[Path]) -> None:
        """lanfax addition: before routing, the manager tells which files a fax has (the
        received TIFF first). Idempotent: files already known are not added twice."""

    async def add_file(self, job_id: int, path: Path, guid: str) -> int:
        """FaxRouteAddFile: attach ``path`` (made by method ``guid``); returns its index."""

    async def delete_file(self, job_id: int, path: Path) -> None:
        """FaxRouteDeleteFile: detach ``path`` (the received fax itself cannot be)."""

    async def get_file(self, job_id: int, index: int) -> Path:
        """FaxRouteGetFile: the file at ``index`` (0 = the received fax)."""

    async def enum_files(self, job_id: int) -> list[Path]:
        """FaxRouteEnumFiles: every file of the fax, the received fax first."""

    async def modify_routing_data(self, job_id: int, guid: str, data: Mapping[str, Any]) -> None:
        """FaxRouteModifyRoutingData: replace the routing data of method ``guid`` for this fax."""

    async def get_routing_data(self, job_id: int, guid: str) -> dict[str, Any]:
        """lanfax addition: the routing data of method ``guid`` for this fax ({} if none)."""


class RoutingStateStore(Protocol):
    """FaxExtGetData / FaxExtSetData: a key-value store of JSON-able dicts.

    The service backs it with ``Store.get_settings`` / ``Store.put_settings``; tests use
    :class:`lanfax.routing.state.JsonFileStateStore`. Both calls are synchronous and quick.
    """

    def get(self, namespace: str) -> dict[str, Any]:
        """The dict saved under ``namespace``; empty when nothing was saved."""

    def put(self, namespace: str, values: Mapping[str, Any]) -> None:
        """Replace the dict under ``namespace``, durably."""


def ext_namespace(guid: str, device_id: int) -> str:
    """Where the enable flag and routing info of method ``guid`` on a device are kept."""
    return f"ext:{normalize_guid(guid)}:{int(device_id)}"


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    """What the service hands every extension it discovers (``from_config``).

    ``options`` is the extension's own section of the configuration (``[routing.<name>]``).
    """

    data_dir: Path
    allowed_roots: tuple[Path, ...] = ()
    clock: Clock | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


class RoutingExtension(ABC):
    """A routing extension (one ``faxroute.h`` DLL): subclass it and register it.

    Subclasses set :attr:`name` and :attr:`friendly_name`, list their :meth:`methods`,
    implement :meth:`route` and :meth:`validate_routing_info`, and may override the defaults.
    Routing methods are looked up by GUID; the base class raises ConfigError for a GUID the
    extension does not export.
    """

    #: Short stable name (the entry-point name; ExtensionImageName's role).
    name: ClassVar[str]
    #: ExtensionFriendlyName.
    friendly_name: ClassVar[str]

    def __init__(self) -> None:
        self._callbacks: RouteCallbacks | None = None
        self._state: RoutingStateStore | None = None

    @classmethod
    def from_config(cls, config: RoutingConfig) -> Self:
        """Build the extension from the service's configuration (entry-point discovery)."""
        return cls()

    # -- what the extension exports ---------------------------------------------------

    @abstractmethod
    def methods(self) -> list[RoutingMethodInfo]:
        """The routing methods, in the extension's preferred order."""

    def method(self, method_guid: str) -> RoutingMethodInfo:
        guid = normalize_guid(method_guid)
        for m in self.methods():
            if m.guid == guid:
                return m
        known = ", ".join(f"{m.guid} ({m.friendly_name})" for m in self.methods())
        raise ConfigError(
            f"extension {self.name!r} has no routing method {guid}",
            hint=f"its methods are: {known}",
        )

    # -- FaxRouteInitialize ------------------------------------------------------------

    def attach_state(self, state: RoutingStateStore) -> None:
        """FaxExtGetData / FaxExtSetData: where the extension keeps its per-device data.
        The manager calls this when the extension is registered, before anything else."""
        self._state = state

    async def initialize(self, callbacks: RouteCallbacks) -> None:
        """FaxRouteInitialize: called once before the first fax; keeps the callbacks."""
        self._callbacks = callbacks

    @property
    def callbacks(self) -> RouteCallbacks:
        if self._callbacks is None:
            raise Unavailable(
                f"routing extension {self.name!r} is not initialized",
                hint="call RoutingManager.start() (FaxRouteInitialize) before routing",
            )
        return self._callbacks

    @property
    def state(self) -> RoutingStateStore:
        if self._state is None:
            raise Unavailable(
                f"routing extension {self.name!r} has no state store",
                hint="register it with a RoutingManager (or call attach_state) first",
            )
        return self._state

    # -- FaxRouteMethod ----------------------------------------------------------------

    @abstractmethod
    async def route(self, method_guid: str, fax: FaxRoute) -> RouteResult:
        """Route one fax with method ``method_guid``. Expected failures are returned as
        :meth:`RouteResult.failure`; an exception is reported by the manager as a failure."""

    # -- FaxRouteDeviceEnable / FaxRouteDeviceChangeNotification -------------------------

    def default_enabled(self, method_guid: str, device_id: int) -> bool:
        """Whether a method is on for a device nobody has configured yet."""
        return False

    def device_enable(self, method_guid: str, device_id: int, enable: bool | None) -> bool:
        """Enable (True), disable (False) or query (None) a method on a device; returns the
        state after the call."""
        guid = self.method(method_guid).guid
        saved = self.state.get(ext_namespace(guid, device_id))
        current = bool(saved.get("enabled", self.default_enabled(guid, device_id)))
        if enable is None or (bool(enable) == current and "enabled" in saved):
            return current
        self.state.put(ext_namespace(guid, device_id), {**saved, "enabled": bool(enable)})
        return bool(enable)

    async def ext_config_changed(  # noqa: B027 - an optional hook, empty by default
        self, device_id: int, guid: str, data: Mapping[str, Any]
    ) -> None:
        """FaxExtConfigChange: an administrator replaced the extension data ``guid`` of
        device ``device_id`` (0: not tied to a device) with ``data`` (FaxExtSetData through
        ``PUT /api/v1/extension-data/{guid}``, also readable with :attr:`state`). Called on
        the service's event loop while the extension runs, so a change takes effect without
        a restart; ignore GUIDs that are not yours. The default does nothing."""

    def device_changed(self, device_id: int, new: bool) -> None:  # noqa: B027 - optional hook
        """A device was added (``new``) or changed. Nothing to do by default: defaults apply
        to a device until someone configures it."""

    # -- FaxRouteGetRoutingInfo / FaxRouteSetRoutingInfo ----------------------------------

    def default_routing_info(self, method_guid: str, device_id: int) -> dict[str, Any]:
        """The routing info of a method on a device nobody has configured yet."""
        return {}

    @abstractmethod
    def validate_routing_info(self, method_guid: str, info: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``info`` for method ``method_guid`` and return it normalized (defaults
        filled in). Raise ConfigError (message + hint) for anything unacceptable."""

    def get_routing_info(
        self, method_guid: str, device_id: int, *, redact: bool = False
    ) -> dict[str, Any]:
        """The routing info of a method on a device (a copy); secrets redacted on request."""
        method = self.method(method_guid)
        saved = self.state.get(ext_namespace(method.guid, device_id))
        info = saved.get("info")
        out = (
            copy.deepcopy(dict(info))
            if isinstance(info, Mapping)
            else self.default_routing_info(method.guid, device_id)
        )
        if redact:
            for key in method.secret_fields:
                if out.get(key):
                    out[key] = REDACTED
        return out

    def set_routing_info(
        self, method_guid: str, device_id: int, info: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Validate and save the routing info of a method on a device; returns what was
        saved. A secret field given as :data:`REDACTED` keeps its saved value."""
        method = self.method(method_guid)
        if not isinstance(info, Mapping):
            raise ConfigError(
                f"routing info for {method.friendly_name!r} must be an object",
                hint="send a JSON object with the method's fields",
            )
        incoming = dict(info)
        current = self.get_routing_info(method.guid, device_id)
        for key in method.secret_fields:
            if incoming.get(key) == REDACTED:
                incoming[key] = current.get(key, "")
        clean = self.validate_routing_info(method.guid, incoming)
        namespace = ext_namespace(method.guid, device_id)
        saved = self.state.get(namespace)
        self.state.put(namespace, {**saved, "info": clean})
        return copy.deepcopy(clean)
