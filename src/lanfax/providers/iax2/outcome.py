"""How an IAX2 call's end maps to device statuses (pure functions, one table).

Before the answer, the far end's REJECT/HANGUP cause decides (Q.931 codes as Asterisk
sends them; iaxmodem sends only a cause text). After the answer, T.30 decides, corrected
by what the line did (:func:`lanfax.providers.common.call_end`): our own abort is USER_ABORT,
the far end leaving before T.30 finished is DISCONNECTED, and an answered call that never
spoke T.30 is NOT_FAX_CALL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lanfax.engine.events import SessionResult
from lanfax.model.codes import ProviderStatus
from lanfax.providers.api import CallResult
from lanfax.providers.common import CutReason, call_end, session_result
from lanfax.providers.iax2.events import CallEvent, HungUp, LinkLost, Rejected

__all__ = ["CAUSE_STATUS", "final_result", "signalling_outcome"]

#: Q.931 cause code -> status, for calls that end before they are answered.
CAUSE_STATUS: dict[int, ProviderStatus] = {
    1: ProviderStatus.BAD_ADDRESS,  # unallocated number
    2: ProviderStatus.BAD_ADDRESS,  # no route to transit network
    3: ProviderStatus.BAD_ADDRESS,  # no route to destination
    22: ProviderStatus.BAD_ADDRESS,  # number changed
    28: ProviderStatus.BAD_ADDRESS,  # invalid number format
    17: ProviderStatus.BUSY,  # user busy
    21: ProviderStatus.BUSY,  # call rejected
    18: ProviderStatus.NO_ANSWER,  # no user responding
    19: ProviderStatus.NO_ANSWER,  # no answer
    34: ProviderStatus.LINE_UNAVAILABLE,  # no circuit available
    38: ProviderStatus.LINE_UNAVAILABLE,  # network out of order
    41: ProviderStatus.LINE_UNAVAILABLE,  # temporary failure
    42: ProviderStatus.LINE_UNAVAILABLE,  # switching equipment congestion
    58: ProviderStatus.LINE_UNAVAILABLE,  # bearer capability not available
}
#: Cause texts (without a code) that say the same.
_TEXT_STATUS = (
    ("busy", ProviderStatus.BUSY),
    ("no answer", ProviderStatus.NO_ANSWER),
    ("unallocated", ProviderStatus.BAD_ADDRESS),
    ("not found", ProviderStatus.BAD_ADDRESS),
    ("congest", ProviderStatus.LINE_UNAVAILABLE),
)


def signalling_outcome(event: CallEvent, peer: str) -> tuple[ProviderStatus, str]:
    """The status of a call that ended before it was answered."""
    if isinstance(event, LinkLost):
        return (
            ProviderStatus.LINE_UNAVAILABLE,
            f"the IAX2 peer {peer} does not respond ({event.what})",
        )
    if isinstance(event, Rejected) and event.auth:
        return ProviderStatus.FATAL_ERROR, f"authentication with {peer} failed: {event.cause}"
    if isinstance(event, Rejected | HungUp):
        code = event.cause_code
        label = event.cause + (f" (cause {code})" if code is not None else "")
        if code is not None and code in CAUSE_STATUS:
            return CAUSE_STATUS[code], label
        lowered = event.cause.lower()
        for needle, status in _TEXT_STATUS:
            if needle in lowered:
                return status, label
        if isinstance(event, Rejected):
            return ProviderStatus.BUSY, label
        return ProviderStatus.DISCONNECTED, label
    return ProviderStatus.DISCONNECTED, type(event).__name__


def final_result(
    res: SessionResult,
    *,
    calling: bool,
    aborted: bool,
    far_end_gone: bool,
    negotiated: bool,
    extra: Mapping[str, Any],
    caller_id: str = "",
    routing: str = "",
) -> CallResult:
    """The CallResult of a connected call from spandsp's result and what the line did.

    ``aborted`` (ours) and ``far_end_gone`` count only against a session that did not
    complete: a fax that went through stands whoever hangs up afterwards."""
    cut: CutReason | None = None
    if not res.ok:
        if aborted:
            cut = CutReason.ABORT
        elif far_end_gone:
            cut = CutReason.FAR_END_GONE
    end = call_end(res, cut, calling=calling, negotiated=negotiated)
    return session_result(
        res,
        end.status,
        end.text,
        calling=calling,
        duration=res.line_seconds,
        extra=extra,
        caller_id=caller_id,
        routing=routing,
    )
