"""The event bus: every FEI_* event is in the store with a cursor, then fanned out live.

The store is the single source of truth. After each write the service calls :meth:`pump`,
which reads the events after the last one published, in cursor order, and hands them to every
subscriber. :meth:`subscribe` first registers for live events, then reads the backlog from the
store, and drops live events it already yielded from the backlog: a subscriber sees every event
after its cursor exactly once, in order, with no gap at the boundary. A subscriber that falls
too far behind goes back to reading the store, so a slow client never loses events and never
makes the service hold an unbounded queue.

Pumps coalesce (#19): a read that began after a writer called :meth:`pump` covers that
writer's commit (which came before the call), so the writers that queued behind one read
while it ran are all covered by the next one and need no read of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, TypeVar

from lanfax.model.events import Event
from lanfax.store.api import Store

T = TypeVar("T")

#: A read of the store's events by :meth:`EventBus.reader`: (the cursor it read after, events).
Prefetched = tuple[int, list[Event]]

#: How many live events a subscriber may have pending before it falls back to the store.
QUEUE_LIMIT = 2000
_PAGE = 500


class _Subscriber:
    __slots__ = ("overflowed", "queue")

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(QUEUE_LIMIT)
        self.overflowed = False


class EventBus:
    """Fans out the store's events. All methods are called on the service's event loop."""

    def __init__(
        self,
        store: Store,
        run: Callable[..., Awaitable[Any]],
    ) -> None:
        self._store = store
        self._run = run  # runs a blocking store call off the loop
        self._published = 0
        self._subs: set[_Subscriber] = set()
        self._lock = asyncio.Lock()
        self._closed = False
        self._asked = 0  # pump calls so far
        self._covered = 0  # the pump calls made before the last finished read began

    @property
    def published_seq(self) -> int:
        return self._published

    @property
    def subscriber_count(self) -> int:
        """Subscriptions open now (the event-stream clients of ``/metrics``, #18)."""
        return len(self._subs)

    async def start(self) -> None:
        """Begin at the store's newest event: older ones are backlog, not live."""
        self._published = await self._run(self._store.last_event_seq)

    def reader(self) -> Callable[[], Prefetched]:
        """A blocking read of the events after those published now, for a writer to call in
        its own trip to the thread pool right after its commit, and give to :meth:`pump`
        (#19: a trip to the pool for the read alone cost more than the read). This one
        method may be called from any thread: the cursor it starts at only has to be no
        later than the one pump finds."""
        after, store = self._published, self._store

        def read() -> Prefetched:
            return after, store.events_after(after, _PAGE)

        return read

    async def pump(self, prefetched: Prefetched | None = None) -> None:
        """Publish every stored event not yet published, in cursor order. ``prefetched``:
        what :meth:`reader`'s read returned, read after the caller's commit; it covers the
        caller when it holds every event after the cursor it began at (else the store is
        read here, as without it)."""
        self._asked += 1
        mine = self._asked
        async with self._lock:
            if self._covered >= mine:
                return  # a read that began after this call published what it asked for
            if prefetched is not None:
                after, ready = prefetched
                if after <= self._published and len(ready) < _PAGE:
                    for ev in ready:  # all after ``after``: those not published yet, in order
                        if ev.seq > self._published:
                            self._publish(ev)
                    return
            began = self._asked
            while True:
                events: list[Event] = await self._run(
                    self._store.events_after, self._published, _PAGE
                )
                for ev in events:
                    self._publish(ev)
                if len(events) < _PAGE:
                    break
            self._covered = began

    def _publish(self, ev: Event) -> None:
        self._published = max(self._published, ev.seq)
        for sub in self._subs:
            if sub.overflowed:
                continue
            try:
                sub.queue.put_nowait(ev)
            except asyncio.QueueFull:
                sub.overflowed = True

    async def close(self) -> None:
        """End every subscription (the service is stopping)."""
        self._closed = True
        for sub in self._subs:
            with contextlib.suppress(asyncio.QueueFull):
                sub.queue.put_nowait(None)

    async def backlog(self, after_seq: int, limit: int = 1000) -> list[Event]:
        """Stored events after ``after_seq`` (for ``follow=false``)."""
        result: list[Event] = await self._run(self._store.events_after, after_seq, limit)
        return result

    async def subscribe(self, after_seq: int = 0) -> AsyncGenerator[Event, None]:
        """Every event with a cursor greater than ``after_seq``, then live ones, forever
        (until the service stops or the caller stops iterating)."""
        sub = _Subscriber()
        self._subs.add(sub)
        last = after_seq
        try:
            while not self._closed:
                # Catch up from the store: the backlog, or what was missed after an overflow.
                while True:
                    sub.overflowed = False
                    events: list[Event] = await self._run(self._store.events_after, last, _PAGE)
                    for ev in events:
                        last = ev.seq
                        yield ev
                    if len(events) < _PAGE and not sub.overflowed:
                        break
                while not sub.overflowed:
                    item = await sub.queue.get()
                    if item is None:
                        return
                    if item.seq <= last:
                        continue  # already yielded from the store
                    last = item.seq
                    yield item
                # Overflowed: drain the stale queue and read the store again.
                while not sub.queue.empty():
                    if sub.queue.get_nowait() is None:
                        return
        finally:
            self._subs.discard(sub)
