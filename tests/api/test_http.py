"""Every endpoint of docs/http-api.md against a real ``lanfax serve`` process."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.authhttp import httpx, login_as
from tests.support.server import LanfaxServer, with_intake_workers

from lanfax.model.errors import ERRORS_BY_CODE

PROBLEM = "application/problem+json"


# #19: every endpoint also through intake workers (their connections handed to main).
@pytest.fixture(scope="module", params=[0, 1], ids=["main", "intake_workers=1"])
def server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[LanfaxServer]:
    yield from with_intake_workers(tmp_path_factory.mktemp("srv"), request.param)


def _problem(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = resp.json()
    assert body["type"] == f"urn:lanfax:error:{code}"
    assert body["status"] == status
    assert body["detail"]
    assert "Traceback" not in resp.text
    if code in ERRORS_BY_CODE:
        assert body["title"] == ERRORS_BY_CODE[code].__name__
    return body


def _submit(
    api: str, tiff: Path, params: dict[str, Any], *, user: str | None = None
) -> httpx.Response:
    headers = login_as(api, user) if user else {}
    return httpx.post(
        f"{api}/jobs",
        data={"params": json.dumps(params)},
        files=[("file", ("doc.tif", tiff.read_bytes(), "image/tiff"))],
        headers=headers,
        timeout=30,
    )


def _wait_job(api: str, job_id: int, states: set[str], timeout: float = 15.0) -> dict[str, Any]:
    """Follow the event stream until the job is in one of ``states``."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=timeout) as c:
        job: dict[str, Any] = c.get(f"{api}/jobs/{job_id}").json()
        cursor = 0  # replay everything: the job's state is re-read on each of its events
        while job["queue_status"] not in states:
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} stuck: {job}")
            with c.stream(
                "GET", f"{api}/events", params={"after": cursor}, timeout=timeout
            ) as resp:
                for line in resp.iter_lines():
                    if line.startswith("id: "):
                        cursor = int(line[4:])
                    if line.startswith("data: ") and json.loads(line[6:])["job_id"] == job_id:
                        job = c.get(f"{api}/jobs/{job_id}").json()
                        if job["queue_status"] in states:
                            break
                    if time.monotonic() > deadline:
                        break
    return job


def test_health_server_access(server: LanfaxServer) -> None:
    api = server.api
    assert httpx.get(f"{api}/health").json()["status"] == "ok"
    info = httpx.get(f"{api}/server").json()
    assert info["devices"] == 2
    assert set(info) >= {"version", "started_at", "queue_paused", "jobs_active"}
    assert info["started_at"].endswith("Z")
    acc = httpx.get(f"{api}/access", params={"rights": "job_submit,port_set"}).json()
    assert acc["allowed"] is True and "manage_config" in acc["rights"]
    _problem(httpx.get(f"{api}/access", params={"rights": "fly"}), 422, "invalid-input")


def test_openapi_is_served(server: LanfaxServer) -> None:
    doc = httpx.get(f"{server.api}/openapi.json").json()
    paths = doc["paths"]
    for path in (
        "/api/v1/jobs",
        "/api/v1/jobs/{job_id}/cancel",
        "/api/v1/ports/{device_id}",
        "/api/v1/events",
        "/api/v1/config",
        "/api/v1/handles/{handle}",
    ):
        assert path in paths, path
    assert "multipart/form-data" in paths["/api/v1/jobs"]["post"]["requestBody"]["content"]


def test_config_and_logging(server: LanfaxServer) -> None:
    api = server.api
    cfg = httpx.get(f"{api}/config").json()
    assert cfg["retries"] == 3
    new = httpx.patch(f"{api}/config", json={"Retries": 4, "retry_delay": 1}).json()
    assert (new["retries"], new["retry_delay"]) == (4, 1)
    assert httpx.get(f"{api}/config").json()["retries"] == 4
    body = _problem(httpx.patch(f"{api}/config", json={"retries": "many"}), 422, "config-error")
    assert "retries" in body["detail"] and body["hint"]
    _problem(httpx.patch(f"{api}/config", json={"nope": 1}), 422, "config-error")
    _problem(httpx.patch(f"{api}/config", content=b"{not json"), 422, "invalid-input")
    cats = httpx.get(f"{api}/logging").json()
    assert {c["category"] for c in cats} == {"init", "outbound", "inbound", "unknown"}
    out = httpx.put(f"{api}/logging", json=[{"category": "inbound", "level": "max"}]).json()
    assert next(c for c in out if c["category"] == "inbound")["level"] == "max"
    _problem(
        httpx.put(f"{api}/logging", json=[{"category": "inbound", "level": "loud"}]),
        422,
        "invalid-input",
    )


