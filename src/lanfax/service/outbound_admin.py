"""The outgoing routing groups and rules of the running service: kept, checked, changed.

Storage: one settings namespace, ``outbound`` (``{"groups": [...], "rules": [...]}``), not a
table. Groups and rules are a few dozen rows of configuration that the dispatcher reads as
one value on every plan; keeping them in one document means a change that touches both (a
rule pointing to a new group) is checked against the whole and committed in one
transaction, with its CONFIG_CHANGED event, and no migration is needed. This process is the
store's only writer, so the copy here is always the committed value.

Changing anything needs manage_config, reading query_config (see lanfax.api.outbound). Bad
input raises InvalidInput naming the field (``extra.field`` in the problem document).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from lanfax.model.codes import NO_JOB, EventId
from lanfax.model.errors import ConfigError, Conflict, FaxError, InvalidInput, NotFound
from lanfax.model.events import NewEvent
from lanfax.service.context import ServiceContext
from lanfax.service.devices import DeviceManager
from lanfax.service.dialing import DialingRules
from lanfax.service.outbound import (
    ALL_DEVICES,
    ANY,
    OutboundGroup,
    OutboundRule,
    OutboundTable,
    check_code,
    check_group_name,
)

log = logging.getLogger("lanfax.outbound")

NAMESPACE = "outbound"
MAX_GROUPS = 200
MAX_RULES = 1000


def _is_all(name: str) -> bool:
    return name.strip().casefold() == ALL_DEVICES.casefold()


def _object(body: Any, hint: str) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise InvalidInput("the body must be a JSON object", hint=hint)
    return body


def _unknown_keys(body: Mapping[str, Any], known: set[str]) -> None:
    unknown = sorted(set(body) - known)
    if unknown:
        raise InvalidInput(
            f"{unknown[0]}: unknown field",
            hint=f"known fields: {', '.join(sorted(known))}",
            field=unknown[0],
        )


class OutboundRouting:
    """Groups and rules: CRUD with validation; ``on_change`` gets every new table."""

    def __init__(
        self,
        ctx: ServiceContext,
        devices: DeviceManager,
        dialing_rules: DialingRules,
        on_change: Callable[[OutboundTable], None],
    ) -> None:
        self.ctx = ctx
        self.devices = devices
        self.dialing = dialing_rules
        self.on_change = on_change
        self._groups: list[OutboundGroup] = []
        self._rules: list[OutboundRule] = []
        self.table = OutboundTable.build(dialing_rules=dialing_rules)

    # -- life cycle -------------------------------------------------------------------------

    async def load(self) -> None:
        """Read the saved groups and rules; an unreadable entry is logged and left out (the
        rest still applies), so a bad row never stops the service."""
        saved = await self.ctx.get_settings(NAMESPACE)
        groups: list[OutboundGroup] = []
        for raw in saved.get("groups", []):
            try:
                name = check_group_name(raw.get("name"))
                ids = tuple(int(d) for d in raw.get("devices", []))
                groups.append(OutboundGroup(name, ids))
            except (FaxError, TypeError, ValueError, AttributeError) as exc:
                log.error("saved outbound group %r ignored: %s", raw, exc)
        names = {g.name for g in groups}
        rules: list[OutboundRule] = []
        for raw in saved.get("rules", []):
            try:
                rule = self._rule_from(raw, names, check_devices=False)
                rules.append(rule)
            except (FaxError, TypeError, ValueError, AttributeError) as exc:
                log.error("saved outbound rule %r ignored: %s", raw, exc)
        self._groups, self._rules = groups, rules
        self._publish()

    def _publish(self) -> None:
        self.table = OutboundTable.build(self._groups, self._rules, self.dialing)
        self.on_change(self.table)

    async def _save(
        self, groups: list[OutboundGroup], rules: list[OutboundRule], what: str
    ) -> None:
        data = {
            "groups": [g.to_dict() for g in groups],
            "rules": [r.to_dict() for r in rules],
        }
        event = NewEvent(EventId.CONFIG_CHANGED, 0, NO_JOB, {"changed": ["outbound"], "what": what})
        await self.ctx.put_settings(NAMESPACE, data, [event])
        self._groups, self._rules = groups, rules
        self._publish()
        self.ctx.wake()  # a job may now have (or lose) its line

    # -- validation ---------------------------------------------------------------------------

    def _device(self, value: Any, name: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(
                f"{name}: {value!r} is not a device id", hint="list them: lanfax ports", field=name
            )
        if value not in self.devices.devices:
            known = ", ".join(str(d) for d in sorted(self.devices.devices)) or "none"
            raise InvalidInput(
                f"{name}: there is no device {value}",
                hint=f"known device ids: {known}",
                field=name,
            )
        return value

    def _device_list(self, value: Any) -> tuple[int, ...]:
        if not isinstance(value, list):
            raise InvalidInput(
                "devices: expected a list of device ids", hint="e.g. [2, 1]", field="devices"
            )
        out: list[int] = []
        for i, v in enumerate(value):
            d = self._device(v, f"devices[{i}]")
            if d in out:
                raise InvalidInput(
                    f"devices[{i}]: device {d} is listed twice",
                    hint="list each device once, in the order to use them",
                    field=f"devices[{i}]",
                )
            out.append(d)
        return tuple(out)

    def _rule_from(
        self, body: Any, groups: set[str], *, check_devices: bool = True
    ) -> OutboundRule:
        body = _object(body, 'e.g. {"country_code": "49", "area_code": "30", "group": "Berlin"}')
        _unknown_keys(body, {"country_code", "area_code", "device", "group"})
        country = check_code(body.get("country_code"), "country_code")
        area = check_code(body.get("area_code"), "area_code")
        if country == ANY and area != ANY:
            raise InvalidInput(
                "area_code: an area code needs a country code",
                hint='give country_code too, or use "*" for every area',
                field="area_code",
            )
        device, group = body.get("device"), body.get("group")
        if (device is None) == (group is None):
            raise InvalidInput(
                "a rule sends to one device or one group",
                hint='give either "device": ID or "group": "NAME"',
                field="device" if device is not None else "group",
            )
        if device is not None:
            if check_devices:
                device = self._device(device, "device")
            elif isinstance(device, bool) or not isinstance(device, int):
                raise InvalidInput("device: not a device id", field="device")
            return OutboundRule(country, area, device=device)
        if not isinstance(group, str):
            raise InvalidInput("group: a group name is text", field="group")
        if _is_all(group):
            return OutboundRule(country, area, group=ALL_DEVICES)
        if group.strip() not in groups:
            known = ", ".join([ALL_DEVICES, *sorted(groups)])
            raise InvalidInput(
                f"group: there is no group {group!r}", hint=f"groups: {known}", field="group"
            )
        return OutboundRule(country, area, group=group.strip())

    # -- groups ---------------------------------------------------------------------------------

    def _all_devices_order(self) -> list[int]:
        views = sorted(self.devices.views(), key=lambda d: (d.priority, d.device_id))
        return [d.device_id for d in views]

    def _group_wire(self, name: str) -> dict[str, Any]:
        builtin = name == ALL_DEVICES
        ids = (
            self._all_devices_order()
            if builtin
            else list(next(g for g in self._groups if g.name == name).devices)
        )
        known = self.devices.devices
        sendable = [d for d in ids if d in known and known[d].can_send]
        if not ids:
            status = "empty"
        elif not sendable:
            status = "no_usable_device"
        elif len(sendable) < len(ids):
            status = "some_devices_not_usable"
        else:
            status = "ok"
        return {"name": name, "devices": ids, "builtin": builtin, "status": status}

    def groups(self) -> list[dict[str, Any]]:
        return [self._group_wire(ALL_DEVICES)] + [self._group_wire(g.name) for g in self._groups]

    def _find_group(self, name: str) -> str:
        if _is_all(name):
            return ALL_DEVICES
        for g in self._groups:
            if g.name == name.strip():
                return g.name
        raise NotFound(
            f"there is no outbound group {name!r}", hint="list them: lanfax outbound groups"
        )

    def group(self, name: str) -> dict[str, Any]:
        return self._group_wire(self._find_group(name))

    async def add_group(self, body: Any) -> dict[str, Any]:
        body = _object(body, 'e.g. {"name": "Berlin", "devices": [2, 1]}')
        _unknown_keys(body, {"name", "devices"})
        name = check_group_name(body.get("name"))
        if _is_all(name) or any(g.name.casefold() == name.casefold() for g in self._groups):
            raise InvalidInput(
                f"name: a group named {name!r} exists already",
                hint="choose another name, or change that group's devices",
                field="name",
            )
        if len(self._groups) >= MAX_GROUPS:
            raise InvalidInput(f"name: at most {MAX_GROUPS} groups", field="name")
        group = OutboundGroup(name, self._device_list(body.get("devices", [])))
        await self._save([*self._groups, group], list(self._rules), f"group {name} added")
        return self._group_wire(name)

    async def set_group(self, name: str, body: Any) -> dict[str, Any]:
        """Replace a group's devices (their order is the dialing order)."""
        found = self._find_group(name)
        body = _object(body, 'e.g. {"devices": [2, 1]}')
        _unknown_keys(body, {"devices", "name"})
        if found == ALL_DEVICES:
            raise InvalidInput(
                f"devices: the group {ALL_DEVICES!r} always holds every device",
                hint="order its devices with the port priority (lanfax port set ID --priority N)",
                field="devices",
            )
        if "name" in body and check_group_name(body["name"]) != found:
            raise InvalidInput(
                "name: a group cannot be renamed",
                hint="add a group with the new name, point the rules to it, remove the old one",
                field="name",
            )
        devices = self._device_list(body.get("devices"))
        groups = [OutboundGroup(g.name, devices) if g.name == found else g for g in self._groups]
        await self._save(groups, list(self._rules), f"group {found} changed")
        return self._group_wire(found)

    async def remove_group(self, name: str) -> None:
        found = self._find_group(name)
        if found == ALL_DEVICES:
            raise Conflict(
                f"the group {ALL_DEVICES!r} cannot be removed",
                hint="it is built in; the default rule sends to it",
            )
        users = [r.describe() for r in self._rules if r.group == found]
        if users:
            raise Conflict(
                f"the group {found!r} is used by {len(users)} rule(s): {'; '.join(users)}",
                hint="point those rules elsewhere or remove them first",
            )
        groups = [g for g in self._groups if g.name != found]
        await self._save(groups, list(self._rules), f"group {found} removed")

    # -- rules ----------------------------------------------------------------------------------

    def _rule_wire(self, rule: OutboundRule) -> dict[str, Any]:
        table = self.table
        if rule.device is not None:
            dev = self.devices.devices.get(rule.device)
            status = "ok" if dev is not None and dev.can_send else "no_usable_device"
        else:
            status = self._group_wire(rule.group or ALL_DEVICES)["status"]
            if status == "empty" and not rule.is_default:
                status = "empty_group"  # inactive: a less specific rule applies
        return {
            **rule.to_dict(),
            "default": rule.is_default,
            "active": rule.is_default or table.active(rule),
            "status": status,
            "description": rule.describe(),
        }

    def rules(self) -> list[dict[str, Any]]:
        """Every rule, the most specific first (the order in which they are tried)."""
        return [self._rule_wire(r) for r in self.table.rules]

    def _find_rule(self, country: str, area: str) -> OutboundRule:
        key = (check_code(country, "country_code"), check_code(area, "area_code"))
        for r in self.table.rules:
            if r.key == key:
                return r
        raise NotFound(
            f"there is no outbound rule for country {key[0]} and area {key[1]}",
            hint="list them: lanfax outbound rules",
        )

    def rule(self, country: str, area: str) -> dict[str, Any]:
        return self._rule_wire(self._find_rule(country, area))

    async def add_rule(self, body: Any) -> dict[str, Any]:
        rule = self._rule_from(body, {g.name for g in self._groups})
        if any(r.key == rule.key for r in self.table.rules):
            field = "area_code" if rule.area_code != ANY else "country_code"
            raise InvalidInput(
                f"{field}: a rule for country {rule.country_code} and area {rule.area_code} "
                "exists already",
                hint="change that rule (PUT) instead of adding another",
                field=field,
            )
        if len(self._rules) >= MAX_RULES:
            raise InvalidInput(f"at most {MAX_RULES} rules", field="country_code")
        await self._save(list(self._groups), [*self._rules, rule], f"rule {rule.describe()} added")
        return self._rule_wire(rule)

    async def set_rule(self, country: str, area: str, body: Any) -> dict[str, Any]:
        """Point an existing rule (the default one too) to another device or group."""
        old = self._find_rule(country, area)
        body = dict(_object(body, 'e.g. {"group": "Berlin"} or {"device": 2}'))
        for key, value in (("country_code", old.country_code), ("area_code", old.area_code)):
            if key in body and check_code(body[key], key) != value:
                raise InvalidInput(
                    f"{key}: a rule's codes cannot be changed",
                    hint="remove the rule and add one with the new codes",
                    field=key,
                )
            body[key] = value
        rule = self._rule_from(body, {g.name for g in self._groups})
        rules = [r for r in self._rules if r.key != rule.key] + [rule]
        await self._save(list(self._groups), rules, f"rule {rule.describe()} changed")
        return self._rule_wire(rule)

    async def remove_rule(self, country: str, area: str) -> None:
        rule = self._find_rule(country, area)
        if rule.is_default:
            raise Conflict(
                "the default rule (all countries) cannot be removed",
                hint="point it to another group or device instead (PUT)",
            )
        rules = [r for r in self._rules if r.key != rule.key]
        await self._save(list(self._groups), rules, f"rule {rule.describe()} removed")

    def route(self, number: str) -> dict[str, Any]:
        """Which rule and devices a number would be dialled on (for people and tests)."""
        if not isinstance(number, str) or not number.strip():
            raise InvalidInput(
                "number: give a fax number", hint="?number=+49301234", field="number"
            )
        try:
            r = self.table.route(number)
        except ConfigError as exc:  # pragma: no cover - the table is built from checked data
            raise InvalidInput(str(exc), field="number") from None
        devices = list(r.devices) if r.devices is not None else self._all_devices_order()
        return {
            "number": number,
            "country_digits": self.table.country_digits(number),
            "rule": self._rule_wire(r.rule),
            "devices": devices,
        }
