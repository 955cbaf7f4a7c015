"""Inbound routing end to end: a real ``lanfax serve`` with the default virtual lines (100 and
101, spandsp), routing configured through the HTTP API, a real SMTP server (aiosmtpd) and a
real web-hook receiver on loopback.

* A fax sent to 101 is stored in the inbox, mailed and posted; the service is SIGKILLed while
  the web hook is being delivered; after the restart nothing is lost and nothing done before
  the kill is done twice (each method's success is committed before the next runs), and the
  delivery that was cut off is retried with the same idempotency key.
* A failing web hook leaves a routing job, visible in the queue with its reason, that succeeds
  once the receiver is fixed (retried by the backoff, or at once on request).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.authhttp import httpx
from tests.support.faxes import make_fax_tiff
from tests.support.http import receive_jobs, send_to_101, wait_for
from tests.support.receivers import SmtpReceiver, WebhookReceiver, free_port
from tests.support.server import start_lanfax_server

from lanfax.routing.builtin import EMAIL_GUID, FOLDER_GUID, PRINT_GUID, USER_GUID, WEBHOOK_GUID

SECRET = "a-long-shared-secret-0123456789"
TOML = """
[routing]
retry_base = 0.5
retry_cap = 2
[routing.builtin]
webhook_attempts = 1
allow_networks = ["127.0.0.0/8"]  # the test's receivers listen on loopback (issue #14)
"""


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(port=free_port())
    try:
        yield receiver
    finally:
        receiver.stop()


def line_101(api: str) -> int:
    ports = httpx.get(f"{api}/ports").json()
    device_id: int = next(p["device_id"] for p in ports if p["number"] == "101")
    return device_id


def put_info(api: str, device: int, guid: str, info: dict[str, Any]) -> dict[str, Any]:
    r = httpx.put(f"{api}/routing/devices/{device}/methods/{guid}/info", json=info)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def enable(api: str, device: int, guid: str, on: bool = True) -> None:
    r = httpx.patch(f"{api}/routing/devices/{device}/methods/{guid}", json={"enabled": on})
    assert r.status_code == 200, r.text
    assert r.json()["enabled"] is on


def test_routing_survives_sigkill_during_delivery(
    tmp_path: Path, smtp: SmtpReceiver, hook: WebhookReceiver
) -> None:
    hook.mode = "hang"
    hook.start()
    tiff = make_fax_tiff(tmp_path / "doc", pages=2)
    with start_lanfax_server(tmp_path, TOML) as server:
        api = server.api
        device = line_101(api)
        order = [m["guid"] for m in httpx.get(f"{api}/routing/methods").json()]
        assert order == [FOLDER_GUID, EMAIL_GUID, PRINT_GUID, WEBHOOK_GUID, USER_GUID]
        mail = {
            "to": ["desk@example.test"],
            "from": "fax@example.test",
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "security": "none",
        }
        put_info(api, device, EMAIL_GUID, mail)
        enable(api, device, EMAIL_GUID)
        saved = put_info(api, device, WEBHOOK_GUID, {"url": hook.url, "secret": SECRET})
        assert saved["secret"] == "********"  # secrets never leave the server
        enable(api, device, WEBHOOK_GUID)

        send_to_101(api, tiff)
        assert hook.got_request.wait(90), server.log_tail()
        (rx,) = receive_jobs(api)
        assert rx["queue_status"] == "routing"
        server.kill()  # SIGKILL while the web hook is being delivered

        hung_key = hook.requests[0].headers["idempotency-key"]
        hook.stop()
        hook.mode = "ok"
        hook.start()
        server.start()
        done = wait_for(
            api,
            "the routing of the fax after the restart",
            lambda: [j for j in receive_jobs(api) if j["queue_status"] == "completed"],
        )
        (rx,) = done
        assert rx["job_type"] == "receive" and "routed to" in rx["status_text"]
        assert rx["page_count"] == 2
        inbox = list((server.data_dir / "inbox").glob("*.tif"))
        assert len(inbox) == 1  # stored before the kill, not again after it
        document = httpx.get(f"{api}/jobs/{rx['job_id']}/document").content
        assert inbox[0].read_bytes() == document
        assert len(smtp.messages()) == 1  # mailed before the kill, not again after it
        (msg,) = smtp.messages()
        ((name, ctype, pdf),) = SmtpReceiver.attachments(msg)
        assert name.endswith(".pdf") and ctype == "application/pdf" and pdf.startswith(b"%PDF")
        assert list(hook.delivered) == [hung_key]  # the same key: a receiver can de-duplicate


def test_a_failing_route_is_a_routing_job_until_fixed(
    tmp_path: Path, hook: WebhookReceiver
) -> None:
    hook.mode = "fail"
    hook.start()
    tiff = make_fax_tiff(tmp_path / "doc", pages=1)
    with start_lanfax_server(tmp_path, TOML) as server:
        api = server.api
        device = line_101(api)
        put_info(api, device, WEBHOOK_GUID, {"url": hook.url, "secret": SECRET})
        enable(api, device, WEBHOOK_GUID)
        # Not a known method / device: clear errors.
        r = httpx.get(f"{api}/routing/devices/999/methods")
        assert r.status_code == 404 and r.json()["hint"]
        r = httpx.put(
            f"{api}/routing/devices/{device}/methods/{FOLDER_GUID}/info",
            json={"folder": "/etc"},
        )
        assert r.status_code == 422 and "allowed roots" in r.json()["hint"]

        send_to_101(api, tiff)
        jobs = wait_for(
            api,
            "a routing job",
            lambda: [j for j in receive_jobs(api) if j["job_type"] == "routing"],
        )
        (job,) = jobs
        assert job["queue_status"] == "routing"
        assert "Post to a web hook" in job["status_text"] and "503" in job["status_text"]
        listed = httpx.get(f"{api}/jobs", params={"type": "routing"}).json()["jobs"]
        assert [j["job_id"] for j in listed] == [job["job_id"]]
        wait_for(
            api,
            "a retry with backoff",
            lambda: len(hook.requests) >= 2,
        )
        hook.mode = "ok"
        r = httpx.post(f"{api}/routing/jobs/{job['job_id']}/retry")
        assert r.status_code in (200, 409), r.text  # 409: the backoff retry got there first
        wait_for(
            api,
            "the routing job to complete",
            lambda: httpx.get(f"{api}/jobs/{job['job_id']}").json()["queue_status"] == "completed",
        )
        assert len(hook.delivered) == 1
        assert len(list((server.data_dir / "inbox").glob("*.tif"))) == 1
