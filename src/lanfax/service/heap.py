"""The cyclic garbage collector's setting for a long-running server (issue #19).

CPython's cyclic collector runs on whichever thread allocates when a generation's counter
passes its threshold, and holds the GIL for the whole collection. A full (generation 2)
collection examines every tracked object: right after start-up that is everything the
server imported (~60,000 objects here, ~15 ms), and with 300 + 300 SIP calls in media
~115,000 objects and ~600,000 references (~36 ms). One such collection during the calls'
set-up holds the media thread off for longer than a 20 ms packet period: measured with
``bench/sip.py --sizes 300 --no-lockstep --trace-slow 10`` (quiet machine) a 39 ms
collection made 568 G.711 + 567 T.38 packets late (worst 36 ms); with the collector off,
0 late (worst 3.6 / 10.5 ms).

:func:`settle` is called once, when the service has started and before calls arrive
(``lanfax serve``; the SIP benchmark where a server would): one collection, then
:func:`gc.freeze` moves everything alive (imports, settings, the started service) to the
permanent generation, which no later collection examines, so a collection costs in
proportion to what was created since. Frozen objects are still freed by reference counting;
only cycles among them are never reclaimed, which start-up objects (alive as long as the
process) do not need.
"""

from __future__ import annotations

import gc

__all__ = ["settle"]


def settle() -> int:
    """Collect once, then freeze everything alive; return how many objects are frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
