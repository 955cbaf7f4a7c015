"""The event loop does no file work of its own (issue #14, item 7): the paths a fax takes
through the service - a submission (the spool's room), a send and a receive (the received
file's size, the routing to the inbox folder, the archive's copy and entry), the archived
fax's download and a job's document over HTTP - are driven on a disk made slow: no file
call may run on the event loop's thread, and the loop-lag monitor must count no stall as
long as the slow disk's delay.

The slow disk is an injected fault (:class:`SlowDisk`), since a real disk cannot be made slow
on demand: file-system calls on the test's directories take :data:`DELAY` seconds longer when
made on the event loop's thread (in a worker thread they cost nothing extra, since there they
stall nobody), and each one is recorded with where it was made, so that a failure names the
blocking call. Before the fix the submission's room check, the answering line's free-space
check, the received file's size, the spool's path resolution (send, archive, documents), the
archive's entry size and download check, the routing manifest's read and fsync'ed write,
the folder route's path checks and the HTTP document's ``os.stat`` ran on the loop.

The loop-lag monitor here counts stalls of most of :data:`DELAY` (a file call on the loop
costs at least that much): on this shared, loaded machine the service's own monitor (100 ms)
also counts stalls that no code of ours causes (the process not scheduled), so asserting
none of those would make a test that fails by chance.

The test process's own heap is frozen out of the collector while the loop is watched
(:func:`frozen_heap`): in a whole-suite run the process holds every module and fixture of
the tests before (236,000 objects after collection alone, a full collection ~0.4 s on this
machine, 2-3 times that under load), and a full collection of it on the loop's thread was a
stall of 0.85 s at load 7.4 with no file call of ours on the loop. A service process does not
carry that heap; the objects the service makes during the test are collected as usual, and
the collections seen in the window are named in the failure message.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.inproc import run, running_service, set_line, submit, wait_status

from lanfax.api.app import create_app
from lanfax.model.codes import QueueStatus
from lanfax.service.looplag import LoopLagMonitor
from lanfax.store.archive import ArchiveQuery

#: What one file-system call on the loop costs on the slow disk: far over a stall (100 ms)
#: and over what a loaded machine's scheduling alone causes.
DELAY = 1.0
_CALLS = ("stat", "lstat", "statvfs", "scandir", "unlink", "listdir")


class SlowDisk:
    """Injected fault: a disk under ``root`` that is slow for the event loop's thread."""

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.loop_thread = threading.get_ident()
        self.active = False
        self.seen: list[str] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in _CALLS:
            monkeypatch.setattr(os, name, self._wrap(name, getattr(os, name)))

    def _wrap(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def slow(*args: Any, **kwargs: Any) -> Any:
            path = args[0] if args else kwargs.get("path")
            if (
                self.active
                and threading.get_ident() == self.loop_thread
                and isinstance(path, str | os.PathLike)
                and os.fspath(path).startswith(self.root)
            ):
                where = [f for f in traceback.extract_stack()[:-1] if "/lanfax/" in f.filename]
                self.seen.append(
                    f"os.{name}({os.fspath(path)!r}) at {traceback.format_list(where[-4:])}"
                )
                time.sleep(DELAY)
            return real(*args, **kwargs)

        return slow

    @contextmanager
    def slow(self) -> Iterator[None]:
        self.active = True
        try:
            yield
        finally:
            self.active = False


@contextmanager
def frozen_heap() -> Iterator[list[str]]:
    """The test process's heap so far out of the collector's reach (``gc.freeze``), and the
    collections made meanwhile recorded (generation, objects collected, milliseconds)."""
    seen: list[str] = []
    started: list[float] = []

    def timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[:] = [time.perf_counter()]
        elif started:
            ms = (time.perf_counter() - started[0]) * 1000
            seen.append(f"gen {info['generation']}: {info['collected']} collected, {ms:.0f} ms")

    gc.collect()
    gc.freeze()
    gc.callbacks.append(timed)
    try:
        yield seen
    finally:
        gc.callbacks.remove(timed)
        gc.unfreeze()


TOML = """
[settings]
archive_outgoing_faxes = true
[security]
authentication = false
"""


def test_a_fax_through_the_service_stalls_no_loop_on_a_slow_disk(
    tmp_path: Path, fax_tiff_3: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def body() -> None:
        disk = SlowDisk(tmp_path)
        disk.install(monkeypatch)
        async with running_service(tmp_path, TOML) as svc:
            await set_line(svc, "201", ["receive"], rings=1)
            app = create_app(svc)
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://lanfax") as http:
                with frozen_heap() as collections:
                    monitor = LoopLagMonitor(threshold=0.8 * DELAY)
                    monitor.start()
                    with disk.slow():
                        (job,) = await submit(svc, fax_tiff_3, "201")
                        sent = await wait_status(svc, job.job_id, QueueStatus.COMPLETED, timeout=60)
                        await wait_status(svc, sent.job_id + 1, QueueStatus.COMPLETED, timeout=60)
                        await svc.archiver.idle()
                        (entry,), _ = await svc.archiver.search(ArchiveQuery("incoming"))
                        tiff = await svc.archiver.document("incoming", entry.archive_id, "tiff")
                        r = await http.get(f"/api/v1/jobs/{sent.job_id}/document")
                        assert r.status_code == 200, r.text
                        assert r.content == tiff.read_bytes() == fax_tiff_3.read_bytes()
                        await asyncio.sleep(0.2)  # the monitor's last measure
                    await monitor.stop()
        assert disk.seen == [], "\n".join(disk.seen)
        assert monitor.stats.stalls == 0, (monitor.stats, collections)

    run(body(), timeout=120)
