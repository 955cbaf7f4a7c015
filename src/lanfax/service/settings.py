"""The service's settings file (TOML): where it listens, where its data lives, its devices.

Shape (every key optional; with no file at all, this is what runs)::

    [server]
    listen = "127.0.0.1:8470"
    data = "./lanfax-data"          # spool, database, inbox
    database = ""                   # default sqlite:///<data>/lanfax.db
    timezone = ""                   # for the discount period; default: the system's zone
    max_upload_mb = 50              # size limit of one submission's documents
    max_pages = 500                 # pages of one submission's document (after conversion)
    max_recipients = 10000          # recipients of one submission (broadcast)
    max_json_kb = 1024              # size limit of a JSON body (and of a submission's params)
    dnssd = "auto"                  # announce the fax printer: auto (beyond loopback), on, off
    conversion_timeout_s = 120      # time limit of one document conversion
    conversion_memory_mb = 2048     # address space of a conversion worker and its converters
    max_recipient_pages = 100000    # recipients x pages of one submission
    max_spool_mb = 0                # size of spool/docs (0: only the disk bounds it)
    min_free_mb = 64                # free space the spool's disk must keep
    keep_events_days = 90           # events older than this are pruned (0: kept forever)
    keep_audit_days = 365           # audit trail entries older than this are pruned
    keep_activity_days = 365        # activity log rows older than this are pruned
    [dialing]                       # dialing rules (lanfax.service.dialing)
    country_code = "49"
    [settings]                      # ServerConfig initial values (lanfax or Windows names)
    retries = 3
    [[providers]]
    type = "virtual"                # entry-point name, or "module.path:Class"
    lines = [{number = "100"}, {number = "101"}]
    timing = "fast"

:func:`load_settings` validates everything it can without starting anything and raises
:class:`~lanfax.model.errors.ConfigError` naming the file, the key and what is allowed.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lanfax.model.config import ServerConfig
from lanfax.model.errors import ConfigError
from lanfax.service.cluster_settings import (
    MetricsSettings,
    NodeSettings,
    parse_metrics_settings,
    parse_node_settings,
)
from lanfax.service.dialing import DialingRules, parse_dialing_settings
from lanfax.service.receipt_text import ReceiptSettings, parse_receipt_settings
from lanfax.service.routing import RoutingSettings, parse_routing_settings
from lanfax.service.security_settings import SecuritySettings, parse_security_settings
from lanfax.service.smtp.settings import SmtpSettings, parse_smtp_settings

DEFAULT_LISTEN = "127.0.0.1:8470"
DEFAULT_DATA = "./lanfax-data"

#: The devices of a configuration that names none: two virtual lines that can call each other.
DEFAULT_PROVIDERS: tuple[Mapping[str, Any], ...] = (
    {"type": "virtual", "lines": [{"number": "100"}, {"number": "101"}], "timing": "fast"},
)

_SERVER_KEYS = {
    "listen",
    "data",
    "database",
    "timezone",
    "max_upload_mb",
    "max_pages",
    "max_recipients",
    # issue #14 (safety)
    "max_json_kb",
    "dnssd",  # issue #11
    "conversion_timeout_s",
    "conversion_memory_mb",
    "max_recipient_pages",
    "max_spool_mb",
    "min_free_mb",
    "keep_events_days",
    "keep_audit_days",
    "keep_activity_days",
}
_TOP_KEYS = {"server", "settings", "providers", "routing", "security", "receipts", "dialing"}
_TOP_KEYS |= {"smtp"}  # e-mail to fax (lanfax.service.smtp.settings)
_TOP_KEYS |= {"node", "metrics"}  # issue #18 (lanfax.service.cluster_settings)
_SERVER_KEYS |= {"intake_workers"}  # issue #19 (lanfax.api.intake)
_SERVER_KEYS |= {"intake_hang_s"}  # issue #19 wave 7: a hung intake worker is replaced


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """Everything the service needs to start, validated.

    ``initial_config`` holds the ``[settings]`` values: they seed the stored ServerConfig and
    never override a value already stored (an administrator's change survives a restart).
    """

    host: str = "127.0.0.1"
    port: int = 8470
    data_dir: Path = Path(DEFAULT_DATA)
    database_url: str = ""
    timezone: str = ""
    max_upload_bytes: int = 50 * 1024 * 1024
    #: Pages of one submission's document; recipients of one submission.
    max_pages: int = 500
    max_recipients: int = 10_000
    #: Size limit of a JSON body, and of a submission's params part (issue #14).
    max_json_bytes: int = 1024 * 1024
    #: One conversion's time limit, and the address space (RLIMIT_AS) of a conversion
    #: worker and the converters it starts (0: no limit).
    conversion_timeout: float = 120.0
    conversion_memory_bytes: int = 2048 * 2**20
    #: Bounds on what one submission and the spool may hold (507 beyond, issue #14).
    max_recipient_pages: int = 100_000
    max_spool_bytes: int = 0
    min_free_bytes: int = 64 * 2**20
    #: Days events, audit entries and activity rows are kept (0: forever).
    keep_events_days: int = 90
    keep_audit_days: int = 365
    keep_activity_days: int = 365
    initial_config: Mapping[str, Any] = field(default_factory=dict)
    providers: tuple[Mapping[str, Any], ...] = DEFAULT_PROVIDERS
    source: str = "(defaults)"
    #: The ``[routing]`` section (lanfax.service.routing.RoutingSettings).
    routing: RoutingSettings = field(default_factory=RoutingSettings)
    #: The ``[security]`` section (lanfax.service.security_settings).
    security: SecuritySettings = field(default_factory=SecuritySettings)
    #: The ``[receipts]`` section (lanfax.service.receipt_text.ReceiptSettings).
    receipts: ReceiptSettings = field(default_factory=ReceiptSettings)
    #: The ``[dialing]`` section (lanfax.service.dialing.DialingRules).
    dialing: DialingRules = field(default_factory=DialingRules)
    #: The ``[smtp]`` section: e-mail to fax (lanfax.service.smtp.settings.SmtpSettings).
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    #: ``[server] dnssd``: announce the fax printer by DNS-SD ("auto", "on", "off").
    dnssd: str = "auto"
    #: ``[node]`` and ``[metrics]`` (issue #18, lanfax.service.cluster_settings).
    node: NodeSettings = field(default_factory=NodeSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    #: ``[server] intake_workers``: processes that take submissions beside the main one
    #: (issue #19, lanfax.api.intake); 0: the main process alone.
    intake_workers: int = 0
    #: ``[server] intake_hang_s``: an intake worker whose event loop has not answered the
    #: main process for this long is killed and replaced (#19 wave 7); 0: never.
    intake_hang_s: int = 30

    @property
    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'lanfax.db'}"

    @property
    def listen(self) -> str:
        return f"{self.host}:{self.port}"

    def tz(self) -> tzinfo:
        """The zone in which the discount period is read."""
        return resolve_timezone(self.timezone, where=f"{self.source}: server.timezone")


def resolve_timezone(name: str, *, where: str = "timezone") -> tzinfo:
    """``""`` -> the system's local zone; else an IANA zone name."""
    if not name:
        local = datetime.now().astimezone().tzinfo
        assert local is not None  # astimezone() always yields an aware datetime
        return local
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{where}: {name!r} is not a known time zone",
            hint="use an IANA name such as 'Europe/Berlin' or 'UTC', or leave it empty",
        ) from None


