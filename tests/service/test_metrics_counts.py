"""How /metrics counts pages and failures from the job changes the service commits (#18).

Driven directly with job snapshots, as the service's ``on_jobs_changed`` hands them over; the
scrape of a real server is in tests/api/test_metrics.py.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

from lanfax.model.codes import DeviceStatus, FailureClass, JobType, QueueStatus
from lanfax.model.jobs import Job
from lanfax.service.core import FaxService
from lanfax.service.metrics import ServiceMetrics, parse_families
from lanfax.service.settings import ServiceSettings

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _metrics(tmp_path: Path) -> ServiceMetrics:
    return ServiceMetrics(FaxService(ServiceSettings(data_dir=tmp_path)))


def _samples(m: ServiceMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, content_type = m.render()
    assert content_type.startswith("text/plain")
    return {(n, tuple(sorted(ls.items()))): v for n, ls, v in parse_families(body.decode())}


def _send(**kw: object) -> Job:
    return dataclasses.replace(Job(1, JobType.SEND, QueueStatus.PENDING, T0, page_count=3), **kw)


def test_pages_count_what_each_change_added(tmp_path: Path) -> None:
    m = _metrics(tmp_path)
    job = _send()
    m.jobs_changed([job])
    job = dataclasses.replace(job, queue_status=QueueStatus.IN_PROGRESS, pages_done=1)
    m.jobs_changed([job])
    m.jobs_changed([job])  # the same snapshot again (a status-text change): nothing new
    job = dataclasses.replace(job, pages_done=3, queue_status=QueueStatus.COMPLETED, attempts=1)
    m.jobs_changed([job])
    s = _samples(m)
    assert s[("lanfax_pages_sent_total", ())] == 3
    assert s[("lanfax_pages_received_total", ())] == 0
    # Not started: only the node's identity, no queue or device series.
    assert s[("lanfax_node_info", (("node", "main"), ("version", _version())))] == 1
    assert not any(n == "lanfax_queue_jobs" for n, _ in s)


def test_a_retry_after_a_failure_counts_the_failure_once_and_only_new_pages(
    tmp_path: Path,
) -> None:
    m = _metrics(tmp_path)
    job = _send(pages_done=0)
    m.jobs_changed([job])
    job = dataclasses.replace(
        job,
        queue_status=QueueStatus.RETRYING,
        pages_done=1,
        attempts=1,
        last_failure=FailureClass.DISCONNECTED,
    )
    m.jobs_changed([job])
    m.jobs_changed([dataclasses.replace(job, status_text="waiting")])  # no new attempt
    job = dataclasses.replace(job, queue_status=QueueStatus.IN_PROGRESS)
    m.jobs_changed([job])
    job = dataclasses.replace(
        job, queue_status=QueueStatus.COMPLETED, pages_done=3, attempts=2, last_failure=None
    )
    m.jobs_changed([job])
    s = _samples(m)
    assert s[("lanfax_pages_sent_total", ())] == 3
    assert s[("lanfax_failures_total", (("class", "disconnected"), ("direction", "send")))] == 1


def test_the_baseline_is_not_counted_and_a_restart_counts_from_zero(tmp_path: Path) -> None:
    m = _metrics(tmp_path)
    # Loaded at start with 2 pages already sent (before a crash): not this process's pages.
    job = _send(queue_status=QueueStatus.RETRYING, pages_done=2, attempts=1)
    m.baseline([job])
    m.jobs_changed([dataclasses.replace(job, pages_done=3, queue_status=QueueStatus.COMPLETED)])
    assert _samples(m)[("lanfax_pages_sent_total", ())] == 1
    # A final job restarted by a person: it starts again from page 0; its pages count anew.
    restarted = dataclasses.replace(job, queue_status=QueueStatus.PENDING, pages_done=0)
    m.jobs_changed([restarted])
    m.jobs_changed([dataclasses.replace(restarted, pages_done=2)])
    assert _samples(m)[("lanfax_pages_sent_total", ())] == 3


def test_receives_count_pages_received_and_a_failed_receive(tmp_path: Path) -> None:
    m = _metrics(tmp_path)
    recv = Job(7, JobType.RECEIVE, QueueStatus.IN_PROGRESS, T0)
    m.jobs_changed([recv])
    recv = dataclasses.replace(recv, pages_done=2)
    m.jobs_changed([recv])
    failed = dataclasses.replace(
        recv,
        job_type=JobType.FAIL_RECEIVE,
        queue_status=QueueStatus.FAILED,
        device_status=DeviceStatus.DISCONNECTED,
        pages_done=3,
    )
    m.jobs_changed([failed])
    m.jobs_changed([failed])  # final and seen again: not a second failure
    # A call refused after answering is added as FAIL_RECEIVE directly: a failure too.
    refused = Job(
        8,
        JobType.FAIL_RECEIVE,
        QueueStatus.FAILED,
        T0,
        device_status=DeviceStatus.CALL_BLACKLISTED,
    )
    m.jobs_changed([refused])
    s = _samples(m)
    assert s[("lanfax_pages_received_total", ())] == 3
    assert s[("lanfax_pages_sent_total", ())] == 0
    fails = {ls: v for (n, ls), v in s.items() if n == "lanfax_failures_total"}
    assert fails == {
        (("class", "disconnected"), ("direction", "receive")): 1,
        (("class", "call_blacklisted"), ("direction", "receive")): 1,
    }


def _version() -> str:
    from lanfax import __version__

    return __version__
