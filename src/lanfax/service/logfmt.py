"""``lanfax serve --log-format json``: one JSON object per log record, on one line.

Keys: ``ts`` (ISO 8601, UTC), ``level``, ``logger`` (``lanfax.outbound``, ...), ``category``
(the FAXLOG category the logger belongs to, when it does), ``msg``, and ``exc`` for an
exception's traceback (logs only; never an API answer).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from lanfax.model.config import LOGGER_FOR_CATEGORY

_CATEGORY = {name: cat.name.lower() for cat, name in LOGGER_FOR_CATEGORY.items()}


def category_of(logger_name: str) -> str | None:
    for name, cat in _CATEGORY.items():
        if logger_name == name or logger_name.startswith(name + "."):
            return cat
    return None


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        cat = category_of(record.name)
        if cat:
            out["category"] = cat
        out["msg"] = record.getMessage()
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)
