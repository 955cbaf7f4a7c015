"""A person answering the phone: speech-like audio, never a fax tone, never T.30.

The signal is a voiced sound (a pitch of 110-150 Hz with its harmonics, shaped by three
formant bands) in syllable bursts of about 200 ms, with pauses between phrases. It keeps its
energy between 200 and 3400 Hz like speech and stays clear of the single tones fax machines
listen for (CNG 1100 Hz, CED 2100 Hz) because it is harmonic-rich and keeps moving. It is
deterministic for a given seed.

The same class serves T.38 mode, where a voice answer sends no IFP packets at all.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

from lanfax.engine.events import SessionEvent

__all__ = ["VoiceEnd"]

_RATE = 8000
_FORMANTS = ((500.0, 120.0), (1500.0, 200.0), (2500.0, 300.0))
_LEVEL = 6000.0  # peaks near -15 dBm0, a normal talker


class VoiceEnd:
    """An end of a call that talks and listens but never speaks T.30.

    It is ``done`` only once terminated (a person does not hang up on a fax machine that
    keeps quiet; the fax machine hangs up when T.30 gives up).
    """

    def __init__(self, seed: int = 0) -> None:
        self._rng = np.random.default_rng(seed)
        self._t = 0  # samples produced
        self._phase = 0.0
        self._done = False
        self.heard_samples = 0

    @property
    def done(self) -> bool:
        return self._done

    def events(self) -> Iterable[SessionEvent]:
        return ()

    def terminate(self) -> None:
        self._done = True

    def close(self) -> None:
        self._done = True

    # -- audio ----------------------------------------------------------------------------

    def tx(self, n: int) -> NDArray[np.int16]:
        t = (self._t + np.arange(n)) / _RATE
        self._t += n
        # Pitch drifts slowly like intonation; integrate it for a continuous phase.
        f0 = 130.0 + 20.0 * np.sin(2 * np.pi * 0.7 * t)
        phase = self._phase + np.cumsum(2 * np.pi * f0 / _RATE)
        self._phase = float(phase[-1] % (2 * np.pi))
        out = np.zeros(n)
        for k in range(1, 27):  # harmonics up to about 3.4 kHz
            freq = k * f0
            gain = sum(np.exp(-0.5 * ((freq - centre) / width) ** 2) for centre, width in _FORMANTS)
            out += gain * np.sin(k * phase) / k**0.5
        # Syllables at about 4 per second, phrases of 2 s with a 1 s pause.
        syllable = np.clip(np.sin(2 * np.pi * 4.0 * t), 0.0, None) ** 0.5
        phrase = ((t % 3.0) < 2.0).astype(float)
        out *= syllable * phrase
        out *= _LEVEL / 2.5  # the harmonic sum peaks near 2.5; a fixed scale keeps level steady
        # A little breath noise so silence is not digital zero.
        out += self._rng.normal(0.0, 20.0, n)
        return np.clip(out, -32768, 32767).astype(np.int16)

    def rx(self, samples: NDArray[np.int16]) -> None:
        self.heard_samples += len(samples)

    # -- T.38 -----------------------------------------------------------------------------

    def tick(self, samples: int) -> list[tuple[int, bytes]]:
        self._t += samples
        return []

    def receive(self, seq: int, packet: bytes) -> None:
        return None
