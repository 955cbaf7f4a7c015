"""Who is calling, and may they: the one FastAPI dependency every route declares.

Every route of the API says which right it needs::

    @r.get("/config", dependencies=[Depends(requires(AccessRightEx.QUERY_CONFIG))])

or, when the handler needs to know the caller (the own-jobs rule, the user recorded on a
job)::

    async def get_job(job_id: int, caller: Caller = Depends(requires(..., own_jobs=True)))

:func:`requires` authenticates the request (Bearer token, or HTTP Basic user and password,
through :class:`lanfax.service.security.Security`), applies the per-user request rate limit,
then checks the rights. ``own_jobs=True`` lets an authenticated caller without the right
through: the handler must then restrict itself to the caller's own jobs
(:meth:`Caller.check_job`). :func:`authenticated` is for routes any logged-in user may call;
:func:`public` for the few that need no login (the health check). A test walks every route
of the app and fails when one declares none of the three.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import WebSocketException
from fastapi.routing import APIRoute
from starlette.requests import HTTPConnection
from starlette.routing import Mount
from starlette.status import WS_1008_POLICY_VIOLATION
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lanfax.model.audit import AuditEntry
from lanfax.model.codes import AccessRight, AccessRightEx
from lanfax.model.errors import AccessDenied, FaxError
from lanfax.service.rights import Role
from lanfax.service.security import Caller, Security, right_name

__all__ = [
    "Caller",
    "audit_committed",
    "audit_with_commit",
    "authenticated",
    "install_security",
    "iter_routes",
    "public",
    "requires",
    "route_rights",
]

Right = AccessRight | AccessRightEx

#: The attribute a security dependency carries: the names of the rights it needs, ``()`` for
#: "any authenticated caller", ``None`` for public routes.
MARK = "lanfax_rights"

Dependency = Callable[[HTTPConnection], Awaitable[Caller]]


def _client_address(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else ""


async def _caller(conn: HTTPConnection) -> Caller:
    security = conn.app.state.security
    # The console's session cookie (lanfax.api.session), when no Authorization is sent.
    sessions = getattr(conn.app.state, "sessions", None)
    caller: Caller
    if (
        sessions is not None
        and security.enabled
        and not (conn.headers.get("authorization"))  # #19: before the cookies are parsed
        and sessions.cookie(conn)
    ):
        caller = await sessions.caller(conn)
    else:
        caller = await security.authenticate(
            authorization=conn.headers.get("authorization"),
            user_header=conn.headers.get("x-lanfax-user"),
            address=_client_address(conn),
        )
    security.check_rate(caller)
    conn.scope["lanfax.caller"] = caller
    # A user's fax account is created on its first connection when the server says so (#13).
    accounts = getattr(getattr(conn.app.state, "service", None), "accounts", None)
    if accounts is not None:
        await accounts.on_connect(caller.user)
    return caller


def _as_ws_error(conn: HTTPConnection, exc: FaxError) -> Exception:
    """A WebSocket handshake cannot carry a problem+json body: close with 1008 and the text."""
    if conn.scope["type"] == "websocket":
        return WebSocketException(WS_1008_POLICY_VIOLATION, reason=exc.message[:120])
    return exc


def requires(*rights: Right, own_jobs: bool = False) -> Dependency:
    """A dependency: the caller must hold every right in ``rights`` (AccessRight or
    AccessRightEx members). With ``own_jobs`` the caller passes without them, and the route
    limits itself to the caller's own jobs (``caller.may_see_all`` tells which case)."""
    if not rights:
        raise ValueError("requires() needs at least one right; use authenticated() otherwise")
    names = tuple(right_name(r) for r in rights)

    async def dependency(conn: HTTPConnection) -> Caller:
        try:
            caller = await _caller(conn)
            missing = [r for r in rights if not caller.holds(r)]
            if missing and not own_jobs:
                raise AccessDenied(
                    f"user {caller.user!r} lacks the right "
                    f"{', '.join(right_name(r) for r in missing)}",
                    hint="ask an administrator: lanfax user grant "
                    f"{caller.user} {right_name(missing[0])}",
                )
            return caller.scoped(all_jobs=not missing) if own_jobs else caller
        except FaxError as exc:
            raise _as_ws_error(conn, exc) from None

    setattr(dependency, MARK, names)
    setattr(dependency, "lanfax_own_jobs", own_jobs)  # noqa: B010 - a marker for the tests
    dependency.__name__ = f"requires_{'_'.join(names)}"
    return dependency


