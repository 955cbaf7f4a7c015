"""call_end: how a connected call ended, the one table every provider follows (#17 item 2).

The table is tested row by row, and then against the rules each provider applied before the
table was one function (transcribed below from the code they replace), over every
combination of T.30 outcome, cut, side and phase B: the statuses must not have moved.
"""

from __future__ import annotations

import itertools

import pytest

from lanfax.engine import codes as t30codes
from lanfax.engine.events import SessionResult
from lanfax.model.codes import ProviderStatus
from lanfax.providers.common import CallEnd, CutReason, call_end
from lanfax.providers.iax2.outcome import final_result

OK = 0
T1_EXPIRED = 3  # NO_ANSWER calling, NOT_FAX_CALL answering
CALL_DROPPED = t30codes.T30_CALLDROPPED  # DISCONNECTED both ways
INCOMPATIBLE = 8  # FATAL_ERROR


def result(code: int, *, calling: bool) -> SessionResult:
    """A session result as the engine builds it for ``code`` (its own status table)."""
    row = t30codes.describe(code)
    return SessionResult(
        code=code,
        text=row.text,
        calling=calling,
        provider_status=row.status(calling),
        failure=t30codes.failure_class(code, calling=calling),
        pages_tx=1 if calling else 0,
        pages_rx=0 if calling else 1,
        bit_rate=14400,
        ecm=True,
        compression="mmr",
        modem="v17",
        remote_ident="+1 555 0100",
        width=1728,
        length=1100,
        x_dpi=204,
        y_dpi=196,
        image_size=1000,
        bad_rows=0,
        longest_bad_row_run=0,
        ecm_retries=0,
        line_seconds=30.0,
        terminated=code != OK,
    )


# -- the table, row by row -------------------------------------------------------------------


def test_own_abort_is_user_abort_even_over_a_completed_session() -> None:
    end = call_end(result(OK, calling=True), CutReason.ABORT, calling=True, negotiated=True)
    assert end == CallEnd(ProviderStatus.USER_ABORT, "OK (aborted)")


@pytest.mark.parametrize("calling", [True, False])
def test_virtual_aborts_belong_to_one_side(calling: bool) -> None:
    res = result(CALL_DROPPED, calling=calling)
    mine = CutReason.CALLER_ABORT if calling else CutReason.CALLEE_ABORT
    theirs = CutReason.CALLEE_ABORT if calling else CutReason.CALLER_ABORT
    assert call_end(res, mine, calling=calling, negotiated=True).status is (
        ProviderStatus.USER_ABORT
    )
    other = call_end(res, theirs, calling=calling, negotiated=True)
    assert other.status is ProviderStatus.DISCONNECTED
    assert other.text == f"{res.text} ({theirs.value.replace('_', ' ')})"


def test_a_completed_session_stands_against_a_far_end_cut() -> None:
    end = call_end(result(OK, calling=False), CutReason.REMOTE_BYE, calling=False, negotiated=True)
    assert end == CallEnd(ProviderStatus.COMPLETED, "OK (remote bye)")


@pytest.mark.parametrize("cut", [c for c in CutReason if c not in (CutReason.ABORT,)])
def test_any_other_cut_of_an_unfinished_session_is_disconnected(cut: CutReason) -> None:
    calling = cut is not CutReason.CALLER_ABORT  # never this side's own abort
    res = result(INCOMPATIBLE, calling=calling)
    end = call_end(res, cut, calling=calling, negotiated=False)
    assert end.status is ProviderStatus.DISCONNECTED, cut
    assert end.text == f"{res.text} ({cut.text})"


def test_the_cut_texts() -> None:
    assert CutReason.ABORT.text == "aborted"
    assert CutReason.FAR_END_GONE.text == "the far end hung up"
    assert CutReason.SESSION_EXPIRED.text == "session expired"
    assert CutReason.REMOTE_BYE.value == "remote_bye"  # what extra["cut"] carries


def test_a_caller_that_never_heard_t30_reached_no_fax() -> None:
    res = result(T1_EXPIRED, calling=True)
    assert call_end(res, None, calling=True, negotiated=False).status is (
        ProviderStatus.NOT_FAX_CALL
    )
    # ...but T.30's own status when it did hear one, and always for the answering side.
    assert call_end(res, None, calling=True, negotiated=True).status is ProviderStatus.NO_ANSWER
    answering = result(INCOMPATIBLE, calling=False)
    assert call_end(answering, None, calling=False, negotiated=False).status is (
        ProviderStatus.FATAL_ERROR
    )


def test_without_a_session_result() -> None:
    assert call_end(None, None, calling=True, negotiated=False) == CallEnd(
        ProviderStatus.DISCONNECTED, "no fax session"
    )
    assert call_end(None, CutReason.ABORT, calling=False, negotiated=False) == CallEnd(
        ProviderStatus.USER_ABORT, "the line was cut"
    )
    assert call_end(None, CutReason.HUNG_UP, calling=False, negotiated=False) == CallEnd(
        ProviderStatus.DISCONNECTED, "the line was cut"
    )


# -- against the rules each provider applied before ---------------------------------------------


