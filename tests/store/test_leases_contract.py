"""The leases every store keeps (issue #18): SQLite, PostgreSQL and the in-memory store.

The service claims, fences and takes over through ``store.leases`` whatever the store, so one
code path serves one node on SQLite or in memory and many nodes on PostgreSQL. These tests
are the contract (the SQL-only races of many claimers are in test_leases.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lanfax.model.codes import EventId, JobType, QueueStatus
from lanfax.model.errors import Conflict
from lanfax.model.events import NewEvent
from lanfax.model.jobs import Job
from lanfax.model.transitions import JobPatch, Trigger
from lanfax.store import JobChange
from lanfax.store.api import Store
from lanfax.store.leases import ON_CALL, LeaseLost, Leases, open_leases

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TTL = timedelta(seconds=30)


def _job(i: int, **kw: object) -> Job:
    job = Job(0, JobType.SEND, QueueStatus.PENDING, T0, recipient_number=f"555{i:04d}")
    return job.replace(**kw) if kw else job


def _dial(job: Job) -> JobChange:
    return JobChange(
        job.job_id,
        Trigger.DISPATCH,
        JobPatch(started_at=T0, device_id=7),
        events=(NewEvent(EventId.DIALING, 7, job.job_id, {"number": job.recipient_number}),),
    )


def _outcome(job_id: int, trigger: Trigger = Trigger.DELIVER) -> JobChange:
    return JobChange(
        job_id,
        trigger,
        JobPatch(completed_at=T0, attempts=1, pages_done=1),
        events=(NewEvent(EventId.COMPLETED, 7, job_id, {}),),
    )


def _leases(store: Store) -> Leases:
    return open_leases(store)  # store.leases


def test_a_claim_applies_the_workers_first_change_in_its_transaction(store: Store) -> None:
    leases = _leases(store)
    a, paused, b = store.add_jobs([_job(1), _job(2), _job(3)])
    store.update_jobs([JobChange(paused.job_id, Trigger.PAUSE)])
    seen = store.last_event_seq()
    got = leases.claim("n1", T0, TTL, change=_dial)
    # The paused job is not dispatchable: not even looked at; a and b are on their calls.
    assert [(j.job_id, j.queue_status, j.device_id) for j, _l in got] == [
        (a.job_id, QueueStatus.IN_PROGRESS, 7),
        (b.job_id, QueueStatus.IN_PROGRESS, 7),
    ]
    assert {lz.epoch for _j, lz in got} == {1}
    assert store.get_job(a.job_id).queue_status is QueueStatus.IN_PROGRESS  # type: ignore[union-attr]
    events = store.events_after(seen)
    assert [(e.event_id, e.job_id) for e in events] == [
        (EventId.DIALING, a.job_id),
        (EventId.DIALING, b.job_id),
    ]
    assert leases.owners([a.job_id, paused.job_id, b.job_id]) == {a.job_id: "n1", b.job_id: "n1"}
    assert leases.held_by("n1") == [(a.job_id, 1), (b.job_id, 1)]


def test_a_job_whose_change_is_refused_or_none_is_not_claimed(store: Store) -> None:
    leases = _leases(store)
    a, b = store.add_jobs([_job(1), _job(2)])
    refused = JobChange(a.job_id, Trigger.DELIVER)  # not from PENDING: Conflict
    got = leases.claim("n1", T0, TTL, change=lambda j: refused if j.job_id == a.job_id else None)
    assert got == []
    assert leases.owners([a.job_id, b.job_id]) == {}
    assert {j.queue_status for j in leases.jobs([a.job_id, b.job_id])} == {QueueStatus.PENDING}
    # Without a change, a claim only takes the lease.
    ((job, lease),) = leases.claim("n1", T0, TTL, job_ids=[b.job_id])
    assert job.queue_status is QueueStatus.PENDING and lease.job_id == b.job_id


def test_the_outcome_gives_the_lease_back_and_the_next_claim_raises_the_epoch(
    store: Store,
) -> None:
    leases = _leases(store)
    (a,) = store.add_jobs([_job(1)])
    ((_j, lease),) = leases.claim("n1", T0, TTL, change=_dial)
    retry = JobChange(
        a.job_id,
        Trigger.RETRY,
        JobPatch(attempts=1, next_attempt_at=T0 + timedelta(seconds=5)),
        events=(NewEvent(EventId.BUSY, 7, a.job_id, {}),),
    )
    (done,), _events = leases.update_fenced([(lease, retry)], release=True)
    assert done.queue_status is QueueStatus.RETRYING
    assert leases.owners([a.job_id]) == {}
    assert leases.release(lease) is False  # already given back
    assert leases.claim("n2", T0 + timedelta(seconds=1), TTL) == []  # not due yet
    ((_j, again),) = leases.claim("n2", T0 + timedelta(seconds=6), TTL, change=_dial)
    assert (again.node, again.epoch) == ("n2", 2)
    with pytest.raises(LeaseLost):  # the first lease is long gone
        leases.update_fenced([(lease, _outcome(a.job_id))])


def test_a_fenced_write_after_a_takeover_is_refused_and_writes_nothing(store: Store) -> None:
    leases = _leases(store)
    a, b = store.add_jobs([_job(1), _job(2)])
    (_ga, la), (_gb, lb) = leases.claim("n1", T0, TTL, change=_dial)
    assert leases.renew("n1", T0 + timedelta(seconds=20), TTL) == 2  # until T0 + 50 s
    assert leases.take_over("n2", T0 + timedelta(seconds=45), TTL) == []
    later = T0 + timedelta(seconds=51)
    taken = leases.take_over("n2", later, TTL, statuses=ON_CALL)
    assert [(t.job.job_id, t.previous_owner, t.lease.epoch) for t in taken] == [
        (a.job_id, "n1", 2),
        (b.job_id, "n1", 2),
    ]
    seen = store.last_event_seq()
    # n1 wakes up and writes both outcomes in one transaction: refused, nothing written.
    with pytest.raises(LeaseLost, match=f"lease on job {a.job_id} was lost") as caught:
        leases.update_fenced([(la, _outcome(a.job_id)), (lb, _outcome(b.job_id))])
    assert isinstance(caught.value, Conflict)
    assert store.last_event_seq() == seen
    assert {j.queue_status for j in leases.jobs([a.job_id, b.job_id])} == {QueueStatus.IN_PROGRESS}
    # n1's renewal no longer extends them; n2's writes go through.
    assert leases.renew("n1", later, TTL) == 0
    assert leases.held_by("n1") == []
    t = taken[1]
    (after,), _ = leases.update_fenced(
        [(t.lease, _outcome(b.job_id, Trigger.DELIVER))], release=True
    )
    assert after.queue_status is QueueStatus.COMPLETED


def test_a_node_takes_back_its_own_jobs_at_its_restart_whatever_their_lease(
    store: Store,
) -> None:
    leases = _leases(store)
    a, b = store.add_jobs([_job(1), _job(2)])
    leases.claim("n1", T0, TTL, job_ids=[a.job_id], change=_dial)
    leases.claim("n2", T0, TTL, job_ids=[b.job_id], change=_dial)
    soon = T0 + timedelta(seconds=1)  # both leases still run
    assert leases.take_over("n1", soon, TTL) == []  # n2's lease runs: not n1's to take
    (mine,) = leases.take_over("n1", soon, TTL, own=True)
    assert (mine.job.job_id, mine.previous_owner, mine.lease.epoch) == (a.job_id, "n1", 2)
    assert leases.owners([a.job_id, b.job_id]) == {a.job_id: "n1", b.job_id: "n2"}


def test_one_call_per_number_whichever_node_has_the_call(store: Store) -> None:
    leases = _leases(store)
    a, b, c = store.add_jobs([_job(1), _job(1), _job(2)])  # a and b: one number
    ((first, lease),) = leases.claim("n1", T0, TTL, job_ids=[a.job_id], change=_dial)
    # Another node: b's number is on n1's call, c's is free.
    got = leases.claim("n2", T0, TTL, change=_dial, one_call_per_number=True)
    assert [j.job_id for j, _l in got] == [c.job_id]
    # In one claim too: two jobs to one number, one is claimed.
    d, e = store.add_jobs([_job(3), _job(3)])
    got = leases.claim(
        "n2", T0, TTL, job_ids=[d.job_id, e.job_id], change=_dial, one_call_per_number=True
    )
    assert [j.job_id for j, _l in got] == [d.job_id]
    # n1's call ends: b may be dialled.
    leases.update_fenced([(lease, _outcome(first.job_id))], release=True)
    got = leases.claim("n2", T0, TTL, job_ids=[b.job_id], change=_dial, one_call_per_number=True)
    assert [j.job_id for j, _l in got] == [b.job_id]
