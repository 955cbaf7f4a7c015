"""Persistence behind one interface (:class:`lanfax.store.api.Store`).

``open_store("sqlite:///var/lib/lanfax/lanfax.db")`` (the default kind) or
``open_store("postgresql+psycopg://user@host/db")``. Importing this package is cheap: SQLAlchemy
loads on the first :func:`open_store`, Alembic only while the schema is migrated.
``open_store("memory://")`` is a store in the process's memory (#17, :mod:`lanfax.store.memory`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lanfax.store.api import JobChange, JobQuery, Store

if TYPE_CHECKING:
    from lanfax.model.clock import Clock
    from lanfax.store.memory import MemoryStore
    from lanfax.store.sql import SqlStore

__all__ = ["JobChange", "JobQuery", "Store", "open_store"]


def open_store(url: str, *, clock: Clock | None = None) -> SqlStore | MemoryStore:
    """Open (creating or migrating the schema) the store at ``url`` and return it.

    ``clock`` stamps events (default: the system clock). The result satisfies
    :class:`~lanfax.store.api.Store`, is thread-safe, and is a context manager that closes it.
    Raises :class:`~lanfax.model.errors.InvalidInput` for an unsupported URL and
    :class:`~lanfax.model.errors.StoreError` when the database cannot be opened.
    """
    # memory:// and memory://NAME: the in-memory store (#17 memstore)
    if url.startswith("memory:"):
        from lanfax.store.memory import open_memory_store

        return open_memory_store(url, clock=clock)
    from lanfax.store.sql import SqlStore

    store = SqlStore(url, clock=clock)
    store.open()
    return store