def old_virtual(
    res: SessionResult | None, cut: CutReason | None, calling: bool, negotiated: bool
) -> tuple[ProviderStatus, str]:
    """virtual/calls.py side_result before #17."""
    status = res.provider_status if res is not None else ProviderStatus.DISCONNECTED
    own_abort = CutReason.CALLER_ABORT if calling else CutReason.CALLEE_ABORT
    if cut is own_abort:
        status = ProviderStatus.USER_ABORT
    elif cut is not None and status is not ProviderStatus.COMPLETED:
        status = ProviderStatus.DISCONNECTED
    elif calling and status is not ProviderStatus.COMPLETED and not negotiated:
        status = ProviderStatus.NOT_FAX_CALL
    if res is None:
        return status, "the line was cut" if cut is not None else "no fax session"
    return status, res.text if cut is None else f"{res.text} ({cut.value.replace('_', ' ')})"


def old_sip(
    res: SessionResult | None, cut: str | None, outgoing: bool, negotiated: bool
) -> tuple[ProviderStatus, str]:
    """sip/call.py SipCall.result before #17 (cut reasons were strings)."""
    if res is None:
        status = ProviderStatus.USER_ABORT if cut == "abort" else ProviderStatus.DISCONNECTED
        return status, cut or "no fax session"
    status = res.provider_status
    if cut == "abort":
        status = ProviderStatus.USER_ABORT
    elif cut is not None and status is not ProviderStatus.COMPLETED:
        status = ProviderStatus.DISCONNECTED
    elif outgoing and status is not ProviderStatus.COMPLETED and not negotiated:
        status = ProviderStatus.NOT_FAX_CALL
    return status, res.text if cut is None else f"{res.text} ({cut.replace('_', ' ')})"


def old_iax2(
    res: SessionResult, calling: bool, aborted: bool, far_end_gone: bool, negotiated: bool
) -> tuple[ProviderStatus, str]:
    """iax2/outcome.py final_result before #17."""
    status, text = res.provider_status, res.text
    if res.ok:
        status = ProviderStatus.COMPLETED
    elif aborted:
        status, text = ProviderStatus.USER_ABORT, f"{res.text} (aborted)"
    elif far_end_gone:
        status, text = ProviderStatus.DISCONNECTED, f"{res.text} (the far end hung up)"
    elif calling and not negotiated:
        status = ProviderStatus.NOT_FAX_CALL
    return status, text


CODES = [OK, T1_EXPIRED, CALL_DROPPED, INCOMPATIBLE]
VIRTUAL_CUTS = [
    None,
    CutReason.CALLER_ABORT,
    CutReason.CALLEE_ABORT,
    CutReason.DROPPED,
    CutReason.HUNG_UP,
    CutReason.WATCHDOG,
]
SIP_CUTS = [
    None,
    CutReason.ABORT,
    CutReason.SHUTDOWN,
    CutReason.REFUSED,
    CutReason.BAD_ANSWER,
    CutReason.NO_ACK,
    CutReason.SESSION_EXPIRED,
    CutReason.REMOTE_BYE,
    CutReason.CANCELLED,
]


def test_virtual_lines_decide_as_before() -> None:
    for code, cut, calling, negotiated in itertools.product(
        [*CODES, None], VIRTUAL_CUTS, [True, False], [True, False]
    ):
        if code is None and calling:
            continue  # the caller always has a session (only a voice far end has none)
        res = None if code is None else result(code, calling=calling)
        end = call_end(res, cut, calling=calling, negotiated=negotiated)
        assert (end.status, end.text) == old_virtual(res, cut, calling, negotiated), (
            code,
            cut,
            calling,
            negotiated,
        )


def test_sip_calls_decide_as_before() -> None:
    for code, cut, outgoing, negotiated in itertools.product(
        [*CODES, None], SIP_CUTS, [True, False], [True, False]
    ):
        res = None if code is None else result(code, calling=outgoing)
        end = call_end(res, cut, calling=outgoing, negotiated=negotiated)
        status, text = old_sip(res, cut.value if cut else None, outgoing, negotiated)
        assert end.status is status, (code, cut, outgoing, negotiated)
        # Texts: the same, except that an abort now reads "(aborted)" as on IAX2, and a call
        # cut before any session result says "the line was cut" as on virtual lines.
        if res is None:
            assert end.text == ("the line was cut" if cut else "no fax session")
        elif cut is CutReason.ABORT:
            assert end.text == f"{res.text} (aborted)"
        else:
            assert end.text == text


def test_iax2_decides_as_before() -> None:
    for code, calling, aborted, gone, negotiated in itertools.product(
        CODES, [True, False], [True, False], [True, False], [True, False]
    ):
        res = result(code, calling=calling)
        got = final_result(
            res,
            calling=calling,
            aborted=aborted,
            far_end_gone=gone,
            negotiated=negotiated,
            extra={},
        )
        want = old_iax2(res, calling, aborted, gone, negotiated)
        assert (got.status.status_id, got.status.string_id) == want, (
            code,
            calling,
            aborted,
            gone,
            negotiated,
        )
