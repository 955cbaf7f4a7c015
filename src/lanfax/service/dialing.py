"""Dialing rules: which numbers a user may fax, in what form they are compared, and what
the line dials. Pure functions over a :class:`DialingRules` value (the ``[dialing]`` table).

A number as typed (``"0 30 123 45-6"``) is first made canonical (punctuation dropped, see
:func:`lanfax.service.numbers.canonical_number`), then sorted into one of five kinds:

* ``special``: it holds ``*`` or ``#`` (service codes such as the virtual provider's ``*30``):
  dialed as it is, no outside-line prefix;
* ``international``: ``+...`` or the international prefix (``00...``);
* ``national``: the national (trunk) prefix (``0...``);
* ``internal``: at most ``internal_max_digits`` digits (an extension such as ``101``): dialed
  as it is, no outside-line prefix;
* ``local``: any other number: a subscriber in the site's own area.

With ``country_code`` (and ``area_code`` for local numbers) set, every number but special and
internal ones has an E.164 form (``+4930123456``); the ``allowed``/``blocked`` patterns are
matched against the number as typed (canonical), its E.164 form and its national form
(``030123456``), so ``"0900*"`` and ``"+49900*"`` both catch ``+49 900 ...`` however it was
written. What the line dials is built from the E.164 form: the outside-line prefix, then the
national prefix within the country or the international prefix abroad. With no
``country_code`` and no ``outside_line_prefix`` (the defaults) nothing is rewritten: the line
dials the number as the user gave it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lanfax.model.errors import ConfigError, InvalidInput
from lanfax.service.numbers import canonical_number

_KEYS = {
    "outside_line_prefix",
    "country_code",
    "area_code",
    "international_prefix",
    "national_prefix",
    "internal_max_digits",
    "allowed",
    "blocked",
}
_DIGITS = re.compile(r"^[0-9]*$")
_PATTERN = re.compile(r"^\+?[0-9#*?]+$")
_PATTERN_PUNCT = str.maketrans("", "", " \t-./()")


@dataclass(frozen=True, slots=True)
class DialingRules:
    """The ``[dialing]`` table, validated (see docs/configuration.md)."""

    #: Dialed before every external number (e.g. ``"0"`` behind a PBX).
    outside_line_prefix: str = ""
    #: The site's country calling code without ``+`` (``"49"``); empty: unknown.
    country_code: str = ""
    #: The site's area code without the national prefix (``"30"``); empty: unknown.
    area_code: str = ""
    international_prefix: str = "00"
    national_prefix: str = "0"
    #: Numbers of at most this many digits are internal extensions.
    internal_max_digits: int = 4
    #: If not empty, only numbers matching one of these patterns may be faxed.
    allowed: tuple[str, ...] = ()
    #: Numbers matching one of these patterns may not be faxed (wins over ``allowed``).
    blocked: tuple[str, ...] = ()

    @property
    def rewrites(self) -> bool:
        """Whether the line dials something other than the number as given."""
        return bool(self.outside_line_prefix or self.country_code)


@dataclass(frozen=True, slots=True)
class Number:
    """A number judged by the rules."""

    given: str
    #: The number without punctuation (``canonical_number``).
    canonical: str
    kind: str
    #: ``+<country><national>`` when known, else the canonical number.
    e164: str
    #: What the line dials.
    dial: str

    def forms(self, rules: DialingRules) -> tuple[str, ...]:
        """The forms patterns are matched against."""
        out = [self.canonical, self.e164]
        cc = rules.country_code
        if cc and self.e164.startswith("+" + cc):
            out.append(rules.national_prefix + self.e164[1 + len(cc) :])
        return tuple(dict.fromkeys(out))


def analyse(number: str, rules: DialingRules) -> Number:
    """Sort ``number`` into its kind and work out its E.164 form and dial string.

    Raises :class:`InvalidInput` for a number that cannot be dialed (see canonical_number).
    Does not apply ``allowed``/``blocked``: that is :func:`check`.
    """
    canonical = canonical_number(number)
    cc, area = rules.country_code, rules.area_code
    intl, trunk = rules.international_prefix, rules.national_prefix
    if "*" in canonical or "#" in canonical:
        return Number(number, canonical, "special", canonical, canonical)
    if canonical.startswith("+"):
        kind, rest = "international", canonical[1:]
        e164 = canonical
    elif intl and canonical.startswith(intl):
        kind, rest = "international", canonical[len(intl) :]
        e164 = "+" + rest
    elif trunk and canonical.startswith(trunk) and canonical != trunk:
        kind, rest = "national", canonical[len(trunk) :]
        e164 = "+" + cc + rest if cc else canonical
    elif len(canonical) <= rules.internal_max_digits:
        return Number(number, canonical, "internal", canonical, canonical)
    else:
        kind, rest = "local", canonical
        e164 = "+" + cc + area + canonical if cc and area else canonical
    if not rest:
        raise InvalidInput(
            f"fax number {number!r} is only a dialing prefix",
            hint="give the whole number after the prefix",
            number=number,
        )
    return Number(number, canonical, kind, e164, _dial_string(canonical, kind, e164, rules))


def _dial_string(canonical: str, kind: str, e164: str, rules: DialingRules) -> str:
    if not rules.rewrites:
        return canonical
    outside = rules.outside_line_prefix
    cc = rules.country_code
    if not e164.startswith("+"):
        # The site's country is not configured: dial what was typed, behind the outside line.
        return outside + canonical.lstrip("+")
    if kind == "local" and rules.area_code:
        return outside + canonical
    if cc and e164.startswith("+" + cc):
        return outside + rules.national_prefix + e164[1 + len(cc) :]
    return outside + rules.international_prefix + e164[1:]


def _matches(pattern: str, text: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text) is not None


def check(number: str, rules: DialingRules, *, field: str = "recipient_number") -> Number:
    """:func:`analyse`, then the ``blocked`` and ``allowed`` patterns.

    Raises :class:`InvalidInput` naming the number, the field and the rule that refused it.
    """
    try:
        judged = analyse(number, rules)
    except InvalidInput as exc:
        raise InvalidInput(f"{field}: {exc.message}", hint=exc.hint, number=number) from None
    forms = judged.forms(rules)
    for pattern in rules.blocked:
        if any(_matches(pattern, f) for f in forms):
            raise InvalidInput(
                f"{field}: fax number {number!r} is blocked by the dialing rule "
                f"blocked = {pattern!r}",
                hint="this server does not fax such numbers (premium rate or barred); "
                "ask the administrator ([dialing] blocked) if it should",
                number=number,
                rule=f"blocked:{pattern}",
            )
    # Internal and special numbers never leave the site: `allowed` restricts outside calls.
    outside = judged.kind not in ("special", "internal")
    if outside and rules.allowed and not any(_matches(p, f) for p in rules.allowed for f in forms):
        raise InvalidInput(
            f"{field}: fax number {number!r} matches none of the dialing rules "
            f"allowed = {list(rules.allowed)!r}",
            hint="this server faxes only the numbers [dialing] allowed lists; "
            "ask the administrator to add it",
            number=number,
            rule="allowed",
        )
    return judged


def dial_string(number: str, rules: DialingRules) -> str:
    """What the line dials for ``number``; the number as given when the rules rewrite nothing
    or cannot read it (it then fails at dial time, as before). Never raises."""
    if not rules.rewrites:
        return number
    try:
        return analyse(number, rules).dial
    except InvalidInput:
        return number


# -- the [dialing] table ---------------------------------------------------------------------


def _digits(table: Mapping[str, Any], key: str, default: str, where: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not _DIGITS.match(value) or len(value) > 8:
        raise ConfigError(
            f"{where}.{key}: {value!r} is not allowed",
            hint='write up to 8 digits in quotes, e.g. "0" (or "" for none)',
        )
    return value


def _patterns(table: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ConfigError(
            f"{where}.{key} must be a list of patterns", hint='e.g. ["0900*", "+49900*"]'
        )
    out: list[str] = []
    for i, item in enumerate(value):
        text = item.translate(_PATTERN_PUNCT) if isinstance(item, str) else None
        if text is None or not _PATTERN.match(text):
            raise ConfigError(
                f"{where}.{key}[{i}]: {item!r} is not a number pattern",
                hint="digits, an optional leading +, * for any digits, ? for one digit",
            )
        out.append(text)
    return tuple(out)


def parse_dialing_settings(table: object, *, source: str = "(defaults)") -> DialingRules:
    """Validate the ``[dialing]`` table; ConfigError names the key and what is allowed."""
    where = f"{source}: dialing"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table", hint="write it as [dialing]")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) dialing.{', dialing.'.join(unknown)}",
            hint=f"[dialing] knows: {', '.join(sorted(_KEYS))}",
        )
    internal = table.get("internal_max_digits", 4)
    if isinstance(internal, bool) or not isinstance(internal, int) or not 0 <= internal <= 8:
        raise ConfigError(
            f"{where}.internal_max_digits: {internal!r} is not allowed",
            hint="a whole number from 0 (no internal numbers) to 8",
        )
    rules = DialingRules(
        outside_line_prefix=_digits(table, "outside_line_prefix", "", where),
        country_code=_digits(table, "country_code", "", where),
        area_code=_digits(table, "area_code", "", where),
        international_prefix=_digits(table, "international_prefix", "00", where),
        national_prefix=_digits(table, "national_prefix", "0", where),
        internal_max_digits=internal,
        allowed=_patterns(table, "allowed", where),
        blocked=_patterns(table, "blocked", where),
    )
    if rules.area_code and not rules.country_code:
        raise ConfigError(
            f"{where}.area_code is set but country_code is not",
            hint='set country_code too, e.g. country_code = "49"',
        )
    if (
        rules.international_prefix
        and rules.national_prefix
        and rules.national_prefix.startswith(rules.international_prefix)
    ):
        raise ConfigError(
            f"{where}: national_prefix {rules.national_prefix!r} starts with the "
            f"international_prefix {rules.international_prefix!r}",
            hint="a national number could not be told from an international one",
        )
    return rules
