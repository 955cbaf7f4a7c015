"""Refused requests (issue #14, items 12 and 13) on a real ``lanfax serve``: an address that
keeps sending bad tokens is slowed down (429) before any work is done for it; refusals are
aggregated in the audit trail (one row per address, user and status a minute, with the count
of the others); plain HTTP beyond loopback is refused unless explicitly accepted, and then
warned about."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx as raw_httpx
from tests.support.authhttp import httpx
from tests.support.inproc import run, running_service
from tests.support.server import REPO_ROOT, start_lanfax_server

from lanfax.model.clock import ManualClock
from lanfax.model.codes import AccessRight, AccessRightEx
from lanfax.service.rights import Caller, Role
from lanfax.service.security import Security
from lanfax.store.audit import AuditQuery


def test_bad_tokens_are_rate_limited_per_address(tmp_path: Path) -> None:
    toml = "[security]\nrefusals_per_minute = 6\nrefusal_burst = 5\n"
    with start_lanfax_server(tmp_path, toml) as srv:
        bad = {"Authorization": "Bearer lfx_0123456789ab_" + "x" * 43}
        codes = [raw_httpx.get(f"{srv.api}/server", headers=bad).status_code for _ in range(8)]
        assert codes[:5] == [401] * 5, codes
        assert set(codes[5:]) == {429}, codes
        r = raw_httpx.get(f"{srv.api}/server", headers=bad)
        assert r.status_code == 429 and "too many refused requests" in r.json()["detail"]
        assert float(r.headers.get("retry-after", "0") or 0) > 0 or "try again" in r.text
        # A valid token from the same address still works.
        assert httpx.get(f"{srv.api}/server").status_code == 200
        # The audit trail: one row for the burst, not one per request.
        entries = httpx.get(f"{srv.api}/audit", params={"limit": 500}).json()["entries"]
        refused = [e for e in entries if e["user"] == "(unauthenticated)"]
        statuses = sorted(e["detail"]["status"] for e in refused)
        assert statuses == [401, 429], refused


def test_refusals_are_aggregated_with_their_count(tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))

    async def body() -> None:
        async with running_service(tmp_path, clock=clock) as svc:
            security = Security(svc)
            caller = Caller("mallory", Role.USER, AccessRight(0), AccessRightEx(0), "192.0.2.7")
            for _ in range(25):
                await security.record(
                    caller, "list_users", outcome="denied", detail={"status": 403}
                )
            clock.advance(61)
            await security.record(caller, "list_users", outcome="denied", detail={"status": 403})
            rows = await security.audit(AuditQuery(user_name="mallory"))
            assert len(rows) == 2, rows
            assert sorted(r.detail.get("repeated", 0) for r in rows) == [0, 24]

    run(body())


def _serve_exit(tmp_path: Path, toml: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "l.toml").write_text(toml)
    cmd = [sys.executable, "-m", "lanfax.cli.serve", "--data", str(tmp_path / "d")]
    cmd += ["--config", str(tmp_path / "l.toml"), *args]
    return subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)


def test_plain_http_beyond_loopback_is_refused(tmp_path: Path) -> None:
    # 192.0.2.1 (TEST-NET-1) is never bound: the refusal comes before listening.
    done = _serve_exit(tmp_path, "", "--listen", "192.0.2.1:0")
    assert done.returncode == 2, done.stderr
    assert "refusing to serve plain HTTP on 192.0.2.1" in done.stderr
    assert "allow_cleartext" in done.stderr


def test_accepted_clear_text_is_warned_about_at_start(tmp_path: Path) -> None:
    done = _serve_exit(tmp_path, "[security]\nallow_cleartext = true\n", "--listen", "192.0.2.1:0")
    # Accepted: it gets past the check (and then cannot bind TEST-NET-1), warning first.
    assert "WARNING: serving plain HTTP on 192.0.2.1" in done.stderr, done.stderr
    assert "refusing to serve plain HTTP" not in done.stderr
