"""The documents room's public functions, as the service calls them (with the service's
defaults: MR compression, no header drawn by the converter)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lanfax import documents
from lanfax.documents.types import ConversionLimits, ConversionResult


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
