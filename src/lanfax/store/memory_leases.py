"""The in-memory store's leases (issue #18): the same contract as
:class:`lanfax.store.leases.SqlLeases`, so one node on the in-memory store runs the service's
one code path (claim, fenced writes, renewals, takeover).

A job's lease is a row of the ``leases`` table (job id -> owner, expiry in microseconds,
epoch), written in the same :class:`~lanfax.store.memory._Tx` as the job's change, so a
rollback undoes both. The store's lock makes every claim exclusive, as SQLite's write
transaction does: there is nothing to skip. Whether a claim, renewal, fenced write or
takeover applies is :mod:`lanfax.store.lease_rules`'s answer, as for the SQL stores.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from lanfax.model.codes import QueueStatus
from lanfax.model.errors import NotFound
from lanfax.model.events import Event
from lanfax.model.jobs import Job
from lanfax.store import codec
from lanfax.store.api import JobChange
from lanfax.store.lease_rules import (
    FREE,
    Hold,
    apply_change,
    check_pair,
    claimed,
    fence,
    first_change,
    holds,
    may_claim,
    may_renew,
    may_take_over,
    released,
)
from lanfax.store.leases import (
    DISPATCHABLE,
    ON_CALL,
    ClaimChange,
    Lease,
    Leases,
    Takeover,
    check_limit,
    check_node,
)
from lanfax.store.memory import MemoryStore


def _row(hold: Hold) -> dict[str, Any]:
    return {"owner": hold.owner, "expires": hold.expires, "epoch": hold.epoch}


def _hold(leases: dict[int, dict[str, Any]], job_id: int) -> Hold:
    row = leases.get(job_id)
    return FREE if row is None else Hold(row["owner"], row["expires"], int(row["epoch"]))


class MemoryLeases:
    """Claims, renewals, fenced writes and takeovers on a :class:`MemoryStore`'s jobs."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def _leases(self) -> dict[int, dict[str, Any]]:
        return self._store.table("leases")

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
        """See :meth:`lanfax.store.leases.SqlLeases.claim`."""
        check_node(node)
        check_limit(limit)
        at = codec.to_micros(now, "now")
        until = codec.to_micros(now + ttl, "lease expiry")
        wanted = {int(s) for s in statuses}
        jobs, leases = self._store.table("jobs"), self._leases()
        out: list[tuple[Job, Lease]] = []
        on_call = {int(s) for s in ON_CALL}
        with self._store.write() as tx:
            busy = (
                {r["recipient_number"] for r in jobs.values() if r["queue_status"] in on_call}
                if one_call_per_number
                else set()
            )
            ids = sorted(set(job_ids)) if job_ids is not None else list(jobs)
            for job_id in ids:
                if len(out) >= limit:
                    break
                row = jobs.get(job_id)
                if row is None or row["queue_status"] not in wanted:
                    continue
                held = _hold(leases, job_id)
                if not may_claim(held, row["next_attempt_at"], at):
                    continue
                if row["recipient_number"] in busy:
                    continue
                first = first_change(codec.row_to_job(row), change)
                if first is None:
                    continue
                job, events = first
                if change is not None:
                    new_row = {"job_id": job_id, **codec.job_to_row(job)}
                    tx.put(jobs, job_id, new_row)
                    job = codec.row_to_job(new_row)
                    self._store.insert_events(tx, events, [job_id] * len(events))
                taken = claimed(held, node, until)
                tx.put(leases, job_id, _row(taken))
                out.append((job, Lease(job_id, node, taken.epoch, now + ttl)))
                if one_call_per_number and job.queue_status in ON_CALL:
                    busy.add(row["recipient_number"])
        return out

    def renew(self, node: str, now: datetime, ttl: timedelta) -> int:
        check_node(node)
        at = codec.to_micros(now, "now")
        until = codec.to_micros(now + ttl, "lease expiry")
        leases = self._leases()
        n = 0
        with self._store.write() as tx:
            for job_id in list(leases):
                held = _hold(leases, job_id)
                if may_renew(held, node, at):
                    tx.put(leases, job_id, _row(Hold(node, until, held.epoch)))
                    n += 1
        return n

    def release(self, lease: Lease) -> bool:
        leases = self._leases()
        with self._store.write() as tx:
            held = _hold(leases, lease.job_id)
            if not holds(held, lease):
                return False
            tx.put(leases, lease.job_id, _row(released(held)))
            return True

    def owners(self, job_ids: Collection[int]) -> dict[int, str]:
        leases = self._leases()
        with self._store.read():
            return {
                j: str(leases[j]["owner"])
                for j in set(job_ids)
                if j in leases and leases[j]["owner"] is not None
            }

    def jobs(self, job_ids: Collection[int]) -> list[Job]:
        jobs = self._store.table("jobs")
        with self._store.read():
            rows = [jobs[j] for j in sorted(set(job_ids)) if j in jobs]
        return [codec.row_to_job(r) for r in rows]

    def held_by(self, node: str) -> list[tuple[int, int]]:
        leases = self._leases()
        with self._store.read():
            return sorted((j, int(h["epoch"])) for j, h in leases.items() if h["owner"] == node)

    def update_fenced(
        self, changes: Sequence[tuple[Lease, JobChange]], *, release: bool = False
    ) -> tuple[list[Job], list[Event]]:
        """See :meth:`lanfax.store.leases.SqlLeases.update_fenced`."""
        out: list[Job] = []
        new_events: list[Event] = []
        if not changes:
            return out, new_events
        jobs, leases = self._store.table("jobs"), self._leases()
        with self._store.write() as tx:
            for lease, ch in changes:
                check_pair(lease, ch)
                row = jobs.get(ch.job_id)
                if row is None:
                    raise NotFound(
                        f"job {ch.job_id} does not exist",
                        hint="it was deleted; drop the work on it",
                        job_id=ch.job_id,
                    )
                held = _hold(leases, ch.job_id)
                fence(lease, held)
                job = apply_change(codec.row_to_job(row), ch)
                new_row = {"job_id": job.job_id, **codec.job_to_row(job)}
                tx.put(jobs, job.job_id, new_row)
                if release:
                    tx.put(leases, job.job_id, _row(released(held)))
                out.append(codec.row_to_job(new_row))
                new_events += self._store.insert_events(
                    tx, ch.events, [job.job_id] * len(ch.events)
                )
        return out, new_events

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
        """See :meth:`lanfax.store.leases.SqlLeases.take_over`."""
        check_node(node)
        check_limit(limit)
        at = codec.to_micros(now, "now")
        until = codec.to_micros(now + ttl, "lease expiry")
        wanted = {int(s) for s in statuses}
        jobs, leases = self._store.table("jobs"), self._leases()
        out: list[Takeover] = []
        with self._store.write() as tx:
            for job_id in sorted(leases):
                if len(out) >= limit:
                    break
                held = _hold(leases, job_id)
                row = jobs.get(job_id)
                if row is None or row["queue_status"] not in wanted:
                    continue
                if not may_take_over(held, node, at, own=own):
                    continue
                taken = claimed(held, node, until)
                tx.put(leases, job_id, _row(taken))
                lease = Lease(job_id, node, taken.epoch, now + ttl)
                out.append(Takeover(codec.row_to_job(row), lease, str(held.owner)))
        return out


if TYPE_CHECKING:  # mypy --strict checks that MemoryLeases is Leases, structurally

    def _is_leases(leases: MemoryLeases) -> Leases:
        return leases
