"""The service's conversion pool: single-threaded conversions when it has several workers
(``service.docs.pool_limits``), and the same TIFF bytes as an overlapped conversion."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from pathlib import Path

from lanfax.documents import ConversionLimits
from lanfax.service import docs
from lanfax.service.docs import pool_limits


def test_pool_limits() -> None:
    limits = ConversionLimits(max_pages=7)
    assert pool_limits(limits, 1) is limits  # one worker: keep the overlap
    assert pool_limits(limits, 2) == ConversionLimits(max_pages=7, threads=1)
    assert pool_limits(ConversionLimits(threads=1), 1).threads == 1


def test_a_pool_of_two_converts_single_threaded_to_the_same_bytes(tmp_path: Path) -> None:
    text = "\f".join("\n".join(f"page {p} line {i}" for i in range(40)) for p in range(4))
    doc = tmp_path / "letter.txt"
    doc.write_text(text, encoding="utf-8")
    overlapped = docs.convert([doc], tmp_path / "overlapped.tif")
    assert overlapped.pages == 4
    limits = pool_limits(ConversionLimits(), 2)
    assert limits.threads == 1
    # As the service runs it: a forkserver process pool of two workers.
    mp = multiprocessing.get_context("forkserver")
    with cf.ProcessPoolExecutor(2, mp_context=mp) as pool:
        outs = [tmp_path / f"pooled{i}.tif" for i in range(2)]
        futures = [pool.submit(docs.convert, [doc], out, limits=limits) for out in outs]
        results = [f.result(timeout=120) for f in futures]
    for result in results:
        assert result.pages == 4
        assert result.path.read_bytes() == overlapped.path.read_bytes()
