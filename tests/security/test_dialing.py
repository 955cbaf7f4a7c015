"""Dialing rules (lanfax.service.dialing): pure functions, example- and property-tested."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lanfax.model.errors import ConfigError, InvalidInput
from lanfax.service.dialing import DialingRules, analyse, check, dial_string, parse_dialing_settings
from lanfax.service.submit import parse_submission

BERLIN = parse_dialing_settings(
    {
        "outside_line_prefix": "0",
        "country_code": "49",
        "area_code": "30",
        "blocked": ["0900*", "+49900*", "0137*", "118??"],
    }
)
DEFAULTS = DialingRules()

digits = st.text("0123456789", min_size=1, max_size=15)
formatting = st.sampled_from(["", " ", "-", "/", " (", ") ", "."])


@st.composite
def typed(draw: st.DrawFn, number: str) -> str:
    """``number`` as a person might type it: punctuation sprinkled between the digits."""
    out = []
    for ch in number:
        out.append(draw(formatting))
        out.append(ch)
    return "".join(out).strip() or number


# -- examples ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "kind", "e164", "dial"),
    [
        ("101", "internal", "101", "101"),
        ("*30", "special", "*30", "*30"),
        ("*311#101", "special", "*311#101", "*311#101"),
        ("1234567", "local", "+49301234567", "01234567"),
        ("030 1234567", "national", "+49301234567", "0030 1234567".replace(" ", "")),
        ("089 123456", "national", "+4989123456", "0089123456"),
        ("+49 30 1234567", "international", "+49301234567", "0030" + "1234567"),
        ("0049 89 123456", "international", "+4989123456", "0089123456"),
        ("+33 1 23 45 67 89", "international", "+33123456789", "0" + "0033123456789"),
    ],
)
def test_berlin_examples(number: str, kind: str, e164: str, dial: str) -> None:
    judged = analyse(number, BERLIN)
    assert (judged.kind, judged.e164, judged.dial) == (kind, e164, dial)


@pytest.mark.parametrize("number", ["0900 123456", "+49 900 123456", "0049900123456", "11833"])
def test_premium_numbers_are_blocked_however_written(number: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check(number, BERLIN)
    assert "blocked by the dialing rule" in info.value.message
    assert repr(number) in info.value.message
    assert info.value.detail["rule"].startswith("blocked:")
    assert info.value.hint


def test_defaults_keep_internal_special_and_every_external_number() -> None:
    for number in ["100", "101", "*30", "*10", "*311#101", "+49 30 123", "0900 123", "555-1234"]:
        assert check(number, DEFAULTS).canonical
        assert dial_string(number, DEFAULTS) == number  # nothing rewritten


def test_allowed_restricts_outside_numbers_only() -> None:
    rules = parse_dialing_settings({"country_code": "49", "allowed": ["+49*"]})
    assert check("030 123456", rules).e164 == "+4930123456"
    assert check("101", rules).kind == "internal"
    assert check("*30", rules).kind == "special"
    with pytest.raises(InvalidInput, match="none of the dialing rules allowed"):
        check("+33 1 23 45 67 89", rules)


@pytest.mark.parametrize("number", ["abc", "+49 30 1234x", "12+34", "---", "00", "+"])
def test_malformed_numbers_are_refused(number: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check(number, BERLIN, field="recipients[0].recipient_number")
    assert info.value.message.startswith("recipients[0].recipient_number: ")
    assert info.value.hint


def test_submission_names_the_recipient_number_and_rule() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_submission(
            {"recipients": [{"recipient_number": "101"}, {"recipient_number": "0900-666"}]},
            dialing=BERLIN,
        )
    assert "recipients[1].recipient_number" in info.value.message
    assert "'0900-666'" in info.value.message and "'0900*'" in info.value.message


def test_submission_recipient_limit() -> None:
    data = {"recipients": [{"recipient_number": "101"}] * 3}
    assert len(parse_submission(data, max_recipients=3).recipients) == 3
    with pytest.raises(InvalidInput, match="too many") as info:
        parse_submission(data, max_recipients=2)
    assert "server.max_recipients" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"country_code": "+49"}, "country_code"),
        ({"outside_line_prefix": 0}, "outside_line_prefix"),
        ({"blocked": "0900*"}, "blocked"),
        ({"blocked": ["09 00 x*"]}, "blocked[0]"),
        ({"area_code": "30"}, "area_code"),
        ({"national_prefix": "00", "international_prefix": "0"}, "national_prefix"),
        ({"internal_max_digits": 99}, "internal_max_digits"),
        ({"premium": True}, "dialing.premium"),
    ],
)
def test_bad_tables_name_the_key(table: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_dialing_settings(table, source="lanfax.toml")
    assert key in info.value.message and "lanfax.toml" in info.value.message
    assert info.value.hint


# -- properties ----------------------------------------------------------------------------


@given(st.data(), digits)
def test_punctuation_never_changes_the_judgement(data: st.DataObject, number: str) -> None:
    for rules in (DEFAULTS, BERLIN):
        try:
            plain = analyse(number, rules)
        except InvalidInput:
            continue
        written = data.draw(typed(number))
        assert analyse(written, rules).e164 == plain.e164
        assert analyse(written, rules).dial == plain.dial


@given(st.from_regex(r"\A[1-9][0-9]{4,11}\Z"))
def test_every_way_of_writing_a_national_number_has_one_e164(subscriber: str) -> None:
    # A subscriber number never starts with 0: that would be the national prefix.
    forms = [subscriber, "030" + subscriber, "+4930" + subscriber, "004930" + subscriber]
    e164s = {analyse(f, BERLIN).e164 for f in forms}
    assert e164s == {"+4930" + subscriber}


@given(st.text("0123456789", min_size=1, max_size=12))
def test_a_blocked_prefix_catches_every_way_of_writing(rest: str) -> None:
    for written in ["0900" + rest, "+49900" + rest, "0049900" + rest, "+49 900 " + rest]:
        with pytest.raises(InvalidInput, match="blocked"):
            check(written, BERLIN)


def _short(s: str) -> bool:
    # "00" alone is the international prefix with no number behind it: refused.
    return any(c.isdigit() for c in s) and s != "00"


@given(st.text("0123456789*#", min_size=1, max_size=8).filter(_short))
def test_short_and_special_numbers_pass_the_defaults_unchanged(number: str) -> None:
    judged = check(number, DEFAULTS)
    assert judged.dial == number


@given(st.text(max_size=40))
def test_anything_is_judged_or_refused_cleanly(text: str) -> None:
    for rules in (DEFAULTS, BERLIN):
        try:
            judged = check(text, rules)
        except InvalidInput as exc:
            assert exc.message and exc.hint
        else:
            assert judged.dial and set(judged.dial) <= set("+0123456789*#")
        assert isinstance(dial_string(text, rules), str)


@given(digits)
def test_dial_string_of_an_outside_number_starts_with_the_outside_prefix(number: str) -> None:
    try:
        judged = analyse(number, BERLIN)
    except InvalidInput:
        return
    if judged.kind in ("internal", "special"):
        assert judged.dial == judged.canonical
    else:
        assert judged.dial.startswith("0") and judged.dial[1:]
