"""FaxOutboundRouting: device groups and routing rules (``/api/v1/outbound``).

Windows codes a rule's country and area as numbers with ``frrcANY_CODE`` (0) for "any";
lanfax keeps them as digit strings with ``*`` for any: 0 and ``*`` are the same here. A
change to a group's ``DeviceIds`` is saved at once (as in Windows); a rule's ``UseDevice``,
``DeviceId`` and ``GroupName`` on ``Save``.
"""

from __future__ import annotations

import enum
from typing import Any

from lanfax.client.faxcomex._common import Collection, com_object, one_based
from lanfax.client.faxcomex._jobs import ClientOf
from lanfax.model.errors import InvalidInput, NotFound

__all__ = [
    "FAX_GROUP_STATUS_ENUM",
    "FAX_ROUTING_RULE_CODE_ENUM",
    "FAX_RULE_STATUS_ENUM",
    "FaxDeviceIds",
    "FaxOutboundRouting",
    "FaxOutboundRoutingGroup",
    "FaxOutboundRoutingGroups",
    "FaxOutboundRoutingRule",
    "FaxOutboundRoutingRules",
]

ANY = "*"


class FAX_GROUP_STATUS_ENUM(enum.IntEnum):
    fgsALL_DEV_VALID = 0
    fgsEMPTY = 1
    fgsALL_DEV_NOT_VALID = 2
    fgsSOME_DEV_NOT_VALID = 3


class FAX_RULE_STATUS_ENUM(enum.IntEnum):
    frsVALID = 0
    frsEMPTY_GROUP = 1
    frsALL_GROUP_DEV_NOT_VALID = 2
    frsSOME_GROUP_DEV_NOT_VALID = 3
    frsBAD_DEVICE = 4


class FAX_ROUTING_RULE_CODE_ENUM(enum.IntEnum):
    frrcANY_CODE = 0


_GROUP_STATUS = {
    "ok": FAX_GROUP_STATUS_ENUM.fgsALL_DEV_VALID,
    "empty": FAX_GROUP_STATUS_ENUM.fgsEMPTY,
    "no_usable_device": FAX_GROUP_STATUS_ENUM.fgsALL_DEV_NOT_VALID,
    "some_devices_not_usable": FAX_GROUP_STATUS_ENUM.fgsSOME_DEV_NOT_VALID,
}
_RULE_STATUS = {
    "ok": FAX_RULE_STATUS_ENUM.frsVALID,
    "empty": FAX_RULE_STATUS_ENUM.frsEMPTY_GROUP,
    "empty_group": FAX_RULE_STATUS_ENUM.frsEMPTY_GROUP,
    "no_usable_device": FAX_RULE_STATUS_ENUM.frsALL_GROUP_DEV_NOT_VALID,
    "some_devices_not_usable": FAX_RULE_STATUS_ENUM.frsSOME_GROUP_DEV_NOT_VALID,
}


def _code(value: Any) -> str:
    """A rule code as lanfax writes it: 0, None, "" and "*" are "any"."""
    if value is None or value == "" or value == 0 or value == ANY:
        return ANY
    text = str(value).strip()
    if not text.isdigit():
        raise InvalidInput(f"{value!r} is not a country or area code", hint="digits, or 0 for any")
    return text


def _number(code: str) -> int:
    return 0 if code == ANY else int(code)


@com_object
class FaxDeviceIds:
    """A group's devices in dialing order; every change is saved at once."""

    def __init__(self, group: FaxOutboundRoutingGroup) -> None:
        self._group = group

    @property
    def Count(self) -> int:
        return len(self._group._devices)

    def Item(self, lIndex: int) -> int:
        devices = self._group._devices
        return int(devices[one_based(lIndex, len(devices), "DeviceIds")])

    def __call__(self, lIndex: int) -> int:
        return self.Item(lIndex)

    def __iter__(self) -> Any:
        return iter(list(self._group._devices))

    def Add(self, lDeviceId: int) -> None:
        self._group._save([*self._group._devices, int(lDeviceId)])

    def Remove(self, lIndex: int) -> None:
        devices = list(self._group._devices)
        del devices[one_based(lIndex, len(devices), "DeviceIds")]
        self._group._save(devices)

    def SetOrder(self, lDeviceId: int, lNewOrder: int) -> None:
        devices = list(self._group._devices)
        if lDeviceId not in devices:
            raise NotFound(f"device {lDeviceId} is not in the group", hint="Add it first")
        devices.remove(lDeviceId)
        devices.insert(one_based(lNewOrder, len(devices) + 1, "the order"), int(lDeviceId))
        self._group._save(devices)


@com_object
class FaxOutboundRoutingGroup:
    def __init__(self, client_of: ClientOf, group: Any) -> None:
        self._client_of = client_of
        self._load(group)

    def _load(self, group: Any) -> None:
        self.Name = group.name
        self._devices: tuple[int, ...] = tuple(int(d) for d in group.devices)
        self.Status = _GROUP_STATUS.get(group.status, FAX_GROUP_STATUS_ENUM.fgsALL_DEV_NOT_VALID)

    def _save(self, devices: list[int]) -> None:
        self._load(self._client_of("DeviceIds").set_outbound_group(self.Name, devices))

    @property
    def DeviceIds(self) -> FaxDeviceIds:
        return FaxDeviceIds(self)


