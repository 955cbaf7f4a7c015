"""The documents room's public functions, as the service calls them.

``lanfax.documents`` has submodules named like two of its functions (``convert``,
``identify``); once such a submodule is imported, Python rebinds the package attribute to
the module, so ``documents.convert(...)`` stops working in a long-lived process. Until that is
fixed there, this module hands out the function whichever way the attribute is bound.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lanfax import documents
from lanfax.documents.types import ConversionLimits, ConversionResult


def _function(name: str) -> Any:
    obj = getattr(documents, name)
    if isinstance(obj, types.ModuleType):
        obj = getattr(obj, name)
    return obj


def convert(inputs: Sequence[Path], out: Path, *, resolution: str = "fine") -> ConversionResult:
    # Every keyword is given: the submodule's function has no defaults.
    result: ConversionResult = _function("convert")(
        [Path(p) for p in inputs],
        Path(out),
        resolution=resolution,
        compression="mr",
        limits=ConversionLimits(),
        header=None,
    )
    return result


def is_fax_ready(path: Path) -> ConversionResult | None:
    result: ConversionResult | None = _function("is_fax_ready")(Path(path))
    return result


def first_page(path: Path) -> tuple[bytes, int, int]:
    result: tuple[bytes, int, int] = _function("first_page")(Path(path))
    return result
