"""The IAX2 provider's configuration: one ``[[providers]]`` table, validated once.

Example::

    [[providers]]
    type = "iax2"
    peer = "127.0.0.1:4570"      # the IAX2 peer (Asterisk, iaxmodem): where calls go and come from
    bind = "127.0.0.1:0"         # our UDP address (port 0: any free port; 4569 is IAX2's own)
    channels = 2                 # devices (simultaneous calls)
    username = "lanfax"          # sent in NEW (and AUTHREP) when set
    secret = ""                  # for MD5 / plaintext authentication when the peer asks
    number = "100"               # our caller id, and the default TSI/CSI
    name = "lanfax"              # our caller name
    codec = "slinear"            # or "ulaw" / "alaw"
    answer_timeout = 60          # seconds an outgoing call may ring
    call_timeout = 3600          # seconds a connected call may last (watchdog)
    ring_interval = 6.0          # seconds between rings reported for an incoming call
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lanfax.model.errors import ConfigError
from lanfax.providers.iax2.frames import MediaFormat

__all__ = ["CODECS", "Iax2Config", "parse_address", "parse_config"]

CODECS: dict[str, int] = {
    "slinear": MediaFormat.SLINEAR,
    "ulaw": MediaFormat.ULAW,
    "alaw": MediaFormat.ALAW,
}
_KNOWN = {
    "peer",
    "bind",
    "channels",
    "username",
    "secret",
    "number",
    "name",
    "codec",
    "answer_timeout",
    "call_timeout",
    "ring_interval",
    "idle_timeout",
    "calltoken",
}
MAX_CHANNELS = 64


@dataclass(frozen=True, slots=True)
class Iax2Config:
    peer: tuple[str, int] = ("127.0.0.1", 4569)
    bind: tuple[str, int] = ("127.0.0.1", 0)
    channels: int = 1
    username: str = ""
    secret: str = ""
    number: str = ""
    name: str = "lanfax"
    codec: str = "slinear"
    answer_timeout: float = 60.0
    call_timeout: float = 3600.0
    #: Seconds of a connected call without T.30 progress before it is cut.
    idle_timeout: float = 300.0
    ring_interval: float = 6.0
    calltoken: bool = False

    @property
    def media_format(self) -> int:
        return CODECS[self.codec]


def parse_address(value: object, key: str, *, default_port: int | None = None) -> tuple[str, int]:
    """``"host:port"`` with a literal IP address (no name lookups)."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"iax2 provider: {key} must be a string like '127.0.0.1:4569', not {value!r}",
            hint=f'set {key} = "HOST:PORT"',
        )
    text = value.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = text, "" if default_port is None else str(default_port)
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
        port = int(port_text)
    except ValueError:
        raise ConfigError(
            f"iax2 provider: {key} = {value!r} is not an IP address and port",
            hint=f'write {key} = "127.0.0.1:4569" (an address, not a host name)',
        ) from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"iax2 provider: {key} port {port} is out of range", hint="use 1..65535")
    return host, port


def _string(raw: Mapping[str, Any], key: str, default: str, max_len: int = 80) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or len(value) > max_len or any(ord(c) < 0x20 for c in value):
        raise ConfigError(
            f"iax2 provider: {key} must be a printable string of at most {max_len} characters",
            hint=f"check {key} in the [[providers]] table",
        )
    return value


def _seconds(raw: Mapping[str, Any], key: str, default: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"iax2 provider: {key} must be a number of seconds, not {value!r}")
    if not math.isfinite(value) or value <= 0 or value > 86400:
        raise ConfigError(
            f"iax2 provider: {key} = {value} is out of range",
            hint=f"{key} is in seconds, more than 0 and at most 86400",
        )
    return float(value)


def parse_config(raw: Mapping[str, Any]) -> Iax2Config:
    """Validate a ``[[providers]]`` table (without ``type``/``id``); ConfigError with a hint."""
    unknown = sorted(set(raw) - _KNOWN)
    if unknown:
        raise ConfigError(
            f"iax2 provider: unknown setting(s) {', '.join(unknown)}",
            hint=f"known settings: {', '.join(sorted(_KNOWN))}",
        )
    if "peer" not in raw:
        raise ConfigError(
            "iax2 provider: peer is required",
            hint='set peer = "HOST:PORT" of the Asterisk server or iaxmodem (IAX2 port 4569)',
        )
    peer = parse_address(raw["peer"], "peer", default_port=4569)
    if peer[1] == 0:
        raise ConfigError("iax2 provider: the peer's port cannot be 0", hint="IAX2 uses 4569")
    bind = parse_address(raw.get("bind", "127.0.0.1:0"), "bind", default_port=0)
    channels = raw.get("channels", 1)
    if (
        isinstance(channels, bool)
        or not isinstance(channels, int)
        or not (1 <= channels <= MAX_CHANNELS)
    ):
        raise ConfigError(
            f"iax2 provider: channels = {channels!r} must be a whole number 1..{MAX_CHANNELS}",
            hint="channels is how many calls the line carries at once",
        )
    codec = raw.get("codec", "slinear")
    if codec not in CODECS:
        raise ConfigError(
            f"iax2 provider: codec = {codec!r} is not one of {', '.join(CODECS)}",
            hint="fax needs an uncompressed codec: slinear (best), ulaw or alaw",
        )
    number = _string(raw, "number", "", 40)
    if number and not all(c.isdigit() or c in "+*#" for c in number):
        raise ConfigError(
            f"iax2 provider: number = {number!r} is not a telephone number",
            hint='digits only (and + * #), e.g. number = "100"',
        )
    calltoken = raw.get("calltoken", False)
    if not isinstance(calltoken, bool):
        raise ConfigError("iax2 provider: calltoken must be true or false")
    return Iax2Config(
        peer=peer,
        bind=bind,
        channels=channels,
        username=_string(raw, "username", ""),
        secret=_string(raw, "secret", "", 200),
        number=number,
        name=_string(raw, "name", "lanfax"),
        codec=str(codec),
        answer_timeout=_seconds(raw, "answer_timeout", 60.0),
        call_timeout=_seconds(raw, "call_timeout", 3600.0),
        idle_timeout=_seconds(raw, "idle_timeout", 300.0),
        ring_interval=_seconds(raw, "ring_interval", 6.0),
        calltoken=calltoken,
    )
