"""The service's metrics (issue #18), in the Prometheus text format: ``GET /metrics``.

One :class:`ServiceMetrics` per service, with its own registry (never prometheus-client's
process-wide default one: a test process runs several services, and every series here
belongs to one of them). Two kinds of figures:

* gauges read from the running service when scraped (queue depth by state, calls active by
  device, event-stream clients): nothing to keep in step, so they cannot drift;
* counters and histograms fed as things happen (pages sent and received, failures by class,
  conversion and submission latency): they count what *this process* saw since it started, as
  Prometheus counters do (``rate()`` copes with the reset at a restart).

Pages and failures are read off the job changes the service commits (``ctx.on_jobs_changed``):
a job's ``pages_done`` growing is pages sent (a send) or received (a receive); a send whose
``attempts`` grew with a ``last_failure`` is a failed call of that class; a receive that became
FAIL_RECEIVE is a failed receive. Jobs changed before the metrics were attached (start-up
recovery) are the baseline, not counted.

Every figure is this node's (#18: each node of a cluster serves its own ``/metrics``; the
``node`` label of ``lanfax_node_info`` says which).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from lanfax.model.codes import FINAL_QUEUE_STATES, JobType, QueueStatus
from lanfax.model.jobs import Job

if TYPE_CHECKING:
    from lanfax.service.core import FaxService

__all__ = ["ServiceMetrics", "parse_families"]

#: Conversion of a submission's documents: from a TIFF that is moved as it is (milliseconds)
#: to a large office document (a minute or two; the limit is conversion_timeout_s).
CONVERSION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
#: A whole submission, from the request's documents staged to "queued" (conversion included).
SUBMISSION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)

_UNFINISHED = [s for s in QueueStatus if s not in FINAL_QUEUE_STATES]
_RECEIVES = frozenset({JobType.RECEIVE, JobType.FAIL_RECEIVE})


@dataclass(slots=True)
class _Seen:
    """What the metrics last saw of a job (to count differences, never totals twice)."""

    pages_done: int
    attempts: int
    job_type: JobType


class _Live(Collector):
    """The gauges read from the service at scrape time."""

    def __init__(self, service: FaxService, node: Callable[[], str]) -> None:
        self._service = service
        self._node = node

    def collect(self) -> Iterable[Metric]:
        svc = self._service
        from lanfax import __version__

        info = GaugeMetricFamily(
            "lanfax_node_info", "This lanfax node (always 1)", labels=["node", "version"]
        )
        info.add_metric([self._node(), __version__], 1)
        yield info
        if not svc.running:
            return  # not started yet, or stopped: no queue, no devices to read
        depth = GaugeMetricFamily(
            "lanfax_queue_jobs",
            "Unfinished jobs by queue state (sends waiting, in progress, receives routing ...)",
            labels=["state"],
        )
        counts = dict.fromkeys(_UNFINISHED, 0)
        for job in list(svc.ctx.unfinished.values()):
            if job.queue_status in counts:
                counts[job.queue_status] += 1
        for state, n in counts.items():
            depth.add_metric([state.name.lower()], n)
        yield depth
        calls = GaugeMetricFamily(
            "lanfax_calls_active",
            "1 while a call (send or receive) holds the device, else 0",
            labels=["device", "name", "direction"],
        )
        for device_id in sorted(svc.devices.devices):
            dev = svc.devices.devices[device_id]
            direction = ""
            if dev.busy:
                direction = "receive" if dev.live.job_type in _RECEIVES else "send"
            calls.add_metric([str(device_id), dev.port.device_name, direction], int(dev.busy))
        yield calls
        clients = GaugeMetricFamily(
            "lanfax_event_stream_clients",
            "Clients following the event stream (/api/v1/events, SSE or WebSocket)",
        )
        clients.add_metric([], svc.ctx.bus.subscriber_count)
        yield clients
        yield from _group_commit(svc)


def _group_commit(svc: FaxService) -> Iterator[Metric]:
    """#19: the SQL store's group commit of submissions: its commits and the submissions
    (add_jobs calls) they held; submissions / commits is how many shared one fsync."""
    store = svc.ctx.store
    commits = getattr(store, "group_commits", None)
    held = getattr(store, "group_submissions", None)
    if not isinstance(commits, int) or not isinstance(held, int):
        return  # the memory store has no commits to count
    family = CounterMetricFamily(
        "lanfax_store_group_commits", "Commits of submissions (each one fsync) by the store"
    )
    family.add_metric([], commits)
    yield family
    family = CounterMetricFamily(
        "lanfax_store_group_submissions",
        "Submissions committed by those commits (several share one when they arrive together)",
    )
    family.add_metric([], held)
    yield family


class ServiceMetrics:
    """The metrics of one running service; :meth:`render` is the body of ``/metrics``."""

    def __init__(self, service: FaxService, node: Callable[[], str] = lambda: "main") -> None:
        self.registry = CollectorRegistry(auto_describe=False)  # collect() needs a started service
        self.pages_sent = Counter(
            "lanfax_pages_sent",
            "Pages the far end confirmed, sent by this node",
            registry=self.registry,
        )
        self.pages_received = Counter(
            "lanfax_pages_received",
            "Pages received and stored by this node",
            registry=self.registry,
        )
        self.failures = Counter(
            "lanfax_failures",
            "Failed calls by direction and class (send: the retry class, busy, no_answer ...;"
            " receive: how the receive ended)",
            ["direction", "class"],
            registry=self.registry,
        )
        self.conversion_seconds = Histogram(
            "lanfax_conversion_seconds",
            "Time to turn one submission's documents into the fax TIFF",
            buckets=CONVERSION_BUCKETS,
            registry=self.registry,
        )
        self.submission_seconds = Histogram(
            "lanfax_submission_seconds",
            "Time from a submission's documents staged to its jobs committed (queued)",
            buckets=SUBMISSION_BUCKETS,
            registry=self.registry,
        )
        # #18: calls of dead nodes this node settled after their lease expired.
        self.lease_takeovers = Counter(
            "lanfax_lease_takeovers",
            "Jobs on a call of a node whose lease expired, taken over and settled by this node",
            registry=self.registry,
        )
        self.registry.register(_Live(service, node))
        self._seen: dict[int, _Seen] = {}

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition and its Content-Type, in the format the ``Accept`` header asks for:
        OpenMetrics when the scraper asks for it, else the Prometheus text format."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type

    # -- fed by the service ----------------------------------------------------------------

    def baseline(self, jobs: Iterable[Job]) -> None:
        """The jobs as they are when the metrics start: nothing of them is counted."""
        for job in jobs:
            self._seen[job.job_id] = _Seen(job.pages_done, job.attempts, job.job_type)

    def jobs_changed(self, jobs: Sequence[Job]) -> None:
        """A listener of ``ctx.on_jobs_changed``: count what each change added."""
        for job in jobs:
            before = self._seen.get(job.job_id)
            if before is None:
                # New (added: 0 pages, 0 attempts) or final and changed again (a restart):
                # only what happens from now on counts.
                # A receive added as FAIL_RECEIVE (refused after answering) failed too.
                kind = JobType.RECEIVE if job.job_type in _RECEIVES else job.job_type
                before = _Seen(0, 0, kind) if _fresh(job) else _seen_of(job)
            grown = job.pages_done - before.pages_done
            if grown > 0:
                counter = self.pages_received if job.job_type in _RECEIVES else self.pages_sent
                counter.inc(grown)
            if (
                job.job_type is not JobType.RECEIVE
                and job.job_type is not JobType.FAIL_RECEIVE
                and job.attempts > before.attempts
                and job.last_failure is not None
            ):
                self.failures.labels("send", job.last_failure.value).inc()
            if job.job_type is JobType.FAIL_RECEIVE and before.job_type is not JobType.FAIL_RECEIVE:
                why = job.last_failure.value if job.last_failure else job.device_status.name
                self.failures.labels("receive", why.lower()).inc()
            if job.is_final:
                self._seen.pop(job.job_id, None)
            else:
                self._seen[job.job_id] = _seen_of(job)

    def observe_conversion(self, seconds: float) -> None:
        self.conversion_seconds.observe(max(seconds, 0.0))

    def observe_submission(self, seconds: float) -> None:
        self.submission_seconds.observe(max(seconds, 0.0))


def _fresh(job: Job) -> bool:
    return job.pages_done == 0 and job.attempts == 0


def _seen_of(job: Job) -> _Seen:
    return _Seen(job.pages_done, job.attempts, job.job_type)


def parse_families(text: str) -> Iterator[tuple[str, dict[str, str], float]]:
    """Every sample of an exposition as (name, labels, value): for tests and ``lanfax``
    tooling that read a scrape (prometheus-client's own parser does the parsing)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            yield sample.name, dict(sample.labels), float(sample.value)
