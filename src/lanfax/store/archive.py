"""The archive and activity-log tables over a :class:`~lanfax.store.sql.SqlStore`
(``store.archive``, the :class:`~lanfax.store.api.ArchiveStore` of the SQL store).

``SqlArchive(store)`` shares the store's engine, its write lock (one writer, serial commits)
and its error mapping. Every method is one transaction and blocking (call it in a worker
thread). Searches are newest first, paginated by keyset on ``(completed_at, archive_id)``:
the cursor is ``"<completed_at micros>:<archive_id>"``, so a page costs the same at row 10 as
at row 100,000.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

# The query types live in the model (#17); imported from here by older code.
from lanfax.model.archive import (
    DIRECTIONS,
    MAX_PAGE,
    ActivityRecord,
    ArchiveEntry,
    ArchiveQuery,
    check_direction,
)
from lanfax.model.codes import FINAL_QUEUE_STATES, JobType
from lanfax.model.errors import InvalidInput, NotFound, StoreError
from lanfax.model.events import NewEvent
from lanfax.model.jobs import Job
from lanfax.store import codec
from lanfax.store.schema import activity as t_activity
from lanfax.store.schema import archive as t_archive
from lanfax.store.schema import jobs as t_jobs

if TYPE_CHECKING:
    from lanfax.store.sql import SqlStore

__all__ = ["DIRECTIONS", "MAX_PAGE", "ArchiveQuery", "SqlArchive", "check_direction"]

_TIMES = {"completed_at", "archived_at", "submitted_at", "at"}


def _row(obj: Any, skip: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(obj):
        if f.name == skip:
            continue
        value = getattr(obj, f.name)
        if f.name in _TIMES:
            value = None if value is None else codec.to_micros(value, f.name)
        out[f.name] = value
    return out


def _entry(row: Mapping[Any, Any]) -> ArchiveEntry:
    values = dict(row)
    for key in ("completed_at", "archived_at", "submitted_at"):
        if values[key] is not None:
            values[key] = codec.from_micros(values[key])
    return ArchiveEntry(**values)


def _activity(row: Mapping[Any, Any]) -> ActivityRecord:
    values = dict(row)
    values["at"] = codec.from_micros(values["at"])
    return ActivityRecord(**values)


def _prefix(column: Any, text: str) -> Any:
    # A range instead of LIKE: uses the index on every backend, and needs no escaping.
    return sa.and_(column >= text, column < text + "\U0010ffff")


class SqlArchive:
    """Archive entries and activity records in the store's database: the SQL
    :class:`~lanfax.store.api.ArchiveStore` (``SqlStore.archive``)."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    # -- archive ----------------------------------------------------------------------------

    def add(self, entry: ArchiveEntry) -> ArchiveEntry:
        """Insert ``entry`` (its archive_id is assigned); an entry for the same job and
        direction already there is returned instead (archiving is idempotent)."""
        check_direction(entry.direction)
        row = _row(entry, "archive_id")
        try:
            with self._store._write("archive add") as conn:
                new_id = conn.execute(
                    t_archive.insert().values(**row).returning(t_archive.c.archive_id)
                ).scalar_one()
        except StoreError as exc:
            # _write maps every database error to StoreError: the unique key on (direction,
            # job_id) is the cause when the entry is already there (#17: was never caught).
            if not isinstance(exc.__cause__, sa_exc.IntegrityError):
                raise
            found = self.find(entry.direction, entry.job_id)
            assert found is not None
            return found
        got = self.get(int(new_id))
        assert got is not None
        return got

    def get(self, archive_id: int) -> ArchiveEntry | None:
        with self._store._read("archive get") as conn:
            row = (
                conn.execute(sa.select(t_archive).where(t_archive.c.archive_id == archive_id))
                .mappings()
                .first()
            )
        return None if row is None else _entry(row)

    def find(self, direction: str, job_id: int) -> ArchiveEntry | None:
        with self._store._read("archive find") as conn:
            row = (
                conn.execute(
                    sa.select(t_archive).where(
                        t_archive.c.direction == direction, t_archive.c.job_id == job_id
                    )
                )
                .mappings()
                .first()
            )
        return None if row is None else _entry(row)

    def search(self, q: ArchiveQuery) -> tuple[list[ArchiveEntry], str | None]:
        """One page, newest first, and the cursor of the next page (None at the end)."""
        check_direction(q.direction)
        if not 1 <= q.limit <= MAX_PAGE:
            raise InvalidInput(f"limit {q.limit} is out of range", hint=f"use 1 to {MAX_PAGE}")
        c = t_archive.c
        where: list[Any] = [c.direction == q.direction]
        if q.since is not None:
            where.append(c.completed_at >= codec.to_micros(q.since, "since"))
        if q.until is not None:
            where.append(c.completed_at < codec.to_micros(q.until, "until"))
        if q.number:
            where.append(_prefix(c.number, q.number))
        if q.ident:
            where.append(_prefix(c.remote_ident, q.ident))
        if q.user:
            where.append(c.user_name == q.user)
        elif q.unassigned:
            where.append(c.user_name == "")
        if q.cursor:
            ts, _, aid = q.cursor.partition(":")
            if not (ts.lstrip("-").isdigit() and aid.isdigit()):
                raise InvalidInput(f"{q.cursor!r} is not a cursor", hint="pass `next` back")
            where.append(
                sa.or_(
                    c.completed_at < int(ts),
                    sa.and_(c.completed_at == int(ts), c.archive_id < int(aid)),
                )
            )
        stmt = (
            sa.select(t_archive)
            .where(*where)
            .order_by(c.completed_at.desc(), c.archive_id.desc())
            .limit(q.limit + 1)
        )
        with self._store._read("archive search") as conn:
            rows = conn.execute(stmt).mappings().all()
        entries = [_entry(r) for r in rows[: q.limit]]
        cursor = None
        if len(rows) > q.limit:
            last = rows[q.limit - 1]
            cursor = f"{last['completed_at']}:{last['archive_id']}"
        return entries, cursor

    def reassign(self, job_id: int, user: str, events: Sequence[NewEvent] = ()) -> Job:
        """Give received fax ``job_id`` to ``user`` (#13): the job's ``user_name`` and its
        incoming archive entry's, with ``events``, in one transaction; returns the job."""
        with self._store._write("reassign") as conn:
            found = (
                conn.execute(sa.select(t_jobs).where(t_jobs.c.job_id == job_id).with_for_update())
                .mappings()
                .first()
            )
            if found is None:
                raise NotFound(f"job {job_id} does not exist", hint="list the received faxes")
            conn.execute(t_jobs.update().where(t_jobs.c.job_id == job_id).values(user_name=user))
            conn.execute(
                t_archive.update()
                .where(t_archive.c.direction == "incoming", t_archive.c.job_id == job_id)
                .values(user_name=user)
            )
            self._store._insert_events(conn, events, [job_id] * len(events))
            return codec.row_to_job({**found, "user_name": user})

    def delete(self, archive_ids: Sequence[int]) -> int:
        if not archive_ids:
            return 0
        with self._store._write("archive delete") as conn:
            result = conn.execute(
                t_archive.delete().where(t_archive.c.archive_id.in_(list(archive_ids)))
            )
        return int(result.rowcount or 0)

    def totals(self, direction: str) -> tuple[int, int]:
        """(entries, bytes) of one archive."""
        c = t_archive.c
        with self._store._read("archive totals") as conn:
            n, size = conn.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(c.size), 0)).where(
                    c.direction == direction
                )
            ).one()
        return int(n), int(size)

    def oldest(
        self, direction: str, limit: int, before: datetime | None = None
    ) -> list[ArchiveEntry]:
        """The oldest entries (for retention), optionally only those completed before."""
        c = t_archive.c
        where: list[Any] = [c.direction == direction]
        if before is not None:
            where.append(c.completed_at < codec.to_micros(before, "before"))
        stmt = (
            sa.select(t_archive).where(*where).order_by(c.completed_at, c.archive_id).limit(limit)
        )
        with self._store._read("archive oldest") as conn:
            return [_entry(r) for r in conn.execute(stmt).mappings().all()]

    def unarchived(self, direction: str, since: datetime, limit: int = 500) -> list[Job]:
        """Final jobs of ``direction`` (send / receive) completed at or after ``since`` with no
        archive entry: what a crash between a job's end and its archiving left behind."""
        kind = JobType.SEND if direction == "outgoing" else JobType.RECEIVE
        j, a = t_jobs.c, t_archive.c
        missing = ~sa.exists().where(a.direction == direction, a.job_id == j.job_id)
        stmt = (
            sa.select(t_jobs)
            .where(
                j.completed_at >= codec.to_micros(since, "since"),
                j.job_type == int(kind),
                j.queue_status.in_([int(s) for s in FINAL_QUEUE_STATES]),
                missing,
            )
            .order_by(j.job_id)
            .limit(limit)
        )
        with self._store._read("archive unarchived") as conn:
            return [codec.row_to_job(r) for r in conn.execute(stmt).mappings().all()]

    # -- activity log -------------------------------------------------------------------------

    def log_call(self, record: ActivityRecord) -> None:
        check_direction(record.direction)
        with self._store._write("activity add") as conn:
            conn.execute(t_activity.insert().values(**_row(record, "activity_id")))

    def activity(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        batch: int = 1000,
    ) -> Iterator[ActivityRecord]:
        """Every call in the range, oldest first (read in batches, each its own snapshot)."""
        c = t_activity.c
        after = 0
        while True:
            where: list[Any] = [c.activity_id > after]
            if since is not None:
                where.append(c.at >= codec.to_micros(since, "since"))
            if until is not None:
                where.append(c.at < codec.to_micros(until, "until"))
            stmt = sa.select(t_activity).where(*where).order_by(c.activity_id).limit(batch)
            with self._store._read("activity") as conn:
                rows = conn.execute(stmt).mappings().all()
            for r in rows:
                yield _activity(r)
            if len(rows) < batch:
                return
            after = int(rows[-1]["activity_id"])

    def prune_activity(self, before: datetime) -> int:
        with self._store._write("activity prune") as conn:
            result = conn.execute(
                t_activity.delete().where(t_activity.c.at < codec.to_micros(before, "before"))
            )
        return int(result.rowcount or 0)
