"""The first fax: the default configuration (virtual lines 100 and 101), a TIFF sent to 101
through the API arrives on 101 as a RECEIVE job and lands in inbox/."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.support.authhttp import httpx
from tests.support.faxes import make_fax_tiff
from tests.support.server import LanfaxServer

FINAL = {"completed", "failed", "retries_exceeded", "canceled"}


def _jobs(api: str, **params: Any) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = httpx.get(f"{api}/jobs", params=params).json()["jobs"]
    return result


def test_first_fax_over_virtual_lines(lanfax_server: LanfaxServer, tmp_path: Path) -> None:
    api = lanfax_server.api
    ports = httpx.get(f"{api}/ports").json()
    assert sorted(p["number"] for p in ports) == ["100", "101"]
    line_100 = next(p for p in ports if p["number"] == "100")
    line_101 = next(p for p in ports if p["number"] == "101")
    tiff = make_fax_tiff(tmp_path / "doc", pages=2)
    r = httpx.post(
        f"{api}/jobs",
        data={"params": json.dumps({"recipients": [{"recipient_number": "101"}]})},
        files=[("file", ("doc.tif", tiff.read_bytes(), "image/tiff"))],
        timeout=30,
    )
    assert r.status_code == 201, r.text
    (job,) = r.json()["jobs"]
    # Follow the events until both the send and the receive are final.
    deadline = time.monotonic() + 90
    send: dict[str, Any] = job
    received: list[dict[str, Any]] = []
    with httpx.stream("GET", f"{api}/events", params={"after": 0}, timeout=90) as stream:
        for line in stream.iter_lines():
            if not line.startswith("data: "):
                continue
            send = httpx.get(f"{api}/jobs/{job['job_id']}").json()
            received = _jobs(api, type="receive,fail_receive")
            if (
                send["queue_status"] in FINAL
                and received
                and all(
                    (j["queue_status"] in FINAL and "routed to" in j["status_text"])
                    or (j["queue_status"] in FINAL and j["job_type"] != "receive")
                    for j in received
                )
            ):
                break
            assert time.monotonic() < deadline, (send, received)
    assert send["queue_status"] == "completed", send
    assert send["pages_done"] == 2
    assert send["device_id"] == line_100["device_id"]
    (rx,) = received
    assert rx["job_type"] == "receive" and rx["queue_status"] == "completed", rx
    assert rx["device_id"] == line_101["device_id"]
    assert rx["page_count"] == 2
    assert rx["remote_ident"].strip() == line_100["tsid"]
    inbox = list((lanfax_server.data_dir / "inbox").glob("*.tif"))
    assert len(inbox) == 1
    doc = httpx.get(f"{api}/jobs/{rx['job_id']}/document")
    assert doc.content == inbox[0].read_bytes()
    pd = httpx.get(f"{api}/jobs/{rx['job_id']}/pagedata")
    assert pd.status_code == 200 and pd.headers["x-image-width"] == "1728"
