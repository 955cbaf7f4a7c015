"""The "Route to a user" method's routing info and matching (lanfax.routing.builtin.owner)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from lanfax.model.errors import ConfigError
from lanfax.routing.api import FaxRoute
from lanfax.routing.builtin import owner

INFO = owner.check(
    {
        "user": "reception",
        "by_did": {"+49 (30) 555-1": "alice"},
        "by_tsid": {"Head  Office": "bob"},
        "by_csid": {"+49 30 5550": "carol"},
    }
)


def fax(**kw: Any) -> FaxRoute:
    return FaxRoute(job_id=1, receive_time=datetime(2026, 1, 1, tzinfo=UTC), page_count=1, **kw)


@pytest.mark.parametrize(
    ("fields", "user", "why"),
    [
        ({"routing_info": "+4930 5551", "tsid": "HEAD OFFICE"}, "alice", "DID"),  # DID first
        ({"routing_info": "999", "tsid": " head office "}, "bob", "TSID"),
        ({"csid": "+49305550"}, "carol", "CSID"),
        ({"csid": "+49305551", "device_name": "Reception"}, "reception", "line"),
    ],
)
def test_first_match_wins(fields: dict[str, str], user: str, why: str) -> None:
    got, reason = owner.owner_of(fax(**fields), INFO)
    assert got == user and reason.startswith(why)
    result = owner.route(fax(**fields), INFO)
    assert result.ok and result.owner == user and user in result.reason


def test_no_match_leaves_the_fax_in_the_server_inbox() -> None:
    info = owner.check({"by_did": {"555": "alice"}})
    result = owner.route(fax(routing_info="556"), info)
    assert result.ok and result.owner == "" and "server inbox" in result.reason


@pytest.mark.parametrize(
    ("info", "needle"),
    [
        ({}, "name a user"),
        ({"user": "a b"}, "user"),
        ({"by_did": {"555": "x/y"}}, "by_did"),
        ({"by_did": ["555"]}, "by_did"),
        ({"by_tsid": {"": "alice"}}, "by_tsid"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_routing_info_is_refused(info: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        owner.check(info)
    assert needle in err.value.message and err.value.hint
