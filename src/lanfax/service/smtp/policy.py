"""Who may send mail to fax, and the SMTP reply that says why not: pure functions, no I/O.

A sender is one of:

* a lanfax user logged in with SMTP AUTH (PLAIN or LOGIN; its password, or one of its API
  tokens as the password). Off loopback AUTH is offered only over TLS (after STARTTLS or
  with implicit TLS): a password never crosses the network in clear (RFC 4954 section 4
  lets a server require this; aiosmtpd answers ``538 5.7.11`` before STARTTLS);
* a trusted relay (``trusted_relays``: the mail server in front of lanfax), whose mail's
  ``From:`` maps to a lanfax user (:func:`map_sender`).

Anything else is refused at RCPT (no login, not a relay) or at the end of DATA (a relay's
``From:`` that is no lanfax user), with a 5xx reply naming what to do (RFC 3463 codes:
5.7.0 security, 5.7.1 not authorized, 5.5.3 too many recipients as 452 4.5.3).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping, Sequence

from lanfax.service.smtp.settings import Network

#: The token prefix of lanfax API tokens (an AUTH password that is a token).
TOKEN_PREFIX = "lfx_"


def auth_requires_tls(listener_loopback: bool, implicit_tls: bool) -> bool:
    """Whether AUTH must wait for STARTTLS: off loopback, unless the whole connection is
    TLS already."""
    return not listener_loopback and not implicit_tls


def authorization_header(login: str, password: str) -> str:
    """The HTTP Authorization value the API's authentication understands for an AUTH
    exchange: a token as the password is a Bearer token (any login), else Basic."""
    import base64

    if password.startswith(TOKEN_PREFIX):
        return f"Bearer {password}"
    pair = f"{login}:{password}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def is_trusted(peer: str, relays: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == n.version and ip in n for n in relays)


def map_sender(
    address: str,
    users: Collection[str],
    sender_domains: Sequence[str],
    senders: Mapping[str, str],
) -> str | None:
    """The lanfax user a relayed mail's ``From:`` address stands for, or None.

    In this order: the ``senders`` table (address -> user); a user named as the whole
    address; the local part when the domain is one of ``sender_domains``."""
    addr = address.strip().lower()
    if not addr or "@" not in addr:
        return None
    mapped = senders.get(addr)
    if mapped is not None:
        return mapped if mapped in users else None
    if addr in users:
        return addr
    local, _, domain = addr.rpartition("@")
    if domain in sender_domains and local in users:
        return local
    return None


def rcpt_refusal(
    *,
    user: str | None,
    relay: bool,
    may_submit: bool,
    count: int,
    max_recipients: int,
    tls_required_for_auth: bool,
    tls_active: bool,
) -> str | None:
    """The reply refusing one more RCPT, or None to accept it (its address is checked by
    :func:`lanfax.service.smtp.message.parse_recipient`)."""
    if user is None and not relay:
        if tls_required_for_auth and not tls_active:
            how = "start TLS (STARTTLS), then log in with AUTH"
        else:
            how = "log in with AUTH"
        return (
            f"530 5.7.0 authentication required: {how} as a lanfax user "
            "(its password, or an API token as the password)"
        )
    if user is not None and not may_submit:
        return (
            f"550 5.7.1 user {user!r} lacks the right to send faxes (submit_normal); "
            "ask an administrator"
        )
    if count >= max_recipients:
        return f"452 4.5.3 at most {max_recipients} fax recipients per mail; send the rest again"
    return None


def relay_sender_refusal(from_address: str, user: str | None) -> str | None:
    """The end-of-DATA reply refusing a relayed mail whose sender is no lanfax user."""
    if user is not None:
        return None
    shown = from_address or "(none)"
    return (
        f"550 5.7.1 the sender {shown} is not a lanfax user: mail relayed to fax must "
        "come From: an address that maps to one (smtp.senders, smtp.sender_domains)"
    )
