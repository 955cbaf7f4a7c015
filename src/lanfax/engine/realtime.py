"""Real-time scheduling for the threads whose delay is a late media packet (issue #19).

A media tick (the SIP media thread's 20 ms pass, with its batches' second thread) has a few
milliseconds of CPU to do; what made ticks late on a busy machine was the wait for a core:
measured with ``bench/sip.py --trace-late`` at 200 + 200 calls, a late tick's wall time was
13-21 ms on the kernel's run queue for 2-3 ms of running. With the media thread under
``SCHED_FIFO`` that wait went, and the ticks were then held up by the GIL instead (35-77 ms
asleep in one tick): the event loop held it while it waited on the run queue behind
every other process's threads. With the event loop under ``SCHED_FIFO`` too, one step below
the media thread, 200 and 300 calls had no late packet at a load of 5 (other processes busy
on both cores). The loop is raised for the length of each tick only
(:meth:`Realtime.raise_loop`): real-time all the time it used up the kernel's real-time
share of a core while 600 calls set up, and the media thread was throttled for 50 ms.

:class:`Realtime` does that while calls are in media, and only where the process may (root,
``CAP_SYS_NICE``, or an ``RLIMIT_RTPRIO`` of at least :data:`MEDIA_PRIORITY`, e.g. systemd's
``LimitRTPRIO=2``); elsewhere it changes nothing (the threads keep their normal policy) and
says so once in the log. It is what Asterisk's ``-p`` does, kept safe for a server that runs
for months:

- only while calls are in media: :meth:`Realtime.release` puts every thread back to the
  normal policy (their nice value unchanged) as soon as no call is;
- ``SCHED_RESET_ON_FORK``: a thread or a process started by a real-time thread (an executor
  thread, a converter) starts with the normal policy;
- the kernel's real-time throttling (``/proc/sys/kernel/sched_rt_runtime_us``, 95 % by
  default) keeps a share of each core for every other thread, whatever ours do;
- never with a finite ``RLIMIT_RTTIME`` (the kernel would kill a real-time thread that runs
  that long without sleeping: a forced full collection may);
- the media thread ranks above the event loop, so a loop busy with call set-ups never holds
  a tick off the core; the GIL the loop holds it hands over after the switch interval, and
  the loop gets a core to do so ahead of normal threads.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading

__all__ = ["LOOP_PRIORITY", "MEDIA_PRIORITY", "Realtime", "follow", "realtime"]

_log = logging.getLogger("lanfax.engine")

#: ``SCHED_FIFO`` priorities (1-99): the media thread and its batches' second thread above
#: the event loop, both low (the kernel's own threads and audio servers use 50 and up).
MEDIA_PRIORITY = 2
LOOP_PRIORITY = 1


def _supported() -> bool:
    return sys.platform.startswith("linux") and hasattr(os, "SCHED_FIFO")


def _set(tid: int, priority: int) -> None:
    """``tid`` (0: the calling thread) to SCHED_FIFO ``priority``, or to the normal policy
    if 0 (its nice value kept). Raises OSError (PermissionError: not allowed)."""
    fifo = os.SCHED_FIFO | getattr(os, "SCHED_RESET_ON_FORK", 0)
    os.sched_setscheduler(tid, fifo if priority else os.SCHED_OTHER, os.sched_param(priority))


def _rttime_limit() -> int | None:
    """The process's RLIMIT_RTTIME soft limit in microseconds, None if unlimited."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not Unix
        return None
    kind = getattr(resource, "RLIMIT_RTTIME", None)
    if kind is None:  # pragma: no cover - not Linux
        return None
    soft, _hard = resource.getrlimit(kind)
    return None if soft == resource.RLIM_INFINITY else soft


def _ours(tid: int) -> bool:
    """Whether ``tid`` is a thread of this process (a thread id that ended may be another
    process's by now: never change that one)."""
    return os.path.exists(f"/proc/self/task/{tid}")


