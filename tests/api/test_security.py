"""Access control against a real ``lanfax serve``: login, roles and rights, the own-jobs rule,
tokens, the audit trail, TLS, and the refusal to listen on the network without login."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx as raw_httpx
import pytest
from tests.support.authhttp import httpx, login_as
from tests.support.server import REPO_ROOT, LanfaxServer, start_lanfax_server
from tests.support.tls import self_signed_certificate

from lanfax.client import credentials


def _submit(api: str, tiff: Path, headers: dict[str, str], priority: str = "normal") -> Any:
    return raw_httpx.post(
        f"{api}/jobs",
        data={
            "params": json.dumps(
                {"recipients": [{"recipient_number": "201"}], "priority": priority}
            )
        },
        files=[("file", ("doc.tif", tiff.read_bytes(), "image/tiff"))],
        headers=headers,
        timeout=30,
    )


def test_no_login_is_401_with_a_hint(server: LanfaxServer) -> None:
    r = raw_httpx.get(f"{server.api}/jobs")
    assert r.status_code == 401
    body = r.json()
    assert body["type"] == "urn:lanfax:error:unauthenticated" and "Bearer" in body["hint"]
    r = raw_httpx.get(f"{server.api}/jobs", headers={"Authorization": "Bearer lfx_nope_nope"})
    assert r.status_code == 401 and "token" in r.json()["detail"]
    # X-Lanfax-User alone is no login any more
    assert (
        raw_httpx.get(f"{server.api}/config", headers={"X-Lanfax-User": "admin"}).status_code == 401
    )
    assert raw_httpx.get(f"{server.api}/health").status_code == 200  # the one public route


def test_first_start_wrote_the_credentials_file(server: LanfaxServer) -> None:
    entry = credentials.lookup(server.url)
    assert entry == {"token": server.token, "user": "admin"}
    assert credentials.credentials_path().stat().st_mode & 0o777 == 0o600
    who = httpx.get(f"{server.api}/whoami").json()
    assert who["user"] == "admin" and who["role"] == "administrator" and who["via"] == "token"


def test_roles_allow_and_deny(server: LanfaxServer, fax_tiff: Path) -> None:
    api = server.api
    user = login_as(api, "uma", role="user")
    oper = login_as(api, "otto", role="operator")
    # configuration: a user reads, only an administrator changes
    assert raw_httpx.get(f"{api}/config", headers=user).status_code == 200
    r = raw_httpx.patch(f"{api}/config", json={"retries": 3}, headers=oper)
    assert r.status_code == 403 and "manage_config" in r.json()["detail"]
    assert "lanfax user grant otto" in r.json()["hint"]
    # ports: query yes, set no
    assert raw_httpx.get(f"{api}/ports", headers=user).status_code == 200
    r = raw_httpx.post(f"{api}/ports/1/handles", json={"mode": "modify"}, headers=user)
    assert r.status_code == 403
    # users and the audit trail: administrators only
    assert raw_httpx.get(f"{api}/users", headers=oper).status_code == 403
    assert raw_httpx.get(f"{api}/audit", headers=user).status_code == 403
    # priority: a user may not submit at high priority, an operator may
    assert _submit(api, fax_tiff, user, "high").status_code == 403
    r = _submit(api, fax_tiff, oper, "high")
    assert r.status_code == 201, r.text
    # FaxAccessCheck answers for the caller
    r = raw_httpx.get(f"{api}/access", params={"rights": "submit_normal"}, headers=user)
    assert r.json()["allowed"] is True
    r = raw_httpx.get(f"{api}/access", params={"rights": "manage_jobs"}, headers=user)
    assert r.json()["allowed"] is False and "manage_jobs" not in r.json()["rights"]


def test_own_jobs_rule(server: LanfaxServer, fax_tiff: Path) -> None:
    api = server.api
    httpx.patch(f"{api}/config", json={"pause_server_queue": True})
    try:
        ann = login_as(api, "ann", role="user")
        bob = login_as(api, "bob", role="user")
        r = _submit(api, fax_tiff, ann)
        assert r.status_code == 201, r.text
        job_id = r.json()["jobs"][0]["job_id"]
        assert raw_httpx.get(f"{api}/jobs/{job_id}", headers=ann).status_code == 200
        r = raw_httpx.get(f"{api}/jobs/{job_id}", headers=bob)
        assert r.status_code == 403 and "another user" in r.json()["detail"]
        assert raw_httpx.post(f"{api}/jobs/{job_id}/pause", headers=bob).status_code == 403
        listed = raw_httpx.get(f"{api}/jobs", headers=bob).json()["jobs"]
        assert all(j["user_name"] == "bob" for j in listed)
        assert job_id in [
            j["job_id"] for j in raw_httpx.get(f"{api}/jobs", headers=ann).json()["jobs"]
        ]
        backlog = raw_httpx.get(f"{api}/events", params={"follow": "false"}, headers=bob).json()
        assert job_id not in {e["job_id"] for e in backlog}
        # granting the right lifts the rule
        assert httpx.patch(f"{api}/users/bob", json={"grant": ["query_jobs"]}).status_code == 200
        assert raw_httpx.get(f"{api}/jobs/{job_id}", headers=bob).status_code == 200
        assert raw_httpx.post(f"{api}/jobs/{job_id}/cancel", headers=ann).status_code == 200
    finally:
        httpx.patch(f"{api}/config", json={"pause_server_queue": False})


def test_tokens_listed_without_secret_and_revocable(server: LanfaxServer) -> None:
    api = server.api
    r = httpx.post(
        f"{api}/users", json={"name": "tess", "role": "user", "password": "correct horse"}
    )
    assert r.status_code == 201 and "password" not in r.json()
    # HTTP Basic turns a password into a token
    r = raw_httpx.post(f"{api}/tokens", json={"label": "laptop"}, auth=("tess", "correct horse"))
    assert r.status_code == 201, r.text
    token, token_id = r.json()["token"], r.json()["token_id"]
    mine = {"Authorization": f"Bearer {token}"}
    assert raw_httpx.get(f"{api}/whoami", headers=mine).json()["user"] == "tess"
    listed = raw_httpx.get(f"{api}/tokens", headers=mine).json()
    assert [t["token_id"] for t in listed] == [token_id]
    assert token.split("_", 2)[2] not in json.dumps(listed)
    assert raw_httpx.post(f"{api}/tokens", auth=("tess", "wrong horse!")).status_code == 401
    assert raw_httpx.delete(f"{api}/tokens/{token_id}", headers=mine).status_code == 204
    assert raw_httpx.get(f"{api}/whoami", headers=mine).status_code == 401
    # the last administrator cannot be removed or demoted
    r = httpx.delete(f"{api}/users/admin")
    assert r.status_code == 409 and "last" in r.json()["detail"]


def test_audit_trail(server: LanfaxServer) -> None:
    api = server.api
    httpx.post(f"{api}/users", json={"name": "audited", "role": "user"})
    raw_httpx.get(f"{api}/users", headers=login_as(api, "audited", role="user"))
    entries = httpx.get(f"{api}/audit", params={"limit": 200}).json()["entries"]
    adds = [e for e in entries if e["action"] == "add_user" and e["detail"]["status"] == 201]
    assert adds and adds[0]["user"] == "admin" and adds[0]["address"] == "127.0.0.1"
    denied = [e for e in entries if e["user"] == "audited" and e["outcome"] == "denied"]
    assert denied and denied[0]["action"] == "list_users"
    only = httpx.get(f"{api}/audit", params={"user": "audited"}).json()["entries"]
    assert only and {e["user"] for e in only} == {"audited"}


def test_rate_limit_per_user(tmp_path: Path) -> None:
    toml = "[security]\nrate_limit = 1\nrate_burst = 5\n"
    with start_lanfax_server(tmp_path, toml) as srv:
        codes = [httpx.get(f"{srv.api}/server").status_code for _ in range(8)]
        assert codes[:5] == [200] * 5 and 429 in codes[5:]
        r = httpx.get(f"{srv.api}/server")
        assert r.status_code == 429 and "slow down" in r.json()["hint"]


def _serve_exit(tmp_path: Path, toml: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "l.toml").write_text(toml)
    cmd = [sys.executable, "-m", "lanfax.cli.serve", "--data", str(tmp_path / "d")]
    cmd += ["--config", str(tmp_path / "l.toml"), *args]
    return subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)


def test_refuses_network_listen_without_login(tmp_path: Path) -> None:
    done = _serve_exit(tmp_path, "[security]\nauthentication = false\n", "--listen", "0.0.0.0:0")
    assert done.returncode == 2
    assert "refusing to listen on 0.0.0.0 without authentication" in done.stderr
    assert "hint:" in done.stderr
    done = _serve_exit(tmp_path, "", "--tls-cert", str(tmp_path / "missing.pem"))
    assert done.returncode == 2 and "go together" in done.stderr


def test_tls(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    args = ["--tls-cert", str(cert), "--tls-key", str(key)]
    with start_lanfax_server(tmp_path, extra_args=args) as srv:
        assert srv.url.startswith("https://")
        auth = {"Authorization": f"Bearer {srv.token}"}
        with pytest.raises(raw_httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            raw_httpx.get(f"{srv.api}/whoami", headers=auth)
        r = raw_httpx.get(
            f"{srv.api}/whoami", headers=auth, verify=ssl.create_default_context(cafile=str(cert))
        )
        assert r.status_code == 200 and r.json()["user"] == "admin"
        assert credentials.lookup(srv.url)["token"] == srv.token
        # the CLI verifies too, with --ca-file / LANFAX_CA_FILE for a private CA
        env = {"LANFAX_SERVER": srv.url}
        cli = [sys.executable, "-m", "lanfax.cli.main", "ports"]
        bad = subprocess.run(cli, capture_output=True, text=True, env=_env(env), timeout=60)
        assert bad.returncode != 0 and "certificate" in bad.stderr.lower()
        env["LANFAX_CA_FILE"] = str(cert)
        ok = subprocess.run(cli, capture_output=True, text=True, env=_env(env), timeout=60)
        assert ok.returncode == 0, ok.stderr


def _env(extra: dict[str, str]) -> dict[str, str]:
    import os

    return {**os.environ, **extra}


def _lanfax(srv: LanfaxServer, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "lanfax.cli.main", *args]
    full = _env({"LANFAX_SERVER": srv.url, **env})
    return subprocess.run(cmd, capture_output=True, text=True, env=full, timeout=60)


def test_cli_users_tokens_audit(server: LanfaxServer) -> None:
    # the administrator's token comes from the credentials file, with no option at all
    done = _lanfax(
        server,
        "user",
        "add",
        "carol",
        "--role",
        "operator",
        "--password",
        LANFAX_NEW_PASSWORD="a long password",
    )
    assert done.returncode == 0, done.stderr
    assert "carol" in _lanfax(server, "user", "list").stdout
    done = _lanfax(server, "user", "grant", "carol", "manage_config")
    assert done.returncode == 0 and "manage_config" in done.stdout
    made = _lanfax(server, "token", "create", "--for", "carol", "--label", "cli")
    assert made.returncode == 0, made.stderr
    token = made.stdout.splitlines()[0]
    who = _lanfax(server, "whoami", LANFAX_TOKEN=token)
    assert who.stdout.startswith("carol (operator, via token)")
    listed = _lanfax(server, "token", "list", LANFAX_TOKEN=token)
    assert "cli" in listed.stdout and token.split("_", 2)[2] not in listed.stdout
    token_id = token.split("_")[1]
    assert _lanfax(server, "token", "revoke", token_id).returncode == 0
    refused = _lanfax(server, "whoami", LANFAX_TOKEN=token)
    assert refused.returncode == 5 and "error:" in refused.stderr and "hint:" in refused.stderr
    audit = _lanfax(server, "audit", "--action", "revoke_token")
    assert audit.returncode == 0 and "revoke_token" in audit.stdout
    denied = _lanfax(server, "user", "revoke", "carol", "operator")
    assert denied.returncode == 2 and "a role is not revoked" in denied.stderr
