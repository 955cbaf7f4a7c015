"""The console's session login, the page images and the submission preview, over HTTP on a
real ``lanfax serve`` (default virtual lines 100 and 101).

The session: a strict HttpOnly cookie, a CSRF token required for every change made with it,
the user's own rights (no more), log out, the API token accepted as a password, wrong
passwords refused with a plain message and rate limited. The table's idle expiry and the
wrong-password bucket are checked directly with an injected "now".
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx as plain
import pytest
from tests.support.authhttp import httpx
from tests.support.faxes import make_fax_tiff
from tests.support.http import send_to_101, wait_for
from tests.support.server import LanfaxServer, start_lanfax_server

from lanfax.api.session import FAIL_BURST, FAIL_REFILL, MAX_FAILURE_KEYS, SessionTable

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LanfaxServer]:
    srv = start_lanfax_server(tmp_path_factory.mktemp("session"))
    try:
        for name, role in (("alice", "user"), ("olga", "operator")):
            r = httpx.post(
                f"{srv.api}/users",
                json={"name": name, "role": role, "password": f"{name}-password"},
            )
            assert r.status_code == 201, r.text
        yield srv
    finally:
        srv.close()


def login(api: str, user: str, password: str) -> tuple[plain.Client, dict[str, Any]]:
    """A client holding the session cookie (and no token), and the login's answer."""
    client = plain.Client(timeout=30)
    r = client.post(f"{api}/session", json={"user": user, "password": password})
    assert r.status_code == 200, r.text
    return client, r.json()


