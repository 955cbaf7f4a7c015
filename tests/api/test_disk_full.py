"""Disk full (issue #14, item 6), on a real ``lanfax serve`` whose data directory is a small
real filesystem (a 32 MB tmpfs the test mounts and fills; skipped where mounting is not
allowed). Nothing accepted is lost, every refusal is a clear 507, the service keeps serving,
and once space is back everything goes on by itself.

* An upload that cannot be staged (ENOSPC) is a 507, and leaves nothing behind.
* An upload that would leave less than ``min_free_mb`` is a 507 with the figures.
* A call to a line whose disk is too full is not answered (a fax confirmed page by page and
  then not stored would be lost): the sender gets no answer and retries; once space is back
  the retry delivers the fax, which is received and routed.
* The database's disk full (tests/service/test_send_progress.py) is a 507 to a request, and
  the dispatcher writes a call's outcome once space is back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.authhttp import httpx
from tests.support.faxes import make_fax_tiff
from tests.support.http import wait_for
from tests.support.server import LanfaxServer, start_lanfax_server
from tests.support.smallfs import SmallFs, small_fs


@pytest.fixture(scope="module")
def tiff(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_fax_tiff(tmp_path_factory.mktemp("doc"), pages=2).read_bytes()


@pytest.fixture()
def full_server(tmp_path: Path) -> Iterator[tuple[LanfaxServer, SmallFs]]:
    db = tmp_path / "db"
    db.mkdir()
    toml = f"""
[server]
database = "sqlite:///{db}/lanfax.db"
min_free_mb = 4
[settings]
retries = 20
retry_delay = 0
pause_server_queue = true
[[providers]]
type = "virtual"
lines = [{{ number = "100" }}, {{ number = "101" }}]
answer_timeout = 1.0
"""
    with small_fs(tmp_path / "lanfax-data", "32m") as fs:
        srv = start_lanfax_server(tmp_path, toml)
        try:
            yield srv, fs
        finally:
            fs.empty()
            srv.close()


def _post(api: str, tiff: bytes, number: str = "101") -> httpx.Response:
    return httpx.post(
        f"{api}/jobs",
        data={"params": json.dumps({"recipients": [{"recipient_number": number}]})},
        files=[("file", ("doc.tif", tiff, "image/tiff"))],
        timeout=60,
    )


def _spool(srv: LanfaxServer) -> tuple[list[str], list[str]]:
    spool = srv.data_dir / "spool"
    return sorted(p.name for p in (spool / "docs").iterdir()), sorted(
        p.name for p in (spool / "tmp").iterdir()
    )


def _job(api: str, job_id: int) -> dict[str, Any]:
    job: dict[str, Any] = httpx.get(f"{api}/jobs/{job_id}").json()
    return job


def test_a_full_disk_refuses_clearly_loses_nothing_and_recovers(
    full_server: tuple[LanfaxServer, SmallFs], tiff: bytes
) -> None:
    srv, fs = full_server
    api = srv.api
    # Accepted before the disk fills: it must be delivered in the end.
    r = _post(api, tiff)
    assert r.status_code == 201, r.text
    accepted = r.json()["jobs"][0]["job_id"]
    before = _spool(srv)

    # 1. Completely full: the upload cannot even be staged.
    fs.fill()
    r = _post(api, tiff)
    assert r.status_code == 507, (r.status_code, r.text[:300])
    problem = r.json()
    assert "disk is full" in problem["detail"] and problem["hint"], problem
    assert _spool(srv) == before
    assert httpx.get(f"{api}/health").json()["status"] == "ok"
    assert [j["job_id"] for j in httpx.get(f"{api}/jobs").json()["jobs"]] == [accepted]

    # 2. A little room, less than min_free_mb: a 507 with the figures.
    fs.empty()
    fs.fill(leave=2 * 2**20)
    r = _post(api, tiff)
    assert r.status_code == 507, (r.status_code, r.text[:300])
    detail = r.json()["detail"]
    assert "MB free" in detail and "server.min_free_mb" in detail, detail
    assert _spool(srv) == before

    # 3. The accepted job is sent; line 101 does not answer while its disk is too full.
    r = httpx.patch(f"{api}/config", json={"pause_server_queue": False})
    assert r.status_code == 200, r.text
    wait_for(api, "a failed attempt", lambda: _job(api, accepted)["attempts"] >= 2, 60)
    job = _job(api, accepted)
    assert job["queue_status"] in ("retrying", "pending", "in_progress"), job
    received = httpx.get(f"{api}/jobs", params={"type": "receive,fail_receive"}).json()["jobs"]
    assert received == []  # not answered: nothing half-stored

    # 4. Space is back: the retry delivers, 101 receives and routes it.
    fs.empty()
    done = wait_for(
        api,
        "the fax delivered",
        lambda: _job(api, accepted)["queue_status"] == "completed" and _job(api, accepted),
        90,
    )
    assert done["pages_done"] == 2

    def routed() -> list[dict[str, Any]]:
        jobs = httpx.get(f"{api}/jobs", params={"type": "receive"}).json()["jobs"]
        return [j for j in jobs if j["queue_status"] == "completed"]

    (rx,) = wait_for(api, "the fax routed", routed, 60)
    assert rx["page_count"] == 2
    inbox = list((srv.data_dir / "inbox").glob("*.tif"))
    allrx = httpx.get(f"{api}/jobs", params={"type": "receive,fail_receive,routing"}).json()["jobs"]
    assert len(inbox) == 1, [(j["job_id"], j["queue_status"], j["status_text"]) for j in allrx]
    assert _post(api, tiff).status_code == 201
