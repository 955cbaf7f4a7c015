"""The completion-code table against the library's own strings and the model's outcome table."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lanfax.engine import T30_CODES, describe, failure_class, provider_status
from lanfax.engine._binding import load
from lanfax.model.codes import PROVIDER_OUTCOME, FailureClass, ProviderStatus


def _library_text(code: int) -> str:
    sp = load()
    return str(sp.ffi.string(sp.lib.t30_completion_code_to_str(code)).decode("ascii"))


def test_table_covers_every_code_the_library_knows() -> None:
    # spandsp answers "???" for codes beyond its enum; every code below that must be ours.
    library_codes = [c for c in range(0, 200) if _library_text(c) != "???"]
    assert library_codes == list(range(len(library_codes)))
    assert sorted(T30_CODES) == library_codes


@pytest.mark.parametrize("code", sorted(T30_CODES))
def test_each_row_matches_the_library_text_and_maps_to_a_final_status(code: int) -> None:
    row = T30_CODES[code]
    assert row.text == _library_text(code)
    for calling in (True, False):
        status = provider_status(code, calling=calling)
        assert status in PROVIDER_OUTCOME
        assert failure_class(code, calling=calling) is PROVIDER_OUTCOME[status][2]


def test_only_ok_is_success() -> None:
    successes = {
        c
        for c in T30_CODES
        for calling in (True, False)
        if provider_status(c, calling=calling) is ProviderStatus.COMPLETED
    }
    assert successes == {0}


@pytest.mark.parametrize(
    ("code", "calling", "expected"),
    [
        (3, True, ProviderStatus.NO_ANSWER),  # T1: nobody answered as a fax
        (3, False, ProviderStatus.NOT_FAX_CALL),  # T1 on answer: caller is not a fax
        (20, True, ProviderStatus.NO_ANSWER),  # no response to DCS/training
        (49, True, ProviderStatus.DISCONNECTED),  # call dropped
        (48, False, ProviderStatus.DISCONNECTED),
        (41, True, ProviderStatus.FATAL_ERROR),  # TIFF cannot be opened
        (43, True, ProviderStatus.FATAL_ERROR),
        (12, True, ProviderStatus.FATAL_ERROR),  # far end cannot take the page size
    ],
)
def test_representative_mappings(code: int, calling: bool, expected: ProviderStatus) -> None:
    assert provider_status(code, calling=calling) is expected


def test_transient_and_permanent_classes() -> None:
    assert failure_class(49, calling=True) is FailureClass.DISCONNECTED
    assert not FailureClass.DISCONNECTED.permanent
    assert failure_class(52, calling=True) is FailureClass.BAD_ADDRESS
    assert FailureClass.BAD_ADDRESS.permanent


@given(st.integers(min_value=-(2**31), max_value=2**31 - 1), st.booleans())
def test_any_code_maps_to_some_status_without_raising(code: int, calling: bool) -> None:
    row = describe(code)
    status = provider_status(code, calling=calling)
    assert status in PROVIDER_OUTCOME
    if code not in T30_CODES:
        assert status is ProviderStatus.FATAL_ERROR
        assert str(code) in row.text
