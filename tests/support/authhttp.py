"""``httpx`` for tests, logged in: ``from tests.support.authhttp import httpx``.

The test servers have authentication on (as in production). Each writes its administrator's
token to the credentials file (``LANFAX_CREDENTIALS``, set for the whole session by
``tests/conftest.py``) keyed by its URL, exactly as ``lanfax serve`` does for a newcomer; this
shim adds that token to requests that do not carry an ``Authorization`` header of their own.
Everything else is httpx itself (Response, Timeout, exceptions...).
"""

from __future__ import annotations

from typing import Any

import httpx as _httpx

from lanfax.client import credentials


def auth_for(url: str) -> dict[str, str]:
    u = _httpx.URL(str(url))
    entry = credentials.lookup(f"{u.scheme}://{u.host}:{u.port}")
    return {"Authorization": f"Bearer {entry['token']}"} if entry.get("token") else {}


def _add_auth(request: _httpx.Request) -> None:
    if "authorization" not in request.headers:
        request.headers.update(auth_for(str(request.url)))


class _AuthHttpx:
    def __getattr__(self, name: str) -> Any:
        return getattr(_httpx, name)

    def request(self, method: str, url: Any, **kw: Any) -> _httpx.Response:
        headers = {**auth_for(str(url)), **dict(kw.pop("headers", None) or {})}
        return _httpx.request(method, url, headers=headers, **kw)

    def get(self, url: Any, **kw: Any) -> _httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: Any, **kw: Any) -> _httpx.Response:
        return self.request("POST", url, **kw)

    def put(self, url: Any, **kw: Any) -> _httpx.Response:
        return self.request("PUT", url, **kw)

    def patch(self, url: Any, **kw: Any) -> _httpx.Response:
        return self.request("PATCH", url, **kw)

    def delete(self, url: Any, **kw: Any) -> _httpx.Response:
        return self.request("DELETE", url, **kw)

    def stream(self, method: str, url: Any, **kw: Any) -> Any:
        headers = {**auth_for(str(url)), **dict(kw.pop("headers", None) or {})}
        return _httpx.stream(method, url, headers=headers, **kw)

    def Client(self, **kw: Any) -> _httpx.Client:
        hooks = dict(kw.pop("event_hooks", None) or {})
        hooks["request"] = [*hooks.get("request", []), _add_auth]
        return _httpx.Client(event_hooks=hooks, **kw)


httpx = _AuthHttpx()


_USER_TOKENS: dict[tuple[str, str], str] = {}


def login_as(api: str, user: str, role: str = "administrator") -> dict[str, str]:
    """The Authorization header of ``user`` on the server at ``api`` (created, with ``role``,
    by the server's administrator on first use)."""
    key = (api, user)
    if key not in _USER_TOKENS:
        r = httpx.post(f"{api}/users", json={"name": user, "role": role})
        assert r.status_code in (201, 409), r.text
        r = httpx.post(f"{api}/tokens", json={"user": user, "label": "tests"})
        assert r.status_code == 201, r.text
        _USER_TOKENS[key] = r.json()["token"]
    return {"Authorization": f"Bearer {_USER_TOKENS[key]}"}
