"""Routing jobs in the service: a received fax goes through folder, e-mail and web hook (real
receivers on loopback); a failing route keeps a ROUTING job that is retried with backoff on
the injected clock and succeeds once the route is fixed; a route no retry can cure waits for a
person; an administrator may delete a routing job."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.support.inproc import run, running_service, set_line, submit, wait_job, wait_status
from tests.support.receivers import SmtpReceiver, WebhookReceiver, free_port

from lanfax.model.clock import ManualClock
from lanfax.model.codes import EventId, JobType, QueueStatus
from lanfax.model.errors import NotFound
from lanfax.model.jobs import Job
from lanfax.routing.builtin import EMAIL_GUID, FOLDER_GUID, PRINT_GUID, USER_GUID, WEBHOOK_GUID
from lanfax.routing.builtin.webhook import verify
from lanfax.service.core import FaxService
from lanfax.store.api import JobQuery

SECRET = "a-long-shared-secret-0123456789"
TOML = """
[routing]
retry_base = 60
max_attempts = 3
[routing.builtin]
webhook_attempts = 1
allow_networks = ["127.0.0.0/8"]  # the test's receivers listen on loopback (issue #14)
lp_command = "/nonexistent/lp"
"""


async def _receiver_line(svc: FaxService) -> int:
    return await set_line(svc, "201", ["receive"], rings=1)


async def _receive(svc: FaxService, tiff: Path) -> int:
    (job,) = await submit(svc, tiff, "201")
    sent = await wait_status(svc, job.job_id, QueueStatus.COMPLETED, QueueStatus.RETRYING)
    assert sent.queue_status is QueueStatus.COMPLETED
    return sent.job_id + 1  # the receive job is the next one created


async def _webhook(svc: FaxService, device: int, url: str) -> None:
    info = {"url": url, "secret": SECRET, "format": "tiff"}
    await svc.routing.set_info(device, WEBHOOK_GUID, info)
    await svc.routing.enable(device, WEBHOOK_GUID, True)


def _routed(job: Job) -> bool:
    # IN_PROGRESS: the receive itself is not recorded yet (its file is being fsynced).
    waiting = (QueueStatus.ROUTING, QueueStatus.IN_PROGRESS)
    return job.queue_status not in waiting or job.attempts > 0


def test_a_fax_reaches_folder_mail_and_webhook(tmp_path: Path, fax_tiff_3: Path) -> None:
    smtp = SmtpReceiver().start()
    hook = WebhookReceiver().start()

    async def body() -> None:
        async with running_service(tmp_path, TOML) as svc:
            device = await _receiver_line(svc)
            await svc.routing.set_info(
                device,
                EMAIL_GUID,
                {
                    "to": "desk@example.test",
                    "from": "fax@example.test",
                    "smtp_host": "127.0.0.1",
                    "smtp_port": smtp.port,
                    "security": "none",
                    "subject_template": "Fax {job_id} from {tsid}, {page_count} pages",
                    "attach": "tiff",
                },
            )
            await svc.routing.enable(device, EMAIL_GUID, True)
            await _webhook(svc, device, hook.url)
            methods = {m.guid: m.enabled for m in svc.routing.methods(device)}
            assert methods == {
                FOLDER_GUID: True,
                EMAIL_GUID: True,
                PRINT_GUID: False,
                WEBHOOK_GUID: True,
                USER_GUID: False,
            }
            rx_id = await _receive(svc, fax_tiff_3)
            rx = await wait_job(svc, rx_id, lambda j: j.is_final, timeout=20)
            assert rx.queue_status is QueueStatus.COMPLETED and rx.job_type is JobType.RECEIVE
            assert rx.attempts == 0 and "routed to" in rx.status_text
            assert sorted(rx.extra["routing"]["done"]) == sorted(
                [FOLDER_GUID, EMAIL_GUID, WEBHOOK_GUID]
            )
            tiff = fax_tiff_3.read_bytes()
            (stored,) = svc.spool.inbox.glob("*.tif")
            assert stored.read_bytes() == tiff
            (msg,) = smtp.messages()
            assert msg["Subject"] == f"Fax {rx_id} from {rx.remote_ident}, 3 pages"
            (att,) = SmtpReceiver.attachments(msg)
            assert att[1] == "image/tiff" and att[2] == tiff
            (delivery,) = hook.requests
            assert verify(SECRET, delivery.body, delivery.headers["x-lanfax-signature"])
            meta = json.loads(delivery.part("metadata"))
            assert meta["job_id"] == rx_id and meta["page_count"] == 3
            assert meta["device_id"] == device and meta["tsid"] == rx.remote_ident
            assert delivery.part("document") == tiff

    try:
        run(body(), timeout=60)
    finally:
        smtp.stop()
        hook.stop()


def test_a_failing_route_is_retried_with_backoff_until_fixed(
    tmp_path: Path, fax_tiff: Path
) -> None:
    hook = WebhookReceiver(port=free_port())  # not started: connection refused
    clock = ManualClock()

    async def body() -> None:
        async with running_service(tmp_path, TOML, clock=clock) as svc:
            device = await _receiver_line(svc)
            await _webhook(svc, device, hook.url)
            rx_id = await _receive(svc, fax_tiff)
            job = await wait_job(svc, rx_id, _routed)
            assert job.queue_status is QueueStatus.ROUTING and job.job_type is JobType.ROUTING
            assert job.attempts == 1
            assert job.next_attempt_at == clock.now() + timedelta(seconds=60)
            assert "routing failed: Post to a web hook" in job.status_text
            state: dict[str, Any] = job.extra["routing"]
            assert state["done"] == [FOLDER_GUID] and state["retry"] == [WEBHOOK_GUID]
            assert len(list(svc.spool.inbox.glob("*.tif"))) == 1
            events = [e for e in await svc.events_after(0) if e.job_id == rx_id]
            assert EventId.ROUTING in [e.event_id for e in events]

            # Still down at the first retry: the delay doubles.
            clock.advance(61)
            svc.wake()
            job = await wait_job(svc, rx_id, lambda j: j.attempts == 2)
            assert job.next_attempt_at == clock.now() + timedelta(seconds=120)

            hook.start()  # the route is fixed
            clock.advance(121)
            svc.wake()
            job = await wait_status(svc, rx_id, QueueStatus.COMPLETED)
            assert job.job_type is JobType.RECEIVE and "routed to" in job.status_text
            assert len(hook.delivered) == 1
            # The folder route ran once only: only the failed method was retried.
            assert len(list(svc.spool.inbox.glob("*.tif"))) == 1
            await svc.routing.idle()  # the manifest goes just after the outcome's commit
            assert not list((svc.settings.data_dir / "routing").glob("job-*.json"))

    try:
        run(body(), timeout=60)
    finally:
        hook.stop()


def test_a_route_no_retry_cures_waits_for_a_person(tmp_path: Path, fax_tiff: Path) -> None:
    clock = ManualClock()

    async def body() -> None:
        async with running_service(tmp_path, TOML, clock=clock) as svc:
            device = await _receiver_line(svc)
            await svc.routing.set_info(device, PRINT_GUID, {"printer": "office"})
            await svc.routing.enable(device, PRINT_GUID, True)
            rx_id = await _receive(svc, fax_tiff)
            job = await wait_job(svc, rx_id, _routed)
            assert job.queue_status is QueueStatus.ROUTING
            assert job.next_attempt_at is None and job.extra["routing"]["held"] is True
            assert "waiting for an administrator" in job.status_text
            assert "cups-client" in job.extra["routing"]["errors"][PRINT_GUID]
            clock.advance(timedelta(hours=5))
            svc.wake()
            assert (await svc.get_job(rx_id)).attempts == 1
            # The administrator turns printing off on the line: the job is routed again.
            await svc.routing.enable(device, PRINT_GUID, False)
            job = await wait_status(svc, rx_id, QueueStatus.COMPLETED)
            assert job.job_type is JobType.RECEIVE
            assert len(list(svc.spool.inbox.glob("*.tif"))) == 1

    run(body(), timeout=60)


def test_retries_stop_after_max_attempts_and_a_manual_retry_runs_again(
    tmp_path: Path, fax_tiff: Path
) -> None:
    hook = WebhookReceiver(port=free_port())
    clock = ManualClock()

    async def body() -> None:
        async with running_service(tmp_path, TOML, clock=clock) as svc:
            device = await _receiver_line(svc)
            await _webhook(svc, device, hook.url)
            rx_id = await _receive(svc, fax_tiff)
            for n in (1, 2, 3):
                job = await wait_job(svc, rx_id, lambda j, n=n: j.attempts == n)  # type: ignore[misc]
                clock.advance(timedelta(hours=1))
                svc.wake()
            assert job.next_attempt_at is None and job.extra["routing"]["held"]
            hook.start()
            await svc.routing.retry_now(rx_id)
            job = await wait_status(svc, rx_id, QueueStatus.COMPLETED)
            assert len(hook.delivered) == 1

    try:
        run(body(), timeout=60)
    finally:
        hook.stop()


def test_an_administrator_may_delete_a_routing_job(tmp_path: Path, fax_tiff: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path, TOML) as svc:
            device = await _receiver_line(svc)
            await svc.routing.set_info(device, PRINT_GUID, {"printer": "office"})
            await svc.routing.enable(device, PRINT_GUID, True)
            rx_id = await _receive(svc, fax_tiff)
            job = await wait_job(svc, rx_id, _routed)
            received = svc.spool.resolve(job.document_path)
            await svc.delete(rx_id)
            try:
                await svc.get_job(rx_id)
            except NotFound:
                pass
            else:
                raise AssertionError("the routing job is still there")
            assert not received.exists()

    run(body(), timeout=60)


def test_routing_settings_are_validated(tmp_path: Path) -> None:
    from lanfax.model.errors import ConfigError
    from lanfax.service.routing import parse_routing_settings

    ok = parse_routing_settings(
        {"allowed_roots": ["/srv/fax"], "policy": {"block": ["0900*"]}, "builtin": {}}
    )
    assert ok.allowed_roots == (Path("/srv/fax"),) and ok.policy.block.patterns == ("0900*",)
    for bad in (
        {"allowed_roots": ["relative"]},
        {"retry_base": -1},
        {"max_attempts": 0},
        {"policy": {"block": ["*"]}},
        {"colour": "red"},
    ):
        try:
            parse_routing_settings(bad, source="t.toml")
        except ConfigError as exc:
            assert exc.hint and "t.toml: routing" in exc.message
        else:
            raise AssertionError(f"{bad} was accepted")


def test_a_blocked_caller_is_never_answered(tmp_path: Path, fax_tiff: Path) -> None:
    toml = '[routing]\npolicy = {block = ["20?"]}\n'

    async def body() -> None:
        async with running_service(tmp_path, toml) as svc:
            device = await _receiver_line(svc)
            (job,) = await submit(svc, fax_tiff, "201")
            done = await wait_status(svc, job.job_id, QueueStatus.RETRYING, QueueStatus.FAILED)
            assert done.status_text.startswith("no answer")
            events = [e for e in await svc.events_after(0) if e.device_id == device]
            blocked = [e for e in events if e.event_id is EventId.CALL_BLACKLISTED]
            assert len(blocked) == 1 and "block list" in blocked[0].detail["reason"]
            assert EventId.ANSWERED not in [e.event_id for e in events]
            received = [j for j in await svc.list_jobs(JobQuery()) if j.job_id != job.job_id]
            assert received == []

    run(body(), timeout=60)


def test_a_late_notice_of_a_routed_fax_does_not_route_it_again(
    tmp_path: Path, fax_tiff: Path
) -> None:
    """The receiver tells the router about a fax after its own clean-up (end of job, idle
    event), by which time the commit may have woken the router and the fax been routed: its
    old copy of the job (still ROUTING) must not make the router route it again. Seen under
    load as the same fax stored in the inbox dozens of times."""
    import asyncio
    import dataclasses

    async def body() -> None:
        async with running_service(tmp_path, TOML) as svc:
            await _receiver_line(svc)
            rx_id = await _receive(svc, fax_tiff)
            rx = await wait_job(svc, rx_id, lambda j: j.is_final, timeout=20)
            assert rx.queue_status is QueueStatus.COMPLETED
            assert len(list(svc.spool.inbox.glob("*.tif"))) == 1
            # The receiver's copy: still ROUTING, no routing done yet.
            extra = {k: v for k, v in rx.extra.items() if k != "routing"}
            stale = dataclasses.replace(
                rx, queue_status=QueueStatus.ROUTING, job_type=JobType.RECEIVE, extra=extra
            )
            svc.routing.received(stale)  # the receiver's late notice, with its old copy
            for _ in range(40):  # 2 s: before the fix a copy a few milliseconds
                await asyncio.sleep(0.05)
                assert len(list(svc.spool.inbox.glob("*.tif"))) == 1
            assert (await svc.routing.ctx.refresh_job(rx_id)) == rx

    run(body(), timeout=60)
