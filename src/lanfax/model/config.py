"""The server configuration (FAX_CONFIGURATION and IFaxServer's properties), defined once.

Each setting is declared in :data:`SETTINGS` with its type, default, Windows name and a check;
:class:`ServerConfig` is the validated value. ``ServerConfig.with_changes`` is the only way to
change it, so every path (API, CLI, winfax, TOML) validates the same way.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lanfax.model.codes import LogCategory, LogLevel
from lanfax.model.errors import ConfigError

_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_hhmm(value: str) -> tuple[int, int]:
    """``"20:30"`` -> ``(20, 30)``; raises ConfigError with a hint otherwise."""
    m = _HHMM.match(str(value).strip())
    if not m:
        raise ConfigError(
            f"{value!r} is not a time of day", hint="write it as HH:MM, from 00:00 to 23:59"
        )
    return int(m.group(1)), int(m.group(2))


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    windows_name: str
    type: type
    default: Any
    doc: str
    check: Callable[[Any], Any] | None = None


def _range(lo: int, hi: int) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        if not lo <= v <= hi:
            raise ConfigError(f"{v} is out of range", hint=f"use a whole number from {lo} to {hi}")
        return v

    return check


def _hhmm(v: Any) -> Any:
    h, m = parse_hhmm(v)
    return f"{h:02d}:{m:02d}"


def _absolute_or_empty(v: Any) -> Any:
    """A folder setting: empty (the default place) or an absolute path. A relative path is
    refused, naming the absolute path it would have meant in this process (the server keeps
    the directory it was started in), so nobody's faxes land relative to a guess."""
    import os.path

    if v and not os.path.isabs(v):
        raise ConfigError(
            f"{v!r} is not an absolute path (it would mean {os.path.abspath(v)!r})",
            hint=f"give the full path, e.g. {os.path.abspath(v)}, or empty for the default",
        )
    return v


SETTINGS: tuple[Setting, ...] = (
    Setting("retries", "Retries", int, 3, "Extra attempts after a failed call.", _range(0, 99)),
    Setting("retry_delay", "RetryDelay", int, 10, "Minutes between attempts.", _range(0, 1440)),
    Setting(
        "dirty_days", "DirtyDays", int, 30, "Days an unsent job stays queued.", _range(1, 3650)
    ),
    Setting("branding", "Branding", bool, True, "Header line on every sent page."),
    Setting("use_device_tsid", "UseDeviceTsid", bool, True, "Send the device's TSID."),
    Setting("server_cp", "ServerCp", bool, False, "Only server cover pages may be used."),
    Setting("pause_server_queue", "PauseServerQueue", bool, False, "No job is dispatched."),
    Setting("start_cheap_time", "StartCheapTime", str, "20:00", "Start of discount period.", _hhmm),
    Setting("stop_cheap_time", "StopCheapTime", str, "07:00", "End of discount period.", _hhmm),
    Setting(
        "archive_outgoing_faxes", "ArchiveOutgoingFaxes", bool, False, "Archive every sent fax."
    ),
    Setting(
        "archive_directory",
        "ArchiveDirectory",
        str,
        "",
        "Where the outgoing archive is.",
        _absolute_or_empty,
    ),
    Setting("inbound_profile", "InboundProfile", str, "", "Identity used to mail inbound faxes."),
    # -- ipp (issue #11) --
    Setting(
        "draft_days",
        "DraftDays",
        int,
        7,
        "Days a draft (a document printed with no fax number) is kept.",
        _range(1, 3650),
    ),
    # -- #13 accounts --
    Setting(
        "auto_create_account_on_connect",
        "AutoCreateAccountOnConnect",
        bool,
        True,
        "A user's fax account is created on its first connection (else by an administrator).",
    ),
)

SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
SETTINGS_BY_WINDOWS_NAME: dict[str, Setting] = {s.windows_name: s for s in SETTINGS}


