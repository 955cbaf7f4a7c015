"""Extensions for the registration tests (issue #13): installed code (this module is on the
test server's ``sys.path``), registered at run time by ``module:Class``.

Each writes one JSON line per FaxRouteInitialize / FaxDevInitialize and per
FaxExtConfigChange it receives, with the process id, so a test can tell that a change
reached the *running* extension (same process, no restart).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

from tests.support.testprovider import TestProvider

from lanfax.providers.api import ServiceCallbacks
from lanfax.routing.api import (
    FaxRoute,
    RouteCallbacks,
    RouteResult,
    RoutingConfig,
    RoutingExtension,
    RoutingMethodInfo,
)

#: The data GUID the probes listen to (FaxExtRegisterForEvents' GUID).
CONFIG_GUID = "{7a3c1f20-5b2e-4c1d-9e8f-0a1b2c3d4e5f}"
METHOD_GUID = "{7a3c1f20-5b2e-4c1d-9e8f-0a1b2c3d4e60}"
OTHER_METHOD_GUID = "{7a3c1f20-5b2e-4c1d-9e8f-0a1b2c3d4e61}"


def _log(path: Path, **entry: Any) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps({**entry, "pid": os.getpid()}) + "\n")


class ProbeRoutes(RoutingExtension):
    """A routing extension whose one method succeeds and which logs config changes to
    ``<data>/probe-routes.jsonl``; ``label`` is the last label it was configured with."""

    name: ClassVar[str] = "probe"
    friendly_name: ClassVar[str] = "Registration probe"
    method_guid: ClassVar[str] = METHOD_GUID

    def __init__(self, log: Path) -> None:
        super().__init__()
        self.log = log
        self.label = ""

    @classmethod
    def from_config(cls, config: RoutingConfig) -> Self:
        return cls(config.data_dir / f"{cls.name}-routes.jsonl")

    def methods(self) -> list[RoutingMethodInfo]:
        return [RoutingMethodInfo(self.method_guid, "Probe method", "ProbeRoute")]

    async def initialize(self, callbacks: RouteCallbacks) -> None:
        await super().initialize(callbacks)
        _log(self.log, event="initialize")

    async def route(self, method_guid: str, fax: FaxRoute) -> RouteResult:
        return RouteResult.success()

    def validate_routing_info(self, method_guid: str, info: Mapping[str, Any]) -> dict[str, Any]:
        return dict(info)

    async def ext_config_changed(self, device_id: int, guid: str, data: Mapping[str, Any]) -> None:
        if guid != CONFIG_GUID:
            return
        self.label = str(data.get("label", ""))
        _log(self.log, event="config", guid=guid, device_id=device_id, data=dict(data))


class OtherProbeRoutes(ProbeRoutes):
    """A second extension (for the winfax registration test)."""

    name: ClassVar[str] = "probe-two"
    friendly_name: ClassVar[str] = "Second registration probe"
    method_guid: ClassVar[str] = OTHER_METHOD_GUID


class ProbeProvider(TestProvider):
    """The test provider, logging its initialisation and config changes to the file named by
    the ``probe_file`` config key."""

    name: ClassVar[str] = "probe-provider"
    friendly_name: ClassVar[str] = "Registration probe provider"

    async def initialize(self, config: Mapping[str, Any], callbacks: ServiceCallbacks) -> None:
        self.probe = Path(str(config.get("probe_file", "probe-provider.jsonl")))
        await super().initialize({k: v for k, v in config.items() if k != "probe_file"}, callbacks)
        _log(self.probe, event="initialize")

    async def ext_config_changed(self, device_id: int, guid: str, data: Mapping[str, Any]) -> None:
        _log(self.probe, event="config", guid=guid, device_id=device_id, data=dict(data))


class NotAnExtension:
    """For the refusal test."""
