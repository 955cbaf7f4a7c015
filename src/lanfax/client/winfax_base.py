"""What every winfax function shares (split out of ``client/winfax.py``, which re-exports
these names): the one error convention (a :class:`~lanfax.model.errors.FaxError` carrying
``winerror``, :func:`GetLastError` per thread, both set by :func:`_api`) and the handles
(:class:`FaxServerHandle`, :class:`FaxPortHandle`) with their checks."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from lanfax.client._handles import PortHandle, WaitTimeout
from lanfax.client._sync import Client
from lanfax.client.winfax_types import (
    ERROR_ACCESS_DENIED,
    ERROR_GEN_FAILURE,
    ERROR_INVALID_HANDLE,
    ERROR_INVALID_OPERATION,
    ERROR_INVALID_PARAMETER,
    ERROR_NOT_FOUND,
    ERROR_NOT_SUPPORTED,
    ERROR_TIMEOUT,
    RPC_S_SERVER_UNAVAILABLE,
)
from lanfax.model.errors import (
    AccessDenied,
    Conflict,
    FaxError,
    InvalidInput,
    NotFound,
    Unauthenticated,
    Unavailable,
)

__all__ = [
    "FaxPortHandle",
    "FaxServerHandle",
    "GetLastError",
    "winerror_of",
]

P = ParamSpec("P")
R = TypeVar("R")
_last_error = threading.local()


def GetLastError() -> int:
    """The Windows error number of this thread's last failed winfax call (0 after success)."""
    return int(getattr(_last_error, "value", 0))


def winerror_of(exc: FaxError) -> int:
    """The Windows error number for a lanfax error."""
    explicit = getattr(exc, "winerror", None)
    if isinstance(explicit, int):
        return explicit
    if exc.detail.get("unsupported"):
        return ERROR_NOT_SUPPORTED
    for cls, number in (
        (AccessDenied, ERROR_ACCESS_DENIED),
        (Unauthenticated, ERROR_ACCESS_DENIED),
        (InvalidInput, ERROR_INVALID_PARAMETER),
        (NotFound, ERROR_NOT_FOUND),
        (Conflict, ERROR_INVALID_OPERATION),
        (WaitTimeout, ERROR_TIMEOUT),
        (Unavailable, RPC_S_SERVER_UNAVAILABLE),
    ):
        if isinstance(exc, cls):
            return number
    return ERROR_GEN_FAILURE


def _api(fn: Callable[P, R]) -> Callable[P, R]:
    """Record the outcome for GetLastError and attach ``winerror`` to a FaxError."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            result = fn(*args, **kwargs)
        except FaxError as exc:
            exc.winerror = winerror_of(exc)  # type: ignore[attr-defined]
            _last_error.value = exc.winerror  # type: ignore[attr-defined]
            raise
        _last_error.value = 0
        return result

    return wrapper


def _fail(cls: type[FaxError], message: str, hint: str, winerror: int) -> FaxError:
    exc = cls(message, hint=hint)
    exc.winerror = winerror  # type: ignore[attr-defined]
    return exc


# -- handles --------------------------------------------------------------------------------------
class FaxServerHandle:
    """What FaxConnectFaxServer returns: a connection to one lanfax server."""

    def __init__(self, machine: str | None) -> None:
        self.machine = machine or ""
        self.client = Client(_server_url(machine))
        self.closed = False
        self.ports: set[FaxPortHandle] = set()
        self.event_thread: threading.Thread | None = None
        self.event_stop = threading.Event()

    def __repr__(self) -> str:
        return f"<FaxServerHandle {self.client.base_url}{' closed' if self.closed else ''}>"


class FaxPortHandle:
    """What FaxOpenPort returns: a query or modify handle on one device."""

    def __init__(self, server: FaxServerHandle, handle: PortHandle) -> None:
        self.server = server
        self.handle = handle
        self.DeviceId = handle.device_id
        self.closed = False


def _server_url(machine: str | None) -> str | None:
    """None: LANFAX_SERVER or the default; ``host``/``\\\\host``: http://host:8470; a URL."""
    if not machine:
        return None
    name = machine.strip().lstrip("\\").split("\\")[0]
    if "://" in name or ":" in name:
        return name
    return f"http://{name}:8470"


def _server(handle: Any) -> FaxServerHandle:
    if isinstance(handle, FaxPortHandle):
        handle = handle.server
    if not isinstance(handle, FaxServerHandle) or handle.closed:
        raise _fail(
            InvalidInput,
            f"{handle!r} is not an open fax server handle",
            "use a handle from FaxConnectFaxServer that FaxClose has not closed",
            ERROR_INVALID_HANDLE,
        )
    return handle


def _port(handle: Any) -> FaxPortHandle:
    if not isinstance(handle, FaxPortHandle) or handle.closed or handle.server.closed:
        raise _fail(
            InvalidInput,
            f"{handle!r} is not an open fax port handle",
            "use a handle from FaxOpenPort that FaxClose has not closed",
            ERROR_INVALID_HANDLE,
        )
    return handle
