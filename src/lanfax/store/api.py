"""Persistence behind one interface (SQLite by default, PostgreSQL by URL).

The store is synchronous and thread-safe; the service calls it from a worker thread. Every
method that changes something is one transaction, and returns only after it is durable
(SQLite: WAL with ``synchronous=FULL``): the service tells a client "queued" only after
:meth:`Store.add_jobs` has returned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from lanfax.model.codes import JobType, QueueStatus
from lanfax.model.events import Event, NewEvent
from lanfax.model.jobs import Job
from lanfax.model.transitions import JobPatch, Trigger


@dataclass(frozen=True, slots=True)
class JobQuery:
    """A page of the queue, newest-first or oldest-first, by keyset on job_id."""

    limit: int = 100
    #: Return jobs with job_id greater than this (ascending order) ...
    after_id: int | None = None
    #: ... or less than this (descending order). At most one of the two is set.
    before_id: int | None = None
    statuses: frozenset[QueueStatus] | None = None
    job_types: frozenset[JobType] | None = None
    user_name: str | None = None
    broadcast_id: str | None = None
    descending: bool = False


@dataclass(frozen=True, slots=True)
class JobChange:
    """A change to one job, applied together with its events in one transaction.

    ``trigger`` says what happens (the queue state it leads to is in
    :data:`lanfax.model.transitions.TRANSITIONS`), ``patch`` which other fields are written.
    A store applies it with :func:`lanfax.model.transitions.advance` on the job as committed,
    inside the transaction: a trigger that may not fire in the job's state, or a job whose
    state is not in ``expect`` (a writer's narrower guard against lost updates: the state it
    saw), raises :class:`~lanfax.model.errors.Conflict` there and nothing of the batch is
    applied.
    """

    job_id: int
    trigger: Trigger
    patch: JobPatch = field(default_factory=JobPatch)
    expect: frozenset[QueueStatus] | None = None
    events: Sequence[NewEvent] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit trail (:mod:`lanfax.store.audit`): who, what, when, from where."""

    at: datetime
    user_name: str
    address: str
    action: str
    target: str = ""
    outcome: str = "ok"
    detail: Mapping[str, Any] = field(default_factory=dict)
    audit_id: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "audit_id": self.audit_id,
            "at": self.at.isoformat(),
            "user": self.user_name,
            "address": self.address,
            "action": self.action,
            "target": self.target,
            "outcome": self.outcome,
            "detail": dict(self.detail),
        }


class Store(Protocol):
    # -- life cycle --
    def open(self) -> None:
        """Create or migrate the schema; idempotent."""

    def close(self) -> None: ...

    # -- jobs --
    def add_jobs(
        self,
        jobs: Sequence[Job],
        events: Sequence[NewEvent] = (),
        audit: Sequence[AuditEntry] = (),
    ) -> list[Job]:
        """Insert ``jobs`` (their job_id is ignored and assigned here), ``events`` and
        ``audit`` entries in one transaction; returns the jobs with their ids. An event's
        job_id of 0 is replaced by the id of the job at the same index. (The submission's
        audit entry rides along: it is never lost when the jobs were committed, and costs no
        second commit.)"""

    def get_job(self, job_id: int) -> Job | None: ...

    def list_jobs(self, query: JobQuery) -> list[Job]: ...

    def count_jobs(self, query: JobQuery) -> int: ...

    def unfinished_jobs(self) -> list[Job]:
        """Every job whose queue_status is not final, oldest first (the scheduler's input)."""

    def update_jobs(self, changes: Sequence[JobChange]) -> tuple[list[Job], list[Event]]:
        """Apply ``changes`` and their events in one transaction; all or nothing."""

    def delete_jobs(self, job_ids: Iterable[int], events: Sequence[NewEvent] = ()) -> int:
        """Remove jobs (after their files are gone); returns how many were removed."""

    # -- events --
    def append_events(self, events: Sequence[NewEvent]) -> list[Event]: ...

    def events_after(self, seq: int, limit: int = 1000) -> list[Event]:
        """Events with a cursor greater than ``seq``, oldest first."""

    def last_event_seq(self) -> int: ...

    def prune_events(self, older_than: datetime) -> int: ...

    # -- settings: server config, ports, logging, extension data --
    def get_settings(self, namespace: str) -> dict[str, Any]:
        """A JSON-able dict saved under ``namespace`` ("config", "port:<key>", "logging",
        "ext:<guid>:<device>", ...); empty when nothing was saved."""

    def put_settings(
        self, namespace: str, values: Mapping[str, Any], events: Sequence[NewEvent] = ()
    ) -> list[Event]:
        """Replace the dict under ``namespace`` (and append ``events``) in one transaction."""

    def list_namespaces(self, prefix: str) -> list[str]: ...
