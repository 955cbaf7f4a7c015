"""At the "max" level of its logging category, a call's T.30 trace (spandsp's own log of the
frames it sends and receives) is in the server's log; below it, it is not."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.authhttp import httpx
from tests.support.faxes import make_fax_tiff
from tests.support.http import send_to_101, wait_for
from tests.support.server import LanfaxServer

FRAMES = ("DIS", "DCS", "CFR", "MCF")


def _final(api: str, job_id: int) -> str:
    status: str = httpx.get(f"{api}/jobs/{job_id}").json()["queue_status"]
    return status


def _frames_logged(text: str, logger: str) -> set[str]:
    lines = [line for line in text.splitlines() if logger in line]
    return {f for f in FRAMES if any(re.search(rf"\b{f}\b", line) for line in lines)}


def test_outbound_at_max_logs_the_t30_frames(lanfax_server: LanfaxServer, tmp_path: Path) -> None:
    api = lanfax_server.api
    tiff = make_fax_tiff(tmp_path / "doc")

    quiet = send_to_101(api, tiff)
    wait_for(api, "the first send", lambda: _final(api, quiet) == "completed")
    assert _frames_logged(lanfax_server.stderr_path.read_text(), "lanfax.outbound") == set()

    r = httpx.put(f"{api}/logging", json=[{"category": "outbound", "level": "max"}])
    assert r.status_code == 200, r.text
    traced = send_to_101(api, tiff)
    wait_for(api, "the traced send", lambda: _final(api, traced) == "completed")
    log = lanfax_server.stderr_path.read_text()
    assert _frames_logged(log, "lanfax.outbound") == set(FRAMES), log[-3000:]
    # The inbound category stayed at its default: the receiving side is not traced.
    assert _frames_logged(log, "lanfax.inbound") == set()
