"""Inbound routing methods as the client API sees them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RoutingMethod:
    """FAX_ROUTING_METHOD: one method on one device."""

    device_id: int
    enabled: bool
    device_name: str
    guid: str
    friendly_name: str
    function_name: str
    extension_image_name: str
    extension_friendly_name: str


@dataclass(frozen=True, slots=True)
class GlobalRoutingInfo:
    """FAX_GLOBAL_ROUTING_INFO: a method's place in the global order."""

    priority: int
    guid: str
    friendly_name: str
    function_name: str
    extension_image_name: str
    extension_friendly_name: str