def authenticated() -> Dependency:
    """A dependency: any authenticated caller (their rights are checked by the service)."""

    async def dependency(conn: HTTPConnection) -> Caller:
        try:
            return await _caller(conn)
        except FaxError as exc:
            raise _as_ws_error(conn, exc) from None

    setattr(dependency, MARK, ())
    return dependency


def public() -> Callable[[], Awaitable[None]]:
    """A dependency that declares the route open to anyone (no login, no rate limit)."""

    async def dependency() -> None:
        return None

    setattr(dependency, MARK, None)
    return dependency


def _security_call(route: Any) -> Any:
    stack = list(getattr(getattr(route, "dependant", None), "dependencies", []))
    while stack:
        dep = stack.pop()
        call = getattr(dep, "call", None)
        if call is not None and hasattr(call, MARK):
            return call
        stack.extend(getattr(dep, "dependencies", []))
    return None


def route_rights(route: Any) -> tuple[bool, tuple[str, ...] | None]:
    """``(declared, rights)`` of an APIRoute/APIWebSocketRoute: whether a security dependency
    is declared, and its rights (``None`` for public, ``()`` for any authenticated caller)."""
    call = _security_call(route)
    if call is None:
        return False, None
    rights: tuple[str, ...] | None = getattr(call, MARK)
    return True, rights


def route_own_jobs(route: Any) -> bool:
    """Whether the route lets a caller without its rights act on the caller's own jobs."""
    return bool(getattr(_security_call(route), "lanfax_own_jobs", False))


def iter_routes(routes: Iterable[Any]) -> Iterator[Any]:
    """Every route, descending into included routers (FastAPI >= 0.12x keeps them nested)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from iter_routes(inner.routes)
        else:
            yield route


def install_security(app: FastAPI, security: Security) -> None:
    """Put ``security`` where :func:`requires` finds it, and publish each route's rights in
    the OpenAPI schema (``x-lanfax-rights``; ``security`` says which login schemes work)."""
    app.state.security = security
    app.add_middleware(AuditMiddleware, security=security)
    app.add_middleware(FailureBudgetMiddleware, security=security)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            for route in iter_routes(app.routes):
                if not isinstance(route, APIRoute):
                    continue
                declared, rights = route_rights(route)
                extra = dict(route.openapi_extra or {})
                if not declared:
                    extra["x-lanfax-rights"] = "undeclared"
                elif rights is None:
                    extra["x-lanfax-rights"] = "public"
                    extra["security"] = []
                else:
                    extra["x-lanfax-rights"] = list(rights) or "authenticated"
                    if route_own_jobs(route):
                        extra["x-lanfax-own-jobs"] = True
                route.openapi_extra = extra
            schema = generate()
            components = schema.setdefault("components", {})
            components["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer", "description": "an API token"},
                "basic": {"type": "http", "scheme": "basic", "description": "user and password"},
            }
            schema["security"] = [{"bearer": []}, {"basic": []}]
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]


#: Set in a request's scope once its audit entry was committed by the route itself.
_AUDITED = "lanfax.audited"


def unrouted(scope: Scope) -> bool:
    """Whether no route of ours took the request (an unknown path; a path under the console's
    static files, which change nothing): no login was checked, nothing was done."""
    route = scope.get("route")
    return route is None or isinstance(route, Mount)


def unrouted_change(scope: Scope) -> bool:
    """A change (any method but GET/HEAD/OPTIONS) that no route took: charged to its
    address's refusal budget (:meth:`Security.unrouted_change`, from the 404/405 handler)."""
    return scope.get("method") not in ("GET", "HEAD", "OPTIONS") and unrouted(scope)


