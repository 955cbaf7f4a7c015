"""[routing] policy enforced on received calls, end to end: a real ``lanfax serve`` with the
default virtual lines (100 and 101, spandsp in fast mode).

* ``block`` matching line 100's TSID: a fax from 100 to 101 is answered (the caller id "100"
  is not on the list), refused right after T.30 phase B: FEI_CALL_BLACKLISTED, a FAIL_RECEIVE
  job with no document, nothing in the inbox. The sender sees its call dropped and retries.
* ``max_pages = 1``: a three-page fax ends as a FAIL_RECEIVE job holding page 1, saying why;
  it is not routed. The sender sees its call dropped and retries.
* A TSID that is not on the list and a fax within the limit pass and are routed.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from tests.support.authhttp import httpx
from tests.support.faxes import make_fax_tiff
from tests.support.http import receive_jobs, send_to_101, set_port, wait_for
from tests.support.server import LanfaxServer, start_lanfax_server

from lanfax.model.codes import EventId

TOML = """
[routing]
policy = {block = ["ACME*"], max_pages = 1}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LanfaxServer]:
    with start_lanfax_server(tmp_path_factory.mktemp("policy"), TOML) as srv:
        yield srv


def set_tsid(api: str, number: str, tsid: str) -> None:
    set_port(api, number, {"tsid": tsid})


def job(api: str, job_id: int) -> dict[str, Any]:
    out: dict[str, Any] = httpx.get(f"{api}/jobs/{job_id}").json()
    return out


def new_receive(api: str, before: set[int]) -> dict[str, Any] | None:
    """The one receive job not in ``before``, once it is final."""
    fresh = [j for j in receive_jobs(api) if j["job_id"] not in before]
    if len(fresh) == 1 and fresh[0]["queue_status"] in ("completed", "failed"):
        return fresh[0]
    return None


def fax_to_101(api: str, tiff: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Send ``tiff`` to 101; wait until the send is no longer running and the receive job it
    made is final. Returns (send job, receive job)."""
    before = {j["job_id"] for j in receive_jobs(api)}
    send_id = send_to_101(api, tiff)
    rx = wait_for(api, "the receive job", lambda: new_receive(api, before))
    send = wait_for(
        api,
        "the send's outcome",
        lambda: (
            (s := job(api, send_id))["queue_status"] in ("completed", "retrying", "failed") and s
        ),
    )
    return send, rx


def inbox(server: LanfaxServer) -> list[Path]:
    return sorted((server.data_dir / "inbox").glob("*.tif"))


def test_blocked_tsid_is_refused_after_phase_b(server: LanfaxServer, tmp_path: Path) -> None:
    api = server.api
    set_tsid(api, "100", "ACME")
    send, rx = fax_to_101(api, make_fax_tiff(tmp_path, pages=1))

    assert rx["job_type"] == "fail_receive" and rx["queue_status"] == "failed", rx
    assert rx["status_text"].startswith("the far end's TSID 'ACME' is refused"), rx
    assert "'ACME*'" in rx["status_text"] and "nothing kept" in rx["status_text"]
    assert rx["page_count"] == 0 and rx["document_path"] == ""
    assert rx["remote_ident"] == "ACME"
    assert not (server.data_dir / "spool" / "received" / f"{rx['job_id']}.tif").exists()
    assert inbox(server) == []
    events = httpx.get(f"{api}/events", params={"after": 0, "follow": "false"}).json()
    refused = [e for e in events if e["job_id"] == rx["job_id"]]
    assert refused[-1]["event_id"] == EventId.CALL_BLACKLISTED, refused  # 13, FEI_CALL_BLACKLISTED
    # The sender cannot tell a refusal from a dropped line: its call was cut, it retries.
    assert send["queue_status"] == "retrying", send
    assert send["pages_done"] == 0
    assert "disconnected" in send["status_text"].lower(), send
    httpx.delete(f"{api}/jobs/{send['job_id']}")


def test_fax_longer_than_max_pages_keeps_the_first_pages(
    server: LanfaxServer, tmp_path: Path
) -> None:
    api = server.api
    set_tsid(api, "100", "GOOD")
    three = make_fax_tiff(tmp_path, pages=3)
    send, rx = fax_to_101(api, three)

    assert rx["job_type"] == "fail_receive" and rx["queue_status"] == "failed", rx
    assert rx["page_count"] == 1
    assert "more than 1 pages" in rx["status_text"], rx
    doc = httpx.get(f"{api}/jobs/{rx['job_id']}/document")
    assert doc.status_code == 200
    with Image.open(io.BytesIO(doc.content)) as im:
        assert getattr(im, "n_frames", 1) == 1
    assert inbox(server) == []  # a failed receive is not routed
    assert send["queue_status"] == "retrying", send
    assert "disconnected" in send["status_text"].lower(), send
    httpx.delete(f"{api}/jobs/{send['job_id']}")


def test_a_fax_within_the_policy_is_routed(server: LanfaxServer, tmp_path: Path) -> None:
    api = server.api
    set_tsid(api, "100", "GOOD")
    send, rx = fax_to_101(api, make_fax_tiff(tmp_path, pages=1))
    assert send["queue_status"] == "completed", send
    assert rx["job_type"] == "receive" and rx["page_count"] == 1, rx
    assert rx["remote_ident"] == "GOOD"
    wait_for(api, "the fax in the inbox", lambda: len(inbox(server)) == 1)
