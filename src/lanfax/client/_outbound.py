"""Outgoing routing (docs/routing.md, "Outgoing routing"), for :class:`Client` and
:class:`AsyncClient`: device groups and routing rules (FaxOutboundRoutingGroups / Rules).

=============================================  ==============================================
HTTP                                           client
=============================================  ==============================================
GET /outbound/groups                           ``outbound_groups() -> list[OutboundGroup]``
POST /outbound/groups                          ``add_outbound_group(name, devices)``
GET /outbound/groups/{name}                    ``outbound_group(name)``
PUT /outbound/groups/{name}                    ``set_outbound_group(name, devices)``
DELETE /outbound/groups/{name}                 ``remove_outbound_group(name)``
GET /outbound/rules                            ``outbound_rules() -> list[OutboundRule]``
POST /outbound/rules                           ``add_outbound_rule(country, area, device=|group=)``
GET /outbound/rules/{country}/{area}           ``outbound_rule(country, area)``
PUT /outbound/rules/{country}/{area}           ``set_outbound_rule(country, area, device=|group=)``
DELETE /outbound/rules/{country}/{area}        ``remove_outbound_rule(country, area)``
GET /outbound/route?number=                    ``outbound_route(number) -> OutboundRoute``
=============================================  ==============================================

Codes are text (``"49"``, ``"30"``); ``"*"`` means every country / every area. Reading needs
query_config, changing manage_config.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from lanfax.client._core import API, Op, Response, json_body, quote
from lanfax.model.errors import InvalidInput

T = TypeVar("T")
ANY = "*"
ALL_DEVICES = "All devices"


@dataclass(frozen=True, slots=True)
class OutboundGroup:
    """A device group: ``devices`` in dialing order. ``status``: ok, empty,
    some_devices_not_usable, no_usable_device."""

    name: str
    devices: tuple[int, ...]
    builtin: bool = False
    status: str = "ok"


@dataclass(frozen=True, slots=True)
class OutboundRule:
    """A routing rule: (country_code, area_code) -> ``device`` or ``group``. ``status``: ok,
    empty_group (inactive), no_usable_device, ...; ``default`` for the all/all rule."""

    country_code: str
    area_code: str
    device: int | None
    group: str | None
    default: bool = False
    active: bool = True
    status: str = "ok"
    description: str = ""


@dataclass(frozen=True, slots=True)
class OutboundRoute:
    """Where a number goes: the rule that wins and the devices in dialing order."""

    number: str
    rule: OutboundRule
    devices: tuple[int, ...]
    country_digits: str | None


def _group(d: dict[str, Any]) -> OutboundGroup:
    return OutboundGroup(
        str(d["name"]),
        tuple(int(x) for x in d.get("devices", [])),
        bool(d.get("builtin", False)),
        str(d.get("status", "ok")),
    )


def _rule(d: dict[str, Any]) -> OutboundRule:
    device = d.get("device")
    return OutboundRule(
        str(d["country_code"]),
        str(d["area_code"]),
        None if device is None else int(device),
        d.get("group"),
        bool(d.get("default", False)),
        bool(d.get("active", True)),
        str(d.get("status", "ok")),
        str(d.get("description", "")),
    )


def _route(r: Response) -> OutboundRoute:
    d = r.json()
    return OutboundRoute(
        str(d["number"]),
        _rule(d["rule"]),
        tuple(int(x) for x in d.get("devices", [])),
        d.get("country_digits"),
    )


def _code(value: str | int | None) -> str:
    text = ANY if value is None else str(value).strip() or ANY
    return quote(text)


def _group_path(name: str) -> str:
    if not name:
        raise InvalidInput("a group needs a name", hint=f'e.g. "{ALL_DEVICES}"')
    return f"{API}/outbound/groups/{quote(name)}"


def _rule_path(country: str | int | None, area: str | int | None) -> str:
    return f"{API}/outbound/rules/{_code(country)}/{_code(area)}"


def _destination(device: int | None, group: str | None) -> dict[str, Any]:
    if (device is None) == (group is None):
        raise InvalidInput(
            "a rule sends to one device or one group", hint="give device=ID or group=NAME"
        )
    return {"device": device} if device is not None else {"group": group}


def _nothing(r: Response) -> None:
    return None


def outbound_groups() -> Op[list[OutboundGroup]]:
    return Op("GET", f"{API}/outbound/groups", lambda r: [_group(g) for g in r.json()["groups"]])


def outbound_group(name: str) -> Op[OutboundGroup]:
    return Op("GET", _group_path(name), lambda r: _group(r.json()))


def add_outbound_group(name: str, devices: Sequence[int] = ()) -> Op[OutboundGroup]:
    body, ctype = json_body({"name": name, "devices": list(devices)})
    return Op(
        "POST",
        f"{API}/outbound/groups",
        lambda r: _group(r.json()),
        body=body,
        content_type=ctype,
    )


def set_outbound_group(name: str, devices: Sequence[int]) -> Op[OutboundGroup]:
    body, ctype = json_body({"devices": list(devices)})
    return Op("PUT", _group_path(name), lambda r: _group(r.json()), body=body, content_type=ctype)


def remove_outbound_group(name: str) -> Op[None]:
    return Op("DELETE", _group_path(name), _nothing)


def outbound_rules() -> Op[list[OutboundRule]]:
    return Op("GET", f"{API}/outbound/rules", lambda r: [_rule(x) for x in r.json()["rules"]])


def outbound_rule(country: str | int | None, area: str | int | None) -> Op[OutboundRule]:
    return Op("GET", _rule_path(country, area), lambda r: _rule(r.json()))


def add_outbound_rule(
    country: str | int | None,
    area: str | int | None,
    device: int | None = None,
    group: str | None = None,
) -> Op[OutboundRule]:
    data = {
        "country_code": ANY if country is None else str(country),
        "area_code": ANY if area is None else str(area),
        **_destination(device, group),
    }
    body, ctype = json_body(data)
    return Op(
        "POST", f"{API}/outbound/rules", lambda r: _rule(r.json()), body=body, content_type=ctype
    )


def set_outbound_rule(
    country: str | int | None,
    area: str | int | None,
    device: int | None = None,
    group: str | None = None,
) -> Op[OutboundRule]:
    body, ctype = json_body(_destination(device, group))
    return Op(
        "PUT", _rule_path(country, area), lambda r: _rule(r.json()), body=body, content_type=ctype
    )


def remove_outbound_rule(country: str | int | None, area: str | int | None) -> Op[None]:
    return Op("DELETE", _rule_path(country, area), _nothing)


def outbound_route(number: str) -> Op[OutboundRoute]:
    return Op("GET", f"{API}/outbound/route", _route, query={"number": number})


class OutboundMixin:
    """The outgoing routing calls of the blocking :class:`~lanfax.client.Client`."""

    def _run(self, op: Op[T]) -> T:  # pragma: no cover - provided by the client
        raise NotImplementedError

    def outbound_groups(self) -> list[OutboundGroup]:
        """Every group, "All devices" first (its devices in port priority order)."""
        return self._run(outbound_groups())

    def outbound_group(self, name: str) -> OutboundGroup:
        return self._run(outbound_group(name))

    def add_outbound_group(self, name: str, devices: Sequence[int] = ()) -> OutboundGroup:
        """A new group; ``devices`` in the order to dial on them (manage_config)."""
        return self._run(add_outbound_group(name, devices))

    def set_outbound_group(self, name: str, devices: Sequence[int]) -> OutboundGroup:
        """Replace a group's devices (manage_config)."""
        return self._run(set_outbound_group(name, devices))

    def remove_outbound_group(self, name: str) -> None:
        self._run(remove_outbound_group(name))

    def outbound_rules(self) -> list[OutboundRule]:
        """Every rule, most specific first (the order they are tried in)."""
        return self._run(outbound_rules())

    def outbound_rule(self, country: str | int | None, area: str | int | None) -> OutboundRule:
        return self._run(outbound_rule(country, area))

    def add_outbound_rule(
        self,
        country: str | int | None,
        area: str | int | None = None,
        *,
        device: int | None = None,
        group: str | None = None,
    ) -> OutboundRule:
        """A new rule: ``country``/``area`` codes (None or ``"*"``: all) to ``device`` or
        ``group`` (manage_config). A rule for the same codes already there is a 422."""
        return self._run(add_outbound_rule(country, area, device, group))

    def set_outbound_rule(
        self,
        country: str | int | None,
        area: str | int | None = None,
        *,
        device: int | None = None,
        group: str | None = None,
    ) -> OutboundRule:
        """Point a rule (the default ``"*"``/``"*"`` one too) elsewhere (manage_config)."""
        return self._run(set_outbound_rule(country, area, device, group))

    def remove_outbound_rule(self, country: str | int | None, area: str | int | None) -> None:
        self._run(remove_outbound_rule(country, area))

    def outbound_route(self, number: str) -> OutboundRoute:
        """Which rule and devices ``number`` would be dialled on."""
        return self._run(outbound_route(number))


