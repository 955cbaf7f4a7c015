"""The modem provider's configuration: one ``[[providers]]`` table, validated once.

Example::

    [[providers]]
    type = "modem"
    device = "/dev/ttyACM0"         # or devices = ["/dev/ttyACM0", "/dev/ttyUSB0"]
    init = ["ATE0", "AT+VCID=1"]    # extra commands after the reset (default: none)
    speed = 115200                  # DTE speed: 9600 19200 38400 57600 115200
    flow = "rtscts"                 # or "xonxoff", "none"
    dial_prefix = ""                # put before every number (e.g. "0," for an outside line)
    dial = "tone"                   # or "pulse"
    answer = "auto"                 # or "manual": never answer on its own (ringing is reported)
    rings = 2                       # rings before answering: the port's initial Rings
    number = ""                     # our number, the default TSI/CSI
    country = ""                    # the modem's country of installation, its T.35 code in
                                    # hex (AT+GCI): "B5" United States, "B4" United Kingdom
    ecm = true                      # false: never offer/accept ECM, whatever the job asks
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lanfax.model.errors import ConfigError
from lanfax.providers.modem.tty import SPEEDS

__all__ = ["ModemConfig", "parse_config"]

_KNOWN = {
    "device",
    "devices",
    "init",
    "speed",
    "flow",
    "dial_prefix",
    "dial",
    "tone",
    "pulse",
    "answer",
    "rings",
    "number",
    "country",
    "ecm",
    "command_timeout",
}


@dataclass(frozen=True, slots=True)
class ModemConfig:
    devices: tuple[str, ...]
    init: tuple[str, ...] = ()
    speed: int = 115200
    flow: str = "rtscts"
    dial_prefix: str = ""
    pulse: bool = False
    answer: str = "auto"
    rings: int = 1
    number: str = ""
    country: str = ""
    ecm: bool = True
    command_timeout: float = 5.0


def _fail(msg: str, hint: str) -> ConfigError:
    return ConfigError(f"modem provider: {msg}", hint=hint)


def _country(value: Any) -> str:
    """The T.35 country code for ``AT+GCI``: two hex digits ("B5"), or "" to leave the
    modem's own setting alone."""
    if not isinstance(value, str):
        raise _fail(f"country {value!r} is not text", 'a T.35 country code in hex, e.g. "B5"')
    code = value.strip().upper().removeprefix("0X")
    if not code:
        return ""
    if len(code) != 2 or any(c not in "0123456789ABCDEF" for c in code):
        raise _fail(
            f"country {value!r} is not a T.35 country code",
            "give the two hex digits of ITU-T T.35 that your modem's manual lists for"
            ' AT+GCI (e.g. "B5" for the United States, "B4" for the United Kingdom)',
        )
    return code


def parse_config(raw: Mapping[str, Any]) -> ModemConfig:
    """A validated ModemConfig; ConfigError (with a hint) naming the bad key otherwise."""
    unknown = set(raw) - _KNOWN
    if unknown:
        raise _fail(f"unknown key(s) {sorted(unknown)}", f"known keys: {', '.join(sorted(_KNOWN))}")
    devices: list[str] = []
    if "device" in raw:
        devices.append(raw["device"])
    if "devices" in raw:
        if not isinstance(raw["devices"], list):
            raise _fail("devices must be a list of tty paths", 'e.g. devices = ["/dev/ttyACM0"]')
        devices.extend(raw["devices"])
    if not devices:
        raise _fail("no device", 'set device = "/dev/ttyACM0" (the modem\'s tty)')
    for d in devices:
        if not isinstance(d, str) or not d.startswith("/"):
            raise _fail(f"device {d!r} is not a tty path", 'e.g. "/dev/ttyACM0" or "/dev/ttyS0"')
    if len(set(devices)) != len(devices):
        raise _fail("a device is listed twice", "name each tty once")
    init = raw.get("init", [])
    if isinstance(init, str):
        init = [init]
    if not isinstance(init, list) or not all(isinstance(c, str) and c.isascii() for c in init):
        raise _fail("init must be a list of AT command strings", 'e.g. init = ["AT+VCID=1"]')
    speed = raw.get("speed", 115200)
    if speed not in SPEEDS:
        raise _fail(f"speed {speed!r} is not supported", f"choose one of {sorted(SPEEDS)}")
    flow = raw.get("flow", "rtscts")
    if flow not in ("rtscts", "xonxoff", "none"):
        raise _fail(f"flow {flow!r} is unknown", 'use "rtscts", "xonxoff" or "none"')
    prefix = raw.get("dial_prefix", "")
    if not isinstance(prefix, str) or any(c not in "0123456789*#,WwPpTt!@" for c in prefix):
        raise _fail(f"dial_prefix {prefix!r} is not a dial string", 'digits, "*", "#", ","')
    dial = raw.get("dial", "pulse" if raw.get("pulse") else "tone")
    if dial not in ("tone", "pulse"):
        raise _fail(f"dial {dial!r} is unknown", 'use "tone" or "pulse"')
    answer = raw.get("answer", "auto")
    if answer not in ("auto", "manual"):
        raise _fail(f"answer {answer!r} is unknown", 'use "auto" or "manual"')
    rings = raw.get("rings", 1)
    if not isinstance(rings, int) or isinstance(rings, bool) or not 1 <= rings <= 20:
        raise _fail(f"rings {rings!r} is not 1-20", "the number of rings before answering")
    number = raw.get("number", "")
    if not isinstance(number, str) or len(number) > 20:
        raise _fail(f"number {number!r} is not usable", "at most 20 characters (the T.30 ident)")
    ecm = raw.get("ecm", True)
    if not isinstance(ecm, bool):
        raise _fail("ecm must be true or false", "ecm = false")
    timeout = raw.get("command_timeout", 5.0)
    if not isinstance(timeout, int | float) or not 0.1 <= timeout <= 120:
        raise _fail(f"command_timeout {timeout!r} is not 0.1-120 s", "seconds, e.g. 5")
    return ModemConfig(
        devices=tuple(devices),
        init=tuple(init),
        speed=speed,
        flow=flow,
        dial_prefix=prefix,
        pulse=dial == "pulse",
        answer=answer,
        rings=rings,
        number=number,
        country=_country(raw.get("country", "")),
        ecm=ecm,
        command_timeout=float(timeout),
    )
