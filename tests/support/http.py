"""HTTP helpers for tests against a real ``lanfax serve``: wait on its event stream, send a
fax to line 101, list received jobs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.authhttp import httpx


def wait_for(api: str, what: str, cond: Callable[[], Any], timeout: float = 90) -> Any:
    """Re-check ``cond`` after every event of the server until it is truthy."""
    value = cond()
    if value:
        return value
    try:
        with httpx.stream(
            "GET", f"{api}/events", params={"after": 0}, timeout=httpx.Timeout(timeout)
        ) as stream:
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    value = cond()
                    if value:
                        return value
    except httpx.ReadTimeout:
        pass
    raise AssertionError(f"{what} never happened")


def receive_jobs(api: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{api}/jobs", params={"type": "receive,routing,fail_receive"})
    jobs: list[dict[str, Any]] = r.json()["jobs"]
    return jobs


def send_to_101(api: str, tiff: Path) -> int:
    r = httpx.post(
        f"{api}/jobs",
        data={"params": json.dumps({"recipients": [{"recipient_number": "101"}]})},
        files=[("file", ("doc.tif", tiff.read_bytes(), "image/tiff"))],
        timeout=30,
    )
    assert r.status_code == 201, r.text
    job_id: int = r.json()["jobs"][0]["job_id"]
    return job_id
