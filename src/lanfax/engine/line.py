"""Line impairments for virtual telephone lines: white noise at a given SNR."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Int16Array = npt.NDArray[np.int16]

#: The RMS level of spandsp's fax modem output (measured: about 3200 for V.17 and V.21).
#: SNR is relative to this fixed level, not to each block, so the noise is present at the
#: same power during silences too, as on a real line.
NOMINAL_SIGNAL_RMS = 3200.0


def noise_rms(snr_db: float, signal_rms: float = NOMINAL_SIGNAL_RMS) -> float:
    """The RMS of white noise that gives ``snr_db`` against ``signal_rms``."""
    return float(signal_rms / (10.0 ** (snr_db / 20.0)))


def add_noise(
    samples: npt.ArrayLike,
    snr_db: float,
    rng: np.random.Generator,
    *,
    signal_rms: float = NOMINAL_SIGNAL_RMS,
) -> npt.NDArray[np.int16]:
    """``samples`` plus Gaussian white noise at ``snr_db`` (saturating to int16).

    Deterministic for a seeded ``rng``. Returns a new array; the input is not modified.
    """
    x = np.asarray(samples, dtype=np.float64)
    noisy = x + rng.normal(0.0, noise_rms(snr_db, signal_rms), size=x.shape)
    return np.clip(np.rint(noisy), -32768, 32767).astype(np.int16)


def attenuate(samples: npt.ArrayLike, loss_db: float) -> Int16Array:
    """``samples`` scaled down by ``loss_db`` (line loss)."""
    x: npt.NDArray[np.float64] = np.asarray(samples, dtype=np.float64)
    out: Int16Array = np.rint(x * (10.0 ** (-loss_db / 20.0))).astype(np.int16)
    return out
