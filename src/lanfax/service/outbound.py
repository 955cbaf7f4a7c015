"""Outgoing routing: device groups and routing rules (FaxOutboundRoutingGroups / Rules).

Pure values and functions; the runtime that stores them is :mod:`lanfax.service.outbound_admin`.

* A **group** is a named, ordered list of devices. The built-in group :data:`ALL_DEVICES`
  always holds every device, in port priority order (lower first, then device id); it cannot
  be removed or edited. A device may be in several groups. An **empty group is inactive**: a
  rule that points to it is skipped, and the next less specific rule applies.
* A **rule** sends the numbers of one country code and area code - or of every area of a
  country (``area_code = "*"``), or of every country (``country_code = "*"``) - to one device
  or to one group. There is at most one rule per (country, area). The default rule
  ``*``/``*`` -> All devices always exists; it may be pointed elsewhere but not removed.
* **Which rule**: the most specific active rule that matches wins: a (country, area) rule
  before a (country, all areas) rule before the all-countries rule; among rules of the same
  kind, the longest code (``"1242"`` before ``"1"``).
* **Which country and area a number is in** comes from the dialing rules
  (:func:`lanfax.service.dialing.analyse`): its E.164 form ``+<country><area><subscriber>``
  is matched digit by digit against ``<country><area>``. A number with no E.164 form - an
  internal extension such as ``101`` (at most ``internal_max_digits`` digits), a service code
  with ``*``/``#``, or a national or local number while ``[dialing] country_code`` is not
  set - has no known country: only the all-countries rule applies to it. A local number
  (``1234567``) is in the site's own country and area when ``country_code`` and
  ``area_code`` are set.

The scheduler asks :meth:`OutboundTable.route` for a job's number and dials only on the
route's devices, in the route's order (:func:`lanfax.service.scheduler.plan`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lanfax.model.errors import InvalidInput
from lanfax.service import dialing
from lanfax.service.dialing import DialingRules

__all__ = [
    "ALL_DEVICES",
    "ANY",
    "DEFAULT_RULE",
    "OutboundGroup",
    "OutboundRule",
    "OutboundTable",
    "Route",
    "check_code",
    "check_group_name",
    "rule_key",
]

#: The built-in group (Windows: "<All Devices>").
ALL_DEVICES = "All devices"
#: "every country" / "every area".
ANY = "*"

MEMO_SIZE = 100_000
_COUNTRY = re.compile(r"^[1-9][0-9]{0,2}$")
_AREA = re.compile(r"^[0-9]{1,7}$")
_ANY_WORDS = {"*", "", "any", "all"}


def check_code(value: Any, name: str) -> str:
    """A country code (1-3 digits, not starting with 0; a leading ``+`` is dropped) or an
    area code (1-7 digits), or :data:`ANY`; InvalidInput naming the field otherwise."""
    if value is None:
        return ANY
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidInput(
            f"{name}: {value!r} is not a code", hint='write digits in quotes, or "*"', field=name
        )
    text = value.strip()
    if text.lower() in _ANY_WORDS:
        return ANY
    if name == "country_code":
        text = text.removeprefix("+")
        if not _COUNTRY.match(text):
            raise InvalidInput(
                f"country_code: {value!r} is not a country calling code",
                hint='1 to 3 digits without the international prefix, e.g. "49"; '
                '"*" for every country',
                field=name,
            )
    elif not _AREA.match(text):
        raise InvalidInput(
            f"area_code: {value!r} is not an area code",
            hint='1 to 7 digits without the national prefix, e.g. "30"; "*" for every area',
            field=name,
        )
    return text


def check_group_name(value: Any, name: str = "name") -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{name}: a group needs a name", hint='e.g. "Berlin lines"', field=name)
    text = value.strip()
    if len(text) > 64 or not text.isprintable():
        raise InvalidInput(
            f"{name}: {value!r} is not a usable group name",
            hint="at most 64 printable characters",
            field=name,
        )
    return text


def rule_key(country: str, area: str) -> tuple[str, str]:
    return (country, area)


@dataclass(frozen=True, slots=True)
class OutboundGroup:
    """A named, ordered list of device ids."""

    name: str
    devices: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "devices": list(self.devices)}


@dataclass(frozen=True, slots=True)
class OutboundRule:
    """(country, area) -> one device or one group. Exactly one of ``device``/``group``."""

    country_code: str = ANY
    area_code: str = ANY
    device: int | None = None
    group: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.country_code, self.area_code)

    @property
    def is_default(self) -> bool:
        return self.key == (ANY, ANY)

    @property
    def specificity(self) -> tuple[int, int]:
        """Higher wins: kind (country+area 2, country 1, any 0), then length of the codes."""
        if self.country_code == ANY:
            return (0, 0)
        if self.area_code == ANY:
            return (1, len(self.country_code))
        return (2, len(self.country_code) + len(self.area_code))

    def matches(self, digits: str | None) -> bool:
        """Whether the rule applies to an E.164 number's digits (None: country unknown)."""
        if self.country_code == ANY:
            return True
        if digits is None:
            return False
        prefix = self.country_code + ("" if self.area_code == ANY else self.area_code)
        return digits.startswith(prefix)

    def describe(self) -> str:
        if self.country_code == ANY:
            where = "all countries"
        elif self.area_code == ANY:
            where = f"+{self.country_code} (all areas)"
        else:
            where = f"+{self.country_code} ({self.area_code})"
        to = f"device {self.device}" if self.device is not None else f"group {self.group!r}"
        return f"{where} -> {to}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "country_code": self.country_code,
            "area_code": self.area_code,
            "device": self.device,
            "group": self.group,
        }