def parse_listen(value: object, *, where: str = "listen") -> tuple[str, int]:
    """``"127.0.0.1:8470"`` -> ``("127.0.0.1", 8470)``; port 0 picks a free port."""
    if not isinstance(value, str) or ":" not in value:
        raise ConfigError(
            f"{where}: {value!r} is not HOST:PORT", hint="e.g. 127.0.0.1:8470 or 0.0.0.0:8470"
        )
    host, _, port_text = value.rpartition(":")
    host = host.strip("[]")
    if not host:
        raise ConfigError(f"{where}: {value!r} has no host", hint="e.g. 127.0.0.1:8470")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(
            f"{where}: {port_text!r} is not a port number", hint="use a number from 0 to 65535"
        )
    return host, int(port_text)


def _get_str(table: Mapping[str, Any], key: str, default: str, where: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"{where}.{key}: {value!r} is not text", hint="quote the value")
    return value


def _bounded_int(
    table: Mapping[str, Any], key: str, default: int, low: int, high: int, where: str
) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(
            f"{where}.{key}: {value!r} is not allowed",
            hint=f"use a whole number from {low} to {high}",
        )
    return value


def settings_from_mapping(
    doc: Mapping[str, Any], *, source: str = "(defaults)", base_dir: Path | None = None
) -> ServiceSettings:
    """Validate a parsed TOML document. Relative paths are read from ``base_dir``."""
    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        raise ConfigError(
            f"{source}: unknown section(s) {', '.join(unknown)}",
            hint="the file may have [server], [settings], [routing], [security], [receipts], "
            "[dialing], [smtp] and [[providers]]",
        )
    server = doc.get("server", {})
    if not isinstance(server, Mapping):
        raise ConfigError(f"{source}: server must be a table", hint="write it as [server]")
    bad = sorted(set(server) - _SERVER_KEYS)
    if bad:
        raise ConfigError(
            f"{source}: unknown key(s) server.{', server.'.join(bad)}",
            hint=f"[server] knows: {', '.join(sorted(_SERVER_KEYS))}",
        )
    host, port = parse_listen(
        _get_str(server, "listen", DEFAULT_LISTEN, f"{source}: server"),
        where=f"{source}: server.listen",
    )
    data = Path(_get_str(server, "data", DEFAULT_DATA, f"{source}: server"))
    if base_dir is not None and not data.is_absolute():
        data = base_dir / data
    database = _get_str(server, "database", "", f"{source}: server")
    timezone = _get_str(server, "timezone", "", f"{source}: server")
    resolve_timezone(timezone, where=f"{source}: server.timezone")
    max_mb = server.get("max_upload_mb", 50)
    if isinstance(max_mb, bool) or not isinstance(max_mb, int) or not 1 <= max_mb <= 4096:
        raise ConfigError(
            f"{source}: server.max_upload_mb: {max_mb!r} is not allowed",
            hint="use a whole number of megabytes from 1 to 4096",
        )
    max_pages = _bounded_int(server, "max_pages", 500, 1, 100_000, f"{source}: server")
    max_recipients = _bounded_int(server, "max_recipients", 10_000, 1, 10_000, f"{source}: server")
    max_json_kb = _bounded_int(server, "max_json_kb", 1024, 1, 1024 * 1024, f"{source}: server")
    from lanfax.service.ipp.dnssd import parse_mode  # issue #11

    dnssd = parse_mode(server.get("dnssd", "auto"), f"{source}: server.dnssd")
    conversion_s = _bounded_int(server, "conversion_timeout_s", 120, 1, 3600, f"{source}: server")
    conversion_mb = _bounded_int(
        server, "conversion_memory_mb", 2048, 0, 1024 * 1024, f"{source}: server"
    )
    where = f"{source}: server"
    recipient_pages = _bounded_int(server, "max_recipient_pages", 100_000, 1, 10**9, where)
    max_spool_mb = _bounded_int(server, "max_spool_mb", 0, 0, 1024**3, where)
    min_free_mb = _bounded_int(server, "min_free_mb", 64, 0, 1024**3, where)
    keep_events = _bounded_int(server, "keep_events_days", 90, 0, 36500, where)
    keep_audit = _bounded_int(server, "keep_audit_days", 365, 0, 36500, where)
    keep_activity = _bounded_int(server, "keep_activity_days", 365, 0, 36500, where)

    initial = doc.get("settings", {})
    if not isinstance(initial, Mapping):
        raise ConfigError(f"{source}: settings must be a table", hint="write it as [settings]")
    if base_dir is not None:  # a relative ArchiveDirectory is read from the file's directory
        initial = {
            k: str(_absolute(Path(v), base_dir))
            if k in ("archive_directory", "ArchiveDirectory") and isinstance(v, str) and v
            else v
            for k, v in initial.items()
        }
    try:
        ServerConfig.from_mapping(initial)
    except ConfigError as exc:
        raise ConfigError(f"{source}: [settings] {exc.message}", hint=exc.hint) from None

    providers_doc = doc.get("providers")
    if providers_doc is None:
        providers: tuple[Mapping[str, Any], ...] = DEFAULT_PROVIDERS
    else:
        if not isinstance(providers_doc, list) or not all(
            isinstance(t, Mapping) for t in providers_doc
        ):
            raise ConfigError(
                f"{source}: providers must be a list of tables",
                hint="write each provider as a [[providers]] table with a type",
            )
        for index, table in enumerate(providers_doc):
            type_string = table.get("type")
            if not isinstance(type_string, str) or not type_string.strip():
                raise ConfigError(
                    f"{source}: providers[{index}].type is missing",
                    hint="add type = \"virtual\" (or another provider name, or 'module:Class')",
                )
        providers = tuple(dict(t) for t in providers_doc)
    routing = parse_routing_settings(doc.get("routing", {}), source=source)
    security = parse_security_settings(doc.get("security", {}), source=source, base_dir=base_dir)
    return ServiceSettings(
        host=host,
        port=port,
        data_dir=data,
        database_url=database,
        timezone=timezone,
        max_upload_bytes=max_mb * 1024 * 1024,
        max_pages=max_pages,
        max_recipients=max_recipients,
        max_json_bytes=max_json_kb * 1024,
        conversion_timeout=float(conversion_s),
        conversion_memory_bytes=conversion_mb * 2**20,
        max_recipient_pages=recipient_pages,
        max_spool_bytes=max_spool_mb * 2**20,
        min_free_bytes=min_free_mb * 2**20,
        keep_events_days=keep_events,
        keep_audit_days=keep_audit,
        keep_activity_days=keep_activity,
        initial_config=dict(initial),
        providers=providers,
        source=source,
        routing=routing,
        security=security,
        receipts=parse_receipt_settings(doc.get("receipts", {}), source=source),
        dialing=parse_dialing_settings(doc.get("dialing", {}), source=source),
        smtp=parse_smtp_settings(
            doc.get("smtp", {}), source=source, base_dir=base_dir, security=security
        ),
        dnssd=dnssd,
        node=parse_node_settings(doc.get("node", {}), source=source),
        metrics=parse_metrics_settings(doc.get("metrics", {}), source=source, base_dir=base_dir),
        intake_workers=_bounded_int(server, "intake_workers", 0, 0, 64, where),  # issue #19
        intake_hang_s=_bounded_int(server, "intake_hang_s", 30, 0, 3600, where),  # issue #19
    )


