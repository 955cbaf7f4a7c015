"""Fax audio on a connected IAX2 call: spandsp's audio terminal, paced like a real line.

A real line (and iaxmodem, which keeps its audio 1:1 with what it receives) wants one 20 ms
frame per 20 ms. :class:`VoicePump` sends frame k at ``start + k * 20 ms`` of the event loop's
monotonic clock, scheduled by absolute deadline so that a late frame does not push the
following ones back; when the loop falls a whole frame behind, the missed frames go out back
to back and :attr:`VoicePump.late_frames` counts them (they are in the call statistics).

Received voice goes to the session as it arrives. If the far end goes quiet (it hung up, or
the network lost frames), silence is fed so that spandsp's T.30 timers, which run on received
samples, keep running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from lanfax.engine import g711
from lanfax.engine.events import PageDone, PhaseB, SessionEvent
from lanfax.engine.session import AudioFaxSession
from lanfax.engine.watchdog import Watchdog
from lanfax.providers.iax2.frames import MediaFormat

__all__ = ["FRAME_SAMPLES", "VoicePump", "decode_voice", "encode_voice"]

SAMPLE_RATE = 8000
FRAME_SAMPLES = 160
PERIOD = FRAME_SAMPLES / SAMPLE_RATE
#: How far received audio may fall behind what we sent before silence fills the gap.
RX_SLACK_SAMPLES = 10 * FRAME_SAMPLES


def encode_voice(samples: NDArray[np.int16], media_format: int) -> bytes:
    """int16 samples as the payload of a voice frame (slinear is 16-bit big-endian)."""
    if media_format == MediaFormat.SLINEAR:
        return samples.astype(">i2").tobytes()
    if media_format == MediaFormat.ULAW:
        return g711.encode(samples, "ulaw").tobytes()
    if media_format == MediaFormat.ALAW:
        return g711.encode(samples, "alaw").tobytes()
    raise ValueError(f"unsupported voice format {media_format:#x}")


def decode_voice(payload: bytes, media_format: int) -> NDArray[np.int16]:
    """A voice frame's payload as int16 samples (a writable copy)."""
    if media_format == MediaFormat.SLINEAR:
        usable = len(payload) - len(payload) % 2
        return np.frombuffer(payload[:usable], dtype=">i2").astype(np.int16)
    if media_format == MediaFormat.ULAW:
        return np.array(g711.decode(payload, "ulaw"), dtype=np.int16)
    if media_format == MediaFormat.ALAW:
        return np.array(g711.decode(payload, "alaw"), dtype=np.int16)
    raise ValueError(f"unsupported voice format {media_format:#x}")


class VoicePump:
    """Runs one :class:`AudioFaxSession` over a call in real time.

    ``send_frame(payload)`` puts one voice frame on the wire; ``report(event)`` gets the
    session's PhaseB/PageDone events. :attr:`done` resolves when the session reached phase E.
    """

    def __init__(
        self,
        session: AudioFaxSession,
        media_format: int,
        send_frame: Callable[[bytes], None],
        report: Callable[[SessionEvent], None],
        loop: asyncio.AbstractEventLoop,
        watchdog: Watchdog,
    ) -> None:
        self.session = session
        self.media_format = media_format
        self._send_frame = send_frame
        self._report = report
        self._loop = loop
        self._watchdog = watchdog
        self._start = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self.frames_sent = 0
        self.frames_received = 0
        self.late_frames = 0
        self.max_late_ms = 0.0
        self.silence_filled = 0
        self.bad_frames = 0
        self._rx_samples = 0
        self.done: asyncio.Future[None] = loop.create_future()

    def start(self) -> None:
        self._start = self._loop.time()
        self._schedule()

    def _schedule(self) -> None:
        self._handle = self._loop.call_at(self._start + self.frames_sent * PERIOD, self._tick)

    def _tick(self) -> None:
        try:
            now = self._loop.time()
            lateness = now - (self._start + self.frames_sent * PERIOD)
            self.max_late_ms = max(self.max_late_ms, lateness * 1000.0)
            while True:
                self._one_frame()
                if self._finished():
                    return
                if self._start + self.frames_sent * PERIOD > now:
                    break
                self.late_frames += 1  # its time has passed already: catch up
            self._schedule()
        except Exception as exc:  # an engine failure must reach the awaiting call
            if not self.done.done():
                self.done.set_exception(exc)

    def _one_frame(self) -> None:
        samples = self.session.tx(FRAME_SAMPLES)
        self._send_frame(encode_voice(samples, self.media_format))
        self.frames_sent += 1
        sent = self.frames_sent * FRAME_SAMPLES
        if sent - self._rx_samples > RX_SLACK_SAMPLES:
            # Nothing heard for a while: keep the far side's clock (T.30 timers) running.
            gap = sent - self._rx_samples - FRAME_SAMPLES
            self.session.rx(np.zeros(gap, dtype=np.int16))
            self._rx_samples += gap
            self.silence_filled += gap // FRAME_SAMPLES
        self._drain()

    def audio(self, payload: bytes, media_format: int) -> None:
        """Voice from the far end (any time, on the event loop)."""
        if self.session.done or self.done.done():
            return
        try:
            samples = decode_voice(payload, media_format)
        except ValueError:
            self.bad_frames += 1
            return
        self.frames_received += 1
        self._rx_samples += len(samples)
        self.session.rx(samples)
        self._drain()
        self._finished()

    def _drain(self) -> None:
        for ev in self.session.events():
            if isinstance(ev, PhaseB | PageDone):
                self._report(ev)
        self._watchdog.check(self.session)

    def _finished(self) -> bool:
        if self.session.done:
            for ev in self.session.events():
                if isinstance(ev, PhaseB | PageDone):
                    self._report(ev)
            if self._handle is not None:
                self._handle.cancel()
            if not self.done.done():
                self.done.set_result(None)
            return True
        return False

    def hang_up(self, settle_samples: int = SAMPLE_RATE) -> None:
        """The line is gone: give T.30 up to ``settle_samples`` of silence to finish what
        it heard (a DCN just before the hangup), then terminate it."""
        if not self.session.done:
            self.session.rx(np.zeros(settle_samples, dtype=np.int16))
            self._drain()
        if not self.session.done:
            self.session.terminate()
        self._finished()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        if not self.done.done():
            self.done.cancel()

    def stats(self) -> dict[str, Any]:
        return {
            "frames_sent": self.frames_sent,
            "frames_received": self.frames_received,
            "late_frames": self.late_frames,
            "max_late_ms": round(self.max_late_ms, 2),
            "silence_filled_frames": self.silence_filled,
            "bad_frames": self.bad_frames,
        }
