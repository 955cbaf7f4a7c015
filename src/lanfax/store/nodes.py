"""Node identity and heartbeats in the database (issue #18, migration 0009).

Every ``lanfax serve`` registers itself as a node (``[node] name``, "main" by default) and
writes a heartbeat; a node whose heartbeat is older than its lease counts as dead. A node's
``number`` is given at its first registration (0 for the first node of a database, then 1,
2, ...) and never changes: the node's device ids are made from it.

One process per node name: registration takes a lock that the operating system (SQLite: an
``flock`` on ``<database>-node.lock`` beside the file) or the database server (PostgreSQL: a
session advisory lock, on a connection held for the node's life) releases when the process
dies, even by SIGKILL, so a crashed node restarts at once while a second live one is refused
with a message saying who holds the database. SQLite serves one node: any second node on the
same file is refused, whatever its name (use PostgreSQL for several nodes, docs/scaling.md).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import zlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from lanfax.model.errors import Conflict, StoreError
from lanfax.store import codec
from lanfax.store.schema import nodes as t_nodes
from lanfax.store.sql import SqlStore

#: classid of the PostgreSQL advisory locks of node names (objid: the name's CRC-32).
_PG_NODE_LOCK = 0x1A4FA8
#: Seconds a start waits for the node lock of a process that just died.
_PG_LOCK_PATIENCE = 3.0


def _pg_key(name: str) -> int:
    return zlib.crc32(name.encode()) - 2**31  # a signed int4


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """One row of the nodes table."""

    name: str
    number: int
    host: str
    pid: int
    url: str
    version: str
    incarnation: int
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None = None

    def alive(self, now: datetime, lease: timedelta) -> bool:
        """Running as far as the database can tell: not stopped, heard from within ``lease``."""
        return self.stopped_at is None and now - self.heartbeat_at < lease

    def to_dict(self, now: datetime, lease: timedelta) -> dict[str, Any]:
        return {
            "name": self.name,
            "number": self.number,
            "host": self.host,
            "pid": self.pid,
            "url": self.url,
            "version": self.version,
            "incarnation": self.incarnation,
            "started_at": self.started_at.isoformat(),
            "heartbeat_at": self.heartbeat_at.isoformat(),
            "stopped_at": self.stopped_at.isoformat() if self.stopped_at else None,
            "alive": self.alive(now, lease),
        }


@dataclass(frozen=True, slots=True)
class NodeStart:
    """What a node says about itself when it registers."""

    name: str
    host: str
    pid: int
    url: str
    version: str


class NodeRegistry(Protocol):
    """The nodes table behind the store (SQL, or in memory for an in-memory store)."""

    def register(self, me: NodeStart, now: datetime, lease: timedelta) -> NodeRecord:
        """Take the node's lock and record its start (a new incarnation); Conflict when
        another live process holds the node (or, on SQLite, the database)."""

    def heartbeat(self, name: str, incarnation: int, now: datetime) -> bool:
        """Stamp the heartbeat; False when the row is another incarnation's now."""

    def stop(self, name: str, incarnation: int, now: datetime) -> None:
        """Record a clean stop and release the node's lock."""

    def release(self) -> None:
        """Release the node's lock without writing (a start that failed)."""

    def nodes(self) -> list[NodeRecord]:
        """Every node ever registered, by number."""


def open_nodes(store: object) -> NodeRegistry:
    """The node registry of ``store``: the nodes table of a SQL store, else one in memory
    (an in-memory store is one process: nothing to share)."""
    if isinstance(store, SqlStore):
        return SqlNodes(store)
    return MemoryNodes()


def _row_to_record(row: Any) -> NodeRecord:
    return NodeRecord(
        name=row["name"],
        number=int(row["number"]),
        host=row["host"],
        pid=int(row["pid"]),
        url=row["url"],
        version=row["version"],
        incarnation=int(row["incarnation"]),
        started_at=codec.from_micros(int(row["started_at"])),
        heartbeat_at=codec.from_micros(int(row["heartbeat_at"])),
        stopped_at=None if row["stopped_at"] is None else codec.from_micros(int(row["stopped_at"])),
    )


def _describe(rec: NodeRecord, now: datetime) -> str:
    ago = max((now - rec.heartbeat_at).total_seconds(), 0.0)
    where = f" at {rec.url}" if rec.url else ""
    return (
        f"node {rec.name!r} (pid {rec.pid} on host {rec.host!r}{where}, last heartbeat"
        f" {ago:.0f} s ago)"
    )


