"""T.30 completion codes (spandsp 0.0.6 ``t30_err_e``) and what each means to the service.

:data:`T30_CODES` is the one table: every code 0.0.6 can report at phase E, its spandsp name,
its text, and the :class:`~lanfax.model.codes.ProviderStatus` it becomes, separately for the
calling and the answering side where the meaning differs (a T1 timeout on the calling side
means the far end never sent DIS: nobody answered as a fax; on the answering side it means the
caller is not a fax machine). The retry class comes from ``lanfax.model.codes.PROVIDER_OUTCOME``
so that it is defined only once.

The table is written out by hand from ``/usr/include/spandsp/t30.h`` (0.0.6); the enum there is
implicit, so the numbers below follow its order. The texts are the library's own
(``t30_completion_code_to_str``, which words a few differently from the header comments); the
tests check every number against the library so that the order cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass

from lanfax.model.codes import PROVIDER_OUTCOME, FailureClass, ProviderStatus

_C = ProviderStatus.COMPLETED
_DIS = ProviderStatus.DISCONNECTED
_NA = ProviderStatus.NO_ANSWER
_NF = ProviderStatus.NOT_FAX_CALL
_FE = ProviderStatus.FATAL_ERROR
_BA = ProviderStatus.BAD_ADDRESS


@dataclass(frozen=True, slots=True)
class T30Code:
    """One phase E completion code."""

    code: int
    name: str
    text: str
    #: Status when we placed the call (we are the calling party).
    calling: ProviderStatus
    #: Status when we answered the call.
    answering: ProviderStatus

    def status(self, calling: bool) -> ProviderStatus:
        return self.calling if calling else self.answering


def _row(
    code: int,
    name: str,
    text: str,
    calling: ProviderStatus,
    answering: ProviderStatus | None = None,
) -> T30Code:
    return T30Code(code, name, text, calling, calling if answering is None else answering)


_ROWS = [
    _row(0, "OK", "OK", _C),
    # Link problems
    _row(1, "CEDTONE", "The CED tone exceeded 5s", _DIS),
    # T0/T1: the far end never spoke T.30 to us. Calling: nobody answered as a fax (transient,
    # it may be a busy fax machine); answering: the caller is not a fax.
    _row(2, "T0_EXPIRED", "Timed out waiting for initial communication", _NA, _NF),
    _row(3, "T1_EXPIRED", "Timed out waiting for the first message", _NA, _NF),
    _row(4, "T3_EXPIRED", "Timed out waiting for procedural interrupt", _DIS),
    _row(5, "HDLC_CARRIER", "The HDLC carrier did not stop in a timely manner", _DIS),
    # Training failure is a line-quality problem: retry later.
    _row(6, "CANNOT_TRAIN", "Failed to train with any of the compatible modems", _DIS),
    _row(7, "OPER_INT_FAIL", "Operator intervention failed", _DIS),
    _row(8, "INCOMPATIBLE", "Far end is not compatible", _FE),
    _row(9, "RX_INCAPABLE", "Far end is not able to receive", _FE),
    _row(10, "TX_INCAPABLE", "Far end is not able to transmit", _FE),
    _row(11, "NORESSUPPORT", "Far end cannot receive at the resolution of the image", _FE),
    _row(12, "NOSIZESUPPORT", "Far end cannot receive at the size of image", _FE),
    _row(13, "UNEXPECTED", "Unexpected message received", _DIS),
    # Returned to a transmitter
    _row(14, "TX_BADDCS", "Received bad response to DCS or training", _DIS),
    _row(15, "TX_BADPG", "Received a DCN from remote after sending a page", _DIS),
    _row(16, "TX_ECMPHD", "Invalid ECM response received from receiver", _DIS),
    _row(17, "TX_GOTDCN", "Received a DCN while waiting for a DIS", _DIS),
    _row(18, "TX_INVALRSP", "Invalid response after sending a page", _DIS),
    _row(19, "TX_NODIS", "Received other than DIS while waiting for DIS", _DIS),
    # Nobody answers our DCS/training: the far end is not (or no longer) a working fax.
    _row(20, "TX_PHBDEAD", "Received no response to DCS or TCF", _NA, _DIS),
    _row(21, "TX_PHDDEAD", "No response after sending a page", _DIS),
    _row(22, "TX_T5EXP", "Timed out waiting for receiver ready (ECM mode)", _DIS),
    # Returned to a receiver
    _row(23, "RX_ECMPHD", "Invalid ECM response received from transmitter", _DIS),
    _row(24, "RX_GOTDCS", "DCS received while waiting for DTC", _DIS),
    _row(25, "RX_INVALCMD", "Unexpected command after page received", _DIS),
    _row(26, "RX_NOCARRIER", "Carrier lost during fax receive", _DIS),
    _row(27, "RX_NOEOL", "Timed out while waiting for EOL (end Of line)", _DIS),
    _row(28, "RX_NOFAX", "Timed out while waiting for first line", _DIS),
    _row(29, "RX_T2EXPDCN", "Timer T2 expired while waiting for DCN", _DIS),
    _row(30, "RX_T2EXPD", "Timer T2 expired while waiting for phase D", _DIS),
    _row(31, "RX_T2EXPFAX", "Timer T2 expired while waiting for fax page", _DIS),
    _row(32, "RX_T2EXPMPS", "Timer T2 expired while waiting for next fax page", _DIS),
    _row(33, "RX_T2EXPRR", "Timer T2 expired while waiting for RR command", _DIS),
    _row(34, "RX_T2EXP", "Timer T2 expired while waiting for NSS, DCS or MCF", _DIS),
    _row(35, "RX_DCNWHY", "Unexpected DCN while waiting for DCS or DIS", _DIS),
    _row(36, "RX_DCNDATA", "Unexpected DCN while waiting for image data", _DIS),
    _row(37, "RX_DCNFAX", "Unexpected DCN while waiting for EOM, EOP or MPS", _DIS),
    _row(38, "RX_DCNPHD", "Unexpected DCN after EOM or MPS sequence", _DIS),
    _row(39, "RX_DCNRRD", "Unexpected DCN after RR/RNR sequence", _DIS),
    _row(40, "RX_DCNNORTN", "Unexpected DCN after requested retransmission", _DIS),
    # TIFF file problems: our own document or storage is at fault.
    _row(41, "FILEERROR", "TIFF/F file cannot be opened", _FE),
    _row(42, "NOPAGE", "TIFF/F page not found", _FE),
    _row(43, "BADTIFF", "TIFF/F format is not compatible", _FE),
    _row(44, "BADPAGE", "TIFF/F page number tag missing", _FE),
    _row(45, "BADTAG", "Incorrect values for TIFF/F tags", _FE),
    _row(46, "BADTIFFHDR", "Bad TIFF/F header - incorrect values in fields", _FE),
    _row(47, "NOMEM", "Cannot allocate memory for more pages", _FE),
    # General problems
    _row(48, "RETRYDCN", "Disconnected after permitted retries", _DIS),
    _row(49, "CALLDROPPED", "The call dropped prematurely", _DIS),
    # Feature negotiation: the far end refuses an address or credential; retrying the same
    # address cannot help, so the address ones are permanent (BAD_ADDRESS).
    _row(50, "NOPOLL", "Poll not accepted", _FE),
    _row(51, "IDENT_UNACCEPTABLE", "Ident not accepted", _FE),
    _row(52, "SUB_UNACCEPTABLE", "Sub-address not accepted", _BA),
    _row(53, "SEP_UNACCEPTABLE", "Selective polling address not accepted", _BA),
    _row(54, "PSA_UNACCEPTABLE", "Polled sub-address not accepted", _BA),
    _row(55, "SID_UNACCEPTABLE", "Sender identification not accepted", _FE),
    _row(56, "PWD_UNACCEPTABLE", "Password not accepted", _FE),
    _row(
        57,
        "TSA_UNACCEPTABLE",
        "Transmitting subscriber internet address not accepted",
        _BA,
    ),
    _row(58, "IRA_UNACCEPTABLE", "Internet routing address not accepted", _BA),
    _row(
        59,
        "CIA_UNACCEPTABLE",
        "Calling subscriber internet address not accepted",
        _BA,
    ),
    _row(
        60,
        "ISP_UNACCEPTABLE",
        "Internet selective polling address not accepted",
        _BA,
    ),
    _row(
        61,
        "CSA_UNACCEPTABLE",
        "Called subscriber internet address not accepted",
        _BA,
    ),
]

#: Every 0.0.6 completion code by number.
T30_CODES: dict[int, T30Code] = {row.code: row for row in _ROWS}

T30_OK = 0
T30_CALLDROPPED = 49
#: TIFF problems (41-47): the engine checks documents first so these should not happen.
TIFF_CODES = frozenset(range(41, 48))


def describe(code: int) -> T30Code:
    """The table row for ``code``; an unknown code becomes a FATAL_ERROR row, never a KeyError."""
    row = T30_CODES.get(code)
    if row is not None:
        return row
    return T30Code(code, f"UNKNOWN_{code}", f"Unknown T.30 completion code {code}", _FE, _FE)


def provider_status(code: int, *, calling: bool) -> ProviderStatus:
    """The FS_* status a call that ended with ``code`` reports."""
    return describe(code).status(calling)


def failure_class(code: int, *, calling: bool) -> FailureClass | None:
    """The retry class (None for success), taken from the model's PROVIDER_OUTCOME table."""
    return PROVIDER_OUTCOME[provider_status(code, calling=calling)][2]
