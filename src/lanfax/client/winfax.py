"""The Windows 2000 fax client API (``winfax.h``) under its own names, over the sync client.

Error convention (one, applied to every function): **Pythonic exceptions**. A function that
fails raises a :class:`~lanfax.model.errors.FaxError` subclass (message and hint) carrying
``winerror``, the Windows error number, which :func:`GetLastError` also returns until the next
call on the same thread (0 after a success). Functions that return ``BOOL`` in Windows return
True; ``[out]`` parameters become return values. Structures are the dataclasses of
:mod:`lanfax.client.winfax_types`, with the Windows field names.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from lanfax.client import _core as c
from lanfax.client import winfax_types as _types
from lanfax.client._sync import Client
from lanfax.client.winfax_base import (
    FaxPortHandle,
    FaxServerHandle,
    _api,
    _fail,
    _port,
    _server,
)

# The names of the modules split out of this one, importable from here as before.
from lanfax.client.winfax_base import GetLastError as GetLastError
from lanfax.client.winfax_base import _server_url as _server_url
from lanfax.client.winfax_base import winerror_of as winerror_of
from lanfax.client.winfax_register import (
    FAX_ROUTING_INSTALLATION_CALLBACK as FAX_ROUTING_INSTALLATION_CALLBACK,
)
from lanfax.client.winfax_register import (
    FaxRegisterRoutingExtension as FaxRegisterRoutingExtension,
)
from lanfax.client.winfax_register import FaxRegisterServiceProvider as FaxRegisterServiceProvider
from lanfax.client.winfax_types import *  # noqa: F403 - the API's names, re-exported
from lanfax.client.winfax_types import (
    ERROR_ACCESS_DENIED,
    ERROR_INVALID_HANDLE,
    ERROR_INVALID_PARAMETER,
    FAX_CONFIGURATION,
    FAX_COVERPAGE_INFO,
    FAX_DEVICE_STATUS,
    FAX_GLOBAL_ROUTING_INFO,
    FAX_JOB_ENTRY,
    FAX_JOB_PARAM,
    FAX_LOG_CATEGORY,
    FAX_PORT_INFO,
    FAX_ROUTING_METHOD,
    FAX_TIME,
    JC_DELETE,
    JC_PAUSE,
    JC_RESTART,
    JC_RESUME,
    WINDOWS_EVENTS,
    event_struct,
    from_struct,
    job_entry,
    to_struct,
)
from lanfax.model.codes import AccessRight, LogCategory, LogLevel, PortOpenMode
from lanfax.model.config import LoggingCategory
from lanfax.model.errors import (
    AccessDenied,
    Conflict,
    FaxError,
    InvalidInput,
)
from lanfax.model.errors import NotFound as NotFound
from lanfax.model.errors import Unavailable as Unavailable
from lanfax.model.jobs import CoverPageInfo, JobParams
from lanfax.model.wire import from_wire, to_wire

FAX_RECIPIENT_CALLBACK = Callable[[Any, int, Any, FAX_JOB_PARAM, FAX_COVERPAGE_INFO], bool]


# -- connection & configuration -------------------------------------------------------------------
@_api
def FaxConnectFaxServer(MachineName: str | None = None) -> FaxServerHandle:
    """Connect to the server on ``MachineName`` (a host, ``\\\\host``, a URL, or None for
    LANFAX_SERVER / the local default). The server is asked once, so a wrong name fails here."""
    handle = FaxServerHandle(MachineName)
    handle.client.health()
    return handle


@_api
def FaxClose(FaxHandle: Any) -> bool:
    """Close a server handle (and every port handle opened through it, and its event queue)
    or a port handle. A closed handle is invalid (ERROR_INVALID_HANDLE) from then on."""
    if isinstance(FaxHandle, FaxPortHandle):
        port = _port(FaxHandle)
        port.closed = True
        port.server.ports.discard(port)
        port.handle.close()
        return True
    server = _server(FaxHandle)
    server.closed = True
    server.event_stop.set()
    for port in list(server.ports):
        port.closed = True
        # A handle the server no longer knows is as closed as it gets; close the rest.
        with contextlib.suppress(FaxError):
            port.handle.close()
    server.ports.clear()
    server.client.close()
    return True


@_api
def FaxInitializeEventQueue(
    FaxHandle: Any,
    CompletionPort: Any,
    CompletionKey: Any = 0,
    hWnd: Any = None,
    MessageStart: int = 0,
) -> bool:
    """Deliver the server's events (FAX_EVENT, Windows FEI_* ids only) from now on.

    There are no completion ports or window messages here: ``CompletionPort`` is a callable,
    called as ``CompletionPort(CompletionKey, event)``, or a queue (anything with ``put``),
    which receives ``(CompletionKey, event)`` tuples, the pair GetQueuedCompletionStatus would
    give. ``hWnd`` must be None. Events come from a daemon thread, which FaxClose stops.
    """
    server = _server(FaxHandle)
    if hWnd not in (None, 0):
        raise _fail(
            InvalidInput,
            "window messages are not available outside Windows",
            "pass a callable or a queue as CompletionPort and hWnd=None",
            ERROR_INVALID_PARAMETER,
        )
    put = getattr(CompletionPort, "put", None)
    deliver: Callable[[Any], Any] | None = (
        (lambda ev: put((CompletionKey, ev)))
        if callable(put)
        else ((lambda ev: CompletionPort(CompletionKey, ev)) if callable(CompletionPort) else None)
    )
    if deliver is None:
        raise _fail(
            InvalidInput,
            "CompletionPort is neither callable nor a queue",
            "pass a function(key, event) or a queue.Queue",
            ERROR_INVALID_PARAMETER,
        )
    if server.event_thread is not None:
        raise _fail(
            Conflict,
            "this handle already has an event queue",
            "one event queue per FaxConnectFaxServer handle",
            ERROR_INVALID_PARAMETER,
        )
    follower = Client(server.client.base_url, user=server.client.user)
    start = follower.latest_event_seq()

    def run() -> None:
        try:
            for ev in follower._event_stream(start, 0.5, None):
                if server.event_stop.is_set():
                    return
                if ev is not None and int(ev.event_id) in WINDOWS_EVENTS:
                    deliver(event_struct(ev))
        except FaxError:
            return  # the server went away for good; nothing to deliver any more
        finally:
            follower.close()

    server.event_thread = threading.Thread(target=run, name="winfax-events", daemon=True)
    server.event_thread.start()
    return True


@_api
def FaxGetConfiguration(FaxHandle: Any) -> FAX_CONFIGURATION:
    cfg = _server(FaxHandle).client.get_config()
    sh, sm = cfg.cheap_start
    eh, em = cfg.cheap_stop
    out = to_struct(FAX_CONFIGURATION, cfg)
    out.StartCheapTime, out.StopCheapTime = FAX_TIME(sh, sm), FAX_TIME(eh, em)
    return out


@_api
def FaxSetConfiguration(FaxHandle: Any, FaxConfig: FAX_CONFIGURATION) -> bool:
    """Write every field of ``FaxConfig`` (as FaxSetConfiguration does)."""
    if not isinstance(FaxConfig, FAX_CONFIGURATION):
        raise _fail(
            InvalidInput,
            "FaxConfig is not a FAX_CONFIGURATION",
            "pass one from FaxGetConfiguration",
            ERROR_INVALID_PARAMETER,
        )
    changes = from_struct(FaxConfig)
    for key, t in (
        ("start_cheap_time", FaxConfig.StartCheapTime),
        ("stop_cheap_time", FaxConfig.StopCheapTime),
    ):
        changes[key] = f"{t.Hour:02d}:{t.Minute:02d}"
    _server(FaxHandle).client.set_config(**changes)
    return True


@_api
def FaxGetLoggingCategories(FaxHandle: Any) -> list[FAX_LOG_CATEGORY]:
    cats = _server(FaxHandle).client.get_logging()
    return [FAX_LOG_CATEGORY(c.name, int(c.category), int(c.level)) for c in cats]


@_api
def FaxSetLoggingCategories(FaxHandle: Any, Categories: Sequence[FAX_LOG_CATEGORY]) -> bool:
    cats = [LoggingCategory(c.Name, LogCategory(c.Category), LogLevel(c.Level)) for c in Categories]
    _server(FaxHandle).client.set_logging(cats)
    return True


# -- routing (docs/http-api.md "Routing"; a server without it: ERROR_NOT_SUPPORTED) ------------
@_api
def FaxEnumGlobalRoutingInfo(FaxHandle: Any) -> list[FAX_GLOBAL_ROUTING_INFO]:
    """Every routing method in global priority order (Priority 1 runs first)."""
    items = _server(FaxHandle).client.routing_methods()
    return [to_struct(FAX_GLOBAL_ROUTING_INFO, i) for i in items]


@_api
def FaxSetGlobalRoutingInfo(FaxHandle: Any, RoutingInfo: FAX_GLOBAL_ROUTING_INFO) -> bool:
    """Move the method ``RoutingInfo.Guid`` to ``RoutingInfo.Priority``."""
    _server(FaxHandle).client.set_routing_priority(RoutingInfo.Guid, RoutingInfo.Priority)
    return True


@_api
def FaxEnumRoutingMethods(FaxPortHandle: Any) -> list[FAX_ROUTING_METHOD]:
    port = _port(FaxPortHandle)
    items = port.server.client.device_routing_methods(port.DeviceId)
    return [to_struct(FAX_ROUTING_METHOD, i) for i in items]


def _need_modify(port: FaxPortHandle) -> None:
    if port.handle.mode is not PortOpenMode.MODIFY:
        raise _fail(
            AccessDenied,
            "this port handle was opened for query only",
            "open the port with PORT_OPEN_MODIFY to change it",
            ERROR_ACCESS_DENIED,
        )


@_api
def FaxEnableRoutingMethod(FaxPortHandle: Any, RoutingGuid: str, Enabled: bool) -> bool:
    """Enable or disable a method on the port (needs a PORT_OPEN_MODIFY handle)."""
    port = _port(FaxPortHandle)
    _need_modify(port)
    port.server.client.enable_routing_method(port.DeviceId, RoutingGuid, bool(Enabled))
    return True


@_api
def FaxGetRoutingInfo(FaxPortHandle: Any, RoutingGuid: str) -> bytes:
    """The method's routing info on this port: its JSON object, UTF-8 encoded (the
    ``RoutingInfoBuffer``; secrets read ``********``)."""
    port = _port(FaxPortHandle)
    info = port.server.client.get_routing_info(port.DeviceId, RoutingGuid)
    return json.dumps(info).encode()


@_api
def FaxSetRoutingInfo(
    FaxPortHandle: Any, RoutingGuid: str, RoutingInfo: bytes | dict[str, Any]
) -> bool:
    """Replace the routing info (JSON bytes as FaxGetRoutingInfo returns, or a dict);
    needs a PORT_OPEN_MODIFY handle."""
    port = _port(FaxPortHandle)
    _need_modify(port)
    if isinstance(RoutingInfo, bytes | bytearray):
        try:
            data = json.loads(bytes(RoutingInfo))
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise _fail(
                InvalidInput,
                "RoutingInfo is not a JSON object",
                "pass what FaxGetRoutingInfo returned, changed, or a dict",
                ERROR_INVALID_PARAMETER,
            )
    else:
        data = dict(RoutingInfo)
    port.server.client.set_routing_info(port.DeviceId, RoutingGuid, data)
    return True


# -- devices --------------------------------------------------------------------------------------
@_api
def FaxEnumPorts(FaxHandle: Any) -> list[FAX_PORT_INFO]:
    return [to_struct(FAX_PORT_INFO, p) for p in _server(FaxHandle).client.ports()]


@_api
def FaxOpenPort(FaxHandle: Any, DeviceId: int, Flags: int) -> FaxPortHandle:
    """A port handle. A second PORT_OPEN_MODIFY handle on one port fails with
    ERROR_INVALID_HANDLE (as the MS-FAX protocol specifies), raised as Conflict."""
    server = _server(FaxHandle)
    mode = PortOpenMode.MODIFY if int(Flags) & PortOpenMode.MODIFY else PortOpenMode.QUERY
    try:
        handle = server.client.open_port(DeviceId, mode)
    except Conflict as exc:
        exc.winerror = ERROR_INVALID_HANDLE  # type: ignore[attr-defined]
        raise
    port = FaxPortHandle(server, handle)
    server.ports.add(port)
    return port


@_api
def FaxGetPort(FaxPortHandle: Any) -> FAX_PORT_INFO:
    port = _port(FaxPortHandle)
    return to_struct(FAX_PORT_INFO, port.server.client.port(port.DeviceId))


@_api
def FaxSetPort(FaxPortHandle: Any, PortInfo: FAX_PORT_INFO) -> bool:
    """Set Flags, Rings, Priority, Tsid and Csid (the fields Windows lets you set). Needs a
    PORT_OPEN_MODIFY handle: a query handle fails with ERROR_ACCESS_DENIED."""
    port = _port(FaxPortHandle)
    if port.handle.mode is not PortOpenMode.MODIFY:
        raise _fail(
            AccessDenied,
            "this port handle was opened for query only",
            "open the port with PORT_OPEN_MODIFY to change it",
            ERROR_ACCESS_DENIED,
        )
    port.server.client.set_port(
        port.handle,
        flags=int(PortInfo.Flags),
        rings=PortInfo.Rings,
        priority=PortInfo.Priority,
        tsid=PortInfo.Tsid,
        csid=PortInfo.Csid,
    )
    return True


@_api
def FaxGetDeviceStatus(FaxPortHandle: Any) -> FAX_DEVICE_STATUS:
    port = _port(FaxPortHandle)
    return to_struct(FAX_DEVICE_STATUS, port.server.client.device_status(port.DeviceId))


# -- documents ------------------------------------------------------------------------------------
def _params(jp: FAX_JOB_PARAM) -> JobParams:
    data = from_struct(jp)
    if not str(data.get("recipient_number", "")).strip():
        raise _fail(
            InvalidInput,
            "JobParams.RecipientNumber is empty",
            "set the recipient's fax number",
            ERROR_INVALID_PARAMETER,
        )
    return from_wire(JobParams, to_wire(data))


def _cover(cp: FAX_COVERPAGE_INFO | None) -> CoverPageInfo | None:
    if cp is None or not (cp.CoverPageName or cp.UseServerCoverPage):
        return None
    return from_wire(CoverPageInfo, to_wire(from_struct(cp)))


@_api
def FaxSendDocument(
    FaxHandle: Any,
    FileName: str,
    JobParams: FAX_JOB_PARAM,
    CoverpageInfo: FAX_COVERPAGE_INFO | None = None,
) -> int:
    """Queue ``FileName`` for ``JobParams.RecipientNumber``; returns the JobId."""
    server = _server(FaxHandle)
    params = _params(JobParams)
    cover = _cover(CoverpageInfo)
    jobs = server.client.send(FileName, to=params, cover_page=cover)
    return jobs[0].job_id


@_api
def FaxSendDocumentForBroadcast(
    FaxHandle: Any,
    FileName: str,
    FaxRecipientCallback: FAX_RECIPIENT_CALLBACK,
    Context: Any = None,
) -> int:
    """Call ``FaxRecipientCallback(FaxHandle, RecipientNumber, Context, JobParams,
    CoverpageInfo)`` with RecipientNumber 1, 2, ... and fresh structs to fill, until it
    returns False; then queue one job per recipient (one broadcast). Returns the first JobId.
    The cover page of recipient 1 is used for all (a lanfax submission has one cover page)."""
    server = _server(FaxHandle)
    recipients: list[JobParams] = []
    cover: CoverPageInfo | None = None
    number = 1
    while True:
        jp, cp = FAX_JOB_PARAM(), FAX_COVERPAGE_INFO()
        if not FaxRecipientCallback(FaxHandle, number, Context, jp, cp):
            break
        recipients.append(_params(jp))
        if number == 1:
            cover = _cover(cp)
        number += 1
    if not recipients:
        raise _fail(
            InvalidInput,
            "the recipient callback gave no recipient",
            "return True after filling JobParams for recipient 1",
            ERROR_INVALID_PARAMETER,
        )
    return server.client.broadcast(FileName, recipients, cover_page=cover).jobs[0].job_id


# -- jobs -----------------------------------------------------------------------------------------
@_api
def FaxEnumJobs(FaxHandle: Any) -> list[FAX_JOB_ENTRY]:
    """Every job in the queue (all pages; finished jobs that are still kept included)."""
    return [job_entry(j) for j in _server(FaxHandle).client.iter_jobs()]


@_api
def FaxGetJob(FaxHandle: Any, JobId: int) -> FAX_JOB_ENTRY:
    return job_entry(_server(FaxHandle).client.job(JobId))


@_api
def FaxSetJob(
    FaxHandle: Any, JobId: int, Command: int, JobEntry: FAX_JOB_ENTRY | None = None
) -> bool:
    """JC_PAUSE, JC_RESUME, JC_RESTART; JC_DELETE cancels a job that is not finished and
    removes a finished one. ``JobEntry`` is accepted and ignored, as in Windows."""
    client = _server(FaxHandle).client
    if Command == JC_PAUSE:
        client.pause(JobId)
    elif Command == JC_RESUME:
        client.resume(JobId)
    elif Command == JC_RESTART:
        client.restart(JobId)
    elif Command == JC_DELETE:
        if client.job(JobId).is_final:
            client.delete(JobId)
        else:
            client.cancel(JobId)
    else:
        raise _fail(
            InvalidInput,
            f"unknown job command {Command}",
            "use JC_DELETE, JC_PAUSE, JC_RESUME or JC_RESTART",
            ERROR_INVALID_PARAMETER,
        )
    return True


@_api
def FaxAbort(FaxHandle: Any, JobId: int) -> bool:
    """Cancel a job (ending its call if one is in progress)."""
    _server(FaxHandle).client.cancel(JobId)
    return True


@_api
def FaxGetPageData(FaxHandle: Any, JobId: int) -> tuple[bytes, int, int]:
    """``(Buffer, ImageWidth, ImageHeight)``: the first page as a TIFF Class F."""
    return _server(FaxHandle).client.page_data(JobId)


# -- utilities ------------------------------------------------------------------------------------
@_api
def FaxAccessCheck(FaxHandle: Any, AccessMask: int) -> bool:
    """Whether the caller holds every FAX_* right in ``AccessMask``."""
    everything = 0
    for right in AccessRight:
        everything |= int(right)
    if int(AccessMask) & ~everything:
        raise _fail(
            InvalidInput,
            f"AccessMask {AccessMask:#x} has unknown bits",
            "combine FAX_JOB_SUBMIT ... FAX_JOB_MANAGE",
            ERROR_INVALID_PARAMETER,
        ) from None
    return _server(FaxHandle).client.access_check(AccessRight(int(AccessMask)))


@_api
def FaxCompleteJobParams() -> tuple[FAX_JOB_PARAM, FAX_COVERPAGE_INFO]:
    """Job params and cover page info filled from the user's profile: the sender's name is
    ``LANFAX_SENDER_NAME`` or the OS account's full name (else login name); fax number,
    company, department, office phone and TSID from ``LANFAX_SENDER_FAX``,
    ``LANFAX_SENDER_COMPANY``, ``LANFAX_SENDER_DEPT``, ``LANFAX_SENDER_PHONE``, ``LANFAX_TSID``."""
    env = os.environ.get
    name = env("LANFAX_SENDER_NAME") or _full_name() or c.resolve_user(None)
    jp = FAX_JOB_PARAM(
        SenderName=name,
        SenderCompany=env("LANFAX_SENDER_COMPANY", ""),
        SenderDept=env("LANFAX_SENDER_DEPT", ""),
        Tsid=env("LANFAX_TSID", "") or env("LANFAX_SENDER_FAX", ""),
    )
    cp = FAX_COVERPAGE_INFO(
        SdrName=name,
        SdrFaxNumber=env("LANFAX_SENDER_FAX", ""),
        SdrCompany=env("LANFAX_SENDER_COMPANY", ""),
        SdrDepartment=env("LANFAX_SENDER_DEPT", ""),
        SdrOfficePhone=env("LANFAX_SENDER_PHONE", ""),
    )
    return jp, cp


def _full_name() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_gecos.split(",")[0].strip()
    except (ImportError, KeyError, OSError):
        return ""


@_api
def FaxFreeBuffer(Buffer: Any) -> None:
    """Nothing to free in Python; a None buffer is still a caller's bug, as in Windows."""
    if Buffer is None:
        raise _fail(
            InvalidInput,
            "FaxFreeBuffer(None)",
            "pass a buffer a Fax* call returned",
            ERROR_INVALID_PARAMETER,
        )


# The print functions use the helpers above, so they are imported last.
from lanfax.client.winfax_print import (  # noqa: E402, F401
    FaxPrintCoverPage,
    FaxPrintJob,
    FaxStartPrintJob,
)

__all__ = sorted(
    {n for n in dir() if n.startswith(("Fax", "FAX_", "GetLastError"))}
    | {n for n in vars(_types) if n.isupper() and not n.startswith("_")}
    | {"FaxPrintCoverPage", "FaxPrintJob", "FaxStartPrintJob", "winerror_of"}
    | {"AccessDenied", "Conflict", "FaxError", "InvalidInput", "NotFound", "Unavailable"}
)
