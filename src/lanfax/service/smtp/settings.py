"""The ``[smtp]`` section of the settings file: e-mail to fax, off unless ``listen`` is set.

::

    [smtp]
    listen = "0.0.0.0:2525"           # HOST:PORT; empty (the default): no listener
    domain = "fax.example.org"        # mail to NUMBER@fax.example.org is faxed
    hostname = ""                     # the name in the greeting; default: domain
    tls_cert = ""                     # PEM certificate and key for STARTTLS (or implicit TLS);
    tls_key = ""                      #   default: [security] tls_cert / tls_key
    implicit_tls = false              # true: TLS from the first byte (port 465 style)
    trusted_relays = []               # addresses/networks whose mail needs no AUTH ...
    sender_domains = []               # ... when From: local@one-of-these is user "local"
    senders = {}                      # ... or From: is listed here: "a@b.org" = "alice"
    max_message_mb = 50               # largest mail accepted (552 beyond)
    max_recipients = 100              # recipients of one mail (452 beyond)
    resolution = "fine"               # "standard", "fine" or "superfine"
    receipt_attach = "report"         # the delivery receipt's attachment:
                                      #   "report", "first_page" or "none"
    cover_page = ""                   # cover page template (name, as for the API);
                                      #   default: the built-in one

Off loopback, AUTH is offered only over TLS (after STARTTLS, or with implicit TLS), so a
listener beyond this machine needs a certificate or trusted relays, or nobody could send.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lanfax.documents.types import RESOLUTIONS
from lanfax.model.errors import ConfigError
from lanfax.service.security_settings import SecuritySettings

_KEYS = {
    "listen",
    "domain",
    "hostname",
    "tls_cert",
    "tls_key",
    "implicit_tls",
    "trusted_relays",
    "sender_domains",
    "senders",
    "max_message_mb",
    "max_recipients",
    "resolution",
    "receipt_attach",
    "cover_page",
}
ATTACH_CHOICES = ("report", "first_page", "none")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str = ""
    port: int = 0
    domain: str = ""
    hostname: str = ""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    implicit_tls: bool = False
    trusted_relays: tuple[Network, ...] = ()
    sender_domains: tuple[str, ...] = ()
    senders: Mapping[str, str] = field(default_factory=dict)
    max_message_bytes: int = 50 * 1024 * 1024
    max_recipients: int = 100
    resolution: str = "fine"
    receipt_attach: str = "report"
    cover_page: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _domain(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"{where}: {value!r} is not a mail domain",
            hint='e.g. domain = "fax.example.org": mail to NUMBER@fax.example.org is faxed',
        )
    d = value.strip().lower().rstrip(".")
    labels = d.split(".")
    if any(not lab or len(lab) > 63 for lab in labels) or not all(
        ch.isalnum() or ch in "-." for ch in d
    ):
        raise ConfigError(f"{where}: {value!r} is not a mail domain", hint="e.g. fax.example.org")
    return d


def _strings(value: object, where: str, hint: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {value!r} is not a list of strings", hint=hint)
    return list(value)


def _path(value: object, where: str, base: Path | None) -> Path | None:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {value!r} is not a path", hint="quote the path")
    if not value:
        return None
    p = Path(value).expanduser()
    return base / p if base is not None and not p.is_absolute() else p


def _int(table: Mapping[str, Any], key: str, default: int, low: int, high: int, where: str) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(
            f"{where}.{key}: {value!r} is not allowed", hint=f"a whole number from {low} to {high}"
        )
    return value


def parse_smtp_settings(
    table: object,
    *,
    source: str = "(defaults)",
    base_dir: Path | None = None,
    security: SecuritySettings | None = None,
) -> SmtpSettings:
    """Validate ``[smtp]``; ConfigError names the file, the key and what to write."""
    from lanfax.service.settings import parse_listen

    where = f"{source}: smtp"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table", hint="write it as [smtp]")
    bad = sorted(set(table) - _KEYS)
    if bad:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(bad)}",
            hint=f"[smtp] knows: {', '.join(sorted(_KEYS))}",
        )
    listen = table.get("listen", "")
    if not isinstance(listen, str):
        raise ConfigError(f"{where}.listen: {listen!r} is not HOST:PORT", hint="quote it")
    if not listen:
        return SmtpSettings()
    host, port = parse_listen(listen, where=f"{where}.listen")
    if "domain" not in table:
        raise ConfigError(
            f"{where}.domain is missing",
            hint='e.g. domain = "fax.example.org": mail to NUMBER@fax.example.org is faxed',
        )
    domain = _domain(table["domain"], f"{where}.domain")
    hostname = table.get("hostname", "")
    if not isinstance(hostname, str):
        raise ConfigError(f"{where}.hostname: {hostname!r} is not text", hint="quote it")
    sec = security or SecuritySettings()
    cert = _path(table.get("tls_cert", ""), f"{where}.tls_cert", base_dir)
    key = _path(table.get("tls_key", ""), f"{where}.tls_key", base_dir)
    if (cert is None) != (key is None):
        raise ConfigError(
            f"{where}: tls_cert and tls_key go together", hint="give both files, or neither"
        )
    if cert is None:
        cert, key = sec.tls_cert, sec.tls_key
    implicit = table.get("implicit_tls", False)
    if not isinstance(implicit, bool):
        raise ConfigError(f"{where}.implicit_tls: {implicit!r} is not true/false", hint="false")
    if implicit and cert is None:
        raise ConfigError(
            f"{where}.implicit_tls needs a certificate",
            hint="set smtp.tls_cert and smtp.tls_key (or [security] tls_cert and tls_key)",
        )
    relays: list[Network] = []
    for item in _strings(
        table.get("trusted_relays", []),
        f"{where}.trusted_relays",
        'addresses or networks, e.g. ["127.0.0.1", "192.0.2.0/24"]',
    ):
        try:
            relays.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise ConfigError(
                f"{where}.trusted_relays: {item!r} is not an address or network",
                hint='e.g. "192.0.2.10" or "192.0.2.0/24"',
            ) from None
    domains = [
        _domain(d, f"{where}.sender_domains")
        for d in _strings(
            table.get("sender_domains", []), f"{where}.sender_domains", 'e.g. ["example.org"]'
        )
    ]
    senders_doc = table.get("senders", {})
    if not isinstance(senders_doc, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and "@" in k and v for k, v in senders_doc.items()
    ):
        raise ConfigError(
            f"{where}.senders: {senders_doc!r} is not a table of address = user",
            hint='e.g. [smtp.senders] "jane.doe@example.org" = "jane"',
        )
    resolution = table.get("resolution", "fine")
    if resolution not in RESOLUTIONS:
        raise ConfigError(
            f"{where}.resolution: {resolution!r} is not allowed",
            hint=f"use one of {', '.join(RESOLUTIONS)}",
        )
    attach = table.get("receipt_attach", "report")
    if attach not in ATTACH_CHOICES:
        raise ConfigError(
            f"{where}.receipt_attach: {attach!r} is not allowed",
            hint=f"use one of {', '.join(ATTACH_CHOICES)}",
        )
    cover = table.get("cover_page", "")
    if not isinstance(cover, str) or len(cover) > 100:
        raise ConfigError(
            f"{where}.cover_page: {cover!r} is not a template name",
            hint="a name from `lanfax cover list`, or empty for the built-in cover page",
        )
    settings = SmtpSettings(
        host=host,
        port=port,
        domain=domain,
        hostname=hostname.strip() or domain,
        tls_cert=cert,
        tls_key=key,
        implicit_tls=implicit,
        trusted_relays=tuple(relays),
        sender_domains=tuple(domains),
        senders={k.strip().lower(): v.strip() for k, v in senders_doc.items()},
        max_message_bytes=_int(table, "max_message_mb", 50, 1, 4096, where) * 1024 * 1024,
        max_recipients=_int(table, "max_recipients", 100, 1, 10_000, where),
        resolution=str(resolution),
        receipt_attach=str(attach),
        cover_page=cover.strip(),
    )
    if not settings.loopback and not settings.tls and not settings.trusted_relays:
        raise ConfigError(
            f"{where}: nobody could send mail to {listen}",
            hint="beyond loopback, AUTH needs TLS: set smtp.tls_cert/tls_key (or [security] "
            "ones), or name trusted_relays (e.g. your mail server)",
        )
    return settings
