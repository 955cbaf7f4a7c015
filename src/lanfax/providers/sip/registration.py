"""When the SIP account REGISTERs (RFC 3261 §10), as a sans-IO schedule: "now" in, the time
of the next REGISTER out. The provider's adapter (:meth:`.useragent.UserAgent._register_loop`)
waits on the event loop's clock until :attr:`RegisterSchedule.due` and reports each outcome.

* A binding granted for ``granted`` seconds is refreshed at half of it (§10.2.4 leaves the
  moment to us), counted from when its REGISTER was *sent*: the registrar's clock started no
  earlier, so a slow answer cannot push the refresh past the binding's expiry. When half the
  time has already gone by the answer's arrival, the refresh is due at once.
* A REGISTER that fails for now (no answer, 408, 5xx) is retried after a backoff of
  :data:`FIRST_BACKOFF` seconds doubling to :data:`MAX_BACKOFF`, or after the registrar's
  ``Retry-After`` when it gave one (§21.5.4); a success resets the backoff.
* §10.2.8: a 423 "Interval Too Brief" is asked again at once with the registrar's
  ``Min-Expires`` (:meth:`RegisterSchedule.too_brief`).
"""

from __future__ import annotations

import math

__all__ = [
    "FIRST_BACKOFF",
    "MAX_BACKOFF",
    "MIN_REFRESH",
    "RegisterSchedule",
    "retry_after",
]

#: The first retry after a failed REGISTER, in seconds; it doubles per failure.
FIRST_BACKOFF = 5.0
#: The longest wait between two failed REGISTERs.
MAX_BACKOFF = 300.0
#: The shortest wait before a refresh, whatever the registrar granted.
MIN_REFRESH = 1.0


def retry_after(value: str | None) -> float | None:
    """The seconds of a ``Retry-After`` header (§20.33: ``120 (in maintenance);duration=60``),
    or None when there is none or it does not start with a number."""
    if not value:
        return None
    digits = value.strip().split(None, 1)[0].split(";", 1)[0].split("(", 1)[0]
    return float(digits) if digits.isdigit() else None


class RegisterSchedule:
    """The registration's timing for one account (see the module doc). Times are the
    caller's clock (the event loop's); nothing here reads a clock."""

    def __init__(self, expires: int) -> None:
        #: The lifetime asked for in the next REGISTER (raised by a 423's Min-Expires).
        self.expires = expires
        #: When the next REGISTER is due (``-inf``: now).
        self.due = -math.inf
        self.backoff = FIRST_BACKOFF

    def granted(self, seconds: float, sent_at: float, now: float) -> float:
        """The REGISTER sent at ``sent_at`` was accepted for ``seconds``: the refresh is
        due at half of it from the send, and not before ``now``. Returns :attr:`due`."""
        self.backoff = FIRST_BACKOFF
        self.due = max(now, sent_at + max(seconds / 2, MIN_REFRESH))
        return self.due

    def failed(self, now: float, retry_after: float | None = None) -> float:
        """The REGISTER failed for now: the next one after the backoff (or the registrar's
        Retry-After, if it gave one). Returns :attr:`due`."""
        wait = self.backoff if retry_after is None else max(retry_after, MIN_REFRESH)
        self.backoff = min(self.backoff * 2, MAX_BACKOFF)
        self.due = now + wait
        return self.due

    def too_brief(self, min_expires: str | None) -> bool:
        """§10.2.8: a 423 with ``min_expires``. True: ask again now with :attr:`expires`
        raised to it; False: the answer is unusable (no Min-Expires above what we asked)."""
        if min_expires is None or not min_expires.strip().isdigit():
            return False
        wanted = int(min_expires.strip())
        if wanted <= self.expires:
            return False
        self.expires = wanted
        return True