def _describe(scope: Scope, status: int) -> tuple[str, str, str, dict[str, Any]]:
    """``(action, target, outcome, detail)`` of a request's audit entry."""
    route = scope.get("route")
    action = getattr(route, "name", None) or f"{scope['method']} {scope['path']}"
    params = scope.get("path_params") or {}
    target = ",".join(f"{k}={v}" for k, v in params.items())
    outcome = "ok" if status < 400 else ("denied" if status in (401, 403, 429) else "failed")
    detail: dict[str, Any] = {"method": scope["method"], "path": scope["path"], "status": status}
    if unrouted(scope):
        # No route of ours took it: the trail aggregates these as it does refusals
        # (service/refusals.aggregated).
        detail["unrouted"] = True
    return action, target, outcome, detail


def audit_with_commit(conn: HTTPConnection, caller: Caller, status: int) -> list[AuditEntry]:
    """The audit entry of this request if it succeeds with ``status``, for a route that
    commits it in the same transaction as its change. After that commit the route calls
    :func:`audit_committed`; if the change fails, the middleware records the failure as
    usual."""
    security: Security = conn.app.state.security
    action, target, outcome, detail = _describe(conn.scope, status)
    return [security.trail.entry(caller, action, target, outcome=outcome, detail=detail)]


def audit_committed(conn: HTTPConnection, entries: list[AuditEntry]) -> None:
    """``entries`` (from :func:`audit_with_commit`) are committed: log them, and tell the
    middleware not to write the request's entry again."""
    security: Security = conn.app.state.security
    for entry in entries:
        security.trail.log_entry(entry)
    if entries:
        conn.scope[_AUDITED] = True


class _StatusWatch:
    """The ``send`` of a request, forwarded, remembering the response's status (0 while
    none was sent): what both middlewares below decide on once the request is over."""

    __slots__ = ("send", "status")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status = 0

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
        await self.send(message)


class AuditMiddleware:
    """Writes the audit trail: every change (any method but GET/HEAD/OPTIONS) that reached a
    route, and every refused request (401, 403, 429), with who, what, when, from where and
    the status. The action is the route's name (``submit``, ``job_cancel``, ``patch_config``).
    Refused requests, and changes that no route took (a POST to an unknown path: no login, no
    work; ``detail["unrouted"]``), are aggregated per address, user and status: a row a
    minute with the count of the others (:mod:`lanfax.service.refusals`)."""

    def __init__(self, app: ASGIApp, security: Security) -> None:
        self.app = app
        self.security = security

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        watch = _StatusWatch(send)
        try:
            await self.app(scope, receive, watch)
        finally:
            status = watch.status
            refused = status in (401, 403, 429)
            if refused or (status and scope["method"] not in ("GET", "HEAD", "OPTIONS")):
                await self._record(scope, status)

    async def _record(self, scope: Scope, status: int) -> None:
        if scope.get(_AUDITED):
            return  # committed with the change itself (see audit_with_commit)
        caller: Caller | None = scope.get("lanfax.caller")
        action, target, outcome, detail = _describe(scope, status)
        if caller is None:
            client = scope.get("client")
            address = client[0] if client else ""
            caller = Caller("(unauthenticated)", Role.USER, AccessRight(0), AccessRightEx(0))
            caller = replace(caller, address=address)
        try:
            await self.security.record(caller, action, target, outcome=outcome, detail=detail)
        except FaxError as exc:  # the answer is sent; an audit failure must still be seen
            logging.getLogger("lanfax.audit").error("audit trail not written: %s", exc)


class FailureBudgetMiddleware:
    """Charges a caller's failure budget (:meth:`Security.note_failure`) for each of its
    requests that ended in a 4xx other than 401 (no caller known: limited per address) and
    429 (a refusal must not extend itself)."""

    def __init__(self, app: ASGIApp, security: Security) -> None:
        self.app = app
        self.security = security

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        watch = _StatusWatch(send)
        try:
            await self.app(scope, receive, watch)
        finally:
            status = watch.status
            caller: Caller | None = scope.get("lanfax.caller")
            if caller is not None and 400 <= status < 500 and status not in (401, 429):
                self.security.note_failure(caller)
