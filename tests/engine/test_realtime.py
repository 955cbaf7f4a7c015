"""Real-time scheduling of the media threads (#19, lanfax.engine.realtime): the holder runs
under SCHED_FIFO and back to normal on release, an event loop's thread is raised for a tick
and lowered after it, a batch's second thread follows the process's policy before each
part, what a real-time thread starts (a thread, a process) starts normal, and a process
that may not gets the normal policy with no error. Real threads and the real kernel's
scheduler; where this process may not use SCHED_FIFO the tests that need it are skipped
(the refusal is tested in a process that gave the right up)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from lanfax.engine import realtime as rt_module
from lanfax.engine._worker import PartWorker
from lanfax.engine.realtime import LOOP_PRIORITY, MEDIA_PRIORITY, Realtime, realtime

T = TypeVar("T")

FIFO = getattr(os, "SCHED_FIFO", -1)
RESET = getattr(os, "SCHED_RESET_ON_FORK", 0)


def _policy(tid: int = 0) -> tuple[int, int]:
    """(policy without the reset-on-fork flag, priority) of thread ``tid`` (0: this one)."""
    return os.sched_getscheduler(tid) & ~RESET, os.sched_getparam(tid).sched_priority


def _on_thread(fn: Callable[[], T]) -> T:
    """``fn()`` on a new thread (its policy changes stay there), its result or error here."""
    out: list[T] = []
    err: list[BaseException] = []

    def run() -> None:
        try:
            out.append(fn())
        except BaseException as exc:
            err.append(exc)

    t = threading.Thread(target=run)
    t.start()
    t.join(30)
    if err:
        raise err[0]
    return out[0]


def _may_fifo() -> bool:
    if not sys.platform.startswith("linux"):
        return False

    def probe() -> bool:
        try:
            os.sched_setscheduler(0, FIFO, os.sched_param(MEDIA_PRIORITY))
        except OSError:
            return False
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        return True

    return _on_thread(probe)


needs_fifo = pytest.mark.skipif(
    not _may_fifo(), reason="this process may not use SCHED_FIFO (not root, no LimitRTPRIO)"
)


@pytest.fixture
def process_realtime() -> Iterator[Realtime]:
    """The process's Realtime, not held by a SIP media thread of an earlier test."""
    rt = realtime()
    deadline = time.monotonic() + 30.0
    while rt.held and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not rt.held, "an earlier test left calls in media"
    yield rt
    assert not rt.held


@needs_fifo
def test_the_holder_runs_fifo_until_released_and_a_loop_only_while_raised() -> None:
    rt = Realtime()
    loop = threading.get_native_id()  # this thread plays the event loop
    assert _policy() == (os.SCHED_OTHER, 0)

    def media() -> list[tuple[int, int]]:
        seen = []
        assert rt.hold() and rt.held and rt.mode == "realtime"
        seen.append(_policy())
        assert rt.raise_loop(loop)
        seen.append(_policy(loop))
        rt.lower_loop(loop)
        seen.append(_policy(loop))
        assert rt.hold()  # again: no change
        rt.release()
        seen.append(_policy())
        assert not rt.held and rt.mode == "normal"
        assert not rt.raise_loop(loop)  # not held: the loop is left alone
        seen.append(_policy(loop))
        return seen

    assert _on_thread(media) == [
        (FIFO, MEDIA_PRIORITY),
        (FIFO, LOOP_PRIORITY),
        (os.SCHED_OTHER, 0),
        (os.SCHED_OTHER, 0),
        (os.SCHED_OTHER, 0),
    ]


@needs_fifo
def test_release_keeps_the_nice_value() -> None:
    rt = Realtime()

    def media() -> int:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 3)
        rt.hold()
        rt.release()
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    assert _on_thread(media) == 3


@needs_fifo
def test_a_thread_or_process_started_by_a_realtime_thread_starts_normal() -> None:
    rt = Realtime()

    def media() -> tuple[tuple[int, int], str]:
        rt.hold()
        try:
            child = _on_thread(_policy)
            proc = subprocess.run(
                [sys.executable, "-c", "import os; print(os.sched_getscheduler(0))"],
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            )
        finally:
            rt.release()
        return child, proc.stdout.strip()

    assert _on_thread(media) == ((os.SCHED_OTHER, 0), str(os.SCHED_OTHER))


def test_a_thread_id_not_of_this_process_is_never_changed() -> None:
    rt = Realtime()
    rt.mode = "realtime"  # as if held: raise_loop's own checks decide
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert not rt.raise_loop(other.pid)
        assert _policy(other.pid) == (os.SCHED_OTHER, 0)
    finally:
        other.kill()
        other.wait()


@needs_fifo
def test_a_part_worker_follows_the_process_policy_before_each_part(
    process_realtime: Realtime,
) -> None:
    rt = process_realtime
    worker = PartWorker("test-part")
    worker.start()
    seen: list[tuple[int, int]] = []

    def part() -> int:
        seen.append(_policy())
        return 1

    def media() -> None:
        rt.hold()
        try:
            worker.submit(part)
            worker.wait()
        finally:
            rt.release()
        worker.submit(part)
        worker.wait()

    try:
        worker.submit(part)
        worker.wait()
        _on_thread(media)
    finally:
        worker.submit(None)
        worker.join(10)
    assert seen == [(os.SCHED_OTHER, 0), (FIFO, MEDIA_PRIORITY), (os.SCHED_OTHER, 0)]


_REFUSED = """
import logging, os, resource, sys, threading
sys.path[:0] = {path!r}
from lanfax.engine.realtime import Realtime
resource.setrlimit(resource.RLIMIT_RTPRIO, (0, 0))
os.setgid(65534); os.setuid(65534)  # no CAP_SYS_NICE any more
logging.basicConfig(level=logging.INFO, format="%(message)s")
rt = Realtime()
out = []
def media():
    out.append((rt.hold(), rt.mode, os.sched_getscheduler(0), rt.hold()))
t = threading.Thread(target=media); t.start(); t.join()
print(out[0])
"""


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0,
    reason="gives the right up with setuid: needs root to start with",
)
def test_a_process_that_may_not_runs_normal_and_says_so_once() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _REFUSED.format(path=sys.path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"(False, 'denied', {os.SCHED_OTHER}, False)"
    assert proc.stderr.count("real-time not permitted") == 1, proc.stderr


def test_follow_without_a_process_realtime_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rt_module, "_the", None)
    assert rt_module.follow(0) == 0
    assert _policy() == (os.SCHED_OTHER, 0)


_RTTIME = """
import logging, resource, sys, threading
sys.path[:0] = {path!r}
from lanfax.engine.realtime import Realtime
resource.setrlimit(resource.RLIMIT_RTTIME, (200_000, 200_000))
logging.basicConfig(level=logging.INFO, format="%(message)s")
rt = Realtime()
out = []
t = threading.Thread(target=lambda: out.append((rt.hold(), rt.mode))); t.start(); t.join()
print(out[0])
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_RTTIME is Linux's")
def test_a_process_with_a_real_time_cpu_limit_stays_normal() -> None:
    """A finite RLIMIT_RTTIME (rtkit sets 200 ms): the kernel would kill a real-time thread
    that runs that long without sleeping, which a forced full collection may."""
    proc = subprocess.run(
        [sys.executable, "-c", _RTTIME.format(path=sys.path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "(False, 'denied')"
    assert "RLIMIT_RTTIME is 200000 us" in proc.stderr
