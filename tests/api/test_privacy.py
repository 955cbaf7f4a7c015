"""Leaks past the own-jobs rule (issue #14, item 14), on a real ``lanfax serve``: a user who
may query ports but not every job sees a line's state, not who is called or calling; ringing
events reach such a user without the caller's number. An administrator sees everything."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.support.authhttp import httpx, login_as
from tests.support.faxes import make_fax_tiff
from tests.support.http import set_port
from tests.support.server import start_lanfax_server

TOML = """
[[providers]]
type = "virtual"
lines = [{ number = "100" }, { number = "102" }]
answer_timeout = 8.0
"""


def test_other_peoples_calls_are_not_shown(tmp_path: Path) -> None:
    tiff = make_fax_tiff(tmp_path / "doc").read_bytes()
    with start_lanfax_server(tmp_path, TOML) as srv:
        api = srv.api
        bob = login_as(api, "bob", "user")
        ports = {p["number"]: p["device_id"] for p in httpx.get(f"{api}/ports").json()}
        # 102 never answers (99 rings) and 100 only sends: a call 100 -> 102 rings for 8 s.
        for number, flags, rings in (("100", ["send"], 2), ("102", ["receive"], 99)):
            set_port(api, number, {"flags": flags, "rings": rings})
        r = httpx.post(
            f"{api}/jobs",
            data={
                "params": json.dumps(
                    {"recipients": [{"recipient_number": "102", "recipient_name": "Dr. Secret"}]}
                )
            },
            files=[("file", ("doc.tif", tiff, "image/tiff"))],
            timeout=30,
        )
        assert r.status_code == 201, r.text

        def dialing() -> dict[str, Any] | None:
            st: dict[str, Any] = httpx.get(f"{api}/ports/{ports['100']}/status").json()
            return st if st["phone_number"] == "102" else None

        deadline = time.monotonic() + 20
        admin_view = dialing()
        while admin_view is None and time.monotonic() < deadline:
            time.sleep(0.05)
            admin_view = dialing()
        assert admin_view is not None, "the call never showed on line 100"
        assert admin_view["recipient_name"] == "Dr. Secret" and admin_view["user_name"]
        bob_view = httpx.get(f"{api}/ports/{ports['100']}/status", headers=bob).json()
        assert bob_view["status"] == admin_view["status"]
        assert bob_view["phone_number"] == "" and bob_view["recipient_name"] == ""
        assert bob_view["user_name"] == ""

        def ringing(headers: dict[str, str] | None) -> list[dict[str, Any]]:
            r = httpx.get(f"{api}/events", params={"follow": "false"}, headers=headers or {})
            assert r.status_code == 200, r.text
            return [e for e in r.json() if e["event"] == "ringing"]

        deadline = time.monotonic() + 20
        while not ringing(None) and time.monotonic() < deadline:
            time.sleep(0.1)
        admin_rings, bob_rings = ringing(None), ringing(bob)
        assert admin_rings and admin_rings[0]["detail"]["caller_id"]
        # A user limited to its own jobs gets no device events (they name other people's
        # calls), or at least none that names the caller.
        assert all("caller_id" not in e["detail"] for e in bob_rings), bob_rings


def test_routing_info_does_not_tell_port_viewers_where_faxes_go(tmp_path: Path) -> None:
    toml = TOML + '[routing.builtin]\nallow_networks = ["127.0.0.0/8"]\n'
    hook = "{85273ed7-d9e4-4e33-9136-3792d97f723e}"
    with start_lanfax_server(tmp_path, toml) as srv:
        api = srv.api
        bob = login_as(api, "bob", "user")
        device = httpx.get(f"{api}/ports").json()[0]["device_id"]
        url = "http://127.0.0.1:9/hooks/T0123/B456/SECRETPATH?token=abc"
        info_url = f"{api}/routing/devices/{device}/methods/{hook}/info"
        r = httpx.put(info_url, json={"url": url, "secret": "a-long-shared-secret-0123"})
        assert r.status_code == 200, r.text
        admin = httpx.get(info_url).json()
        assert admin["url"] == url and admin["secret"] == "********"
        seen = httpx.get(info_url, headers=bob).json()
        assert seen["url"] == "http://127.0.0.1:9/********", seen
        assert "SECRETPATH" not in json.dumps(seen) and "abc" not in seen["url"]
