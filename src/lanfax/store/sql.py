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
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy import exc as sa_exc

from lanfax.model import transitions
from lanfax.model.clock import Clock, SystemClock
from lanfax.model.codes import FINAL_QUEUE_STATES, QueueStatus
from lanfax.model.errors import (
    FaxError,
    InsufficientStorage,
    InvalidInput,
    NotFound,
    StoreError,
)
from lanfax.model.events import Event, NewEvent
from lanfax.model.jobs import Job
from lanfax.store import codec
from lanfax.store.api import AuditEntry, JobChange, JobQuery
from lanfax.store.notify import EVENTS, PG_WRITE_ORDER_LOCK, SETTINGS, notify  # #18
from lanfax.store.schema import audit as t_audit
from lanfax.store.schema import events as t_events
from lanfax.store.schema import jobs as t_jobs
from lanfax.store.schema import settings as t_settings
from lanfax.store.schema import store_meta as t_meta

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
_MIGRATIONS = Path(__file__).with_name("migrations")
# Any constant: all lanfax processes agree on it, nothing else uses it.
_PG_MIGRATION_LOCK = 0x1A4FA7


def normalise_url(url: str) -> sa.URL:
    """Parse ``url``; ``postgresql://`` means psycopg 3 (the only PostgreSQL driver lanfax
    installs). Unsupported schemes raise :class:`~lanfax.model.errors.InvalidInput`."""
    try:
        u = sa.make_url(url)
    except sa_exc.ArgumentError:
        raise InvalidInput(
            f"{url!r} is not a database URL",
            hint="use sqlite:///path/to/lanfax.db or postgresql+psycopg://user@host/db",
        ) from None
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    if u.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        raise InvalidInput(
            f"database {u.drivername!r} is not supported",
            hint="use sqlite:///path/to/lanfax.db or postgresql+psycopg://user@host/db",
        )
    return u


class _Submission:
    """One add_jobs call waiting for a group commit."""

    __slots__ = (
        "_gate",
        "_open",
        "audit",
        "error",
        "events",
        "finished",
        "ids",
        "rows",
        "stored",
        "sync",
    )

    def __init__(
        self,
        rows: list[dict[str, Any]],
        events: Sequence[NewEvent],
        audit: Sequence[AuditEntry],
        sync: Callable[[], None] | None = None,
    ) -> None:
        self.rows = rows
        self.events = events
        self.audit = audit
        #: Made durable before the commit (once per group for equal ones, #19).
        self.sync = sync
        # A one-shot gate (#19: a lock held until opened; a threading.Event, a Condition
        # over a lock with Python-level waiter lists, cost several times as much).
        self._gate = threading.Lock()
        self._gate.acquire()
        self._open = False
        self.finished = False
        self.ids: list[int] | None = None
        self.error: BaseException | None = None
        #: The events as stored, when the insert could tell them (SQLite), else empty.
        self.stored: list[Event] = []

    def wake(self) -> None:
        """Let :meth:`wait` return (once; later calls do nothing). Called by the one
        thread leading the group commit at the time, never by two at once."""
        if not self._open:
            self._open = True
            self._gate.release()

    def wait(self) -> None:
        """Until :meth:`wake` (a waiting submission waits once)."""
        self._gate.acquire()

    def result(self) -> list[int]:
        if self.error is not None:
            raise self.error
        if self.ids is None:
            raise StoreError("add_jobs did not complete", hint="retry the submission")
        return self.ids


