"""A submission's audit entry is committed with its jobs (one transaction), exactly once; a
refused submission is still audited, by the middleware, as before."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.authhttp import httpx
from tests.support.server import LanfaxServer, with_intake_workers


# #19: audited the same whether main or an intake worker took the submission.
@pytest.fixture(scope="module", params=[0, 1], ids=["main", "intake_workers=1"])
def server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[LanfaxServer]:
    yield from with_intake_workers(tmp_path_factory.mktemp("srv"), request.param)


def _submit(api: str, tiff: Path, number: str) -> Any:
    return httpx.post(
        f"{api}/jobs",
        data={"params": json.dumps({"recipients": [{"recipient_number": number}]})},
        files=[("file", ("doc.tif", tiff.read_bytes(), "image/tiff"))],
        timeout=30,
    )


def _submits(api: str) -> list[dict[str, Any]]:
    entries = httpx.get(f"{api}/audit", params={"action": "submit"}).json()["entries"]
    return [e for e in entries if e["action"] == "submit"]


def test_submission_is_audited_once_with_its_jobs(server: LanfaxServer, fax_tiff: Path) -> None:
    api = server.api
    httpx.patch(f"{api}/config", json={"pause_server_queue": True})
    try:
        before = len(_submits(api))
        r = _submit(api, fax_tiff, "201")
        assert r.status_code == 201, r.text
        entries = _submits(api)
        assert len(entries) == before + 1
        new = entries[0]  # newest first
        assert new["user"] == "admin" and new["address"] == "127.0.0.1"
        assert new["outcome"] == "ok"
        assert new["detail"] == {"method": "POST", "path": "/api/v1/jobs", "status": 201}
        # refused: no job, and the middleware records the failure
        r = _submit(api, fax_tiff, "")
        assert r.status_code == 422, r.text
        entries = _submits(api)
        assert len(entries) == before + 2
        assert entries[0]["outcome"] == "failed" and entries[0]["detail"]["status"] == 422
    finally:
        httpx.patch(f"{api}/config", json={"pause_server_queue": False})
