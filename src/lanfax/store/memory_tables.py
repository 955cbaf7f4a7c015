"""Archive, activity log, receipts, audit, printed jobs and drafts of the in-memory store
(``MemoryStore.archive``, ``.receipts``, ``.audit``, ``.ipp``): the :mod:`lanfax.store.api`
protocols with the SQL store's semantics (see :mod:`lanfax.store.memory` for how they are
kept).

Each class is a stateless view over its :class:`~lanfax.store.memory.MemoryStore`: the rows
live in the store's tables, every method is one transaction under the store's lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from lanfax.model.archive import MAX_PAGE as ARCHIVE_PAGE
from lanfax.model.archive import (
    ActivityRecord,
    ArchiveEntry,
    ArchiveQuery,
    check_direction,
)
from lanfax.model.audit import MAX_PAGE as AUDIT_PAGE
from lanfax.model.audit import AuditEntry, AuditQuery
from lanfax.model.codes import FINAL_QUEUE_STATES, DeliveryReportType, JobType
from lanfax.model.drafts import Draft, IppJob
from lanfax.model.errors import InvalidInput, NotFound, StoreError
from lanfax.model.events import NewEvent
from lanfax.model.jobs import Job
from lanfax.model.receipts import MAX_PAGE as RECEIPT_PAGE
from lanfax.model.receipts import Receipt
from lanfax.store import codec
from lanfax.store.audit import entry_from_row

if TYPE_CHECKING:
    from lanfax.store.memory import MemoryStore, Row

__all__ = ["MemoryArchive", "MemoryAudit", "MemoryIpp", "MemoryReceipts", "RowCodec"]

T = TypeVar("T")
_FINAL = frozenset(int(s) for s in FINAL_QUEUE_STATES)


class RowCodec(Generic[T]):
    """A dataclass to a row and back, as the SQL store writes it: datetimes as microseconds
    (a naive one is InvalidInput), JSON fields as text (so a read returns a copy)."""

    def __init__(
        self, cls: Callable[..., T], key: str, times: Iterable[str], json: Iterable[str] = ()
    ) -> None:
        self.cls = cls
        self.key = key
        self.times = frozenset(times)
        self.json = frozenset(json)
        self.names = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]

    def value(self, name: str, value: Any) -> Any:
        """One column's stored form."""
        if name not in self.names:
            raise StoreError(
                f"{self.key.removesuffix('_id')} has no column {name!r}",
                hint=f"a row has: {', '.join(self.names)}",
            )
        if name in self.times:
            return None if value is None else codec.to_micros(value, name)
        if name in self.json:
            return codec.dump_json(value, name)
        return value

    def row(self, obj: T, key: int) -> Row:
        out = {n: self.value(n, getattr(obj, n)) for n in self.names if n != self.key}
        out[self.key] = key
        return out

    def obj(self, row: Mapping[str, Any]) -> T:
        values = {n: row[n] for n in self.names}
        for n in self.times:
            if values[n] is not None:
                values[n] = codec.from_micros(values[n])
        for n in self.json:
            values[n] = codec.load_json(values[n])
        return self.cls(**values)


_ARCHIVE = RowCodec(ArchiveEntry, "archive_id", ("completed_at", "archived_at", "submitted_at"))
_ACTIVITY = RowCodec(ActivityRecord, "activity_id", ("at",))
_RECEIPT = RowCodec(
    Receipt, "receipt_id", ("created_at", "sent_at", "next_try_at"), json=("facts",)
)


def _newest(table: dict[int, Row], match: Callable[[Row], bool], limit: int) -> list[Row]:
    """Up to ``limit`` rows that match, by id descending."""
    out: list[Row] = []
    for key in sorted(table, reverse=True):
        if len(out) >= limit:
            break
        if match(table[key]):
            out.append(table[key])
    return out


