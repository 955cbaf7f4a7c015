"""Credentials of lanfax's users, as pure code: password hashes, token texts, user and token
records (no I/O; :mod:`lanfax.service.security` keeps them in the store and checks callers).

* Passwords are hashed with scrypt from the standard library (memory-hard: n=2**15, r=8,
  p=1 is 32 MiB per hash; the parameters are stored with each hash so they can be raised
  later). scrypt rather than argon2 keeps the server free of a compiled dependency, and it is
  what RFC 7914 and OWASP list as a memory-hard alternative.
* A token is ``lfx_<id>_<secret>``: the id finds the record, the secret (256 random bits) is
  stored only as its SHA-256, compared in constant time. A fast hash is right here: the secret
  is random, not a human's password.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lanfax.model.errors import InvalidInput
from lanfax.service.rights import Caller, Role, effective_rights

__all__ = [
    "TOKEN_PREFIX",
    "USER_PREFIX",
    "TokenInfo",
    "UserInfo",
    "check_password",
    "check_user_name",
    "hash_password",
    "new_token_text",
    "split_token",
    "token_hash",
    "token_record",
    "verify_password",
]

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1
#: The store's settings namespaces of users and tokens (an emptied one: a removed entry).
USER_PREFIX, TOKEN_PREFIX = "user:", "token:"
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")


def hash_password(password: str, *, n: int = _SCRYPT_N) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=_SCRYPT_R, p=_SCRYPT_P, maxmem=128 * n * _SCRYPT_R * 2
    )
    return f"scrypt${n}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=128 * int(n) * int(r) * 2,
        )
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def token_hash(secret: str) -> str:
    """What a token's secret is stored as (SHA-256: the secret is random, not a password)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token_text() -> tuple[str, str, str]:
    """``(token, id, secret)`` of a fresh token."""
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return f"lfx_{token_id}_{secret}", token_id, secret


def split_token(token: str) -> tuple[str, str] | None:
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != "lfx" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def check_user_name(name: str) -> str:
    if not name or len(name) > 64 or not set(name) <= _NAME_CHARS:
        raise InvalidInput(
            f"{name!r} is not a valid user name",
            hint="1 to 64 letters, digits and . _ - @",
        )
    return name


def check_password(password: str) -> None:
    if len(password) < 8 or len(password) > 1024:
        raise InvalidInput(
            "a password must have 8 to 1024 characters", hint="choose a longer password"
        )


@dataclass(frozen=True, slots=True)
class UserInfo:
    name: str
    role: Role
    granted: tuple[str, ...] = ()
    revoked: tuple[str, ...] = ()
    password_hash: str = ""
    created_at: str = ""

    def to_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role.value,
            "granted": list(self.granted),
            "revoked": list(self.revoked),
            "password": self.password_hash,
            "created_at": self.created_at,
        }

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> UserInfo:
        return cls(
            name=str(rec["name"]),
            role=Role(rec["role"]),
            granted=tuple(rec.get("granted", ())),
            revoked=tuple(rec.get("revoked", ())),
            password_hash=str(rec.get("password", "")),
            created_at=str(rec.get("created_at", "")),
        )

    def to_wire(self) -> dict[str, Any]:
        """What the API shows: never the password hash."""
        basic, ext = effective_rights(self.role, self.granted, self.revoked)
        probe = Caller(self.name, self.role, basic, ext)
        return {
            "name": self.name,
            "role": self.role.value,
            "granted": list(self.granted),
            "revoked": list(self.revoked),
            "has_password": bool(self.password_hash),
            "created_at": self.created_at,
            "rights": probe.held(),
        }


@dataclass(frozen=True, slots=True)
class TokenInfo:
    token_id: str
    user: str
    label: str
    secret_hash: str
    created_at: str
    expires_at: str = ""

    def to_wire(self) -> dict[str, Any]:
        return {
            "token_id": self.token_id,
            "user": self.user,
            "label": self.label,
            "created_at": self.created_at,
            "expires_at": self.expires_at or None,
        }


def token_record(info: TokenInfo) -> dict[str, Any]:
    """A token as its settings record (what :class:`TokenInfo` is made from again)."""
    return {
        "token_id": info.token_id,
        "user": info.user,
        "label": info.label,
        "secret_hash": info.secret_hash,
        "created_at": info.created_at,
        "expires_at": info.expires_at,
    }
