"""Token buckets per key, sans-IO: every call takes ``now`` (a monotonic clock reading).

A bucket holds up to ``burst`` tokens and gains ``rate`` tokens a second. ``take`` spends
tokens or says how long to wait; ``charge`` spends tokens after the fact (a request that
failed), never below empty; ``peek`` only asks. A wait is always a whole number of seconds,
at least 1: it is what the ``Retry-After`` header carries (RFC 9110, 10.2.3: delay-seconds is
a non-negative integer), and a wait rounded down to "0.0 s" tells a client nothing.
"""

from __future__ import annotations

import math

#: Buckets kept before full (idle) ones are dropped: keys may come from the network.
MAX_KEYS = 10_000


class Bucket:
    __slots__ = ("level", "stamp")

    def __init__(self, level: float, stamp: float) -> None:
        self.level = level
        self.stamp = stamp


def wait_seconds(deficit: float, rate: float) -> int:
    """Whole seconds until ``deficit`` tokens are back at ``rate`` per second (at least 1)."""
    return max(1, math.ceil(deficit / rate - 1e-9))


class Limiter:
    """Token buckets by key. ``rate <= 0`` or ``burst <= 0`` means no limit for that call."""

    def __init__(self) -> None:
        self._buckets: dict[str, Bucket] = {}

    def _bucket(self, key: str, now: float, rate: float, burst: float) -> Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_KEYS:
                self._prune(now, rate, burst)
            bucket = self._buckets[key] = Bucket(burst, now)
        bucket.level = min(burst, bucket.level + max(0.0, now - bucket.stamp) * rate)
        bucket.stamp = now
        return bucket

    def _prune(self, now: float, rate: float, burst: float) -> None:
        full = [k for k, b in self._buckets.items() if b.level + (now - b.stamp) * rate >= burst]
        for k in full:
            del self._buckets[k]

    def take(self, key: str, now: float, *, cost: float, rate: float, burst: float) -> int | None:
        """Spend ``cost`` tokens: None if there were enough, else the seconds to wait (and
        nothing is spent)."""
        if rate <= 0 or burst <= 0:
            return None
        bucket = self._bucket(key, now, rate, burst)
        if bucket.level < cost:
            return wait_seconds(cost - bucket.level, rate)
        bucket.level -= cost
        return None

    def peek(self, key: str, now: float, *, need: float, rate: float, burst: float) -> int | None:
        """None if ``need`` tokens are there, else the seconds until they are."""
        if rate <= 0 or burst <= 0 or key not in self._buckets:
            return None
        bucket = self._bucket(key, now, rate, burst)
        return None if bucket.level >= need else wait_seconds(need - bucket.level, rate)

    def charge(self, key: str, now: float, *, cost: float, rate: float, burst: float) -> None:
        """Spend ``cost`` tokens after the fact; the bucket empties but never goes below."""
        if rate <= 0 or burst <= 0:
            return
        bucket = self._bucket(key, now, rate, burst)
        bucket.level = max(0.0, bucket.level - cost)
