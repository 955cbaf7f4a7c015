"""lanfax.web: the fax console, served by ``lanfax serve`` at ``/`` on the API's port.

The console is a single page (``static/index.html``) of plain ES modules: Preact and htm,
installed from the npm registry into ``web/node_modules`` by ``scripts/bootstrap.sh`` (never
committed), served under ``/vendor/``; there is no build step. It talks only to the public
HTTP API (``/api/v1``) with the session cookie of :mod:`lanfax.api.session`: this module adds
static files, no route to the service.

Every answer of the console carries a Content-Security-Policy that allows scripts from this
server only (plus the page's one inline import map, by its hash), so an injected fax header
or file name cannot run as script.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import Depends, FastAPI
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from lanfax.api.security import public

__all__ = ["STATIC", "VENDOR", "install_console", "vendor_missing"]

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
VENDOR = HERE / "node_modules"
#: The files the page imports from the npm packages: their absence means "not installed".
NEEDED = (
    "preact/dist/preact.module.js",
    "preact/hooks/dist/hooks.module.js",
    "htm/dist/htm.module.js",
    "htm/preact/index.module.js",
)

_MISSING = """<!doctype html><html lang="en"><meta charset="utf-8"><title>lanfax console</title>
<body style="font:16px system-ui;max-width:40rem;margin:3rem auto">
<h1>The console's JavaScript is not installed</h1>
<p>The lanfax console uses Preact and htm from the npm registry. Install them with
<code>scripts/bootstrap.sh</code> (it runs <code>npm ci</code> in <code>{where}</code>; Debian:
<code>apt-get install npm</code> first), then reload this page.</p>
<p>The HTTP API is unaffected: <a href="/api/v1/docs">/api/v1/docs</a>.</p></body></html>"""


def vendor_missing(vendor: Path = VENDOR) -> list[str]:
    return [name for name in NEEDED if not (vendor / name).is_file()]


def _csp(index: str) -> str:
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in re.findall(r"<script type=\"importmap\">(.*?)</script>", index, re.S)
    ]
    return (
        "default-src 'self'; script-src 'self' "
        + " ".join(hashes)
        + "; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; object-src 'none'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )


class _Static(StaticFiles):
    """Static files with the console's security headers."""

    def __init__(self, directory: Path, csp: str) -> None:
        super().__init__(directory=directory, follow_symlink=False)
        self._csp = csp

    def file_response(self, *args: object, **kwargs: object) -> Response:
        response = super().file_response(*args, **kwargs)  # type: ignore[arg-type]
        response.headers["Content-Security-Policy"] = self._csp
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-cache"
        return response


def install_console(app: FastAPI, vendor: Path = VENDOR) -> None:
    """Serve the console at ``/`` (the page), ``/static/`` (its modules) and ``/vendor/``
    (Preact and htm). Call after the API's routes are in place."""
    index = (STATIC / "index.html").read_text(encoding="utf-8")
    csp = _csp(index)
    headers = {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-cache",
    }

    @app.get("/", include_in_schema=False, dependencies=[Depends(public())])
    async def console() -> Response:
        missing = vendor_missing(vendor)
        if missing:
            return HTMLResponse(_MISSING.format(where=vendor.parent), status_code=503)
        return HTMLResponse(index, headers=headers)

    app.mount("/static", _Static(STATIC, csp), name="console-static")
    if vendor.is_dir():
        app.mount("/vendor", _Static(vendor, csp), name="console-vendor")
