"""Staging uploads (#19: the stage is made in the first file's trip to the thread pool):
the edge cases of that first trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.support.inproc import run, running_service

from lanfax.model.errors import InvalidInput
from lanfax.service import uploads
from lanfax.service.uploads import stage_uploads


def reader(data: bytes) -> Any:
    async def read() -> bytes:
        return data

    return read


def test_an_empty_first_upload_leaves_no_stage_behind(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path) as svc:
            before = set(svc.spool.tmp.iterdir())
            with pytest.raises(InvalidInput, match=r"file part 1 \(a.pdf\) is empty"):
                await stage_uploads(svc.ctx, [("file part 1 (a.pdf)", reader(b""))])
            assert set(svc.spool.tmp.iterdir()) == before

    run(body(), timeout=120)


def test_no_upload_still_gives_an_empty_stage(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path) as svc:
            stage, files = await stage_uploads(svc.ctx, [])
            assert files == [] and stage.parent == svc.spool.tmp and list(stage.iterdir()) == []

    run(body(), timeout=120)


def test_a_first_file_that_cannot_be_written_leaves_no_stage_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(path: Path, data: bytes) -> None:
        path.write_bytes(data[:1])  # part of it, then the disk is full
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(uploads, "write_durably", full_disk)

    async def body() -> None:
        async with running_service(tmp_path) as svc:
            before = set(svc.spool.tmp.iterdir())
            with pytest.raises(OSError, match="No space"):
                await stage_uploads(svc.ctx, [("file part 1 (a.pdf)", reader(b"xyz"))])
            assert set(svc.spool.tmp.iterdir()) == before

    run(body(), timeout=120)


def test_into_an_existing_stage_the_first_file_is_000(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path) as svc:
            into = svc.spool.new_stage()
            stage, files = await stage_uploads(
                svc.ctx, [("a", reader(b"1")), ("b", reader(b"2"))], into=into
            )
            assert stage == into and [f.name for f in files] == ["000", "001"]

    run(body(), timeout=120)
