"""Every route of the API declares who may call it (lanfax.api.security.requires & co.).

The app is built in-process (nothing started: the routes and the schema are all we read), so
this also catches a route registered by a new module without a right.
"""

from __future__ import annotations

from pathlib import Path

from fastapi.routing import APIRoute, APIWebSocketRoute

from lanfax.api.app import create_app
from lanfax.api.security import iter_routes, route_rights
from lanfax.service.core import FaxService
from lanfax.service.rights import all_right_names
from lanfax.service.settings import ServiceSettings

#: The only routes anyone may call without logging in.
PUBLIC = {
    ("GET", "/api/v1/health"),
    # issue #11: the IPP printer logs in per operation (Get-Printer-Attributes is open, as on
    # any printer; every other operation answers 401 without a login): tests/ipp
    ("POST", "/ipp/faxout"),
    # the console's log in: it checks the password itself (lanfax.api.session)
    ("POST", "/api/v1/session"),
}


def _app(tmp_path: Path):  # type: ignore[no-untyped-def]
    return create_app(FaxService(ServiceSettings(data_dir=tmp_path)))


def test_every_route_declares_a_right(tmp_path: Path) -> None:
    app = _app(tmp_path)
    undeclared, public, seen = [], set(), 0
    for route in iter_routes(app.routes):
        if not isinstance(route, APIRoute | APIWebSocketRoute):
            continue  # FastAPI's own /openapi.json and /docs (read-only, no data)
        seen += 1
        declared, rights = route_rights(route)
        methods = getattr(route, "methods", None) or {"WEBSOCKET"}
        for method in methods:
            if not declared:
                undeclared.append(f"{method} {route.path}")
            elif rights is None:
                public.add((method, route.path))
            else:
                assert all(r in all_right_names() for r in rights), (route.path, rights)
    assert seen > 15
    assert not undeclared, f"routes without a declared right: {undeclared}"
    assert public == PUBLIC


def test_every_openapi_operation_names_its_rights(tmp_path: Path) -> None:
    schema = _app(tmp_path).openapi()
    ops = [
        (method.upper(), path, op)
        for path, item in schema["paths"].items()
        for method, op in item.items()
    ]
    assert len(ops) > 15
    for method, path, op in ops:
        rights = op.get("x-lanfax-rights")
        assert rights not in (None, "undeclared"), f"{method} {path} declares no right"
        if (method, path) in PUBLIC:
            assert rights == "public" and op["security"] == []
        else:
            assert rights != "public", f"{method} {path} is public"
    assert set(schema["components"]["securitySchemes"]) == {"bearer", "basic"}
