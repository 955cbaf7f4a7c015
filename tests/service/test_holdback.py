"""The held-back jobs of the dispatcher and of inbound routing (lanfax.service.holdback)."""

from __future__ import annotations

from lanfax.service.holdback import HeldBack


def test_a_held_job_waits_a_doubling_delay_up_to_the_longest() -> None:
    held = HeldBack(0.5, 3.0)
    assert not held and held.timeout(10.0, 0.0) == 10.0
    assert held.hold(7, 100.0) is True  # first time: the caller says so
    assert held and held.waits(7, 100.4) and not held.waits(7, 100.5)
    assert held.waiting(100.4) == {7} and held.waiting(100.5) == set()
    assert not held.any_due(100.4) and held.any_due(100.5)
    assert held.timeout(10.0, 100.0) == 0.5
    assert held.hold(7, 101.0) is False  # again: quiet
    assert held.timeout(10.0, 101.0) == 1.0
    for now in (103.0, 106.0, 110.0):
        held.hold(7, now)
    assert held.timeout(10.0, 110.0) == 3.0  # 0.5, 1, 2, then the longest: 3, 3
    assert not held.waits(8, 0.0) and held.release(8) is False


def test_a_released_job_starts_again_from_the_first_delay() -> None:
    held = HeldBack(0.5, 3.0)
    held.hold(7, 0.0)
    held.hold(7, 1.0)
    held.hold(9, 0.0)
    assert held.timeout(10.0, 1.0) == 0.0  # 9's try has come
    assert held.release(7) is True and held.release(7) is False
    assert held.hold(7, 5.0) is True and held.timeout(10.0, 5.0) == 0.0
    held.release(9)
    assert held.timeout(10.0, 5.0) == 0.5
