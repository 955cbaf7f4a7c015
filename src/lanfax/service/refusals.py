"""Refused requests aggregated for the audit trail (issue #14, item 12): the decision, with
"now" given (monotonic seconds), no I/O.

For one key (client address, user, status) the first refusal of a window of
:data:`REFUSAL_WINDOW` seconds is written at once; the others are counted. The count is
written with the first refusal after the window (``detail["repeated"]``) or, when none comes,
by itself once the window ended (:meth:`RefusalWindows.ended`) or when the service stops
(:meth:`RefusalWindows.drain`): a flood of bad tokens costs a row a minute, and the count of
the last burst is never lost. :class:`lanfax.service.security.Security` is the adapter: it
writes the rows and runs the timer (:meth:`RefusalWindows.next_deadline`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Seconds over which refused requests of one key share one audit row.
REFUSAL_WINDOW = 60.0
#: Open windows kept at most (the oldest half is forgotten beyond: memory stays bounded).
MAX_WINDOWS = 10_000

Key = tuple[str, str, int]

#: The statuses of refused requests (unauthenticated, forbidden, slowed down).
REFUSED_STATUSES = frozenset({401, 403, 429})


def aggregated(detail: Mapping[str, Any]) -> bool:
    """Whether an audited request (its entry's ``detail``) is counted in a window rather than
    written each time: a refusal (``status`` 401, 403 or 429), or a request that no route took
    (``unrouted``: an unknown path, a slash redirect, a body refused before routing). No
    route means no login was checked and nothing was done: a flood of POSTs to made-up paths
    must cost no more than a flood of bad tokens (a row a minute per address and status)."""
    return detail.get("status") in REFUSED_STATUSES or bool(detail.get("unrouted"))


@dataclass
class Window:
    """Refusals of one key since ``started``: the first was written, ``repeated`` more were
    counted; ``last`` is what the caller gave with the latest (to write the count with)."""

    started: float
    repeated: int = 0
    last: Any = field(default=None)


class RefusalWindows:
    def __init__(self, window: float = REFUSAL_WINDOW) -> None:
        self.window = window
        self._open: dict[Key, Window] = {}

    def __len__(self) -> int:
        return len(self._open)

    def refused(self, key: Key, now: float, last: Any = None) -> int | None:
        """A refusal: None when it is only counted; else write it now, with this many
        refusals counted before it (0: none)."""
        window = self._open.get(key)
        if window is not None and now - window.started < self.window:
            window.repeated += 1
            window.last = last
            return None
        self._open[key] = Window(now)
        if len(self._open) > MAX_WINDOWS:
            for old in sorted(self._open, key=lambda k: self._open[k].started)[: MAX_WINDOWS // 2]:
                del self._open[old]
        return window.repeated if window is not None else 0

    def next_deadline(self) -> float | None:
        """When the oldest open window ends (None: none is open)."""
        if not self._open:
            return None
        return min(w.started for w in self._open.values()) + self.window

    def ended(self, now: float) -> list[Window]:
        """Close the windows that ended; returns those with a count to write."""
        done = [k for k, w in self._open.items() if now - w.started >= self.window]
        return [w for k in done if (w := self._open.pop(k)).repeated]

    def drain(self) -> list[Window]:
        """Close every window (the service stops); returns those with a count to write."""
        left, self._open = self._open, {}
        return [w for w in left.values() if w.repeated]
