"""The console's session login: a user and password in, a session cookie out.

``POST /api/v1/session`` with ``{"user", "password"}`` checks the password (or an API token
of that user given as the password) through :class:`lanfax.service.security.Security` and
sets the cookie ``lanfax_session`` (HttpOnly, SameSite=Strict, Path=/; Secure over HTTPS).
The answer carries the session's CSRF token. From then on the API accepts the cookie as an
alternative to ``Authorization``, with the same rights as the user (read again on every
request, so a revoked right or a removed user takes effect at once):

* a request that changes something (any method but GET/HEAD/OPTIONS) made with the cookie
  must carry the token in ``X-CSRF-Token`` (synchronizer token: the server keeps it with the
  session). SameSite=Strict alone is not enough: a page on another port of the same host is
  "same site" to the browser;
* a WebSocket handshake made with the cookie must come from the console's own origin
  (WebSockets are not bound by CORS);
* a session idle for ``security.session_idle_minutes`` ends; ``DELETE /api/v1/session``
  ends it at once (log out); so does a new password of its user, or the user's removal;
* wrong passwords are rate limited per address and per user name (five, then one every
  ten seconds), with a plain message and ``Retry-After``.

Sessions live in this process's memory: a restart logs everyone out (they log in again).
:class:`SessionTable` is the pure part (now in, decisions out); the rest is the HTTP glue.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field, replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.requests import HTTPConnection
from starlette.responses import Response

from lanfax.api.encode import json_body, json_response
from lanfax.api.security import Caller, authenticated, public
from lanfax.model.clock import Clock
from lanfax.model.errors import AccessDenied, InvalidInput, NotFound, RateLimited, Unauthenticated
from lanfax.service.rights import effective_rights
from lanfax.service.security import Security

COOKIE = "lanfax_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: Wrong passwords: this many at once, then one more every REFILL seconds (per key).
FAIL_BURST = 5
FAIL_REFILL = 10.0
#: Beyond this many addresses and names counted, the fully recovered ones are forgotten.
MAX_FAILURE_KEYS = 10_000


def _digest(session_id: str) -> str:
    # Only a hash of the cookie is kept: a memory dump does not hand out live sessions.
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(slots=True)
class Session:
    user: str
    csrf: str
    last_seen: float
    #: A digest of the user's password hash at login: a new password ends the session.
    fingerprint: str = ""


@dataclass(slots=True)
class _Failures:
    level: float
    stamp: float


@dataclass
class SessionTable:
    """Sessions and wrong-password counts; every method takes ``now`` (monotonic seconds)."""

    idle_seconds: float = 1800.0
    sessions: dict[str, Session] = field(default_factory=dict)
    failures: dict[str, _Failures] = field(default_factory=dict)

    def open(self, user: str, now: float, fingerprint: str = "") -> tuple[str, Session]:
        """A new session for ``user``: ``(cookie value, session)``."""
        self._sweep(now)
        session_id = secrets.token_urlsafe(32)
        session = Session(user, secrets.token_urlsafe(32), now, fingerprint)
        self.sessions[_digest(session_id)] = session
        return session_id, session

    def find(self, session_id: str, now: float) -> Session | None:
        """The live session of a cookie (its idle clock restarts), or None."""
        key = _digest(session_id)
        session = self.sessions.get(key)
        if session is None:
            return None
        if now - session.last_seen > self.idle_seconds:
            del self.sessions[key]
            return None
        session.last_seen = now
        return session

    def close(self, session_id: str) -> bool:
        return self.sessions.pop(_digest(session_id), None) is not None

    def close_user(self, user: str) -> None:
        for key in [k for k, s in self.sessions.items() if s.user == user]:
            del self.sessions[key]

    def _sweep(self, now: float) -> None:
        for key in [k for k, s in self.sessions.items() if now - s.last_seen > self.idle_seconds]:
            del self.sessions[key]

    # -- wrong passwords ----------------------------------------------------------------------

    def _level(self, key: str, now: float) -> _Failures:
        f = self.failures.get(key)
        if f is None:
            f = self.failures[key] = _Failures(FAIL_BURST, now)
        f.level = min(FAIL_BURST, f.level + (now - f.stamp) / FAIL_REFILL)
        f.stamp = now
        return f

    def wait_before_try(self, keys: list[str], now: float) -> float:
        """Seconds to wait before another password may be tried for any of ``keys`` (0: go)."""
        waits = [(1 - f.level) * FAIL_REFILL for f in (self._level(k, now) for k in keys)]
        return max([0.0, *waits])

    def failed(self, keys: list[str], now: float) -> None:
        if len(self.failures) > MAX_FAILURE_KEYS:
            # Made-up user names must not grow this without end: forget the recovered ones.
            for key in [k for k in self.failures if self._level(k, now).level >= FAIL_BURST]:
                del self.failures[key]
        for key in keys:
            f = self._level(key, now)
            f.level = max(0.0, f.level - 1)


def _address(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else ""


def _same_origin(conn: HTTPConnection) -> bool:
    origin = conn.headers.get("origin")
    if origin is None:
        return True  # not a browser's cross-origin request
    host = conn.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


class Sessions:
    """The session login of one app (``app.state.sessions``)."""

    def __init__(self, security: Security, clock: Clock) -> None:
        self.security = security
        self.clock = clock
        minutes = security.settings.session_idle_minutes
        self.table = SessionTable(idle_seconds=float(minutes) * 60)

    def now(self) -> float:
        return self.clock.monotonic()

    @staticmethod
    def cookie(conn: HTTPConnection) -> str | None:
        return conn.cookies.get(COOKIE) or None

    async def caller(self, conn: HTTPConnection) -> Caller:
        """The caller of a request that carries the session cookie (and no Authorization):
        Unauthenticated when the session is unknown or idle too long; AccessDenied when a
        change comes without the CSRF token, or a WebSocket from another origin."""
        session_id = self.cookie(conn) or ""
        session = self.table.find(session_id, self.now())
        if session is None:
            raise Unauthenticated(
                "your console session has ended (idle too long, logged out, or the server "
                "restarted)",
                hint="log in again",
            )
        try:
            user = await self.security.get_user(session.user)
        except NotFound:
            self.table.close(session_id)
            raise Unauthenticated("your user was removed", hint="log in as another user") from None
        if not hmac.compare_digest(_digest(user.password_hash), session.fingerprint):
            self.table.close(session_id)
            raise Unauthenticated("your password was changed", hint="log in again")
        basic, ext = effective_rights(user.role, user.granted, user.revoked)
        caller = Caller(user.name, user.role, basic, ext, _address(conn), "session")
        # Known before the checks below, so that the audit trail names who was refused.
        conn.scope["lanfax.caller"] = caller
        if conn.scope["type"] == "websocket":
            if not _same_origin(conn):
                raise AccessDenied(
                    "a session cookie is accepted only from the console's own pages",
                    hint="use an API token from other origins",
                )
        elif conn.scope["method"] not in SAFE_METHODS:
            sent = conn.headers.get(CSRF_HEADER, "")
            if not sent or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
                raise AccessDenied(
                    "this change was sent without the console's CSRF token",
                    hint="reload the console; programs use an API token instead of the cookie",
                )
        return caller

    async def login(self, conn: HTTPConnection, user: str, password: str) -> tuple[str, Session]:
        """Check ``password`` (or an API token of ``user``) and open a session."""
        keys = [f"address:{_address(conn)}", f"user:{user}"]
        wait = self.table.wait_before_try(keys, self.now())
        if wait > 0:
            raise RateLimited(
                f"too many wrong passwords: try again in {wait:.0f} seconds",
                hint="check the user name and the password; an administrator can reset it",
                retry_after=round(wait, 1),
            )
        if password.startswith("lfx_"):
            authorization = f"Bearer {password}"
        else:
            pair = f"{user}:{password}".encode()
            authorization = "Basic " + base64.b64encode(pair).decode()
        try:
            caller = await self.security.authenticate(
                authorization=authorization, user_header=None, address=_address(conn)
            )
            if caller.user != user:
                raise Unauthenticated("wrong user name or password", hint="check both")
        except Unauthenticated:
            self.table.failed(keys, self.now())
            raise Unauthenticated(
                "wrong user name or password",
                hint="check both; an administrator can reset a password",
            ) from None
        conn.scope["lanfax.caller"] = caller
        user_info = await self.security.get_user(caller.user)
        return self.table.open(caller.user, self.now(), _digest(user_info.password_hash))


def _set_cookie(response: Response, conn: HTTPConnection, value: str) -> None:
    response.set_cookie(
        COOKIE,
        value,
        httponly=True,
        samesite="strict",
        secure=conn.url.scheme == "https",
        path="/",
    )


def _describe(caller: Caller, csrf: str | None, enabled: bool) -> dict[str, Any]:
    return {
        "user": caller.user,
        "role": caller.role.value,
        "rights": caller.held(),
        "via": caller.via,
        "csrf_token": csrf,
        "authentication": enabled,
    }


def install_session_routes(r: APIRouter, security: Security, clock: Clock) -> Sessions:
    """``/session``: log in (POST), who am I and my CSRF token (GET), log out (DELETE)."""
    sessions = Sessions(security, clock)

    @r.post(
        "/session",
        summary="Console log in: user and password -> session cookie",
        dependencies=[Depends(public())],
    )
    async def login(request: Request) -> Response:
        if not request.headers.get("content-type", "").startswith("application/json"):
            # A form post from another site cannot send JSON without a CORS preflight.
            raise InvalidInput("log in with a JSON body", hint='{"user": "...", "password": "..."}')
        body = await json_body(request)
        if not isinstance(body, dict):
            raise InvalidInput("the body must be a JSON object", hint='{"user", "password"}')
        user, password = body.get("user"), body.get("password")
        if not isinstance(user, str) or not user.strip():
            raise InvalidInput("user: give a user name", hint="e.g. admin", field="user")
        if not isinstance(password, str) or not password:
            raise InvalidInput("password: give the password", hint="", field="password")
        if not security.enabled:
            caller = await security.authenticate(
                authorization=None, user_header=user, address=_address(request)
            )
            return json_response(_describe(caller, None, False))
        session_id, session = await sessions.login(request, user.strip(), password)
        caller = replace(request.scope["lanfax.caller"], via="session")
        response = json_response(_describe(caller, session.csrf, True))
        _set_cookie(response, request, session_id)
        return response

    @r.get("/session", summary="The console session: user, rights and CSRF token")
    async def current(
        request: Request, caller: Annotated[Caller, Depends(authenticated())]
    ) -> Response:
        csrf = None
        if caller.via == "session":
            found = sessions.table.find(sessions.cookie(request) or "", sessions.now())
            csrf = found.csrf if found else None
        return json_response(_describe(caller, csrf, security.enabled))

    @r.delete("/session", summary="Console log out", status_code=204)
    async def logout(
        request: Request, caller: Annotated[Caller, Depends(authenticated())]
    ) -> Response:
        cookie = sessions.cookie(request)
        if cookie:
            sessions.table.close(cookie)
        response = Response(status_code=204)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    return sessions