def test_ports_and_handles(server: LanfaxServer) -> None:
    api = server.api
    ports = httpx.get(f"{api}/ports").json()
    assert [p["number"] for p in ports] == ["200", "201"]
    dev = ports[1]["device_id"]
    assert httpx.get(f"{api}/ports/{dev}").json()["device_name"] == ports[1]["device_name"]
    _problem(httpx.get(f"{api}/ports/999"), 404, "not-found")
    status = httpx.get(f"{api}/ports/{dev}/status").json()
    assert status["device_id"] == dev and status["status"] == "available"
    r = httpx.post(f"{api}/ports/{dev}/handles", json={"mode": "modify"})
    assert r.status_code == 201
    handle = r.json()["handle"]
    _problem(httpx.post(f"{api}/ports/{dev}/handles", json={"mode": "modify"}), 409, "conflict")
    query = httpx.post(f"{api}/ports/{dev}/handles", json={"mode": "query"}).json()["handle"]
    _problem(httpx.patch(f"{api}/ports/{dev}", json={"rings": 3}), 409, "conflict")
    _problem(
        httpx.patch(
            f"{api}/ports/{dev}", json={"rings": 3}, headers={"X-Lanfax-Port-Handle": query}
        ),
        409,
        "conflict",
    )
    hdr = {"X-Lanfax-Port-Handle": handle}
    port = httpx.patch(f"{api}/ports/{dev}", json={"rings": 3, "csid": "C201"}, headers=hdr)
    assert port.status_code == 200 and port.json()["rings"] == 3
    _problem(
        httpx.patch(f"{api}/ports/{dev}", json={"rings": -2}, headers=hdr), 422, "invalid-input"
    )
    assert httpx.delete(f"{api}/handles/{handle}").status_code == 204
    _problem(httpx.delete(f"{api}/handles/{handle}"), 404, "not-found")
    second = httpx.post(f"{api}/ports/{dev}/handles", json={"mode": "modify"})
    assert second.status_code == 201
    httpx.delete(f"{api}/handles/{second.json()['handle']}")


def test_submit_list_get_document_pagedata(server: LanfaxServer, fax_tiff: Path) -> None:
    api = server.api
    r = _submit(
        api,
        fax_tiff,
        {
            "recipients": [
                {"recipient_number": "555 01", "recipient_name": "Bob"},
                {"recipient_number": "555 02", "billing_code": "B2"},
            ],
            "sender_name": "Alice",
            "billing_code": "COMMON",
            "priority": "high",
        },
        user="alice",
    )
    assert r.status_code == 201, r.text
    body = r.json()
    jobs = body["jobs"]
    assert len(jobs) == 2 and {j["broadcast_id"] for j in jobs} == {body["broadcast_id"]}
    assert [j["billing_code"] for j in jobs] == ["COMMON", "B2"]
    assert jobs[0]["recipient_name"] == "Bob" and jobs[0]["user_name"] == "alice"
    assert jobs[0]["priority"] == "high" and jobs[0]["page_count"] == 2
    for j in jobs:
        done = _wait_job(api, j["job_id"], {"completed", "failed", "retries_exceeded"})
        assert done["queue_status"] == "completed"
    got = httpx.get(f"{api}/jobs/{jobs[0]['job_id']}").json()
    assert got["pages_done"] == 2
    listed = httpx.get(f"{api}/jobs", params={"broadcast": body["broadcast_id"]}).json()
    assert [j["job_id"] for j in listed["jobs"]] == [j["job_id"] for j in jobs]
    assert listed["next"] is None
    page = httpx.get(f"{api}/jobs", params={"limit": 1, "user": "alice"}).json()
    assert len(page["jobs"]) == 1 and page["next"] == page["jobs"][0]["job_id"]
    rest = httpx.get(f"{api}/jobs", params={"after": page["next"], "user": "alice"}).json()
    assert jobs[1]["job_id"] in [j["job_id"] for j in rest["jobs"]]
    desc = httpx.get(f"{api}/jobs", params={"before": 10**9, "limit": 2}).json()["jobs"]
    assert desc[0]["job_id"] > desc[1]["job_id"]
    only = httpx.get(f"{api}/jobs", params={"status": "completed", "type": "send"}).json()
    assert all(j["queue_status"] == "completed" for j in only["jobs"])
    _problem(httpx.get(f"{api}/jobs", params={"status": "sleeping"}), 422, "invalid-input")
    _problem(httpx.get(f"{api}/jobs", params={"limit": 5000}), 422, "invalid-input")
    doc = httpx.get(f"{api}/jobs/{jobs[0]['job_id']}/document")
    assert doc.status_code == 200 and doc.content == fax_tiff.read_bytes()
    pd = httpx.get(f"{api}/jobs/{jobs[0]['job_id']}/pagedata")
    assert pd.status_code == 200 and pd.headers["content-type"] == "image/tiff"
    assert (pd.headers["x-image-width"], pd.headers["x-image-height"]) == ("1728", "2292")
    assert pd.content[:2] in (b"II", b"MM") and len(pd.content) < len(fax_tiff.read_bytes())