DEFAULT_RULE = OutboundRule(ANY, ANY, group=ALL_DEVICES)


@dataclass(frozen=True, slots=True)
class Route:
    """Where a number goes: ``devices`` in dialing order; None means every device in port
    priority order (the All devices group)."""

    rule: OutboundRule
    devices: tuple[int, ...] | None

    def describe(self) -> str:
        return self.rule.describe()


@dataclass(frozen=True, slots=True)
class OutboundTable:
    """The groups and rules in force, and the dialing rules that place a number.

    Build it with :meth:`build` (it checks references and adds what is built in)."""

    groups: Mapping[str, OutboundGroup]
    rules: tuple[OutboundRule, ...]
    dialing: DialingRules = field(default_factory=DialingRules)
    #: Answers already given, by the number as written: the scheduler asks for every
    #: waiting job on every plan, and a table is replaced (not changed) when rules change.
    _memo: dict[str, Route] = field(default_factory=dict, compare=False, repr=False)

    @property
    def trivial(self) -> bool:
        """Only the default rule, to All devices: every number may use every device."""
        return len(self.rules) == 1 and self.rules[0] == DEFAULT_RULE

    @classmethod
    def build(
        cls,
        groups: Sequence[OutboundGroup] = (),
        rules: Sequence[OutboundRule] = (),
        dialing_rules: DialingRules | None = None,
    ) -> OutboundTable:
        by_name: dict[str, OutboundGroup] = {ALL_DEVICES: OutboundGroup(ALL_DEVICES)}
        for g in groups:
            if g.name.casefold() != ALL_DEVICES.casefold():
                by_name[g.name] = g
        keyed: dict[tuple[str, str], OutboundRule] = {DEFAULT_RULE.key: DEFAULT_RULE}
        for r in rules:
            keyed[r.key] = r
        ordered = sorted(keyed.values(), key=lambda r: r.specificity, reverse=True)
        return cls(by_name, tuple(ordered), dialing_rules or DialingRules())

    def country_digits(self, number: str) -> str | None:
        """The E.164 digits of ``number`` (no ``+``), or None when its country is unknown
        (internal, special, or not placeable with the dialing rules; see the module doc)."""
        try:
            judged = dialing.analyse(number, self.dialing)
        except InvalidInput:
            return None
        if judged.kind in ("special", "internal") or not judged.e164.startswith("+"):
            return None
        return judged.e164[1:]

    def _devices(self, rule: OutboundRule) -> tuple[int, ...] | None:
        if rule.device is not None:
            return (rule.device,)
        if rule.group == ALL_DEVICES or rule.group is None:
            return None
        group = self.groups.get(rule.group)
        return group.devices if group is not None else ()

    def active(self, rule: OutboundRule) -> bool:
        """A rule to an empty (or vanished) group is inactive; every other rule is active."""
        devices = self._devices(rule)
        return devices is None or bool(devices)

    def route(self, number: str) -> Route:
        """The most specific active rule for ``number`` and its devices. The default rule
        always answers when nothing more specific does (even when its group is empty: then
        the job has no line)."""
        found = self._memo.get(number)
        if found is not None:
            return found
        if self.trivial:
            found = Route(DEFAULT_RULE, None)
        else:
            digits = self.country_digits(number)
            found = next(
                (
                    Route(rule, self._devices(rule))
                    for rule in self.rules  # most specific first
                    if rule.matches(digits) and (rule.is_default or self.active(rule))
                ),
                Route(DEFAULT_RULE, None),
            )
        if len(self._memo) >= MEMO_SIZE:
            self._memo.clear()
        self._memo[number] = found
        return found
