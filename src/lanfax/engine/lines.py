"""Calls on their own lines (SIP) in one crossing into C (the compiled helper, issue #19).

A SIP media thread steps hundreds of calls every 20 ms, each with its own socket and far end.
These batches run every call's tick, the wire format included, in one C call with the GIL
released once, and hand back what the calls send in one buffer:

* :class:`T38Batch`: T.38 sessions fed IFP packets (``receive``), or, in UDPTL mode with a
  :class:`UdptlLine` per call, the far end's raw UDPTL datagrams (``feed``): decoded,
  recovered from redundancy, answered, framed (``providers/sip/udptl.py``'s rules).
* :class:`RtpBatch`: audio sessions fed the far end's raw RTP datagrams, with an
  :class:`RtpLine` per call: the payload-type filter, the fixed-delay jitter buffer, G.711
  decoding, ``fax_rx``/``fax_tx``, G.711 coding and the RTP header (``providers/sip/rtp.py``
  and ``media.py``'s audio step): one RTP datagram per call per tick.

What a tick emitted is read with one crossing: :meth:`packets` (``(index, seq, bytes)``) or
:meth:`out_columns` (numpy columns for :meth:`lanfax.engine.dgram.Datagrams.send_columns`,
no Python per packet). A batch holds raw pointers: call ``set_sessions`` again before the
next tick whenever a session in it is closed (a tick that finds one raises EngineError
rather than touch its freed state).

The batches are in :mod:`lanfax.engine.lines_t38` (:class:`T38Batch`, :class:`UdptlLine`) and
:mod:`lanfax.engine.lines_rtp` (:class:`RtpBatch`, :class:`RtpLine`), on what both share in
:mod:`lanfax.engine.lines_tick` (the two-thread split, :data:`SPLIT_MIN_SESSIONS`); every name
is importable from here as before.
"""

from __future__ import annotations

from lanfax.engine._worker import PartWorker as _Worker  # noqa: F401  (as before the split)
from lanfax.engine.lines_rtp import RtpBatch, RtpLine
from lanfax.engine.lines_t38 import T38Batch, UdptlLine
from lanfax.engine.lines_tick import SPLIT_MIN_SESSIONS as SPLIT_MIN_SESSIONS
from lanfax.engine.lines_tick import Int32Array as Int32Array

__all__ = ["RtpBatch", "RtpLine", "T38Batch", "UdptlLine"]
