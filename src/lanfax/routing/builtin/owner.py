"""Route to a user: give the received fax an owner, whose personal inbox then holds it.

Routing info (per device)::

    {"user": "reception",                 # every fax on this line (optional)
     "by_did": {"555": "alice"},          # by the called number / DID the line delivered
     "by_csid": {"+49 30 555": "bob"},    # by the CSID the fax was received under
     "by_tsid": {"HEAD OFFICE": "carol"}} # by the sending station's ident

The first that matches wins, in the order DID, TSID, CSID, then the line's ``user``; nothing
matches: the fax has no owner and stays in the server inbox (the method still succeeds: there
is nothing to retry). DIDs and CSIDs that are numbers are compared without punctuation
(``+49 (30) 555`` = ``+4930555``); idents without case or surrounding spaces. The method does
not check that the user exists (it may log in later; see docs/accounts.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lanfax.model.errors import ConfigError
from lanfax.routing.api import FaxRoute, RouteResult

# The user names lanfax accepts (lanfax.service.security.check_user_name).
_USER = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
_PUNCT = str.maketrans("", "", " \t-./()[]")
KEYS = ("user", "by_did", "by_csid", "by_tsid")
MAX_ENTRIES = 1000


def _user(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _USER.match(value):
        raise ConfigError(
            f"{where}: {value!r} is not a user name",
            hint="1 to 64 letters, digits and . _ - @",
        )
    return value


def _number_key(text: str) -> str:
    return text.strip().translate(_PUNCT).casefold()


def _ident_key(text: str) -> str:
    return " ".join(text.split()).casefold()


def _table(value: Any, where: str, key: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be an object", hint='e.g. {"555": "alice"}')
    if len(value) > MAX_ENTRIES:
        raise ConfigError(f"{where}: at most {MAX_ENTRIES} entries", hint="fewer entries")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not key(k) or len(k) > 64:
            raise ConfigError(f"{where}: {k!r} is not a usable key", hint="a number or ident")
        out[k] = _user(v, f"{where}[{k!r}]")
    return out


def check(info: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(info) - set(KEYS))
    if unknown:
        raise ConfigError(
            f"route to a user: unknown field(s) {', '.join(unknown)}",
            hint=f"known fields: {', '.join(KEYS)}",
        )
    out: dict[str, Any] = {}
    if info.get("user") not in (None, ""):
        out["user"] = _user(info["user"], "user")
    for name, key in (("by_did", _number_key), ("by_csid", _number_key), ("by_tsid", _ident_key)):
        if info.get(name):
            out[name] = _table(info[name], name, key)
    if not out:
        raise ConfigError(
            "route to a user: name a user for the line, or by_did / by_csid / by_tsid entries",
            hint='e.g. {"user": "reception"} or {"by_did": {"555": "alice"}}',
        )
    return out


def owner_of(fax: FaxRoute, info: Mapping[str, Any]) -> tuple[str, str]:
    """``(user, why)`` for ``fax``; ``("", why)`` when nothing matches."""
    for name, value, key in (
        ("by_did", fax.routing_info, _number_key),
        ("by_tsid", fax.tsid, _ident_key),
        ("by_csid", fax.csid, _number_key),
    ):
        table = info.get(name) or {}
        wanted = key(value) if value else ""
        if not wanted:
            continue
        for k, user in table.items():
            if key(k) == wanted:
                return str(user), f"{name[3:].upper()} {value}"
    if info.get("user"):
        return str(info["user"]), f"line {fax.device_name or fax.device_id}"
    return "", "no rule matched"


def route(fax: FaxRoute, info: Mapping[str, Any]) -> RouteResult:
    user, why = owner_of(fax, info)
    if not user:
        return RouteResult(ok=True, reason="no owner (server inbox)")
    return RouteResult(ok=True, reason=f"user {user} (by {why})", owner=user)
