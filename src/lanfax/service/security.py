"""Access control of the running service: users, tokens, authentication, rate limits, audit.

Users and tokens live in the store's settings namespaces (``user:<name>``, ``token:<id>``;
an emptied namespace is a removed entry) and are cached here: this process is the store's
only writer. The audit trail is a table (:mod:`lanfax.store.audit`).

* Passwords are hashed with scrypt from the standard library (memory-hard: n=2**15, r=8,
  p=1 is 32 MiB per hash; the parameters are stored with each hash so they can be raised
  later). scrypt rather than argon2 keeps the server free of a compiled dependency, and it is
  what RFC 7914 and OWASP list as a memory-hard alternative.
* A token is ``lfx_<id>_<secret>``: the id finds the record, the secret (256 random bits) is
  stored only as its SHA-256, compared in constant time. A fast hash is right here: the secret
  is random, not a human's password.
* With ``[security] authentication = false`` (allowed only on a loopback address) every
  caller is an administrator named by ``X-Lanfax-User``, as before this module existed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from lanfax.model.audit import AuditEntry
from lanfax.model.errors import (
    Conflict,
    FaxError,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthenticated,
)
from lanfax.service.ratelimit import Limiter
from lanfax.service.refusals import RefusalWindows, Window
from lanfax.service.rights import (
    ROLE_RIGHTS,
    Caller,
    Role,
    effective_rights,
    parse_right,
    parse_role,
    right_name,
)
from lanfax.service.security_settings import TOKEN_DAYS_CAP, SecuritySettings

if TYPE_CHECKING:
    from lanfax.model.audit import AuditQuery
    from lanfax.service.core import FaxService

__all__ = ["Caller", "Security", "TokenInfo", "UserInfo", "right_name"]

log = logging.getLogger("lanfax.init")

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1
_USER_PREFIX, _TOKEN_PREFIX = "user:", "token:"
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


def _token_hash(secret: str) -> str:
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


#: Tokens one user may hold at once.
MAX_TOKENS_PER_USER = 100
#: Seconds a verified password is remembered (issue #14: scrypt on every request).
PASSWORD_CACHE_SECONDS = 60.0
#: Longest real-time sleep of the refusal flusher, so that a clock's jump is noticed.
_FLUSH_POLL = 1.0


class Security:
    """Authenticates callers, checks their request rate, manages users and tokens, and
    writes the audit trail. ``service`` provides the store, the clock and worker threads
    (it may be started after this object is made)."""

    def __init__(self, service: FaxService, settings: SecuritySettings | None = None) -> None:
        self._service = service
        self.settings = settings or service.settings.security
        self._users: dict[str, UserInfo] | None = None
        self._tokens: dict[str, TokenInfo] = {}
        self._limiter = Limiter()
        #: Passwords verified recently: keyed digest -> monotonic expiry (see _password_login).
        self._verified: dict[bytes, float] = {}
        self._cache_key = secrets.token_bytes(32)
        #: Refused requests per (address, user, status), aggregated (service/refusals.py).
        self._refusals = RefusalWindows()
        self._flusher: asyncio.Task[None] | None = None
        # #18: users and tokens changed by another node of the database are dropped from the
        # cache (read again at the next request); a load under way when that happens is not
        # kept (the generation moved).
        self._generation = 0
        service.on_settings_changed(self._settings_changed)

    def _settings_changed(self, namespace: str | None) -> None:
        if namespace is None or namespace.startswith((_USER_PREFIX, _TOKEN_PREFIX)):
            self._generation += 1
            self._users = None
            self._verified.clear()

    @property
    def enabled(self) -> bool:
        return self.settings.authentication

    # -- loading -----------------------------------------------------------------------------

    async def _load(self) -> dict[str, UserInfo]:
        if self._users is not None:
            return self._users
        generation = self._generation
        ctx = self._service.ctx
        users: dict[str, UserInfo] = {}
        tokens: dict[str, TokenInfo] = {}
        for ns in await ctx.run(ctx.store.list_namespaces, _USER_PREFIX):
            rec = await ctx.get_settings(ns)
            if rec:
                users[rec["name"]] = UserInfo.from_record(rec)
        for ns in await ctx.run(ctx.store.list_namespaces, _TOKEN_PREFIX):
            rec = await ctx.get_settings(ns)
            if rec:
                tokens[rec["token_id"]] = TokenInfo(**rec)
        self._tokens = tokens
        if generation == self._generation:  # #18: else another node changed them meanwhile
            self._users = users  # and the next request reads them again
        return users

    def _now(self) -> datetime:
        return self._service.clock.now()

    # -- authentication ------------------------------------------------------------------------

    async def authenticate(
        self, *, authorization: str | None, user_header: str | None, address: str
    ) -> Caller:
        """The caller of a request, or Unauthenticated saying how to log in."""
        if not self.enabled:
            basic, ext = ROLE_RIGHTS[Role.ADMINISTRATOR]
            name = (user_header or "anonymous")[:64]
            return Caller(name, Role.ADMINISTRATOR, basic, ext, address, "none")
        # An address that keeps being refused (guessing tokens or passwords) gets 429s for
        # its bad credentials (issue #14: bad tokens were not rate-limited); a valid login
        # from the same address still works. (Passwords also have their own limit before
        # scrypt runs.)
        try:
            return await self._authenticate(authorization, address)
        except Unauthenticated:
            self._refusals_left(address)
            self._refused(address)
            raise

    def _refusals_left(self, address: str) -> None:
        s = self.settings
        if s.refusals_per_minute <= 0 or s.refusal_burst <= 0:
            return
        wait = self._limiter.peek(
            f"refused@{address}",
            self._service.clock.monotonic(),
            need=1.0,
            rate=s.refusals_per_minute / 60.0,
            burst=float(s.refusal_burst),
        )
        if wait is not None:
            raise RateLimited(
                f"too many refused requests from {address}",
                hint=f"check the token or password; try again in {wait} s",
                retry_after=wait,
            )

    def _refused(self, address: str) -> None:
        s = self.settings
        if s.refusals_per_minute <= 0 or s.refusal_burst <= 0:
            return
        self._limiter.charge(
            f"refused@{address}",
            self._service.clock.monotonic(),
            cost=1.0,
            rate=s.refusals_per_minute / 60.0,
            burst=float(s.refusal_burst),
        )

    async def _authenticate(self, authorization: str | None, address: str) -> Caller:
        users = await self._load()
        if not authorization:
            raise Unauthenticated(
                "this request needs a login",
                hint="send 'Authorization: Bearer <token>' (lanfax token create; LANFAX_TOKEN) "
                "or HTTP Basic with a user's password",
            )
        scheme, _, value = authorization.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer":
            parsed = split_token(value)
            info = self._tokens.get(parsed[0]) if parsed else None
            if (
                parsed is None
                or info is None
                or not hmac.compare_digest(info.secret_hash, _token_hash(parsed[1]))
            ):
                raise Unauthenticated(
                    "the token is not valid (mistyped, revoked or from another server)",
                    hint="create a new one with `lanfax token create`",
                )
            if info.expires_at and datetime.fromisoformat(info.expires_at) <= self._now():
                raise Unauthenticated(
                    f"token {info.token_id} expired at {info.expires_at}",
                    hint="create a new one with `lanfax token create`",
                )
            user = users.get(info.user)
            via = "token"
        elif scheme == "basic":
            self._take(f"login@{address}", cost=1.0, rate=1.0, burst=10)
            user = await self._password_login(value)
            via = "password"
        else:
            raise Unauthenticated(
                f"unknown authorization scheme {scheme!r}", hint="use Bearer or Basic"
            )
        if user is None:
            raise Unauthenticated("the user of this token was removed", hint="log in again")
        basic, ext = effective_rights(user.role, user.granted, user.revoked)
        return Caller(user.name, user.role, basic, ext, address, via)

    async def _password_login(self, value: str) -> UserInfo:
        import base64
        import binascii

        try:
            name, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            name, sep, password = "", "", ""
        users = await self._load()
        user = users.get(name) if sep else None
        stored = user.password_hash if user else ""
        # A password verified a moment ago is not hashed again (scrypt on every Basic request
        # would make each one cost ~50 ms of CPU): a keyed digest of (user, stored hash,
        # password) is remembered for PASSWORD_CACHE_SECONDS. A changed password changes the
        # stored hash, so the old entry no longer matches.
        key = hmac.new(self._cache_key, f"{name}\0{stored}\0{password}".encode(), "sha256")
        digest = key.digest()
        now = self._service.clock.monotonic()
        if stored and user is not None and self._verified.get(digest, 0.0) > now:
            return user
        # Hash even for an unknown user, so that timing does not tell which names exist.
        ok = await self._service.ctx.run_heavy(
            verify_password, password, stored or hash_password("x", n=2**10)
        )
        if ok and stored and user is not None:
            if len(self._verified) > 10_000:
                self._verified = {d: t for d, t in self._verified.items() if t > now}
            self._verified[digest] = now + PASSWORD_CACHE_SECONDS
        if user is None or not stored or not ok:
            raise Unauthenticated(
                "wrong user name or password", hint="check both; an administrator can reset it"
            )
        return user

    # -- rate limits ---------------------------------------------------------------------------

    def _take(self, key: str, *, cost: float, rate: float, burst: float) -> None:
        wait = self._limiter.take(
            key, self._service.clock.monotonic(), cost=cost, rate=rate, burst=burst
        )
        if wait is not None:
            raise RateLimited(
                f"too many requests from {key.split('@')[0]}",
                hint=f"slow down; try again in {wait} s",
                retry_after=wait,
            )

    def check_rate(self, caller: Caller) -> None:
        """RateLimited when ``caller`` exceeds ``rate_limit`` requests per second, or has
        spent its budget of failed requests (``failure_limit``, see :meth:`note_failure`)."""
        s = self.settings
        now = self._service.clock.monotonic()
        wait = self._limiter.peek(
            f"failed:{caller.user}", now, need=1.0, rate=s.failure_limit, burst=s.failure_burst
        )
        if wait is not None:
            raise RateLimited(
                f"too many failed requests from user:{caller.user}",
                hint=f"look at the errors your requests got; try again in {wait} s",
                retry_after=wait,
            )
        self._take(f"user:{caller.user}", cost=1.0, rate=s.rate_limit, burst=s.rate_burst)

    def note_failure(self, caller: Caller) -> None:
        """``caller``'s request was refused (a 4xx other than 401 and 429): it costs from the
        caller's failure budget. Ordinary work (submissions, queries that succeed) never does,
        so a bulk mailing is not slowed by the limit meant for a script gone wrong."""
        s = self.settings
        self._limiter.charge(
            f"failed:{caller.user}",
            self._service.clock.monotonic(),
            cost=1.0,
            rate=s.failure_limit,
            burst=s.failure_burst,
        )

    # -- users ---------------------------------------------------------------------------------

    async def _put_user(self, user: UserInfo | None, name: str) -> None:
        ctx = self._service.ctx
        users = await self._load()
        await ctx.put_settings(_USER_PREFIX + name, user.to_record() if user else {})
        if user is None:
            users.pop(name, None)
        else:
            users[name] = user

    async def list_users(self) -> list[UserInfo]:
        return sorted((await self._load()).values(), key=lambda u: u.name)

    async def get_user(self, name: str) -> UserInfo:
        user = (await self._load()).get(name)
        if user is None:
            raise NotFound(f"there is no user {name!r}", hint="lanfax user list shows them")
        return user

    async def add_user(
        self, name: str, role: str = "user", password: str | None = None
    ) -> UserInfo:
        check_user_name(name)
        if name in await self._load():
            raise Conflict(f"user {name!r} exists", hint="pick another name, or remove it first")
        hashed = ""
        if password is not None:
            check_password(password)
            hashed = await self._service.ctx.run_heavy(hash_password, password)
        user = UserInfo(name, parse_role(role), password_hash=hashed, created_at=self._stamp())
        await self._put_user(user, name)
        return user

    async def set_password(self, name: str, password: str) -> UserInfo:
        user = await self.get_user(name)
        check_password(password)
        hashed = await self._service.ctx.run_heavy(hash_password, password)
        new = UserInfo(user.name, user.role, user.granted, user.revoked, hashed, user.created_at)
        await self._put_user(new, name)
        return new

    def _admins(self, users: Mapping[str, UserInfo]) -> list[str]:
        from lanfax.model.codes import AccessRightEx

        out = []
        for u in users.values():
            _basic, ext = effective_rights(u.role, u.granted, u.revoked)
            if AccessRightEx.MANAGE_CONFIG in ext:
                out.append(u.name)
        return out

    async def _replace_guarded(self, old: UserInfo, new: UserInfo | None) -> None:
        """Write ``new`` for ``old`` unless no one could manage the server afterwards."""
        users = dict(await self._load())
        if new is None:
            users.pop(old.name, None)
        else:
            users[old.name] = new
        if not self._admins(users):
            raise Conflict(
                f"{old.name!r} is the last user who may manage the server",
                hint="make another user administrator first",
            )
        await self._put_user(new, old.name)

    async def remove_user(self, name: str) -> None:
        user = await self.get_user(name)
        await self._replace_guarded(user, None)
        for info in [t for t in self._tokens.values() if t.user == name]:
            await self.revoke_token(info.token_id)

    async def grant(self, name: str, items: list[str]) -> UserInfo:
        """Give ``name`` rights (wire names), or a role (a role name sets the role)."""
        return await self._change_rights(name, items, grant=True)

    async def revoke(self, name: str, items: list[str]) -> UserInfo:
        return await self._change_rights(name, items, grant=False)

    async def _change_rights(self, name: str, items: list[str], *, grant: bool) -> UserInfo:
        user = await self.get_user(name)
        if not items:
            raise InvalidInput("name at least one right or role", hint="e.g. manage_jobs")
        role, granted, revoked = user.role, set(user.granted), set(user.revoked)
        for item in items:
            if item.strip().lower() in {r.value for r in Role}:
                if not grant:
                    raise InvalidInput(
                        "a role is not revoked", hint="grant the user another role instead"
                    )
                role = parse_role(item)
                continue
            rname = right_name(parse_right(item))
            (granted if grant else revoked).add(rname)
            (revoked if grant else granted).discard(rname)
        new = UserInfo(
            user.name,
            role,
            tuple(sorted(granted)),
            tuple(sorted(revoked)),
            user.password_hash,
            user.created_at,
        )
        await self._replace_guarded(user, new)
        return new

    # -- tokens --------------------------------------------------------------------------------

    async def create_token(
        self,
        user: str,
        label: str = "",
        *,
        days: int | None = None,
        text: str | None = None,
        unlimited: bool = False,
    ) -> tuple[TokenInfo, str]:
        """A new token for ``user``; returns it and its text (shown once, never stored).

        ``days`` is its lifetime: at most ``[security] max_token_days``, which is also the
        lifetime of a token minted without ``days`` (0: no limit, no expiry). ``unlimited``
        (the administrator's first token only, see :meth:`bootstrap`) never expires."""
        days = None if unlimited else self._token_days(days)
        await self.get_user(user)
        if text is None:
            text, token_id, secret = new_token_text()
        else:
            parsed = split_token(text)
            if parsed is None or len(parsed[1]) < 20:
                raise InvalidInput("not a lanfax token", hint="lfx_<id>_<secret of 20+ chars>")
            token_id, secret = parsed
        if token_id in self._tokens:
            raise Conflict(f"token {token_id} exists", hint="create another")
        mine = sum(1 for t in self._tokens.values() if t.user == user)
        if mine >= MAX_TOKENS_PER_USER:
            # issue #14: tokens were minted without limit.
            raise Conflict(
                f"user {user!r} has {mine} tokens, the most one user may have",
                hint="revoke the ones no longer used (lanfax token list / token revoke)",
            )
        expires = (self._now() + timedelta(days=days)).isoformat() if days else ""
        info = TokenInfo(token_id, user, label[:100], _token_hash(secret), self._stamp(), expires)
        await self._service.ctx.put_settings(_TOKEN_PREFIX + token_id, _token_record(info))
        self._tokens[token_id] = info
        return info, text

    def _token_days(self, days: int | None) -> int | None:
        """The lifetime of a new token (issue #14, item 15: tokens were minted that never
        expire): ``days`` checked against ``max_token_days``, or that limit when omitted."""
        longest = self.settings.max_token_days
        if days is None:
            return longest or None
        if not 1 <= days <= TOKEN_DAYS_CAP:
            raise InvalidInput(
                f"days must be from 1 to {TOKEN_DAYS_CAP}, not {days}",
                hint=f"or omit it: {longest} days" if longest else "or omit it: no expiry",
            )
        if longest and days > longest:
            raise InvalidInput(
                f"a token may live at most {longest} days on this server, not {days}",
                hint=f"ask for {longest} days or fewer (or omit days); an administrator sets "
                "the limit with [security] max_token_days",
            )
        return days

    async def list_tokens(self, user: str | None = None) -> list[TokenInfo]:
        await self._load()
        found = [t for t in self._tokens.values() if user is None or t.user == user]
        return sorted(found, key=lambda t: (t.user, t.created_at, t.token_id))

    async def get_token(self, token_id: str) -> TokenInfo:
        await self._load()
        info = self._tokens.get(token_id)
        if info is None:
            raise NotFound(f"there is no token {token_id!r}", hint="lanfax token list")
        return info

    async def revoke_token(self, token_id: str) -> None:
        await self.get_token(token_id)
        await self._service.ctx.put_settings(_TOKEN_PREFIX + token_id, {})
        self._tokens.pop(token_id, None)

    # -- first start ---------------------------------------------------------------------------

    async def bootstrap(self, env: Mapping[str, str]) -> tuple[str, str | None] | None:
        """On the first start (no user at all), create the administrator: its password from
        ``LANFAX_ADMIN_PASSWORD`` (none if unset: no default password), its first token from
        ``LANFAX_ADMIN_TOKEN`` or a new one. Returns ``(user, token text)`` when created."""
        if not self.enabled or await self._load():
            return None
        name = self.settings.admin_user
        await self.add_user(name, Role.ADMINISTRATOR.value, env.get("LANFAX_ADMIN_PASSWORD"))
        # The first token never expires: without LANFAX_ADMIN_PASSWORD it is the
        # administrator's only credential, and its expiry would lock the server's only
        # administrator out (docs/security.md, "First start").
        _info, text = await self.create_token(
            name, "first start", text=env.get("LANFAX_ADMIN_TOKEN"), unlimited=True
        )
        await self.record(None, "user.bootstrap", name, detail={"role": "administrator"})
        return name, text

    # -- audit ---------------------------------------------------------------------------------

    def audit_entry(
        self,
        caller: Caller | None,
        action: str,
        target: str = "",
        *,
        outcome: str = "ok",
        detail: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        """An audit entry stamped now: who, what, from where (nothing is written)."""
        return AuditEntry(
            at=self._now(),
            user_name=caller.user if caller else "(service)",
            address=caller.address if caller else "",
            action=action,
            target=target,
            outcome=outcome,
            detail=dict(detail or {}),
        )

    @property
    def audit_in_store(self) -> bool:
        """Whether the store keeps the audit trail, so that an entry can be committed in the
        same transaction as the change it describes (``Store.add_jobs(audit=...)``). Every
        store does since #17 (the audit trail is part of the store's interface); kept for
        the callers that ask."""
        return True

    def log_entry(self, entry: AuditEntry) -> None:
        """The log line of an entry (every entry has one, wherever it is stored)."""
        logging.getLogger("lanfax.audit").info(
            "%s %s %s by %s from %s",
            entry.action,
            entry.target,
            entry.outcome,
            entry.user_name,
            entry.address,
        )

    async def record(
        self,
        caller: Caller | None,
        action: str,
        target: str = "",
        *,
        outcome: str = "ok",
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Append to the audit trail (and the log): who, what, when, from where.

        Refused requests (401, 403, 429) are aggregated per address, user and status: the
        first of a minute is written, the others are counted and the count is written with
        the next one after the minute (``detail["repeated"]``), or by itself when the minute
        ends or the service stops, so a flood of bad tokens costs a row (and an fsync) a
        minute, not one per request, and no count is lost (issue #14; service/refusals.py)."""
        status = (detail or {}).get("status")
        if status in (401, 403, 429):
            address = caller.address if caller else ""
            key = (address, caller.user if caller else "", int(status))
            last = (caller, action, target, outcome, dict(detail or {}))
            repeated = self._refusals.refused(key, self._service.clock.monotonic(), last)
            if repeated is None:
                return
            if repeated:
                detail = {**(detail or {}), "repeated": repeated}
            self._start_flusher()
        entry = self.audit_entry(caller, action, target, outcome=outcome, detail=detail)
        self.log_entry(entry)
        await self._service.ctx.run(self._service.ctx.store.audit.add, entry)

    # -- the last burst's count (issue #14: lost when no refusal came after it) ------------

    def _start_flusher(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(
                self._flush_loop(), name="lanfax-refusal-flush"
            )

    async def _flush_loop(self) -> None:
        """While windows are open: write the count of each one that ended with refusals
        after its first (a row of its own, ``detail["repeated"]``)."""
        while (deadline := self._refusals.next_deadline()) is not None:
            now = self._service.clock.monotonic()
            await asyncio.sleep(min(max(deadline - now, 0.0), _FLUSH_POLL))
            await self._write_counts(self._refusals.ended(self._service.clock.monotonic()))

    async def flush_refusals(self) -> int:
        """Write the counts of the refusals not yet in the audit trail (all open windows);
        returns how many rows were written."""
        return await self._write_counts(self._refusals.drain())

    async def _write_counts(self, windows: list[Window]) -> int:
        written = 0
        for w in windows:
            caller, action, target, outcome, detail = w.last
            entry = self.audit_entry(
                caller, action, target, outcome=outcome, detail={**detail, "repeated": w.repeated}
            )
            self.log_entry(entry)
            try:
                await self._service.ctx.run(self._service.ctx.store.audit.add, entry)
            except FaxError as exc:
                log.error("the count of %d refused request(s) was not audited: %s", w.repeated, exc)
                continue
            written += 1
        return written

    async def stop(self) -> None:
        """Write what the open windows counted (at the service's stop)."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        await self.flush_refusals()

    async def audit(self, query: AuditQuery) -> list[AuditEntry]:
        return await self._service.ctx.run(self._service.ctx.store.audit.query, query)

    def _stamp(self) -> str:
        return self._now().isoformat(timespec="seconds")


def _token_record(info: TokenInfo) -> dict[str, Any]:
    return {
        "token_id": info.token_id,
        "user": info.user,
        "label": info.label,
        "secret_hash": info.secret_hash,
        "created_at": info.created_at,
        "expires_at": info.expires_at,
    }
