"""Persistence behind one interface (SQLite by default, PostgreSQL by URL).

The store is synchronous and thread-safe; the service calls it from a worker thread. Every
method that changes something is one transaction, and returns only after it is durable
(SQLite: WAL with ``synchronous=FULL``): the service tells a client "queued" only after
:meth:`Store.add_jobs` has returned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from lanfax.model.archive import ActivityRecord, ArchiveEntry, ArchiveQuery
from lanfax.model.audit import AuditEntry as AuditEntry
from lanfax.model.audit import AuditQuery
from lanfax.model.codes import QueueStatus
from lanfax.model.contacts import Contact, ContactList, MemberSpec
from lanfax.model.drafts import Draft, IppJob
from lanfax.model.events import Event, NewEvent
from lanfax.model.jobs import Job
from lanfax.model.jobs import JobQuery as JobQuery
from lanfax.model.receipts import Receipt
from lanfax.model.transitions import JobPatch, Trigger


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

    def add_jobs_and_events(
        self,
        jobs: Sequence[Job],
        events: Sequence[NewEvent] = (),
        audit: Sequence[AuditEntry] = (),
        *,
        sync: Callable[[], None] | None = None,
    ) -> tuple[list[Job], list[Event]]:
        """:meth:`add_jobs`, and the events as stored (#19: the event bus publishes them
        without reading them back): in cursor order, with consecutive cursors (nothing else
        between them), or empty when the store cannot promise that (the bus reads then).
        In a group commit they may begin with the events of the submissions committed
        before this one in the same transaction: then every event from the first one's
        cursor up to this call's last is handed back, consecutive.

        ``sync`` (#19: the fsync of ``spool/docs`` that makes the jobs' documents' renames
        durable) is called before the commit that holds these rows; submissions that share
        a group commit and give equal ``sync`` callables have it called once. If it raises,
        nothing is committed and the error is raised."""

    # #19 wave 7: the intake's one committer (lanfax.service.intake_commit).
    def add_jobs_and_events_many(
        self,
        items: Sequence[tuple[Sequence[Job], Sequence[NewEvent], Sequence[AuditEntry]]],
        *,
        sync: Callable[[], None] | None = None,
    ) -> list[tuple[list[Job], list[Event]] | Exception]:
        """:meth:`add_jobs_and_events` for each of ``items`` (jobs, events, audit), given
        together: in a group commit they share the commit (each rolled back alone when it
        fails, as from threads of their own). Each one's result, or the error it raises."""

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

    # -- archive, receipts, audit (#17): the same database, behind protocols of their own --
    @property
    def archive(self) -> ArchiveStore:
        """Archived faxes and the activity log (:class:`ArchiveStore`)."""

    @property
    def receipts(self) -> ReceiptStore:
        """Delivery receipts (:class:`ReceiptStore`)."""

    @property
    def audit(self) -> AuditStore:
        """The audit trail (:class:`AuditStore`)."""

    # -- printed jobs and drafts, the address book (#17 memstore): protocols of their own too --
    @property
    def ipp(self) -> IppStore:
        """Jobs printed to the FaxOut printer, and drafts (:class:`IppStore`)."""

    @property
    def contacts(self) -> ContactStore:
        """The address book: contacts and distribution lists (:class:`ContactStore`)."""


# -- archive, receipts, audit (#17) --------------------------------------------------------
# Each is part of the store (``store.archive``, ``store.receipts``, ``store.audit``): the same
# database, the same transactions and durability as the rest. Every method is blocking (the
# service calls it in a worker thread) and one transaction. SqlStore implements them in
# store/archive.py, store/receipts.py and store/audit.py.


