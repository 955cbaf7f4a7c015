"""Store benchmark: add_jobs throughput, list_jobs page latency, events_after latency.

    .venv/bin/python bench/store.py                 # SQLite in a temporary directory
    .venv/bin/python bench/store.py --url postgresql+psycopg://postgres@127.0.0.1:5432/bench
    .venv/bin/python bench/store.py --url memory://      # the in-memory store (#17)

Prints one table. Numbers depend on the disk (every SQLite commit is an fsync: WAL with
synchronous=FULL) and on what else the machine is doing; nothing here asserts a time.
The target from the design: a 100-job page of a 100,000-job queue well under 50 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lanfax.model.codes import EventId, JobType, QueueStatus
from lanfax.model.events import NewEvent
from lanfax.model.jobs import Job
from lanfax.store import JobQuery, open_store
from lanfax.store.sql import SqlStore

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
STATUSES = [QueueStatus.COMPLETED] * 8 + [QueueStatus.PENDING, QueueStatus.FAILED]


def job(i: int) -> Job:
    return Job(
        job_id=0,
        job_type=JobType.SEND,
        queue_status=STATUSES[i % len(STATUSES)],
        submitted_at=T0 + timedelta(seconds=i),
        user_name=f"user{i % 50}",
        recipient_number=f"+4930{i:07d}",
        recipient_name=f"Recipient {i}",
        document_name="quarterly report.pdf",
        broadcast_id=f"b{i // 10}",
        extra={"note": "benchmark"},
    )


def percentiles(samples: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return q[49] * 1000, q[98] * 1000


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def add_rate(store: SqlStore, threads: int, per_thread: int) -> float:
    def work() -> None:
        for i in range(per_thread):
            store.add_jobs([job(i)], [NewEvent(EventId.JOB_QUEUED, job_id=0)])

    ts = [threading.Thread(target=work) for _ in range(threads)]
    t = time.perf_counter()
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    return threads * per_thread / (time.perf_counter() - t)


def fill(store: SqlStore, total: int) -> None:
    have = store.count_jobs(JobQuery())
    for start in range(have, total, 2000):
        store.add_jobs([job(i) for i in range(start, min(total, start + 2000))])


def list_latency(store: SqlStore, rng: random.Random, n: int) -> dict[str, tuple[float, float]]:
    top = store.list_jobs(JobQuery(limit=1, descending=True))[0].job_id
    pending = frozenset({QueueStatus.PENDING})
    cases: dict[str, Callable[[], object]] = {
        "list_jobs newest 100": lambda: store.list_jobs(JobQuery(limit=100, descending=True)),
        "list_jobs keyset 100": lambda: store.list_jobs(
            JobQuery(limit=100, after_id=rng.randrange(top))
        ),
        "list_jobs status=pending 100": lambda: store.list_jobs(
            JobQuery(limit=100, statuses=pending, before_id=rng.randrange(top) + 1)
        ),
        "list_jobs user 100": lambda: store.list_jobs(
            JobQuery(limit=100, user_name=f"user{rng.randrange(50)}", descending=True)
        ),
        "get_job": lambda: store.get_job(rng.randrange(1, top + 1)),
    }
    return {name: percentiles(timed(fn, n)) for name, fn in cases.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="database URL (default: SQLite in a temporary directory)")
    ap.add_argument("--samples", type=int, default=200)
    args = ap.parse_args()
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        rows: list[tuple[str, str, str]] = []
        with open_store(url) as store:
            rows.append(("add_jobs 1 job, 1 thread", f"{add_rate(store, 1, 300):,.0f} jobs/s", ""))
            rows.append(("add_jobs 1 job, 8 threads", f"{add_rate(store, 8, 60):,.0f} jobs/s", ""))
            t = time.perf_counter()
            store.add_jobs([job(i) for i in range(1000)])
            rows.append(
                ("add_jobs 1000-job batch", f"{1000 / (time.perf_counter() - t):,.0f} jobs/s", "")
            )
            for total in (1_000, 100_000):
                fill(store, total)
                for name, (p50, p99) in list_latency(store, rng, args.samples).items():
                    rows.append((f"{name} ({total:,} jobs)", f"{p50:.2f} ms", f"{p99:.2f} ms"))
            for i in range(0, 10_000, 1000):
                store.append_events(
                    [NewEvent(EventId.JOB_CHANGED, job_id=j + 1) for j in range(i, i + 1000)]
                )
            last = store.last_event_seq()
            for limit in (100, 1000):
                p50, p99 = percentiles(
                    timed(lambda: store.events_after(rng.randrange(last), limit), args.samples)  # noqa: B023
                )
                rows.append((f"events_after limit {limit}", f"{p50:.2f} ms", f"{p99:.2f} ms"))
            p50, p99 = percentiles(timed(lambda: store.events_after(last), args.samples))
            rows.append(("events_after at the head (poll)", f"{p50:.2f} ms", f"{p99:.2f} ms"))
        print(f"store benchmark: {store.url}")
        w = max(len(r[0]) for r in rows)
        print(f"{'operation':<{w}}  {'p50 / rate':>14}  {'p99':>10}")
        print("-" * (w + 28))
        for name, a, b in rows:
            print(f"{name:<{w}}  {a:>14}  {b:>10}")


if __name__ == "__main__":
    main()
