"""The ``[routing]`` section of the settings file, validated once (split out of
``service/routing.py``, which re-exports both names)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lanfax.model.errors import ConfigError
from lanfax.routing.policy import InboundPolicy

__all__ = ["RoutingSettings", "parse_routing_settings"]

_ROUTING_KEYS = {"allowed_roots", "retry_base", "retry_cap", "max_attempts", "policy"}
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True, slots=True)
class RoutingSettings:
    """The ``[routing]`` section of the settings file.

    ::

        [routing]
        allowed_roots = ["/srv/fax"]   # folders the folder route may write in (+ <data>/inbox)
        retry_base = 60                # seconds before the first retry of a failed route
        retry_cap = 3600               # longest delay between retries
        max_attempts = 10              # failed attempts before the job waits for a person
        policy = {block = ["0900*"], max_pages = 50}
        [routing.builtin]              # options of the extension named "builtin"
        webhook_attempts = 3
    """

    allowed_roots: tuple[Path, ...] = ()
    retry_base: float = 60.0
    retry_cap: float = 3600.0
    max_attempts: int = 10
    policy: InboundPolicy = field(default_factory=InboundPolicy)
    extensions: Mapping[str, Mapping[str, Any]] | None = None

    def options(self, name: str) -> Mapping[str, Any]:
        return (self.extensions or {}).get(name, {})


def _number(table: Mapping[str, Any], key: str, default: float, lo: float, where: str) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < lo:
        raise ConfigError(f"{where}.{key}: {value!r} is not allowed", hint=f"use a number >= {lo}")
    return float(value)


def parse_routing_settings(table: Any, *, source: str = "(defaults)") -> RoutingSettings:
    """Validate the ``[routing]`` table; ConfigError naming the key otherwise."""
    where = f"{source}: routing"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table", hint="write it as [routing]")
    extensions: dict[str, Mapping[str, Any]] = {}
    for key, value in table.items():
        if key in _ROUTING_KEYS:
            continue
        if isinstance(value, Mapping) and _NAME.match(key):
            extensions[key] = dict(value)
            continue
        raise ConfigError(
            f"{where}: unknown key {key!r}",
            hint=f"[routing] knows {', '.join(sorted(_ROUTING_KEYS))} and [routing.<extension>]",
        )
    roots_raw = table.get("allowed_roots", [])
    if not isinstance(roots_raw, list) or not all(isinstance(r, str) for r in roots_raw):
        raise ConfigError(f"{where}.allowed_roots must be a list of paths", hint='["/srv/fax"]')
    roots = tuple(Path(r) for r in roots_raw)
    for r in roots:
        if not r.is_absolute():
            raise ConfigError(f"{where}.allowed_roots: {r} is not absolute", hint="start with /")
    attempts = table.get("max_attempts", 10)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 100:
        raise ConfigError(f"{where}.max_attempts: {attempts!r}", hint="use 1 to 100")
    policy_raw = table.get("policy", {})
    if not isinstance(policy_raw, Mapping):
        raise ConfigError(f"{where}.policy must be a table", hint="{block = [...], max_pages = N}")
    try:
        policy = InboundPolicy.from_mapping(policy_raw)
    except ConfigError as exc:
        raise ConfigError(f"{where}.policy: {exc.message}", hint=exc.hint) from None
    return RoutingSettings(
        allowed_roots=roots,
        retry_base=_number(table, "retry_base", 60.0, 0.0, where),
        retry_cap=_number(table, "retry_cap", 3600.0, 0.0, where),
        max_attempts=attempts,
        policy=policy,
        extensions=extensions,
    )
