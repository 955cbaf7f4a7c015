"""The synchronous client, on the standard library (``http.client``): cheap to import."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from lanfax.client import _core as c
from lanfax.client import _submit
from lanfax.client._accounts import AccountMixin
from lanfax.client._archive import ArchiveMixin
from lanfax.client._contacts import ContactsMixin
from lanfax.client._core import Broadcast, JobPage, Op, ServerInfo
from lanfax.client._cover import CoverMixin
from lanfax.client._drafts import DraftMixin  # issue #11
from lanfax.client._extensions import ExtensionsMixin
from lanfax.client._handles import PortHandle, merge_logging, open_mode
from lanfax.client._http import Connection, Stream, StreamClosed, request_patiently
from lanfax.client._outbound import OutboundMixin
from lanfax.client._report import ReportMixin
from lanfax.client._routing import RoutingMixin
from lanfax.client._submit import FileArg, RecipientCallback
from lanfax.client._users import UsersMixin  # issue #17
from lanfax.model.codes import AccessRight, AccessRightEx, JobType, PortOpenMode, QueueStatus
from lanfax.model.errors import FaxError
from lanfax.model.jobs import Job, JobParams

if TYPE_CHECKING:  # imported by the calls that need them (``lanfax send`` does not)
    from lanfax.client import _follow
    from lanfax.model.config import LoggingCategory, ServerConfig
    from lanfax.model.devices import DeviceStatusInfo, PortInfo
    from lanfax.model.events import Event

T = TypeVar("T")


class Client(
    DraftMixin,
    CoverMixin,
    RoutingMixin,
    ReportMixin,
    OutboundMixin,
    AccountMixin,
    ContactsMixin,
    ArchiveMixin,
    ExtensionsMixin,
    UsersMixin,
):
    """A blocking client for one lanfax server.

    ``server`` is a URL (default: ``LANFAX_SERVER``, else ``http://127.0.0.1:8470``); ``user``
    is sent as ``X-Lanfax-User`` (default: ``LANFAX_USER``, else the OS login name); ``token``
    (default ``LANFAX_TOKEN``) is sent as a bearer token, or ``auth=(user, password)`` as HTTP
    Basic, for servers with authentication; ``ca_file`` (default ``LANFAX_CA_FILE``) is a PEM
    file of CA certificates to trust for an ``https://`` server instead of the system's (a
    private CA, or a self-signed server's own certificate);
    ``timeout`` bounds each request in seconds. A request the server refuses as too many
    (429) is sent again after the wait its ``Retry-After`` names, for at most
    ``rate_limit_wait`` seconds in all per call (default ``LANFAX_RATE_LIMIT_WAIT``, else 60;
    0: raise RateLimited at once). One keep-alive connection is reused for every
    call; a Client is not meant to be shared between threads (make one per thread). Every
    failure is a :class:`~lanfax.model.errors.FaxError` subclass with a message and a hint.
    """

    def __init__(
        self,
        server: str | None = None,
        *,
        user: str | None = None,
        token: str | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float = 30.0,
        ca_file: str | os.PathLike[str] | None = None,
        rate_limit_wait: float | None = None,
    ) -> None:
        self.base_url = c.resolve_server(server)
        self.user = c.resolve_user(user)
        self.timeout = timeout
        self.rate_limit_wait = c.resolve_rate_limit_wait(rate_limit_wait)
        self.ca_file = c.resolve_ca_file(ca_file)
        self._http = Connection(self.base_url, timeout, self.ca_file)
        self._auth = c.auth_header(token, auth, self.base_url)
        self._headers = {c.USER_HEADER: self.user, "Accept": "application/json", **self._auth}

    # -- plumbing ---------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection (the client reconnects if used again)."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _run(self, op: Op[T]) -> T:
        headers = dict(self._headers)
        headers.update(op.headers)
        if op.content_type:
            headers["Content-Type"] = op.content_type
        resp = request_patiently(
            self._http, op.method, op.target, op.body, headers, self.rate_limit_wait
        )
        if resp.status >= 300:
            err = c.error_from_response(resp, f"{op.method} {op.path}")
            raise op.on_error(err, resp) if op.on_error else err
        return op.decode(resp)

    def _flow(self, flow: c.OpFlow[T]) -> T:
        """Run a request flow (several requests with logic between them) to its end."""
        return c.run_flow(flow, self._run)

    # -- server -----------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """``{"status": "ok", "version": ...}``."""
        return self._run(c.health())

    def server_info(self) -> ServerInfo:
        return self._run(c.server_info())

    def access_check(self, *rights: str | AccessRight | AccessRightEx) -> bool:
        """True if the caller holds every one of ``rights`` (names or AccessRight flags)."""
        return self._run(c.access(rights))

    # -- configuration ----------------------------------------------------------------------
    def get_config(self) -> ServerConfig:
        return self._run(c.get_config())

    def set_config(self, **changes: Any) -> ServerConfig:
        """Change settings (lanfax or Windows names); returns the new configuration."""
        return self._run(c.set_config(changes))

    def get_logging(self) -> list[LoggingCategory]:
        return self._run(c.get_logging())

    def set_logging(
        self, categories: Iterable[LoggingCategory] | Mapping[Any, Any] | None = None, **levels: Any
    ) -> list[LoggingCategory]:
        """Set logging levels: LoggingCategory objects, or ``{category: level}`` / keywords
        (``outbound="max"``), which are merged into the current list first."""
        if isinstance(categories, Mapping) or categories is None:
            changes = dict(categories or {})
            changes.update(levels)
            categories = merge_logging(self.get_logging(), changes)
        return self._run(c.set_logging(categories))

    # -- ports ------------------------------------------------------------------------------
    def ports(self) -> list[PortInfo]:
        return self._run(c.ports())

    def port(self, device_id: int) -> PortInfo:
        return self._run(c.port(device_id))

    def open_port(self, device_id: int, mode: str | PortOpenMode = "query") -> PortHandle:
        """A port handle (a context manager). Only one modify handle per port at a time:
        a second one raises Conflict."""
        mode_name = open_mode(mode)
        data = self._run(c.open_port(device_id, mode_name))
        return PortHandle(
            str(data["handle"]),
            int(data.get("device_id", device_id)),
            PortOpenMode[mode_name.upper()],
            lambda h: self._run(c.close_handle(h)),
        )

    def set_port(self, handle: PortHandle, **changes: Any) -> PortInfo:
        """Change a port through a modify handle; returns the new PortInfo."""
        return self._run(c.set_port(handle.device_id, handle.checked(), changes))

    def device_status(self, device_id: int) -> DeviceStatusInfo:
        return self._run(c.device_status(device_id))

    # -- jobs -------------------------------------------------------------------------------
    def send(
        self,
        files: FileArg | Sequence[FileArg],
        to: str | JobParams | Sequence[str | JobParams],
        **params: Any,
    ) -> list[Job]:
        """Queue ``files`` (concatenated) for one or more recipients; one Job each.

        ``params`` are the common JobParams fields (``sender_name``, ``priority``,
        ``schedule_action``, ``schedule_time``, ...) plus ``cover_page`` (a name or a
        CoverPageInfo) and ``resolution``. The jobs are on the server's disk on return.
        """
        recipients = [to] if isinstance(to, str | JobParams) else list(to)
        return self._run(_submit.submit(_submit.read_files(files), recipients, params)).jobs

    def broadcast(
        self,
        files: FileArg | Sequence[FileArg],
        recipients: Sequence[JobParams],
        *,
        on_recipient: RecipientCallback | None = None,
        **params: Any,
    ) -> Broadcast:
        """Send one document to many recipients as one broadcast.

        ``on_recipient(number, params)`` is called for recipient 1, 2, ... before anything is
        sent; it may return replacement JobParams, True/None to keep them, or False to stop
        (that recipient and the rest are left out).
        """
        chosen = _submit.apply_recipient_callback(recipients, on_recipient)
        return self._run(_submit.submit(_submit.read_files(files), chosen, params))

    def jobs(
        self,
        *,
        status: str | QueueStatus | Iterable[str | QueueStatus] | None = None,
        type: str | JobType | None = None,
        user: str | None = None,
        broadcast: str | None = None,
        limit: int = 100,
        after: int | None = None,
        before: int | None = None,
    ) -> JobPage:
        """One page of jobs (ascending from ``after``, or descending before ``before``)."""
        return self._run(
            c.jobs(
                status=status,
                type=type,
                user=user,
                broadcast=broadcast,
                limit=limit,
                after=after,
                before=before,
            )
        )

    def iter_jobs(self, *, page_size: int = 1000, **filters: Any) -> Iterator[Job]:
        """Every job matching ``filters`` (as for :meth:`jobs`), page by page."""
        after = filters.pop("after", None)
        while True:
            page = self.jobs(limit=page_size, after=after, **filters)
            yield from page.jobs
            if page.next is None or not page.jobs:
                return
            after = page.next

    def job(self, job_id: int) -> Job:
        return self._run(c.job(job_id))

    def pause(self, job_id: int) -> Job:
        return self._run(c.job_command(job_id, "pause"))

    def resume(self, job_id: int) -> Job:
        return self._run(c.job_command(job_id, "resume"))

    def cancel(self, job_id: int) -> Job:
        return self._run(c.job_command(job_id, "cancel"))

    def restart(self, job_id: int) -> Job:
        return self._run(c.job_command(job_id, "restart"))

    def delete(self, job_id: int) -> None:
        """Remove a finished job from the queue (Conflict if it is not finished)."""
        self._run(c.delete_job(job_id))

    def page_data(self, job_id: int) -> tuple[bytes, int, int]:
        """The job's first page as a TIFF, with its width and height in pixels."""
        return self._run(c.page_data(job_id))

    def document(self, job_id: int) -> bytes:
        """The job's whole TIFF."""
        return self._run(c.document(job_id))

    # -- events -----------------------------------------------------------------------------
    def events(
        self, after: int | None = None, *, reconnect_for: float | None = 30.0
    ) -> Iterator[Event]:
        """Follow the server's events, forever.

        ``after`` is the last ``seq`` already seen (0: every stored event; None: from now
        on, fixed when this is called, see :meth:`latest_event_seq`). When the connection
        breaks (server restart), it reconnects with ``Last-Event-ID`` and goes on, so no event
        is dropped or repeated; if the server stays away longer than ``reconnect_for`` seconds
        (None: forever) it raises Unavailable.
        """
        start = self.latest_event_seq() if after is None else after
        return (ev for ev in self._event_stream(start, None, reconnect_for) if ev is not None)

    def latest_event_seq(self) -> int:
        """The cursor of the newest stored event (0 if none): ``events(after=...)`` with it
        follows from now on. Asks ``/server``, else probes the backlog (a few requests)."""
        info = self.server_info()
        if info.last_event_seq is not None:
            return info.last_event_seq
        return self._flow(c.latest_probes())

    def events_backlog(self, after: int = 0) -> list[Event]:
        """Stored events after ``after`` (at most 1000), without following."""
        return self._run(c.events_backlog(after))

    def _event_stream(
        self, after: int | None, idle: float | None, reconnect_for: float | None
    ) -> Generator[Event | None, None, None]:
        """Events as they come; None once connected, after a failed reconnect, and after
        ``idle`` seconds without one (the core, ``_follow.event_flow``, decides the rest)."""
        from lanfax.client import _follow

        start = self.latest_event_seq() if after is None else after
        flow = _follow.event_flow(start, time.monotonic, idle=idle, reconnect_for=reconnect_for)
        with _EventSource(self) as source:
            reply: _follow.Reply | Job | None = None
            while True:
                action = flow.send(reply)
                if isinstance(action, _follow.Emit):
                    reply = None
                    yield action.event
                else:
                    reply = source.perform(action)

    def wait(
        self,
        job_ids: Iterable[int],
        timeout: float | None = None,
        *,
        on_change: Callable[[Job], None] | None = None,
    ) -> list[Job]:
        """Block until every job is final; returns their final snapshots in the given order.

        Driven by the event stream; each job is re-read when an event names it (and, as a
        safety net, every two seconds). ``on_change`` sees every new snapshot. Raises
        :class:`WaitTimeout` (holding the latest snapshots) after ``timeout`` seconds.
        """
        from lanfax.client import _follow

        flow = _follow.wait_flow(
            job_ids, self.latest_event_seq(), time.monotonic, timeout, on_change
        )
        with _EventSource(self) as source:
            return c.run_flow(flow, source.perform)


class _EventSource:
    """The sync driver of ``_follow``'s flows: one event stream at a time, over ``_http``."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.stream: Stream | None = None

    def __enter__(self) -> _EventSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None

    def perform(self, action: _follow.Action) -> _follow.Reply | Job | None:
        from lanfax.client import _follow

        cl = self.client
        if isinstance(action, _follow.Read):
            if self.stream is None:
                raise RuntimeError("Read with no stream open")
            try:
                data = self.stream.read(action.timeout)
            except StreamClosed as exc:
                self.close()
                return _follow.Broken(c.unavailable(cl.base_url, exc))
            return _follow.Quiet() if data is None else _follow.Data(data)
        if isinstance(action, _follow.Open):
            self.close()
            headers = {c.USER_HEADER: cl.user, **cl._auth, **action.headers}
            target = c.Op("GET", _EVENTS_PATH, c._none, query=action.query).target
            try:
                connect = min(cl.timeout, _follow.connect_bound(action))
                stream = Stream(cl.base_url, target, headers, connect, cl.ca_file)
            except FaxError as exc:
                return _follow.Broken(exc)
            except StreamClosed as exc:
                return _follow.Broken(c.unavailable(cl.base_url, exc))
            if stream.status != 200:
                try:
                    return _follow.Refused(stream.response())
                finally:
                    stream.close()
            self.stream = stream
            return _follow.Opened()
        if isinstance(action, _follow.Sleep):
            time.sleep(action.seconds)
            return None
        if isinstance(action, _follow.GetJob):
            return cl.job(action.job_id)
        raise TypeError(f"not an action: {action!r}")


_EVENTS_PATH = f"{c.API}/events"
