"""Fax devices (ports) as the client API sees them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lanfax.model.codes import DeviceStatus, JobType, PortFlags


def node_of_device(device_id: int | None) -> int | None:
    """The number of the node a device id belongs to (node n: n * 65536 + 1 ..., #18)."""
    return None if device_id is None else device_id >> 16


@dataclass(frozen=True, slots=True)
class PortInfo:
    """FAX_PORT_INFO, plus the provider that drives the port."""

    device_id: int
    device_name: str
    state: DeviceStatus = DeviceStatus.AVAILABLE
    flags: PortFlags = PortFlags.SEND | PortFlags.RECEIVE
    rings: int = 2
    priority: int = 1
    tsid: str = ""
    csid: str = ""
    provider: str = ""
    #: The line's own number (for virtual lines; informative elsewhere).
    number: str = ""
    #: What the provider found out about the device (e.g. a modem's probe: classes,
    #: modulations, identity; ``error`` when the device could not be brought up).
    capabilities: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeviceStatusInfo:
    """FAX_DEVICE_STATUS: the live state of one device."""

    device_id: int
    device_name: str
    status: DeviceStatus
    status_string: str = ""
    caller_id: str = ""
    csid: str = ""
    current_page: int = 0
    document_name: str = ""
    job_id: int | None = None
    job_type: JobType = JobType.UNKNOWN
    phone_number: str = ""
    routing_string: str = ""
    sender_name: str = ""
    recipient_name: str = ""
    size: int = 0
    start_time: datetime | None = None
    submitted_time: datetime | None = None
    total_pages: int = 0
    tsid: str = ""
    user_name: str = ""
