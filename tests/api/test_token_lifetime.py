"""Token lifetimes (issue #14, item 15: tokens were minted that never expire), against a real
``lanfax serve``: ``[security] max_token_days`` (default 365) is the longest lifetime a token
may be given and the lifetime of one minted without ``days``; beyond it is a clear 422 (exit
code 2 from the CLI); 0 lifts the limit. The administrator's first token (written to the
credentials file on the first start) never expires: it may be the only credential the
administrator has."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.server import TEST_PROVIDER_TOML, LanfaxServer, start_lanfax_server

from lanfax.client import AsyncClient, Client, InvalidInput
from lanfax.model.errors import ConfigError
from lanfax.service.security_settings import parse_security_settings


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LanfaxServer]:
    """A server with the default limit (no [security] max_token_days)."""
    with start_lanfax_server(tmp_path_factory.mktemp("srv"), TEST_PROVIDER_TOML) as srv:
        yield srv


def _admin(srv: LanfaxServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {srv.token}"}


def _mint(srv: LanfaxServer, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{srv.api}/tokens", json=body, headers=_admin(srv), timeout=30)


def _days_left(token: dict[str, Any]) -> float:
    expires = datetime.fromisoformat(token["expires_at"].replace("Z", "+00:00"))
    return (expires - datetime.now(UTC)) / timedelta(days=1)


def _lanfax(srv: LanfaxServer, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "lanfax.cli.main", *args]
    env = {**os.environ, "LANFAX_SERVER": srv.url}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)


def test_a_token_without_days_lives_max_token_days(limited: LanfaxServer) -> None:
    r = _mint(limited, {"label": "laptop"})
    assert r.status_code == 201, r.text
    assert 364.9 < _days_left(r.json()) <= 365.0
    r = _mint(limited, {"label": "short", "days": 30})
    assert r.status_code == 201 and 29.9 < _days_left(r.json()) <= 30.0
    r = _mint(limited, {"label": "year", "days": 365})
    assert r.status_code == 201, r.text


def test_days_beyond_the_limit_are_refused_clearly(limited: LanfaxServer) -> None:
    before = httpx.get(f"{limited.api}/tokens", headers=_admin(limited), timeout=30).json()
    r = _mint(limited, {"label": "forever", "days": 366})
    assert r.status_code == 422, r.text
    problem = r.json()
    assert "at most 365 days" in problem["detail"] and "366" in problem["detail"], problem
    assert "max_token_days" in problem["hint"], problem
    r = _mint(limited, {"days": 0})
    assert r.status_code == 422 and "days must be from 1" in r.json()["detail"]
    after = httpx.get(f"{limited.api}/tokens", headers=_admin(limited), timeout=30).json()
    assert after == before  # nothing minted


def test_the_cli_gets_the_limit_and_the_refusal(limited: LanfaxServer) -> None:
    refused = _lanfax(limited, "token", "create", "--label", "cli", "--days", "3000")
    assert refused.returncode == 2, (refused.stdout, refused.stderr)
    assert "at most 365 days" in refused.stderr and "max_token_days" in refused.stderr
    made = _lanfax(limited, "--json", "token", "create", "--label", "cli-default")
    assert made.returncode == 0, made.stderr
    listed = _lanfax(limited, "token", "list")
    (line,) = [x for x in listed.stdout.splitlines() if x.endswith("cli-default")]
    assert "no expiry" not in line
    year = (datetime.now(UTC) + timedelta(days=365)).strftime("%Y-%m-%d")
    assert year in line, line


def test_the_python_clients_get_the_limit_and_the_refusal(limited: LanfaxServer) -> None:
    with Client(limited.url, token=limited.token, timeout=30) as client:
        made = client.create_token(label="sync")
        assert made.expires_at and 364.9 < _days_left(made.to_wire()) <= 365.0
        with pytest.raises(InvalidInput, match="at most 365 days") as err:
            client.create_token(label="sync-forever", days=1000)
        assert "max_token_days" in (err.value.hint or "")

    async def in_async() -> None:
        async with AsyncClient(limited.url, token=limited.token, timeout=30) as client:
            made = await client.create_token(label="async", days=7)
            assert 6.9 < _days_left(made.to_wire()) <= 7.0
            with pytest.raises(InvalidInput, match="at most 365 days"):
                await client.create_token(label="async-forever", days=366)

    asyncio.run(in_async())
    with Client(limited.url, token=limited.token, timeout=30) as client:
        labels = {t.label for t in client.tokens()}
    assert {"sync", "async"} <= labels and not labels & {"sync-forever", "async-forever"}


def test_the_first_start_token_never_expires_and_works(limited: LanfaxServer) -> None:
    tokens = httpx.get(f"{limited.api}/tokens", headers=_admin(limited), timeout=30).json()
    (first,) = [t for t in tokens if t["label"] == "first start"]
    assert first["expires_at"] is None, first
    # The CLI finds it in the credentials file, as the README says: nothing to type.
    who = _lanfax(limited, "whoami")
    assert who.returncode == 0 and who.stdout.startswith("admin"), (who.stdout, who.stderr)


def test_zero_lifts_the_limit(tmp_path: Path) -> None:
    toml = TEST_PROVIDER_TOML + "\n[security]\nmax_token_days = 0\n"
    with start_lanfax_server(tmp_path, toml) as srv:
        r = _mint(srv, {"label": "kiosk"})
        assert r.status_code == 201 and r.json()["expires_at"] is None, r.text
        r = _mint(srv, {"label": "long", "days": 3000})
        assert r.status_code == 201 and 2999.9 < _days_left(r.json()) <= 3000.0


def test_the_setting_is_checked() -> None:
    assert parse_security_settings({}).max_token_days == 365
    assert parse_security_settings({"max_token_days": 30}).max_token_days == 30
    for bad in (-1, 3651, "365", True, 1.5):
        with pytest.raises(ConfigError, match="max_token_days") as err:
            parse_security_settings({"max_token_days": bad})
        assert "0 for no limit" in (err.value.hint or "")
