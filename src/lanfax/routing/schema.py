"""A small schema for routing info: known fields, types, defaults, checks; every error a
ConfigError naming the method, the field and what to write instead."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from lanfax.model.errors import ConfigError

Check = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Field:
    """One routing-info field. ``check`` gets the value and returns it normalized, raising
    ConfigError (its message is prefixed with the method and field names)."""

    name: str
    check: Check
    default: Any = None
    required: bool = False
    doc: str = ""


def validate(what: str, info: Mapping[str, Any], fields: Sequence[Field]) -> dict[str, Any]:
    """Check ``info`` against ``fields``: unknown fields and missing required ones are
    refused; absent optional ones take their default."""
    by_name = {f.name: f for f in fields}
    known = ", ".join(f.name for f in fields)
    for key in info:
        if key not in by_name:
            raise ConfigError(f"{what}: unknown field {key!r}", hint=f"known fields: {known}")
    out: dict[str, Any] = {}
    for f in fields:
        if f.name not in info or info[f.name] is None:
            if f.required:
                raise ConfigError(
                    f"{what}: field {f.name!r} is required", hint=f.doc or f"set {f.name}"
                )
            out[f.name] = f.default
            continue
        try:
            out[f.name] = f.check(info[f.name])
        except ConfigError as exc:
            raise ConfigError(f"{what}: {f.name}: {exc.message}", hint=exc.hint) from None
    return out


# -- checks ----------------------------------------------------------------------------


def text(*, max_length: int = 1000, allow_empty: bool = True) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if not isinstance(v, str):
            raise ConfigError(f"{v!r} is not text", hint="give a string")
        if not allow_empty and not v.strip():
            raise ConfigError("it is empty", hint="give a value")
        if len(v) > max_length:
            raise ConfigError(f"it is {len(v)} characters long", hint=f"at most {max_length}")
        if any(ord(c) < 32 and c not in "\t\r\n" for c in v) or "\x7f" in v:
            raise ConfigError("it contains control characters", hint="use printable text")
        return v

    return check


def one_of(*choices: str) -> Check:
    def check(v: Any) -> str:
        if not isinstance(v, str) or v.lower() not in choices:
            raise ConfigError(f"{v!r} is not allowed", hint=f"use one of: {', '.join(choices)}")
        return v.lower()

    return check


def integer(lo: int, hi: int) -> Check:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int | str):
            raise ConfigError(f"{v!r} is not a whole number", hint=f"use {lo} to {hi}")
        try:
            n = int(v)
        except ValueError:
            raise ConfigError(f"{v!r} is not a whole number", hint=f"use {lo} to {hi}") from None
        if not lo <= n <= hi:
            raise ConfigError(f"{n} is out of range", hint=f"use a number from {lo} to {hi}")
        return n

    return check


def number(lo: float, hi: float) -> Check:
    def check(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ConfigError(f"{v!r} is not a number", hint=f"use {lo:g} to {hi:g}")
        if not lo <= float(v) <= hi:
            raise ConfigError(f"{v} is out of range", hint=f"use a number from {lo:g} to {hi:g}")
        return float(v)

    return check


def boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ConfigError(f"{v!r} is not true or false", hint="use true or false")
    return v


_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)


def hostname(v: Any) -> str:
    """A DNS name or an IP address literal."""
    if not isinstance(v, str) or not v:
        raise ConfigError(f"{v!r} is not a host name", hint="e.g. mail.example.com or 192.0.2.1")
    try:
        return str(ipaddress.ip_address(v.strip("[]")))
    except ValueError:
        pass
    if not _HOSTNAME.match(v):
        raise ConfigError(f"{v!r} is not a host name", hint="e.g. mail.example.com or 192.0.2.1")
    return v.lower()


_NAMED = re.compile(r"^([^<>]*?)\s*<([^<>]+)>$")


def email_address(v: Any) -> str:
    """One address, ``user@domain`` or ``Name <user@domain>``; returned as written."""
    hint = "write it as user@example.com or Name <user@example.com>"
    if not isinstance(v, str) or not v.strip() or len(v) > 320:
        raise ConfigError(f"{v!r} is not an e-mail address", hint=hint)
    if any(ord(c) < 32 or c == "\x7f" for c in v) or "," in v:
        raise ConfigError(f"{v!r} is not one e-mail address", hint=hint)
    v = v.strip()
    m = _NAMED.match(v)
    addr = m.group(2).strip() if m else v
    local, at, domain = addr.rpartition("@")
    if not at or not local or not _LOCAL.match(local) or ".." in local or local[0] == ".":
        raise ConfigError(f"{v!r} is not an e-mail address", hint=hint)
    if "." not in domain and domain != "localhost":
        raise ConfigError(f"{v!r}: the domain {domain!r} has no dot", hint=hint)
    try:
        hostname(domain)
    except ConfigError:
        raise ConfigError(f"{v!r}: {domain!r} is not a domain", hint=hint) from None
    return str(v)


def email_list(v: Any) -> list[str]:
    """One or more addresses: a list, or one string separated by commas."""
    items = [s.strip() for s in v.split(",")] if isinstance(v, str) else v
    if not isinstance(items, list) or not items or not all(isinstance(s, str) for s in items):
        raise ConfigError(
            f"{v!r} is not a list of e-mail addresses",
            hint='give ["a@example.com", "b@example.com"] or "a@example.com, b@example.com"',
        )
    if len(items) > 100:
        raise ConfigError(f"{len(items)} recipients is too many", hint="at most 100")
    return [email_address(s) for s in items]


def http_url(v: Any) -> str:
    """An absolute http(s) URL with a host and no credentials in it."""
    hint = "e.g. https://hooks.example.com/fax (http:// or https://, with a host)"
    if not isinstance(v, str) or any(c.isspace() for c in v) or len(v) > 2000:
        raise ConfigError(f"{v!r} is not a URL", hint=hint)
    try:
        parts = urlsplit(v)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{v!r} is not a URL: {exc}", hint=hint) from None
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"{v!r} is not an http or https URL", hint=hint)
    if not parts.hostname:
        raise ConfigError(f"{v!r} has no host", hint=hint)
    if parts.username or parts.password:
        raise ConfigError(
            f"{v!r} carries credentials", hint="use the secret field to authenticate instead"
        )
    hostname(parts.hostname)
    if port == 0:
        raise ConfigError(f"{v!r} has port 0", hint=hint)
    return v
