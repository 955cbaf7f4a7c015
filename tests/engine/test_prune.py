"""The compiled helper's cache keeps one build per source hash; the build step removes the
builds nobody loaded for an hour (engine._accel.prune), never the current one nor one that
a build holds locked."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

import pytest

from lanfax.engine import _accel


def _fake_build(root: Path, name: str, age: float, now: float) -> Path:
    d = root / name
    d.mkdir(parents=True)
    so = d / f"{_accel.MODULE}.cpython-311-x86_64-linux-gnu.so"
    so.write_bytes(b"\x7fELF")
    os.utime(so, (now - age, now - age))
    return d


def test_prune_removes_only_old_unlocked_builds_and_never_the_current_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANFAX_ENGINE_CACHE", str(tmp_path))
    now = time.time()
    current = _accel._target().parent
    _fake_build(tmp_path, current.name, 10 * 86400, now)  # old, but the current source's
    old = _fake_build(tmp_path, "engine-0000000000000001", 7200, now)
    recent = _fake_build(tmp_path, "engine-0000000000000002", 600, now)
    used = _fake_build(tmp_path, "engine-0000000000000003", 86400, now)
    (used / ".used").touch()  # built yesterday, loaded just now
    locked = _fake_build(tmp_path, "engine-0000000000000004", 86400, now)
    other = tmp_path / "not-an-engine-build"
    other.mkdir()
    with open(locked / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a build in progress in this directory
        removed = _accel.prune(now=now)
    assert removed == [old]
    assert not old.exists()
    assert current.exists() and recent.exists() and used.exists() and locked.exists()
    assert other.exists()
    assert _accel.prune(max_age=0, now=now + 1) == [recent, used, locked]
    assert current.exists()


def test_prune_on_a_missing_cache_removes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANFAX_ENGINE_CACHE", str(tmp_path / "nowhere"))
    assert _accel.prune() == []