class SqlNodes:
    """The nodes table of a :class:`~lanfax.store.sql.SqlStore`."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self._mutex = threading.Lock()
        self._lock_fd: int | None = None  # SQLite: the flock'ed file
        self._lock_conn: sa.Connection | None = None  # PostgreSQL: the advisory lock's session
        self._lock_name = ""

    # -- the node's lock ------------------------------------------------------------------------

    def _lock_path(self) -> Path | None:
        store = self._store
        if not store._is_sqlite or store._memory:
            return None
        db = Path(str(store._url.database)).expanduser().resolve()
        return db.with_name(db.name + "-node.lock")

    def _take_lock(self, me: NodeStart, now: datetime, lease: timedelta) -> None:
        path = self._lock_path()
        if path is not None:
            self._take_file_lock(path, me, now, lease)
        elif not self._store._is_sqlite:
            self._take_pg_lock(me, now)

    def _take_file_lock(self, path: Path, me: NodeStart, now: datetime, lease: timedelta) -> None:
        import fcntl

        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            live = [n for n in self.nodes() if n.stopped_at is None]
            live.sort(key=lambda n: n.heartbeat_at, reverse=True)
            who = _describe(live[0], now) if live else "another lanfax serve"
            raise Conflict(
                f"the database {self._store._url.database} is in use by {who}; a SQLite"
                " database serves one lanfax node",
                hint="stop that lanfax serve first, or give this one its own data directory"
                " (--data); to run several nodes on one queue, use PostgreSQL"
                " (docs/scaling.md)",
            ) from None
        except BaseException:
            os.close(fd)
            raise
        # The lock is ours. A node of another host that shares the file (a network file
        # system, where flock may not reach) is still refused while its heartbeat is fresh.
        others = [
            n
            for n in self.nodes()
            if n.host != me.host and n.alive(now, lease) and n.name != me.name
        ]
        if others:
            os.close(fd)
            raise Conflict(
                f"the database {self._store._url.database} is in use by"
                f" {_describe(others[0], now)}; a SQLite database serves one lanfax node",
                hint="stop that node (its heartbeat ages out after [node] lease_s), or use"
                " PostgreSQL for several nodes (docs/scaling.md)",
            )
        self._lock_fd = fd

    def _take_pg_lock(self, me: NodeStart, now: datetime) -> None:
        conn = self._store._require().connect()
        try:
            # A process that just died may hold it a moment longer (its backend ends
            # after the socket closes): a restart waits that moment, not a refusal.
            deadline = time.monotonic() + _PG_LOCK_PATIENCE
            while not (got := self._try_pg_lock(conn, me.name)) and time.monotonic() < deadline:
                threading.Event().wait(0.1)
        except BaseException:
            conn.close()
            raise
        if not got:
            conn.close()
            holder = next((n for n in self.nodes() if n.name == me.name), None)
            who = _describe(holder, now) if holder else f"node {me.name!r}"
            raise Conflict(
                f"{who} is already running on this database",
                hint="stop it first, or give this node its own name ([node] name in the"
                " settings file): one process per node",
            )
        self._lock_conn = conn
        self._lock_name = me.name

    @staticmethod
    def _try_pg_lock(conn: sa.Connection, name: str) -> bool:
        got = conn.execute(
            sa.select(sa.func.pg_try_advisory_lock(_PG_NODE_LOCK, _pg_key(name)))
        ).scalar_one()
        conn.commit()
        return bool(got)

    def release(self) -> None:
        with self._mutex:
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # closing the descriptor drops the flock
                self._lock_fd = None
            if self._lock_conn is not None:
                with contextlib.suppress(sa_exc.SQLAlchemyError):
                    # Unlocked now (closing alone lets the lock outlive us until the
                    # server's backend has ended), then closed for real, not pooled.
                    name = self._lock_name
                    self._lock_conn.execute(
                        sa.select(sa.func.pg_advisory_unlock(_PG_NODE_LOCK, _pg_key(name)))
                    )
                    self._lock_conn.commit()
                with contextlib.suppress(sa_exc.SQLAlchemyError):
                    self._lock_conn.invalidate()
                    self._lock_conn.close()
                self._lock_conn = None

    # -- the table --------------------------------------------------------------------------------

    def register(self, me: NodeStart, now: datetime, lease: timedelta) -> NodeRecord:
        with self._mutex:
            if self._lock_fd is not None or self._lock_conn is not None:
                raise Conflict(
                    f"node {me.name!r} is already registered by this process",
                    hint="stop the service before starting it again",
                )
            self._take_lock(me, now, lease)
        try:
            return self._record_start(me, now)
        except BaseException:
            self.release()
            raise

    def _record_start(self, me: NodeStart, now: datetime) -> NodeRecord:
        at = codec.to_micros(now, "now")
        fields = {
            "host": me.host,
            "pid": me.pid,
            "url": me.url,
            "version": me.version,
            "started_at": at,
            "heartbeat_at": at,
            "stopped_at": None,
        }
        c = t_nodes.c
        for _ in range(5):  # two new nodes registering at once may want the same number
            try:
                with self._store._write("register node") as conn:
                    row = (
                        conn.execute(sa.select(t_nodes).where(c.name == me.name).with_for_update())
                        .mappings()
                        .first()
                    )
                    if row is not None:
                        incarnation = int(row["incarnation"]) + 1
                        conn.execute(
                            t_nodes.update()
                            .where(c.name == me.name)
                            .values(incarnation=incarnation, **fields)
                        )
                    else:
                        top = conn.execute(sa.select(sa.func.max(c.number))).scalar()
                        conn.execute(
                            t_nodes.insert().values(
                                name=me.name,
                                number=0 if top is None else int(top) + 1,
                                incarnation=1,
                                **fields,
                            )
                        )
                    new = conn.execute(sa.select(t_nodes).where(c.name == me.name)).mappings()
                    return _row_to_record(new.one())
            except StoreError as exc:
                if not isinstance(exc.__cause__, sa_exc.IntegrityError):
                    raise
        raise StoreError(
            f"node {me.name!r} could not be given a number", hint="start the node again"
        )

    def heartbeat(self, name: str, incarnation: int, now: datetime) -> bool:
        c = t_nodes.c
        with self._store._write("node heartbeat") as conn:
            res = conn.execute(
                t_nodes.update()
                .where(c.name == name, c.incarnation == incarnation)
                .values(heartbeat_at=codec.to_micros(now, "now"))
            )
            return bool(res.rowcount == 1)

    def stop(self, name: str, incarnation: int, now: datetime) -> None:
        c = t_nodes.c
        try:
            with self._store._write("node stop") as conn:
                conn.execute(
                    t_nodes.update()
                    .where(c.name == name, c.incarnation == incarnation)
                    .values(stopped_at=codec.to_micros(now, "now"))
                )
        finally:
            self.release()

    def nodes(self) -> list[NodeRecord]:
        with self._store._read("nodes") as conn:
            rows = conn.execute(sa.select(t_nodes).order_by(t_nodes.c.number)).mappings().all()
        return [_row_to_record(r) for r in rows]


class MemoryNodes:
    """The node registry of an in-memory store: this process is the only node."""

    def __init__(self) -> None:
        self._rows: dict[str, NodeRecord] = {}
        self._held = False

    def register(self, me: NodeStart, now: datetime, lease: timedelta) -> NodeRecord:
        if self._held:
            raise Conflict(
                f"node {me.name!r} is already registered by this process",
                hint="stop the service before starting it again",
            )
        old = self._rows.get(me.name)
        number = old.number if old else len(self._rows)
        rec = NodeRecord(
            me.name,
            number,
            me.host,
            me.pid,
            me.url,
            me.version,
            (old.incarnation + 1) if old else 1,
            now,
            now,
        )
        self._rows[me.name] = rec
        self._held = True
        return rec

    def heartbeat(self, name: str, incarnation: int, now: datetime) -> bool:
        rec = self._rows.get(name)
        if rec is None or rec.incarnation != incarnation:
            return False
        self._rows[name] = replace(rec, heartbeat_at=now)
        return True

    def stop(self, name: str, incarnation: int, now: datetime) -> None:
        rec = self._rows.get(name)
        if rec is not None and rec.incarnation == incarnation:
            self._rows[name] = replace(rec, stopped_at=now)
        self._held = False

    def release(self) -> None:
        self._held = False

    def nodes(self) -> list[NodeRecord]:
        return sorted(self._rows.values(), key=lambda n: n.number)
