"""The I/O-free half of the lanfax clients, shared by :class:`Client` and :class:`AsyncClient`.

Every API call is an :class:`Op`: the request to make (method, path, query, body, headers) and a
function that turns the answer into model objects. The sync client runs an Op over
``http.client``, the async client over httpx; neither knows anything about the API itself. The
multipart encoder (``_submit``) and the server-sent-events parser (``_sse``) are beside it.

Only the standard library and ``lanfax.model`` are imported here, and nothing heavy: this module
is on the start-up path of every ``lanfax`` command.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from lanfax.client._base import API as API
from lanfax.client._base import BACKOFF_CAP as BACKOFF_CAP
from lanfax.client._base import DEFAULT_SERVER as DEFAULT_SERVER
from lanfax.client._base import PORT_HANDLE_HEADER as PORT_HANDLE_HEADER
from lanfax.client._base import RATE_LIMIT_WAIT as RATE_LIMIT_WAIT
from lanfax.client._base import USER_HEADER as USER_HEADER
from lanfax.client._base import Response as Response
from lanfax.client._base import auth_header as auth_header
from lanfax.client._base import certificate_problem as certificate_problem
from lanfax.client._base import error_from_response as error_from_response
from lanfax.client._base import quote as quote
from lanfax.client._base import resolve_ca_file as resolve_ca_file
from lanfax.client._base import resolve_rate_limit_wait as resolve_rate_limit_wait
from lanfax.client._base import resolve_server as resolve_server
from lanfax.client._base import resolve_user as resolve_user
from lanfax.client._base import retry_delay as retry_delay
from lanfax.client._base import unavailable as unavailable
from lanfax.client._base import unreachable as unreachable
from lanfax.model.codes import AccessRight, AccessRightEx, JobType, QueueStatus
from lanfax.model.errors import FaxError, InvalidInput, NotFound, Unavailable
from lanfax.model.jobs import Job
from lanfax.model.wire import from_wire, to_wire

if TYPE_CHECKING:  # imported by the calls that need them (``lanfax send`` does not)
    from lanfax.model.config import LoggingCategory, ServerConfig
    from lanfax.model.devices import DeviceStatusInfo, PortInfo
    from lanfax.model.events import Event

T = TypeVar("T")
A = TypeVar("A")


@dataclass(frozen=True, slots=True)
class Op(Generic[T]):
    """One API call: the request and how to read a successful answer."""

    method: str
    path: str
    decode: Callable[[Response], T]
    query: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Called with the error for a non-2xx answer; may return a better one.
    on_error: Callable[[FaxError, Response], FaxError] | None = None

    @property
    def target(self) -> str:
        """Path plus query string, as sent on the request line."""
        if not self.query:
            return self.path
        return self.path + "?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in self.query.items())

    @property
    def idempotent(self) -> bool:
        return self.method in ("GET", "HEAD", "PUT", "DELETE")


# -- decoders ---------------------------------------------------------------------------------


def _obj(cls: type[T]) -> Callable[[Response], T]:
    return lambda r: from_wire(cls, r.json())


def _list(cls: type[T]) -> Callable[[Response], list[T]]:
    return lambda r: [from_wire(cls, item) for item in r.json()]


def _json(r: Response) -> Any:
    return r.json()


def _none(r: Response) -> None:
    return None


def json_body(data: Any) -> tuple[bytes, str]:
    """A compact JSON request body and its content type."""
    return json.dumps(data, separators=(",", ":")).encode(), "application/json"


_json_body = json_body


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """``GET /server``: what the service says about itself."""

    version: str
    started_at: datetime | None = None
    queue_paused: bool = False
    devices: int = 0
    jobs_active: int = 0
    #: The cursor of the newest event, if the server says (newer servers do).
    last_event_seq: int | None = None


@dataclass(frozen=True, slots=True)
class JobPage:
    """One page of ``GET /jobs``: the jobs and the cursor for the next page (None at the end)."""

    jobs: list[Job]
    next: int | None


@dataclass(frozen=True, slots=True)
class Broadcast:
    """The answer to a submission: one job per recipient, sharing one broadcast id."""

    broadcast_id: str
    jobs: list[Job]


def _server_info(r: Response) -> ServerInfo:
    data = dict(r.json())
    if isinstance(data.get("devices"), list):
        data["devices"] = len(data["devices"])
    return from_wire(ServerInfo, data)


def _job_page(r: Response) -> JobPage:
    data = r.json()
    nxt = data.get("next")
    return JobPage([from_wire(Job, j) for j in data["jobs"]], int(nxt) if nxt is not None else None)


def _broadcast(r: Response) -> Broadcast:
    data = r.json()
    return Broadcast(str(data.get("broadcast_id", "")), [from_wire(Job, j) for j in data["jobs"]])


def _page_data(r: Response) -> tuple[bytes, int, int]:
    try:
        width = int(r.headers.get("x-image-width", ""))
        height = int(r.headers.get("x-image-height", ""))
    except ValueError:
        raise FaxError(
            "the server sent page data without X-Image-Width/Height",
            hint="the server is older than this client; upgrade it",
        ) from None
    return r.body, width, height


# -- request builders ---------------------------------------------------------------------------


def health() -> Op[dict[str, Any]]:
    return Op("GET", f"{API}/health", _json)


def server_info() -> Op[ServerInfo]:
    return Op("GET", f"{API}/server", _server_info)


def get_config() -> Op[ServerConfig]:
    from lanfax.model.config import ServerConfig

    return Op("GET", f"{API}/config", _obj(ServerConfig))


def set_config(changes: Mapping[str, Any]) -> Op[ServerConfig]:
    if not changes:
        raise InvalidInput("no setting to change", hint="name at least one setting")
    from lanfax.model.config import ServerConfig

    body, ctype = _json_body(dict(changes))
    return Op("PATCH", f"{API}/config", _obj(ServerConfig), body=body, content_type=ctype)


def get_logging() -> Op[list[LoggingCategory]]:
    from lanfax.model.config import LoggingCategory

    return Op("GET", f"{API}/logging", _list(LoggingCategory))


def set_logging(categories: Iterable[LoggingCategory]) -> Op[list[LoggingCategory]]:
    from lanfax.model.config import LoggingCategory

    body, ctype = _json_body([to_wire(c) for c in categories])
    return Op("PUT", f"{API}/logging", _list(LoggingCategory), body=body, content_type=ctype)


def ports() -> Op[list[PortInfo]]:
    from lanfax.model.devices import PortInfo

    return Op("GET", f"{API}/ports", _list(PortInfo))


def port(device_id: int) -> Op[PortInfo]:
    from lanfax.model.devices import PortInfo

    return Op("GET", f"{API}/ports/{int(device_id)}", _obj(PortInfo))


def open_port(device_id: int, mode: str) -> Op[dict[str, Any]]:
    body, ctype = _json_body({"mode": mode})
    return Op("POST", f"{API}/ports/{int(device_id)}/handles", _json, body=body, content_type=ctype)


def close_handle(handle: str) -> Op[None]:
    return Op("DELETE", f"{API}/handles/{quote(handle)}", _none)


def set_port(device_id: int, handle: str, changes: Mapping[str, Any]) -> Op[PortInfo]:
    from lanfax.model.devices import PortInfo

    allowed = {"device_name", "flags", "rings", "priority", "tsid", "csid"}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise InvalidInput(
            f"a port has no setting {', '.join(map(repr, unknown))}",
            hint=f"settable: {', '.join(sorted(allowed))}",
        )
    if not changes:
        raise InvalidInput("no port setting to change", hint="name at least one setting")
    body, ctype = _json_body({k: to_wire(v) for k, v in changes.items()})
    return Op(
        "PATCH",
        f"{API}/ports/{int(device_id)}",
        _obj(PortInfo),
        body=body,
        content_type=ctype,
        headers={PORT_HANDLE_HEADER: handle},
    )


def device_status(device_id: int) -> Op[DeviceStatusInfo]:
    from lanfax.model.devices import DeviceStatusInfo

    return Op("GET", f"{API}/ports/{int(device_id)}/status", _obj(DeviceStatusInfo))


def _names(value: Any, enum_cls: Any) -> str | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str | enum_cls) else list(value)
    out: list[str] = []
    for item in items:
        if isinstance(item, enum_cls):
            out.append(item.name.lower())
        else:
            out.extend(s.strip().lower() for s in str(item).split(",") if s.strip())
    return ",".join(out)


def jobs(
    *,
    status: str | QueueStatus | Iterable[str | QueueStatus] | None = None,
    type: str | JobType | None = None,
    user: str | None = None,
    broadcast: str | None = None,
    limit: int = 100,
    after: int | None = None,
    before: int | None = None,
) -> Op[JobPage]:
    if not 1 <= limit <= 1000:
        raise InvalidInput(f"limit {limit} is out of range", hint="use 1 to 1000")
    if after is not None and before is not None:
        raise InvalidInput("after and before exclude each other", hint="give one cursor")
    query: dict[str, str] = {"limit": str(limit)}
    for key, value in (
        ("status", _names(status, QueueStatus)),
        ("type", _names(type, JobType)),
        ("user", user),
        ("broadcast", broadcast),
        ("after", None if after is None else str(int(after))),
        ("before", None if before is None else str(int(before))),
    ):
        if value:
            query[key] = value
    return Op("GET", f"{API}/jobs", _job_page, query=query)


def job(job_id: int) -> Op[Job]:
    return Op("GET", f"{API}/jobs/{int(job_id)}", _obj(Job))


def job_command(job_id: int, command: str) -> Op[Job]:
    if command not in ("pause", "resume", "cancel", "restart"):
        raise InvalidInput(
            f"unknown job command {command!r}", hint="pause, resume, cancel, restart"
        )
    return Op("POST", f"{API}/jobs/{int(job_id)}/{command}", _obj(Job))


def delete_job(job_id: int) -> Op[None]:
    return Op("DELETE", f"{API}/jobs/{int(job_id)}", _none)


def page_data(job_id: int) -> Op[tuple[bytes, int, int]]:
    return Op("GET", f"{API}/jobs/{int(job_id)}/pagedata", _page_data)


def document(job_id: int) -> Op[bytes]:
    return Op("GET", f"{API}/jobs/{int(job_id)}/document", lambda r: r.body)


def access(rights: Sequence[str | AccessRight | AccessRightEx]) -> Op[bool]:
    if not rights:
        raise InvalidInput("no right to check", hint="name at least one right, e.g. job_submit")
    names: list[str] = []
    for right in rights:
        if isinstance(right, AccessRight | AccessRightEx):
            names.extend(m.name.lower() for m in type(right) if m.value and m in right and m.name)
        else:
            names.extend(s.strip().lower() for s in str(right).split(",") if s.strip())
    return Op(
        "GET",
        f"{API}/access",
        lambda r: bool(r.json()["allowed"]),
        query={"rights": ",".join(names)},
    )


def events_backlog(after: int) -> Op[list[Event]]:
    from lanfax.model.events import Event

    query = {"follow": "false", "after": str(int(after))}
    return Op("GET", f"{API}/events", _list(Event), query=query)


# -- routing (planned endpoints; see docs/http-api.md "Routing (planned)") -----------------------


def routing_unsupported(err: FaxError, resp: Response) -> FaxError:
    """A 404 that is not a lanfax NotFound problem means the server has no routing API yet."""
    ctype = resp.headers.get("content-type", "")
    if resp.status == 404 and (
        not ctype.startswith("application/problem+json")
        or (isinstance(err, NotFound) and err.message.strip().lower() == "not found")
    ):
        return Unavailable(
            "this lanfax server has no routing API (it answered 404)",
            hint="inbound routing configuration arrives with a later server version; "
            "see 'Routing (planned)' in docs/http-api.md",
            unsupported=True,
        )
    return err


def routing_op(
    method: str,
    path: str,
    decode: Callable[[Response], T],
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    raw: bytes | None = None,
) -> Op[T]:
    if raw is not None:
        data, ctype = raw, "application/octet-stream"
    elif body is not None:
        data, ctype = _json_body(body)
    else:
        data, ctype = None, None
    return Op(
        method,
        f"{API}/routing{path}",
        decode,
        body=data,
        content_type=ctype,
        headers=headers or {},
        on_error=routing_unsupported,
    )


def has_events_after(after: int) -> Op[bool]:
    """Whether the server holds an event after ``after`` (one backlog probe)."""
    query = {"follow": "false", "after": str(int(after)), "limit": "1"}
    return Op("GET", f"{API}/events", lambda r: bool(r.json()), query=query)


#: A request flow: yields the Ops it needs run, is sent each one's decoded answer, and
#: returns ``T``. Calls that take several requests (a search, paging) are flows, so that the
#: logic is written once and both clients drive it (``Client._flow``, ``AsyncClient._flow``).
OpFlow = Generator[Op[Any], Any, T]


def latest_probes() -> OpFlow[int]:
    """The newest event cursor (0 when there is none), in O(log n) probes of
    :func:`has_events_after`."""
    if not (yield has_events_after(0)):
        return 0
    lo, hi = 0, 1024
    while (yield has_events_after(hi)):
        lo, hi = hi, hi * 4
    while hi - lo > 1:  # has_after(lo) and not has_after(hi): the newest is in (lo, hi]
        mid = (lo + hi) // 2
        if (yield has_events_after(mid)):
            lo = mid
        else:
            hi = mid
    return hi


class Done(Generic[T]):
    """What :func:`step` gives back when a flow has ended: its result."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value


def step(flow: Generator[A, Any, T], answer: Any) -> A | Done[T]:
    """Send ``answer`` to ``flow``: the next thing it asks for, or Done with its result. The
    one loop body of every flow driver, sync or async (a driver: ``item = step(flow, None)``;
    ``while not isinstance(item, Done): item = step(flow, do(item))``)."""
    try:
        return flow.send(answer)
    except StopIteration as stop:
        return Done(stop.value)


def run_flow(flow: Generator[A, Any, T], run: Callable[[A], Any]) -> T:
    """Drive ``flow`` to its end with a blocking ``run`` (the sync client's)."""
    item = step(flow, None)
    while not isinstance(item, Done):
        item = step(flow, run(item))
    return item.value
