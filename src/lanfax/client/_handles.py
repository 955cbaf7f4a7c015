"""Small objects both clients hand out: port handles, the wait timeout, logging merges."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from lanfax.model.codes import LogCategory, LogLevel, PortOpenMode
from lanfax.model.errors import FaxError, InvalidInput
from lanfax.model.jobs import Job
from lanfax.model.wire import enum_from_wire

if TYPE_CHECKING:  # imported when used: the client is on every `lanfax` command's start-up path
    from lanfax.model.config import LoggingCategory


class WaitTimeout(FaxError):
    """``wait()`` ran out of time (the same from both clients).

    ``jobs`` holds the latest snapshot of every job read, in the order waited for;
    ``job_ids`` every job waited for; ``pending`` those not finished (or never read: the
    time ran out before the first read).
    """

    exit_code = 12
    code = "wait-timeout"

    def __init__(self, jobs: list[Job], job_ids: Sequence[int] | None = None) -> None:
        self.jobs = jobs
        self.job_ids = [j.job_id for j in jobs] if job_ids is None else list(job_ids)
        final = {j.job_id for j in jobs if j.is_final}
        self.pending = [i for i in self.job_ids if i not in final]
        super().__init__(
            f"{len(self.pending)} job(s) still not finished: {', '.join(map(str, self.pending))}",
            hint="wait longer (a larger timeout), or look at them with `lanfax job show ID`",
        )


def open_mode(mode: str | PortOpenMode) -> str:
    """``"query"`` or ``"modify"`` from a name or PORT_OPEN_* value."""
    value: PortOpenMode = enum_from_wire(PortOpenMode, mode, "mode")
    return value.name.lower()


class _HandleBase:
    def __init__(self, handle: str, device_id: int, mode: PortOpenMode) -> None:
        self.handle = handle
        self.device_id = device_id
        self.mode = mode
        self.closed = False

    def checked(self) -> str:
        """The handle string; InvalidInput if it was closed."""
        if self.closed:
            raise InvalidInput(
                f"port handle {self.handle} is closed", hint="open the port again with open_port"
            )
        return self.handle

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return (
            f"<{type(self).__name__} {self.handle} port {self.device_id} {self.mode.name} {state}>"
        )


class PortHandle(_HandleBase):
    """A query or modify handle on one port (FaxOpenPort). Close it, or use ``with``."""

    def __init__(
        self, handle: str, device_id: int, mode: PortOpenMode, closer: Callable[[str], None]
    ) -> None:
        super().__init__(handle, device_id, mode)
        self._closer = closer

    def close(self) -> None:
        """Release the handle on the server (idempotent)."""
        if not self.closed:
            self.closed = True
            self._closer(self.handle)

    def __enter__(self) -> PortHandle:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncPortHandle(_HandleBase):
    """The async twin of :class:`PortHandle`: ``await h.aclose()`` or ``async with``."""

    def __init__(
        self,
        handle: str,
        device_id: int,
        mode: PortOpenMode,
        closer: Callable[[str], Awaitable[None]],
    ) -> None:
        super().__init__(handle, device_id, mode)
        self._closer = closer

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            await self._closer(self.handle)

    async def __aenter__(self) -> AsyncPortHandle:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def merge_logging(
    current: list[LoggingCategory], changes: Mapping[Any, Any]
) -> list[LoggingCategory]:
    """Apply ``{category: level}`` (names, numbers or enums; category by its enum name or its
    display name) to ``current``. Unknown categories or levels raise InvalidInput."""
    from lanfax.model.config import LoggingCategory

    out = list(current)
    for key, level in changes.items():
        lvl: LogLevel = enum_from_wire(LogLevel, level, f"level of {key}")
        for i, cat in enumerate(out):
            if _matches(cat, key):
                out[i] = LoggingCategory(cat.name, cat.category, lvl)
                break
        else:
            names = ", ".join(c.category.name.lower() for c in current)
            raise InvalidInput(f"no logging category {key!r}", hint=f"categories: {names}")
    return out


def _matches(cat: LoggingCategory, key: Any) -> bool:
    if isinstance(key, LogCategory):
        return cat.category == key
    if isinstance(key, int) and not isinstance(key, bool):
        return int(cat.category) == key
    text = str(key).strip().lower().replace("-", "_")
    return text in (cat.category.name.lower(), cat.name.lower())