def load_settings(
    path: Path | str | None = None,
    *,
    data_dir: Path | str | None = None,
    listen: str | None = None,
) -> ServiceSettings:
    """Read and validate the settings file (or the defaults), then apply the overrides of
    ``lanfax serve --data`` and ``--listen``."""
    if path is None:
        settings = settings_from_mapping({})
    else:
        p = Path(path)
        try:
            raw = p.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the settings file {p}: {exc.strerror}",
                hint="check the path given to --config",
            ) from None
        try:
            doc = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"{p} is not valid TOML: {exc}", hint="fix the syntax at the position shown"
            ) from None
        settings = settings_from_mapping(doc, source=str(p), base_dir=p.parent.absolute())
    changes: dict[str, Any] = {}
    if data_dir is not None:
        changes["data_dir"] = Path(data_dir)
    if listen is not None:
        changes["host"], changes["port"] = parse_listen(listen, where="--listen")
    if changes:
        from dataclasses import replace

        settings = replace(settings, **changes)
    return absolute_paths(settings)


def _absolute(path: Path, base: Path) -> Path:
    """``path`` made absolute from ``base`` and normalized (``..`` folded, symlinks kept: the
    administrator's layout is theirs)."""
    return Path(os.path.normpath(base / path.expanduser()))


def absolute_paths(settings: ServiceSettings, cwd: Path | None = None) -> ServiceSettings:
    """Every path the service derives from ``--data`` or the settings file, made absolute once,
    from ``cwd`` (default: the directory ``lanfax serve`` was started in).

    The data directory is the root of the spool, the database, the inbox, the archive and the
    cover templates; an absolute root keeps them all absolute, so that no later check (the
    folder route refuses relative folders) nor a change of directory sees a relative path.
    A relative path in the settings file was already read from the file's directory."""
    from dataclasses import replace

    base = Path(cwd) if cwd is not None else Path.cwd()
    sec = settings.security
    security = replace(
        sec,
        tls_cert=_absolute(sec.tls_cert, base) if sec.tls_cert else None,
        tls_key=_absolute(sec.tls_key, base) if sec.tls_key else None,
        credentials_file=_absolute(sec.credentials_file, base) if sec.credentials_file else None,
    )
    database = settings.database_url
    prefix, sep, rest = database.partition(":///")
    if sep and prefix.startswith("sqlite") and rest and not rest.startswith(("/", ":memory:")):
        database = f"{prefix}:///{_absolute(Path(rest), base)}"
    initial = dict(settings.initial_config)
    for key in ("archive_directory", "ArchiveDirectory"):
        value = initial.get(key)
        if isinstance(value, str) and value and not os.path.isabs(value):
            initial[key] = str(_absolute(Path(value), base))
    return replace(
        settings,
        data_dir=_absolute(settings.data_dir, base),
        database_url=database,
        initial_config=initial,
        security=security,
    )
