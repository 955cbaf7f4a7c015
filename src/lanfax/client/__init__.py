"""The lanfax client: :class:`Client` (blocking, standard library only) and
:class:`AsyncClient` (asyncio, over httpx), sharing one set of models and errors.

``import lanfax.client`` is cheap: every name but the errors is imported when first used
(``Client`` on its first mention, httpx only with ``AsyncClient``), so that ``lanfax send``,
which needs only ``lanfax.client._base``, ``_http`` and ``_multipart``, loads nothing else.

    from lanfax.client import Client
    with Client() as fax:                      # LANFAX_SERVER or http://127.0.0.1:8470
        [job] = fax.send("letter.pdf", to="101")
        fax.wait([job.job_id], timeout=120)
"""

from __future__ import annotations

import sys

from lanfax.model.errors import (
    AccessDenied,
    ConfigError,
    Conflict,
    DocumentError,
    FaxError,
    InvalidInput,
    NotFound,
    Unavailable,
)

TYPE_CHECKING = False  # typing costs `lanfax send` ~1 ms to import; mypy reads these
if TYPE_CHECKING:
    from typing import Any

    from lanfax.client._async import AsyncClient
    from lanfax.client._core import Broadcast, JobPage, ServerInfo
    from lanfax.client._handles import AsyncPortHandle, PortHandle, WaitTimeout
    from lanfax.client._sync import Client

__all__ = [
    "AccessDenied",
    "AsyncClient",
    "AsyncPortHandle",
    "Broadcast",
    "Client",
    "ConfigError",
    "Conflict",
    "DocumentError",
    "FaxError",
    "InvalidInput",
    "JobPage",
    "NotFound",
    "PortHandle",
    "ServerInfo",
    "Unavailable",
    "WaitTimeout",
]

#: Where each lazily imported name lives.
_WHERE = {
    "AsyncClient": "lanfax.client._async",
    "Broadcast": "lanfax.client._core",
    "JobPage": "lanfax.client._core",
    "ServerInfo": "lanfax.client._core",
    "AsyncPortHandle": "lanfax.client._handles",
    "PortHandle": "lanfax.client._handles",
    "WaitTimeout": "lanfax.client._handles",
    "Client": "lanfax.client._sync",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'lanfax.client' has no attribute {name!r}")
    __import__(where)  # (not importlib.import_module: -X importtime would not see it)
    value = getattr(sys.modules[where], name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
