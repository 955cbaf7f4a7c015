"""Holding a window open between a provider's ``start_job`` and its ``send``/``receive``
(the service's aborts that land there, #19), for tests/service/test_abort_before_*.py.

:class:`Forgetful` wraps a provider's ``send`` or ``receive`` and its ``abort`` like a provider
that does not remember an abort of a job it has only opened: such an abort is recorded in
``early`` and ignored. :func:`held_first` makes the first matching call of a blocking method
that the service runs in a worker thread (the spool's ``resolve``, the store's
``append_events``) wait until the test opens the window.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from lanfax.providers.api import FaxProvider, JobHandle

#: The service's providers: two virtual lines, 100 and 101 (instead of the test provider's).
VIRTUAL = """
[[providers]]
type = "virtual"
lines = [{number = "100"}, {number = "101"}]
"""


@dataclass
class Forgetful:
    """``provider``'s ``call`` ("send" or "receive") and ``abort`` wrapped: an abort of a
    handle whose call has not begun is recorded in ``early`` and ignored; one of a handle on
    a call is recorded in ``late`` and passed on."""

    provider: FaxProvider
    call: str = "send"
    #: The handles (their ids) whose call began.
    begun: set[int] = field(default_factory=set)
    early: list[JobHandle] = field(default_factory=list)
    late: list[JobHandle] = field(default_factory=list)

    def install(self) -> None:
        call, abort = getattr(self.provider, self.call), self.provider.abort

        async def call_first(handle: JobHandle, *args: Any) -> Any:
            self.begun.add(id(handle))
            return await call(handle, *args)

        async def abort_if_begun(handle: JobHandle) -> None:
            if id(handle) not in self.begun:
                self.early.append(handle)
                return
            self.late.append(handle)
            await abort(handle)

        setattr(self.provider, self.call, call_first)
        self.provider.abort = abort_if_begun  # type: ignore[method-assign]


@dataclass
class Window:
    """Where a held call waits: ``entered`` is set once it waits, :meth:`open` lets it go
    on; ``asked`` holds the arguments of the call that was held."""

    entered: asyncio.Event
    released: threading.Event
    asked: list[Any] = field(default_factory=list)

    def open(self) -> None:
        self.released.set()


@asynccontextmanager
async def held_first(
    owner: object, method: str, matches: Callable[[Any], bool] = lambda _arg: True
) -> AsyncIterator[Window]:
    """Replace ``owner.method`` (a blocking method of one argument, run in a worker thread)
    for the duration: its first call whose argument ``matches`` waits until the window is
    opened (at most 60 s); every other call goes straight through."""
    loop = asyncio.get_running_loop()
    window = Window(asyncio.Event(), threading.Event())
    original: Callable[[Any], Any] = getattr(owner, method)

    def held(arg: Any) -> Any:
        if not window.asked and matches(arg):
            window.asked.append(arg)
            loop.call_soon_threadsafe(window.entered.set)
            if not window.released.wait(60):
                raise AssertionError("the test never opened the window")
        return original(arg)

    setattr(owner, method, held)
    try:
        yield window
    finally:
        window.open()
        setattr(owner, method, original)
