"""The media of a SIP account's calls, stepped every 20 ms in one pass that also reads their
sockets (:class:`Ticker`), on one media thread per process that runs every account's Ticker
on its own schedule (:class:`_Clock`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import sys
import threading
import time
from array import array
from collections.abc import Callable
from typing import Any

import numpy as np

from lanfax.engine.batch import available as batch_available
from lanfax.engine.dgram import Datagrams, Received
from lanfax.engine.lines import RtpBatch, T38Batch
from lanfax.engine.realtime import realtime
from lanfax.engine.session import AudioFaxSession
from lanfax.providers.sip.collector import media_collector
from lanfax.providers.sip.media import (
    _MAX_DATAGRAM,
    _MAX_QUEUE,
    DEST_CHANGES,
    PERIOD,
    TICK,
    FaxMedia,
    _Socket,
)

__all__ = ["SWITCH_INTERVAL", "Ticker", "room_before_late"]

#: Threads a batch's spandsp part runs on (two halves at once from 64 calls; its C calls
#: release the GIL): #19, when hundreds of receivers get their page in the same ticks,
#: spandsp's T.4 decoding and TIFF writing took 5-22 ms of one core per tick at 100 calls.
BATCH_THREADS = 2 if (os.cpu_count() or 1) >= 2 else 1

_log = logging.getLogger("lanfax.providers.sip")

#: The interpreter's switch interval once a media thread runs (the default is 5 ms). #19: a
#: thread that gives up the GIL (every cffi call into spandsp does) waits a whole switch
#: interval to get it back while another thread runs Python: at 5 ms a tick of 100 calls
#: with 3 ms of CPU took 20-60 ms and 3-4 % of the packets left late at 100 + 100 calls in
#: bench/sip.py; at 0.5 ms none did, and the worst tick started 16 ms late.
SWITCH_INTERVAL = 0.0005


class Ticker:
    """Steps every live FaxMedia of one provider each 20 ms, in one pass, on the process's
    media thread.

    A tick first reads every datagram that arrived on its calls' sockets (one epoll for all
    of them, one pass per datagram a socket holds), then steps each call once. Ticks run at
    absolute times ``start + k * 20 ms`` (one late tick does not push the others back; far
    behind, the schedule restarts from now); a tick that starts more than one period late
    is counted in ``late_ticks`` and each of its calls' packets in ``late_packets``.

    #19: the ticks run on a thread, not as a timer of the event loop. On the loop, a tick
    waited for every callback that was ready before it: a burst of call set-ups, SIP
    messages or call ends (hundreds at once when hundreds of calls start together) made
    every call's media late. On a thread a tick waits at most for the interpreter's switch
    interval (set to :data:`SWITCH_INTERVAL`, 0.5 ms, for the whole process when the media
    thread starts), and spandsp's C code (cffi releases the GIL) runs beside the loop. The
    thread touches a call only inside :meth:`FaxMedia.step` under the call's lock, which
    every change from the loop takes too (briefly: sessions are made and closed outside
    it); what a step has to tell the call (progress, a failure) it posts to the loop, all
    of a tick's posts in one hand-over at its end.

    One thread serves every Ticker of the process (:class:`_Clock`): with a thread per
    provider (the benchmark's two accounts per process), the two threads took the GIL from
    each other at every ``sendto``, ``recv`` and C call, so a 300-call tick of 3-7 ms of
    CPU took 2-4 times that in wall time. Each Ticker keeps its own phase (its schedule
    starts when its first call does): one clock shared in phase was tried, and with two
    providers of one process ticking together a G.711 call through 30 ms of jitter saw
    packets arrive one frame late at the jitter buffer.
    """

    def __init__(self, *, realtime: bool = False) -> None:
        self._loop = asyncio.get_running_loop()
        #: Whether this Ticker's calls want the media thread and this loop's thread under
        #: ``SCHED_FIFO`` while they are in media (the account's ``realtime``; see
        #: :mod:`lanfax.engine.realtime`), and that thread (created on the loop).
        self.realtime = realtime
        self._loop_thread = threading.get_native_id()
        #: Guards the set of calls and the sockets' registration with the epoll (reentrant:
        #: a socket closed under it unregisters itself).
        self._lock = threading.RLock()
        self._media: dict[FaxMedia, None] = {}
        self._manual = False
        self._poll = select.epoll()
        self._sockets: dict[int, _Socket] = {}
        #: This Ticker's schedule on the clock: tick k is due at ``_start + k * PERIOD``.
        self._start_at = 0.0
        self._ticks = 0
        self._scheduled = False
        #: What this tick's steps have to tell the loop, handed over once at its end.
        self._posts: list[tuple[Callable[..., object], tuple[object, ...]]] = []
        #: The audio calls' spandsp steps in one C call per tick (None: the engine has no
        #: compiled helper, each call steps its own session).
        compiled = batch_available()
        #: Every running G.711 call's tick wire to wire in one C call (its RTP datagrams in,
        #: jitter buffer, G.711, spandsp, its RTP datagram out), and every T.38 call's in
        #: another (UDPTL in and out); None without the compiled helper: each call steps its
        #: own session, with RTP and UDPTL in Python.
        self._rtp: RtpBatch | None = RtpBatch(TICK, BATCH_THREADS) if compiled else None
        self._t38: T38Batch | None = T38Batch(TICK, BATCH_THREADS) if compiled else None
        self._rtp_batched: list[Any] = []
        self._t38_batched: list[Any] = []
        #: A tick's socket reads and sends, each in one C call with the GIL released once
        #: (recv_many, send_columns; None without the compiled helper: one epoll, then
        #: recv/sendto per datagram).
        self._io: Datagrams | None = Datagrams(max_per_fd=_MAX_QUEUE) if compiled else None
        #: The watched sockets as recv_many takes them (rebuilt after a change), and each
        #: descriptor's place in that list.
        self._fds: array[int] | None = None
        self._fd_socks: list[_Socket] = []
        self._fd_pos: dict[int, int] = {}
        #: What this tick's recv_many read (handed to the batches, the rest to the queues).
        self._got: Received | None = None
        #: Descriptors unwatched since the tick began (their datagrams are not sent).
        self._gone: set[int] = set()
        #: Far addresses of calls that left, dropped from the send table at the next tick.
        self._forget: list[tuple[str, int]] = []
        self._forgotten = 0  # times some were
        #: Per batch (True: RTP), the calls' send columns of the last tick and what they
        #: were made for: ``(calls, (DEST_CHANGES, _forgotten), fds, destinations)``.
        self._columns: dict[bool, tuple[list[FaxMedia] | None, tuple[int, int], Any, Any]] = {}
        self._stopping = False
        self.late_ticks = 0
        self.total_ticks = 0
        #: Media packets that left late: every call stepped in a late tick.
        self.late_packets = 0
        #: The worst lateness of a tick so far, in seconds (reset by the caller at will).
        self.max_lateness = 0.0
        #: The most calls this Ticker had at once so far (reset by the caller at will).
        self.peak_media = 0
        #: Calls stepped, summed over ticks: 50 are one call-second of media.
        self.call_ticks = 0
        #: The media thread's time in this Ticker's ticks, summed: wall-clock and CPU
        #: seconds (the thread's own). Wall well above CPU is time spent waiting (for the
        #: GIL, a call's lock, a core): what makes a tick late on a loaded process.
        self.tick_wall = 0.0
        self.tick_cpu = 0.0
        #: The wall-clock time of the last tick alone (what the next one will take, about).
        self.last_wall = 0.0

    def add(self, media: FaxMedia) -> None:
        if not self._manual:
            media._post = self._post
        with self._lock:
            self._media[media] = None
            self.peak_media = max(self.peak_media, len(self._media))
            self._watch(media.ports.rtp)
            self._watch(media.ports.udptl)
        if not self._manual:
            self._start()

    def manual(self) -> None:
        """No thread: the caller steps the media with :meth:`tick`, on its own thread (a
        benchmark that runs faster than real time, a test in virtual time). Call it before
        the first :meth:`add`."""
        self._manual = True

    def tick(self, lateness: float = 0.0) -> bool:
        """Step every media once now, as the thread does ``lateness`` seconds after a
        tick's due time; False once no media is left."""
        return self._step_all(lateness)

    def remove(self, media: FaxMedia) -> None:
        with self._lock:
            if self._media.pop(media, 0) is None and self._io is not None:
                self._forget += media.dests
            self._unwatch(media.ports.rtp)
            self._unwatch(media.ports.udptl)

    # -- the sockets ------------------------------------------------------------------------

    def _watch(self, sock: _Socket) -> None:
        """(Under the lock.)"""
        if sock.sock is None or sock._watcher is self:
            return
        if sock._watcher is not None:
            sock._watcher._unwatch(sock)
        self._poll.register(sock.fd, select.EPOLLIN)
        self._sockets[sock.fd] = sock
        self._fds = None
        sock._watcher = self

    def _unwatch(self, sock: _Socket) -> None:
        with self._lock:
            if sock._watcher is not self:
                return
            sock._watcher = None
            if self._sockets.get(sock.fd) is sock:
                del self._sockets[sock.fd]
                self._fds = None
                self._gone.add(sock.fd)
                with contextlib.suppress(OSError, ValueError):  # a closed epoll or socket
                    self._poll.unregister(sock.fd)

    def _receive(self) -> None:
        """Queue every datagram that arrived on the watched sockets since the last tick
        (under the lock: no socket closes meanwhile), the newest ``_MAX_QUEUE`` per socket.

        #19: with the compiled helper, every socket is read in one C call (recv_many) with
        the GIL released once: a ``recv`` per datagram gave the GIL up and waited to get it
        back (up to the switch interval while the loop ran Python) 300 times a tick at 300
        calls."""
        io = self._io
        if io is None:
            self._receive_each()
            return
        fds = self._fds
        if fds is None:
            self._fd_socks = list(self._sockets.values())
            fds = self._fds = array("i", [s.fd for s in self._fd_socks])
            self._fd_pos = {fd: i for i, fd in enumerate(fds)}
        got = io.recv_many(fds)
        self._got = got if got.index else None

    def _forget_addresses(self) -> None:
        """(Under the lock, on the ticking thread.) Drop the far addresses of calls that
        left from the send table (which would otherwise grow by one entry per call)."""
        io = self._io
        assert io is not None
        for address in self._forget:
            io.forget(address)
        self._forget.clear()
        self._forgotten += 1

    def _queue_rest(self, taken: Any) -> None:
        """(Under the lock.) The datagrams of this tick's read that no batch took (``taken``
        a bool per datagram, or None: none taken) into their sockets' queues: a call stepped
        on its own, the RTP socket of a call on T.38."""
        got, self._got = self._got, None
        if got is None:
            return
        data, socks = got.data, self._fd_socks
        rows = range(len(got.index)) if taken is None else np.flatnonzero(~taken).tolist()
        index, offsets, lengths = got.index, got.offsets, got.lengths
        for k in rows:
            at = offsets[k]
            socks[index[k]].queue.append(data[at : at + lengths[k]])

    def _receive_each(self) -> None:
        """:meth:`_receive` without the compiled helper: one from each ready socket, then,
        from those that are still ready (a backlog after a stall), all the others."""
        poll, sockets = self._poll.poll, self._sockets
        ready = poll(0)
        if not ready:
            return
        for fd, _events in ready:
            s = sockets.get(fd)
            if s is not None and s.sock is not None:
                try:  # noqa: SIM105 - per packet
                    s.queue.append(s.sock.recv(_MAX_DATAGRAM))
                except OSError:
                    pass  # nothing after all, or an error the socket reported
        for fd, _events in poll(0):
            s = sockets.get(fd)
            if s is None or s.sock is None:
                continue
            recv, append = s.sock.recv, s.queue.append
            for _ in range(_MAX_QUEUE):  # more would push the first ones out of the queue
                try:
                    append(recv(_MAX_DATAGRAM))
                except BlockingIOError:
                    break
                except OSError:
                    continue  # an error the socket reported: what follows is still there

    # -- the ticks ------------------------------------------------------------------------

    def _step_all(self, lateness: float) -> bool:
        """One tick ``lateness`` seconds after its due time; False once no media is left."""
        with self._lock:
            if self._forget:
                self._forget_addresses()
            if not self._media:
                return False
            media_now = list(self._media)
            self._gone.clear()
            self._receive()
        # An idle tick carries no media: its delay hurts no call.
        if lateness > self.max_lateness:
            self.max_lateness = lateness
        if lateness > PERIOD:
            self.late_ticks += 1
            self.late_packets += len(media_now)
        self.total_ticks += 1
        self.call_ticks += len(media_now)
        if self._rtp is not None:
            media_now = self._step_batch(media_now)
        for media in media_now:
            try:
                media.step()
            except Exception as exc:  # a failing call must not stop the others' media
                self._drop(media, exc)
        return True

    def _send(self, batch: RtpBatch | T38Batch, held: list[FaxMedia], rtp: bool) -> None:
        """Send what ``batch``'s tick emitted in one C call (send_columns: the GIL released
        once, an error per datagram reported back, none raised: a datagram that cannot go
        now is dropped, as the network would drop it). Under the lock, so no socket closes
        meanwhile; one closed during the tick (its call ended on the loop) sends nothing:
        its descriptor may already be another socket's."""
        io = self._io
        assert io is not None
        data, index, _seq, offsets, lengths = batch.out_columns()
        if not len(index):
            return
        with self._lock:
            gone = self._gone
            # Each call's descriptor and far address as columns, kept while the calls, their
            # far addresses and the send table stay the same (and no socket closed).
            key = (DEST_CHANGES[0], self._forgotten)
            cached = self._columns.get(rtp)
            if cached is not None and not gone and cached[1] == key and cached[0] == held:
                fd_of, dest_of = cached[2], cached[3]
            else:
                fds = [(m.ports.rtp if rtp else m.ports.udptl).fd for m in held]
                if gone:
                    sockets = self._sockets
                    fds = [fd if fd in sockets and fd not in gone else -1 for fd in fds]
                fd_of = np.array(fds, dtype=np.int32)
                destination = io.destination
                dest_of = np.array([destination(m._dest) for m in held], dtype=np.int32)
                self._columns[rtp] = (None if gone else list(held), key, fd_of, dest_of)
            io.send_columns(data, fd_of[index], offsets, lengths, dest_of[index])

    def _drop(self, media: FaxMedia, exc: Exception) -> None:
        with self._lock:
            self._media.pop(media, None)
        media._post(_fail, media, exc)

    def _step_batch(self, media_now: list[FaxMedia]) -> list[FaxMedia]:
        """Tick every running call wire to wire: the G.711 calls in the RtpBatch, the T.38
        calls in the T38Batch (each one C call for all of them, the datagrams this tick read
        fed in as columns and what they send sent as columns: no Python per datagram);
        returns the calls left to step one by one. Each batched call's lock is held from
        its first half to its second."""
        rest: list[FaxMedia] = []
        audio: list[FaxMedia] = []
        fax: list[FaxMedia] = []
        held: list[FaxMedia] = []
        try:
            for media in media_now:
                media._lock.acquire()
                try:
                    session = media._wire_in()
                except Exception as exc:
                    media._lock.release()
                    self._drop(media, exc)
                    continue
                if session is None:
                    media._lock.release()
                    rest.append(media)
                    continue
                held.append(media)
                (audio if isinstance(session, AudioFaxSession) else fax).append(media)
            self._feed(audio, fax)
            for batch, calls, rtp in ((self._rtp, audio, True), (self._t38, fax, False)):
                if calls:
                    assert batch is not None
                    self._tick(batch, calls, rtp)
                else:  # the send columns' calls go with the last of them (#19: freed now)
                    self._columns.pop(rtp, None)
        finally:
            for media in held:
                media._lock.release()
        return rest

    def _feed(self, audio: list[FaxMedia], fax: list[FaxMedia]) -> None:
        """Set the batches' calls (when they changed), then queue each call's datagrams
        from this tick's read into its batch; the others go to their sockets' queues."""
        rtp, t38 = self._rtp, self._t38
        assert rtp is not None and t38 is not None
        for batch, held, was in ((rtp, audio, self._rtp_batched), (t38, fax, self._t38_batched)):
            now = [(m.session, m._line) for m in held]
            if now != was:
                sessions = [s for s, _ in now]
                lines = [line for _, line in now]
                if batch is rtp:
                    rtp.set_sessions(sessions, lines)  # type: ignore[arg-type]
                    self._rtp_batched = now
                else:
                    t38.set_sessions(sessions, lines)  # type: ignore[arg-type]
                    self._t38_batched = now
        got = self._got
        if got is None:
            return
        with self._lock:
            data, index, _offsets, lengths = got.columns()
            pos = self._fd_pos
            taken = np.zeros(len(index), dtype=bool)
            for batch, held, rtp_side in ((rtp, audio, True), (t38, fax, False)):
                if not held:
                    continue
                of_fd = np.full(len(self._fd_socks), -1, dtype=np.int32)
                for i, m in enumerate(held):
                    p = pos.get((m.ports.rtp if rtp_side else m.ports.udptl).fd)
                    if p is not None:
                        of_fd[p] = i
                mine = of_fd[index]
                batch.feed_all(data, mine, lengths)
                taken |= mine >= 0
            self._queue_rest(taken)

    def _tick(self, batch: RtpBatch | T38Batch, held: list[FaxMedia], rtp: bool) -> None:
        try:
            flagged = {id(s) for s in batch.tick()}
        except Exception as exc:  # no room for the tick's packets, a closed session
            for media in held:
                self._drop(media, exc)
            return
        self._send(batch, held, rtp)
        failed = {id(s): exc for s, exc in batch.failures}
        for media in held:
            session = media.session
            assert session is not None
            error = failed.get(id(session))
            if error is not None:
                self._drop(media, error)
                continue
            try:
                media._wire_out(session, id(session) in flagged)
            except Exception as exc:
                self._drop(media, exc)

    def _post(self, fn: Callable[..., object], *args: object) -> None:
        """Run ``fn(*args)`` on the event loop (from the media thread): queued, and handed
        over with the rest of the tick's posts in one ``call_soon_threadsafe`` at its end
        (#19: each hand-over writes to the loop's wake-up pipe, a system call that gives up
        the GIL; 300 calls ending or reaching a page in the same tick were 300)."""
        self._posts.append((fn, args))

    def _flush_posts(self) -> None:
        posts = self._posts
        if posts:
            self._posts = []
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody to tell
                self._loop.call_soon_threadsafe(_run_posts, posts)

    def _start(self) -> None:
        _clock().schedule(self)

    # -- on the clock's thread ------------------------------------------------------------

    def _due(self) -> float:
        return self._start_at + self._ticks * PERIOD

    def _run_due(self, now: float) -> bool:
        """The tick due now (``now`` is at or after it), on the clock's thread; False
        once no media is left (the clock drops this Ticker until the next :meth:`add`)."""
        due = self._due()
        cpu = time.thread_time()
        try:
            busy = self._step_all(now - due)
        except Exception:  # not a call's: keep the media of the others running
            _log.exception("SIP media tick failed")
            busy = True
        finally:
            self._flush_posts()
        self.tick_cpu += time.thread_time() - cpu
        self.last_wall = time.monotonic() - now
        self.tick_wall += self.last_wall
        self._ticks += 1
        # Catch up without bursting: if far behind, restart the schedule from now.
        if now - due > 10 * PERIOD:
            self._start_at = now - self._ticks * PERIOD
        return busy

    def close(self) -> None:
        self._stopping = True
        _clock().unschedule(self)
        with self._lock:
            for media in list(self._media):
                self._media.pop(media, None)
                self._unwatch(media.ports.rtp)
                self._unwatch(media.ports.udptl)
            for sock in list(self._sockets.values()):
                self._unwatch(sock)
            self._poll.close()
        for batch in (self._rtp, self._t38):
            if batch is not None:
                batch.close()  # its second thread, if it started one (none ticks now)


def _run_posts(posts: list[tuple[Callable[..., object], tuple[object, ...]]]) -> None:
    """(On the loop.) One tick's posts, in order; one that fails does not stop the rest."""
    for fn, args in posts:
        try:
            fn(*args)
        except Exception:
            _log.exception("handling a SIP media report failed")


class _Clock:
    """The process's media thread: runs each scheduled Ticker's ticks at its own due
    times, the earliest due first (one thread for every SIP account: see :class:`Ticker`).

    A Ticker is scheduled by its first :meth:`Ticker.add` after being idle (its schedule
    starts then), and dropped when a tick finds it without media or when it closes. The
    thread starts with the first Ticker and then waits for work for the process's life
    (a daemon thread: it holds nothing).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._tickers: dict[Ticker, None] = {}
        #: The Ticker whose tick runs now (close waits for it to end).
        self._running: Ticker | None = None
        self._thread: threading.Thread | None = None

    def schedule(self, ticker: Ticker) -> None:
        with self._cond:
            if ticker._stopping:
                return
            if not ticker._scheduled:
                ticker._scheduled = True
                ticker._start_at, ticker._ticks = time.monotonic(), 0
                self._tickers[ticker] = None
            if self._thread is None:
                if sys.getswitchinterval() > SWITCH_INTERVAL:
                    sys.setswitchinterval(SWITCH_INTERVAL)
                self._thread = threading.Thread(
                    target=self._run, name="lanfax-sip-media", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def unschedule(self, ticker: Ticker) -> None:
        """Drop ``ticker``; once this returns, none of its ticks runs (from another thread
        than the clock's, it waits for one that is running to end)."""
        with self._cond:
            self._tickers.pop(ticker, None)
            ticker._scheduled = False
            if threading.current_thread() is not self._thread:
                deadline = time.monotonic() + 5.0
                while self._running is ticker and time.monotonic() < deadline:
                    self._cond.wait(0.5)

    def _run(self) -> None:
        clock = time.monotonic  # the event loop's clock too
        cond = self._cond
        # #19: while calls are in media this thread runs the process's garbage collections,
        # right after its ticks (see .collector); the automatic ones are back when idle.
        collector = media_collector()
        # #19: and runs real-time, with the loops it serves, while calls are in media and
        # the process may (see lanfax.engine.realtime); normal again when idle.
        rt = realtime()
        while True:
            with cond:
                self._running = None
                cond.notify_all()  # a close waiting for the tick that just ended
                if not self._tickers:
                    collector.release()
                    rt.release()
                    cond.wait()
                    continue
                ticker = min(self._tickers, key=Ticker._due)
                now = clock()
                delay = ticker._due() - now
                if delay > 0:
                    cond.wait(delay)  # or less: a Ticker scheduled meanwhile
                    continue
                self._running = ticker
            collector.hold()
            loop = ticker._loop_thread if ticker.realtime and rt.hold() else 0
            if loop and not rt.raise_loop(loop):
                loop = 0
            try:
                busy = ticker._run_due(now)
            finally:
                if loop:
                    rt.lower_loop(loop)
            with cond:
                # Unless a call was added since the tick looked (its schedule() came or
                # will come after this, under the same condition).
                if not busy and not ticker._media and self._tickers.pop(ticker, 0) is None:
                    ticker._scheduled = False
                # Until the first of the ticks due next would count as late.
                ahead = [(t._due(), t.last_wall) for t in self._tickers]
            if ahead:
                collector.after_tick(room_before_late(ahead, clock()))


def room_before_late(ticks: list[tuple[float, float]], now: float) -> float:
    """How long the media thread may do something else from ``now`` before one of the ticks
    due next would start late (more than a period after it is due): ``ticks`` are each
    Ticker's (due time, last tick's wall time). The ticks run one after another in the order
    they are due, so each one's room is shortened by the ticks that run before it (#19: the
    G.711 and the T.38 Ticker; a collection that fitted before the first tick alone made the
    second, ~4 ms behind it at 300 calls, start 21 ms late)."""
    room = float("inf")
    before = 0.0
    for due, wall in sorted(ticks):
        room = min(room, due + PERIOD - now - before)
        before += wall
    return room


_the_clock: _Clock | None = None
_clock_lock = threading.Lock()


def _clock() -> _Clock:
    global _the_clock
    with _clock_lock:
        if _the_clock is None:
            _the_clock = _Clock()
        return _the_clock


def _fail(media: FaxMedia, exc: Exception) -> None:
    if not media.done.done():
        media.done.set_exception(exc)
