"""The in-memory store: :class:`lanfax.store.api.Store` in plain Python dicts (``memory://``).

Modelled on procrastinate's ``InMemoryConnector``: the same interface as the SQL store and the
same semantics (ids that never repeat, orderings, filters, keyset pages, the errors raised,
all-or-nothing changes), with durability "as long as the process lives". It runs the
service's tests without a database file (``LANFAX_TEST_STORE=memory``, see
``tests/support/inproc.py``) and is a reference for what the store interface promises.

How the SQL semantics are kept:

* A "table" is a dict from its key to a row, and a row is what the SQL store would write: the
  same :mod:`lanfax.store.codec` turns a :class:`~lanfax.model.jobs.Job` into a row and back,
  so an invalid value (a naive datetime, something JSON cannot hold, an integer out of range)
  is refused with the same :class:`~lanfax.model.errors.InvalidInput`, and what is read back
  is exactly what the SQL store would return (datetimes in UTC, JSON copies).
* Rows are never changed in place: a write puts a new row. Every write runs in a
  :class:`_Tx` that logs what it replaced, and an exception rolls the log back, so a failed
  change leaves nothing behind, as a rolled-back transaction would.
* Ids come from per-table counters that are part of the transaction (SQLite's AUTOINCREMENT:
  never reused, not consumed by a rolled-back insert).
* One re-entrant lock serialises every access, so each call sees and leaves a consistent
  state (the SQL store's transactions; the event cursor is committed in order).

URLs: ``memory://`` is a new private store; ``memory://NAME`` (any text after the scheme) is
the store of that name in this process, created on first use, so that a service restarted in
the same process finds its jobs again (SQLite's named shared in-memory databases behave the
same way). :func:`forget_memory_store` drops a named store.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lanfax.model import transitions
from lanfax.model.clock import Clock, SystemClock
from lanfax.model.codes import FINAL_QUEUE_STATES
from lanfax.model.errors import InvalidInput, NotFound, StoreError
from lanfax.model.events import Event, NewEvent
from lanfax.model.jobs import Job
from lanfax.store import codec
from lanfax.store.api import AuditEntry, JobChange, JobQuery, Store
from lanfax.store.memory_contacts import MemoryContacts
from lanfax.store.memory_tables import MemoryArchive, MemoryAudit, MemoryIpp, MemoryReceipts

if TYPE_CHECKING:  # (#18) store.leases
    from lanfax.store.memory_leases import MemoryLeases

__all__ = [
    "MAX_LIMIT",
    "SCHEME",
    "MemoryStore",
    "forget_memory_store",
    "forget_memory_stores",
    "open_memory_store",
]

SCHEME = "memory:"
#: The most jobs one list_jobs call returns (as the SQL store).
MAX_LIMIT = 10_000
_MISSING: Any = object()

Row = dict[str, Any]


class _Tx:
    """One write: every put and delete is logged, and undone in reverse on rollback.

    Tables keep their keys in ascending order (an id table grows at its end: a new row's id
    is the highest yet), so that a page or an event cursor is a bisection, not a sort. A
    rollback that gives a deleted row back re-sorts that table to keep it so.
    """

    __slots__ = ("_undo",)

    def __init__(self) -> None:
        self._undo: list[tuple[dict[Any, Any], Any, Any]] = []

    def put(self, table: dict[Any, Any], key: Any, row: Any) -> None:
        self._undo.append((table, key, table.get(key, _MISSING)))
        table[key] = row

    def delete(self, table: dict[Any, Any], key: Any) -> bool:
        if key not in table:
            return False
        self._undo.append((table, key, table.pop(key)))
        return True

    def rollback(self) -> None:
        reinserted: dict[int, dict[Any, Any]] = {}
        for table, key, old in reversed(self._undo):
            if old is _MISSING:
                table.pop(key, None)
            else:
                if key not in table:
                    reinserted[id(table)] = table
                table[key] = old
        self._undo.clear()
        for table in reinserted.values():
            items = sorted(table.items(), key=lambda kv: kv[0])
            table.clear()
            table.update(items)


class MemoryStore:
    """The store in memory. Build with :func:`open_memory_store` (or
    ``lanfax.store.open_store("memory://")``); ``clock`` stamps events."""

    def __init__(self, name: str = "", *, clock: Clock | None = None) -> None:
        self.name = name
        self._clock: Clock = clock or SystemClock()
        self._lock = threading.RLock()
        self._open = False
        #: The tables, by name; each maps its key (an id, a namespace) to a row dict.
        self.tables: dict[str, dict[Any, Any]] = {}
        #: The last id handed out per table (part of every transaction).
        self._ids: dict[str, int] = {}

    @property
    def url(self) -> str:
        return f"memory://{self.name}"

    def __repr__(self) -> str:
        return f"MemoryStore({self.url!r})"

    def __enter__(self) -> MemoryStore:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- life cycle ----------------------------------------------------------------------------

    def open(self) -> None:
        """Make the store usable; idempotent. The data of an earlier open is still there."""
        with self._lock:
            self._open = True

    def close(self) -> None:
        """Refuse further calls until :meth:`open` (the data stays in memory)."""
        with self._lock:
            self._open = False

    # -- plumbing (shared with lanfax.store.memory_tables) -------------------------------------

    def table(self, name: str) -> dict[Any, Any]:
        return self.tables.setdefault(name, {})

    def _require(self) -> None:
        if not self._open:
            raise StoreError("the store is not open", hint="call open() first")

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        """A consistent view for one read (the lock is held)."""
        with self._lock:
            self._require()
            yield

    @contextlib.contextmanager
    def write(self) -> Iterator[_Tx]:
        """One write transaction: kept on normal exit, undone on any exception."""
        with self._lock:
            self._require()
            tx = _Tx()
            try:
                yield tx
            except BaseException:
                tx.rollback()
                raise

    def new_id(self, tx: _Tx, table: str) -> int:
        """The next id of ``table``: never reused, and given back if ``tx`` rolls back."""
        value = self._ids.get(table, 0) + 1
        tx.put(self._ids, table, value)
        return value

    def now_micros(self) -> int:
        return codec.to_micros(self._clock.now(), "now")

    def insert_events(
        self, tx: _Tx, events: Sequence[NewEvent], job_ids: Sequence[int] = ()
    ) -> list[Event]:
        """Insert ``events``; a job_id of 0 becomes ``job_ids[i]`` (the i-th event's job)."""
        if not events:
            return []
        now = self._clock.now()
        table = self.table("events")
        out: list[Event] = []
        for row in codec.event_rows(now, events, job_ids):
            seq = self.new_id(tx, "events")
            row["seq"] = seq
            tx.put(table, seq, row)
            out.append(codec.row_to_event(row))
        return out

    def insert_audit(self, tx: _Tx, entries: Sequence[AuditEntry]) -> list[int]:
        """Append audit entries inside ``tx``; their ids."""
        rows = [codec.audit_to_row(e) for e in entries]
        table = self.table("audit")
        ids: list[int] = []
        for row in rows:
            audit_id = self.new_id(tx, "audit")
            tx.put(table, audit_id, {**row, "audit_id": audit_id})
            ids.append(audit_id)
        return ids

    def job_rows(self) -> list[Row]:
        """Every job row (with its job_id), by job_id; call under :meth:`read`/:meth:`write`."""
        return list(self.table("jobs").values())

    # -- jobs -----------------------------------------------------------------------------------

    def add_jobs(
        self,
        jobs: Sequence[Job],
        events: Sequence[NewEvent] = (),
        audit: Sequence[AuditEntry] = (),
    ) -> list[Job]:
        """Insert ``jobs`` (ids assigned here), ``events`` and ``audit`` entries, all or
        nothing."""
        return self.add_jobs_and_events(jobs, events, audit)[0]

    def add_jobs_and_events(
        self,
        jobs: Sequence[Job],
        events: Sequence[NewEvent] = (),
        audit: Sequence[AuditEntry] = (),
        *,
        sync: Callable[[], None] | None = None,
    ) -> tuple[list[Job], list[Event]]:
        """:meth:`add_jobs`, and the events as stored (one writer at a time: their cursors
        are consecutive). ``sync`` is called first (no group commit here)."""
        if sync is not None:
            sync()
        if not (jobs or events or audit):
            return [], []
        rows = [codec.job_to_row(j) for j in jobs]  # validate everything before writing
        table = self.table("jobs")
        with self.write() as tx:
            ids = [self.new_id(tx, "jobs") for _ in rows]
            for job_id, row in zip(ids, rows, strict=True):
                tx.put(table, job_id, {"job_id": job_id, **row})
            stored = self.insert_events(tx, events, ids)
            self.insert_audit(tx, audit)
        added = [codec.row_to_job({"job_id": i, **r}) for r, i in zip(rows, ids, strict=True)]
        return added, stored

    def add_jobs_and_events_many(
        self,
        items: Sequence[tuple[Sequence[Job], Sequence[NewEvent], Sequence[AuditEntry]]],
        *,
        sync: Callable[[], None] | None = None,
    ) -> list[tuple[list[Job], list[Event]] | Exception]:
        """#19 wave 7: :meth:`add_jobs_and_events` for each of ``items`` (one writer at a time:
        no group commit here); each one's result or error, in order."""
        out: list[tuple[list[Job], list[Event]] | Exception] = []
        for jobs, events, audit in items:
            try:
                out.append(self.add_jobs_and_events(jobs, events, audit, sync=sync))
            except Exception as exc:
                out.append(exc)
        return out

    def get_job(self, job_id: int) -> Job | None:
        with self.read():
            row = self.table("jobs").get(job_id)
        return None if row is None else codec.row_to_job(row)

    @staticmethod
    def _matches(query: JobQuery) -> Any:
        if query.after_id is not None and query.before_id is not None:
            raise InvalidInput(
                "a job query cannot have both after_id and before_id",
                hint="page forwards with after_id or backwards with before_id",
            )
        statuses = None if query.statuses is None else {int(s) for s in query.statuses}
        types = None if query.job_types is None else {int(t) for t in query.job_types}

        def match(row: Row) -> bool:
            return (
                (query.after_id is None or row["job_id"] > query.after_id)
                and (query.before_id is None or row["job_id"] < query.before_id)
                and (statuses is None or row["queue_status"] in statuses)
                and (types is None or row["job_type"] in types)
                and (query.user_name is None or row["user_name"] == query.user_name)
                and (query.broadcast_id is None or row["broadcast_id"] == query.broadcast_id)
            )

        return match

    def list_jobs(self, query: JobQuery) -> list[Job]:
        """A page of at most ``query.limit`` jobs matching every filter.

        Order: ascending job_id after ``after_id``, descending before ``before_id``, else
        as ``query.descending`` says.
        """
        if not 1 <= query.limit <= MAX_LIMIT:
            raise InvalidInput(f"limit {query.limit} is out of range", hint=f"use 1 to {MAX_LIMIT}")
        match = self._matches(query)
        descending = query.before_id is not None or (query.after_id is None and query.descending)
        page: list[Row] = []
        with self.read():
            table = self.table("jobs")
            keys = list(table)  # ascending (see _Tx)
            if descending:
                end = len(keys)
                if query.before_id is not None:
                    end = bisect.bisect_left(keys, query.before_id)
                ids: Iterable[int] = (keys[i] for i in range(end - 1, -1, -1))
            else:
                start = 0
                if query.after_id is not None:
                    start = bisect.bisect_right(keys, query.after_id)
                ids = (keys[i] for i in range(start, len(keys)))
            for job_id in ids:
                row = table[job_id]
                if match(row):
                    page.append(row)
                    if len(page) >= query.limit:
                        break
        return [codec.row_to_job(r) for r in page]

    def count_jobs(self, query: JobQuery) -> int:
        """How many jobs match every filter of ``query`` (``limit`` is ignored)."""
        match = self._matches(query)
        with self.read():
            return sum(1 for r in self.table("jobs").values() if match(r))

    def unfinished_jobs(self) -> list[Job]:
        final = {int(s) for s in FINAL_QUEUE_STATES}
        with self.read():
            rows = [r for r in self.job_rows() if r["queue_status"] not in final]
        return [codec.row_to_job(r) for r in rows]

    def update_jobs(self, changes: Sequence[JobChange]) -> tuple[list[Job], list[Event]]:
        """Apply ``changes`` in order, with their events, all or nothing (NotFound for a
        missing job, Conflict from the job-state table or ``expect``, as the SQL store)."""
        out: list[Job] = []
        new_events: list[Event] = []
        if not changes:
            return out, new_events
        table = self.table("jobs")
        with self.write() as tx:
            for ch in changes:
                found = table.get(ch.job_id)
                if found is None:
                    raise NotFound(
                        f"job {ch.job_id} does not exist",
                        hint="it may have been deleted; list the queue again",
                        job_id=ch.job_id,
                    )
                job = _changed(codec.row_to_job(found), ch)
                row = {"job_id": job.job_id, **codec.job_to_row(job)}
                tx.put(table, job.job_id, row)
                out.append(codec.row_to_job(row))
                new_events += self.insert_events(tx, ch.events, [job.job_id] * len(ch.events))
        return out, new_events

    def delete_jobs(self, job_ids: Iterable[int], events: Sequence[NewEvent] = ()) -> int:
        ids = sorted(set(job_ids))
        table = self.table("jobs")
        with self.write() as tx:
            removed = sum(1 for i in ids if tx.delete(table, i))
            self.insert_events(tx, events)
        return removed

    # -- events ---------------------------------------------------------------------------------

    def append_events(self, events: Sequence[NewEvent]) -> list[Event]:
        if not events:
            return []
        with self.write() as tx:
            return self.insert_events(tx, events)

    def events_after(self, seq: int, limit: int = 1000) -> list[Event]:
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit {limit} is out of range", hint=f"use 1 to {MAX_LIMIT}")
        with self.read():
            table = self.table("events")
            keys = list(table)  # ascending (see _Tx)
            start = bisect.bisect_right(keys, seq)
            rows = [table[k] for k in keys[start : start + limit]]
        return [codec.row_to_event(r) for r in rows]

    def last_event_seq(self) -> int:
        """The highest cursor ever handed out (0 if none), even if pruned since."""
        with self.read():
            return self._ids.get("events", 0)

    def prune_events(self, older_than: datetime) -> int:
        """Delete events stamped before ``older_than``; their cursors are never reused."""
        cutoff = codec.to_micros(older_than, "older_than")
        table = self.table("events")
        with self.write() as tx:
            old = [k for k, r in table.items() if r["timestamp"] < cutoff]
            for k in old:
                tx.delete(table, k)
        return len(old)

    # -- settings -------------------------------------------------------------------------------

    def get_settings(self, namespace: str) -> dict[str, Any]:
        with self.read():
            row = self.table("settings").get(namespace)
        if row is None:
            return {}
        value = codec.load_json(row["data"])
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
            "updated_at": self.now_micros(),
        }
        with self.write() as tx:
            tx.put(self.table("settings"), namespace, row)
            return self.insert_events(tx, events)

    def list_namespaces(self, prefix: str) -> list[str]:
        """Namespaces starting with ``prefix``, sorted by code point."""
        with self.read():
            names = list(self.table("settings"))
        return sorted(n for n in names if n.startswith(prefix))

    # -- the parts (archive, receipts, audit, ipp, contacts): views over the same tables --------

    @functools.cached_property
    def archive(self) -> MemoryArchive:
        return MemoryArchive(self)

    @functools.cached_property
    def receipts(self) -> MemoryReceipts:
        return MemoryReceipts(self)

    @functools.cached_property
    def audit(self) -> MemoryAudit:
        return MemoryAudit(self)

    @functools.cached_property
    def ipp(self) -> MemoryIpp:
        return MemoryIpp(self)

    @functools.cached_property
    def contacts(self) -> MemoryContacts:
        return MemoryContacts(self)

    # #18: the same leases as the SQL stores (lanfax.store.memory_leases)
    @functools.cached_property
    def leases(self) -> MemoryLeases:
        from lanfax.store.memory_leases import MemoryLeases

        return MemoryLeases(self)