@com_object
class FaxOutboundRoutingGroups(Collection[FaxOutboundRoutingGroup]):
    """The groups ("All devices" first). ``Item`` and ``Remove`` take an index or a name."""

    _what = "the routing groups"

    def __init__(self, client_of: ClientOf, groups: list[FaxOutboundRoutingGroup]) -> None:
        super().__init__(groups)
        self._client_of = client_of

    def Item(self, vIndex: int | str) -> FaxOutboundRoutingGroup:
        if isinstance(vIndex, str):
            for group in self._items:
                if group.Name.casefold() == vIndex.casefold():
                    return group
            raise NotFound(f"there is no group {vIndex!r}", hint="see GetGroups()")
        return super().Item(vIndex)

    def Add(self, bstrName: str) -> FaxOutboundRoutingGroup:
        group = self._client_of("Add").add_outbound_group(bstrName)
        made = FaxOutboundRoutingGroup(self._client_of, group)
        self._items.append(made)
        return made

    def Remove(self, vIndex: int | str) -> None:
        group = self.Item(vIndex)
        self._client_of("Remove").remove_outbound_group(group.Name)
        self._items.remove(group)


@com_object
class FaxOutboundRoutingRule:
    """A rule: calls to ``CountryCode``/``AreaCode`` (0: any) go to one device
    (``UseDevice``, ``DeviceId``) or to a group (``GroupName``)."""

    def __init__(self, client_of: ClientOf, rule: Any) -> None:
        self._client_of = client_of
        self._load(rule)

    def _load(self, rule: Any) -> None:
        self._country, self._area = rule.country_code, rule.area_code
        self.UseDevice = rule.device is not None
        self.DeviceId = rule.device or 0
        self.GroupName = rule.group or ""
        self.Status = _RULE_STATUS.get(rule.status, FAX_RULE_STATUS_ENUM.frsBAD_DEVICE)
        self.Default = bool(rule.default)  # lanfax addition: the all/all rule

    @property
    def CountryCode(self) -> int:
        return _number(self._country)

    @property
    def AreaCode(self) -> int:
        return _number(self._area)

    def Refresh(self) -> None:
        self._load(self._client_of("Refresh").outbound_rule(self._country, self._area))

    def Save(self) -> None:
        client = self._client_of("Save")
        if self.UseDevice:
            rule = client.set_outbound_rule(self._country, self._area, device=int(self.DeviceId))
        else:
            rule = client.set_outbound_rule(self._country, self._area, group=self.GroupName)
        self._load(rule)


@com_object
class FaxOutboundRoutingRules(Collection[FaxOutboundRoutingRule]):
    """The rules, most specific first (the default all/all rule last)."""

    _what = "the routing rules"

    def __init__(self, client_of: ClientOf, rules: list[FaxOutboundRoutingRule]) -> None:
        super().__init__(rules)
        self._client_of = client_of

    def ItemByCountryAndArea(self, lCountryCode: int, lAreaCode: int) -> FaxOutboundRoutingRule:
        country, area = _code(lCountryCode), _code(lAreaCode)
        for rule in self._items:
            if (rule._country, rule._area) == (country, area):
                return rule
        raise NotFound(f"there is no rule for {country}/{area}", hint="see GetRules()")

    def Add(
        self,
        lCountryCode: int,
        lAreaCode: int,
        bUseDevice: bool,
        bstrGroupName: str = "",
        lDeviceId: int = 0,
    ) -> FaxOutboundRoutingRule:
        client = self._client_of("Add")
        country, area = _code(lCountryCode), _code(lAreaCode)
        if bUseDevice:
            rule = client.add_outbound_rule(country, area, device=int(lDeviceId))
        else:
            rule = client.add_outbound_rule(country, area, group=bstrGroupName)
        made = FaxOutboundRoutingRule(self._client_of, rule)
        self._items.insert(0, made)
        return made

    def Remove(self, lIndex: int) -> None:
        rule = self.Item(lIndex)
        self._client_of("Remove").remove_outbound_rule(rule._country, rule._area)
        self._items.remove(rule)

    def RemoveByCountryAndArea(self, lCountryCode: int, lAreaCode: int) -> None:
        rule = self.ItemByCountryAndArea(lCountryCode, lAreaCode)
        self._client_of("RemoveByCountryAndArea").remove_outbound_rule(rule._country, rule._area)
        self._items.remove(rule)


@com_object
class FaxOutboundRouting:
    """FaxServer.OutboundRouting: ``GetGroups()`` and ``GetRules()``."""

    def __init__(self, client_of: ClientOf) -> None:
        self._client_of = client_of

    def GetGroups(self) -> FaxOutboundRoutingGroups:
        groups = self._client_of("GetGroups").outbound_groups()
        return FaxOutboundRoutingGroups(
            self._client_of, [FaxOutboundRoutingGroup(self._client_of, g) for g in groups]
        )

    def GetRules(self) -> FaxOutboundRoutingRules:
        rules = self._client_of("GetRules").outbound_rules()
        return FaxOutboundRoutingRules(
            self._client_of, [FaxOutboundRoutingRule(self._client_of, r) for r in rules]
        )
