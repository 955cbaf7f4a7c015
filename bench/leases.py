"""What leases cost a send (issue #18): claim + fenced outcome beside the unfenced writes.

A send makes two writes about its call that leases change: the dispatch (IN_PROGRESS) and the
outcome. Without leases they were two ``update_jobs``; with leases the dispatch *is* the claim
(``store.leases.claim`` with the DISPATCH change: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL)
and the outcome is a fenced write that gives the lease back (``update_fenced(...,
release=True)``). Both paths run on the same store in the same run, on fresh jobs, one job at a
time (as the dispatcher writes them), and the figure is per job: CPU of this process (the
client side of the database: SQLAlchemy, the codec, the driver) and wall time.

    .venv/bin/python bench/leases.py                      # SQLite and PostgreSQL, 300 jobs
    .venv/bin/python bench/leases.py --stores sqlite --jobs 1000

PostgreSQL is a private cluster started here (tests/support/pg.py), skipped when it cannot run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.pg import PgServer, pg_unavailable

from lanfax.model.codes import EventId, JobType, QueueStatus
from lanfax.model.events import NewEvent
from lanfax.model.jobs import Job
from lanfax.model.transitions import JobPatch, Trigger
from lanfax.store import JobChange, open_store
from lanfax.store.leases import open_leases

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TTL = timedelta(seconds=30)


def _dial(job: Job) -> JobChange:
    return JobChange(
        job.job_id,
        Trigger.DISPATCH,
        JobPatch(started_at=T0, device_id=1),
        events=(NewEvent(EventId.DIALING, 1, job.job_id, {"number": job.recipient_number}),),
    )


def _outcome(job_id: int) -> JobChange:
    return JobChange(
        job_id,
        Trigger.DELIVER,
        JobPatch(completed_at=T0, attempts=1, pages_done=1),
        events=(NewEvent(EventId.COMPLETED, 1, job_id, {"pages": 1}),),
    )


def measure(url: str, jobs: int, leased: bool) -> tuple[float, float]:
    """(CPU ms, wall ms) per job of the dispatch + outcome writes."""
    store = open_store(url)
    store.open()
    try:
        added = store.add_jobs(
            [
                Job(0, JobType.SEND, QueueStatus.PENDING, T0, recipient_number=f"5{i:06d}")
                for i in range(jobs)
            ]
        )
        leases = open_leases(store)
        cpu, wall = time.process_time(), time.perf_counter()
        for job in added:
            if leased:
                ((_j, lease),) = leases.claim(
                    "bench", T0, TTL, job_ids=[job.job_id], limit=1, change=_dial
                )
                leases.update_fenced([(lease, _outcome(job.job_id))], release=True)
            else:
                store.update_jobs([_dial(job)])
                store.update_jobs([_outcome(job.job_id)])
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        store.close()
    return cpu / jobs * 1e3, wall / jobs * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=300)
    ap.add_argument("--stores", nargs="+", default=["sqlite", "postgresql"])
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds per path")
    args = ap.parse_args()
    pg: PgServer | None = None
    print(f"{args.jobs} jobs, dispatch + outcome per job (one job at a time)")
    print(f"{'store':<11} {'path':<24} {'CPU ms/job':>11} {'wall ms/job':>12}")
    try:
        for kind in args.stores:
            if kind == "postgresql":
                why = pg_unavailable()
                if why is not None:
                    print(f"{kind:<11} skipped: {why}")
                    continue
                pg = pg or PgServer()
            for n in range(args.rounds):
                for leased in (False, True):
                    if kind == "sqlite":
                        url = f"sqlite:///{tempfile.mkdtemp(prefix='lanfax-bench-')}/b.db"
                    else:
                        assert pg is not None
                        url = _fresh_pg(pg, f"leases_{n}_{int(leased)}")
                    cpu, wall = measure(url, args.jobs, leased)
                    path = "claim + fenced outcome" if leased else "update_jobs (no lease)"
                    print(f"{kind:<11} {path:<24} {cpu:>11.2f} {wall:>12.2f}")
    finally:
        if pg is not None:
            pg.close()


def _fresh_pg(pg: PgServer, name: str) -> str:
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", port=pg.port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return pg.url.rsplit("/", 1)[0] + f"/{name}"


if __name__ == "__main__":
    main()