class MemoryArchive:
    """Archive entries and activity records (:class:`~lanfax.store.api.ArchiveStore`)."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._archive: dict[int, Row] = store.table("archive")
        self._activity: dict[int, Row] = store.table("activity")

    # -- archive ----------------------------------------------------------------------------

    def add(self, entry: ArchiveEntry) -> ArchiveEntry:
        check_direction(entry.direction)
        with self._store.write() as tx:
            found = self._find(entry.direction, entry.job_id)
            if found is not None:  # one entry per job and direction (a unique key in SQL)
                return _ARCHIVE.obj(found)
            archive_id = self._store.new_id(tx, "archive")
            row = _ARCHIVE.row(entry, archive_id)
            tx.put(self._archive, archive_id, row)
        return _ARCHIVE.obj(row)

    def _find(self, direction: str, job_id: int) -> Row | None:
        for row in self._archive.values():
            if row["direction"] == direction and row["job_id"] == job_id:
                return row
        return None

    def get(self, archive_id: int) -> ArchiveEntry | None:
        with self._store.read():
            row = self._archive.get(archive_id)
        return None if row is None else _ARCHIVE.obj(row)

    def find(self, direction: str, job_id: int) -> ArchiveEntry | None:
        with self._store.read():
            row = self._find(direction, job_id)
        return None if row is None else _ARCHIVE.obj(row)

    def search(self, q: ArchiveQuery) -> tuple[list[ArchiveEntry], str | None]:
        """One page, newest first, and the cursor of the next page (None at the end)."""
        check_direction(q.direction)
        if not 1 <= q.limit <= ARCHIVE_PAGE:
            raise InvalidInput(f"limit {q.limit} is out of range", hint=f"use 1 to {ARCHIVE_PAGE}")
        since = None if q.since is None else codec.to_micros(q.since, "since")
        until = None if q.until is None else codec.to_micros(q.until, "until")
        after: tuple[int, int] | None = None
        if q.cursor:
            ts, _, aid = q.cursor.partition(":")
            if not (ts.lstrip("-").isdigit() and aid.isdigit()):
                raise InvalidInput(f"{q.cursor!r} is not a cursor", hint="pass `next` back")
            after = (int(ts), int(aid))

        def match(r: Row) -> bool:
            return (
                r["direction"] == q.direction
                and (since is None or r["completed_at"] >= since)
                and (until is None or r["completed_at"] < until)
                and r["number"].startswith(q.number)
                and r["remote_ident"].startswith(q.ident)
                and (r["user_name"] == q.user if q.user else not q.unassigned or not r["user_name"])
                and (after is None or (r["completed_at"], r["archive_id"]) < after)
            )

        with self._store.read():
            rows = [r for r in self._archive.values() if match(r)]
        rows.sort(key=lambda r: (r["completed_at"], r["archive_id"]), reverse=True)
        entries = [_ARCHIVE.obj(r) for r in rows[: q.limit]]
        cursor = None
        if len(rows) > q.limit:
            last = rows[q.limit - 1]
            cursor = f"{last['completed_at']}:{last['archive_id']}"
        return entries, cursor

    def reassign(self, job_id: int, user: str, events: Sequence[NewEvent] = ()) -> Job:
        """Give received fax ``job_id`` to ``user``: the job's and its incoming entry's
        ``user_name``, with ``events``, in one transaction; returns the job."""
        jobs = self._store.table("jobs")
        with self._store.write() as tx:
            found = jobs.get(job_id)
            if found is None:
                raise NotFound(f"job {job_id} does not exist", hint="list the received faxes")
            row = {**found, "user_name": user}
            tx.put(jobs, job_id, row)
            entry = self._find("incoming", job_id)
            if entry is not None:
                tx.put(self._archive, entry["archive_id"], {**entry, "user_name": user})
            self._store.insert_events(tx, events, [job_id] * len(events))
        return codec.row_to_job(row)

    def delete(self, archive_ids: Sequence[int]) -> int:
        if not archive_ids:
            return 0
        with self._store.write() as tx:
            return sum(1 for i in set(archive_ids) if tx.delete(self._archive, i))

    def totals(self, direction: str) -> tuple[int, int]:
        """(entries, bytes) of one archive."""
        with self._store.read():
            sizes = [r["size"] for r in self._archive.values() if r["direction"] == direction]
        return len(sizes), sum(sizes)

    def oldest(
        self, direction: str, limit: int, before: datetime | None = None
    ) -> list[ArchiveEntry]:
        cutoff = None if before is None else codec.to_micros(before, "before")
        with self._store.read():
            rows = [
                r
                for r in self._archive.values()
                if r["direction"] == direction and (cutoff is None or r["completed_at"] < cutoff)
            ]
        rows.sort(key=lambda r: (r["completed_at"], r["archive_id"]))
        return [_ARCHIVE.obj(r) for r in rows[: max(0, limit)]]

    def unarchived(self, direction: str, since: datetime, limit: int = 500) -> list[Job]:
        kind = int(JobType.SEND if direction == "outgoing" else JobType.RECEIVE)
        start = codec.to_micros(since, "since")
        with self._store.read():
            done = {r["job_id"] for r in self._archive.values() if r["direction"] == direction}
            rows = [
                r
                for r in self._store.job_rows()
                if r["completed_at"] is not None
                and r["completed_at"] >= start
                and r["job_type"] == kind
                and r["queue_status"] in _FINAL
                and r["job_id"] not in done
            ]
        return [codec.row_to_job(r) for r in rows[: max(0, limit)]]

    # -- activity log -------------------------------------------------------------------------

    def log_call(self, record: ActivityRecord) -> None:
        check_direction(record.direction)
        with self._store.write() as tx:
            activity_id = self._store.new_id(tx, "activity")
            tx.put(self._activity, activity_id, _ACTIVITY.row(record, activity_id))

    def activity(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        batch: int = 1000,
    ) -> Iterator[ActivityRecord]:
        """Every call in the range, oldest first (read in batches, each its own snapshot)."""
        start = None if since is None else codec.to_micros(since, "since")
        end = None if until is None else codec.to_micros(until, "until")
        after = 0
        while True:
            with self._store.read():
                keys = sorted(k for k in self._activity if k > after)
                rows = []
                for k in keys:
                    r = self._activity[k]
                    if (start is None or r["at"] >= start) and (end is None or r["at"] < end):
                        rows.append(r)
                        if len(rows) >= batch:
                            break
            yield from (_ACTIVITY.obj(r) for r in rows)
            if len(rows) < batch:
                return
            after = int(rows[-1]["activity_id"])

    def prune_activity(self, before: datetime) -> int:
        cutoff = codec.to_micros(before, "before")
        with self._store.write() as tx:
            old = [k for k, r in self._activity.items() if r["at"] < cutoff]
            return sum(1 for k in old if tx.delete(self._activity, k))


class MemoryReceipts:
    """Delivery receipts (:class:`~lanfax.store.api.ReceiptStore`), idempotent by key."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._rows: dict[int, Row] = store.table("receipts")

    def _by_key(self, key: str) -> Row | None:
        # A scan, not an index of its own: the table stays exactly the SQL table's rows.
        return next((r for r in self._rows.values() if r["receipt_key"] == key), None)

    def add(self, receipt: Receipt, key: str) -> tuple[Receipt, bool]:
        with self._store.write() as tx:
            found = self._by_key(key)
            if found is not None:  # the key is unique (a constraint in SQL)
                return _RECEIPT.obj(found), False
            receipt_id = self._store.new_id(tx, "receipts")
            row = {**_RECEIPT.row(receipt, receipt_id), "receipt_key": key}
            tx.put(self._rows, receipt_id, row)
        return _RECEIPT.obj(row), True

    def get(self, receipt_id: int) -> Receipt | None:
        with self._store.read():
            row = self._rows.get(receipt_id)
        return None if row is None else _RECEIPT.obj(row)

    def update(self, receipt_id: int, **changes: Any) -> None:
        values = {name: _RECEIPT.value(name, v) for name, v in changes.items()}
        if "receipt_id" in values:
            raise StoreError("a receipt's id cannot change", hint="leave receipt_id out")
        with self._store.write() as tx:
            row = self._rows.get(receipt_id)
            if row is not None:  # an UPDATE that matches no row changes nothing
                tx.put(self._rows, receipt_id, {**row, **values})

    def pending(self) -> list[Receipt]:
        with self._store.read():
            rows = [self._rows[k] for k in sorted(self._rows)]
        return [_RECEIPT.obj(r) for r in rows if r["state"] == "pending"]

    # -- #18: claimed before mailed (one node here, the same semantics as SQL) -------------------

    def claim(self, receipt_id: int, now: datetime, until: datetime) -> Receipt | None:
        at = codec.to_micros(now, "now")
        with self._store.write() as tx:
            row = self._rows.get(receipt_id)
            if row is None or row["state"] != "pending":
                return None
            if row["next_try_at"] is not None and row["next_try_at"] > at:
                return None
            row = {**row, "tries": row["tries"] + 1, "next_try_at": codec.to_micros(until, "until")}
            tx.put(self._rows, receipt_id, row)
        return _RECEIPT.obj(row)

    def settle(self, receipt_id: int, tries: int, **changes: Any) -> bool:
        values = {name: _RECEIPT.value(name, v) for name, v in changes.items()}
        if "receipt_id" in values:
            raise StoreError("a receipt's id cannot change", hint="leave receipt_id out")
        with self._store.write() as tx:
            row = self._rows.get(receipt_id)
            if row is None or row["state"] != "pending" or row["tries"] != tries:
                return False
            tx.put(self._rows, receipt_id, {**row, **values})
        return True

    def list_for(
        self, user_name: str | None, *, before: int | None = None, limit: int = 100
    ) -> list[Receipt]:
        def match(r: Row) -> bool:
            return (user_name is None or r["user_name"] == user_name) and (
                before is None or r["receipt_id"] < before
            )

        with self._store.read():
            rows = _newest(self._rows, match, max(1, min(limit, RECEIPT_PAGE)))
        return [_RECEIPT.obj(r) for r in rows]

    def keys(self, keys: Iterable[str]) -> set[str]:
        wanted = set(keys)
        with self._store.read():
            return {r["receipt_key"] for r in self._rows.values() if r["receipt_key"] in wanted}

    def owed_jobs(self, since: datetime, limit: int = 500) -> list[Job]:
        start = codec.to_micros(since, "since")
        send, no_report = int(JobType.SEND), int(DeliveryReportType.NONE)
        with self._store.read():
            finals = {r["job_id"] for r in self._rows.values() if r["kind"] == "final"}
            summaries = {r["broadcast_id"] for r in self._rows.values() if r["kind"] == "summary"}
            rows = [
                r
                for r in self._store.job_rows()
                if r["completed_at"] is not None
                and r["completed_at"] >= start
                and r["job_type"] == send
                and r["queue_status"] in _FINAL
                and r["delivery_report_type"] != no_report
                and r["job_id"] not in finals
                and r["broadcast_id"] not in summaries
            ]
        return [codec.row_to_job(r) for r in rows[: max(0, limit)]]


