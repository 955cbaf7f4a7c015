"""Jobs held back after a failure, each with a growing delay: a condition that must not spin.

The dispatcher (a job whose claim failed) and inbound routing (a fax whose routing could not
start or be recorded: the spool unreadable, a store error) both keep such a job out of their
plans for a while, doubling the delay on each failure up to a longest one, and say so once:
when the job is first held, and when it works again. Times are the event loop's (the caller
passes ``loop.time()``), so a test's clock is the loop's.
"""

from __future__ import annotations

__all__ = ["HeldBack"]


class HeldBack:
    """Job id -> (loop time of the next try, the delay after that); delays start at ``first``
    and double up to ``longest``."""

    def __init__(self, first: float, longest: float) -> None:
        self.first = first
        self.longest = longest
        self._held: dict[int, tuple[float, float]] = {}

    def __bool__(self) -> bool:
        return bool(self._held)

    def hold(self, job_id: int, now: float) -> bool:
        """Hold ``job_id`` until ``now`` + its delay (the first, or twice the last one); True
        when it was not held already (the caller says so, once)."""
        held = self._held.get(job_id)
        delay = self.first if held is None else held[1]
        self._held[job_id] = (now + delay, min(delay * 2, self.longest))
        return held is None

    def release(self, job_id: int) -> bool:
        """Stop holding ``job_id``; True when it was held (the caller says it works again)."""
        return self._held.pop(job_id, None) is not None

    def waits(self, job_id: int, now: float) -> bool:
        """Whether ``job_id`` is held back at ``now``."""
        held = self._held.get(job_id)
        return held is not None and held[0] > now

    def waiting(self, now: float) -> set[int]:
        """The jobs held back at ``now``."""
        return {job_id for job_id, (until, _d) in self._held.items() if until > now}

    def any_due(self, now: float) -> bool:
        """Whether some held job's next try has come at ``now``."""
        return any(until <= now for until, _d in self._held.values())

    def timeout(self, timeout: float, now: float) -> float:
        """``timeout`` (seconds to sleep), cut to the next held job's try."""
        if not self._held:
            return timeout
        soonest = min(until for until, _d in self._held.values())
        return min(timeout, max(soonest - now, 0.0))
