"""The virtual provider's configuration: one ``[[providers]]`` table, validated once.

Example::

    [[providers]]
    type = "virtual"
    network = "default"          # lines on the same network can call each other
    timing = "fast"              # or "realtime" (20 ms ticks, a call takes as long as on a line)
    codec = "slin"               # or "ulaw" / "alaw" (G.711 companding on the audio)
    mode = "audio"               # or "t38" (IFP packets instead of audio)
    ring_interval = 0.1          # seconds between rings (realtime default 6.0)
    answer_timeout = 3.0         # seconds a caller lets it ring (realtime default 60.0)
    max_call_seconds = 7200      # line-time watchdog for one call
    max_idle_seconds = 600       # ... and for a call with no T.30 progress for this long
    special_prefix = "*"         # "" turns the special numbers off
    robot_dir = ""               # keep what the robots receive here ("" discards it)
    lines = [{ number = "100", name = "Reception" }, { number = "101" }]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lanfax.model.errors import ConfigError
from lanfax.providers.virtual.numbers import is_line_number, normalize

__all__ = ["LineConfig", "VirtualConfig", "parse_config"]

TIMINGS = ("fast", "realtime")
CODECS = ("slin", "ulaw", "alaw")
MODES = ("audio", "t38")
_DEFAULTS = {
    "fast": {"ring_interval": 0.1, "answer_timeout": 3.0},
    "realtime": {"ring_interval": 6.0, "answer_timeout": 60.0},
}
_KNOWN = {
    "network",
    "timing",
    "codec",
    "mode",
    "ring_interval",
    "answer_timeout",
    "max_call_seconds",
    "max_idle_seconds",
    "special_prefix",
    "robot_dir",
    "robot_ident",
    "noise_seed",
    "lines",
}
#: T.30 idents are at most 20 characters (spandsp refuses longer ones).
MAX_IDENT = 20


@dataclass(frozen=True, slots=True)
class LineConfig:
    number: str
    name: str
    #: The ident (TSID/CSID) this line uses when the job gives none; default: the number.
    ident: str


@dataclass(frozen=True, slots=True)
class VirtualConfig:
    network: str = "default"
    timing: str = "fast"
    codec: str = "slin"
    mode: str = "audio"
    ring_interval: float = 0.1
    answer_timeout: float = 3.0
    max_call_seconds: float = 7200.0
    max_idle_seconds: float = 600.0
    special_prefix: str = "*"
    robot_dir: Path | None = None
    robot_ident: str = "LANFAX ROBOT"
    noise_seed: int | None = None
    lines: tuple[LineConfig, ...] = ()


def _choice(raw: Mapping[str, Any], key: str, choices: tuple[str, ...], default: str) -> str:
    value = raw.get(key, default)
    if value not in choices:
        raise ConfigError(
            f"virtual provider: {key} = {value!r} is not one of {', '.join(choices)}",
            hint=f"set {key} to one of: {', '.join(repr(c) for c in choices)}",
        )
    return str(value)


def _seconds(raw: Mapping[str, Any], key: str, default: float, upper: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(
            f"virtual provider: {key} = {value!r} is not a number of seconds",
            hint=f"write {key} as a number, e.g. {default}",
        )
    seconds = float(value)
    if not math.isfinite(seconds) or not 0 < seconds <= upper:
        raise ConfigError(
            f"virtual provider: {key} = {value!r} is out of range",
            hint=f"use a number of seconds above 0 and at most {upper:g}",
        )
    return seconds


def _text(raw: Mapping[str, Any], key: str, default: str) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(
            f"virtual provider: {key} = {value!r} is not text", hint=f"quote the value of {key}"
        )
    return value


def _ident(value: str, where: str) -> str:
    if len(value) > MAX_IDENT or not value.isascii() or not value.isprintable():
        raise ConfigError(
            f"virtual provider: {where} {value!r} is not a valid fax ident",
            hint=f"use at most {MAX_IDENT} printable ASCII characters",
        )
    return value


def _lines(raw: object, prefix: str) -> tuple[LineConfig, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(
            "virtual provider: lines must be a non-empty list",
            hint='write lines = [{ number = "100", name = "Reception" }, ...]',
        )
    out: list[LineConfig] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise ConfigError(
                f"virtual provider: lines[{i}] is not a table",
                hint='write each line as { number = "100", name = "..." }',
            )
        unknown = set(item) - {"number", "name", "ident"}
        if unknown:
            raise ConfigError(
                f"virtual provider: lines[{i}] has unknown keys {sorted(unknown)}",
                hint="a line takes number, name and ident",
            )
        number_raw = item.get("number")
        if isinstance(number_raw, int) and not isinstance(number_raw, bool):
            number_raw = str(number_raw)
        if not isinstance(number_raw, str):
            raise ConfigError(
                f"virtual provider: lines[{i}] has no number",
                hint='give every line a number, e.g. number = "100"',
            )
        number = normalize(number_raw)
        if not is_line_number(number):
            raise ConfigError(
                f"virtual provider: lines[{i}].number {number_raw!r} is not a telephone number",
                hint="use 1 to 20 digits, optionally after a '+'",
            )
        if prefix and number.startswith(prefix):
            raise ConfigError(
                f"virtual provider: line number {number!r} starts with the special prefix",
                hint="pick another number or another special_prefix",
            )
        if number in seen:
            raise ConfigError(
                f"virtual provider: line number {number!r} is used twice",
                hint="every line needs its own number",
            )
        seen.add(number)
        name = item.get("name", f"Virtual line {number}")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(
                f"virtual provider: lines[{i}].name {name!r} is not a name",
                hint="give the line a non-empty name, or leave name out",
            )
        ident = item.get("ident", number)
        if not isinstance(ident, str):
            raise ConfigError(
                f"virtual provider: lines[{i}].ident {ident!r} is not text",
                hint="quote the ident",
            )
        out.append(LineConfig(number, name.strip(), _ident(ident, f"lines[{i}].ident")))
    return tuple(out)


def parse_config(raw: Mapping[str, Any]) -> VirtualConfig:
    """Validate a ``[[providers]]`` table (without ``type``/``id``); ConfigError with a hint."""
    if not isinstance(raw, Mapping):
        raise ConfigError(
            "virtual provider: configuration is not a table", hint="use a [[providers]] table"
        )
    unknown = set(raw) - _KNOWN - {"type", "id"}
    if unknown:
        raise ConfigError(
            f"virtual provider: unknown settings {sorted(unknown)}",
            hint=f"known settings: {', '.join(sorted(_KNOWN))}",
        )
    network = _text(raw, "network", "default")
    if not network.strip():
        raise ConfigError("virtual provider: network is empty", hint='use network = "default"')
    timing = _choice(raw, "timing", TIMINGS, "fast")
    codec = _choice(raw, "codec", CODECS, "slin")
    mode = _choice(raw, "mode", MODES, "audio")
    if mode == "t38" and codec != "slin":
        raise ConfigError(
            f"virtual provider: codec = {codec!r} has no meaning with mode = 't38'",
            hint="T.38 carries packets, not audio: leave codec out or use mode = 'audio'",
        )
    defaults = _DEFAULTS[timing]
    ring_interval = _seconds(raw, "ring_interval", defaults["ring_interval"], 60.0)
    answer_timeout = _seconds(raw, "answer_timeout", defaults["answer_timeout"], 600.0)
    max_call = _seconds(raw, "max_call_seconds", 7200.0, 86400.0)
    max_idle = _seconds(raw, "max_idle_seconds", 600.0, 86400.0)
    prefix = _text(raw, "special_prefix", "*")
    if prefix and (len(prefix) > 4 or any(ch not in "0123456789*#" for ch in prefix)):
        raise ConfigError(
            f"virtual provider: special_prefix {prefix!r} cannot be dialed",
            hint="use 1 to 4 of the keys 0-9, * and # (e.g. '*' or '99'), or '' for none",
        )
    robot_dir_raw = _text(raw, "robot_dir", "")
    robot_dir = Path(robot_dir_raw) if robot_dir_raw else None
    if robot_dir is not None and not robot_dir.is_dir():
        raise ConfigError(
            f"virtual provider: robot_dir {robot_dir_raw!r} is not a directory",
            hint="create the directory, or leave robot_dir out to discard robot faxes",
        )
    robot_ident = _ident(_text(raw, "robot_ident", "LANFAX ROBOT"), "robot_ident")
    seed = raw.get("noise_seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ConfigError(
            f"virtual provider: noise_seed = {seed!r} is not a whole number >= 0",
            hint="use e.g. noise_seed = 1, or leave it out for fresh noise each call",
        )
    return VirtualConfig(
        network=network,
        timing=timing,
        codec=codec,
        mode=mode,
        ring_interval=ring_interval,
        answer_timeout=answer_timeout,
        max_call_seconds=max_call,
        max_idle_seconds=max_idle,
        special_prefix=prefix,
        robot_dir=robot_dir,
        robot_ident=robot_ident,
        noise_seed=seed,
        lines=_lines(raw.get("lines"), prefix),
    )
