"""Store helpers for tests that run on whichever store LANFAX_TEST_STORE chose (#17).

``open_test_store(tmp_path)``: the store a service started by :mod:`tests.support.inproc`
in ``tmp_path`` opens (SQLite in its data directory, or the named in-memory store), so a test
can prepare or inspect its rows before or after the service runs. ``delete_all_rows(store,
table)``: empty one table behind the service's back, as a crash between two commits would
leave it (a test's tool, not an API: it reaches into the store's tables).
"""

from __future__ import annotations

from pathlib import Path

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
