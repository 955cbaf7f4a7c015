"""Pure helpers: the inbound block list and page limit, template validation, schemas."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lanfax.model.errors import ConfigError
from lanfax.routing import BlockList, InboundPolicy, is_blocked, within_page_limit
from lanfax.routing.builtin import mail, webhook
from lanfax.routing.templates import TEMPLATE_FIELDS, check_template, render, template_fields

from .conftest import make_fax


@pytest.mark.parametrize(
    ("caller", "tsid", "patterns", "blocked"),
    [
        ("+1-555-0100", "", ["+1 555 *"], True),
        ("+1 666 0100", "", ["+1 555 *"], False),
        ("", "SPAM Inc", ["*spam*"], True),
        ("0900123456", "", ["0900*"], True),
        ("", "", ["0900*"], False),
        ("5551234", "ACME", ["ACME 5*"], False),  # a pattern with letters is not a number
        ("123", "", ["12?"], True),
        ("1234", "", ["12?"], False),
    ],
)
def test_block_list(caller: str, tsid: str, patterns: list[str], blocked: bool) -> None:
    assert is_blocked(caller, tsid, patterns) is blocked


@pytest.mark.parametrize("bad", ["*", "**?", "", "a" * 65, "ab[c]", "x\x00"])
def test_bad_patterns_are_config_errors(bad: str) -> None:
    with pytest.raises(ConfigError) as err:
        BlockList.from_patterns([bad])
    assert err.value.hint


def test_inbound_policy() -> None:
    policy = InboundPolicy.from_mapping({"block": ["0900*"], "max_pages": 10})
    assert policy.refusal("0900111", "") is not None
    assert policy.refusal("030111", "", 11) == "11 pages is more than the limit of 10"
    assert policy.refusal("030111", "", 10) is None
    assert within_page_limit(500, None) and within_page_limit(500, 0)
    with pytest.raises(ConfigError):
        InboundPolicy.from_mapping({"max_pages": -1})
    with pytest.raises(ConfigError) as err:
        InboundPolicy.from_mapping({"blocklist": []})
    assert "block, max_pages" in (err.value.hint or "")


@given(st.text(max_size=40), st.text(max_size=20), st.text(max_size=20))
def test_block_list_never_raises_on_any_caller(pattern_tail: str, caller: str, tsid: str) -> None:
    try:
        bl = BlockList.from_patterns(["+49*" + pattern_tail])
    except ConfigError:
        return
    assert isinstance(bl.is_blocked(caller, tsid), bool)


@given(st.text(max_size=80))
def test_templates_either_validate_or_give_a_config_error(template: str) -> None:
    try:
        check_template(template, "t")
    except ConfigError as exc:
        assert exc.hint
        return
    # An accepted template renders with any fax, whatever its fields hold.
    fields = template_fields(make_fax(csid="{job_id}\x00/..", tsid="}{"))
    assert isinstance(render(template, fields), str)


@given(st.lists(st.sampled_from(sorted(TEMPLATE_FIELDS)), min_size=1, max_size=5))
def test_every_known_field_renders(names: list[str]) -> None:
    template = "_".join("{" + n + "}" for n in names)
    assert check_template(template, "t") == template
    render(template, template_fields(make_fax()))


@given(st.emails() | st.text(max_size=30) | st.builds(lambda a: f"Name <{a}>", st.emails()))
def test_address_validation_is_total(address: str) -> None:
    info = {"to": address, "from": "fax@example.com", "smtp_host": "mail.example.com"}
    try:
        out = mail.check(info)
    except ConfigError as exc:
        assert exc.hint and exc.message.startswith("route through e-mail")
        return
    assert out["to"] and "@" in out["to"][0]


@given(st.text(max_size=60))
def test_url_validation_is_total(url: str) -> None:
    try:
        out = webhook.check({"url": url, "secret": "x" * 16})
    except ConfigError as exc:
        assert exc.hint
        return
    assert out["url"].startswith(("http://", "https://"))