class SqlStore:
    """The store. Build with :func:`lanfax.store.open_store`; ``clock`` stamps events."""

    def __init__(self, url: str, *, clock: Clock | None = None) -> None:
        self._url = normalise_url(url)
        self._clock: Clock = clock or SystemClock()
        self._engine: sa.Engine | None = None
        self._write_lock = threading.RLock()
        # Group commit of add_jobs (#19): submissions waiting for the next commit.
        self._group_lock = threading.Lock()
        self._group_waiting: list[_Submission] = []
        self._group_busy = False
        #: SQLite: the driver's connection group commits write through, kept between them
        #: (#19), with the pool's record of it (returned to the pool when dropped).
        self._group_conn: sqlite3.Connection | None = None
        self._group_fairy: Any = None
        #: Group commit's counts (#19): commits made by add_jobs, and the add_jobs calls
        #: they held (calls / commits is how many submissions shared one fsync).
        self.group_commits = 0
        self.group_submissions = 0
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
            engine = self._make_engine()
            try:
                with self._errors("open"):
                    self._migrate(engine)
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

    def _make_engine(self) -> sa.Engine:
        if not self._is_sqlite:
            try:
                pg = sa.create_engine(self._url, pool_pre_ping=True)
            except ModuleNotFoundError:
                raise StoreError(
                    "the PostgreSQL driver (psycopg 3) is not installed",
                    hint="pip install 'lanfax[postgres]'",
                ) from None
            _order_pg_writes(pg)  # #18
            return pg
        if not self._memory:
            parent = Path(str(self._url.database)).expanduser().resolve().parent
            if not parent.is_dir():
                raise StoreError(
                    f"the directory {parent} for the database does not exist",
                    hint="create it, or point the database URL at an existing directory",
                )
        engine = sa.create_engine(
            self._url,
            connect_args={"check_same_thread": False},
            poolclass=sa.StaticPool if self._memory else sa.QueuePool,
        )

        @sa_event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's begin() emit BEGIN itself (pysqlite's implicit transactions
            # would defer it to the first write and cannot do BEGIN IMMEDIATE).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            try:
                cur.execute("PRAGMA busy_timeout = 30000")
                if not self._memory:
                    cur.execute("PRAGMA journal_mode = WAL")
                cur.execute("PRAGMA synchronous = FULL")
                cur.execute("PRAGMA foreign_keys = ON")
            finally:
                cur.close()

        @sa_event.listens_for(engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            write = conn.get_execution_options().get("lanfax_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    def _migrate(self, engine: sa.Engine) -> None:
        from alembic import command  # imported here: alembic is slow to import
        from alembic.config import Config
        from alembic.util.exc import CommandError

        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        with engine.connect() as conn:
            conn.execution_options(lanfax_write=True)
            with conn.begin():
                if not self._is_sqlite:
                    # Two services starting at once must not both create the tables.
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
                cfg.attributes["connection"] = conn
                try:
                    command.upgrade(cfg, "head")
                except CommandError as exc:
                    raise StoreError(
                        f"cannot migrate the database schema: {exc}",
                        hint="the database was written by a newer lanfax; upgrade lanfax",
                    ) from None

    # -- plumbing -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except FaxError:
            raise
        except sa_exc.SQLAlchemyError as exc:
            detail = getattr(exc, "orig", None) or exc
            if _disk_full(detail):
                # issue #14: a full disk is a 507 the caller can understand, not a 500.
                raise InsufficientStorage(
                    f"the database's disk is full (during {what}): {detail}",
                    hint="free space on the disk that holds the database; nothing was lost,"
                    " the change was not made",
                ) from exc
            raise StoreError(
                f"database error during {what}: {detail}",
                hint="check that the database is reachable, writable and has free space",
            ) from exc

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

    # -- group commit (#19) ---------------------------------------------------------------------

    def _group_add(self, mine: _Submission) -> list[int]:
        """Insert one submission's jobs, events and audit rows; its job ids once committed.

        Group commit: submissions that arrive while a commit is under way wait and then go
        into the next transaction together, each in its own savepoint (one that fails is
        rolled back alone and raises to its own caller), so concurrent submissions share one
        commit (one fsync). Every caller still returns only after the commit that holds its
        rows, and a failed commit fails every submission in it.
        """
        with self._group_lock:
            self._group_waiting.append(mine)
            lead = not self._group_busy
            self._group_busy = True
        if not lead:
            mine.wait()
            if mine.finished:
                return mine.result()
        self._lead_group()
        return mine.result()

    def _lead_group(self) -> None:
        """The leader: commit everything waiting now (its own submissions included), then
        hand the lead to the first submission that arrived meanwhile. Raises what the commit
        raised (every submission of the batch holds that error too)."""
        with self._group_lock:
            batch, self._group_waiting = self._group_waiting, []
        try:
            self._commit_group(batch)
        finally:
            with self._group_lock:
                if self._group_waiting:
                    self._group_waiting[0].wake()  # promoted: not finished
                else:
                    self._group_busy = False

    def _commit_group(self, batch: list[_Submission]) -> None:
        try:
            # What the rows point to, made durable first: once for the group (#19: one fsync
            # of spool/docs for all the documents renamed into it, not one per submission).
            for sync in dict.fromkeys(sub.sync for sub in batch if sub.sync is not None):
                sync()
            if self._is_sqlite:
                self._commit_sqlite_group(batch)
            else:
                with self._write("add_jobs") as conn:
                    self._insert_group(conn, batch)
        except BaseException as exc:  # the commit failed: nothing of the batch is durable
            for sub in batch:
                sub.ids, sub.error = None, exc
            raise
        else:
            self.group_commits += 1  # under the group's lead: one writer at a time
            self.group_submissions += len(batch)
        finally:
            for sub in batch:
                sub.finished = True
                sub.wake()

    def _commit_sqlite_group(self, batch: list[_Submission]) -> None:
        """SQLite: one write transaction through the driver's own cursor (#19: SQLAlchemy's
        statement machinery cost more than SQLite's work for a one-job submission, and so
        did its transaction begin and commit), on a connection kept for group commits (a
        pool checkout and checkin per commit cost as much again). Any failure drops that
        connection: the next group takes a fresh one."""
        with self._write_lock, self._errors("add_jobs"):
            if self._group_conn is None:
                fairy = self._require().raw_connection()  # the pool's PRAGMAs applied
                raw = fairy.driver_connection
                if not isinstance(raw, sqlite3.Connection):
                    fairy.close()
                    raise StoreError("not a SQLite connection", hint="report this as a bug")
                self._group_conn, self._group_fairy = raw, fairy
            group = _SqliteGroup(self._group_conn, self._clock.now(), self._errors)
            try:
                group.run("BEGIN IMMEDIATE")
                group.insert(batch)
                group.run("COMMIT")
            except BaseException:
                self._drop_group_connection()  # rolls back what is not committed
                raise
            finally:
                group.close()

    def _drop_group_connection(self) -> None:
        raw, fairy = self._group_conn, self._group_fairy
        self._group_conn = self._group_fairy = None
        if raw is not None:
            with contextlib.suppress(Exception):
                if raw.in_transaction:
                    raw.rollback()
            with contextlib.suppress(Exception):
                fairy.close()  # back to the pool (the only connection of a memory database)

    def _insert_group(self, conn: sa.Connection, batch: list[_Submission]) -> None:
        """A group commit's inserts through SQLAlchemy (PostgreSQL)."""
        t = t_jobs
        stmt = t.insert().returning(t.c.job_id, sort_by_parameter_order=True)
        if len(batch) == 1:
            # Alone in its commit: no savepoint (two statements fewer, #19); if
            # it fails the transaction rolls back, which fails it alone anyway.
            (sub,) = batch
            with self._errors("add_jobs"):
                ids = [int(r[0]) for r in conn.execute(stmt, sub.rows)]
                self._insert_events(conn, sub.events, ids)
                self._insert_audit(conn, sub.audit)
            sub.ids = ids
            return
        for sub in batch:
            try:
                with self._errors("add_jobs"), conn.begin_nested():
                    ids = [int(r[0]) for r in conn.execute(stmt, sub.rows)]
                    self._insert_events(conn, sub.events, ids)
                    self._insert_audit(conn, sub.audit)
                sub.ids = ids
            except Exception as exc:  # this submission only; the others go on
                sub.error = exc

    def _insert_events(
        self, conn: sa.Connection, events: Sequence[NewEvent], job_ids: Sequence[int] = ()
    ) -> list[Event]:
        """Insert ``events``; a job_id of 0 becomes ``job_ids[i]`` (the i-th event's job)."""
        if not events:
            return []
        rows = _event_rows(self._clock.now(), events, job_ids)
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

    def _group_add_all(self, subs: list[_Submission]) -> None:
        """:meth:`_group_add` for several submissions of one thread: they wait in the group
        together; this thread leads (when none leads, or when one of them is promoted) as
        a thread of each would. Their results and errors stay on them."""
        if not subs:
            return
        with self._group_lock:
            self._group_waiting.extend(subs)
            lead = not self._group_busy
            self._group_busy = True
        for mine in subs:
            if not lead:
                mine.wait()
                if mine.finished:
                    continue
            lead = False  # led once: the rest were in that batch (they wait contiguously)
            with contextlib.suppress(Exception):  # not lost: each submission holds its error
                self._lead_group()

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


def _order_pg_writes(engine: sa.Engine) -> None:
    """#18: every PostgreSQL write transaction first takes one advisory lock, held to its
    commit, so that write transactions commit one at a time across every node of a database.
    Event cursors (a sequence) are then handed out in commit order: a reader that has seen
    cursor N has seen every committed event before it, on whichever node it was written.
    (Within one process the write lock does this already; the lock extends it to a cluster.
    Taking it first, before any row lock, is what keeps it free of deadlocks.)"""

    @sa_event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        if conn.get_execution_options().get("lanfax_write", False):
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(PG_WRITE_ORDER_LOCK)))


