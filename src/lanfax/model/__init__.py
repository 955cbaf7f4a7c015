"""The domain vocabulary of lanfax: plain dataclasses and enums, imported by every room.

Every public name is importable from here, but each submodule is loaded only when one of
its names is first used (PEP 562): ``from lanfax.model import JobParams`` does not load the
configuration schema or the device tables. That keeps ``lanfax send`` quick to start.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing costs `lanfax send` ~1 ms to import; mypy reads these

if TYPE_CHECKING:
    from typing import Any

    from lanfax.model.clock import Clock, ManualClock, SystemClock
    from lanfax.model.codes import (
        FINAL_QUEUE_STATES,
        NO_JOB,
        PROVIDER_OUTCOME,
        AccessRight,
        AccessRightEx,
        DeliveryReportType,
        DeviceStatus,
        EventId,
        FailureClass,
        JobCommand,
        JobType,
        LogCategory,
        LogLevel,
        PortFlags,
        PortOpenMode,
        Priority,
        ProviderStatus,
        QueueStatus,
        ScheduleAction,
    )
    from lanfax.model.config import SETTINGS, LoggingCategory, ServerConfig
    from lanfax.model.devices import DeviceStatusInfo, PortInfo
    from lanfax.model.errors import (
        AccessDenied,
        ConfigError,
        Conflict,
        DocumentError,
        EngineError,
        FaxError,
        InvalidInput,
        NotFound,
        ProviderError,
        StoreError,
        Unavailable,
    )
    from lanfax.model.events import Event, NewEvent
    from lanfax.model.jobs import CoverPageInfo, Job, JobParams
    from lanfax.model.routing import GlobalRoutingInfo, RoutingMethod

__all__ = [
    "FINAL_QUEUE_STATES",
    "NO_JOB",
    "PROVIDER_OUTCOME",
    "SETTINGS",
    "AccessDenied",
    "AccessRight",
    "AccessRightEx",
    "Clock",
    "ConfigError",
    "Conflict",
    "CoverPageInfo",
    "DeliveryReportType",
    "DeviceStatus",
    "DeviceStatusInfo",
    "DocumentError",
    "EngineError",
    "Event",
    "EventId",
    "FailureClass",
    "FaxError",
    "GlobalRoutingInfo",
    "InvalidInput",
    "Job",
    "JobCommand",
    "JobParams",
    "JobType",
    "LogCategory",
    "LogLevel",
    "LoggingCategory",
    "ManualClock",
    "NewEvent",
    "NotFound",
    "PortFlags",
    "PortInfo",
    "PortOpenMode",
    "Priority",
    "ProviderError",
    "ProviderStatus",
    "QueueStatus",
    "RoutingMethod",
    "ScheduleAction",
    "ServerConfig",
    "StoreError",
    "SystemClock",
    "Unavailable",
]

#: Where each public name lives.
_WHERE = {
    "FINAL_QUEUE_STATES": "lanfax.model.codes",
    "NO_JOB": "lanfax.model.codes",
    "PROVIDER_OUTCOME": "lanfax.model.codes",
    "SETTINGS": "lanfax.model.config",
    "AccessDenied": "lanfax.model.errors",
    "AccessRight": "lanfax.model.codes",
    "AccessRightEx": "lanfax.model.codes",
    "Clock": "lanfax.model.clock",
    "ConfigError": "lanfax.model.errors",
    "Conflict": "lanfax.model.errors",
    "CoverPageInfo": "lanfax.model.jobs",
    "DeliveryReportType": "lanfax.model.codes",
    "DeviceStatus": "lanfax.model.codes",
    "DeviceStatusInfo": "lanfax.model.devices",
    "DocumentError": "lanfax.model.errors",
    "EngineError": "lanfax.model.errors",
    "Event": "lanfax.model.events",
    "EventId": "lanfax.model.codes",
    "FailureClass": "lanfax.model.codes",
    "FaxError": "lanfax.model.errors",
    "GlobalRoutingInfo": "lanfax.model.routing",
    "InvalidInput": "lanfax.model.errors",
    "Job": "lanfax.model.jobs",
    "JobCommand": "lanfax.model.codes",
    "JobParams": "lanfax.model.jobs",
    "JobType": "lanfax.model.codes",
    "LogCategory": "lanfax.model.codes",
    "LogLevel": "lanfax.model.codes",
    "LoggingCategory": "lanfax.model.config",
    "ManualClock": "lanfax.model.clock",
    "NewEvent": "lanfax.model.events",
    "NotFound": "lanfax.model.errors",
    "PortFlags": "lanfax.model.codes",
    "PortInfo": "lanfax.model.devices",
    "PortOpenMode": "lanfax.model.codes",
    "Priority": "lanfax.model.codes",
    "ProviderError": "lanfax.model.errors",
    "ProviderStatus": "lanfax.model.codes",
    "QueueStatus": "lanfax.model.codes",
    "RoutingMethod": "lanfax.model.routing",
    "ScheduleAction": "lanfax.model.codes",
    "ServerConfig": "lanfax.model.config",
    "StoreError": "lanfax.model.errors",
    "SystemClock": "lanfax.model.clock",
    "Unavailable": "lanfax.model.errors",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'lanfax.model' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # found once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
