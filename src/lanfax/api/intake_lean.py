"""Main's lean path for a submission an intake worker prepared (#19, wave 7).

With ``[server] intake_workers`` (:mod:`lanfax.api.intake`), the main process answers each
submission a worker prepared. Through the whole app that request crossed uvicorn's wrappers,
FastAPI's and Starlette's entry, the server-error middleware, lanfax's own middlewares, the
exception middleware, the router, the route's request/response wrapper and the route: ~1/6
of the main process's event loop per submission went to the framework's layers around
lanfax's own code (py-spy ``--gil``, 2026-12-05), and the main process's serial path is what
bounds the intake.

:class:`LeanSubmit` runs **the same code minus the framework's routing**, and is built from
the app itself so that the two cannot drift apart:

* uvicorn's wrappers around the app (the proxy-header middleware: the client's address as the
  audit and the refusal budget see it) are the very objects uvicorn loaded, copied with the
  lean stack inside instead of the app;
* the middlewares are the app's own list (``app.user_middleware``, in the order Starlette
  builds them: stop, failure budget, audit, body limits, and any added later), constructed
  with their own arguments around the lean endpoint;
* the endpoint matches the request with :class:`~lanfax.api.jobs.SubmitRoute`'s own
  ``matches`` (the scope the route gets: its name for the audit, ``route``, ``endpoint``,
  ``path_params``), calls the route's own endpoint (the caller through ``requires(JOB_SUBMIT)``,
  then :func:`~lanfax.api.jobs.submission_handler`: params, rights, the audit row committed
  with the jobs, the group commit, the 201's body), and maps an exception with the app's own
  exception handlers (problem+json; a full disk 507), looked up as Starlette's exception
  middleware looks them up; an exception no handler takes propagates as it does through the
  app (the intake answers 500).

What is left out, and why that is the same: the server-error middleware answers only what no
handler takes (here: propagated, answered 500 by the intake as before); FastAPI's exit stack
serves FastAPI's dependency routes (the submission route is a plain Starlette route); the
router only finds the route. When the app is not one this was built for (FastAPI's native
telemetry on, a wrapper of uvicorn's without an ``app``, no :class:`SubmitRoute` first, an
exception handler that is not a coroutine function), :meth:`LeanSubmit.build` returns None
and every request goes through the whole app, as before.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from lanfax.api.jobs import SubmitRoute

Handler = Callable[[Request, Exception], Awaitable[Response]]


class LeanSubmit:
    """An ASGI callable for ``POST /api/v1/jobs`` built from ``app`` (see the module)."""

    def __init__(self, app: Starlette, route: SubmitRoute, outer: ASGIApp) -> None:
        self.app = app
        self.route = route
        self._handlers: dict[Any, Handler] = {}
        self._status: dict[int, Handler] = {}
        for key, handler in app.exception_handlers.items():
            if key in (500, Exception):
                continue  # the server-error middleware's: what propagates here
            if isinstance(key, int):
                self._status[key] = handler
            else:
                self._handlers[key] = handler
        middleware: list[Middleware] = []
        max_body = getattr(app, "max_body_size", None)
        if max_body is not None:  # Starlette's own body limit, when the app sets one
            from starlette.middleware.body_limit import RequestBodyLimitMiddleware

            middleware.append(Middleware(RequestBodyLimitMiddleware, max_body_size=max_body))
        middleware += app.user_middleware
        stack: ASGIApp = self._endpoint
        for cls, args, kwargs in reversed(middleware):
            stack = cls(stack, *args, **kwargs)
        self._stack = stack
        self._entry = _rewrap(outer, app, self._enter)

    @classmethod
    def build(cls, loaded: ASGIApp) -> LeanSubmit | None:
        """The lean path over uvicorn's loaded app ``loaded``, or None (the whole app
        serves: see the module)."""
        app: Any = loaded
        while not isinstance(app, Starlette):
            app = getattr(app, "app", None)
            if app is None:
                return None
        telemetry = getattr(app, "_native_telemetry", None)
        if telemetry is not None and telemetry.enabled():
            return None
        routes = app.router.routes
        route = routes[0] if routes else None
        if not isinstance(route, SubmitRoute):  # not first: the router may choose another
            return None
        handlers = app.exception_handlers.values()
        if not all(inspect.iscoroutinefunction(h) for h in handlers):
            return None
        return cls(app, route, loaded)

    def takes(self, scope: Scope) -> bool:
        """Whether the request is the submission route's (the router would choose it: it is
        the app's first route). A worker sends nothing else prepared; anything else goes
        through the whole app."""
        probe = dict(scope)
        self._root(probe)
        return self.route.matches(probe)[0] is Match.FULL

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a request :meth:`takes` took."""
        await self._entry(scope, receive, send)

    def _root(self, scope: Scope) -> None:
        # What FastAPI's and Starlette's entry set on every request.
        root_path = getattr(self.app, "root_path", "")
        if root_path:
            scope["root_path"] = root_path
        scope["app"] = self.app

    async def _enter(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._root(scope)
        await self._stack(scope, receive, send)

    async def _endpoint(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.route
        match, child = route.matches(scope)
        if match is not Match.FULL:  # checked by takes(): a bug if it changed on the way
            raise RuntimeError(f"the lean submission path got {scope['method']} {scope['path']}")
        scope.update(child)
        scope.setdefault("router", self.app.router)
        request = Request(scope, receive, send)
        try:
            response: Response = await route.endpoint(request)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)

    def _handler(self, exc: Exception) -> Handler | None:
        """The app's handler for ``exc``, as Starlette's exception middleware finds it."""
        if isinstance(exc, HTTPException) and exc.status_code in self._status:
            return self._status[exc.status_code]
        for kind in type(exc).__mro__:
            if kind in self._handlers:
                return self._handlers[kind]
        return None


def _rewrap(outer: Any, app: Any, inner: ASGIApp) -> ASGIApp:
    """``outer`` (uvicorn's wrappers around ``app``) with ``inner`` in ``app``'s place:
    each wrapper copied, the originals untouched."""
    if outer is app:
        return inner
    clone = copy.copy(outer)
    clone.app = _rewrap(outer.app, app, inner)
    return clone  # type: ignore[no-any-return]