def _event_rows(
    now: datetime, events: Sequence[NewEvent], job_ids: Sequence[int]
) -> list[dict[str, Any]]:
    """The rows of ``events``; a job_id of 0 becomes ``job_ids[i]`` (the i-th event's job)."""
    rows = []
    for i, ev in enumerate(events):
        job_id = ev.job_id
        if job_id == 0:
            if i >= len(job_ids):
                raise InvalidInput(
                    f"event {i} has job_id 0 but there is no job at index {i}",
                    hint="give the event's job id, or NO_JOB for none",
                )
            job_id = job_ids[i]
        rows.append(codec.event_to_row(now, ev.event_id, ev.device_id, job_id, ev.detail))
    return rows


@functools.cache
def _sqlite_insert(table: sa.Table, keys: tuple[str, ...]) -> str:
    """``INSERT INTO table (keys) VALUES (?, ...)`` for the driver's cursor. Only for columns
    that need nothing from SQLAlchemy: a column left out must have no Python-side default
    (the database's own defaults still apply)."""
    for col in table.columns:
        if col.key not in keys and (col.default is not None and not col.primary_key):
            raise AssertionError(f"{table.name}.{col.key} has a Python default: use SQLAlchemy")
    names = ", ".join(f'"{k}"' for k in keys)
    marks = ", ".join("?" for _ in keys)
    return f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})'


