"""The lanfax client: :class:`Client` (blocking, standard library only) and
:class:`AsyncClient` (asyncio, over httpx), sharing one set of models and errors.

``import lanfax.client`` is cheap: httpx is imported only when ``AsyncClient`` is first used.

    from lanfax.client import Client
    with Client() as fax:                      # LANFAX_SERVER or http://127.0.0.1:8470
        [job] = fax.send("letter.pdf", to="101")
        fax.wait([job.job_id], timeout=120)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lanfax.client._core import Broadcast, JobPage, ServerInfo
from lanfax.client._handles import AsyncPortHandle, PortHandle, WaitTimeout
from lanfax.client._sync import Client
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

if TYPE_CHECKING:
    from lanfax.client._async import AsyncClient

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


def __getattr__(name: str) -> Any:
    if name == "AsyncClient":
        from lanfax.client._async import AsyncClient

        return AsyncClient
    raise AttributeError(f"module 'lanfax.client' has no attribute {name!r}")
