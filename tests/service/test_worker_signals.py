"""The conversion workers' signals (issue #20): Ctrl-C and systemd's SIGTERM to the whole
process group are the service's to handle; a worker neither dies of them nor passes its
protection on to the programs it runs (Ghostscript, LibreOffice must stay stoppable)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIT = {sig: 1 << (sig - 1) for sig in (signal.SIGINT, signal.SIGTERM)}


def _masks(status: str) -> tuple[int, int, int]:
    """(blocked, ignored, caught) signal bits of a /proc/PID/status text."""
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    return tuple(int(fields[k], 16) for k in ("SigBlk", "SigIgn", "SigCgt"))  # type: ignore[return-value]


def test_a_worker_survives_both_and_its_programs_stay_stoppable() -> None:
    code = (
        "import subprocess\n"
        "from lanfax.service.docs import worker_init\n"
        "worker_init(0)\n"
        "print(open('/proc/self/status').read())\n"
        "print('--CHILD--')\n"
        "child = subprocess.run(['cat', '/proc/self/status'], capture_output=True, text=True)\n"
        "print(child.stdout)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    worker, child = out.stdout.split("--CHILD--")
    blocked, ignored, caught = _masks(worker)
    assert ignored & BIT[signal.SIGINT] and caught & BIT[signal.SIGTERM]
    assert not (blocked | ignored) & BIT[signal.SIGTERM]
    blocked, ignored, caught = _masks(child)  # what Ghostscript or LibreOffice would get
    assert not (blocked | ignored | caught) & BIT[signal.SIGTERM]


def _status() -> str:
    with open("/proc/self/status") as f:
        return f.read()


def test_the_fork_server_and_its_workers_are_born_ignoring_both() -> None:
    code = (
        "import multiprocessing\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from multiprocessing import forkserver\n"
        "from lanfax.service.submit import start_forkserver_quietly\n"
        "from tests.service.test_worker_signals import _status\n"
        "start_forkserver_quietly()\n"
        "print(open(f'/proc/{forkserver._forkserver._forkserver_pid}/status').read())\n"
        "print('--WORKER--')\n"
        "pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context('forkserver'))\n"
        "print(pool.submit(_status).result(60))\n"
        "pool.shutdown(wait=True)\n"
        "print('--SELF--')\n"
        "print(_status())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    server, rest = out.stdout.split("--WORKER--")
    worker, own = rest.split("--SELF--")
    both = BIT[signal.SIGINT] | BIT[signal.SIGTERM]
    assert _masks(server)[1] & both == both
    assert _masks(worker)[1] & both == both  # from birth: no initializer ran
    blocked, ignored, _caught = _masks(own)  # the service keeps its own handlers and mask
    assert not blocked & both and not ignored & both


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "State:\tZ" in f.read()  # a zombie has ended
    except FileNotFoundError:
        return True


def test_a_killed_service_leaves_no_fork_server_nor_worker_behind() -> None:
    import os
    import time

    code = (
        "import multiprocessing, os, sys, time\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from multiprocessing import forkserver\n"
        "from lanfax.service import docs\n"
        "from lanfax.service.submit import start_forkserver_quietly\n"
        "start_forkserver_quietly()\n"
        "pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context('forkserver'),\n"
        "                           initializer=docs.worker_init, initargs=(0,))\n"
        "workers = {pool.submit(os.getpid).result(60) for _ in range(4)}\n"
        "print(forkserver._forkserver._forkserver_pid, *workers, flush=True)\n"
        "time.sleep(600)\n"
    )
    service = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert service.stdout is not None
        pids = [int(p) for p in service.stdout.readline().split()]
        assert len(pids) >= 2 and not any(_gone(p) for p in pids)
    finally:
        service.kill()  # SIGKILL: no clean-up of its own can run
        service.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(_gone(p) for p in pids):
        time.sleep(0.1)
    left = [p for p in pids if not _gone(p)]
    for p in left:  # do not leave them to the next test either
        os.kill(p, signal.SIGKILL)
    assert not left, f"still running after the service was killed: {left}"
