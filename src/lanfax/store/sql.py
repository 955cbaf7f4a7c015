"""The SQL store: :class:`lanfax.store.api.Store` on SQLAlchemy Core, for SQLite and PostgreSQL.

Concurrency: the store is shared by the service's worker threads. Writes are serialised by one
lock per store (SQLite has a single writer anyway, and serial commits keep event cursors
committed in ``seq`` order, which :meth:`SqlStore.events_after` readers rely on: a reader never
sees seq 7 while seq 6 is still uncommitted). Reads run concurrently, each in its own
transaction (a consistent snapshot). One service process per database is assumed; a second
writer process would be safe for the data (SQLite's file lock, PostgreSQL's row locks) but
could let an event cursor skip over a concurrently committed event.

Durability: SQLite runs in WAL mode with ``synchronous=FULL``, so a committed transaction
survives a kill -9 or a power loss; write transactions start with ``BEGIN IMMEDIATE`` so that
two processes never deadlock upgrading a read lock.

This module holds the store's queries and writes. The connection (URL, engine, migration,
error mapping) is in :mod:`lanfax.store.sql_engine`; the group commit of ``add_jobs``
(#19) in :mod:`lanfax.store.sql_group`. :func:`normalise_url` is re-exported here.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lanfax.model import transitions
from lanfax.model.clock import Clock, SystemClock
from lanfax.model.codes import FINAL_QUEUE_STATES, QueueStatus
from lanfax.model.errors import InvalidInput, NotFound, StoreError
from lanfax.model.events import Event, NewEvent
from lanfax.model.jobs import Job
from lanfax.store import codec
from lanfax.store.api import AuditEntry, JobChange, JobQuery
from lanfax.store.notify import EVENTS, SETTINGS, notify  # #18
from lanfax.store.schema import audit as t_audit
from lanfax.store.schema import events as t_events
from lanfax.store.schema import jobs as t_jobs
from lanfax.store.schema import settings as t_settings
from lanfax.store.schema import store_meta as t_meta
from lanfax.store.sql_engine import errors, make_engine, migrate, normalise_url
from lanfax.store.sql_group import GroupCommit, _Submission

if TYPE_CHECKING:  # (#18) store.leases
    from lanfax.store.leases import SqlLeases
if TYPE_CHECKING:  # (#17) built by the properties at the end of SqlStore
    from lanfax.store.archive import SqlArchive
    from lanfax.store.audit import SqlAudit
    from lanfax.store.receipts import SqlReceipts
if TYPE_CHECKING:  # (#17 memstore) store.ipp and store.contacts
    from lanfax.store.contacts import SqlContacts
    from lanfax.store.ipp import SqlIpp

#: The most jobs one list_jobs call returns (the HTTP API allows 1000).
MAX_LIMIT = 10_000
_UNFINISHED = sorted(int(s) for s in QueueStatus if s not in FINAL_QUEUE_STATES)
_CHUNK = 500  # ids per IN (...) clause; well under every backend's parameter limit

__all__ = ["MAX_LIMIT", "SqlStore", "normalise_url"]


class SqlStore(GroupCommit):
    """The store. Build with :func:`lanfax.store.open_store`; ``clock`` stamps events."""

    def __init__(self, url: str, *, clock: Clock | None = None) -> None:
        self._url = normalise_url(url)
        self._clock: Clock = clock or SystemClock()
        self._engine: sa.Engine | None = None
        self._write_lock = threading.RLock()
        self._init_group_commit()  # #19 (lanfax.store.sql_group)
        self._memory = self._is_sqlite and self._url.database in (None, "", ":memory:")
        # A private in-memory database is one connection: every access must take turns.
        self._read_lock: contextlib.AbstractContextManager[Any] = (
            self._write_lock if self._memory else contextlib.nullcontext()
        )

    @property
    def _is_sqlite(self) -> bool:
        return self._url.drivername.startswith("sqlite")

    @property
    def url(self) -> str:
        return self._url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"SqlStore({self.url!r})"

    def __enter__(self) -> SqlStore:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- life cycle ----------------------------------------------------------------------------

    def open(self) -> None:
        """Connect, then create or migrate the schema to the newest revision; idempotent."""
        with self._write_lock:
            if self._engine is not None:
                return
            engine = make_engine(self._url, self._memory)
            try:
                with self._errors("open"):
                    migrate(engine, self._is_sqlite)
            except BaseException:
                engine.dispose()
                raise
            self._engine = engine

    def close(self) -> None:
        with self._write_lock:
            self._drop_group_connection()
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None

    # -- plumbing -------------------------------------------------------------------------------

    def _errors(self, what: str) -> contextlib.AbstractContextManager[None]:
        """Database errors during ``what`` as lanfax's (:func:`lanfax.store.sql_engine.errors`)."""
        return errors(what)

    def _require(self) -> sa.Engine:
        if self._engine is None:
            raise StoreError("the store is not open", hint="call open() first")
        return self._engine

    @contextlib.contextmanager
    def _write(self, what: str) -> Iterator[sa.Connection]:
        """One write transaction: committed on normal exit, rolled back on any exception."""
        with self._write_lock, self._errors(what), self._require().connect() as conn:
            conn.execution_options(lanfax_write=True)
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def _read(self, what: str) -> Iterator[sa.Connection]:
        with self._read_lock, self._errors(what), self._require().connect() as conn:
            yield conn

    def _insert_events(
        self, conn: sa.Connection, events: Sequence[NewEvent], job_ids: Sequence[int] = ()
    ) -> list[Event]:
        """Insert ``events``; a job_id of 0 becomes ``job_ids[i]`` (the i-th event's job)."""
        if not events:
            return []
        rows = codec.event_rows(self._clock.now(), events, job_ids)
        stmt = t_events.insert().returning(t_events.c.seq, sort_by_parameter_order=True)
        seqs = [r[0] for r in conn.execute(stmt, rows)]
        if not self._is_sqlite:  # #18: the other nodes' event buses read again at the commit
            notify(conn, EVENTS)
        return [
            codec.row_to_event({"seq": seq, **row}) for seq, row in zip(seqs, rows, strict=True)
        ]

    def _insert_audit(self, conn: sa.Connection, entries: Sequence[AuditEntry]) -> list[int]:
        """Append audit entries inside the caller's write transaction; their ids."""
        if not entries:
            return []
        rows = [codec.audit_to_row(e) for e in entries]
        stmt = t_audit.insert().returning(t_audit.c.audit_id, sort_by_parameter_order=True)
        return [int(r[0]) for r in conn.execute(stmt, rows)]

    # -- jobs -----------------------------------------------------------------------------------

    def add_jobs(
        self,
        jobs: Sequence[Job],
        events: Sequence[NewEvent] = (),
        audit: Sequence[AuditEntry] = (),
    ) -> list[Job]:
        """Insert ``jobs`` (ids assigned here), ``events`` and ``audit`` entries in one
        durable transaction."""
        if not jobs:
            if events or audit:
                with self._write("add_jobs") as conn:
                    self._insert_events(conn, events)
                    self._insert_audit(conn, audit)
            return []
        return self.add_jobs_and_events(jobs, events, audit)[0]

    def add_jobs_and_events(
        self,
        jobs: Sequence[Job],
        events: Sequence[NewEvent] = (),
        audit: Sequence[AuditEntry] = (),
        *,
        sync: Callable[[], None] | None = None,
    ) -> tuple[list[Job], list[Event]]:
        """:meth:`add_jobs`, and the events as stored: on SQLite (whose cursors of one
        transaction are consecutive, writes being serial); empty on PostgreSQL, where
        another node's events may take cursors between them. ``sync``: see
        :meth:`lanfax.store.api.Store.add_jobs_and_events` (called by the group's leader)."""
        if not jobs:
            if sync is not None:
                sync()
            return self.add_jobs(jobs, events, audit), []
        rows = [codec.job_to_row(j) for j in jobs]  # validate everything before writing
        sub = _Submission(rows, events, audit, sync)
        ids = self._group_add(sub)
        # Hand back what was stored (datetimes in UTC), exactly what get_job will return.
        added = [codec.stored_job(j, i, r) for j, r, i in zip(jobs, rows, ids, strict=True)]
        return added, sub.stored

    # -- #19 wave 7: several submissions of one caller in one group commit ------------------

    def add_jobs_and_events_many(
        self,
        items: Sequence[tuple[Sequence[Job], Sequence[NewEvent], Sequence[AuditEntry]]],
        *,
        sync: Callable[[], None] | None = None,
    ) -> list[tuple[list[Job], list[Event]] | Exception]:
        """:meth:`add_jobs_and_events` for several submissions at once (the intake's one
        committer, :mod:`lanfax.service.intake_commit`): all of them join the group commit
        together (the same commit, or the next ones), each in its own savepoint when one
        fails, exactly as if each had come from a thread of its own; each one's result or
        error, in order."""
        out: list[tuple[list[Job], list[Event]] | Exception] = []
        subs: dict[int, tuple[_Submission, Sequence[Job]]] = {}
        for jobs, events, audit in items:
            try:
                if not jobs:
                    out.append(self.add_jobs_and_events(jobs, events, audit, sync=sync))
                    continue
                rows = [codec.job_to_row(j) for j in jobs]  # validated before writing
            except Exception as exc:
                out.append(exc)
                continue
            subs[len(out)] = (_Submission(rows, events, audit, sync), jobs)
            out.append(StoreError("add_jobs did not complete", hint="retry the submission"))
        self._group_add_all([sub for sub, _jobs in subs.values()])
        for i, (sub, jobs) in subs.items():
            try:
                ids = sub.result()
            except Exception as exc:
                out[i] = exc
                continue
            rows = sub.rows
            added = [codec.stored_job(j, n, r) for j, r, n in zip(jobs, rows, ids, strict=True)]
            out[i] = (added, sub.stored)
        return out

    def get_job(self, job_id: int) -> Job | None:
        with self._read("get_job") as conn:
            row = conn.execute(sa.select(t_jobs).where(t_jobs.c.job_id == job_id)).mappings()
            found = row.first()
        return None if found is None else codec.row_to_job(found)

    def _where(self, query: JobQuery) -> list[sa.ColumnElement[bool]]:
        if query.after_id is not None and query.before_id is not None:
            raise InvalidInput(
                "a job query cannot have both after_id and before_id",
                hint="page forwards with after_id or backwards with before_id",
            )
        c = t_jobs.c
        where: list[sa.ColumnElement[bool]] = []
        if query.after_id is not None:
            where.append(c.job_id > query.after_id)
        if query.before_id is not None:
            where.append(c.job_id < query.before_id)
        if query.statuses is not None:
            where.append(c.queue_status.in_(sorted(int(s) for s in query.statuses)))
        if query.job_types is not None:
            where.append(c.job_type.in_(sorted(int(t) for t in query.job_types)))
        if query.user_name is not None:
            where.append(c.user_name == query.user_name)
        if query.broadcast_id is not None:
            where.append(c.broadcast_id == query.broadcast_id)
        return where

    def list_jobs(self, query: JobQuery) -> list[Job]:
        """A page of at most ``query.limit`` jobs matching every filter.

        Order: ascending job_id after ``after_id``, descending before ``before_id``, else
        as ``query.descending`` says.
        """
        if not 1 <= query.limit <= MAX_LIMIT:
            raise InvalidInput(f"limit {query.limit} is out of range", hint=f"use 1 to {MAX_LIMIT}")
        descending = query.before_id is not None or (query.after_id is None and query.descending)
        order = t_jobs.c.job_id.desc() if descending else t_jobs.c.job_id.asc()
        stmt = sa.select(t_jobs).where(*self._where(query)).order_by(order).limit(query.limit)
        with self._read("list_jobs") as conn:
            rows = conn.execute(stmt).mappings().all()
        return [codec.row_to_job(r) for r in rows]

    def count_jobs(self, query: JobQuery) -> int:
        """How many jobs match every filter of ``query`` (including after_id/before_id;
        ``limit`` is ignored)."""
        stmt = sa.select(sa.func.count()).select_from(t_jobs).where(*self._where(query))
        with self._read("count_jobs") as conn:
            return int(conn.execute(stmt).scalar_one())

    def unfinished_jobs(self) -> list[Job]:
        stmt = (
            sa.select(t_jobs)
            .where(t_jobs.c.queue_status.in_(_UNFINISHED))
            .order_by(t_jobs.c.job_id)
        )
        with self._read("unfinished_jobs") as conn:
            rows = conn.execute(stmt).mappings().all()
        return [codec.row_to_job(r) for r in rows]

    def update_jobs(self, changes: Sequence[JobChange]) -> tuple[list[Job], list[Event]]:
        """Apply ``changes`` in order, with their events, all or nothing.

        Raises :class:`~lanfax.model.errors.NotFound` for a missing job and
        :class:`~lanfax.model.errors.Conflict` when a change's trigger may not fire in the
        job's committed state, or that state is not in its ``expect``
        (:func:`lanfax.model.transitions.advance`, the one check); either way nothing of the
        batch is applied. An event's job_id of 0 means the job of
        its change.
        """
        out: list[Job] = []
        new_events: list[Event] = []
        if not changes:
            return out, new_events
        with self._write("update_jobs") as conn:
            for ch in changes:
                stmt = sa.select(t_jobs).where(t_jobs.c.job_id == ch.job_id).with_for_update()
                found = conn.execute(stmt).mappings().first()
                if found is None:
                    raise NotFound(
                        f"job {ch.job_id} does not exist",
                        hint="it may have been deleted; list the queue again",
                        job_id=ch.job_id,
                    )
                job = transitions.advance(codec.row_to_job(found), ch.trigger, ch.patch, ch.expect)
                row = codec.job_to_row(job)
                conn.execute(t_jobs.update().where(t_jobs.c.job_id == job.job_id).values(row))
                out.append(codec.row_to_job({"job_id": job.job_id, **row}))
                new_events += self._insert_events(conn, ch.events, [job.job_id] * len(ch.events))
        return out, new_events

    def delete_jobs(self, job_ids: Iterable[int], events: Sequence[NewEvent] = ()) -> int:
        ids = sorted(set(job_ids))
        removed = 0
        with self._write("delete_jobs") as conn:
            for i in range(0, len(ids), _CHUNK):
                part = ids[i : i + _CHUNK]
                res = conn.execute(t_jobs.delete().where(t_jobs.c.job_id.in_(part)))
                removed += res.rowcount
            self._insert_events(conn, events)
        return removed

    # -- events ---------------------------------------------------------------------------------

    def append_events(self, events: Sequence[NewEvent]) -> list[Event]:
        if not events:
            return []
        with self._write("append_events") as conn:
            return self._insert_events(conn, events)

    def events_after(self, seq: int, limit: int = 1000) -> list[Event]:
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit {limit} is out of range", hint=f"use 1 to {MAX_LIMIT}")
        stmt = sa.select(t_events).where(t_events.c.seq > seq).order_by(t_events.c.seq).limit(limit)
        with self._read("events_after") as conn:
            rows = conn.execute(stmt).mappings().all()
        return [codec.row_to_event(r) for r in rows]

    def last_event_seq(self) -> int:
        """The highest cursor ever handed out (0 if none), even if pruned since."""
        top = sa.func.max(t_events.c.seq)
        high = sa.select(t_meta.c.value).where(t_meta.c.key == "events_high").scalar_subquery()
        with self._read("last_event_seq") as conn:
            row = conn.execute(sa.select(top, high)).one()
        return max(int(row[0] or 0), int(row[1] or 0))

    def prune_events(self, older_than: datetime) -> int:
        """Delete events stamped before ``older_than``; their cursors are never reused."""
        cutoff = codec.to_micros(older_than, "older_than")
        old = t_events.c.timestamp < cutoff
        with self._write("prune_events") as conn:
            gone_top = conn.execute(sa.select(sa.func.max(t_events.c.seq)).where(old)).scalar()
            if gone_top is None:
                return 0
            high = conn.execute(
                sa.select(t_meta.c.value).where(t_meta.c.key == "events_high")
            ).scalar()
            if high is None:
                conn.execute(t_meta.insert().values(key="events_high", value=gone_top))
            elif gone_top > high:
                conn.execute(
                    t_meta.update().where(t_meta.c.key == "events_high").values(value=gone_top)
                )
            return int(conn.execute(t_events.delete().where(old)).rowcount)

    # -- settings -------------------------------------------------------------------------------

    def get_settings(self, namespace: str) -> dict[str, Any]:
        stmt = sa.select(t_settings.c.data).where(t_settings.c.namespace == namespace)
        with self._read("get_settings") as conn:
            text = conn.execute(stmt).scalar()
        if text is None:
            return {}
        value = codec.load_json(text)
        assert isinstance(value, dict)
        return value

    def put_settings(
        self, namespace: str, values: Mapping[str, Any], events: Sequence[NewEvent] = ()
    ) -> list[Event]:
        if not namespace or "\x00" in namespace:
            raise InvalidInput(
                f"settings namespace {namespace!r} is not valid", hint='e.g. "config"'
            )
        data = dict(values)
        codec.check_json(data, f"settings {namespace!r}")
        row = {
            "namespace": namespace,
            "data": codec.dump_json(data, f"settings {namespace!r}"),
            "updated_at": codec.to_micros(self._clock.now(), "now"),
        }
        if self._is_sqlite:
            from sqlalchemy.dialects.sqlite import insert as upsert_sqlite

            stmt: Any = upsert_sqlite(t_settings).values(row)
        else:
            from sqlalchemy.dialects.postgresql import insert as upsert_pg

            stmt = upsert_pg(t_settings).values(row)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t_settings.c.namespace],
            set_={"data": row["data"], "updated_at": row["updated_at"]},
        )
        with self._write("put_settings") as conn:
            conn.execute(stmt)
            if not self._is_sqlite:  # #18: the other nodes drop what they cached of it
                notify(conn, SETTINGS, namespace)
            return self._insert_events(conn, events)

    def list_namespaces(self, prefix: str) -> list[str]:
        """Namespaces starting with ``prefix``, sorted by code point (same on every backend)."""
        col = t_settings.c.namespace
        stmt = sa.select(col)
        if prefix:
            stmt = stmt.where(sa.func.substr(col, 1, len(prefix)) == prefix)
        with self._read("list_namespaces") as conn:
            names = [str(n) for n in conn.execute(stmt).scalars()]
        return sorted(n for n in names if n.startswith(prefix))

    # -- archive, receipts, audit (#17): the same engine, write lock and error mapping ----------
    # Built on first use (cheap, stateless wrappers: two threads building one each is harmless).

    @functools.cached_property
    def archive(self) -> SqlArchive:
        from lanfax.store.archive import SqlArchive

        return SqlArchive(self)

    @functools.cached_property
    def receipts(self) -> SqlReceipts:
        from lanfax.store.receipts import SqlReceipts

        return SqlReceipts(self)

    @functools.cached_property
    def audit(self) -> SqlAudit:
        from lanfax.store.audit import SqlAudit

        return SqlAudit(self)

    # -- printed jobs and drafts, the address book (#17 memstore) -------------------------------

    @functools.cached_property
    def ipp(self) -> SqlIpp:
        from lanfax.store.ipp import SqlIpp

        return SqlIpp(self)

    @functools.cached_property
    def contacts(self) -> SqlContacts:
        from lanfax.store.contacts import SqlContacts

        return SqlContacts(self)

    # -- #18 leases: claims, renewals, fenced writes, takeovers (lanfax.store.leases) ----------

    @functools.cached_property
    def leases(self) -> SqlLeases:
        from lanfax.store.leases import SqlLeases

        return SqlLeases(self)
