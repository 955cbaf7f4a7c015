"""server.max_spool_mb without a stat of every queued document per submission (#19): the size
of spool/docs is measured at most every RESCAN_SECONDS of the service's clock, what is let
in meanwhile is added, and the bound holds throughout."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from lanfax.model.clock import ManualClock
from lanfax.model.errors import InsufficientStorage
from lanfax.service import spoolroom
from lanfax.service.spoolroom import RESCAN_SECONDS, SpoolRoom

KB = 1024


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every directory listed (os.scandir), recorded; the listing is real."""
    seen: list[str] = []
    real = os.scandir

    def scandir(path: str | os.PathLike[str]) -> object:
        seen.append(os.fspath(path))
        return real(path)

    monkeypatch.setattr(spoolroom.os, "scandir", scandir)
    return seen


def _room(tmp_path: Path, clock: ManualClock, limit_kb: int) -> SpoolRoom:
    docs = tmp_path / "docs"
    docs.mkdir()
    room = SpoolRoom(docs, clock)
    room.max_spool_bytes, room.min_free_bytes = limit_kb * KB, 0
    return room


def _upload(tmp_path: Path, name: str, kb: int) -> Path:
    path = tmp_path / name
    path.write_bytes(b"x" * (kb * KB))
    return path


def test_submissions_between_measures_are_added_and_the_bound_holds(
    tmp_path: Path, scans: list[str]
) -> None:
    clock = ManualClock()
    room = _room(tmp_path, clock, limit_kb=100)
    (room.docs / "queued.tif").write_bytes(b"x" * (40 * KB))
    room.check([_upload(tmp_path, "a", 30)])  # 40 + 30: measured once
    room.check([_upload(tmp_path, "b", 20)])  # 70 + 20, from the figure: no listing
    assert scans == [str(room.docs)]
    with pytest.raises(InsufficientStorage) as caught:
        room.check([_upload(tmp_path, "c", 20)])  # 90 + 20 > 100, though nothing was moved
    assert caught.value.detail["spool_bytes"] == 90 * KB
    assert caught.value.detail["needed_bytes"] == 20 * KB
    assert scans == [str(room.docs)]
    room.check([_upload(tmp_path, "d", 10)])  # 90 + 10 fits exactly


def test_what_was_deleted_is_seen_at_the_next_measure(tmp_path: Path, scans: list[str]) -> None:
    clock = ManualClock()
    room = _room(tmp_path, clock, limit_kb=100)
    queued = room.docs / "queued.tif"
    queued.write_bytes(b"x" * (90 * KB))
    with pytest.raises(InsufficientStorage):
        room.check([_upload(tmp_path, "a", 20)])
    queued.unlink()  # the fax was sent and deleted
    clock.advance(timedelta(seconds=RESCAN_SECONDS - 1))
    with pytest.raises(InsufficientStorage):  # not measured again yet
        room.check([_upload(tmp_path, "a", 20)])
    clock.advance(timedelta(seconds=1))
    room.check([_upload(tmp_path, "a", 20)])
    assert len(scans) == 2


def test_without_a_bound_nothing_is_listed(tmp_path: Path, scans: list[str]) -> None:
    room = _room(tmp_path, ManualClock(), limit_kb=0)
    for i in range(5):
        room.check([_upload(tmp_path, f"u{i}", 1)])
    assert scans == []


def test_the_disk_bound_is_checked_every_time(tmp_path: Path) -> None:
    room = _room(tmp_path, ManualClock(), limit_kb=0)
    room.min_free_bytes = 2**62  # more than any disk has
    with pytest.raises(InsufficientStorage, match=r"server\.min_free_mb"):
        room.check([_upload(tmp_path, "a", 1)])
