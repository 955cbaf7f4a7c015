"""The Submitter gives its worker processes single-threaded conversions when it has several
(``service.docs.pool_limits``), and keeps the overlap with one."""

from __future__ import annotations

import asyncio
from datetime import UTC
from pathlib import Path

from tests.support.stores import open_test_store

from lanfax.documents import ConversionLimits, convert
from lanfax.model.clock import SystemClock
from lanfax.service.context import ServiceContext
from lanfax.service.spool import Spool
from lanfax.service.submit import Submitter


def test_submitter_pool_of_two_is_single_threaded_and_writes_the_same_bytes(
    tmp_path: Path,
) -> None:
    text = "\f".join("\n".join(f"page {p} line {i}" for i in range(40)) for p in range(4))
    doc = tmp_path / "letter.txt"
    doc.write_text(text, encoding="utf-8")
    overlapped = convert([doc], tmp_path / "overlapped.tif", compression="mr")

    async def through_the_pool() -> Path:
        spool = Spool(tmp_path / "data")
        spool.create()
        store = open_test_store(tmp_path)  # SQLite, or LANFAX_TEST_STORE's (#17)
        ctx = ServiceContext(store, spool, SystemClock(), UTC)
        submitter = Submitter(ctx, max_workers=2, limits=ConversionLimits(max_pages=9))
        assert submitter.limits == ConversionLimits(max_pages=9, threads=1)
        assert Submitter(ctx, max_workers=1).limits.threads == 2
        try:
            result = await submitter.make_document([doc], "b0", "fine")
        finally:
            submitter.close()
            ctx.close_executor()
        assert result.pages == 4
        return result.path

    pooled = asyncio.run(through_the_pool())
    assert pooled.read_bytes() == overlapped.path.read_bytes()
