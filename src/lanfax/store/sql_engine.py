"""How the SQL store reaches its database: the URL (:func:`normalise_url`), the engine with
SQLite's PRAGMAs and ``BEGIN IMMEDIATE`` for writes or PostgreSQL's write-order lock
(:func:`make_engine`), the schema migration at open (:func:`migrate`) and the mapping of
database errors to lanfax's own (:func:`errors`: a full disk is a 507). Used by
:class:`lanfax.store.sql.SqlStore`, which holds the queries and writes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy import exc as sa_exc

from lanfax.model.errors import FaxError, InsufficientStorage, InvalidInput, StoreError
from lanfax.store.notify import PG_WRITE_ORDER_LOCK

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


def make_engine(url: sa.URL, memory: bool) -> sa.Engine:
    """The engine for ``url`` (``memory``: a private in-memory SQLite database, one
    connection)."""
    if not url.drivername.startswith("sqlite"):
        try:
            pg = sa.create_engine(url, pool_pre_ping=True)
        except ModuleNotFoundError:
            raise StoreError(
                "the PostgreSQL driver (psycopg 3) is not installed",
                hint="pip install 'lanfax[postgres]'",
            ) from None
        order_pg_writes(pg)  # #18
        return pg
    if not memory:
        parent = Path(str(url.database)).expanduser().resolve().parent
        if not parent.is_dir():
            raise StoreError(
                f"the directory {parent} for the database does not exist",
                hint="create it, or point the database URL at an existing directory",
            )
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False},
        poolclass=sa.StaticPool if memory else sa.QueuePool,
    )

    @sa_event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin() emit BEGIN itself (pysqlite's implicit transactions
        # would defer it to the first write and cannot do BEGIN IMMEDIATE).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute("PRAGMA busy_timeout = 30000")
            if not memory:
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


def migrate(engine: sa.Engine, is_sqlite: bool) -> None:
    """Create or migrate the schema to the newest revision, in one write transaction."""
    from alembic import command  # imported here: alembic is slow to import
    from alembic.config import Config
    from alembic.util.exc import CommandError

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with engine.connect() as conn:
        conn.execution_options(lanfax_write=True)
        with conn.begin():
            if not is_sqlite:
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


@contextlib.contextmanager
def errors(what: str) -> Iterator[None]:
    """Database errors during ``what`` as lanfax's: :class:`InsufficientStorage` for a full
    disk, else :class:`StoreError` (lanfax's own errors pass through)."""
    try:
        yield
    except FaxError:
        raise
    except sa_exc.SQLAlchemyError as exc:
        detail = getattr(exc, "orig", None) or exc
        if disk_full(detail):
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


def order_pg_writes(engine: sa.Engine) -> None:
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


def disk_full(detail: object) -> bool:
    """True for SQLite's SQLITE_FULL and PostgreSQL's disk_full (53100) / ENOSPC."""
    text = str(detail).lower()
    return (
        "database or disk is full" in text
        or getattr(detail, "sqlstate", None) == "53100"
        or "no space left on device" in text
    )