def _hand_back_prefixes(batch: Sequence[_Submission]) -> None:
    """Each submission of a group hands back the group's events up to its own (#19): every
    event after the group's first cursor, consecutive, so that the event bus can publish
    them in cursor order whichever member reaches the event loop first (with its own
    events only, a member whose events follow another's had the bus read the store)."""
    prefix: list[Event] = []
    for sub in batch:
        if sub.error is not None:
            continue  # rolled back: none of its rows (its cursors are reused by the next)
        if sub.events and not sub.stored:
            return  # its events are not known consecutive: the next ones keep their own
        prefix.extend(sub.stored)
        if prefix and prefix[-1].seq - prefix[0].seq != len(prefix) - 1:
            return
        sub.stored = list(prefix)


class _SqliteGroup:
    """One group commit's inserts on SQLite through the driver's cursor, inside the
    transaction the caller began: all at once, and when that fails, again with each
    submission in its own savepoint (a failing one is rolled back alone: its error is its
    own, the others go on)."""

    def __init__(
        self,
        raw: sqlite3.Connection,
        now: datetime,
        errors: Callable[[str], contextlib.AbstractContextManager[None]],
    ) -> None:
        self.cur = raw.cursor()
        self.now = now
        self.errors = errors

    def close(self) -> None:
        self.cur.close()

    def insert(self, batch: Sequence[_Submission]) -> None:
        if len(batch) == 1:  # alone: no savepoint; if it fails the transaction rolls back
            batch[0].ids = self._one(batch[0])
            return
        # #19: every submission's rows at once, without a savepoint each (two statements
        # per submission, each a trip out of the GIL); only when one fails is the group
        # begun again with one savepoint per submission, so that it fails alone.
        try:
            with self.errors("add_jobs"):
                ids = [self._one(sub) for sub in batch]
        except Exception:
            for sub in batch:
                sub.stored = []
            if self.cur.connection.in_transaction:  # (SQLite may have rolled it back itself)
                self.run("ROLLBACK")
            self.run("BEGIN IMMEDIATE")
        else:
            for sub, mine in zip(batch, ids, strict=True):
                sub.ids = mine
            _hand_back_prefixes(batch)
            return
        for sub in batch:
            self.run("SAVEPOINT lanfax_submission")
            try:
                with self.errors("add_jobs"):
                    sub.ids = self._one(sub)
            except Exception as exc:  # this submission only; the others go on
                sub.error = exc
                self.run("ROLLBACK TO lanfax_submission")
            self.run("RELEASE lanfax_submission")
        _hand_back_prefixes(batch)

    def _one(self, sub: _Submission) -> list[int]:
        ids = [self._insert(t_jobs, row) for row in sub.rows]
        rows = _event_rows(self.now, sub.events, ids)
        seqs = [self._insert(t_events, row) for row in rows]
        if seqs and seqs[-1] - seqs[0] == len(seqs) - 1:  # consecutive (one writer at a time)
            sub.stored = [
                codec.row_to_event({"seq": q, **r}) for q, r in zip(seqs, rows, strict=True)
            ]
        for entry in sub.audit:
            self._insert(t_audit, codec.audit_to_row(entry))
        return ids

    def _insert(self, table: sa.Table, row: dict[str, Any]) -> int:
        """Insert one row; its rowid (the table's integer primary key)."""
        sql = _sqlite_insert(table, tuple(row))
        self.run(sql, tuple(row.values()))
        rowid = self.cur.lastrowid
        if rowid is None:
            raise StoreError(f"no id for a new {table.name} row", hint="retry the submission")
        return rowid

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        try:
            self.cur.execute(sql, params)
        except sqlite3.Error as exc:  # as SQLAlchemy would raise it: SqlStore._errors maps it
            raise sa_exc.DBAPIError.instance(sql, params, exc, sqlite3.Error) from exc


def _disk_full(detail: object) -> bool:
    """True for SQLite's SQLITE_FULL and PostgreSQL's disk_full (53100) / ENOSPC."""
    text = str(detail).lower()
    return (
        "database or disk is full" in text
        or getattr(detail, "sqlstate", None) == "53100"
        or "no space left on device" in text
    )
