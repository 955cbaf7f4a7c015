"""Inbound routing calls (docs/http-api.md, "Routing"), for :class:`Client` and
:class:`AsyncClient`: the Ops, and one mixin per client that runs them.

=====================================  ==============================================
winfax                                 client
=====================================  ==============================================
FaxEnumGlobalRoutingInfo               ``routing_methods()``
FaxSetGlobalRoutingInfo                ``set_routing_priority(guid, priority)``,
                                       ``set_routing_order([guid, ...])``
FaxEnumRoutingMethods                  ``device_routing_methods(device_id)``
FaxEnableRoutingMethod                 ``enable_routing_method(device_id, guid, enabled)``
FaxGetRoutingInfo / FaxSetRoutingInfo  ``get_routing_info`` / ``set_routing_info``
(routing jobs)                         ``retry_routing(job_id)``
=====================================  ==============================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from lanfax.client import _core as c
from lanfax.client._core import Op, Response
from lanfax.model.jobs import Job
from lanfax.model.wire import from_wire

if TYPE_CHECKING:  # imported when used: the client is on every `lanfax` command's start-up path
    from lanfax.model.routing import GlobalRoutingInfo, RoutingMethod

T = TypeVar("T")


def _g(guid: str) -> str:
    from urllib.parse import quote

    return quote(str(guid).strip(), safe="")


def _dict(r: Response) -> dict[str, Any]:
    out = r.json()
    assert isinstance(out, dict)
    return out


def _globals(r: Response) -> list[GlobalRoutingInfo]:
    from lanfax.model.routing import GlobalRoutingInfo

    return [from_wire(GlobalRoutingInfo, item) for item in r.json()]


def global_methods() -> Op[list[GlobalRoutingInfo]]:
    return c.routing_op("GET", "/methods", _globals)


def set_priority(guid: str, priority: int) -> Op[list[GlobalRoutingInfo]]:
    return c.routing_op("PATCH", f"/methods/{_g(guid)}", _globals, body={"priority": priority})


def set_order(guids: Sequence[str]) -> Op[list[GlobalRoutingInfo]]:
    return c.routing_op("PUT", "/methods/order", _globals, body={"order": list(guids)})


def device_methods(device_id: int) -> Op[list[RoutingMethod]]:
    from lanfax.model.routing import RoutingMethod

    return c.routing_op(
        "GET",
        f"/devices/{int(device_id)}/methods",
        lambda r: [from_wire(RoutingMethod, item) for item in r.json()],
    )


def enable_method(device_id: int, guid: str, enabled: bool) -> Op[RoutingMethod]:
    from lanfax.model.routing import RoutingMethod

    return c.routing_op(
        "PATCH",
        f"/devices/{int(device_id)}/methods/{_g(guid)}",
        lambda r: from_wire(RoutingMethod, r.json()),
        body={"enabled": bool(enabled)},
    )


def get_info(device_id: int, guid: str) -> Op[dict[str, Any]]:
    return c.routing_op("GET", f"/devices/{int(device_id)}/methods/{_g(guid)}/info", _dict)


def set_info(device_id: int, guid: str, info: Mapping[str, Any]) -> Op[dict[str, Any]]:
    return c.routing_op(
        "PUT", f"/devices/{int(device_id)}/methods/{_g(guid)}/info", _dict, body=dict(info)
    )


def retry(job_id: int) -> Op[Job]:
    return c.routing_op("POST", f"/jobs/{int(job_id)}/retry", lambda r: from_wire(Job, r.json()))


class RoutingMixin:
    """The routing calls of the blocking :class:`~lanfax.client.Client`."""

    def _run(self, op: Op[T]) -> T:  # pragma: no cover - provided by the client
        raise NotImplementedError

    def routing_methods(self) -> list[GlobalRoutingInfo]:
        """FaxEnumGlobalRoutingInfo: every routing method, priority 1 first."""
        return self._run(global_methods())

    def set_routing_priority(self, guid: str, priority: int) -> list[GlobalRoutingInfo]:
        """FaxSetGlobalRoutingInfo: move ``guid`` to ``priority``; returns the new order."""
        return self._run(set_priority(guid, priority))

    def set_routing_order(self, guids: Sequence[str]) -> list[GlobalRoutingInfo]:
        """The whole order at once (every installed method exactly once)."""
        return self._run(set_order(guids))

    def device_routing_methods(self, device_id: int) -> list[RoutingMethod]:
        """FaxEnumRoutingMethods: the methods of a device with their enable flag."""
        return self._run(device_methods(device_id))

    def enable_routing_method(self, device_id: int, guid: str, enabled: bool) -> RoutingMethod:
        """FaxEnableRoutingMethod."""
        return self._run(enable_method(device_id, guid, enabled))

    def get_routing_info(self, device_id: int, guid: str) -> dict[str, Any]:
        """FaxGetRoutingInfo (secrets come back as ``********``)."""
        return self._run(get_info(device_id, guid))

    def set_routing_info(
        self, device_id: int, guid: str, info: Mapping[str, Any]
    ) -> dict[str, Any]:
        """FaxSetRoutingInfo: validated by the server (InvalidInput with a hint)."""
        return self._run(set_info(device_id, guid, info))

    def retry_routing(self, job_id: int) -> Job:
        """Route a routing job again now (every method that has not succeeded yet)."""
        return self._run(retry(job_id))


class AsyncRoutingMixin:
    """The routing calls of :class:`~lanfax.client.AsyncClient`."""

    async def _run(self, op: Op[T]) -> T:  # pragma: no cover - provided by the client
        raise NotImplementedError

    async def routing_methods(self) -> list[GlobalRoutingInfo]:
        return await self._run(global_methods())

    async def set_routing_priority(self, guid: str, priority: int) -> list[GlobalRoutingInfo]:
        return await self._run(set_priority(guid, priority))

    async def set_routing_order(self, guids: Sequence[str]) -> list[GlobalRoutingInfo]:
        return await self._run(set_order(guids))

    async def device_routing_methods(self, device_id: int) -> list[RoutingMethod]:
        return await self._run(device_methods(device_id))

    async def enable_routing_method(
        self, device_id: int, guid: str, enabled: bool
    ) -> RoutingMethod:
        return await self._run(enable_method(device_id, guid, enabled))

    async def get_routing_info(self, device_id: int, guid: str) -> dict[str, Any]:
        return await self._run(get_info(device_id, guid))

    async def set_routing_info(
        self, device_id: int, guid: str, info: Mapping[str, Any]
    ) -> dict[str, Any]:
        return await self._run(set_info(device_id, guid, info))

    async def retry_routing(self, job_id: int) -> Job:
        return await self._run(retry(job_id))