class MemoryAudit:
    """The audit trail (:class:`~lanfax.store.api.AuditStore`): appended, never changed."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._rows: dict[int, Row] = store.table("audit")

    def add(self, entry: AuditEntry) -> int:
        with self._store.write() as tx:
            (audit_id,) = self._store.insert_audit(tx, [entry])
        return audit_id

    def query(self, q: AuditQuery) -> list[AuditEntry]:
        since = None if q.since is None else codec.to_micros(q.since, "since")

        def match(r: Row) -> bool:
            return (
                (q.before is None or r["audit_id"] < q.before)
                and (not q.user_name or r["user_name"] == q.user_name)
                and (not q.action or r["action"].startswith(q.action))
                and (since is None or r["at"] >= since)
            )

        with self._store.read():
            rows = _newest(self._rows, match, max(1, min(q.limit, AUDIT_PAGE)))
        return [entry_from_row(r) for r in rows]

    def prune(self, before: datetime) -> int:
        cutoff = codec.to_micros(before, "before")
        with self._store.write() as tx:
            old = [k for k, r in self._rows.items() if r["at"] < cutoff]
            return sum(1 for k in old if tx.delete(self._rows, k))


_IPP_JOB = RowCodec(IppJob, "ipp_job_id", ("created_at", "completed_at"), json=("attributes",))
_DRAFT = RowCodec(Draft, "draft_id", ("created_at", "expires_at"))
_IPP_PAGE = 1000


def _ipp_id(value: int) -> bool:
    # An id a 64-bit column could hold: anything else is simply not found (as in SQL).
    return 0 < value < 2**63


class MemoryIpp:
    """Printed jobs and drafts (:class:`~lanfax.store.api.IppStore`)."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._jobs: dict[int, Row] = store.table("ipp_jobs")
        self._drafts: dict[int, Row] = store.table("drafts")

    # -- ipp jobs ----------------------------------------------------------------------------

    def add_job(self, job: IppJob) -> IppJob:
        with self._store.write() as tx:
            ipp_job_id = self._store.new_id(tx, "ipp_jobs")
            row = _IPP_JOB.row(job, ipp_job_id)
            tx.put(self._jobs, ipp_job_id, row)
        return _IPP_JOB.obj(row)

    def get_job(self, ipp_job_id: int) -> IppJob | None:
        if not _ipp_id(ipp_job_id):
            return None
        with self._store.read():
            row = self._jobs.get(ipp_job_id)
        return None if row is None else _IPP_JOB.obj(row)

    def update_job(self, ipp_job_id: int, **changes: Any) -> None:
        values = {name: _IPP_JOB.value(name, v) for name, v in changes.items()}
        with self._store.write() as tx:
            row = self._jobs.get(ipp_job_id)
            if row is not None:
                tx.put(self._jobs, ipp_job_id, {**row, **values})

    def list_jobs(
        self,
        user_name: str | None,
        *,
        limit: int = 100,
        states: tuple[str, ...] | None = None,
    ) -> list[IppJob]:
        def match(r: Row) -> bool:
            return (user_name is None or r["user_name"] == user_name) and (
                states is None or r["state"] in states
            )

        with self._store.read():
            rows = _newest(self._jobs, match, max(1, min(limit, _IPP_PAGE)))
        return [_IPP_JOB.obj(r) for r in rows]

    # -- drafts ------------------------------------------------------------------------------

    def add_draft(self, draft: Draft, ipp_job_id: int | None = None) -> Draft:
        with self._store.write() as tx:
            draft_id = self._store.new_id(tx, "drafts")
            row = _DRAFT.row(draft, draft_id)
            tx.put(self._drafts, draft_id, row)
            job = None if ipp_job_id is None else self._jobs.get(ipp_job_id)
            if job is not None:
                tx.put(
                    self._jobs,
                    job["ipp_job_id"],
                    {
                        **job,
                        "state": "draft",
                        "draft_id": draft_id,
                        "completed_at": row["created_at"],
                        "state_message": "kept as a draft: no fax number was given",
                    },
                )
        return _DRAFT.obj(row)

    def get_draft(self, draft_id: int) -> Draft | None:
        if not _ipp_id(draft_id):
            return None
        with self._store.read():
            row = self._drafts.get(draft_id)
        return None if row is None else _DRAFT.obj(row)

    def list_drafts(self, user_name: str | None, *, limit: int = 100) -> list[Draft]:
        def match(r: Row) -> bool:
            return user_name is None or r["user_name"] == user_name

        with self._store.read():
            rows = _newest(self._drafts, match, max(1, min(limit, _IPP_PAGE)))
        return [_DRAFT.obj(r) for r in rows]

    def delete_draft(self, draft_id: int) -> bool:
        with self._store.write() as tx:
            return tx.delete(self._drafts, draft_id)

    def expired_drafts(self, now: datetime, limit: int = 500) -> list[Draft]:
        cutoff = codec.to_micros(now, "now")
        with self._store.read():
            rows = [r for r in self._drafts.values() if r["expires_at"] <= cutoff]
        rows.sort(key=lambda r: (r["expires_at"], r["draft_id"]))
        return [_DRAFT.obj(r) for r in rows[: max(0, limit)]]
