"""Two :class:`~lanfax.routing.api.RoutingStateStore` implementations: in memory, and one
JSON file (atomically replaced on every change). The service uses its own store instead."""

from __future__ import annotations

import copy
import json
import os
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lanfax.model.errors import ConfigError, StoreError


def _check_json(namespace: str, values: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(namespace, str) or not namespace:
        raise ConfigError("a state namespace must be a non-empty string", hint="e.g. ext:{guid}:1")
    try:
        # A round trip both checks that the values are JSON-able and takes a deep copy.
        out: dict[str, Any] = json.loads(json.dumps(dict(values)))
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"state for {namespace!r} is not JSON-able: {exc}",
            hint="keep routing state to strings, numbers, booleans, lists and objects",
        ) from None
    return out


class MemoryStateStore:
    """A dict; gone when the process ends."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def get(self, namespace: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._data.get(namespace, {}))

    def put(self, namespace: str, values: Mapping[str, Any]) -> None:
        clean = _check_json(namespace, values)
        with self._lock:
            self._data[namespace] = clean


class JsonFileStateStore:
    """Every namespace in one JSON file, rewritten atomically (temp file, fsync, rename).

    Safe for one process with many threads; not meant to be shared between processes.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, Any]] = self._load()

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise StoreError(
                f"cannot read routing state {self.path}: {exc.strerror}",
                hint="check the file's permissions",
            ) from None
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise StoreError(
                f"routing state {self.path} is not valid JSON: {exc}",
                hint="restore it from a backup or remove it to start from the defaults",
            ) from None
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise StoreError(
                f"routing state {self.path} is not an object of objects",
                hint="restore it from a backup or remove it to start from the defaults",
            )
        return data

    def get(self, namespace: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._data.get(namespace, {}))

    def put(self, namespace: str, values: Mapping[str, Any]) -> None:
        clean = _check_json(namespace, values)
        with self._lock:
            data = {**self._data, namespace: clean}
            self._write(data)
            self._data = data

    def _write(self, data: Mapping[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise StoreError(
                f"cannot write routing state {self.path}: {exc.strerror}",
                hint="check free space and permissions of the directory",
            ) from None
        _fsync_dir(self.path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
