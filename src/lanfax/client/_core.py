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
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from lanfax.model.codes import AccessRight, AccessRightEx, JobType, QueueStatus
from lanfax.model.errors import ERRORS_BY_CODE, FaxError, InvalidInput, NotFound, Unavailable
from lanfax.model.jobs import Job
from lanfax.model.wire import from_wire, to_wire

if TYPE_CHECKING:  # imported by the calls that need them (``lanfax send`` does not)
    from lanfax.model.config import LoggingCategory, ServerConfig
    from lanfax.model.devices import DeviceStatusInfo, PortInfo
    from lanfax.model.events import Event

T = TypeVar("T")

DEFAULT_SERVER = "http://127.0.0.1:8470"
API = "/api/v1"
USER_HEADER = "X-Lanfax-User"
PORT_HANDLE_HEADER = "X-Lanfax-Port-Handle"


def resolve_server(server: str | None) -> str:
    """The base URL: the argument, else ``LANFAX_SERVER``, else ``http://127.0.0.1:8470``.

    A bare ``host:port`` gets ``http://``. Raises InvalidInput for anything but http(s).
    """
    url = (server or os.environ.get("LANFAX_SERVER") or DEFAULT_SERVER).strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    scheme, _, rest = url.partition("://")
    hostport = rest.split("/", 1)[0].rpartition("@")[2]
    port_text = hostport.rpartition("]")[2].partition(":")[2] if hostport else ""
    host_ok = bool(hostport) and not hostport.startswith(":")
    if scheme not in ("http", "https") or not host_ok or not (port_text.isdigit() or not port_text):
        raise InvalidInput(
            f"{url!r} is not a server URL", hint="use http://HOST:PORT, e.g. http://127.0.0.1:8470"
        )
    return url


def resolve_user(user: str | None) -> str:
    """The caller's name: the argument, else ``LANFAX_USER``, else the OS login name."""
    if user:
        return user
    env = os.environ.get("LANFAX_USER")
    if env:
        return env
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if os.environ.get(name):
            return os.environ[name]
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, OSError):
        return "anonymous"


def auth_header(
    token: str | None, auth: tuple[str, str] | None, url: str | None = None
) -> dict[str, str]:
    """``Authorization`` for HTTP Basic ``(user, password)`` or a bearer token: the argument,
    else ``LANFAX_TOKEN``, else the credentials file's token for ``url``
    (``lanfax.client.credentials``); nothing when there is none (a server without login)."""
    if auth is not None:
        import base64

        raw = f"{auth[0]}:{auth[1]}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}
    token = token or os.environ.get("LANFAX_TOKEN")
    if not token and url is not None:
        try:
            from lanfax.client import credentials
        except ImportError:
            credentials = None  # type: ignore[assignment]
        if credentials is not None:
            try:
                token = credentials.lookup(url).get("token")
            except (OSError, ValueError, KeyError, TypeError):
                token = None  # an unreadable credentials file is the same as none
    return {"Authorization": f"Bearer {token.strip()}"} if token else {}


def resolve_ca_file(ca_file: str | os.PathLike[str] | None) -> str | None:
    """The CA bundle to trust for https: the argument, else ``LANFAX_CA_FILE``, else None (the
    system's CAs). Raises InvalidInput, naming where the path came from, if it is not a file."""
    source = "ca_file"
    if ca_file is None or not str(ca_file):
        ca_file, source = os.environ.get("LANFAX_CA_FILE") or None, "LANFAX_CA_FILE"
    if ca_file is None:
        return None
    path = os.fspath(ca_file)
    if not os.path.isfile(path):
        raise InvalidInput(
            f"the CA file {path!r} ({source}) does not exist or is not a file",
            hint="give the PEM file of the CA that signed the server's certificate "
            "(or the server's own certificate if it is self-signed)",
        )
    return path


def certificate_problem(exc: BaseException) -> str | None:
    """The verification message if ``exc`` (or an exception it was raised from) is a failed
    TLS certificate check, else None."""
    ssl = sys.modules.get("ssl")  # not loaded: no TLS was attempted
    seen: BaseException | None = exc
    while ssl is not None and seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return str(seen.verify_message or seen.reason or seen)
        seen = seen.__cause__ or seen.__context__
    return None


def unreachable(url: str, exc: BaseException, reason: object, ca_file: str | None) -> Unavailable:
    """The error for a failed connection: an untrusted certificate gets its own message and a
    hint naming ``--ca-file``; anything else is :func:`unavailable` with ``reason``."""
    problem = certificate_problem(exc)
    if problem is None:
        return unavailable(url, reason)
    trusted = f"the CA file {ca_file}" if ca_file else "the system's CAs"
    return Unavailable(
        f"the server at {url} has a TLS certificate that does not verify against {trusted}: "
        f"{problem}",
        hint="for a private CA or a self-signed server certificate, give that certificate (PEM) "
        "with --ca-file FILE, LANFAX_CA_FILE=FILE or Client(ca_file=FILE); the URL's host must "
        "be a name or address in the certificate",
        url=url,
    )


