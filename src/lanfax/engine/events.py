"""What a session reports: small immutable events, and the result at phase E."""

from __future__ import annotations

from dataclasses import dataclass

from lanfax.model.codes import FailureClass, ProviderStatus


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """Base of every session event; ``line_seconds`` is line time when it happened."""

    line_seconds: float


@dataclass(frozen=True, slots=True)
class PhaseB(SessionEvent):
    """Negotiation: a DIS/DCS (or similar) frame arrived; the far end's ident is known."""

    remote_ident: str
    #: The T.30 frame control field that triggered phase B (e.g. 0x80 DIS, 0x82/0x83 DCS).
    fcf: int
    frame: str


@dataclass(frozen=True, slots=True)
class PageDone(SessionEvent):
    """Phase D: one more page went through (sent and confirmed, or received and stored)."""

    #: Pages done so far in this direction (1 for the first page).
    page: int
    fcf: int
    frame: str
    bad_rows: int


@dataclass(frozen=True, slots=True)
class PhaseE(SessionEvent):
    """The call ended with a T.30 completion code."""

    code: int
    text: str


@dataclass(frozen=True, slots=True)
class SessionResult:
    """Everything known about a finished session.

    ``provider_status``/``failure`` come from :mod:`lanfax.engine.codes` (one table).
    ``compression`` is the line coding ("mh", "mr", "mmr" or "" if no page phase was
    reached); ``modem`` is read from the DCS frame ("v17", "v29", "v27ter" or "").
    ``terminated`` is True when :meth:`terminate` (a hang-up, an abort or the watchdog)
    ended the call rather than the T.30 protocol itself.
    """

    code: int
    text: str
    calling: bool
    provider_status: ProviderStatus
    failure: FailureClass | None
    pages_tx: int
    pages_rx: int
    bit_rate: int
    ecm: bool
    compression: str
    modem: str
    remote_ident: str
    width: int
    length: int
    x_dpi: int
    y_dpi: int
    image_size: int
    bad_rows: int
    longest_bad_row_run: int
    ecm_retries: int
    line_seconds: float
    terminated: bool

    @property
    def ok(self) -> bool:
        return self.code == 0

    @property
    def pages(self) -> int:
        """Pages sent (calling side with a document) or received."""
        return max(self.pages_tx, self.pages_rx)