def _changed(job: Job, change: JobChange) -> Job:
    """``job`` (as committed) after ``change``: the one check of the job-state table
    (Conflict for a trigger that may not fire in its state, or a state not in ``expect``),
    as the SQL store applies it."""
    return transitions.advance(job, change.trigger, change.patch, change.expect)


# -- opening by URL ------------------------------------------------------------------------------

_named: dict[str, MemoryStore] = {}
_named_lock = threading.Lock()


def is_memory_url(url: str) -> bool:
    return url.startswith(SCHEME)


def open_memory_store(url: str = "memory://", *, clock: Clock | None = None) -> MemoryStore:
    """Open the in-memory store of ``url`` (``memory://`` private, ``memory://NAME`` shared
    by name within this process; ``clock`` is used when the store is created)."""
    if not is_memory_url(url):
        raise InvalidInput(
            f"{url!r} is not a memory store URL", hint="use memory:// or memory://NAME"
        )
    name = url[len(SCHEME) :].lstrip("/")
    if not name:
        store = MemoryStore(clock=clock)
    else:
        with _named_lock:
            store = _named.get(name) or _named.setdefault(name, MemoryStore(name, clock=clock))
    store.open()
    return store


def forget_memory_store(url: str) -> None:
    """Drop the named store of ``url`` (its data is gone once nobody holds it)."""
    with _named_lock:
        _named.pop(url[len(SCHEME) :].lstrip("/"), None)


def forget_memory_stores() -> int:
    """Drop every named store (a test suite's clean-up between tests); how many."""
    with _named_lock:
        n = len(_named)
        _named.clear()
    return n


if TYPE_CHECKING:  # mypy --strict checks that MemoryStore is a Store, structurally

    def _is_a_store(store: MemoryStore) -> Store:
        return store
