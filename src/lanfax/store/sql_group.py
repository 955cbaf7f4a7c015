"""The SQL store's group commit of submissions (#19): concurrent ``add_jobs`` calls share one
transaction, so one commit (one fsync) holds them all.

What is here: :class:`_Submission` (one ``add_jobs`` call waiting for a commit, with its
one-shot gate), :class:`GroupCommit` (the :class:`~lanfax.store.sql.SqlStore` half that queues
submissions, promotes a leader and commits a batch: through the driver's own cursor on SQLite,
:class:`_SqliteGroup`, or through SQLAlchemy with a savepoint each on PostgreSQL). An event's
rows are :func:`lanfax.store.codec.event_rows`, every store's. The queries and the other
writes stay in :mod:`lanfax.store.sql`.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from lanfax.model.clock import Clock
from lanfax.model.errors import StoreError
from lanfax.model.events import Event, NewEvent
from lanfax.store import codec
from lanfax.store.api import AuditEntry
from lanfax.store.schema import audit as t_audit
from lanfax.store.schema import events as t_events
from lanfax.store.schema import jobs as t_jobs


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


class GroupCommit:
    """The group commit half of :class:`~lanfax.store.sql.SqlStore` (a base class of it): the
    waiting submissions, the leader's commit, the SQLite connection kept for group commits
    and the counts. It uses the store's engine, write lock, error mapping and event and
    audit inserts (declared below for the type checker, defined by the store)."""

    if TYPE_CHECKING:
        _clock: Clock
        _write_lock: threading.RLock

        @property
        def _is_sqlite(self) -> bool: ...
        def _errors(self, what: str) -> contextlib.AbstractContextManager[None]: ...
        def _require(self) -> sa.Engine: ...
        def _write(self, what: str) -> contextlib.AbstractContextManager[sa.Connection]: ...
        def _insert_events(
            self, conn: sa.Connection, events: Sequence[NewEvent], job_ids: Sequence[int] = ()
        ) -> list[Event]: ...
        def _insert_audit(
            self, conn: sa.Connection, entries: Sequence[AuditEntry]
        ) -> list[int]: ...

    def _init_group_commit(self) -> None:
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
        rows = codec.event_rows(self.now, sub.events, ids)
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
