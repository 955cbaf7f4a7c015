"""The ``[security]`` section of the settings file, validated.

::

    [security]
    authentication = true       # false: no login, everyone is administrator (loopback only)
    admin_user = "admin"        # the administrator created on first start
    rate_limit = 100            # requests per second per user (sustained) ...
    rate_burst = 2000           # ... and in a burst; 0 turns the limit off
    failure_limit = 2           # failed requests (4xx) per second per user (sustained) ...
    failure_burst = 100         # ... and in a burst; 0 turns the limit off
    tls_cert = ""               # PEM certificate (chain) and key: the API speaks HTTPS
    tls_key = ""
    credentials_file = ""       # where the first start writes the administrator's token;
                                # default $LANFAX_CREDENTIALS, else ~/.config/lanfax/credentials
    allow_cleartext = false     # true: serve plain HTTP beyond loopback (passwords and tokens
                                # cross the network readable; warned about at every start)
    refusals_per_minute = 60    # refused requests (bad logins, bad tokens, changes to
                                # unknown paths) per address ...
    refusal_burst = 50          # ... and in a burst, before the address gets 429s
    session_idle_minutes = 30   # the console's login session ends after this long unused
    max_token_days = 365        # the longest lifetime of a minted token (the default when
                                # none is asked for); 0: no limit, tokens may never expire
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lanfax.model.errors import ConfigError

_KEYS = {
    "authentication",
    "admin_user",
    "rate_limit",
    "rate_burst",
    "failure_limit",
    "failure_burst",
    "tls_cert",
    "tls_key",
    "credentials_file",
    # issue #14 (safety)
    "allow_cleartext",
    "refusals_per_minute",
    "refusal_burst",
    "session_idle_minutes",
    "max_token_days",
}

#: The longest lifetime a token may be given at all (ten years), and the default limit.
TOKEN_DAYS_CAP, MAX_TOKEN_DAYS = 3650, 365


#: The per-user limits' defaults (docs/security.md explains the choice).
RATE_LIMIT, RATE_BURST = 100.0, 2000
FAILURE_LIMIT, FAILURE_BURST = 2.0, 100


@dataclass(frozen=True, slots=True)
class SecuritySettings:
    authentication: bool = True
    admin_user: str = "admin"
    #: Requests a second per user, and the burst: sized so that one user's bulk mailing
    #: (a loop of submissions) is never refused; a runaway loop of queries is slowed.
    rate_limit: float = RATE_LIMIT
    rate_burst: int = RATE_BURST
    #: Failed requests (4xx but 401/429) a second per user, and the burst: the limit for a
    #: script gone wrong; once spent, every request of that user waits.
    failure_limit: float = FAILURE_LIMIT
    failure_burst: int = FAILURE_BURST
    tls_cert: Path | None = None
    tls_key: Path | None = None
    credentials_file: Path | None = None
    #: Plain HTTP beyond loopback with authentication on (issue #14, item 13).
    allow_cleartext: bool = False
    #: Refused requests (401/403) per address: sustained per minute, and burst; 0: no limit.
    refusals_per_minute: float = 60.0
    refusal_burst: int = 50
    session_idle_minutes: int = 30
    #: The longest lifetime of a minted token, in days, also given to one minted without
    #: ``days`` (issue #14, item 15); 0: no limit (and no expiry unless asked for).
    max_token_days: int = MAX_TOKEN_DAYS

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


def _path(table: Mapping[str, Any], key: str, where: str, base: Path | None) -> Path | None:
    value = table.get(key, "")
    if not isinstance(value, str):
        raise ConfigError(f"{where}.{key}: {value!r} is not a path", hint="quote the path")
    if not value:
        return None
    p = Path(value).expanduser()
    return base / p if base is not None and not p.is_absolute() else p


def _rate(table: Mapping[str, Any], key: str, default: float, where: str, what: str) -> float:
    rate = table.get(key, default)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 100_000:
        raise ConfigError(
            f"{where}.{key}: {rate!r} is not allowed",
            hint=f"{what} requests per second per user, 0 for no limit",
        )
    return float(rate)


def _burst(table: Mapping[str, Any], key: str, default: int, where: str) -> int:
    burst = table.get(key, default)
    if isinstance(burst, bool) or not isinstance(burst, int) or not 0 <= burst <= 1_000_000:
        raise ConfigError(f"{where}.{key}: {burst!r} is not allowed", hint=f"e.g. {default}")
    return burst


def parse_security_settings(
    table: object, *, source: str = "(defaults)", base_dir: Path | None = None
) -> SecuritySettings:
    where = f"{source}: security"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table", hint="write it as [security]")
    bad = sorted(set(table) - _KEYS)
    if bad:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(bad)}",
            hint=f"[security] knows: {', '.join(sorted(_KEYS))}",
        )
    auth = table.get("authentication", True)
    if not isinstance(auth, bool):
        raise ConfigError(f"{where}.authentication: {auth!r} is not true/false", hint="true")
    admin = table.get("admin_user", "admin")
    if not isinstance(admin, str) or not admin.strip():
        raise ConfigError(f"{where}.admin_user: {admin!r} is not a user name", hint='"admin"')
    rate = _rate(table, "rate_limit", RATE_LIMIT, where, "requests")
    burst = _burst(table, "rate_burst", RATE_BURST, where)
    failure_rate = _rate(table, "failure_limit", FAILURE_LIMIT, where, "failed")
    failure_burst = _burst(table, "failure_burst", FAILURE_BURST, where)
    cert = _path(table, "tls_cert", where, base_dir)
    key = _path(table, "tls_key", where, base_dir)
    if (cert is None) != (key is None):
        raise ConfigError(
            f"{where}: tls_cert and tls_key go together", hint="give both files, or neither"
        )
    cleartext = table.get("allow_cleartext", False)
    if not isinstance(cleartext, bool):
        raise ConfigError(f"{where}.allow_cleartext: {cleartext!r} is not true/false", hint="false")
    per_minute = table.get("refusals_per_minute", 60)
    if isinstance(per_minute, bool) or not isinstance(per_minute, int | float) or per_minute < 0:
        raise ConfigError(
            f"{where}.refusals_per_minute: {per_minute!r} is not allowed",
            hint="refused requests per minute per address, 0 for no limit",
        )
    refusal_burst = table.get("refusal_burst", 50)
    if isinstance(refusal_burst, bool) or not isinstance(refusal_burst, int) or refusal_burst < 0:
        raise ConfigError(f"{where}.refusal_burst: {refusal_burst!r} is not allowed", hint="50")
    idle = table.get("session_idle_minutes", 30)
    if isinstance(idle, bool) or not isinstance(idle, int) or not 1 <= idle <= 7 * 24 * 60:
        raise ConfigError(
            f"{where}.session_idle_minutes: {idle!r} is not allowed",
            hint="minutes, 1 to 10080 (a week)",
        )
    token_days = table.get("max_token_days", MAX_TOKEN_DAYS)
    if (
        isinstance(token_days, bool)
        or not isinstance(token_days, int)
        or not 0 <= token_days <= TOKEN_DAYS_CAP
    ):
        raise ConfigError(
            f"{where}.max_token_days: {token_days!r} is not allowed",
            hint=f"days, 1 to {TOKEN_DAYS_CAP}, or 0 for no limit (tokens that never expire)",
        )
    return SecuritySettings(
        max_token_days=token_days,
        allow_cleartext=cleartext,
        refusals_per_minute=float(per_minute),
        refusal_burst=refusal_burst,
        authentication=auth,
        admin_user=admin.strip(),
        rate_limit=rate,
        rate_burst=burst,
        failure_limit=failure_rate,
        failure_burst=failure_burst,
        tls_cert=cert,
        tls_key=key,
        credentials_file=_path(table, "credentials_file", where, base_dir),
        session_idle_minutes=idle,
    )
