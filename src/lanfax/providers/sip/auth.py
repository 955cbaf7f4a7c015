"""HTTP digest authentication for SIP (RFC 3261 §22, RFC 2617, RFC 8760 for SHA-256).

Pure functions: parse a ``WWW-Authenticate``/``Proxy-Authenticate`` challenge, compute the
``Authorization``/``Proxy-Authorization`` credentials for a request. The client nonce comes
from the caller (tests pass a fixed one).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from lanfax.providers.sip.message import SipParseError, split_commas

__all__ = ["Challenge", "DigestError", "authorization", "parse_challenge"]

_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


class DigestError(SipParseError):
    """A challenge we cannot answer."""

    code = "sip-digest-error"


@dataclass(frozen=True, slots=True)
class Challenge:
    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False


def _auth_params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for part in split_commas(text):
        name, eq, value = part.partition("=")
        if not eq:
            raise DigestError(f"bad digest parameter {part[:40]!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace('\\"', '"')
        params[name.strip().lower()] = value
    return params


def parse_challenge(value: str) -> Challenge:
    """Parse ``Digest realm="x", nonce="y", qop="auth", algorithm=MD5``."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise DigestError(
            f"authentication scheme {scheme[:20]!r} is not Digest",
            hint="SIP registrars use Digest (RFC 3261 §22.4)",
        )
    params = _auth_params(rest)
    if "realm" not in params or "nonce" not in params:
        raise DigestError("digest challenge without realm or nonce")
    algorithm = params.get("algorithm", "MD5").upper()
    if algorithm not in _HASHES:
        raise DigestError(
            f"digest algorithm {algorithm[:20]!r} is not supported",
            hint="lanfax answers MD5 and SHA-256 challenges",
        )
    qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
    if qop and "auth" not in qop:
        raise DigestError(f"digest qop {qop!r} offers no 'auth'")
    return Challenge(
        params["realm"],
        params["nonce"],
        algorithm,
        qop,
        params.get("opaque"),
        params.get("stale", "").lower() == "true",
    )


def _h(algorithm: str, text: str) -> str:
    return _HASHES[algorithm](text.encode()).hexdigest()


def digest_response(
    ch: Challenge, *, user: str, password: str, method: str, uri: str, cnonce: str, nc: int
) -> str:
    """The ``response`` value (RFC 2617 §3.2.2.1)."""
    ha1 = _h(ch.algorithm, f"{user}:{ch.realm}:{password}")
    ha2 = _h(ch.algorithm, f"{method}:{uri}")
    if "auth" in ch.qop:
        return _h(ch.algorithm, f"{ha1}:{ch.nonce}:{nc:08x}:{cnonce}:auth:{ha2}")
    return _h(ch.algorithm, f"{ha1}:{ch.nonce}:{ha2}")


def authorization(
    ch: Challenge, *, user: str, password: str, method: str, uri: str, cnonce: str, nc: int = 1
) -> str:
    """The header value answering ``ch`` for a request ``method uri``."""
    response = digest_response(
        ch, user=user, password=password, method=method, uri=uri, cnonce=cnonce, nc=nc
    )
    parts = [
        f'username="{user}"',
        f'realm="{ch.realm}"',
        f'nonce="{ch.nonce}"',
        f'uri="{uri}"',
        f'response="{response}"',
        f"algorithm={ch.algorithm}",
    ]
    if "auth" in ch.qop:
        parts += ["qop=auth", f'cnonce="{cnonce}"', f"nc={nc:08x}"]
    if ch.opaque is not None:
        parts.append(f'opaque="{ch.opaque}"')
    return "Digest " + ", ".join(parts)