def _coerce(setting: Setting, value: Any) -> Any:
    if setting.type is bool:
        if isinstance(value, bool):
            out: Any = value
        elif isinstance(value, int) and value in (0, 1):
            out = bool(value)
        elif isinstance(value, str) and value.strip().lower() in {"1", "true", "yes", "on"}:
            out = True
        elif isinstance(value, str) and value.strip().lower() in {"0", "false", "no", "off"}:
            out = False
        else:
            raise ConfigError(
                f"{setting.name}: {value!r} is not a yes/no value", hint="use true or false"
            )
    elif setting.type is int:
        if isinstance(value, bool):
            raise ConfigError(f"{setting.name}: {value!r} is not a number", hint="use a number")
        try:
            out = int(str(value).strip()) if isinstance(value, str) else int(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{setting.name}: {value!r} is not a whole number", hint="use digits, e.g. 3"
            ) from None
        if isinstance(value, float) and value != out:
            raise ConfigError(f"{setting.name}: {value!r} is not a whole number", hint="e.g. 3")
    else:
        if not isinstance(value, str):
            raise ConfigError(f"{setting.name}: {value!r} is not text", hint="quote the value")
        out = value
    if setting.check is not None:
        try:
            out = setting.check(out)
        except ConfigError as exc:
            raise ConfigError(f"{setting.name}: {exc.message}", hint=exc.hint) from None
    return out


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """The validated server configuration. Build it with :meth:`from_mapping`."""

    retries: int = 3
    retry_delay: int = 10
    dirty_days: int = 30
    branding: bool = True
    use_device_tsid: bool = True
    server_cp: bool = False
    pause_server_queue: bool = False
    start_cheap_time: str = "20:00"
    stop_cheap_time: str = "07:00"
    archive_outgoing_faxes: bool = False
    archive_directory: str = ""
    inbound_profile: str = ""
    # -- ipp (issue #11) --
    draft_days: int = 7
    # -- #13 accounts --
    auto_create_account_on_connect: bool = True

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ServerConfig:
        """Validate ``values`` (lanfax or Windows names) over the defaults."""
        return cls().with_changes(values)

    def with_changes(self, changes: Mapping[str, Any]) -> ServerConfig:
        """A new config with ``changes`` applied; unknown names and bad values raise."""
        out: dict[str, Any] = {}
        for key, value in changes.items():
            setting = SETTINGS_BY_NAME.get(key) or SETTINGS_BY_WINDOWS_NAME.get(key)
            if setting is None:
                known = ", ".join(s.name for s in SETTINGS)
                raise ConfigError(f"unknown setting {key!r}", hint=f"known settings: {known}")
            out[setting.name] = _coerce(setting, value)
        return dataclasses.replace(self, **out)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def cheap_start(self) -> tuple[int, int]:
        return parse_hhmm(self.start_cheap_time)

    @property
    def cheap_stop(self) -> tuple[int, int]:
        return parse_hhmm(self.stop_cheap_time)


@dataclass(frozen=True, slots=True)
class LoggingCategory:
    """FAX_LOG_CATEGORY."""

    name: str
    category: LogCategory
    level: LogLevel


DEFAULT_LOGGING: tuple[LoggingCategory, ...] = (
    LoggingCategory("Initialization/Termination", LogCategory.INIT, LogLevel.MIN),
    LoggingCategory("Outbound", LogCategory.OUTBOUND, LogLevel.MIN),
    LoggingCategory("Inbound", LogCategory.INBOUND, LogLevel.MIN),
    LoggingCategory("Unknown", LogCategory.UNKNOWN, LogLevel.MIN),
)

#: The Python logger each category maps onto.
LOGGER_FOR_CATEGORY: dict[LogCategory, str] = {
    LogCategory.INIT: "lanfax.init",
    LogCategory.OUTBOUND: "lanfax.outbound",
    LogCategory.INBOUND: "lanfax.inbound",
    LogCategory.UNKNOWN: "lanfax.unknown",
}
