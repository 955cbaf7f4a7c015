"""What a fax session may negotiate, validated once when the options are made."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from lanfax.model.errors import InvalidInput

#: spandsp bit masks (t30.h, 0.0.6).
MODEM_BITS = {"v27ter": 0x01, "v29": 0x02, "v17": 0x04}
COMPRESSION_BITS = {"mh": 0x02, "mr": 0x04, "mmr": 0x08}
#: t4_rx.h: how received pages are stored (T4_COMPRESSION_ITU_*).
RX_ENCODINGS = {"mh": 1, "mr": 2, "mmr": 3}
MAX_IDENT = 20  # T30_MAX_IDENT_LEN
MAX_HEADER = 50  # T30_MAX_PAGE_HEADER_INFO
DEFAULT_LOGGER = "lanfax.engine.t30"


def _printable(text: str) -> bool:
    return all(0x20 <= ord(ch) < 0x7F for ch in text)


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """How one T.30 session presents itself and what it may negotiate.

    * ``local_ident``: our TSI (sending) or CSI (receiving), printable ASCII, at most 20
      characters (T.30 limit; spandsp refuses longer ones).
    * ``page_header``: text of the header line spandsp draws above each sent page (branding),
      printable ASCII up to 50 characters, or None for no header.
    * ``ecm``: offer/accept error correction mode.
    * ``modems``: subset of {"v17", "v29", "v27ter"}; empty means all three.
    * ``compressions``: subset of {"mh", "mr", "mmr"}; empty means all three (MMR needs ECM).
    * ``rx_encoding``: how received pages are written to the TIFF ("mr" default, "mmr", "mh").
    * ``log_level``: Python logging level for spandsp's own log (None = spandsp stays silent),
      sent to the logger ``logger_name``.
    * ``first_page``: the page of the document to send first (1-based; sending only). A
      retry after a call that dropped starts after the last page the far end confirmed,
      as HylaFAX does, so no page reaches the receiver twice.

    Raises :class:`~lanfax.model.errors.InvalidInput` naming the bad field.
    """

    local_ident: str = ""
    page_header: str | None = None
    ecm: bool = True
    modems: frozenset[str] = field(default_factory=frozenset)
    compressions: frozenset[str] = field(default_factory=frozenset)
    log_level: int | None = None
    logger_name: str = DEFAULT_LOGGER
    rx_encoding: str = "mr"
    first_page: int = 1

    def __post_init__(self) -> None:
        # Accept any iterable of names for convenience, store frozensets (hashable, immutable).
        object.__setattr__(self, "modems", frozenset(self.modems))
        object.__setattr__(self, "compressions", frozenset(self.compressions))
        if len(self.local_ident) > MAX_IDENT or not _printable(self.local_ident):
            raise InvalidInput(
                f"local ident {self.local_ident!r} is not valid for T.30",
                hint=f"use at most {MAX_IDENT} printable ASCII characters, e.g. '+1 555 0100'",
            )
        if self.page_header is not None and (
            len(self.page_header) > MAX_HEADER or not _printable(self.page_header)
        ):
            raise InvalidInput(
                f"page header {self.page_header!r} is not valid",
                hint=f"use at most {MAX_HEADER} printable ASCII characters",
            )
        bad = self.modems - MODEM_BITS.keys()
        if bad:
            raise InvalidInput(
                f"unknown modem(s) {sorted(bad)}",
                hint=f"choose from {sorted(MODEM_BITS)} (empty means all)",
            )
        bad = self.compressions - COMPRESSION_BITS.keys()
        if bad:
            raise InvalidInput(
                f"unknown compression(s) {sorted(bad)}",
                hint=f"choose from {sorted(COMPRESSION_BITS)} (empty means all)",
            )
        if self.rx_encoding not in RX_ENCODINGS:
            raise InvalidInput(
                f"unknown rx_encoding {self.rx_encoding!r}",
                hint=f"choose from {sorted(RX_ENCODINGS)}",
            )
        if self.log_level is not None and (
            not isinstance(self.log_level, int) or self.log_level < 0
        ):
            raise InvalidInput(
                f"log_level {self.log_level!r} is not a logging level",
                hint="use logging.DEBUG, logging.INFO, ... or None",
            )
        if not self.logger_name:
            raise InvalidInput("logger_name is empty", hint=f"e.g. {DEFAULT_LOGGER!r}")
        if not isinstance(self.first_page, int) or self.first_page < 1:
            raise InvalidInput(
                f"first_page {self.first_page!r} is not a page number",
                hint="pages are counted from 1",
            )

    @property
    def modem_mask(self) -> int:
        names = self.modems or MODEM_BITS.keys()
        return sum(MODEM_BITS[n] for n in names)

    @property
    def compression_mask(self) -> int:
        names = self.compressions or COMPRESSION_BITS.keys()
        return sum(COMPRESSION_BITS[n] for n in names)

    @property
    def logger(self) -> logging.Logger:
        return logging.getLogger(self.logger_name)
