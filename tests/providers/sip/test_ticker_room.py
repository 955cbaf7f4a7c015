"""The room the media thread gives a due full collection (#19): until the first of the ticks
due next would start late, each tick's room shortened by the ticks that run before it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lanfax.providers.sip.ticker import PERIOD, room_before_late


def test_one_ticker_has_until_a_period_after_its_due_time() -> None:
    assert abs(room_before_late([(10.0, 0.004)], now=9.995) - (0.005 + PERIOD)) < 1e-9


def test_the_second_ticker_waits_for_the_first_ones_tick() -> None:
    # G.711 due in 2 ms (its ticks take 4 ms), T.38 due in 5 ms: T.38's tick starts after
    # G.711's, so its room is 5 + 20 - 4 = 21 ms, less than the 22 ms G.711's alone leaves.
    now = 100.0
    room = room_before_late([(now + 0.005, 0.002), (now + 0.002, 0.004)], now)
    assert abs(room - (0.005 + PERIOD - 0.004)) < 1e-9
    # What the media thread gave it before (the first tick's room alone) was more.
    assert room < 0.002 + PERIOD


def _starts(ticks: list[tuple[float, float]], free_at: float) -> list[float]:
    """When each tick starts (in the order due) if the thread is free from ``free_at``."""
    out, start = [], free_at
    for due, wall in sorted(ticks):
        start = max(start, due)
        out.append(start)
        start += wall
    return out


@given(
    st.lists(st.tuples(st.floats(0.0, 0.04), st.floats(0.0, 0.01)), min_size=1, max_size=4),
    st.floats(0.0, 0.02),
)
def test_a_collection_that_fits_the_room_makes_no_tick_late(
    ticks: list[tuple[float, float]], now: float
) -> None:
    """Whatever the ticks: something that takes the whole room, then the ticks one after
    another in the order due (each as long as its last one), makes no tick start more than a
    period after its due time that would not have anyway (the ticks before it alone)."""
    room = room_before_late(ticks, now)
    if room < 0:
        return  # no room: the media thread runs nothing then
    dues = [due for due, _ in sorted(ticks)]
    anyway = _starts(ticks, now)
    after = _starts(ticks, now + room)
    for due, without, with_room in zip(dues, anyway, after, strict=True):
        assert with_room - due <= max(PERIOD, without - due) + 1e-9
