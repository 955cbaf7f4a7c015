"""The ``[node]`` and ``[metrics]`` sections of the settings file (issue #18), validated.

::

    [node]
    name = "main"               # this node's name in the database (nodes table); letters,
                                # digits, '-', '_', '.'; the first node keeps "main"
    heartbeat_s = 5             # how often the node writes its heartbeat
    lease_s = 30                # a node silent this long is considered dead

    [metrics]
    token = ""                  # a bearer token that may read /metrics (and nothing else),
    token_file = ""             # or a file holding it; without one, /metrics needs query_config

See docs/scaling.md and docs/operations.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lanfax.model.errors import ConfigError

#: The name a node has when ``[node] name`` is not set (every one-node install).
DEFAULT_NODE = "main"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}\Z")
_NODE_KEYS = {"name", "heartbeat_s", "lease_s"}
_METRICS_KEYS = {"token", "token_file"}
#: A metrics token shorter than this is refused (it guards nothing).
MIN_TOKEN = 16


@dataclass(frozen=True, slots=True)
class NodeSettings:
    name: str = DEFAULT_NODE
    heartbeat_s: float = 5.0
    lease_s: float = 30.0


@dataclass(frozen=True, slots=True, repr=False)
class MetricsSettings:
    #: A bearer token that may read /metrics; "" for none (then query_config is needed).
    token: str = ""

    def __repr__(self) -> str:  # never print the token
        return f"MetricsSettings(token={'***' if self.token else ''!r})"


def _table(doc: object, section: str, keys: set[str], source: str) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{source}: {section} must be a table", hint=f"write it as [{section}]")
    bad = sorted(set(doc) - keys)
    if bad:
        raise ConfigError(
            f"{source}: unknown key(s) {section}.{f', {section}.'.join(bad)}",
            hint=f"[{section}] knows: {', '.join(sorted(keys))}",
        )
    return doc


def _seconds(table: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value <= 3600:
        raise ConfigError(f"{where}.{key}: {value!r} is not allowed", hint="use 1 to 3600 seconds")
    return float(value)


def parse_node_settings(doc: object, *, source: str = "(defaults)") -> NodeSettings:
    table = _table(doc, "node", _NODE_KEYS, source)
    where = f"{source}: node"
    name = table.get("name", DEFAULT_NODE)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"{where}.name: {name!r} is not a node name",
            hint="use up to 63 letters, digits, '-', '_' or '.', e.g. \"fax2\"",
        )
    heartbeat = _seconds(table, "heartbeat_s", 5.0, where)
    lease = _seconds(table, "lease_s", 30.0, where)
    if lease < 3 * heartbeat:
        raise ConfigError(
            f"{where}.lease_s ({lease:g}) must be at least three heartbeats ({3 * heartbeat:g} s)",
            hint="a node would be declared dead after one late heartbeat; raise lease_s",
        )
    return NodeSettings(name, heartbeat, lease)


def parse_metrics_settings(
    doc: object, *, source: str = "(defaults)", base_dir: Path | None = None
) -> MetricsSettings:
    table = _table(doc, "metrics", _METRICS_KEYS, source)
    where = f"{source}: metrics"
    token = table.get("token", "")
    path = table.get("token_file", "")
    if not isinstance(token, str) or not isinstance(path, str):
        raise ConfigError(f"{where}: token and token_file are text", hint="quote the value")
    if token and path:
        raise ConfigError(f"{where}: give token or token_file, not both", hint="keep one")
    if path:
        file = Path(path).expanduser()
        if base_dir is not None and not file.is_absolute():
            file = base_dir / file
        try:
            token = file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"{where}.token_file: cannot read {file}: {exc}",
                hint="point it at a readable file that holds the token on one line",
            ) from None
    if token and (len(token) < MIN_TOKEN or any(c.isspace() for c in token)):
        raise ConfigError(
            f"{where}.token: a metrics token needs at least {MIN_TOKEN} characters and no spaces",
            hint="make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'",
        )
    return MetricsSettings(token)