class AsyncOutboundMixin:
    """The outgoing routing calls of :class:`~lanfax.client.AsyncClient`."""

    async def _run(self, op: Op[T]) -> T:  # pragma: no cover - provided by the client
        raise NotImplementedError

    async def outbound_groups(self) -> list[OutboundGroup]:
        return await self._run(outbound_groups())

    async def outbound_group(self, name: str) -> OutboundGroup:
        return await self._run(outbound_group(name))

    async def add_outbound_group(self, name: str, devices: Sequence[int] = ()) -> OutboundGroup:
        return await self._run(add_outbound_group(name, devices))

    async def set_outbound_group(self, name: str, devices: Sequence[int]) -> OutboundGroup:
        return await self._run(set_outbound_group(name, devices))

    async def remove_outbound_group(self, name: str) -> None:
        await self._run(remove_outbound_group(name))

    async def outbound_rules(self) -> list[OutboundRule]:
        return await self._run(outbound_rules())

    async def outbound_rule(
        self, country: str | int | None, area: str | int | None
    ) -> OutboundRule:
        return await self._run(outbound_rule(country, area))

    async def add_outbound_rule(
        self,
        country: str | int | None,
        area: str | int | None = None,
        *,
        device: int | None = None,
        group: str | None = None,
    ) -> OutboundRule:
        return await self._run(add_outbound_rule(country, area, device, group))

    async def set_outbound_rule(
        self,
        country: str | int | None,
        area: str | int | None = None,
        *,
        device: int | None = None,
        group: str | None = None,
    ) -> OutboundRule:
        return await self._run(set_outbound_rule(country, area, device, group))

    async def remove_outbound_rule(self, country: str | int | None, area: str | int | None) -> None:
        await self._run(remove_outbound_rule(country, area))

    async def outbound_route(self, number: str) -> OutboundRoute:
        return await self._run(outbound_route(number))
