"""The media path of one connected virtual call: a sans-IO exchange and two ways to run it.

:class:`Exchange` owns the two ends of a call (spandsp sessions, or the voice that answers a
non-fax number) and moves one tick of line time per :meth:`Exchange.step`: audio through the
codec and the noise of the line, or T.38 IFP packets. It knows nothing about threads or the
event loop; it returns :class:`Progress` items for the provider to turn into statuses.

Line events are modelled on what a real line does:

* a *cut* (the line drops, one side hangs up, or the watchdog fires) is a disconnect signal
  to both ends: each session is terminated at once, so T.30 ends with what it had;
* when one end reaches phase E and hangs up, the other gets :data:`HANGUP_GRACE` seconds of
  line time to reach phase E itself (it is usually reading the DCN), then it is cut too.

:func:`run_fast` runs an exchange as fast as the CPU allows (call it in a worker thread);
:class:`RealtimeRunner` runs it on the event loop, one 20 ms tick at a time, in the loop's
:class:`SharedTicker`: one timer for every real-time call of the process, and (with the
engine's compiled helper) one C call per tick for all of them.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, TypeGuard

import numpy as np
from numpy.typing import NDArray

from lanfax.engine import batch
from lanfax.engine.events import PageDone, PhaseB, PhaseE, SessionEvent, SessionResult
from lanfax.engine.session import FaxSession
from lanfax.providers.common import CutReason  # re-exported: the virtual lines' cuts

__all__ = [
    "HANGUP_GRACE",
    "SAMPLE_RATE",
    "TICK_SAMPLES",
    "AudioEnd",
    "Codec",
    "CutReason",
    "Exchange",
    "PacketEnd",
    "Progress",
    "RealtimeRunner",
    "SharedTicker",
    "Side",
    "run_fast",
    "shared_ticker",
]

SAMPLE_RATE = 8000
#: 20 ms: the RTP packet time, and inside the 30 ms limit T.38 pacing needs.
TICK_SAMPLES = 160
#: Line time a side may still run after the other hung up (reading DCN takes < 1 s).
HANGUP_GRACE = 4.0


class Side(enum.Enum):
    CALLER = "caller"
    CALLEE = "callee"

    @property
    def other(self) -> Side:
        return Side.CALLEE if self is Side.CALLER else Side.CALLER


class _End(Protocol):
    """What both kinds of end share (spandsp sessions satisfy it; so does the voice)."""

    @property
    def done(self) -> bool: ...

    def events(self) -> Iterable[SessionEvent]: ...

    def terminate(self) -> None: ...


class AudioEnd(_End, Protocol):
    def tx(self, n: int) -> NDArray[np.int16]: ...

    def rx(self, samples: NDArray[np.int16]) -> None: ...


class PacketEnd(_End, Protocol):
    def tick(self, samples: int) -> list[tuple[int, bytes]]: ...

    def receive(self, seq: int, packet: bytes) -> None: ...


class Codec(Protocol):
    """What the line does to audio in one direction (G.711 round trip, noise).

    ``g711_law`` names the G.711 law when that round trip is all the line does ("ulaw",
    "alaw"): the C batch then applies it; None means the line needs Python every tick."""

    def __call__(self, samples: NDArray[np.int16]) -> NDArray[np.int16]: ...

    @property
    def g711_law(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Progress:
    """Something the provider shows: negotiation done, a page done, or the end of a side."""

    side: Side
    kind: str  # "negotiated" | "page" | "ended"
    pages: int = 0
    remote_ident: str = ""
    line_seconds: float = 0.0
    #: For a page: the post-page message was EOP (no more pages follow).
    last: bool = False


class Exchange:
    """One connected call between two ends, advanced one tick at a time (sans-IO).

    ``caller``/``callee`` are both :class:`AudioEnd` or both :class:`PacketEnd`. ``line``
    maps each direction's audio (codec, noise); ``drop_after_page`` cuts the line once the
    callee has stored that many pages and the caller heard the last of them confirmed (MCF);
    ``callee_watch`` sees each callee event as it is
    collected (it may terminate the callee's session). :meth:`request_cut` may be called from
    any thread; the cut takes effect at the next step.
    """

    def __init__(
        self,
        caller: AudioEnd | PacketEnd,
        callee: AudioEnd | PacketEnd,
        *,
        packets: bool,
        line: Codec | None = None,
        max_seconds: float,
        max_idle_seconds: float | None = None,
        drop_after_page: int | None = None,
        tick_samples: int = TICK_SAMPLES,
        callee_watch: Callable[[SessionEvent], None] | None = None,
    ) -> None:
        self._ends = {Side.CALLER: caller, Side.CALLEE: callee}
        self._watch = {Side.CALLEE: callee_watch} if callee_watch is not None else {}
        self._packets = packets
        self._line = line
        self._max_samples = int(max_seconds * SAMPLE_RATE)
        self._drop_after = drop_after_page
        self.tick_samples = tick_samples
        self._samples = 0
        #: While a C batch carries the exchange, its line time lives there (the ticker sets it).
        self._live: Callable[[], int] | None = None
        self.cut_reason: CutReason | None = None
        self._requested: CutReason | None = None
        self._lock = threading.Lock()
        self._hangup_at: int | None = None
        self._ended: set[Side] = set()
        self.pages = {Side.CALLER: 0, Side.CALLEE: 0}
        #: Sides that were still in the call when the line was cut (they did not end by
        #: themselves, so their T.30 result says more about the cut than about the fax).
        self.cut_sides: set[Side] = set()
        self._max_idle = int(max_idle_seconds * SAMPLE_RATE) if max_idle_seconds else None
        self._last_progress = 0
        #: Sides whose T.30 reached phase B (heard the other side speak T.30).
        self.negotiated: set[Side] = set()
        self._cut_hook: Callable[[], None] | None = None

    @property
    def samples(self) -> int:
        """Line time so far, in samples."""
        live = self._live
        return self._samples if live is None else live()

    @samples.setter
    def samples(self, value: int) -> None:
        self._samples = value

    @property
    def line_seconds(self) -> float:
        return self.samples / SAMPLE_RATE

    @property
    def finished(self) -> bool:
        return all(end.done for end in self._ends.values())

    def request_cut(self, reason: CutReason) -> None:
        """Ask for the line to be cut at the next step (thread-safe; first reason wins)."""
        with self._lock:
            if self._requested is None:
                self._requested = reason
        hook = self._cut_hook
        if hook is not None:
            hook()

    def request_cut_hook(self, hook: Callable[[], None] | None) -> None:
        """``hook`` runs (on the calling thread) after each :meth:`request_cut`: the shared
        ticker uses it to take the exchange out of its C batch at the next tick."""
        self._cut_hook = hook

    def batch_limit(self) -> int | None:
        """The line time (samples) up to which plain ticks may run in a C batch, or None
        when the next tick needs Python (a cut asked for or due, an end done or not a
        compiled spandsp session, a line model, a hang-up grace running)."""
        if self._hangup_at is not None or self.cut_reason is not None:
            return None
        if self._line is not None and self.batch_law is None:
            return None
        if self._requested is not None:
            return None
        a, b = self._ends[Side.CALLER], self._ends[Side.CALLEE]
        if batch.pair_kind(a, b) != (1 if self._packets else 0):
            return None
        limit = self._max_samples
        if self._max_idle is not None:
            limit = min(limit, self._last_progress + self._max_idle)
        return limit if self.samples < limit else None

    @property
    def batch_law(self) -> str | None:
        """The G.711 law the C batch applies to this exchange's audio (None: none)."""
        # getattr: a line model of a test may be a plain function.
        return None if self._line is None else getattr(self._line, "g711_law", None)

    def batched_step_done(self, samples: int) -> list[Progress]:
        """A C batch moved this exchange's tick (its line time is now ``samples``): the
        rest of :meth:`step`, the events and what they decide."""
        self.samples = samples
        for end in self._ends.values():
            if isinstance(end, FaxSession):
                batch.collect(end)
        return self._after_move()

    def step(self) -> list[Progress]:
        """Advance one tick; returns what happened. A no-op once :attr:`finished`."""
        if self.finished:
            return []
        with self._lock:
            requested = self._requested
        if requested is not None and self.cut_reason is None:
            self._cut(requested)
        elif self.cut_reason is None and (
            self.samples >= self._max_samples
            or (self._max_idle is not None and self.samples - self._last_progress >= self._max_idle)
        ):
            self._cut(CutReason.WATCHDOG)
        elif self._hangup_at is not None and self.samples >= self._hangup_at:
            self._cut(CutReason.HUNG_UP)
        if not self.finished:
            self._move()
            self.samples += self.tick_samples
        return self._after_move()

    def _after_move(self) -> list[Progress]:
        out = self._collect()
        if (
            self._drop_after is not None
            and self.cut_reason is None
            and self.pages[Side.CALLEE] >= self._drop_after
            and self.pages[Side.CALLER] >= self._drop_after
        ):
            # The callee stored page N and the caller heard it confirmed (MCF): both ends
            # agree on what arrived, so a retry that resumes after the confirmed page sends
            # every page exactly once (the test of "nothing sent twice" depends on it).
            self._cut(CutReason.DROPPED)
            out += self._collect()
        return out

    def _cut(self, reason: CutReason) -> None:
        if self.cut_reason is None:
            self.cut_reason = reason
        for side, end in self._ends.items():
            if not end.done:
                self.cut_sides.add(side)
                end.terminate()

    def _move(self) -> None:
        a, b = self._ends[Side.CALLER], self._ends[Side.CALLEE]
        n = self.tick_samples
        if self._packets:
            assert _is_packet(a) and _is_packet(b)
            to_b = a.tick(n)
            to_a = b.tick(n)
            for seq, pkt in to_b:
                b.receive(seq, pkt)
            for seq, pkt in to_a:
                a.receive(seq, pkt)
            return
        assert _is_audio(a) and _is_audio(b)
        # A hung-up end sends silence (the line is still there until the other side notices).
        sa = a.tx(n) if not a.done else np.zeros(n, dtype=np.int16)
        sb = b.tx(n) if not b.done else np.zeros(n, dtype=np.int16)
        if self._line is not None:
            sa = self._line(sa)
            sb = self._line(sb)
        # fax_rx modifies its buffer in place: hand each end its own writable copy.
        if not b.done:
            b.rx(np.array(sa, dtype=np.int16, copy=True))
        if not a.done:
            a.rx(np.array(sb, dtype=np.int16, copy=True))

    def _collect(self) -> list[Progress]:
        out: list[Progress] = []
        for side, end in self._ends.items():
            watch = self._watch.get(side)
            for ev in end.events():
                self._last_progress = self.samples
                if watch is not None:
                    # Synchronously, on this thread: a cut must land before the next page.
                    watch(ev)
                if isinstance(ev, PhaseB):
                    self.negotiated.add(side)
                    out.append(
                        Progress(
                            side, "negotiated", self.pages[side], ev.remote_ident, ev.line_seconds
                        )
                    )
                elif isinstance(ev, PageDone):
                    self.pages[side] = max(self.pages[side], ev.page)
                    # A receiver knows the page was the last one from the EOP after it.
                    last = "EOP" in ev.frame
                    out.append(Progress(side, "page", ev.page, "", ev.line_seconds, last))
                elif isinstance(ev, PhaseE):
                    pass  # reported below, once, when the end is done
            if end.done and side not in self._ended:
                self._ended.add(side)
                out.append(
                    Progress(side, "ended", self.pages[side], line_seconds=self.line_seconds)
                )
                if self._hangup_at is None:
                    self._hangup_at = self.samples + int(HANGUP_GRACE * SAMPLE_RATE)
        return out


def _is_packet(end: object) -> TypeGuard[PacketEnd]:
    return hasattr(end, "tick")


def _is_audio(end: object) -> TypeGuard[AudioEnd]:
    return hasattr(end, "tx")


def run_fast(
    exchange: Exchange,
    report: Callable[[list[Progress]], object],
) -> None:
    """Run ``exchange`` to the end as fast as possible (blocking: call it in a thread).

    ``report`` gets each non-empty batch of progress; it runs on this thread, so it must hop
    to the event loop itself. The watchdog inside the exchange guarantees this returns.
    """
    while not exchange.finished:
        progress = exchange.step()
        if progress:
            report(progress)


class SharedTicker:
    """The 20 ms tick of every real-time exchange on one event loop: one timer, and with the
    engine's compiled helper one C call for all the plain ticks
    (:class:`~lanfax.engine.batch.PairBatch`).

    Tick k runs at ``start + k * period`` on the loop's clock, so a late tick does not push
    the following ones back; when the loop falls more than one tick behind, the missed ticks
    run back to back to catch up, and :attr:`late_ticks` counts them (for every exchange in
    the ticker at the time). An exchange's tick goes through Python (``Exchange.step``) when
    it cannot be batched: its first tick, a line model, a cut asked for, the hang-up grace,
    ends that are not compiled spandsp sessions; and after a batched tick only when
    something happened (events, a line-time limit).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, tick_samples: int) -> None:
        self._loop = loop
        self.period = tick_samples / SAMPLE_RATE
        self._batch = batch.PairBatch(tick_samples) if batch.available() else None
        self._members: dict[RealtimeRunner, None] = {}
        self._batched: list[RealtimeRunner] = []
        self._dirty = False
        self._recheck: list[RealtimeRunner] = []
        self._handle: asyncio.TimerHandle | None = None
        self._start = 0.0
        self._ticks = 0
        #: Ticks run after the next one was already due (each is late for every member).
        self.late_ticks = 0
        #: The worst lateness of a tick (seconds after its due time), since the start.
        self.max_lateness = 0.0
        #: Member-ticks run, and those run late (the real-time benchmark's figures).
        self.member_ticks = 0
        self.late_member_ticks = 0

    def __len__(self) -> int:
        return len(self._members)

    @property
    def batched(self) -> int:
        """How many exchanges the C batch carries now."""
        return len(self._batched)

    def add(self, runner: RealtimeRunner) -> None:
        self._members[runner] = None
        runner._late_base = self.late_ticks
        runner._exchange.request_cut_hook(lambda: self._recheck.append(runner))
        if self._handle is None:
            self._start = self._loop.time()
            self._ticks = 0
            self._schedule()

    def remove(self, runner: RealtimeRunner) -> None:
        if runner not in self._members:
            return
        del self._members[runner]
        runner._exchange.request_cut_hook(None)
        if runner._in_batch:
            self._dirty = True
            ex = runner._exchange
            ex._live = None
            if self._batch is not None:
                ex.samples = self._batch.samples(runner._slot)
        runner._late_final = self.late_ticks - runner._late_base

    def _schedule(self) -> None:
        self._handle = self._loop.call_at(self._start + self._ticks * self.period, self._tick)

    def _tick(self) -> None:
        self._handle = None
        now = self._loop.time()
        while self._members:
            due = self._start + self._ticks * self.period
            self.max_lateness = max(self.max_lateness, now - due)
            self._ticks += 1
            late = self._start + self._ticks * self.period <= now
            n = len(self._members)
            self.member_ticks += n
            if late:
                self.late_ticks += 1
                self.late_member_ticks += n
            self._step_all()
            if not late:
                break
        if self._members:
            self._schedule()
        elif self._batch is not None:
            self._batch.close()  # its worker thread, until the next call

    def _step_all(self) -> None:
        while self._recheck:
            runner = self._recheck.pop()
            if runner._in_batch:
                runner._want_batch = False
                self._dirty = True
        if self._dirty:
            try:
                self._rebuild()
            except Exception as exc:  # pragma: no cover - batch_limit vouched for each pair
                self._batched = []
                self._dirty = False
                for runner in list(self._members):
                    if runner._want_batch:
                        runner._in_batch = runner._want_batch = False
                        runner._exchange._live = None
                        self._fail(runner, exc)
                if self._batch is not None:
                    self._batch.set_pairs([])
        b = self._batch
        if b is not None and self._batched:
            batched = self._batched
            try:
                flagged = b.tick()
            except Exception as exc:  # the engine failed: every call in the batch ends
                for runner in list(batched):
                    self._fail(runner, exc)
                flagged = []
            for i in flagged:
                runner = batched[i]
                try:
                    progress = runner._exchange.batched_step_done(b.samples(i))
                except Exception as exc:
                    self._fail(runner, exc)
                    continue
                if runner._deliver(progress):
                    self.remove(runner)
                    continue
                limit = runner._exchange.batch_limit()
                if limit is None:
                    runner._want_batch = False
                    self._dirty = True
                else:
                    b.set_limit(i, limit)
        for runner in [r for r in self._members if not r._in_batch]:
            try:
                progress = runner._exchange.step()
            except Exception as exc:
                self._fail(runner, exc)
                continue
            if runner._deliver(progress):
                self.remove(runner)
            elif b is not None and runner._exchange.batch_limit() is not None:
                runner._want_batch = True
                self._dirty = True

    def _rebuild(self) -> None:
        """Rebuild the C batch from the members that want it (before the next C call, so
        the batch never holds the pointers of a session closed since)."""
        b = self._batch
        self._dirty = False
        if b is None:
            return
        for i, runner in enumerate(self._batched):
            runner._in_batch = False
            if runner in self._members:
                runner._exchange._live = None
                runner._exchange.samples = b.samples(i)
        pairs = []
        batched: list[RealtimeRunner] = []
        for runner in self._members:
            if not runner._want_batch:
                continue
            ex = runner._exchange
            limit = ex.batch_limit()
            if limit is None:
                runner._want_batch = False
                continue
            a, z = ex._ends[Side.CALLER], ex._ends[Side.CALLEE]
            assert isinstance(a, FaxSession) and isinstance(z, FaxSession)
            runner._slot = len(batched)
            runner._in_batch = True
            batched.append(runner)
            pairs.append((a, z, ex.samples, limit, ex.batch_law))
        b.set_pairs(pairs)
        self._batched = batched
        for i, runner in enumerate(batched):
            runner._exchange._live = functools.partial(b.samples, i)

    def _fail(self, runner: RealtimeRunner, exc: Exception) -> None:
        self.remove(runner)
        if not runner.done.done():
            runner.done.set_exception(exc)


_tickers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, SharedTicker]] = (
    weakref.WeakKeyDictionary()
)


def shared_ticker(
    loop: asyncio.AbstractEventLoop, tick_samples: int = TICK_SAMPLES
) -> SharedTicker:
    """The ticker of ``loop`` for ticks of ``tick_samples`` (made on first use)."""
    per_loop = _tickers.setdefault(loop, {})
    ticker = per_loop.get(tick_samples)
    if ticker is None:
        ticker = per_loop[tick_samples] = SharedTicker(loop, tick_samples)
    return ticker


class RealtimeRunner:
    """Run an exchange on the event loop in real time, in the loop's :class:`SharedTicker`
    (no timer or task of its own): tick k runs at ``start + k * 20 ms`` of the ticker.

    ``late_ticks`` counts the ticks of this exchange that ran late (catching up after the
    loop fell behind).
    """

    def __init__(
        self,
        exchange: Exchange,
        report: Callable[[list[Progress]], None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._exchange = exchange
        self._report = report
        self._loop = loop
        self._ticker = shared_ticker(loop, exchange.tick_samples)
        self.done: asyncio.Future[None] = loop.create_future()
        self._in_batch = False
        self._want_batch = False
        self._slot = 0
        self._late_base = 0
        self._late_final: int | None = None

    @property
    def late_ticks(self) -> int:
        if self._late_final is not None:
            return self._late_final
        return self._ticker.late_ticks - self._late_base

    def start(self) -> None:
        self._ticker.add(self)

    def _deliver(self, progress: list[Progress]) -> bool:
        """Report a tick's progress; True once the exchange is finished (done is set)."""
        if progress:
            try:
                self._report(progress)
            except Exception as exc:
                if not self.done.done():
                    self.done.set_exception(exc)
                return True
        if self._exchange.finished:
            if not self.done.done():
                self.done.set_result(None)
            return True
        return False

    def cancel(self) -> None:
        self._ticker.remove(self)
        if not self.done.done():
            self.done.cancel()


def result_pages(result: SessionResult | None, side: Side) -> int:
    """Pages the side did: confirmed sent (caller) or stored (callee)."""
    if result is None:
        return 0
    return result.pages_tx if side is Side.CALLER else result.pages_rx
