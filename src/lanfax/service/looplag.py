"""The event loop's health (issue #14, item 7): a monitor that measures how late the loop
runs a timer and counts the stalls.

Everything the service does for its users (HTTP, events, calls in real time) runs on one
event loop; a blocking call on it (a file or database operation, a password hash) stalls
all of them. :class:`LoopLagMonitor` asks to be woken every ``interval`` seconds and measures
how late it is woken: a lateness over ``threshold`` (100 ms) is a stall, counted, with the
worst one kept, and logged (at most once per ``log_every`` seconds, with the count since).
The measure itself is a pure function (:func:`lateness`), the monitor a thin task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

log = logging.getLogger("lanfax.init")

#: A timer run this much later than asked is a stall.
STALL_SECONDS = 0.1


def lateness(asked_at: float, interval: float, woken_at: float) -> float:
    """How late a timer of ``interval`` set at ``asked_at`` ran, woken at ``woken_at``."""
    return max(0.0, woken_at - asked_at - interval)


@dataclass
class LoopLagStats:
    stalls: int = 0
    worst: float = 0.0
    last: float = 0.0

    def to_wire(self) -> dict[str, float | int]:
        return {
            "stalls": self.stalls,
            "worst_ms": round(self.worst * 1000),
            "last_ms": round(self.last * 1000),
        }


class LoopLagMonitor:
    def __init__(
        self,
        *,
        interval: float = 0.05,
        threshold: float = STALL_SECONDS,
        log_every: float = 10.0,
    ) -> None:
        self.interval = interval
        self.threshold = threshold
        self.log_every = log_every
        self.stats = LoopLagStats()
        self._task: asyncio.Task[None] | None = None
        self._logged_at = -1e9
        self._unlogged = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="lanfax-looplag")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def observe(self, late: float, now: float) -> None:
        """Count ``late`` (seconds) as seen at ``now`` (monotonic seconds)."""
        self.stats.last = late
        if late < self.threshold:
            return
        self.stats.stalls += 1
        self.stats.worst = max(self.stats.worst, late)
        self._unlogged += 1
        if now - self._logged_at >= self.log_every:
            log.warning(
                "the event loop stalled for %.0f ms (%d stall(s) over %.0f ms since the last"
                " report; worst %.0f ms)",
                late * 1000,
                self._unlogged,
                self.threshold * 1000,
                self.stats.worst * 1000,
            )
            self._logged_at = now
            self._unlogged = 0

    async def _run(self) -> None:
        while True:
            asked = time.monotonic()
            await asyncio.sleep(self.interval)
            woken = time.monotonic()
            self.observe(lateness(asked, self.interval, woken), woken)
