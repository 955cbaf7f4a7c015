"""lanfax.engine: T.30 fax sessions on spandsp 0.0.6 (audio and T.38), sans-IO.

Importing this package is cheap: spandsp is opened on first use (see ``_binding.load``).

Public names:

* :class:`SessionOptions` - what a session may negotiate (ident, header, ECM, modems, ...).
* :class:`AudioFaxSession` - ``tx(n)`` / ``rx(samples)`` over 8 kHz int16 PCM.
* :class:`T38FaxSession` - ``tick(samples)`` -> ``[(seq, ifp)]`` / ``receive(seq, ifp)``.
* Events :class:`PhaseB`, :class:`PageDone`, :class:`PhaseE`; :class:`SessionResult`.
* :class:`Watchdog` - terminates a session on line time or idle time.
* :func:`run_loopback` - two sessions back to back in memory (audio, G.711, noise, drops, T.38).
* :func:`add_noise`, :mod:`lanfax.engine.g711` - line impairments for virtual lines.
* :data:`T30_CODES`, :func:`provider_status`, :func:`failure_class` - completion codes.
* :func:`check_tx_tiff`, :func:`tx_pages` - a document fit to send (``tx_pages`` remembers a
  passed check per file version: a call's sessions check their document once).
"""

from __future__ import annotations

from lanfax.engine.codes import T30_CODES, T30Code, describe, failure_class, provider_status
from lanfax.engine.events import PageDone, PhaseB, PhaseE, SessionEvent, SessionResult
from lanfax.engine.line import NOMINAL_SIGNAL_RMS, add_noise
from lanfax.engine.loopback import LoopbackResult, run_loopback
from lanfax.engine.options import SessionOptions
from lanfax.engine.session import (
    SAMPLE_RATE,
    AudioFaxSession,
    FaxSession,
    T38FaxSession,
    tx_pages,
)
from lanfax.engine.tiffcheck import check_tx_tiff
from lanfax.engine.watchdog import Watchdog

__all__ = [
    "NOMINAL_SIGNAL_RMS",
    "SAMPLE_RATE",
    "T30_CODES",
    "AudioFaxSession",
    "FaxSession",
    "LoopbackResult",
    "PageDone",
    "PhaseB",
    "PhaseE",
    "SessionEvent",
    "SessionOptions",
    "SessionResult",
    "T30Code",
    "T38FaxSession",
    "Watchdog",
    "add_noise",
    "check_tx_tiff",
    "describe",
    "failure_class",
    "provider_status",
    "run_loopback",
    "tx_pages",
]
