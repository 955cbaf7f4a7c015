"""Changes that no route took (a POST to an unknown path) are aggregated in the audit trail as
refusals are: before, each wrote a row with no login (~0.5 ms and an fsync each: cheap to
abuse); now the first of a minute per address and status is written at once and the others
are counted (``detail["repeated"]``), the count written when the minute ends or the service
stops. A change that a route took is still written every time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx as raw_httpx
import pytest
from tests.support.authhttp import httpx
from tests.support.server import start_lanfax_server

from lanfax.service.refusals import aggregated


def _unrouted(api: str) -> list[dict[str, Any]]:
    entries = httpx.get(f"{api}/audit", params={"limit": 500}).json()["entries"]
    return [e for e in entries if e["detail"].get("unrouted")]


def test_posts_to_unknown_paths_cost_a_row_a_minute_and_keep_their_count(tmp_path: Path) -> None:
    with start_lanfax_server(tmp_path) as srv:
        paths = [f"{srv.api}/no-such-thing", f"{srv.url}/wp-login.php", f"{srv.api}/jobs/x/y/z"]
        codes = [raw_httpx.post(paths[i % 3], content=b"x" * 100).status_code for i in range(30)]
        assert codes == [404] * 30, codes
        # Under the console's static files (a mount, not a route): 405, aggregated too.
        codes = [raw_httpx.post(f"{srv.url}/static/x{i}.js").status_code for i in range(5)]
        assert codes == [405] * 5, codes
        # A GET to an unknown path is not a change: no row, as before.
        assert raw_httpx.get(f"{srv.api}/no-such-thing").status_code == 404
        first, static = sorted(_unrouted(srv.api), key=lambda e: e["detail"]["status"])
        assert static["detail"]["status"] == 405 and "repeated" not in static["detail"]
        assert first["user"] == "(unauthenticated)" and first["address"] == "127.0.0.1"
        assert first["detail"]["status"] == 404 and first["detail"]["method"] == "POST"
        assert first["detail"]["path"] == "/api/v1/no-such-thing"
        assert "repeated" not in first["detail"], first
        # A change a route took is still audited each time (here refused: its own key).
        before = len(httpx.get(f"{srv.api}/audit", params={"limit": 500}).json()["entries"])
        for _ in range(2):
            assert httpx.post(f"{srv.api}/jobs/999999/cancel").status_code == 404
        after = httpx.get(f"{srv.api}/audit", params={"limit": 500}).json()["entries"]
        assert len(after) == before + 2, after[:3]
        assert not any(e["detail"].get("unrouted") for e in after[:2])
        assert srv.stop() == 0  # the stop writes the count of the burst
        srv.start()
        rows = _unrouted(srv.api)
        by_status = {404: [0, 29], 405: [0, 4]}
        for status, counts in by_status.items():
            mine = [r for r in rows if r["detail"]["status"] == status]
            assert sorted(r["detail"].get("repeated", 0) for r in mine) == counts, rows
        assert {r["detail"]["status"] for r in rows} == {404, 405}


def test_what_the_trail_aggregates() -> None:
    assert aggregated({"status": 401}) and aggregated({"status": 403})
    assert aggregated({"status": 429})
    assert aggregated({"status": 404, "unrouted": True})
    assert aggregated({"status": 307, "unrouted": True})  # a slash redirect, before any route
    assert not aggregated({"status": 404})  # a route answered "no such job": written
    assert not aggregated({"status": 201}) and not aggregated({})


@pytest.mark.parametrize("workers", [0, 1], ids=["main", "intake_workers=1"])
def test_changes_to_unknown_paths_spend_the_addresss_refusal_budget(
    tmp_path: Path, workers: int
) -> None:
    """A client probing paths without a login (the answers tell which exist: 401 for a
    route, 404 for none) is what ``refusals_per_minute`` is for: its changes to unknown paths
    cost from the same budget as bad tokens, and once it is spent the address gets 429 for
    both (a bad token too); a valid token from the same address still works, a GET to an
    unknown path (a browser's favicon) is not counted, nor a change a route took. With an
    intake worker (#19) the requests reach the main process on their own connection: the
    same address, the same budget."""
    toml = f"[server]\nintake_workers = {workers}\n"
    toml += "[security]\nrefusals_per_minute = 1\nrefusal_burst = 5\n"
    with start_lanfax_server(tmp_path, toml) as srv:
        # Not counted: GETs to unknown paths, and a route's own 404 (no such job).
        for _ in range(8):
            assert raw_httpx.get(f"{srv.api}/no-such-thing").status_code == 404
            assert httpx.post(f"{srv.api}/jobs/999999/cancel").status_code == 404
        # Counted: 3 unknown paths, 1 under the console's static files, 1 bad token ...
        codes = [raw_httpx.post(f"{srv.api}/probe-{i}").status_code for i in range(3)]
        codes.append(raw_httpx.delete(f"{srv.url}/static/x.js").status_code)
        bad = {"Authorization": "Bearer lfx_0123456789ab_" + "x" * 43}
        codes.append(raw_httpx.get(f"{srv.api}/server", headers=bad).status_code)
        assert codes == [404, 404, 404, 405, 401], codes
        # ... and the budget is spent: 429 for the next probes and bad tokens alike.
        r = raw_httpx.post(f"{srv.api}/probe-more", content=b"x")
        assert r.status_code == 429, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "too many refused requests from 127.0.0.1" in r.json()["detail"]
        assert "no such path" in r.json()["hint"] and int(r.headers["retry-after"]) >= 1
        assert raw_httpx.put(f"{srv.url}/static/y.js").status_code == 429
        assert raw_httpx.get(f"{srv.api}/server", headers=bad).status_code == 429
        # Not counted, and not refused: a GET to an unknown path, a valid login.
        assert raw_httpx.get(f"{srv.api}/no-such-thing").status_code == 404
        assert httpx.get(f"{srv.api}/server").status_code == 200
        assert httpx.post(f"{srv.api}/jobs/999999/cancel").status_code == 404
        # The 429s are in the trail as unrouted, aggregated (one row for the burst).
        rows = [r for r in _unrouted(srv.api) if r["detail"]["status"] == 429]
        assert len(rows) == 1 and rows[0]["user"] == "(unauthenticated)", rows
