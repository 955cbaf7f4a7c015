"""The dialing plan of the virtual network (a pure function; hypothesis covers the space)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lanfax.providers.virtual.numbers import (
    DROP_RANGE,
    SNR_RANGE,
    Dialed,
    Kind,
    classify,
    is_line_number,
    special_number,
)


@pytest.mark.parametrize(
    ("dialed", "kind"),
    [
        ("*10", Kind.BUSY),
        ("*11", Kind.NO_ANSWER),
        ("*12", Kind.NO_DIAL_TONE),
        ("*13", Kind.INVALID),
        ("*20", Kind.VOICE),
        ("*30", Kind.ROBOT),
        ("*33", Kind.ROBOT),
        ("*34", Kind.ROBOT),
        ("*311", Kind.ROBOT),
        ("*3225", Kind.ROBOT),
        ("101", Kind.LINE),
        ("+49 (30) 123-45.67", Kind.LINE),
        ("", Kind.INVALID),
        ("abc", Kind.INVALID),
        ("*", Kind.INVALID),
        ("*31", Kind.INVALID),  # drop needs a page number
        ("*310", Kind.INVALID),  # page 0 is not a page
        ("*32", Kind.INVALID),
        ("*32100", Kind.INVALID),  # SNR out of range
        ("*10#101", Kind.INVALID),  # busy takes no line
        ("*30#101", Kind.INVALID),
        ("*311#", Kind.INVALID),
        ("*311#x", Kind.INVALID),
        ("*99", Kind.INVALID),
    ],
)
def test_table(dialed: str, kind: Kind) -> None:
    got = classify(dialed)
    assert got.kind is kind
    if kind is Kind.INVALID:
        assert got.reason


def test_far_ends_and_impairments() -> None:
    assert classify("*33").far_end.modems == frozenset({"v27ter"})
    mh = classify("*34").far_end
    assert mh.compressions == frozenset({"mh"}) and mh.ecm is False
    assert classify("*312").impairments.drop_after_page == 2
    assert classify("*3225").impairments.snr_db == 25.0
    to_line = classify("*311#101")
    assert to_line == Dialed(Kind.LINE, line="101", impairments=to_line.impairments)
    assert to_line.impairments.drop_after_page == 1
    assert classify("+49 (30) 123-45.67").line == "+4930123 4567".replace(" ", "")


def test_prefix_is_configurable() -> None:
    assert classify("#10", prefix="#").kind is Kind.BUSY
    assert classify("*10", prefix="#").kind is Kind.INVALID
    # With specials off, service codes are just invalid numbers.
    assert classify("*10", prefix="").kind is Kind.INVALID
    assert classify("9910", prefix="99").kind is Kind.BUSY


@given(st.text(max_size=40), st.sampled_from(["*", "#", "**", ""]))
def test_never_raises_and_lines_are_numbers(text: str, prefix: str) -> None:
    got = classify(text, prefix)
    assert isinstance(got.kind, Kind)
    if got.kind is Kind.LINE:
        assert is_line_number(got.line)
    else:
        assert got.line == ""


@given(st.from_regex(r"\+?[0-9]{1,20}", fullmatch=True))
def test_every_line_number_reaches_that_line(number: str) -> None:
    assert classify(number) == Dialed(Kind.LINE, line=number)


@given(
    st.integers(*DROP_RANGE),
    st.integers(*SNR_RANGE),
    st.one_of(st.none(), st.from_regex(r"[0-9]{1,6}", fullmatch=True)),
)
def test_special_numbers_round_trip(page: int, snr: int, line: str | None) -> None:
    drop = classify(special_number("31", arg=page, line=line))
    noise = classify(special_number("32", arg=snr, line=line))
    assert drop.impairments.drop_after_page == page
    assert noise.impairments.snr_db == float(snr)
    expected = Kind.LINE if line is not None else Kind.ROBOT
    assert drop.kind is expected and noise.kind is expected
    assert drop.line == (line or "")
