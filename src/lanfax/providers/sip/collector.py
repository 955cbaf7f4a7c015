"""The cyclic garbage collector paced by the media thread while SIP calls are in media
(issue #19).

CPython's cyclic collector runs on whichever thread allocates when a generation's counter
passes its threshold, and holds the GIL for the whole collection. A full (generation 2)
collection examines every tracked object that is not frozen: with 300 + 300 calls in media
that was 60,000-115,000 objects and 16-68 ms, and a collection that started on the event
loop in the middle of the calls' set-up held the media thread off for longer than a packet
period (measured with ``bench/sip.py --sizes 300 --no-lockstep --trace-slow 10``: every late
tick came right after one).

While any call is in media, :class:`MediaCollector` turns the automatic collection off
(:func:`gc.disable`) and the media thread runs the collections itself, right after a tick,
by CPython's own rule:

- a generation-0 collection when more than ``threshold0`` (700) objects were allocated
  (net) since the last one, a generation-1 collection every ``threshold1`` (10) of those:
  cheap (they examine only the young objects), and run after every tick that finds them
  due, so garbage in cycles among young objects is reclaimed within a tick, as before;
- a full collection when ``threshold2`` (10) generation-1 collections ran since the last
  full one and the oldest generation grew by more than a quarter since (CPython counts the
  objects promoted; this counts the growth, which cyclic garbage left there is part of).
  It runs when 1.5 times its expected time (the last full collection's time per object,
  times the objects there now) fits before the next tick would count as late (one period
  after it is due), which the time right after a tick usually leaves; when it does not fit
  it waits for a tick that leaves room, at most :data:`MAX_DEFER` seconds, then runs anyway.
  So garbage stays bounded for a server that has calls in media for months: a full
  collection runs at least every ``MAX_DEFER`` seconds once due.

When no call is in media the automatic collection is back on (as it was: a process whose
collector was off stays so, and then the media thread collects nothing either).

Each call's own reference cycles are broken when it ends (:meth:`.media.FaxMedia.close`),
so ending calls leave no garbage for the full collection; what it examines is the calls
still running (~125 tracked objects per call and side) and the rest of the process not
frozen by :func:`lanfax.service.heap.settle`.
"""

from __future__ import annotations

import gc
import threading
import time
from dataclasses import dataclass, field

__all__ = ["ESTIMATE_FACTOR", "MAX_DEFER", "CollectorStats", "MediaCollector", "media_collector"]

#: The longest a due full collection waits for a tick that leaves it room (seconds).
MAX_DEFER = 30.0
#: Kept free before the next tick would count as late (seconds): the event loop may hold the
#: GIL for a while when the collection ends, and the estimate may be short.
MARGIN = 0.006
#: A full collection runs when this many times its expected time fits the room: the estimate
#: (the last one's time per object) was short under load (36 ms taken where it fitted).
ESTIMATE_FACTOR = 1.5
#: The time a full collection takes per object examined, until one was measured (seconds:
#: 0.29 µs measured on this project's 2-core machine under load).
DEFAULT_PER_OBJECT = 0.4e-6


@dataclass
class CollectorStats:
    """What the media thread's collections did (for benchmarks and ``lanfax doctor``-style
    reports); times are wall-clock seconds with the GIL held."""

    #: Collections run by the media thread, per generation.
    collections: list[int] = field(default_factory=lambda: [0, 0, 0])
    #: Their time, summed, per generation.
    seconds: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    #: The longest one, per generation.
    worst: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    #: Full collections that were due but waited for a tick with room for them (counted
    #: once per tick they waited after).
    deferred: int = 0
    #: Full collections run after waiting :data:`MAX_DEFER` seconds without room.
    forced: int = 0
    #: Objects found unreachable and freed by the media thread's collections.
    collected: int = 0


