"""Leases on jobs, and outcome writes fenced on owner and epoch (issue #18, migration 0009).

For several nodes on one database: a node *claims* a job before it works on it; the claim
writes the job's ``owner_node``, ``lease_expires_at`` and raises its ``attempt_epoch``. The
node renews its leases with its heartbeat. Every write the owner makes afterwards is *fenced*:
it applies only while the job is still the owner's at that epoch, so a node that lost its
lease (it stalled, was cut off, and another node took the job over: a new claim, a new epoch)
can never commit an outcome, whatever its clock says.

Claims use ``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL): two nodes claiming at once
never wait on each other and never take the same job; a row another transaction holds is
simply skipped. On SQLite (one node) the write transaction is exclusive anyway, and
SQLAlchemy leaves the clause out. The in-memory store has the same leases
(:mod:`lanfax.store.memory_leases`), so one code path serves every store. When a claim,
renewal, fenced write or takeover may apply is decided by :mod:`lanfax.store.lease_rules`
for both: the filters of the statements here say the same rules in SQL.

How a worker uses them (the dispatcher for sends; any other job kind the same way)::

    leases = store.leases                       # or lanfax.store.leases.open_leases(store)
    # Claim: pick free jobs (no unexpired lease) in the given states and, in the same
    # transaction, apply the worker's first change (its state transition and events); a job
    # whose change is refused (Conflict: paused, canceled meanwhile) or None is not claimed.
    for job, lease in leases.claim(node, now, ttl, statuses={QueueStatus.ROUTING},
                                   job_ids=[...], limit=10, change=lambda job: JobChange(...)):
        ...                                     # work on the job
        leases.update_fenced([(lease, JobChange(...))])   # progress: LeaseLost if taken over
        leases.update_fenced([(lease, outcome)], release=True)  # the outcome; lease given back
    leases.renew(node, now, ttl)                # with the heartbeat: every lease of the node

``LeaseLost`` (a :class:`~lanfax.model.errors.Conflict`) from a fenced write means another
node owns the job now: drop the work, write nothing more about it. The service wraps this in
:class:`lanfax.service.leases.NodeLeases` (``ctx.leases``), which adds this node's name, its
lease length, the clock, and keeps the service's job copy and event bus in step.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import sqlalchemy as sa

from lanfax.model.codes import QueueStatus
from lanfax.model.errors import InvalidInput, NotFound
from lanfax.model.events import Event, NewEvent
from lanfax.model.jobs import Job
from lanfax.store import codec
from lanfax.store.api import JobChange
from lanfax.store.lease_rules import DISPATCHABLE as DISPATCHABLE
from lanfax.store.lease_rules import ON_CALL as ON_CALL
from lanfax.store.lease_rules import ClaimChange as ClaimChange
from lanfax.store.lease_rules import (
    Hold,
    apply_change,
    check_pair,
    claimed,
    fence,
    first_change,
)
from lanfax.store.lease_rules import Lease as Lease
from lanfax.store.lease_rules import LeaseLost as LeaseLost
from lanfax.store.lease_rules import Takeover as Takeover
from lanfax.store.lease_rules import check_node as check_node
from lanfax.store.lease_rules import lost as lost
from lanfax.store.schema import jobs as t_jobs
from lanfax.store.sql import MAX_LIMIT, SqlStore

#: The most jobs one claim or takeover returns.
MAX_CLAIM = MAX_LIMIT


class Leases(Protocol):
    """What every store offers for leases (``store.leases``): the SQL stores
    (:class:`SqlLeases`) and the in-memory store (:mod:`lanfax.store.memory_leases`)."""

    def claim(
        self,
        node: str,
        now: datetime,
        ttl: timedelta,
        *,
        job_ids: Collection[int] | None = None,
        statuses: Collection[QueueStatus] = DISPATCHABLE,
        limit: int = 100,
        change: ClaimChange | None = None,
        one_call_per_number: bool = False,
    ) -> list[tuple[Job, Lease]]: ...

    def renew(self, node: str, now: datetime, ttl: timedelta) -> int: ...

    def release(self, lease: Lease) -> bool: ...

    def held_by(self, node: str) -> list[tuple[int, int]]: ...

    def owners(self, job_ids: Collection[int]) -> dict[int, str]: ...

    def jobs(self, job_ids: Collection[int]) -> list[Job]: ...

    def update_fenced(
        self, changes: Sequence[tuple[Lease, JobChange]], *, release: bool = False
    ) -> tuple[list[Job], list[Event]]: ...

    def take_over(
        self,
        node: str,
        now: datetime,
        ttl: timedelta,
        *,
        statuses: Collection[QueueStatus] = ON_CALL,
        limit: int = 100,
        own: bool = False,
    ) -> list[Takeover]: ...


def open_leases(store: object) -> Leases:
    """The leases of ``store`` (its ``leases`` attribute)."""
    leases = getattr(store, "leases", None)
    if leases is None:
        raise InvalidInput(
            f"the store {store!r} keeps no leases", hint="use a SQL or an in-memory store"
        )
    return leases  # type: ignore[no-any-return]


def check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit {limit} is out of range", hint=f"use 1 to {MAX_LIMIT}")


class SqlLeases:
    """Claims, renewals, fenced writes and takeovers on a :class:`SqlStore`'s jobs."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    # -- claiming -------------------------------------------------------------------------------

    def claim(
        self,
        node: str,
        now: datetime,
        ttl: timedelta,
        *,
        job_ids: Collection[int] | None = None,
        statuses: Collection[QueueStatus] = DISPATCHABLE,
        limit: int = 100,
        change: ClaimChange | None = None,
        one_call_per_number: bool = False,
    ) -> list[tuple[Job, Lease]]:
        """Claim up to ``limit`` jobs in ``statuses`` that no unexpired lease holds (and, when
        given, only among ``job_ids``: the ones this node's planner chose), oldest first,
        skipping rows another node is claiming at this moment. A job whose
        ``next_attempt_at`` is still ahead is not claimed. Each claim raises the job's epoch.

        ``change`` (the worker's first write, such as the DISPATCH to IN_PROGRESS with its
        event) is applied to each job in the claim's transaction; a job for which it returns
        None or is refused (:class:`~lanfax.model.errors.Conflict`) is not claimed. The jobs
        returned are as committed (the change applied).

        ``one_call_per_number``: a job whose recipient number (as written) is on a call
        (IN_PROGRESS, CANCELING), on any node, is not claimed: the scheduler's "never two
        calls to one number" across nodes (PostgreSQL writes commit one at a time, so two
        nodes' claims see each other's).
        """
        check_node(node)
        check_limit(limit)
        at = codec.to_micros(now, "now")
        until = codec.to_micros(now + ttl, "lease expiry")
        c = t_jobs.c
        # lease_rules.may_claim, in SQL:
        free = sa.or_(c.owner_node.is_(None), c.lease_expires_at <= at)
        due = sa.or_(c.next_attempt_at.is_(None), c.next_attempt_at <= at)
        where = [c.queue_status.in_(sorted(int(s) for s in statuses)), free, due]
        if job_ids is not None:
            if not job_ids:
                return []
            where.append(c.job_id.in_(sorted(set(job_ids))))
        if one_call_per_number:
            other = t_jobs.alias("other")
            where.append(
                ~sa.exists().where(
                    other.c.recipient_number == c.recipient_number,
                    other.c.queue_status.in_(sorted(int(s) for s in ON_CALL)),
                    other.c.job_id != c.job_id,
                )
            )
        pick = (
            sa.select(t_jobs)
            .where(*where)
            .order_by(c.job_id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        out: list[tuple[Job, Lease]] = []
        store = self._store
        calling: set[str] = set()  # numbers this claim put on a call
        with store._write("claim jobs") as conn:
            for row in conn.execute(pick).mappings().all():
                if one_call_per_number and row["recipient_number"] in calling:
                    continue
                job_id = int(row["job_id"])
                values: dict[str, object] = {}
                if change is None:
                    events: tuple[NewEvent, ...] = ()
                else:
                    first = first_change(codec.row_to_job(row), change)
                    if first is None:
                        continue
                    values = codec.job_to_row(first[0])
                    events = first[1]
                new_epoch = claimed(_hold(row), node, until).epoch
                held = {"owner_node": node, "lease_expires_at": until, "attempt_epoch": new_epoch}
                conn.execute(t_jobs.update().where(c.job_id == job_id).values({**values, **held}))
                if events:
                    store._insert_events(conn, events, [job_id] * len(events))
                taken = codec.row_to_job({**row, **values, **held})
                out.append((taken, Lease(job_id, node, new_epoch, now + ttl)))
                if taken.queue_status in ON_CALL:
                    calling.add(taken.recipient_number)
        return out

    def renew(self, node: str, now: datetime, ttl: timedelta) -> int:
        """Extend every lease ``node`` still holds (not yet expired); how many. A lease that
        expired is not revived: another node may be taking the job over."""
        check_node(node)
        at = codec.to_micros(now, "now")
        c = t_jobs.c
        with self._store._write("renew leases") as conn:
            res = conn.execute(
                t_jobs.update()
                .where(c.owner_node == node, c.lease_expires_at > at)  # lease_rules.may_renew
                .values(lease_expires_at=codec.to_micros(now + ttl, "lease expiry"))
            )
            return int(res.rowcount)

    def release(self, lease: Lease) -> bool:
        """Give a job back (its call is over and its outcome written); False when it was no
        longer this lease's."""
        c = t_jobs.c
        with self._store._write("release lease") as conn:
            res = conn.execute(
                t_jobs.update()
                .where(
                    c.job_id == lease.job_id,
                    c.owner_node == lease.node,
                    c.attempt_epoch == lease.epoch,
                )
                .values(owner_node=None, lease_expires_at=None)
            )
            return bool(res.rowcount == 1)

    def owners(self, job_ids: Collection[int]) -> dict[int, str]:
        """The owner node of each of ``job_ids`` that has one (expired or not)."""
        ids = sorted(set(job_ids))
        if not ids:
            return {}
        c = t_jobs.c
        out: dict[int, str] = {}
        with self._store._read("lease owners") as conn:
            for start in range(0, len(ids), 500):
                stmt = sa.select(c.job_id, c.owner_node).where(
                    c.job_id.in_(ids[start : start + 500]), c.owner_node.is_not(None)
                )
                out.update((int(j), str(o)) for j, o in conn.execute(stmt).all())
        return out

    def jobs(self, job_ids: Collection[int]) -> list[Job]:
        """The jobs of ``job_ids`` that exist, as committed (one read: a node keeping its
        copy of the queue in step with what other nodes committed)."""
        ids = sorted(set(job_ids))
        c = t_jobs.c
        out: list[Job] = []
        with self._store._read("jobs by id") as conn:
            for start in range(0, len(ids), 500):
                stmt = sa.select(t_jobs).where(c.job_id.in_(ids[start : start + 500]))
                out += [codec.row_to_job(r) for r in conn.execute(stmt).mappings().all()]
        return out

    def held_by(self, node: str) -> list[tuple[int, int]]:
        """(job_id, epoch) of every job ``node`` owns, expired or not."""
        c = t_jobs.c
        stmt = sa.select(c.job_id, c.attempt_epoch).where(c.owner_node == node).order_by(c.job_id)
        with self._store._read("leases held") as conn:
            return [(int(j), int(e or 0)) for j, e in conn.execute(stmt).all()]

    # -- fenced writes ----------------------------------------------------------------------------

    def update_fenced(
        self, changes: Sequence[tuple[Lease, JobChange]], *, release: bool = False
    ) -> tuple[list[Job], list[Event]]:
        """Apply each change, with its events, only while its job is still held by its
        lease's node at its lease's epoch; all or nothing. Otherwise :class:`LeaseLost` (a
        Conflict: "the lease on job N was lost") and nothing is written: the node must drop
        its work on the job (another node owns it now). ``release``: give the leases back in
        the same transaction (the outcome is written, the work is over)."""
        out: list[Job] = []
        new_events: list[Event] = []
        if not changes:
            return out, new_events
        c = t_jobs.c
        store = self._store
        with store._write("fenced update") as conn:
            for lease, ch in changes:
                check_pair(lease, ch)
                stmt = sa.select(t_jobs).where(c.job_id == ch.job_id).with_for_update()
                found = conn.execute(stmt).mappings().first()
                if found is None:
                    raise NotFound(
                        f"job {ch.job_id} does not exist",
                        hint="it was deleted; drop the work on it",
                        job_id=ch.job_id,
                    )
                fence(lease, _hold(found))
                job = apply_change(codec.row_to_job(found), ch)
                row = codec.job_to_row(job)
                held = {"owner_node": None, "lease_expires_at": None} if release else {}
                conn.execute(t_jobs.update().where(c.job_id == job.job_id).values({**row, **held}))
                out.append(codec.row_to_job({"job_id": job.job_id, **row}))
                new_events += store._insert_events(conn, ch.events, [job.job_id] * len(ch.events))
        return out, new_events

    # -- takeover ---------------------------------------------------------------------------------

    def take_over(
        self,
        node: str,
        now: datetime,
        ttl: timedelta,
        *,
        statuses: Collection[QueueStatus] = ON_CALL,
        limit: int = 100,
        own: bool = False,
    ) -> list[Takeover]:
        """Claim jobs in ``statuses`` (a call in progress) whose owner's lease has expired:
        their owner is dead or cut off. The new epoch fences the old owner out; the caller
        settles each job as start-up recovery settles a crash.

        ``own``: instead, take back the jobs ``node`` itself holds, expired or not: start-up
        recovery of a node whose earlier process died (one process per node name holds the
        node's lock, lanfax.store.nodes, so that process is gone)."""
        check_node(node)
        check_limit(limit)
        at = codec.to_micros(now, "now")
        c = t_jobs.c
        whose = (  # lease_rules.may_take_over, in SQL
            [c.owner_node == node]
            if own
            else [c.owner_node.is_not(None), c.owner_node != node, c.lease_expires_at <= at]
        )
        pick = (
            sa.select(c.job_id, c.owner_node, c.attempt_epoch)
            .where(c.queue_status.in_(sorted(int(s) for s in statuses)), *whose)
            .order_by(c.job_id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        until = codec.to_micros(now + ttl, "lease expiry")
        out: list[Takeover] = []
        with self._store._write("take over jobs") as conn:
            for job_id, owner, epoch in conn.execute(pick).all():
                new_epoch = claimed(Hold(owner, None, int(epoch or 0)), node, until).epoch
                conn.execute(
                    t_jobs.update()
                    .where(c.job_id == job_id)
                    .values(owner_node=node, lease_expires_at=until, attempt_epoch=new_epoch)
                )
                row = conn.execute(sa.select(t_jobs).where(c.job_id == job_id)).mappings().one()
                lease = Lease(int(job_id), node, new_epoch, now + ttl)
                out.append(Takeover(codec.row_to_job(row), lease, str(owner)))
        return out


def _hold(row: sa.RowMapping) -> Hold:
    """A job row's lease columns as a :class:`~lanfax.store.lease_rules.Hold`."""
    return Hold(row["owner_node"], row["lease_expires_at"], int(row["attempt_epoch"] or 0))


if TYPE_CHECKING:  # mypy --strict checks that SqlLeases is Leases, structurally

    def _is_leases(leases: SqlLeases) -> Leases:
        return leases
