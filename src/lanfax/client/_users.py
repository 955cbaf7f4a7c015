"""Users, API tokens, the audit trail and "who am I" (docs/security.md) for :class:`Client`
and :class:`AsyncClient`: the models, the Ops, and one mixin per client.

=======================================  ===============================================
HTTP                                     client
=======================================  ===============================================
GET /whoami                              ``whoami() -> Identity``
GET /users                               ``users() -> list[User]``
POST /users                              ``add_user(name, role=, password=) -> User``
GET /users/{name}                        ``get_user(name) -> User``
PATCH /users/{name}                      ``grant_rights``, ``revoke_rights``, ``set_password``
DELETE /users/{name}                     ``remove_user(name)``
GET /tokens                              ``tokens(all=, user=) -> list[Token]``
POST /tokens                             ``create_token(label=, user=, days=) -> NewToken``
DELETE /tokens/{id}                      ``revoke_token(token_id)``
GET /audit                               ``audit(limit=, before=, user=, action=, since=)``
=======================================  ===============================================

Managing users and reading the audit trail needs ``manage_config``; anyone logged in may ask
who it is and manage its own tokens. Each model's :meth:`to_wire` is the JSON the server sent;
audit entries are the model's :class:`~lanfax.model.audit.AuditEntry` (``to_dict()``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from lanfax.client._core import API, Op, Response, json_body, quote
from lanfax.model.audit import AuditEntry
from lanfax.model.wire import datetime_to_wire

T = TypeVar("T")
ROLES = ("user", "operator", "administrator")


@dataclass(frozen=True, slots=True)
class Identity:
    """The caller as the server sees it; ``via`` is how it logged in (token, password, ...)."""

    user: str
    role: str
    rights: tuple[str, ...]
    via: str

    def to_wire(self) -> dict[str, Any]:
        return {"user": self.user, "role": self.role, "rights": list(self.rights), "via": self.via}


@dataclass(frozen=True, slots=True)
class User:
    """A user: its role, the rights granted and revoked beside it, and the rights it holds."""

    name: str
    role: str
    granted: tuple[str, ...] = ()
    revoked: tuple[str, ...] = ()
    has_password: bool = False
    created_at: str = ""
    rights: tuple[str, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "granted": list(self.granted),
            "revoked": list(self.revoked),
            "has_password": self.has_password,
            "created_at": self.created_at,
            "rights": list(self.rights),
        }


@dataclass(frozen=True, slots=True)
class Token:
    """An API token, without its secret; ``expires_at`` None: it does not expire."""

    token_id: str
    user: str
    label: str = ""
    created_at: str = ""
    expires_at: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "token_id": self.token_id,
            "user": self.user,
            "label": self.label,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
        }


@dataclass(frozen=True, slots=True)
class NewToken(Token):
    """A token just made: ``token`` is its secret, shown this once (use it as LANFAX_TOKEN)."""

    token: str = ""

    def to_wire(self) -> dict[str, Any]:
        return {**Token.to_wire(self), "token": self.token}


@dataclass(frozen=True, slots=True)
class AuditPage:
    """A page of the audit trail, newest first; ``next`` is ``before=`` for the next page."""

    entries: list[AuditEntry]
    next: int | None

    def to_wire(self) -> dict[str, Any]:
        return {"entries": [e.to_dict() for e in self.entries], "next": self.next}


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value or ())


def _identity(r: Response) -> Identity:
    d = r.json()
    return Identity(str(d["user"]), str(d["role"]), _strings(d.get("rights")), str(d["via"]))


def _user_of(d: Mapping[str, Any]) -> User:
    return User(
        name=str(d["name"]),
        role=str(d["role"]),
        granted=_strings(d.get("granted")),
        revoked=_strings(d.get("revoked")),
        has_password=bool(d.get("has_password")),
        created_at=str(d.get("created_at") or ""),
        rights=_strings(d.get("rights")),
    )


def _token_of(d: Mapping[str, Any]) -> Token:
    expires = d.get("expires_at")
    return Token(
        str(d["token_id"]),
        str(d["user"]),
        str(d.get("label") or ""),
        str(d.get("created_at") or ""),
        None if expires is None else str(expires),
    )


def _new_token(r: Response) -> NewToken:
    d = r.json()
    t = _token_of(d)
    return NewToken(t.token_id, t.user, t.label, t.created_at, t.expires_at, str(d["token"]))


def _entry_of(d: Mapping[str, Any]) -> AuditEntry:
    """The inverse of :meth:`AuditEntry.to_dict` (what the server sends)."""
    return AuditEntry(
        audit_id=int(d["audit_id"]),
        at=datetime.fromisoformat(str(d["at"])),
        user_name=str(d["user"]),
        address=str(d.get("address") or ""),
        action=str(d["action"]),
        target=str(d.get("target") or ""),
        outcome=str(d.get("outcome") or ""),
        detail=dict(d.get("detail") or {}),
    )


def _audit_page(r: Response) -> AuditPage:
    d = r.json()
    nxt = d.get("next")
    return AuditPage([_entry_of(e) for e in d["entries"]], None if nxt is None else int(nxt))


def _user(r: Response) -> User:
    return _user_of(r.json())


def _none(r: Response) -> None:
    return None


def _user_path(name: str) -> str:
    return f"{API}/users/{quote(name)}"


def _json_op(method: str, path: str, decode: Any, body: Mapping[str, Any]) -> Op[Any]:
    data, ctype = json_body(dict(body))
    return Op(method, path, decode, body=data, content_type=ctype)


# -- the Ops ----------------------------------------------------------------------------------


def whoami() -> Op[Identity]:
    return Op("GET", f"{API}/whoami", _identity)


def users() -> Op[list[User]]:
    return Op("GET", f"{API}/users", lambda r: [_user_of(u) for u in r.json()])


def user(name: str) -> Op[User]:
    return Op("GET", _user_path(name), _user)


def add_user(name: str, role: str = "user", password: str | None = None) -> Op[User]:
    body: dict[str, Any] = {"name": name, "role": role}
    if password is not None:
        body["password"] = password
    op: Op[User] = _json_op("POST", f"{API}/users", _user, body)
    return op


def change_user(name: str, change: str, value: str | Iterable[str]) -> Op[User]:
    """``grant``/``revoke`` (rights or role names) or ``password``."""
    wire: Any = (
        value if change == "password" else [value] if isinstance(value, str) else list(value)
    )
    op: Op[User] = _json_op("PATCH", _user_path(name), _user, {change: wire})
    return op


def remove_user(name: str) -> Op[None]:
    return Op("DELETE", _user_path(name), _none)


def tokens(all: bool = False, user: str | None = None) -> Op[list[Token]]:
    query = {"all": "true"} if all else {}
    if user is not None:
        query["user"] = user
    return Op("GET", f"{API}/tokens", lambda r: [_token_of(t) for t in r.json()], query=query)


def create_token(label: str = "", user: str | None = None, days: int | None = None) -> Op[NewToken]:
    body: dict[str, Any] = {"label": label}
    if user:
        body["user"] = user
    if days:
        body["days"] = days
    op: Op[NewToken] = _json_op("POST", f"{API}/tokens", _new_token, body)
    return op


def revoke_token(token_id: str) -> Op[None]:
    return Op("DELETE", f"{API}/tokens/{quote(token_id)}", _none)


def audit(
    limit: int = 100,
    before: int | None = None,
    user: str | None = None,
    action: str | None = None,
    since: datetime | str | None = None,
) -> Op[AuditPage]:
    query = {"limit": str(int(limit))}
    if isinstance(since, datetime):
        since = datetime_to_wire(since)
    for key, value in (
        ("before", None if before is None else str(int(before))),
        ("user", user),
        ("action", action),
        ("since", since),
    ):
        if value:
            query[key] = value
    return Op("GET", f"{API}/audit", _audit_page, query=query)


# -- one mixin per client -----------------------------------------------------------------------


class UsersMixin:
    """The users, tokens and audit calls of the blocking :class:`~lanfax.client.Client`."""

    def _run(self, op: Op[T]) -> T:  # pragma: no cover - provided by the client
        raise NotImplementedError

    def whoami(self) -> Identity:
        """Who the server thinks you are: user, role, rights, how you logged in."""
        return self._run(whoami())

    def users(self) -> list[User]:
        """Every user, its role and rights (manage_config)."""
        return self._run(users())

    def get_user(self, name: str) -> User:
        return self._run(user(name))

    def add_user(self, name: str, *, role: str = "user", password: str | None = None) -> User:
        """Add a user; without a password it logs in with tokens only."""
        return self._run(add_user(name, role, password))

    def grant_rights(self, name: str, rights: str | Iterable[str]) -> User:
        """Give ``name`` rights (e.g. ``manage_jobs``) or a role (``operator``)."""
        return self._run(change_user(name, "grant", rights))

    def revoke_rights(self, name: str, rights: str | Iterable[str]) -> User:
        return self._run(change_user(name, "revoke", rights))

    def set_password(self, name: str, password: str) -> User:
        return self._run(change_user(name, "password", password))

    def remove_user(self, name: str) -> None:
        """Remove a user and its tokens."""
        self._run(remove_user(name))

    def tokens(self, *, all: bool = False, user: str | None = None) -> list[Token]:
        """Your tokens (never their secret); ``all``/``user``: others' (manage_config)."""
        return self._run(tokens(all, user))

    def create_token(
        self, *, label: str = "", user: str | None = None, days: int | None = None
    ) -> NewToken:
        """A new token (for ``user``: manage_config), expiring after ``days``, or after the server's
        ``[security] max_token_days`` (365 by default) when not given."""
        return self._run(create_token(label, user, days))

    def revoke_token(self, token_id: str) -> None:
        self._run(revoke_token(token_id))

    def audit(
        self,
        *,
        limit: int = 100,
        before: int | None = None,
        user: str | None = None,
        action: str | None = None,
        since: datetime | str | None = None,
    ) -> AuditPage:
        """A page of the audit trail, newest first (manage_config); ``action`` is a prefix."""
        return self._run(audit(limit, before, user, action, since))


