"""``lanfax account ...`` (the real console script) against a real ``lanfax serve`` (test
provider lines 200 and 201): a fax received on 201 is routed to alice, shows in her inbox,
not in the administrator's server inbox, and is reassigned back with the CLI."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx as plain_httpx
from tests.cli.conftest import Run
from tests.support.authhttp import httpx
from tests.support.server import LanfaxServer

from lanfax.client import Client
from lanfax.routing.builtin import USER_GUID


def until(what: str, cond: Callable[[], Any], timeout: float = 90.0) -> Any:
    """Re-check ``cond`` until it is truthy, with a deadline. Archiving a fax emits no
    event (it happens after the job's last one), so this polls instead of waiting on the
    event stream."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never happened")
        pause.wait(0.1)


def test_account_verbs(lanfax: Run, cli_server: LanfaxServer, fax: Path) -> None:
    api = cli_server.api
    r = httpx.post(
        f"{api}/users", json={"name": "alice", "role": "user", "password": "alice-pw-123"}
    )
    assert r.status_code == 201, r.text
    r = plain_httpx.post(f"{api}/tokens", json={}, auth=("alice", "alice-pw-123"))
    alice = {"LANFAX_TOKEN": r.json()["token"]}

    shown = lanfax("account", "show", env=alice)
    assert shown.returncode == 0 and "account alice" in shown.stdout  # created on connect
    listed = lanfax("account", "list")
    assert "alice" in listed.stdout

    with Client(cli_server.url) as admin:
        line = next(p.device_id for p in admin.ports() if p.number == "201")
        admin.set_routing_info(line, USER_GUID, {"user": "alice"})
        admin.enable_routing_method(line, USER_GUID, True)
        (job,) = admin.send(fax, to="201")
        admin.wait([job.job_id], timeout=60)

        def owned() -> int | None:
            page = admin.account_archive("alice").entries
            return page[0].job_id if page else None

        rx: int = until("the fax archived for alice", owned)
        admin.enable_routing_method(line, USER_GUID, False)

    inbox = lanfax("account", "inbox", env=alice)
    assert inbox.returncode == 0 and str(rx) in inbox.stdout and "alice" in inbox.stdout
    assert lanfax("account", "inbox", "~server", env=alice).returncode == 5  # not hers
    server = json.loads(lanfax("account", "inbox", "~server", "--json").stdout)
    assert rx not in [e["job_id"] for e in server["entries"]]

    r = lanfax("account", "reassign", str(rx), "", env=alice)
    assert r.returncode == 5 and "manage_receive_folder" in r.stderr
    r = lanfax("account", "reassign", str(rx), "")
    assert r.returncode == 0 and "the server" in r.stdout
    assert str(rx) not in lanfax("account", "inbox", env=alice).stdout
    server = json.loads(lanfax("account", "inbox", "~server", "--json").stdout)
    assert rx in [e["job_id"] for e in server["entries"]]
    r = lanfax("account", "reassign", str(rx), "nobody")
    assert r.returncode == 2 and "to:" in r.stderr
