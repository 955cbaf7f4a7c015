"""The documents room's public functions, as the service calls them (with the service's
defaults: MR compression, no header drawn by the converter), and how the service's process
pool of conversions uses the machine (:func:`pool_limits`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from lanfax import documents
from lanfax.documents.types import ConversionLimits, ConversionResult


def pool_limits(limits: ConversionLimits, workers: int) -> ConversionLimits:
    """``limits`` for conversions run by a pool of ``workers`` processes.

    One conversion overlaps rendering and encoding on two threads (``ConversionLimits.threads``
    = 2), which nearly doubles its speed when it has the machine to itself. A pool of more than
    one worker already keeps about one conversion per core busy, and a second thread in each
    would only compete with the other workers for the cores, so there each conversion runs on
    one thread. A pool of one keeps the overlap.
    """
    if workers > 1 and limits.threads != 1:
        return dataclasses.replace(limits, threads=1)
    return limits


def convert(
    inputs: Sequence[Path],
    out: Path,
    *,
    resolution: str = "fine",
    limits: ConversionLimits | None = None,
) -> ConversionResult:
    return documents.convert(
        [Path(p) for p in inputs],
        Path(out),
        resolution=resolution,
        compression="mr",
        limits=limits or ConversionLimits(),
    )


def is_fax_ready(path: Path) -> ConversionResult | None:
    return documents.is_fax_ready(Path(path))


def first_page(path: Path) -> tuple[bytes, int, int]:
    return documents.first_page(Path(path))
