"""The T.30 trace: at the "max" level of its logging category a call's fax-engine log (the
T.30 frames, DIS/DCS/CFR/MCF..., and the modem's progress) goes to that category's logger.

The category's level is already the level of its Python logger (FaxService applies
``GET/PUT /logging`` there), so that logger is the one place to read it: a change takes
effect at the next call.
"""

from __future__ import annotations

import logging

from lanfax.model.codes import LogCategory
from lanfax.model.config import LOGGER_FOR_CATEGORY

OUTBOUND = LOGGER_FOR_CATEGORY[LogCategory.OUTBOUND]
INBOUND = LOGGER_FOR_CATEGORY[LogCategory.INBOUND]


def trace_level(logger_name: str) -> int | None:
    """``logging.DEBUG`` when ``logger_name`` is at its most verbose (the category at "max"),
    else None (no trace: the engine stays silent)."""
    if logging.getLogger(logger_name).isEnabledFor(logging.DEBUG):
        return logging.DEBUG
    return None