class AsyncUsersMixin:
    """The users, tokens and audit calls of :class:`~lanfax.client.AsyncClient`."""

    async def _run(self, op: Op[T]) -> T:  # pragma: no cover - provided by the client
        raise NotImplementedError

    async def whoami(self) -> Identity:
        return await self._run(whoami())

    async def users(self) -> list[User]:
        return await self._run(users())

    async def get_user(self, name: str) -> User:
        return await self._run(user(name))

    async def add_user(self, name: str, *, role: str = "user", password: str | None = None) -> User:
        return await self._run(add_user(name, role, password))

    async def grant_rights(self, name: str, rights: str | Iterable[str]) -> User:
        return await self._run(change_user(name, "grant", rights))

    async def revoke_rights(self, name: str, rights: str | Iterable[str]) -> User:
        return await self._run(change_user(name, "revoke", rights))

    async def set_password(self, name: str, password: str) -> User:
        return await self._run(change_user(name, "password", password))

    async def remove_user(self, name: str) -> None:
        await self._run(remove_user(name))

    async def tokens(self, *, all: bool = False, user: str | None = None) -> list[Token]:
        return await self._run(tokens(all, user))

    async def create_token(
        self, *, label: str = "", user: str | None = None, days: int | None = None
    ) -> NewToken:
        return await self._run(create_token(label, user, days))

    async def revoke_token(self, token_id: str) -> None:
        await self._run(revoke_token(token_id))

    async def audit(self, **query: Any) -> AuditPage:
        """As :meth:`UsersMixin.audit` (keywords: limit, before, user, action, since)."""
        return await self._run(audit(**query))
