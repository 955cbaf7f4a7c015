"""The routing manager of the service (split out of ``service/routing.py``, which
re-exports both names): the extensions' state kept in the service's store
(:class:`StoreRoutingState`), and the manager built with every installed extension
(:func:`build_manager`)."""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from lanfax.model.errors import ConfigError
from lanfax.routing import FileSetCallbacks, RoutingConfig, RoutingManager
from lanfax.routing.manager import ENTRY_POINT_GROUP
from lanfax.service.context import ServiceContext
from lanfax.service.routing_settings import RoutingSettings
from lanfax.store.api import Store

__all__ = ["StoreRoutingState", "build_manager"]


class StoreRoutingState:
    """:class:`~lanfax.routing.RoutingStateStore` over ``Store.get/put_settings``.

    Reads are served from a copy loaded at start; a write goes to the store first (one
    transaction, durable), then to the copy. With several nodes on one database, a namespace
    another node wrote is dropped from the copy when its notification arrives (:meth:`drop`).
    """

    PREFIXES = ("ext:", "routing:")

    def __init__(self, store: Store) -> None:
        self._store = store
        self._cache: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def load(self) -> None:
        for prefix in self.PREFIXES:
            for ns in self._store.list_namespaces(prefix):
                values = self._store.get_settings(ns)
                with self._lock:
                    self._cache[ns] = values

    def get(self, namespace: str) -> dict[str, Any]:
        with self._lock:
            cached = self._cache.get(namespace)
        if cached is None:
            cached = self._store.get_settings(namespace)
            with self._lock:
                self._cache.setdefault(namespace, cached)
        return copy.deepcopy(cached)

    def put(self, namespace: str, values: Mapping[str, Any]) -> None:
        clean = copy.deepcopy(dict(values))
        # Serialized, so the copy always ends up as the last committed value.
        with self._lock:
            self._store.put_settings(namespace, clean)
            self._cache[namespace] = clean

    def drop(self, namespace: str | None) -> None:
        """Another node wrote ``namespace`` (None: anything may have changed): forget the
        copy, so the next read is the database's (#18, notifications between nodes)."""
        with self._lock:
            if namespace is None:
                self._cache.clear()
            else:
                self._cache.pop(namespace, None)


def build_manager(
    ctx: ServiceContext, data_dir: Path, settings: RoutingSettings
) -> tuple[RoutingManager, FileSetCallbacks]:
    """The routing manager with every installed extension (entry points), its state in the
    store, file manifests under ``<data>/routing``. Blocking: run it in a worker thread."""
    state = StoreRoutingState(ctx.store)
    state.load()
    callbacks = FileSetCallbacks(data_dir / "routing")
    manager = RoutingManager(state, clock=ctx.clock, callbacks=callbacks)
    names = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    for name in names:
        config = RoutingConfig(data_dir, settings.allowed_roots, ctx.clock, settings.options(name))
        manager.load_entry_points(config, names=[name])
    unknown = sorted(set(settings.extensions or {}) - set(names))
    if unknown:
        raise ConfigError(
            f"[routing.{unknown[0]}] names no installed routing extension",
            hint=f"installed extensions: {', '.join(names) or 'none'}",
        )
    return manager, callbacks