def test_submit_errors(server: LanfaxServer, fax_tiff: Path) -> None:
    api = server.api
    before = httpx.get(f"{api}/jobs", params={"before": 10**9, "limit": 1}).json()["jobs"]
    bad = _problem(
        _submit(api, fax_tiff, {"recipients": [{"recipient_number": "12a4"}]}), 422, "invalid-input"
    )
    assert "recipients[0].recipient_number" in bad["detail"] and bad["hint"]
    _problem(_submit(api, fax_tiff, {"recipients": []}), 422, "invalid-input")
    _problem(
        _submit(
            api,
            fax_tiff,
            {"recipients": [{"recipient_number": "5"}], "schedule_action": "specific_time"},
        ),
        422,
        "invalid-input",
    )
    _problem(
        _submit(api, fax_tiff, {"recipients": [{"recipient_number": "5"}], "priority": "urgent"}),
        422,
        "invalid-input",
    )
    _problem(
        _submit(api, fax_tiff, {"recipients": [{"recipient_number": "5"}], "x": 1}),
        422,
        "invalid-input",
    )
    no_file = httpx.post(
        f"{api}/jobs",
        data={"params": json.dumps({"recipients": [{"recipient_number": "5"}]})},
        files={"other": ("a", b"x")},
    )
    _problem(no_file, 422, "invalid-input")
    junk = httpx.post(
        f"{api}/jobs",
        data={"params": json.dumps({"recipients": [{"recipient_number": "5"}]})},
        files=[("file", ("x.bin", b"\x00\x01\x02 not a document", "application/octet-stream"))],
    )
    _problem(junk, 422, "document-error")
    _problem(httpx.post(f"{api}/jobs", json={"recipients": []}), 422, "invalid-input")
    after = httpx.get(f"{api}/jobs", params={"before": 10**9, "limit": 1}).json()["jobs"]
    assert after == before  # nothing was queued by any of these
    staged = list((server.data_dir / "spool" / "tmp").iterdir())
    assert staged == []  # and nothing was left behind


def test_upload_size_limit(tmp_path: Path, fax_tiff: Path) -> None:
    from tests.support.server import TEST_PROVIDER_TOML, start_lanfax_server

    toml = "[server]\nmax_upload_mb = 1\n" + TEST_PROVIDER_TOML
    with start_lanfax_server(tmp_path, toml) as srv:
        r = httpx.post(
            f"{srv.api}/jobs",
            data={"params": json.dumps({"recipients": [{"recipient_number": "5"}]})},
            files=[("file", ("big.bin", b"\0" * (2 * 1024 * 1024), "image/tiff"))],
        )
        _problem(r, 413, "too-large")
        assert httpx.get(f"{srv.api}/health").status_code == 200