def test_login_sets_a_strict_httponly_cookie(server: LanfaxServer) -> None:
    r = plain.post(f"{server.api}/session", json={"user": "alice", "password": "alice-password"})
    assert r.status_code == 200, r.text
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("lanfax_session=")
    attrs = {a.strip().lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= attrs
    assert "secure" not in attrs  # plain HTTP on loopback; set over HTTPS
    body = r.json()
    assert body["user"] == "alice" and body["role"] == "user" and body["via"] == "session"
    assert len(body["csrf_token"]) >= 32 and "manage_config" not in body["rights"]

    with plain.Client(cookies=r.cookies, timeout=30) as client:
        again = client.get(f"{server.api}/session").json()
        assert again["csrf_token"] == body["csrf_token"]
        who = client.get(f"{server.api}/whoami").json()
        assert who == {"user": "alice", "role": "user", "rights": body["rights"], "via": "session"}
    # Without the cookie nothing is known.
    assert plain.get(f"{server.api}/session").status_code == 401


def test_a_change_needs_the_csrf_token(server: LanfaxServer) -> None:
    client, who = login(server.api, "alice", "alice-password")
    with closing(client):
        url = f"{server.api}/tokens"
        refused = client.post(url, json={"label": "no token"})
        assert refused.status_code == 403
        assert "CSRF" in refused.json()["detail"]
        wrong = client.post(url, json={"label": "wrong"}, headers={"X-CSRF-Token": "x" * 43})
        assert wrong.status_code == 403
        ok = client.post(url, json={"label": "ok"}, headers={"X-CSRF-Token": who["csrf_token"]})
        assert ok.status_code == 201, ok.text
        # Reading needs no token (and cannot be done across origins: no CORS headers).
        assert client.get(url).status_code == 200
        # A program with a token is not the console: its Authorization wins, no CSRF needed.
        token = ok.json()["token"]
        r = client.post(url, json={"label": "bearer"}, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 201
    # The refusals are in the audit trail.
    audit = httpx.get(f"{server.api}/audit", params={"user": "alice"}).json()["entries"]
    assert any(e["outcome"] == "denied" and e["detail"]["status"] == 403 for e in audit)


def test_the_session_has_the_users_rights_only(server: LanfaxServer) -> None:
    client, who = login(server.api, "alice", "alice-password")
    csrf = {"X-CSRF-Token": who["csrf_token"]}
    with closing(client):
        assert client.get(f"{server.api}/config").status_code == 200  # query_config
        for method, path, body in (
            ("PATCH", "/config", {"retries": 5}),
            ("GET", "/users", None),
            ("GET", "/audit", None),
            ("POST", "/ports/1/handles", {"mode": "modify"}),
            ("PUT", "/routing/methods/order", {"order": []}),
            ("GET", "/archive/incoming?user=olga", None),  # her own inbox only
        ):
            r = client.request(method, server.api + path, json=body, headers=csrf)
            assert r.status_code == 403, (method, path, r.text)
            assert r.json()["title"] == "AccessDenied"
        # Without query_in_archive the incoming archive shows only the faxes routed to alice
        # (her personal inbox, #13), none here.
        mine = client.get(f"{server.api}/archive/incoming")
        assert mine.status_code == 200 and mine.json()["entries"] == []
    # A revoked right takes effect on the next request of a live session.
    client, who = login(server.api, "olga", "olga-password")
    with closing(client):
        assert client.get(f"{server.api}/config").status_code == 200
        r = httpx.patch(f"{server.api}/users/olga", json={"revoke": ["query_config"]})
        assert r.status_code == 200, r.text
        assert client.get(f"{server.api}/config").status_code == 403
        httpx.patch(f"{server.api}/users/olga", json={"grant": ["query_config"]})


def test_log_out_ends_the_session(server: LanfaxServer) -> None:
    client, who = login(server.api, "alice", "alice-password")
    with closing(client):
        old = dict(client.cookies)
        r = client.delete(f"{server.api}/session", headers={"X-CSRF-Token": who["csrf_token"]})
        assert r.status_code == 204
        assert (
            'lanfax_session=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
        )
    with plain.Client(cookies=old, timeout=30) as stale:
        r = stale.get(f"{server.api}/jobs")
        assert r.status_code == 401 and "log in again" in r.json()["hint"]


def test_login_forms(server: LanfaxServer) -> None:
    api = server.api
    # A form post (what another site could make a browser send) is not a login.
    r = plain.post(f"{api}/session", data={"user": "alice", "password": "alice-password"})
    assert r.status_code == 422 and "JSON" in r.json()["detail"]
    r = plain.post(f"{api}/session", json={"user": "alice"})
    assert r.status_code == 422 and r.json()["extra"]["field"] == "password"
    # The administrator's API token works as a password (a newcomer has no password yet) ...
    _, who = login(api, "admin", server.token)
    assert who["user"] == "admin" and "manage_config" in who["rights"]
    # ... for its own user only.
    r = plain.post(f"{api}/session", json={"user": "alice", "password": server.token})
    assert r.status_code == 401


def test_wrong_passwords_are_refused_then_rate_limited(tmp_path: Path) -> None:
    with start_lanfax_server(tmp_path) as srv:
        httpx.post(f"{srv.api}/users", json={"name": "bob", "password": "bob-password"})
        url = f"{srv.api}/session"
        for _ in range(FAIL_BURST):
            r = plain.post(url, json={"user": "bob", "password": "guess-guess"})
            assert r.status_code == 401
            assert r.json()["detail"] == "wrong user name or password"
            assert "set-cookie" not in r.headers
        r = plain.post(url, json={"user": "bob", "password": "bob-password"})
        assert r.status_code == 429, r.text
        assert r.json()["detail"].startswith("too many wrong passwords: try again in")
        assert 0 < r.json()["extra"]["retry_after"] <= FAIL_REFILL
        # The API's own password login (HTTP Basic) is unaffected: it has its own limit.
        basic = base64.b64encode(b"bob:bob-password").decode()
        assert (
            plain.get(f"{srv.api}/whoami", headers={"Authorization": f"Basic {basic}"}).json()[
                "user"
            ]
            == "bob"
        )


def test_session_table_idle_expiry_and_failure_bucket() -> None:
    table = SessionTable(idle_seconds=60)
    sid, session = table.open("alice", now=100.0)
    assert table.find(sid, now=150.0) is session  # used: the idle clock restarts
    assert table.find(sid, now=209.0) is session
    assert table.find(sid, now=270.0) is None  # 61 s idle
    assert table.find(sid, now=271.0) is None
    sid2, _ = table.open("bob", now=300.0)
    assert table.close(sid2) and table.find(sid2, now=300.0) is None
    assert table.find("made-up", now=300.0) is None

    keys = ["address:127.0.0.1", "user:bob"]
    for _ in range(FAIL_BURST):
        assert table.wait_before_try(keys, now=0.0) == 0
        table.failed(keys, now=0.0)
    assert table.wait_before_try(keys, now=0.0) == pytest.approx(FAIL_REFILL)
    assert table.wait_before_try(keys, now=FAIL_REFILL / 2) == pytest.approx(FAIL_REFILL / 2)
    assert table.wait_before_try(keys, now=FAIL_REFILL) == 0
    # Another address and user are not held back by bob's failures.
    assert table.wait_before_try(["address:10.0.0.2", "user:carol"], now=0.0) == 0
    # Made-up names do not pile up: recovered entries are forgotten past the bound.
    for i in range(MAX_FAILURE_KEYS + 10):
        table.failed([f"user:nobody{i}"], now=1000.0)
    table.failed(["user:late"], now=1000.0 + FAIL_REFILL * 2)
    assert len(table.failures) < 20


def test_page_images_of_jobs_and_archives(server: LanfaxServer, tmp_path: Path) -> None:
    api = server.api
    tiff = make_fax_tiff(tmp_path, pages=2)
    job_id = send_to_101(api, tiff)

    def archived() -> Any:
        entries = httpx.get(f"{api}/archive/incoming").json()["entries"]
        return [e for e in entries if e["number"] == "100" and e["pages"] == 2]

    entry = wait_for(api, "the fax in the inbox", archived)[0]
    base = f"{api}/archive/incoming/{entry['archive_id']}/pages"
    r = httpx.get(f"{base}/1.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content.startswith(PNG)
    small = httpx.get(f"{base}/2.png", params={"width": 120})
    assert small.status_code == 200 and len(small.content) < len(r.content)
    assert httpx.get(f"{base}/3.png").status_code == 404
    assert httpx.get(f"{base}/1.png", params={"width": 5}).status_code == 422
    job_page = httpx.get(f"{api}/jobs/{job_id}/pages/1.png", params={"width": 300})
    assert job_page.status_code == 200 and job_page.content.startswith(PNG)
    # The inbox is not a plain user's: same rights as the TIFF.
    client, _ = login(api, "alice", "alice-password")
    with closing(client):
        assert client.get(f"{base}/1.png").status_code == 403
        assert client.get(f"{api}/jobs/{job_id}/pages/1.png").status_code == 403  # not hers


def _preview(api: str, params: dict[str, Any], files: list[Any]) -> Any:
    # params as a part of its own: multipart even when no file is sent
    parts = [("params", (None, json.dumps(params), "application/json")), *files]
    return httpx.post(f"{api}/preview", files=parts, timeout=120)


def test_preview_renders_the_fax_with_its_cover_page(server: LanfaxServer) -> None:
    api = server.api
    text = ("file", ("note.txt", b"Hello from the preview\n" * 5, "text/plain"))
    before = httpx.get(f"{api}/jobs").json()["jobs"]
    r = _preview(api, {"recipients": [], "cover_page": {"subject": "Quarterly"}}, [text])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["pages"] == 2 and body["shown"] == 2 and body["resolution"] == "fine"
    for src in body["images"]:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG)
    plain_body = _preview(api, {"recipients": [{"recipient_number": "101"}]}, [text]).json()
    assert plain_body["pages"] == 1
    # A cover page alone is a preview too; nothing was queued by any of this.
    alone = _preview(api, {"cover_page": {"note": "just me"}}, [])
    assert alone.status_code == 200 and alone.json()["pages"] == 1
    assert httpx.get(f"{api}/jobs").json()["jobs"] == before

    bad = _preview(api, {}, [("file", ("blob.bin", bytes(range(256)) * 8, "application/x"))])
    assert bad.status_code == 422 and "file part 1 (blob.bin)" in bad.json()["detail"]
    unknown = _preview(api, {"cover_page": {"cover_page_name": "nope"}}, [text])
    assert unknown.status_code == 422
    assert unknown.json()["detail"].startswith("cover_page.cover_page_name")
    nothing = _preview(api, {}, [])
    assert nothing.status_code == 422 and "preview" in nothing.json()["detail"]
    number = _preview(api, {"recipients": [{"recipient_number": ""}]}, [text])
    assert number.status_code == 422 and number.json()["detail"].startswith("recipients[0]")


def test_a_websocket_with_the_cookie_must_come_from_the_console(server: LanfaxServer) -> None:
    from websockets.sync.client import connect

    client, _ = login(server.api, "alice", "alice-password")
    with closing(client):
        cookie = f"lanfax_session={client.cookies['lanfax_session']}"
    host = f"127.0.0.1:{server.port}"
    last = httpx.get(f"{server.api}/server").json()["last_event_seq"]
    url = f"ws://{host}/api/v1/events/ws?after={last}"
    # Another origin (a page elsewhere that the browser would send the cookie from): refused.
    with pytest.raises(Exception, match="403"):
        connect(url, additional_headers={"Cookie": cookie, "Origin": "http://evil.example"})
    with connect(url, additional_headers={"Cookie": cookie, "Origin": f"http://{host}"}) as ws:
        r = httpx.patch(f"{server.api}/config", json={"retries": 4})
        assert r.status_code == 200, r.text
        event = json.loads(ws.recv(timeout=30))
    # A server event (no job: job_id is NO_JOB) reaches a user without query_jobs too.
    assert event["event"] == "config_changed" and event["seq"] > last


def test_without_authentication_the_console_needs_no_login(tmp_path: Path) -> None:
    toml = "[security]\nauthentication = false\n"
    with start_lanfax_server(tmp_path, toml) as srv:
        who = plain.get(f"{srv.api}/session").json()
        assert who["authentication"] is False and who["csrf_token"] is None
        assert "manage_config" in who["rights"]
        r = plain.post(f"{srv.api}/session", json={"user": "bob", "password": "anything"})
        assert r.status_code == 200 and "set-cookie" not in r.headers
        assert r.json()["user"] == "bob"


def test_a_new_password_ends_the_users_sessions(server: LanfaxServer) -> None:
    client, _ = login(server.api, "olga", "olga-password")
    other, _ = login(server.api, "alice", "alice-password")
    with closing(client), closing(other):
        assert client.get(f"{server.api}/jobs").status_code == 200
        r = httpx.patch(f"{server.api}/users/olga", json={"password": "olga-new-password"})
        assert r.status_code == 200, r.text
        ended = client.get(f"{server.api}/jobs")
        assert ended.status_code == 401 and "password was changed" in ended.json()["detail"]
        assert other.get(f"{server.api}/jobs").status_code == 200  # alice's is not touched
    httpx.patch(f"{server.api}/users/olga", json={"password": "olga-password"})