class ArchiveStore(Protocol):
    """Archived faxes (incoming and outgoing) and the activity log (one record per call).

    Archive searches are newest first, paginated by keyset on ``(completed_at, archive_id)``:
    the cursor is ``"<completed_at micros>:<archive_id>"``. A direction that is not an archive
    (:data:`lanfax.model.archive.DIRECTIONS`) raises InvalidInput.
    """

    def add(self, entry: ArchiveEntry) -> ArchiveEntry:
        """Insert ``entry`` (its archive_id is assigned); an entry for the same job and
        direction already there is returned instead (archiving is idempotent)."""

    def get(self, archive_id: int) -> ArchiveEntry | None: ...

    def find(self, direction: str, job_id: int) -> ArchiveEntry | None:
        """The entry of job ``job_id`` in archive ``direction``, if any."""

    def search(self, q: ArchiveQuery) -> tuple[list[ArchiveEntry], str | None]:
        """One page, newest first, and the cursor of the next page (None at the end).
        InvalidInput for a limit outside 1..MAX_PAGE or a malformed cursor."""

    def reassign(self, job_id: int, user: str, events: Sequence[NewEvent] = ()) -> Job:
        """Give received fax ``job_id`` to ``user`` (#13): the job's ``user_name`` and its
        incoming archive entry's, with ``events``, in one transaction; returns the job.
        NotFound when the job does not exist."""

    def delete(self, archive_ids: Sequence[int]) -> int:
        """Remove entries; returns how many were removed."""

    def totals(self, direction: str) -> tuple[int, int]:
        """(entries, bytes) of one archive."""

    def oldest(
        self, direction: str, limit: int, before: datetime | None = None
    ) -> list[ArchiveEntry]:
        """The oldest entries (for retention), optionally only those completed before."""

    def unarchived(self, direction: str, since: datetime, limit: int = 500) -> list[Job]:
        """Final jobs of ``direction`` (send / receive) completed at or after ``since`` with no
        archive entry, by job id: what a crash between a job's end and its archiving left."""

    def log_call(self, record: ActivityRecord) -> None:
        """Append one call to the activity log (its activity_id is assigned)."""

    def activity(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        batch: int = 1000,
    ) -> Iterator[ActivityRecord]:
        """Every call with ``since`` <= at < ``until``, oldest first (read in batches)."""

    def prune_activity(self, before: datetime) -> int:
        """Delete the calls logged before ``before``; returns how many."""


