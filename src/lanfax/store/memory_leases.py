"""The in-memory store's leases (issue #18): the same contract as
:class:`lanfax.store.leases.SqlLeases`, so one node on the in-memory store runs the service's
one code path (claim, fenced writes, renewals, takeover).

A job's lease is a row of the ``leases`` table (job id -> owner, expiry in microseconds,
epoch), written in the same :class:`~lanfax.store.memory._Tx` as the job's change, so a
rollback undoes both. The store's lock makes every claim exclusive, as SQLite's write
transaction does: there is nothing to skip.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from lanfax.model.codes import QueueStatus
from lanfax.model.errors import Conflict, InvalidInput, NotFound
from lanfax.model.events import Event
from lanfax.model.jobs import Job
from lanfax.model.transitions import advance
from lanfax.store import codec
from lanfax.store.api import JobChange
from lanfax.store.leases import (
    DISPATCHABLE,
    ON_CALL,
    ClaimChange,
    Lease,
    Leases,
    Takeover,
    check_limit,
    check_node,
    lost,
)
from lanfax.store.memory import MemoryStore

_FREE: dict[str, Any] = {"owner": None, "expires": None, "epoch": 0}


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
                held = leases.get(job_id, _FREE)
                if held["owner"] is not None and held["expires"] > at:
                    continue
                due = row["next_attempt_at"]
                if due is not None and due > at:
                    continue
                if row["recipient_number"] in busy:
                    continue
                job = codec.row_to_job(row)
                if change is not None:
                    ch = change(job)
                    if ch is None:
                        continue
                    try:
                        job = advance(job, ch.trigger, ch.patch, ch.expect)
                    except Conflict:
                        continue
                    new_row = {"job_id": job_id, **codec.job_to_row(job)}
                    tx.put(jobs, job_id, new_row)
                    job = codec.row_to_job(new_row)
                    self._store.insert_events(tx, ch.events, [job_id] * len(ch.events))
                epoch = int(held["epoch"]) + 1
                tx.put(leases, job_id, {"owner": node, "expires": until, "epoch": epoch})
                out.append((job, Lease(job_id, node, epoch, now + ttl)))
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
            for job_id, held in list(leases.items()):
                if held["owner"] == node and held["expires"] > at:
                    tx.put(leases, job_id, {**held, "expires": until})
                    n += 1
        return n

    def release(self, lease: Lease) -> bool:
        leases = self._leases()
        with self._store.write() as tx:
            held = leases.get(lease.job_id, _FREE)
            if held["owner"] != lease.node or held["epoch"] != lease.epoch:
                return False
            tx.put(leases, lease.job_id, {**held, "owner": None, "expires": None})
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
                if lease.job_id != ch.job_id:
                    raise InvalidInput(
                        f"the lease is on job {lease.job_id}, the change on job {ch.job_id}",
                        hint="pair each change with its job's lease",
                    )
                row = jobs.get(ch.job_id)
                if row is None:
                    raise NotFound(
                        f"job {ch.job_id} does not exist",
                        hint="it was deleted; drop the work on it",
                        job_id=ch.job_id,
                    )
                held = leases.get(ch.job_id, _FREE)
                if held["owner"] != lease.node or held["epoch"] != lease.epoch:
                    raise lost(lease, held["owner"], held["epoch"])
                job = advance(codec.row_to_job(row), ch.trigger, ch.patch, ch.expect)
                new_row = {"job_id": job.job_id, **codec.job_to_row(job)}
                tx.put(jobs, job.job_id, new_row)
                if release:
                    tx.put(leases, job.job_id, {**held, "owner": None, "expires": None})
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
            for job_id, held in sorted(leases.items()):
                if len(out) >= limit:
                    break
                owner = held["owner"]
                row = jobs.get(job_id)
                if owner is None or row is None or row["queue_status"] not in wanted:
                    continue
                if (owner != node) if own else (owner == node or held["expires"] > at):
                    continue
                epoch = int(held["epoch"]) + 1
                tx.put(leases, job_id, {"owner": node, "expires": until, "epoch": epoch})
                lease = Lease(job_id, node, epoch, now + ttl)
                out.append(Takeover(codec.row_to_job(row), lease, str(owner)))
        return out


if TYPE_CHECKING:  # mypy --strict checks that MemoryLeases is Leases, structurally

    def _is_leases(leases: MemoryLeases) -> Leases:
        return leases
