"""#19 wave 8: ``syncfs`` for a group's documents (lanfax.service.spool): the real call on a
real directory, its errors as OSError, and the per-file fsyncs where there is no syncfs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lanfax.service import spool as spool_module
from lanfax.service.spool import Spool, syncfs


def test_syncfs_of_a_directory_returns_and_a_missing_one_raises(tmp_path: Path) -> None:
    if spool_module._syncfs is None:  # pragma: no cover (not Linux)
        pytest.skip("no syncfs here")
    syncfs(tmp_path)
    with pytest.raises(FileNotFoundError):
        syncfs(tmp_path / "gone")
    with pytest.raises(NotADirectoryError):  # a file is not what the spool gives it
        (tmp_path / "f").write_bytes(b"x")
        syncfs(tmp_path / "f")


def _recording_fsync(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    synced: list[str] = []
    real = os.fsync

    def recording(fd: int) -> None:  # recorded, not replaced
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", recording)
    return synced


def test_sync_documents_is_one_syncfs_of_the_spool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if spool_module._syncfs is None:  # pragma: no cover (not Linux)
        pytest.skip("no syncfs here")
    spool = Spool(tmp_path)
    spool.create()
    docs = [spool.docs / f"{i}.tif" for i in range(3)]
    for d in docs:
        d.write_bytes(b"II*\x00")
    synced = _recording_fsync(monkeypatch)
    calls: list[str] = []
    real = spool_module._syncfs
    assert real is not None

    def recording(fd: int) -> int:  # recorded, not replaced
        calls.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real(fd)

    monkeypatch.setattr(spool_module, "_syncfs", recording)
    spool.sync_documents(docs)
    spool.sync_documents(docs)
    assert calls == [str(spool.docs)] * 2 and synced == []


def test_the_syncfs_descriptor_is_opened_once_before_any_document_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel reports a writeback error only to a descriptor opened before it: the
    spool syncs through one descriptor of spool/docs that create() opened and keeps open
    (not one opened for each sync, which would not hear of an error met in between)."""
    if spool_module._syncfs is None:  # pragma: no cover (not Linux)
        pytest.skip("no syncfs here")
    spool = Spool(tmp_path)
    spool.create()
    fds: list[int] = []
    real = spool_module._syncfs
    assert real is not None

    def recording(fd: int) -> int:
        fds.append(fd)
        return real(fd)

    monkeypatch.setattr(spool_module, "_syncfs", recording)
    for name in ("a.tif", "b.tif"):
        (spool.docs / name).write_bytes(b"II*\x00")
        spool.sync_documents([spool.docs / name])
        # still open after the sync, on spool/docs
        assert os.readlink(f"/proc/self/fd/{fds[-1]}") == str(spool.docs)
    assert len(fds) == 2 and fds[0] == fds[1]


def test_without_syncfs_each_document_and_then_the_directory_is_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path)
    spool.create()
    docs = [spool.docs / f"{i}.tif" for i in range(3)]
    for d in docs:
        d.write_bytes(b"II*\x00")
    monkeypatch.setattr(spool_module, "_syncfs", None)
    with pytest.raises(OSError, match="not available"):
        syncfs(spool.docs)
    synced = _recording_fsync(monkeypatch)
    spool.sync_documents(docs)
    assert synced == [*(str(d) for d in docs), str(spool.docs)]