def unavailable(url: str, reason: object) -> Unavailable:
    """The error for a server that cannot be reached at all."""
    return Unavailable(
        f"cannot reach the lanfax server at {url}: {reason}",
        hint=f"is `lanfax serve` running at {url}? set --server or LANFAX_SERVER",
        url=url,
    )


#: How long one call may wait in all, by default, on the server's "too many requests"
#: (429) before it raises RateLimited.
RATE_LIMIT_WAIT = 60.0
#: Without a usable Retry-After: 0.5 s, 1 s, 2 s, ... at most this much at a time.
BACKOFF_CAP = 10.0


def resolve_rate_limit_wait(value: float | None) -> float:
    """Seconds a call may spend waiting on 429 answers: the argument, else
    ``LANFAX_RATE_LIMIT_WAIT``, else 60; 0 turns the waiting off (RateLimited at once)."""
    if value is None:
        env = os.environ.get("LANFAX_RATE_LIMIT_WAIT", "").strip()
        try:
            value = float(env) if env else RATE_LIMIT_WAIT
        except ValueError:
            raise InvalidInput(
                f"LANFAX_RATE_LIMIT_WAIT={env!r} is not a number of seconds",
                hint="e.g. 60, or 0 to raise RateLimited at once",
            ) from None
    if not value >= 0:  # also NaN
        raise InvalidInput(f"rate_limit_wait {value!r} is negative", hint="use 0 or more seconds")
    return float(value)


def retry_delay(resp: Response, attempt: int, waited: float, budget: float) -> float | None:
    """How long to wait before sending again a request the server refused with 429 (it was
    not carried out, so sending it again is safe whatever its method), or None to give up.

    The server's ``Retry-After`` (seconds) is honoured; without one, the wait doubles from
    0.5 s up to :data:`BACKOFF_CAP`. A wait that would take the call past ``budget`` seconds
    in all gives up at once rather than sleep for nothing."""
    if resp.status != 429 or budget <= 0:
        return None
    header = resp.headers.get("retry-after", "").strip()
    # No header, or an HTTP-date (lanfax sends seconds): back off exponentially.
    delay = float(header) if header.isdigit() else min(0.5 * 2**attempt, BACKOFF_CAP)
    if waited + delay > budget:
        return None
    return delay


@dataclass(frozen=True, slots=True)
class Response:
    """What an Op's decoder sees: status, lower-cased headers and the whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


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


_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~,")


def quote(text: str) -> str:
    """Percent-encode ``text`` for a URL path segment or query value (RFC 3986)."""
    return "".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in str(text).encode("utf-8"))


def error_from_response(resp: Response, op_label: str = "") -> FaxError:
    """The FaxError a non-2xx answer stands for (problem+json ``type`` -> class)."""
    data: Any = None
    try:
        data = resp.json()
    except ValueError:
        data = None
    if isinstance(data, Mapping) and isinstance(data.get("type"), str):
        code = data["type"].rsplit(":", 1)[-1]
        cls = ERRORS_BY_CODE.get(code) or _class_for_status(resp.status)
        message = str(data.get("detail") or data.get("title") or f"HTTP {resp.status}")
        hint = data.get("hint")
        extra = data.get("extra") if isinstance(data.get("extra"), Mapping) else {}
        return cls(message, hint=str(hint) if hint else None, **dict(extra or {}))
    cls = _class_for_status(resp.status)
    detail = data.get("detail") if isinstance(data, Mapping) else None
    text = detail if isinstance(detail, str) else resp.body[:200].decode("utf-8", "replace")
    return cls(
        f"the server answered HTTP {resp.status} to {op_label}: {text or 'no detail'}".strip(),
        hint="check the server's log; client and server versions may differ",
        http_status=resp.status,
    )


def _class_for_status(status: int) -> type[FaxError]:
    for cls in ERRORS_BY_CODE.values():
        if cls.http_status == status and cls.code in {
            "invalid-input",
            "not-found",
            "conflict",
            "unauthenticated",
            "access-denied",
            "too-large",
            "rate-limited",
            "unavailable",
        }:
            return cls
    return InvalidInput if 400 <= status < 500 else FaxError


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


def search_latest(has_after: Callable[[int], bool]) -> int:
    """The newest event cursor, found with O(log n) ``has_after`` probes (0 when empty)."""
    if not has_after(0):
        return 0
    lo, hi = 0, 1024
    while has_after(hi):
        lo, hi = hi, hi * 4
    while hi - lo > 1:  # has_after(lo) and not has_after(hi): the newest is in (lo, hi]
        mid = (lo + hi) // 2
        if has_after(mid):
            lo = mid
        else:
            hi = mid
    return hi
