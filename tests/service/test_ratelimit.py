"""The token buckets behind the per-user limits, driven by a clock reading (no sleeping)."""

from __future__ import annotations

from lanfax.service import ratelimit
from lanfax.service.ratelimit import Limiter, wait_seconds


def test_take_spends_a_burst_then_says_a_whole_wait() -> None:
    lim = Limiter()
    assert [lim.take("u", 0.0, cost=1, rate=20, burst=3) for _ in range(3)] == [None] * 3
    # Empty at rate 20/s: one token is 0.05 s away, which is said as 1 s (never "0.0 s").
    assert lim.take("u", 0.0, cost=1, rate=20, burst=3) == 1
    assert lim.take("u", 0.05, cost=1, rate=20, burst=3) is None
    assert lim.take("v", 0.0, cost=1, rate=20, burst=3) is None  # keys are apart


def test_waits_are_whole_seconds_rounded_up() -> None:
    assert wait_seconds(0.01, 100) == 1
    assert wait_seconds(1, 1) == 1
    assert wait_seconds(1.5, 1) == 2
    assert wait_seconds(3, 0.5) == 6


def test_no_limit_when_rate_or_burst_is_zero() -> None:
    lim = Limiter()
    assert all(lim.take("u", 0.0, cost=1, rate=0, burst=5) is None for _ in range(100))
    assert all(lim.take("u", 0.0, cost=1, rate=5, burst=0) is None for _ in range(100))
    lim.charge("u", 0.0, cost=1, rate=0, burst=5)
    assert lim.peek("u", 0.0, need=1, rate=0, burst=5) is None


def test_charge_empties_but_never_below_and_peek_only_asks() -> None:
    lim = Limiter()
    assert lim.peek("f", 0.0, need=1, rate=1, burst=2) is None  # never charged: all there
    for _ in range(5):
        lim.charge("f", 0.0, cost=1, rate=1, burst=2)
    assert lim.peek("f", 0.0, need=1, rate=1, burst=2) == 1
    assert lim.peek("f", 0.0, need=1, rate=1, burst=2) == 1  # asking spends nothing
    assert lim.peek("f", 1.0, need=1, rate=1, burst=2) is None  # one second refilled one


def test_idle_full_buckets_are_dropped_when_there_are_too_many(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(ratelimit, "MAX_KEYS", 3)
    lim = Limiter()
    for key in "abc":
        lim.take(key, 0.0, cost=1, rate=1, burst=5)
    lim.take("d", 100.0, cost=1, rate=1, burst=5)  # a, b, c are full again by now
    assert set(lim._buckets) == {"d"}
