"""Whether the spool can take a submission: ``server.min_free_mb`` (the disk) and
``server.max_spool_mb`` (the size of ``spool/docs``), answered before anything is converted.

The size of ``spool/docs`` is measured by reading every file's size, which with a long queue
is one ``stat`` per queued document: #19 measured it per submission. It is now measured at
most every :data:`RESCAN_SECONDS` (on the service's clock); between two measurements every
submission let in adds its uploads' size to the figure, so the bound is never passed by a
burst, and what was deleted meanwhile is seen at the next measurement (a full spool frees up
at most that much later). Without ``max_spool_mb`` nothing is measured at all.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Sequence
from pathlib import Path

from lanfax.model.clock import Clock
from lanfax.model.errors import InsufficientStorage

#: How long a measured size of spool/docs is used (with what was let in since added).
RESCAN_SECONDS = 5.0
_MB = 2**20


class SpoolRoom:
    """The room check of one spool's ``docs`` directory; thread-safe, blocking."""

    def __init__(self, docs: Path, clock: Clock) -> None:
        self.docs = docs
        self.clock = clock
        #: Bounds (the service sets them from its settings); 0 max_spool_bytes: unbounded.
        self.max_spool_bytes = 0
        self.min_free_bytes = 64 * _MB
        self._lock = threading.Lock()
        self._used = 0
        self._measured_at: float | None = None

    def check(self, staged: Sequence[Path]) -> None:
        """InsufficientStorage (507, with the figures) when the spool cannot take the files
        ``staged``: its disk would keep less than min_free_mb, or spool/docs would pass
        max_spool_mb. When it can, their size is counted in spool/docs from now on."""
        incoming = 0
        for path in staged:
            with contextlib.suppress(OSError):
                st = os.stat(path)
                if stat.S_ISREG(st.st_mode):
                    incoming += st.st_size
        vfs = os.statvfs(self.docs)
        free = vfs.f_bavail * vfs.f_frsize
        if free - incoming < self.min_free_bytes:
            raise InsufficientStorage(
                f"the spool's disk has {free / _MB:.1f} MB free; this submission brings"
                f" {incoming / _MB:.1f} MB and {self.min_free_bytes / _MB:.0f} MB must stay"
                " free (server.min_free_mb)",
                hint="try again once faxes in the queue were sent and deleted, or free disk space",
                free_bytes=free,
                needed_bytes=incoming,
            )
        if not self.max_spool_bytes:
            return
        with self._lock:
            used = self._measure()
            if used + incoming > self.max_spool_bytes:
                raise InsufficientStorage(
                    f"the spool holds {used / _MB:.1f} MB of the"
                    f" {self.max_spool_bytes / _MB:.0f} MB allowed (server.max_spool_mb);"
                    f" this submission brings {incoming / _MB:.1f} MB",
                    hint="try again once faxes in the queue were sent and deleted, or raise"
                    " server.max_spool_mb",
                    spool_bytes=used,
                    needed_bytes=incoming,
                )
            self._used += incoming

    def _measure(self) -> int:
        """Bytes in spool/docs: measured again when the last measure is RESCAN_SECONDS old,
        else the last measure and what was let in since (under the lock)."""
        now = self.clock.monotonic()
        if self._measured_at is None or now - self._measured_at >= RESCAN_SECONDS:
            used = 0
            with os.scandir(self.docs) as entries:
                for entry in entries:
                    with contextlib.suppress(OSError):
                        used += entry.stat(follow_symlinks=False).st_size
            self._used, self._measured_at = used, now
        return self._used
