"""HTTP helpers for tests against a real ``lanfax serve``: wait on its event stream, send a
fax to line 101, list received jobs."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.authhttp import httpx


def wait_for(
    api: str,
    what: str,
    cond: Callable[[], Any],
    timeout: float = 90,
    *,
    deadline: float = 240,
) -> Any:
    """Re-check ``cond`` after every event of the server until it is truthy.

    ``timeout`` bounds a quiet stream (no byte at all for that long); ``deadline`` bounds the
    whole wait (the server's keep-alives would otherwise keep a stream that never brings the
    awaited event open forever; it is checked at every line, so with the server's keep-alive
    every 15 s it may be passed by that much). The deadline is never shorter than ``timeout``.
    On either, the test fails with ``what`` and the last events seen."""
    value = cond()
    if value:
        return value
    end = time.monotonic() + max(deadline, timeout)
    seen: deque[str] = deque(maxlen=5)
    why = "the event stream ended"
    try:
        with httpx.stream(
            "GET",
            f"{api}/events",
            params={"after": 0},
            timeout=httpx.Timeout(timeout),
        ) as stream:
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    seen.append(line[6:][:300])
                    value = cond()
                    if value:
                        return value
                if time.monotonic() >= end:
                    why = f"the overall deadline of {max(deadline, timeout):g} s passed"
                    break
    except httpx.ReadTimeout:
        why = f"the event stream was quiet for {timeout:g} s"
    value = cond()  # one last look: the awaited state may have come without a further event
    if value:
        return value
    last = "\n  ".join(seen) if seen else "(none)"
    raise AssertionError(f"{what} never happened ({why}); last events seen:\n  {last}")


def all_jobs(api: str) -> list[dict[str, Any]]:
    """Every job on the server at ``api``, page by page (#19: the intake workers' tests)."""
    jobs: list[dict[str, Any]] = []
    after = 0
    while True:
        page = httpx.get(f"{api}/jobs", params={"after": after, "limit": 1000}).json()
        jobs.extend(page["jobs"])
        if page["next"] is None:
            return jobs
        after = page["next"]


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


def set_port(api: str, number: str, changes: dict[str, Any]) -> int:
    """Change the port of line ``number`` as an administrator does over HTTP (a modify
    handle, ``PATCH /ports/{id}`` with ``changes``, the handle released); its device id.
    ``set_port(api, "101", {"flags": ["receive"]})``: the line only receives (a line that
    may send could be given a job to its own number, and find it busy)."""
    ports = httpx.get(f"{api}/ports", timeout=30).json()
    (device,) = [p["device_id"] for p in ports if p["number"] == number]
    r = httpx.post(f"{api}/ports/{device}/handles", json={"mode": "modify"}, timeout=30)
    assert r.status_code == 201, r.text
    handle = r.json()["handle"]
    try:
        r = httpx.patch(
            f"{api}/ports/{device}",
            json=changes,
            headers={"X-Lanfax-Port-Handle": handle},
            timeout=30,
        )
        assert r.status_code == 200, r.text
    finally:
        httpx.delete(f"{api}/handles/{handle}", timeout=30)
    return int(device)