def test_job_control_and_errors(server: LanfaxServer, fax_tiff: Path) -> None:
    api = server.api
    _problem(httpx.get(f"{api}/jobs/987654"), 404, "not-found")
    _problem(httpx.post(f"{api}/jobs/987654/pause"), 404, "not-found")
    _problem(httpx.get(f"{api}/nowhere"), 404, "not-found")
    _problem(httpx.get(f"{api}/jobs/abc"), 422, "invalid-input")
    (job,) = _submit(api, fax_tiff, {"recipients": [{"recipient_number": "9009600000"}]}).json()[
        "jobs"
    ]
    jid = job["job_id"]
    _wait_job(api, jid, {"in_progress"})
    body = _problem(httpx.post(f"{api}/jobs/{jid}/pause"), 409, "conflict")
    assert "in_progress" in body["detail"]
    _problem(httpx.delete(f"{api}/jobs/{jid}"), 409, "conflict")
    assert httpx.post(f"{api}/jobs/{jid}/cancel").status_code == 200
    done = _wait_job(api, jid, {"canceled"})
    assert done["queue_status"] == "canceled"
    _problem(httpx.post(f"{api}/jobs/{jid}/resume"), 409, "conflict")
    (failed,) = _submit(api, fax_tiff, {"recipients": [{"recipient_number": "9003"}]}).json()[
        "jobs"
    ]
    fid = failed["job_id"]
    assert _wait_job(api, fid, {"failed"})["attempts"] == 1
    _problem(httpx.post(f"{api}/jobs/{fid}/pause"), 409, "conflict")
    httpx.patch(f"{api}/config", json={"pause_server_queue": True})
    try:
        restarted = httpx.post(f"{api}/jobs/{fid}/restart").json()
        assert (restarted["queue_status"], restarted["attempts"]) == ("pending", 0)
        assert httpx.post(f"{api}/jobs/{fid}/pause").json()["queue_status"] == "paused"
        assert httpx.post(f"{api}/jobs/{fid}/resume").json()["queue_status"] == "pending"
        assert httpx.post(f"{api}/jobs/{fid}/cancel").json()["queue_status"] == "canceled"
    finally:
        httpx.patch(f"{api}/config", json={"pause_server_queue": False})
    assert httpx.delete(f"{api}/jobs/{jid}").status_code == 204
    _problem(httpx.get(f"{api}/jobs/{jid}"), 404, "not-found")


def test_events_backlog_and_sse_reconnect(server: LanfaxServer) -> None:
    api = server.api
    backlog = httpx.get(f"{api}/events", params={"follow": "false"}).json()
    last = backlog[-1]["seq"] if backlog else 0
    for n in range(3):
        httpx.patch(f"{api}/config", json={"retries": n})
    # A client that saw up to `last` reconnects with Last-Event-ID and gets exactly the rest.
    got: list[dict[str, Any]] = []
    with httpx.stream(
        "GET", f"{api}/events", headers={"Last-Event-ID": str(last)}, timeout=10
    ) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        ids = []
        for line in resp.iter_lines():
            if line.startswith("id: "):
                ids.append(int(line[4:]))
            if line.startswith("event: "):
                assert line == "event: config_changed"
            if line.startswith("data: "):
                got.append(json.loads(line[6:]))
                if len(got) == 3:
                    break
    assert [e["seq"] for e in got] == ids == list(range(last + 1, last + 4))
    assert all(e["event"] == "config_changed" and e["event_id"] == 0x101 for e in got)
    rest = httpx.get(f"{api}/events", params={"follow": "false", "after": last + 1}).json()
    assert [e["seq"] for e in rest] == [last + 2, last + 3]
    _problem(httpx.get(f"{api}/events", headers={"Last-Event-ID": "x"}), 422, "invalid-input")


def test_events_websocket(server: LanfaxServer) -> None:
    from websockets.sync.client import connect

    api = server.api
    backlog = httpx.get(f"{api}/events", params={"follow": "false"}).json()
    last = backlog[-1]["seq"]
    httpx.patch(f"{api}/config", json={"retries": 3})
    url = f"ws://127.0.0.1:{server.port}/api/v1/events/ws?after={last - 1}"
    with pytest.raises(Exception, match="403"):  # no login: the handshake is refused
        connect(url).close()
    auth = {"Authorization": f"Bearer {server.token}"}
    with connect(url, additional_headers=auth) as ws:
        first = json.loads(ws.recv(timeout=10))
        second = json.loads(ws.recv(timeout=10))
    assert [first["seq"], second["seq"]] == [last, last + 1]
    assert second["event"] == "config_changed"


@pytest.mark.slow
def test_sigterm_is_a_clean_stop(tmp_path: Path, fax_tiff: Path) -> None:
    from tests.support.server import TEST_PROVIDER_TOML, start_lanfax_server

    srv = start_lanfax_server(tmp_path, TEST_PROVIDER_TOML)
    try:
        (job,) = _submit(
            srv.api, fax_tiff, {"recipients": [{"recipient_number": "9009600000"}]}
        ).json()["jobs"]
        _wait_job(srv.api, job["job_id"], {"in_progress"})
        assert srv.stop() == 0
        srv.start()
        after = httpx.get(f"{srv.api}/jobs/{job['job_id']}").json()
        assert after["queue_status"] == "retrying" and after["attempts"] == 1
        events = httpx.get(f"{srv.api}/events", params={"follow": "false"}).json()
        assert "faxsvc_ended" in [e["event"] for e in events]
    finally:
        srv.close()
