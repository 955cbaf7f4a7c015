"""Access control of the running service: users, tokens, authentication, rate limits, audit.

Users and tokens live in the store's settings namespaces (``user:<name>``, ``token:<id>``;
an emptied namespace is a removed entry) and are cached here: this process is the store's
only writer. The audit trail is a table (:mod:`lanfax.store.audit`), written through
:class:`lanfax.service.audit_trail.AuditTrail`.

* Password hashes, token texts and the user and token records are pure code in
  :mod:`lanfax.service.credentials` (scrypt for passwords, SHA-256 for random token secrets).
* With ``[security] authentication = false`` (allowed only on a loopback address) every
  caller is an administrator named by ``X-Lanfax-User``, as before this module existed.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from lanfax.model.audit import AuditEntry
from lanfax.model.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthenticated,
)
from lanfax.service.audit_trail import AuditTrail
from lanfax.service.credentials import (
    TOKEN_PREFIX,
    USER_PREFIX,
    TokenInfo,
    UserInfo,
    check_password,
    check_user_name,
    hash_password,
    new_token_text,
    split_token,
    token_hash,
    token_record,
    verify_password,
)
from lanfax.service.ratelimit import Limiter
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

__all__ = [
    "Caller",
    "Security",
    "TokenInfo",
    "UserInfo",
    # From lanfax.service.credentials, where they live now (their callers import them here).
    "check_password",
    "check_user_name",
    "hash_password",
    "new_token_text",
    "right_name",
    "split_token",
    "verify_password",
]

log = logging.getLogger("lanfax.init")

#: Tokens one user may hold at once.
MAX_TOKENS_PER_USER = 100
#: Seconds a verified password is remembered (issue #14: scrypt on every request).
PASSWORD_CACHE_SECONDS = 60.0


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
        self.trail = AuditTrail(service)
        # #18: users and tokens changed by another node of the database are dropped from the
        # cache (read again at the next request); a load under way when that happens is not
        # kept (the generation moved).
        self._generation = 0
        service.on_settings_changed(self._settings_changed)

    def _settings_changed(self, namespace: str | None) -> None:
        if namespace is None or namespace.startswith((USER_PREFIX, TOKEN_PREFIX)):
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
        for ns in await ctx.run(ctx.store.list_namespaces, USER_PREFIX):
            rec = await ctx.get_settings(ns)
            if rec:
                users[rec["name"]] = UserInfo.from_record(rec)
        for ns in await ctx.run(ctx.store.list_namespaces, TOKEN_PREFIX):
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

    def unrouted_change(self, address: str) -> None:
        """A change that no route took (a POST to an unknown path, or under the console's
        static files: no login was checked, nothing was done) came from ``address``: it costs
        from the address's refusal budget as a refused login does, and once that is spent
        the address gets RateLimited (429) for these too. An address probing paths (the
        server's answers telling which exist: 401 for a route, 404 for none) is what the
        limit is for; a valid login from the same address still works."""
        self._refusals_left(address, hint="no such path: see /api/v1/docs for the paths")
        self._refused(address)

    def _refusals_left(self, address: str, hint: str = "check the token or password") -> None:
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
                hint=f"{hint}; try again in {wait} s",
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
                or not hmac.compare_digest(info.secret_hash, token_hash(parsed[1]))
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
        await ctx.put_settings(USER_PREFIX + name, user.to_record() if user else {})
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
        info = TokenInfo(token_id, user, label[:100], token_hash(secret), self._stamp(), expires)
        await self._service.ctx.put_settings(TOKEN_PREFIX + token_id, token_record(info))
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
        await self._service.ctx.put_settings(TOKEN_PREFIX + token_id, {})
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

    # -- audit (service/audit_trail.py) --------------------------------------------------------

    # An entry committed with the change it describes (``audit=`` of a submission) is made
    # and logged by the trail itself: ``security.trail.entry`` / ``security.trail.log_entry``.

    async def record(
        self,
        caller: Caller | None,
        action: str,
        target: str = "",
        *,
        outcome: str = "ok",
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Append to the audit trail and the log (:meth:`.AuditTrail.record`: refusals are
        aggregated)."""
        await self.trail.record(caller, action, target, outcome=outcome, detail=detail)

    async def flush_refusals(self) -> int:
        """Write the refusal counts not yet audited (:meth:`.AuditTrail.flush_refusals`)."""
        return await self.trail.flush_refusals()

    async def stop(self) -> None:
        """Write what the open refusal windows counted (at the service's stop)."""
        await self.trail.stop()

    async def audit(self, query: AuditQuery) -> list[AuditEntry]:
        return await self.trail.query(query)

    def _stamp(self) -> str:
        return self._now().isoformat(timespec="seconds")
