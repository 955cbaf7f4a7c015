"""The rules every store's leases follow (#19 mends: one pure core for SqlLeases and
MemoryLeases), tested directly on holds and "now"; the stores themselves are held to them by
test_leases_contract.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lanfax.model.codes import JobType, QueueStatus
from lanfax.model.errors import InvalidInput
from lanfax.model.jobs import Job
from lanfax.model.transitions import JobPatch, Trigger
from lanfax.store.api import JobChange
from lanfax.store.lease_rules import (
    FREE,
    Hold,
    Lease,
    LeaseLost,
    check_pair,
    claimed,
    fence,
    first_change,
    holds,
    is_free,
    may_claim,
    may_renew,
    may_take_over,
    released,
)

T = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def job(status: QueueStatus = QueueStatus.PENDING) -> Job:
    return Job(job_id=7, job_type=JobType.SEND, queue_status=status, submitted_at=T)


def test_a_job_is_claimable_when_free_and_due() -> None:
    assert is_free(FREE, 100) and may_claim(FREE, None, 100)
    held = Hold("a", 200, 3)
    assert not is_free(held, 199) and is_free(held, 200)  # expired at its expiry
    assert not may_claim(held, None, 150)
    assert may_claim(held, None, 250)
    assert not may_claim(FREE, 101, 100) and may_claim(FREE, 100, 100)  # next attempt ahead
    assert not is_free(Hold("a", None, 1), 10**12)  # an owner without expiry is held


def test_a_claim_raises_the_epoch_and_a_release_keeps_it() -> None:
    taken = claimed(Hold("a", 50, 4), "b", 900)
    assert taken == Hold("b", 900, 5)
    assert released(taken) == Hold(None, None, 5)
    assert claimed(FREE, "a", 10).epoch == 1


def test_only_an_unexpired_lease_of_the_node_is_renewed() -> None:
    held = Hold("a", 200, 1)
    assert may_renew(held, "a", 199)
    assert not may_renew(held, "a", 200)  # expired: maybe being taken over
    assert not may_renew(held, "b", 100) and not may_renew(FREE, "a", 0)


def test_a_fenced_write_applies_only_at_the_leases_node_and_epoch() -> None:
    lease = Lease(7, "a", 3, T)
    fence(lease, Hold("a", 1, 3))  # expired or not: the epoch decides
    assert holds(Hold("a", 10**12, 3), lease)
    for other in (Hold("b", 10**12, 4), Hold("a", 10**12, 4), Hold(None, None, 3)):
        with pytest.raises(LeaseLost, match="lease on job 7 was lost"):
            fence(lease, other)
    change = JobChange(8, Trigger.PROGRESS, JobPatch(pages_done=1))
    with pytest.raises(InvalidInput, match="the change on job 8"):
        check_pair(lease, change)


def test_takeover_is_of_another_nodes_expired_lease_or_all_of_ones_own() -> None:
    assert may_take_over(Hold("a", 100, 1), "b", 100)
    assert not may_take_over(Hold("a", 101, 1), "b", 100)  # still running
    assert not may_take_over(Hold("b", 1, 1), "b", 100)  # its own, without own=True
    assert may_take_over(Hold("b", 10**12, 1), "b", 100, own=True)
    assert not may_take_over(Hold("a", 1, 1), "b", 100, own=True)
    assert not may_take_over(FREE, "b", 100) and not may_take_over(FREE, "b", 100, own=True)


def test_a_claims_first_change_is_applied_or_the_job_is_left_alone() -> None:
    assert first_change(job(), None) == (job(), ())
    assert first_change(job(), lambda j: None) is None
    dispatch = JobChange(7, Trigger.DISPATCH, JobPatch(), expect=frozenset({QueueStatus.PENDING}))
    got = first_change(job(), lambda j: dispatch)
    assert got is not None and got[0].queue_status is QueueStatus.IN_PROGRESS
    # Refused by the transitions table (a completed job is not dispatched): not claimed.
    assert first_change(job(QueueStatus.COMPLETED), lambda j: dispatch) is None