class Realtime:
    """Turns ``SCHED_FIFO`` on for the media thread and the event loops it serves while
    calls are in media, and off again when none is (see the module doc). One per process
    (:func:`realtime`); :meth:`hold` and :meth:`release` are called by the media thread.

    ``enabled=False`` (the accounts' ``realtime = false``) makes :meth:`hold` a no-op."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: The media thread (the one that held).
        self._media: int | None = None
        #: Loop threads that could not be made real-time (until the next release).
        self._refused: set[int] = set()
        #: "normal" (not held), "realtime" (held), "denied" (not permitted: never tried
        #: again until :meth:`reset`), "unsupported" (not Linux).
        self.mode = "normal" if _supported() else "unsupported"
        #: Bumped at every change: a batch's second thread follows (see :func:`follow`).
        self.generation = 0
        self.priority = 0

    @property
    def held(self) -> bool:
        return self.mode == "realtime"

    def hold(self) -> bool:
        """(On the media thread, before each tick.) Calls are in media: this thread to
        :data:`MEDIA_PRIORITY`, if permitted. True while real-time."""
        mode = self.mode
        if mode == "realtime":
            return True
        if mode != "normal":
            return False
        with self._lock:
            limit = _rttime_limit()
            if limit is not None:
                # The kernel kills a real-time thread that runs longer than this without
                # sleeping (SIGXCPU, then SIGKILL): a forced full collection may.
                self.mode = "denied"
                _log.info(
                    "SIP media at the normal scheduling priority (RLIMIT_RTTIME is %d us)",
                    limit,
                )
                return False
            try:
                _set(0, MEDIA_PRIORITY)
            except OSError as exc:
                self.mode = "denied"
                _log.info(
                    "SIP media at the normal scheduling priority (real-time not permitted: %s;"
                    " root, CAP_SYS_NICE or LimitRTPRIO=%d allows it)",
                    exc.strerror,
                    MEDIA_PRIORITY,
                )
                return False
            self._media = threading.get_native_id()
            self.mode = "realtime"
            self.priority = MEDIA_PRIORITY
            self.generation += 1
            _log.info("SIP media real-time while calls are in media (SCHED_FIFO)")
            return True

    def raise_loop(self, loop: int) -> bool:
        """(On the media thread, while held, right before a tick.) The event loop's thread
        ``loop`` (a native thread id) to :data:`LOOP_PRIORITY` until :meth:`lower_loop`:
        the GIL it may hold when the tick starts, and each time the tick's C calls give
        it up, it then hands back after the switch interval instead of waiting on the run
        queue for a core first. Only for the tick: a loop real-time all the time (600 call
        set-ups in 2 s, two processes on 2 cores) used up the kernel's real-time share of a
        core and the media thread was throttled for 50 ms. True if raised."""
        if self.mode != "realtime" or loop in self._refused:
            return False
        try:
            if not _ours(loop):
                raise ProcessLookupError(loop)
            _set(loop, LOOP_PRIORITY)
        except OSError:
            # RLIMIT_RTPRIO allows the media thread's priority only, or the thread ended:
            # the media thread alone, and not asked again until released.
            self._refused.add(loop)
            return False
        return True

    def lower_loop(self, loop: int) -> None:
        """(On the media thread.) The loop's thread back to the normal policy."""
        with contextlib.suppress(OSError):  # the thread ended meanwhile
            _set(loop, 0)

    def release(self) -> None:
        """(On the media thread.) No call in media: every thread back to the normal policy."""
        if self.mode != "realtime":
            return
        with self._lock:
            self._refused.clear()
            media = self._media
            if media is not None:
                tid = 0 if media == threading.get_native_id() else media
                with contextlib.suppress(OSError):  # the thread ended meanwhile
                    if tid == 0 or _ours(tid):
                        _set(tid, 0)
            self._media = None
            self.mode = "normal"
            self.priority = 0
            self.generation += 1

    def reset(self) -> None:
        """Forget a refusal (a test that changed the process's rights)."""
        with self._lock:
            if self.mode == "denied":
                self.mode = "normal"


_the: Realtime | None = None
_the_lock = threading.Lock()


def realtime() -> Realtime:
    """The process's :class:`Realtime`."""
    global _the
    with _the_lock:
        if _the is None:
            _the = Realtime()
        return _the


def follow(applied: int) -> int:
    """(On a batch's second thread, before a part.) Take the process's real-time policy if
    it changed since ``applied`` (a generation); returns the generation now applied. The
    second thread's part is inside the media thread's tick: it must run when the tick does."""
    rt = _the
    if rt is None or rt.generation == applied:
        return applied
    generation, priority = rt.generation, rt.priority
    with contextlib.suppress(OSError):  # not permitted (the media thread's was): as it is
        _set(0, priority)
    return generation
