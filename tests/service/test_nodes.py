"""Node identity and heartbeats (issue #18) with real ``lanfax serve`` processes.

A second ``lanfax serve`` on the SQLite file of a running one is refused at start with a
message saying who holds the file and what to do; a node killed with SIGKILL restarts at
once (the operating system released its lock); a clean stop is recorded; heartbeats advance.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.support.authhttp import httpx
from tests.support.server import REPO_ROOT, start_lanfax_server

from lanfax.store import open_store
from lanfax.store.nodes import open_nodes

FAST_BEATS = "[node]\nheartbeat_s = 1\nlease_s = 3\n"


def _nodes(api: str) -> dict[str, Any]:
    r = httpx.get(f"{api}/nodes", timeout=10)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _serve_once(tmp: Path, toml: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``lanfax serve`` expecting it to stop by itself (refused at start)."""
    config = tmp / "second.toml"
    config.write_text(toml)
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    args = ["--data", str(tmp / "data2"), "--listen", "127.0.0.1:0", "--config", str(config)]
    return subprocess.run(
        [sys.executable, "-m", "lanfax.cli.serve", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_second_serve_on_the_same_sqlite_file_is_refused(tmp_path: Path) -> None:
    first_dir = tmp_path / "first"
    first_dir.mkdir()
    with start_lanfax_server(first_dir, FAST_BEATS) as first:
        db = first.data_dir / "lanfax.db"
        info = _nodes(first.api)
        (me,) = info["nodes"]
        assert (info["node"], me["name"], me["number"], me["alive"]) == ("main", "main", 0, True)
        assert me["url"] == first.url
        assert me["pid"] == first.proc.pid  # type: ignore[union-attr]

        # The same database through another data directory, under another node name too.
        for name in ("main", "fax2"):
            toml = f'[server]\ndatabase = "sqlite:///{db}"\n[node]\nname = "{name}"\n'
            done = _serve_once(tmp_path, toml)
            assert done.returncode == 4, done.stderr  # Conflict's exit status
            assert f"the database {db} is in use by node 'main' (pid {me['pid']}" in done.stderr
            assert f"at {first.url}" in done.stderr
            assert "a SQLite database serves one lanfax node" in done.stderr
            assert "hint: stop that lanfax serve first" in done.stderr
            assert "PostgreSQL (docs/scaling.md)" in done.stderr
            assert "listening on" not in done.stdout  # refused before serving anything

        # The first one was not disturbed: still the only node, still beating.
        beat = me["heartbeat_at"]
        deadline = time.monotonic() + 30
        while _nodes(first.api)["nodes"][0]["heartbeat_at"] == beat:
            assert time.monotonic() < deadline, "the heartbeat never advanced"
            threading.Event().wait(0.2)
        assert len(_nodes(first.api)["nodes"]) == 1

        # SIGKILL: the lock goes with the process; a restart is not refused, and is the same
        # node (number 0) in its next incarnation.
        first.kill()
        first.start()
        (again,) = _nodes(first.api)["nodes"]
        assert (again["number"], again["incarnation"], again["alive"]) == (0, 2, True)
        assert again["pid"] == first.proc.pid  # type: ignore[union-attr]
        assert first.stop() == 0

    # A clean stop is recorded; the next start is allowed.
    with open_store(f"sqlite:///{db}") as store:
        (rec,) = open_nodes(store).nodes()
        assert rec.stopped_at is not None and rec.incarnation == 2


def test_device_ids_name_their_node_and_keep_the_first_nodes_ids(tmp_path: Path) -> None:
    """Node 0 keeps the one-node ids and port settings; node n numbers its devices from
    n * 65536 + 1 and keeps its port settings apart (both may have a line "200")."""
    from tests.support.inproc import run, running_service

    from lanfax.model.codes import PortOpenMode

    # Nodes sharing one database: SQLite always, whatever LANFAX_TEST_STORE says (#17).
    db = f'[server]\ndatabase = "sqlite:///{tmp_path / "data" / "lanfax.db"}"\n'

    async def ids_and_names(toml: str = "") -> list[tuple[int, str]]:
        async with running_service(tmp_path, db + toml) as svc:
            return [(p.device_id, p.device_name) for p in svc.ports()]

    async def rename(device_id: int, name: str, toml: str = "") -> None:
        async with running_service(tmp_path, db + toml) as svc:
            handle = svc.open_port(device_id, PortOpenMode.MODIFY)
            await svc.set_port(device_id, handle, {"device_name": name})

    async def main() -> None:
        first = await ids_and_names()
        assert [i for i, _ in first] == [1, 2]
        # An install that has data: its saved ids (whatever they are) survive the upgrade.
        store = open_store(f"sqlite:///{tmp_path / 'data' / 'lanfax.db'}")
        try:
            saved = store.get_settings("devices")
            keys = sorted(k for k in saved if k != "__next__")
            store.put_settings("devices", {keys[0]: 41, keys[1]: 40, "__next__": 42})
        finally:
            store.close()
        await rename(41, "Reception")
        assert sorted(await ids_and_names()) == [(40, first[1][1]), (41, "Reception")]
        # Another node on the same database (one at a time: SQLite): numbered 1.
        fax2 = '[node]\nname = "fax2"\n'
        other = await ids_and_names(fax2)
        assert [i for i, _ in other] == [65537, 65538]
        assert [n for _, n in other] == [n for _, n in first]  # not main's "Reception"
        await rename(65537, "Upstairs", fax2)
        assert (await ids_and_names(fax2))[0] == (65537, "Upstairs")
        assert sorted(await ids_and_names()) == [(40, first[1][1]), (41, "Reception")]

        # Each node stages in its own tmp and cleans only that at start (a shared spool).
        spool = tmp_path / "data" / "spool"
        (spool / "tmp" / "main-upload").mkdir()
        (spool / "tmp-fax2" / "fax2-upload").mkdir(parents=True, exist_ok=True)
        async with running_service(tmp_path, db + fax2) as svc:
            assert svc.spool.tmp == spool / "tmp-fax2"
            assert svc.spool.new_stage().parent == spool / "tmp-fax2"
        assert (spool / "tmp" / "main-upload").is_dir()
        assert not (spool / "tmp-fax2" / "fax2-upload").exists()
        async with running_service(tmp_path, db) as svc:
            assert svc.spool.tmp == spool / "tmp"
        assert not (spool / "tmp" / "main-upload").exists()

    run(main(), timeout=120)
