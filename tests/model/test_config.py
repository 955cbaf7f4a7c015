"""ServerConfig: every REFERENCE.md setting, validated with errors that say what to do."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lanfax.model import SETTINGS, ConfigError, ServerConfig
from lanfax.model.config import SETTINGS_BY_WINDOWS_NAME, parse_hhmm

REFERENCE_FIELDS = {
    "Retries",
    "RetryDelay",
    "DirtyDays",
    "Branding",
    "UseDeviceTsid",
    "ServerCp",
    "PauseServerQueue",
    "StartCheapTime",
    "StopCheapTime",
    "ArchiveOutgoingFaxes",
    "ArchiveDirectory",
    "InboundProfile",
}


def test_every_reference_field_is_a_setting_with_a_default() -> None:
    assert set(SETTINGS_BY_WINDOWS_NAME) >= REFERENCE_FIELDS
    defaults = ServerConfig()
    for s in SETTINGS:
        assert getattr(defaults, s.name) == s.default


def test_windows_and_lanfax_names_and_text_values() -> None:
    c = ServerConfig.from_mapping({"Retries": "5", "retry_delay": 2, "Branding": "off"})
    assert (c.retries, c.retry_delay, c.branding) == (5, 2, False)
    c2 = c.with_changes({"StartCheapTime": "9:05"})
    assert c2.start_cheap_time == "09:05" and c2.cheap_start == (9, 5)
    assert c.start_cheap_time == "20:00"  # immutable


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"retries": -1}, "retries"),
        ({"retries": "three"}, "retries"),
        ({"retries": True}, "retries"),
        ({"retry_delay": 2.5}, "retry_delay"),
        ({"branding": "maybe"}, "branding"),
        ({"start_cheap_time": "25:00"}, "start_cheap_time"),
        ({"archive_directory": 7}, "archive_directory"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_values_are_refused_with_a_hint(changes: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        ServerConfig().with_changes(changes)
    assert needle in info.value.message
    assert info.value.hint


@given(st.integers(0, 23), st.integers(0, 59))
def test_hhmm_round_trip(h: int, m: int) -> None:
    assert parse_hhmm(f"{h}:{m:02d}") == (h, m)
    assert ServerConfig().with_changes({"stop_cheap_time": f"{h}:{m:02d}"}).cheap_stop == (h, m)
