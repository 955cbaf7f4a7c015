"""A watchdog on line time: spandsp can stall forever (e.g. V.21 noise keeps T.30 timers
from expiring), so every call needs one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from lanfax.model.errors import InvalidInput


class Terminable(Protocol):
    @property
    def done(self) -> bool: ...

    @property
    def line_seconds(self) -> float: ...

    @property
    def idle_samples(self) -> int: ...

    def terminate(self) -> None: ...


@dataclass
class Watchdog:
    """Terminates a session that ran too long or stayed idle too long, in line seconds.

    ``max_line_seconds`` bounds the whole call; ``max_idle_seconds`` bounds the time since
    the session's last event (phase B or a page). Call :meth:`check` after each step; it
    returns True when it terminated the session (phase E then follows, as a normal event
    with ``result.terminated`` set). ``fired`` records why it acted.
    """

    max_line_seconds: float | None = None
    max_idle_seconds: float | None = None
    fired: str | None = None

    def __post_init__(self) -> None:
        for name in ("max_line_seconds", "max_idle_seconds"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise InvalidInput(f"{name} must be positive, got {value}", hint="or None")

    def check(self, session: Terminable) -> bool:
        if session.done or self.fired is not None:
            return False
        if self.max_line_seconds is not None and session.line_seconds >= self.max_line_seconds:
            self.fired = f"call longer than {self.max_line_seconds:g} line seconds"
        elif (
            self.max_idle_seconds is not None
            and session.idle_samples / 8000 >= self.max_idle_seconds
        ):
            self.fired = f"no progress for {self.max_idle_seconds:g} line seconds"
        else:
            return False
        session.terminate()
        return True
