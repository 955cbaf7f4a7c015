"""Store helpers for tests that run on whichever store LANFAX_TEST_STORE chose (#17).

``open_test_store(tmp_path)``: the store a service started by :mod:`tests.support.inproc`
in ``tmp_path`` opens (SQLite in its data directory, or the named in-memory store), so a test
can prepare or inspect its rows before or after the service runs. ``delete_all_rows(store,
table)``: empty one table behind the service's back, as a crash between two commits would
leave it (a test's tool, not an API: it reaches into the store's tables). ``on_commit(store,
callback)``: told of every commit of a SQL store's database.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.inproc import chosen_store_url

from lanfax.store import open_store
from lanfax.store.api import Store
from lanfax.store.memory import MemoryStore
from lanfax.store.sql import SqlStore


def open_test_store(tmp_path: Path) -> Store:
    return open_store(chosen_store_url(tmp_path) or f"sqlite:///{tmp_path / 'data' / 'lanfax.db'}")


def delete_all_rows(store: Store, table: str) -> None:
    if isinstance(store, MemoryStore):
        rows = store.table(table)
        with store.write() as tx:
            for key in list(rows):
                tx.delete(rows, key)
        return
    import sqlalchemy as sa

    from lanfax.store.schema import metadata

    assert isinstance(store, SqlStore)
    engine = store._require()
    with engine.begin() as conn:
        conn.execute(sa.delete(metadata.tables[table]))


def on_commit(store: SqlStore, callback: Callable[[], None]) -> None:
    """Call ``callback`` at every commit the store's database makes from now on. On SQLite
    a group commit runs BEGIN and COMMIT on the driver's connection itself (#19: not
    through SQLAlchemy's transaction, whose events then do not fire), so the COMMIT
    statements every connection runs are watched there (SQLite's statement trace); on
    PostgreSQL SQLAlchemy's commit event is the commit."""
    import sqlalchemy as sa

    engine = store._require()
    if not store._is_sqlite:
        sa.event.listen(engine, "commit", lambda _conn: callback())
        return

    def trace(sql: str) -> None:
        if sql.strip().upper() in ("COMMIT", "COMMIT TRANSACTION", "END"):
            callback()

    def watch(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.set_trace_callback(trace)

    sa.event.listen(engine, "connect", watch)
    with store._write_lock:
        store._drop_group_connection()
        engine.pool.dispose()  # every connection from now on is a new one, watched
