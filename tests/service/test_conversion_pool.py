"""The conversion pool survives its workers (issue #14, item 8): a worker killed by the
kernel (SIGKILL, as the OOM killer does) or one that stops answering (SIGSTOP) costs at most
the submission it was converting; the pool is rebuilt and later conversions work. Workers
run under RLIMIT_AS, which the converters they start inherit.

Real worker processes of the service's own pool, real signals; nothing is simulated."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

import pytest
from tests.support.inproc import run, running_service

from lanfax.model.errors import DocumentError
from lanfax.service.core import FaxService
from lanfax.service.submit import parse_submission

TOML = """
[server]
conversion_timeout_s = 2
conversion_memory_mb = 1536
[settings]
pause_server_queue = true
"""


async def _submit_text(svc: FaxService, text: str) -> int:
    stage = svc.spool.new_stage()
    staged = stage / "000"
    staged.write_text(text, encoding="utf-8")
    params = parse_submission({"recipients": [{"recipient_number": "555"}]})
    _, jobs = await svc.submit(params, [staged], stage_dir=stage)
    return jobs[0].job_id


def _workers(svc: FaxService) -> list[int]:
    pool = svc.submitter._pool
    assert pool is not None
    return [p.pid for p in pool._processes.values() if p.pid is not None]  # type: ignore[union-attr]


def _address_space_limit(pid: int) -> int:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max address space"):
            return int(line.split()[3])
    raise AssertionError("no address space line")


def test_a_killed_worker_does_not_break_later_conversions(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path, TOML) as svc:
            await _submit_text(svc, "first letter\n")
            workers = _workers(svc)
            assert workers
            for pid in workers:
                # What the kernel's OOM killer does.
                os.kill(pid, signal.SIGKILL)
            # The executor notices the dead worker and marks the whole pool broken; every
            # later conversion used to fail from here on.
            job_id = await _submit_text(svc, "second letter\n")
            assert (await svc.get_job(job_id)).page_count == 1
            assert set(_workers(svc)).isdisjoint(workers)
            await _submit_text(svc, "third letter\n")

    run(body(), timeout=120)


def test_a_worker_that_stops_answering_fails_only_that_submission(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path, TOML) as svc:
            await _submit_text(svc, "first letter\n")
            stuck = _workers(svc)
            for pid in stuck:
                os.kill(pid, signal.SIGSTOP)
            try:
                with pytest.raises(DocumentError, match="took longer than"):
                    await _submit_text(svc, "this one meets a stopped worker\n")
            finally:
                for pid in stuck:
                    # Killed with the old pool, as it should be; if not, let it go on.
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGCONT)
            # The stuck workers were killed (dead within a few seconds), and a new pool
            # converts again.
            for pid in stuck:
                for _ in range(100):
                    if not Path(f"/proc/{pid}").exists() or _zombie(pid):
                        break
                    await asyncio.sleep(0.05)
                assert not Path(f"/proc/{pid}").exists() or _zombie(pid)
            job_id = await _submit_text(svc, "after the stuck one\n")
            assert (await svc.get_job(job_id)).page_count == 1

    run(body(), timeout=120)


def test_workers_run_with_an_address_space_limit(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path, TOML) as svc:
            await _submit_text(svc, "a letter\n")
            for pid in _workers(svc):
                assert _address_space_limit(pid) == 1536 * 2**20

    run(body(), timeout=120)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except (FileNotFoundError, ProcessLookupError):  # gone between the two looks: not alive
        return True