class MediaCollector:
    """Turns the automatic collection off while calls are in media and runs it on the
    media thread after its ticks (see the module doc). One per process
    (:func:`media_collector`); :meth:`hold`, :meth:`release` and :meth:`after_tick` are
    called by the media thread only."""

    def __init__(self, *, max_defer: float = MAX_DEFER) -> None:
        self.max_defer = max_defer
        self.stats = CollectorStats()
        #: Whether the automatic collection is off because of us.
        self._held = False
        #: Objects in the oldest generation after the last full collection (CPython's
        #: ``long_lived_total``), and when a full collection became due (0: not due).
        self._long_lived = 0
        self._due_since = 0.0
        self._per_object = DEFAULT_PER_OBJECT
        #: Objects our generation-1 collections moved to the oldest generation since it was
        #: last listed (less what was already counted as growth then): the growth since
        #: can be no more, so the oldest generation is listed (1-4 ms at 100,000-150,000
        #: objects, #19: between two ticks) only when this could pass the rule's quarter.
        self._promoted = 0
        #: When a full collection is due: the oldest generation's size then, and
        #: ``_promoted`` then (the objects it will examine, about, without listing again).
        self._due_old = 0
        self._due_promoted = 0

    @property
    def held(self) -> bool:
        return self._held

    def hold(self) -> None:
        """Calls are in media: the automatic collection off, if it was on."""
        if not self._held and gc.isenabled():
            gc.disable()
            self._held = True
            self._long_lived = len(gc.get_objects(2))
            self._due_since = 0.0
            self._promoted = 0

    def release(self) -> None:
        """No call in media: the automatic collection back on, if we turned it off."""
        if self._held:
            self._held = False
            gc.enable()

    def after_tick(self, room: float) -> None:
        """Run the collection due now, if any; ``room`` is how long (seconds) until the
        next tick would count as late."""
        if not self._held:
            return
        threshold0, threshold1, threshold2 = gc.get_threshold()
        count0, count1, count2 = gc.get_count()
        if threshold0 <= 0 or count0 <= threshold0:
            return
        examined = self._full_due(room) if count1 > threshold1 and count2 > threshold2 else 0
        if examined:
            self._collect(2, examined)
        elif count1 > threshold1:
            self._collect(1)
        else:
            self._collect(0)

    def _full_due(self, room: float) -> int:
        """Whether to run the full collection now (CPython's rule, and room for it): the
        objects it would examine (about), or 0: not now."""
        now = time.monotonic()
        if not self._due_since:
            quarter = self._long_lived // 4
            if self._promoted <= quarter:
                return 0  # the growth is no more than that: not due, no need to look
            old = len(gc.get_objects(2))
            grown = old - self._long_lived
            if grown <= quarter:
                self._promoted = max(grown, 0)  # what counts from here on
                return 0
            self._due_since = now
            self._due_old, self._due_promoted = old, self._promoted
        examined = self._due_old + (self._promoted - self._due_promoted) + gc.get_count()[0]
        if ESTIMATE_FACTOR * self._per_object * examined <= room - MARGIN:
            return examined
        if now - self._due_since >= self.max_defer:
            self.stats.forced += 1
            return examined
        self.stats.deferred += 1
        return 0

    def _collect(self, generation: int, examined: int = 0) -> None:
        # What a generation-1 collection does not free it moves to the oldest generation.
        young = len(gc.get_objects(0)) + len(gc.get_objects(1)) if generation == 1 else 0
        started = time.perf_counter()
        found = gc.collect(generation)
        took = time.perf_counter() - started
        if generation == 1:
            self._promoted += max(young - found, 0)
        stats = self.stats
        stats.collections[generation] += 1
        stats.seconds[generation] += took
        stats.worst[generation] = max(stats.worst[generation], took)
        stats.collected += found
        if generation == 2:
            self._long_lived = len(gc.get_objects(2))
            self._due_since = 0.0
            self._promoted = 0
            if examined:
                self._per_object = took / examined


_the_collector: MediaCollector | None = None
_lock = threading.Lock()


def media_collector() -> MediaCollector:
    """The process's one :class:`MediaCollector`."""
    global _the_collector
    with _lock:
        if _the_collector is None:
            _the_collector = MediaCollector()
        return _the_collector
