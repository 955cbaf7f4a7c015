"""When a lease may be taken, kept, used or taken over (issue #18): the rules every store's
leases follow, as pure functions of a job's stored hold and "now" (microseconds, as stored).

:class:`lanfax.store.leases.SqlLeases` says the filters of its claims and takeovers in SQL
(so PostgreSQL can pick and lock rows in one statement) and applies the rest of these rules
to the rows it picked; :class:`lanfax.store.memory_leases.MemoryLeases` applies all of them to
its rows. The contract tests (``tests/store/test_leases_contract.py``) hold both to the same
answers.

* **Claim**: a job is free when nobody holds it or its holder's lease has expired
  (:func:`is_free`); it is claimable when free and its next attempt is not ahead
  (:func:`may_claim`). A claim raises the epoch (:func:`claimed`). The claim's first change
  is applied in its transaction; a change refused (None, or a Conflict) leaves the job
  unclaimed (:func:`first_change`).
* **Renew**: only an unexpired lease of the node (:func:`may_renew`): an expired one may be
  being taken over.
* **Fenced write / release**: only while the job is still the lease's node's at the lease's
  epoch (:func:`holds`, :func:`fence`).
* **Takeover**: another node's expired lease, or (``own``) any lease of this node's own
  earlier process (:func:`may_take_over`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from lanfax.model.codes import QueueStatus
from lanfax.model.errors import Conflict, InvalidInput
from lanfax.model.events import NewEvent
from lanfax.model.jobs import Job
from lanfax.model.transitions import advance
from lanfax.store.api import JobChange

__all__ = [
    "DISPATCHABLE",
    "FREE",
    "ON_CALL",
    "ClaimChange",
    "Hold",
    "Lease",
    "LeaseLost",
    "Takeover",
    "apply_change",
    "check_node",
    "check_pair",
    "claimed",
    "fence",
    "first_change",
    "holds",
    "is_free",
    "lost",
    "may_claim",
    "may_renew",
    "may_take_over",
    "released",
]

#: Where a send waits to be dialled (the scheduler's input states).
DISPATCHABLE = frozenset({QueueStatus.PENDING, QueueStatus.RETRYING, QueueStatus.NO_LINE})
#: Where a job is on a call: what a dead owner leaves to be settled by another node.
ON_CALL = frozenset({QueueStatus.IN_PROGRESS, QueueStatus.CANCELING})


@dataclass(frozen=True, slots=True)
class Lease:
    """A node's hold on a job: valid while the job's owner and epoch are these."""

    job_id: int
    node: str
    epoch: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Takeover:
    """A job on a call whose owner's lease ran out, now held by the node that took it."""

    job: Job
    lease: Lease
    #: The node that held it (whose calls died with it).
    previous_owner: str


#: A worker's first change to a job it claims (None: leave this job alone, do not claim it).
ClaimChange = Callable[[Job], JobChange | None]


class LeaseLost(Conflict):
    """A fenced write found the job no longer held by the lease: another node took it over
    (or it was released). The worker must drop its work on the job and write nothing more."""


@dataclass(frozen=True, slots=True)
class Hold:
    """A job's lease as stored: its owner (None: free), the lease's expiry (microseconds),
    and the job's attempt epoch (raised by every claim and takeover)."""

    owner: str | None
    expires: int | None
    epoch: int


#: The hold of a job nobody ever claimed.
FREE = Hold(None, None, 0)


def check_node(node: str) -> None:
    """Refuse an empty node name (every store's claims, renewals and takeovers)."""
    if not node:
        raise InvalidInput("a lease needs a node name", hint='e.g. "main"')


def lost(lease: Lease, owner: str | None, epoch: int | None) -> LeaseLost:
    """The error of a fenced write on a job now held by ``owner`` at ``epoch``."""
    return LeaseLost(
        f"the lease on job {lease.job_id} was lost: node {lease.node!r} held it at"
        f" epoch {lease.epoch}, it is now {owner or 'nobody'}'s at epoch {epoch or 0}",
        hint="another node took the job over; this node must not write its outcome",
        job_id=lease.job_id,
    )


# -- claims and renewals ----------------------------------------------------------------------


def is_free(hold: Hold, at: int) -> bool:
    """Nobody holds the job, or its holder's lease had expired by ``at``."""
    return hold.owner is None or (hold.expires is not None and hold.expires <= at)


def may_claim(hold: Hold, next_attempt_at: int | None, at: int) -> bool:
    """A job in a state the claim wants may be claimed at ``at``: it is free and its next
    attempt is not still ahead."""
    return is_free(hold, at) and (next_attempt_at is None or next_attempt_at <= at)


def claimed(hold: Hold, node: str, until: int) -> Hold:
    """The hold a claim or takeover by ``node`` writes: a new epoch fences the old one out."""
    return Hold(node, until, hold.epoch + 1)


def apply_change(job: Job, change: JobChange) -> Job:
    """The change applied to the job as committed (the same rule as ``update_jobs``: the
    transitions table, then the writer's own guard); raises Conflict when it may not."""
    return advance(job, change.trigger, change.patch, change.expect)


def first_change(job: Job, change: ClaimChange | None) -> tuple[Job, tuple[NewEvent, ...]] | None:
    """A claim's first write applied to ``job`` (the job as it will be committed, and the
    events to insert with it); None when the job is not to be claimed (the worker's
    ``change`` said None, or its change is refused)."""
    if change is None:
        return job, ()
    ch = change(job)
    if ch is None:
        return None
    try:
        return apply_change(job, ch), tuple(ch.events)
    except Conflict:
        return None


def may_renew(hold: Hold, node: str, at: int) -> bool:
    """``node``'s lease on the job is still running at ``at`` (an expired one is not revived:
    another node may be taking the job over)."""
    return hold.owner == node and hold.expires is not None and hold.expires > at


# -- fenced writes and releases ---------------------------------------------------------------


def holds(hold: Hold, lease: Lease) -> bool:
    """The job is still the lease's: its node, at its epoch."""
    return hold.owner == lease.node and hold.epoch == lease.epoch


def released(hold: Hold) -> Hold:
    """The hold after the job is given back (the epoch stays: it fences later writes)."""
    return Hold(None, None, hold.epoch)


def check_pair(lease: Lease, change: JobChange) -> None:
    """A fenced change must be on its lease's job."""
    if lease.job_id != change.job_id:
        raise InvalidInput(
            f"the lease is on job {lease.job_id}, the change on job {change.job_id}",
            hint="pair each change with its job's lease",
        )


def fence(lease: Lease, hold: Hold) -> None:
    """Raise :class:`LeaseLost` unless the job is still the lease's."""
    if not holds(hold, lease):
        raise lost(lease, hold.owner, hold.epoch)


# -- takeovers ------------------------------------------------------------------------------


def may_take_over(hold: Hold, node: str, at: int, *, own: bool = False) -> bool:
    """Another node's lease that had expired by ``at`` (its owner is dead or cut off); with
    ``own``, any lease ``node`` holds (start-up recovery of its own earlier process)."""
    if hold.owner is None:
        return False
    if own:
        return hold.owner == node
    return hold.owner != node and hold.expires is not None and hold.expires <= at
