"""Two sessions back to back in memory: the engine's own test bench and benchmark loop.

Audio pairs exchange PCM (optionally through G.711 companding and white noise); T.38 pairs
exchange IFP packets. A line can be "dropped" after the receiver has stored N pages: from then
on both ends hear only silence (or noise) / no packets, like a line cut mid-call, and each side
ends through its own T.30 timers (or the watchdog).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lanfax.engine import g711
from lanfax.engine.events import PageDone, SessionEvent, SessionResult
from lanfax.engine.line import NOMINAL_SIGNAL_RMS, Int16Array, add_noise, attenuate
from lanfax.engine.session import SAMPLE_RATE, AudioFaxSession, FaxSession, T38FaxSession
from lanfax.engine.watchdog import Watchdog
from lanfax.model.errors import EngineError, InvalidInput

#: Steps allowed after a watchdog termination for phase E to arrive.
_GRACE_STEPS = 500


@dataclass
class LoopbackResult:
    """Both results, every event each side reported, and what the line did."""

    sender: SessionResult
    receiver: SessionResult
    sender_events: list[SessionEvent] = field(default_factory=list)
    receiver_events: list[SessionEvent] = field(default_factory=list)
    steps: int = 0
    line_seconds: float = 0.0
    #: Line time at which the line was dropped (None if it was not).
    dropped_at: float | None = None
    #: Why the watchdog ended a side, if it did.
    watchdog: str | None = None
    packets: tuple[int, int] = (0, 0)


def _impair(
    x: Int16Array,
    codec: str | None,
    snr_db: float | None,
    loss_db: float,
    rng: np.random.Generator,
    dead: bool,
) -> Int16Array:
    if dead:
        x = np.zeros_like(x)
    elif loss_db:
        x = attenuate(x, loss_db)
    if snr_db is not None:
        x = add_noise(x, snr_db, rng, signal_rms=NOMINAL_SIGNAL_RMS * 10.0 ** (-loss_db / 20.0))
    if codec is not None:
        x = g711.roundtrip(x, codec)
    return x


def run_loopback(
    sender: FaxSession,
    receiver: FaxSession,
    *,
    step: int = 160,
    max_line_seconds: float = 600.0,
    codec: str | None = None,
    snr_db: float | None = None,
    loss_db: float = 0.0,
    drop_after_pages: int | None = None,
    seed: int = 0,
) -> LoopbackResult:
    """Run ``sender`` against ``receiver`` until both reach phase E; return both results.

    * ``step``: samples per iteration (160 = 20 ms). T.38 in paced mode needs <= 240.
    * ``max_line_seconds``: a :class:`Watchdog` terminates a side that runs longer.
    * ``codec``: "ulaw" / "alaw" companding on both directions (audio only).
    * ``snr_db``: white noise at this SNR on both directions (audio only), relative to the
      nominal signal level after ``loss_db``.
    * ``loss_db``: line attenuation (audio only). spandsp's signal detectors react to the
      absolute noise level: with no loss, noise at 30 dB SNR (RMS about 100) already keeps
      V.21 from being heard, while 10 dB loss + 25 dB SNR works. A "noisy line" that should
      still carry faxes is therefore modelled as ``loss_db=10, snr_db=30``.
    * ``drop_after_pages``: cut the line once the receiver has stored this many pages.

    The sessions are not closed. Raises :class:`EngineError` if a side never ends even after
    the watchdog (which would be a spandsp bug).
    """
    audio = isinstance(sender, AudioFaxSession) and isinstance(receiver, AudioFaxSession)
    t38 = isinstance(sender, T38FaxSession) and isinstance(receiver, T38FaxSession)
    if not (audio or t38):
        raise InvalidInput(
            "run_loopback needs two AudioFaxSession or two T38FaxSession objects",
            hint="audio and T.38 sessions cannot talk to each other without a gateway",
        )
    if step <= 0:
        raise InvalidInput(f"step must be positive, got {step}")
    if t38 and (codec is not None or snr_db is not None or loss_db):
        raise InvalidInput("codec, snr_db and loss_db apply to audio sessions only")
    if codec is not None:
        g711.encode(np.zeros(1, np.int16), codec)  # validates the name early

    rng = np.random.default_rng(seed)
    dogs = (Watchdog(max_line_seconds), Watchdog(max_line_seconds))
    # The watchdog only needs a look once its limit can have been reached.
    dog_at = max(1, math.ceil(max_line_seconds * SAMPLE_RATE / step))
    result = LoopbackResult(sender=None, receiver=None)  # type: ignore[arg-type]
    impaired = codec is not None or snr_db is not None or bool(loss_db)
    dead = False
    grace = 0
    n_ab = n_ba = 0
    steps = 0
    # The hot loop talks to spandsp directly through the sessions' own states and C buffers
    # (same package): the public tx()/rx() allocate numpy arrays per call, which would cost
    # as much as the modems themselves. Events and bookkeeping go through the same paths.
    # With the compiled helper, the steps up to the next event are one C call.
    lib, ffi = sender._lib, sender._ffi
    compiled = sender._compiled
    sa, sb = sender._state, receiver._state
    buf_a = ffi.new("int16_t[]", step)
    buf_b = ffi.new("int16_t[]", step)
    zeros = ffi.new("int16_t[]", step)
    counts = ffi.new("long long[2]")
    fax_tx, fax_rx = lib.fax_tx, lib.fax_rx
    send_timeout, rx_ifp = lib.t38_terminal_send_timeout, lib.t38_core_rx_ifp_packet
    core_a = getattr(sender, "_core", None)
    core_b = getattr(receiver, "_core", None)
    # The records the callbacks fill (events, errors): one look covers both.
    cs_a, cs_b = sender._cs, receiver._cs
    out_a, out_b = sender._out, receiver._out
    ev_a, ev_b = sender._events, receiver._events
    # Line time is kept as a step count here and written to the sessions only when
    # something reads it (events, watchdog, the end): base + steps * step in every mode.
    base_a, base_b = sender._samples, receiver._samples
    fast_audio = audio and not impaired
    running = sender.result is None or receiver.result is None
    while running:
        if compiled and (fast_audio or t38):
            limit = dog_at - steps if steps < dog_at else 1
            if fast_audio:
                steps += lib.lf_run_audio(sa, sb, cs_a, cs_b, buf_a, buf_b, step, limit) - 1
            else:
                deliver = 0 if dead else 1
                steps += lib.lf_run_t38(sa, sb, cs_a, cs_b, step, limit, deliver, counts) - 1
        elif fast_audio:
            # Both ends transmit on idle, so fax_tx fills the step; pad if it ever does not.
            got = fax_tx(sa, buf_a, step)
            if got < step:
                ffi.memmove(buf_a + got, zeros, (step - got) * 2)
            got = fax_tx(sb, buf_b, step)
            if got < step:
                ffi.memmove(buf_b + got, zeros, (step - got) * 2)
            fax_rx(sb, buf_a, step)
            fax_rx(sa, buf_b, step)
        elif audio:
            assert isinstance(sender, AudioFaxSession) and isinstance(receiver, AudioFaxSession)
            a_out = sender.tx(step)
            b_out = receiver.tx(step)
            receiver.rx(_impair(a_out, codec, snr_db, loss_db, rng, dead))
            sender.rx(_impair(b_out, codec, snr_db, loss_db, rng, dead))
        else:
            send_timeout(sa, step)
            send_timeout(sb, step)
            if out_a:
                a_pk = out_a[:]
                out_a.clear()
                if not dead:
                    n_ab += len(a_pk)
                    for seq, pkt in a_pk:
                        rx_ifp(core_b, pkt, len(pkt), seq)
            if out_b:
                b_pk = out_b[:]
                out_b.clear()
                if not dead:
                    n_ba += len(b_pk)
                    for seq, pkt in b_pk:
                        rx_ifp(core_a, pkt, len(pkt), seq)
        steps += 1
        if cs_a.n_ev or cs_b.n_ev or cs_a.error or cs_b.error or steps >= dog_at:
            sender._samples = base_a + steps * step
            receiver._samples = base_b + steps * step
            if cs_a.n_ev or cs_a.error:
                sender._after()
            if cs_b.n_ev or cs_b.error:
                receiver._after()
            if ev_a:
                result.sender_events.extend(ev_a)
                ev_a.clear()
            if ev_b:
                new_rx = ev_b[:]
                ev_b.clear()
                result.receiver_events.extend(new_rx)
                if drop_after_pages is not None and not dead:
                    stored = [e.page for e in new_rx if isinstance(e, PageDone)]
                    if stored and max(stored) >= drop_after_pages:
                        dead = True
                        fast_audio = False  # silence from now on: the general path
                        result.dropped_at = receiver.line_seconds
            if steps >= dog_at:
                for dog, session in zip(dogs, (sender, receiver), strict=True):
                    if dog.check(session):
                        result.watchdog = dog.fired
                if dogs[0].fired or dogs[1].fired:
                    grace += 1
                    if grace > _GRACE_STEPS:
                        raise EngineError("a fax session did not end after t30_terminate()")
            running = sender.result is None or receiver.result is None
    sender._samples = base_a + steps * step
    receiver._samples = base_b + steps * step
    result.steps = steps
    result.sender_events.extend(sender.events())
    result.receiver_events.extend(receiver.events())
    assert sender.result is not None and receiver.result is not None
    result.sender = sender.result
    result.receiver = receiver.result
    result.line_seconds = max(sender.line_seconds, receiver.line_seconds)
    result.packets = (n_ab + counts[0], n_ba + counts[1])
    return result


def advance(a: FaxSession, b: FaxSession, steps: int, *, step: int = 160) -> int:
    """Run two sessions of the same kind back to back for ``steps`` steps (fewer if both
    reach phase E), unpaced, with no impairment; returns the steps run. Their events stay
    queued for ``events()``. For starting calls at a chosen point (benchmarks, tests)."""
    audio = isinstance(a, AudioFaxSession) and isinstance(b, AudioFaxSession)
    t38 = isinstance(a, T38FaxSession) and isinstance(b, T38FaxSession)
    if not (audio or t38):
        raise InvalidInput("advance needs two AudioFaxSession or two T38FaxSession objects")
    done = 0
    if a._compiled and b._compiled:
        ffi, lib = a._ffi, a._lib
        buf_a = ffi.new("int16_t[]", step)
        buf_b = ffi.new("int16_t[]", step)
        counts = ffi.new("long long[2]")
        while done < steps and not (a.done and b.done):
            if audio:
                done += lib.lf_run_audio(
                    a._state, b._state, a._cs, b._cs, buf_a, buf_b, step, steps - done
                )
            else:
                done += lib.lf_run_t38(
                    a._state, b._state, a._cs, b._cs, step, steps - done, 1, counts
                )
            for s in (a, b):
                if s._cs.n_ev or s._cs.error:
                    s._after()
        return done
    while done < steps and not (a.done and b.done):
        if isinstance(a, AudioFaxSession) and isinstance(b, AudioFaxSession):
            x, y = a.tx(step), b.tx(step)
            b.rx(x)
            a.rx(y)
        else:
            assert isinstance(a, T38FaxSession) and isinstance(b, T38FaxSession)
            to_b, to_a = a.tick(step), b.tick(step)
            for seq, pkt in to_b:
                b.receive(seq, pkt)
            for seq, pkt in to_a:
                a.receive(seq, pkt)
        done += 1
    return done
