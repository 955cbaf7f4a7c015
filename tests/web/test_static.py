"""How the console is served (no browser): the page with its security headers, the modules,
the npm packages, and a plain explanation when the packages are not installed."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from lanfax.web import NEEDED, STATIC, VENDOR, install_console, vendor_missing


class _Client:
    """GET through the ASGI app itself (httpx's ASGI transport), one request per call."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def get(self, path: str) -> httpx.Response:
        async def one() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://console") as c:
                return await c.get(path)

        return asyncio.run(one())


def _client(vendor: Path = VENDOR) -> Any:
    app = FastAPI()
    install_console(app, vendor)
    return _Client(app)


def test_the_page_its_modules_and_packages() -> None:
    assert vendor_missing() == [], "scripts/bootstrap.sh installs the npm packages"
    client = _client()
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    # Scripts from the server only, plus the one inline import map, by its hash.
    (importmap,) = re.findall(r'<script type="importmap">(.*?)</script>', page.text, re.S)
    digest = base64.b64encode(hashlib.sha256(importmap.encode()).digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}';" in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    # Every module the page and its import map name is served, as JavaScript.
    for module in sorted(p.name for p in (STATIC / "js").glob("*.js")):
        r = client.get(f"/static/js/{module}")
        assert r.status_code == 200 and "javascript" in r.headers["content-type"], module
        assert r.headers["content-security-policy"] == csp
    for name in NEEDED:
        assert f"/vendor/{name}" in importmap
        assert client.get(f"/vendor/{name}").status_code == 200
    assert client.get("/static/style.css").status_code == 200
    # No way out of the static directories.
    assert client.get("/static/../__init__.py").status_code == 404
    assert client.get("/static/%2e%2e/__init__.py").status_code == 404


def test_without_the_npm_packages_the_page_says_how_to_install_them(tmp_path: Path) -> None:
    assert vendor_missing(tmp_path) == list(NEEDED)
    page = _client(tmp_path / "node_modules").get("/")
    assert page.status_code == 503
    assert "scripts/bootstrap.sh" in page.text and "npm" in page.text
    assert "/api/v1/docs" in page.text  # the API does not depend on it
