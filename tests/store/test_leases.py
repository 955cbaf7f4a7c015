"""Leases, fenced writes and takeovers (issue #18) on SQLite and on a real PostgreSQL.

"Nodes" here are separate stores opened on one database (each its own connections and write
lock, as two processes would have), so the claims race in the database itself: on PostgreSQL
through ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from lanfax.model.clock import ManualClock
from lanfax.model.codes import NO_JOB, EventId, JobType, QueueStatus
from lanfax.model.errors import Conflict
from lanfax.model.events import NewEvent
from lanfax.model.jobs import Job
from lanfax.model.transitions import JobPatch, Trigger
from lanfax.store import JobChange, open_store
from lanfax.store.leases import Lease, SqlLeases
from lanfax.store.sql import SqlStore

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TTL = timedelta(seconds=30)
# The SQL store's leases and fencing (#18): not part of the store contract the memory store
# keeps (conftest.py runs the ``store`` fixture on memory too, #17).
pytestmark = pytest.mark.sql_only

#: Leases are the SQL store's (several processes on one database); the in-memory store is one
#: process and has none.
pytestmark = pytest.mark.sql_only


def _job(i: int, **kw: object) -> Job:
    job = Job(0, JobType.SEND, QueueStatus.PENDING, T0, recipient_number=f"555{i:04d}")
    return job.replace(**kw) if kw else job


def _dial(lease: Lease) -> tuple[Lease, JobChange]:
    """The DISPATCH write a node makes once it holds the job."""
    change = JobChange(
        lease.job_id,
        Trigger.DISPATCH,
        JobPatch(started_at=T0, device_id=1),
        expect=frozenset({QueueStatus.PENDING, QueueStatus.RETRYING, QueueStatus.NO_LINE}),
        events=(NewEvent(EventId.DIALING, 1, 0),),
    )
    return lease, change


def _deliver(lease: Lease) -> tuple[Lease, JobChange]:
    change = JobChange(
        lease.job_id,
        Trigger.DELIVER,
        JobPatch(completed_at=T0, attempts=1),
        expect=frozenset({QueueStatus.IN_PROGRESS}),
        events=(NewEvent(EventId.COMPLETED, 1, 0),),
    )
    return lease, change


def test_a_claim_holds_a_job_until_its_lease_expires(store: SqlStore) -> None:
    leases = SqlLeases(store)
    a, b, later = store.add_jobs(
        [_job(1), _job(2), _job(3, next_attempt_at=T0 + timedelta(seconds=50))]
    )
    got = leases.claim("fax1", T0, TTL)
    assert [(j.job_id, lz.node, lz.epoch) for j, lz in got] == [
        (a.job_id, "fax1", 1),
        (b.job_id, "fax1", 1),
    ]  # the job whose retry time is ahead is not due
    assert leases.claim("fax2", T0 + timedelta(seconds=29), TTL) == []  # held
    assert leases.renew("fax1", T0 + timedelta(seconds=20), TTL) == 2  # now until T0+50 s
    assert leases.claim("fax2", T0 + timedelta(seconds=45), TTL) == []
    # fax1 stops renewing: after the lease, fax2 may claim (a new epoch), and the later job
    # has come due meanwhile.
    taken = leases.claim("fax2", T0 + timedelta(seconds=51), TTL)
    assert [(j.job_id, lz.epoch) for j, lz in taken] == [
        (a.job_id, 2),
        (b.job_id, 2),
        (later.job_id, 1),
    ]
    assert leases.renew("fax1", T0 + timedelta(seconds=52), TTL) == 0  # not fax1's now
    assert leases.held_by("fax2") == [(a.job_id, 2), (b.job_id, 2), (later.job_id, 1)]


def test_only_the_chosen_jobs_are_claimed(store: SqlStore) -> None:
    leases = SqlLeases(store)
    jobs = store.add_jobs([_job(i) for i in range(5)])
    chosen = [jobs[3].job_id, jobs[1].job_id]
    got = leases.claim("fax1", T0, TTL, job_ids=chosen)
    assert sorted(j.job_id for j, _ in got) == sorted(chosen)
    assert leases.claim("fax1", T0, TTL, job_ids=[]) == []
    # A job that is not dispatchable (paused) is not claimed even when chosen.
    store.update_jobs([JobChange(jobs[0].job_id, Trigger.PAUSE)])
    assert leases.claim("fax2", T0, TTL, job_ids=[jobs[0].job_id]) == []


def test_an_outcome_is_written_only_under_the_lease_that_holds_the_job(store: SqlStore) -> None:
    leases = SqlLeases(store)
    (job,) = store.add_jobs([_job(1)])
    ((_, mine),) = leases.claim("fax1", T0, TTL)
    (dialled,), (ev,) = leases.update_fenced([_dial(mine)])
    assert dialled.queue_status is QueueStatus.IN_PROGRESS
    assert (ev.event_id, ev.job_id) == (EventId.DIALING, job.job_id)
    # fax1 stalls past its lease; fax2 takes the call over (the owner looks dead).
    (over,) = leases.take_over("fax2", T0 + timedelta(seconds=31), TTL)
    assert (over.previous_owner, over.lease.epoch, over.job.job_id) == ("fax1", 2, job.job_id)
    # fax1 comes back and tries to write the outcome of a call it no longer owns: refused,
    # and nothing (job, events) is written.
    seq = store.last_event_seq()
    with pytest.raises(Conflict, match=r"the lease on job \d+ was lost: node 'fax1' held it at"):
        leases.update_fenced([_deliver(mine)])
    assert store.get_job(job.job_id).queue_status is QueueStatus.IN_PROGRESS  # type: ignore[union-attr]
    assert store.last_event_seq() == seq
    assert not leases.release(mine)
    # The new owner settles it.
    (done,), _ = leases.update_fenced([_deliver(over.lease)])
    assert done.queue_status is QueueStatus.COMPLETED
    assert leases.release(over.lease)
    assert leases.held_by("fax2") == []


def test_a_fenced_batch_is_all_or_nothing(store: SqlStore) -> None:
    leases = SqlLeases(store)
    store.add_jobs([_job(1), _job(2)])
    (_, first), (_, second) = leases.claim("fax1", T0, TTL)
    stale = Lease(second.job_id, "fax1", second.epoch - 1, second.expires_at)
    with pytest.raises(Conflict):
        leases.update_fenced([_dial(first), _dial(stale)])
    assert store.get_job(first.job_id).queue_status is QueueStatus.PENDING  # type: ignore[union-attr]
    with pytest.raises(Conflict, match="is pending, not in_progress"):  # the change's own guard
        leases.update_fenced([_deliver(first)])


def test_a_takeover_skips_live_leases_and_own_jobs(store: SqlStore) -> None:
    leases = SqlLeases(store)
    store.add_jobs([_job(1), _job(2)])
    (_, a), (_, b) = leases.claim("fax1", T0, TTL)
    leases.update_fenced([_dial(a), _dial(b)])
    assert leases.take_over("fax2", T0 + timedelta(seconds=10), TTL) == []  # alive
    assert leases.take_over("fax1", T0 + timedelta(seconds=40), TTL) == []  # its own
    assert len(leases.take_over("fax2", T0 + timedelta(seconds=40), TTL)) == 2


def test_concurrent_claims_on_postgresql_take_each_job_once(pg_cluster) -> None:  # type: ignore[no-untyped-def]
    """Four nodes claim 200 jobs at once in batches of 7: FOR UPDATE SKIP LOCKED gives every
    job to exactly one of them, and none waits for another's claim."""
    url = pg_cluster.url(pg_cluster.create_database())
    clock = ManualClock(T0)
    stores = [open_store(url, clock=clock) for _ in range(4)]
    try:
        stores[0].add_jobs([_job(i) for i in range(200)])
        claimed: Counter[int] = Counter()
        by_node: Counter[str] = Counter()
        lock = threading.Lock()
        errors: list[BaseException] = []
        start = threading.Barrier(4)

        def node(i: int) -> None:
            leases = SqlLeases(stores[i])
            name = f"fax{i}"
            try:
                start.wait(30)
                while got := leases.claim(name, T0, TTL, limit=7):
                    leases.update_fenced([_dial(lz) for _, lz in got])
                    with lock:
                        claimed.update(j.job_id for j, _ in got)
                        by_node[name] += len(got)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=node, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        assert len(claimed) == 200 and set(claimed.values()) == {1}
        assert sum(by_node.values()) == 200
        assert len(by_node) >= 2, by_node  # they did claim side by side
        jobs = stores[0].unfinished_jobs()
        assert {j.queue_status for j in jobs} == {QueueStatus.IN_PROGRESS}
        assert NO_JOB not in claimed
    finally:
        for s in stores:
            s.close()


def test_a_claim_skips_a_row_another_transaction_holds(pg_cluster) -> None:  # type: ignore[no-untyped-def]
    """SKIP LOCKED, deterministically: while another session holds job 1's row (a node in the
    middle of claiming it), a claim returns at once with the other jobs instead of waiting."""
    import psycopg

    url = pg_cluster.url(pg_cluster.create_database())
    with open_store(url, clock=ManualClock(T0)) as store:
        first, second = store.add_jobs([_job(1), _job(2)])
        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn) as other:
            other.execute("SET lock_timeout = '10s'")
            other.execute("SELECT 1 FROM jobs WHERE job_id = %s FOR UPDATE", (first.job_id,))
            result: list[list[int]] = []
            claimer = threading.Thread(
                target=lambda: result.append(
                    [j.job_id for j, _ in SqlLeases(store).claim("fax1", T0, TTL)]
                ),
                daemon=True,
            )
            claimer.start()
            claimer.join(10)  # a claim that waited for the lock would still be waiting
            assert not claimer.is_alive(), "the claim waited for a locked row"
            assert result == [[second.job_id]]
            other.rollback()
        got = SqlLeases(store).claim("fax2", T0, TTL)
        assert [j.job_id for j, _ in got] == [first.job_id]