class ReceiptStore(Protocol):
    """Delivery receipts. A receipt is idempotent by its key: adding one whose key is already
    there returns the row that is there, so a receipt is never owed twice."""

    def add(self, receipt: Receipt, key: str) -> tuple[Receipt, bool]:
        """Insert ``receipt`` under ``key`` unless a receipt with that key exists; returns
        the stored receipt (its receipt_id assigned) and whether it is new."""

    def get(self, receipt_id: int) -> Receipt | None: ...

    def update(self, receipt_id: int, **changes: Any) -> None:
        """Change the delivery bookkeeping of one receipt (state, tries, times, error)."""

    def pending(self) -> list[Receipt]:
        """Every receipt whose state is "pending", oldest first."""

    def list_for(
        self, user_name: str | None, *, before: int | None = None, limit: int = 100
    ) -> list[Receipt]:
        """Receipts of ``user_name`` (None: everyone's), newest first, keyset by id; the
        limit is clamped to 1..MAX_PAGE."""

    def keys(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` are already taken."""

    def owed_jobs(self, since: datetime, limit: int = 500) -> list[Job]:
        """Final send jobs completed at or after ``since`` that asked for a receipt
        (delivery_report_type not NONE) and have none yet (a "final" receipt of the job or a
        "summary" of its broadcast), by job id."""

    # #18: several nodes mail from one table
    def claim(self, receipt_id: int, now: datetime, until: datetime) -> Receipt | None:
        """Take a pending receipt that is due (``next_try_at`` None or <= ``now``) for one
        try, atomically: ``tries`` + 1, ``next_try_at`` = ``until`` (the lease); None when it
        is not pending, not due, or claimed by another node first."""

    def settle(self, receipt_id: int, tries: int, **changes: Any) -> bool:
        """``update`` only while the receipt is pending at ``tries`` (this node's claim);
        False when it is no longer (another node claimed it after the lease ran out)."""


class AuditStore(Protocol):
    """The audit trail: entries are appended, never changed."""

    def add(self, entry: AuditEntry) -> int:
        """Append ``entry``; returns its audit_id (increasing)."""

    def query(self, q: AuditQuery) -> list[AuditEntry]:
        """Newest first: ids below ``q.before``, ``q.user_name`` exactly, ``q.action`` as a
        prefix (literally: ``%`` and ``_`` are not wildcards), at >= ``q.since``; the limit is
        clamped to 1..MAX_PAGE."""

    def prune(self, before: datetime) -> int:
        """Delete the entries written before ``before`` (the retention); returns how many."""


# -- printed jobs, drafts and the address book (#17 memstore) ----------------------------------
# Parts of the store as the three above (``store.ipp``, ``store.contacts``): blocking, one
# transaction per method. SqlStore implements them in store/ipp.py and store/contacts.py, the
# in-memory store in store/memory_tables.py and store/memory_contacts.py.


class IppStore(Protocol):
    """Jobs printed to ``/ipp/faxout`` and the drafts they leave (issue #11). Lists are newest
    first with the limit clamped to 1..1000; an id out of range is simply not found."""

    def add_job(self, job: IppJob) -> IppJob:
        """Insert ``job`` (its ipp_job_id is assigned here); returns it as stored."""

    def get_job(self, ipp_job_id: int) -> IppJob | None: ...

    def update_job(self, ipp_job_id: int, **changes: Any) -> None:
        """Change fields of one printed job (a missing job changes nothing)."""

    def list_jobs(
        self,
        user_name: str | None,
        *,
        limit: int = 100,
        states: tuple[str, ...] | None = None,
    ) -> list[IppJob]:
        """Printed jobs of ``user_name`` (None: everyone's) in ``states``, newest first."""

    def add_draft(self, draft: Draft, ipp_job_id: int | None = None) -> Draft:
        """Insert ``draft``; with ``ipp_job_id`` the printed job becomes a ``draft`` job in
        the same transaction."""

    def get_draft(self, draft_id: int) -> Draft | None: ...

    def list_drafts(self, user_name: str | None, *, limit: int = 100) -> list[Draft]:
        """Drafts of ``user_name`` (None: everyone's), newest first."""

    def delete_draft(self, draft_id: int) -> bool:
        """Remove a draft; False if there was none."""

    def expired_drafts(self, now: datetime, limit: int = 500) -> list[Draft]:
        """Drafts whose expires_at is at or before ``now``, soonest expired first."""


class ContactStore(Protocol):
    """The address book (issue #13). Within one owner a name (compared by
    :func:`~lanfax.model.contacts.name_key`) is unique across contacts and lists: a clash is
    a Conflict raised inside the writing transaction. Lists are by name key, then owner
    (personal before shared), then id, with limit (clamped to 1..1000) and offset."""

    def add_contacts(
        self, owner: str, entries: Sequence[Mapping[str, str]], *, replace: bool = False
    ) -> tuple[list[Contact], int]:
        """Insert ``entries`` (``name`` plus CONTACT_FIELDS) for ``owner``, all or nothing;
        with ``replace`` an entry named like a contact of ``owner`` updates it. Returns the
        contacts as stored and how many were updates."""

    def get_contact(self, contact_id: int) -> Contact | None: ...

    def get_contacts(self, contact_ids: Iterable[int]) -> dict[int, Contact]:
        """The contacts of these ids that exist, by id."""

    def update_contact(self, contact_id: int, changes: Mapping[str, str]) -> Contact:
        """Change ``name`` and CONTACT_FIELDS (others are ignored); NotFound, Conflict."""

    def delete_contact(self, contact_id: int) -> bool:
        """Remove a contact and its place in every list; False if there was none."""

    def list_contacts(
        self, owners: Iterable[str], *, prefix: str = "", limit: int = 100, offset: int = 0
    ) -> list[Contact]:
        """Contacts of ``owners``; ``prefix`` matches the start of the name, the company, the
        e-mail address or the fax number (ignoring case)."""

    def find_names(
        self, owners: Sequence[str], keys: Iterable[str]
    ) -> dict[str, list[Contact | ContactList]]:
        """For each name key: the contacts and lists of ``owners`` with that name, in the
        order of ``owners`` (contacts before lists within an owner)."""

    def add_list(
        self,
        owner: str,
        name: str,
        notes: str,
        members: Sequence[MemberSpec],
        allowed_owners: Sequence[str],
    ) -> ContactList:
        """Insert a list; a member contact not owned by one of ``allowed_owners`` (or
        missing) is InvalidInput and nothing is stored."""

    def get_list(self, list_id: int) -> ContactList | None: ...

    def update_list(
        self,
        list_id: int,
        *,
        name: str | None,
        notes: str | None,
        members: Sequence[MemberSpec] | None,
        allowed_owners: Sequence[str],
    ) -> ContactList:
        """Change what is not None, all or nothing; NotFound, Conflict, InvalidInput."""

    def delete_list(self, list_id: int) -> bool: ...

    def list_lists(
        self, owners: Iterable[str], *, prefix: str = "", limit: int = 100, offset: int = 0
    ) -> list[ContactList]:
        """Lists of ``owners`` whose name key starts with ``prefix``'s."""
