"""The asynchronous client, over httpx (imported only when an AsyncClient is made)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx

from lanfax.client import _core as c
from lanfax.client import _follow, _sse, _submit
from lanfax.client._accounts import AsyncAccountMixin
from lanfax.client._archive import AsyncArchiveMixin
from lanfax.client._contacts import AsyncContactsMixin
from lanfax.client._core import Broadcast, JobPage, Op, ServerInfo
from lanfax.client._cover import AsyncCoverMixin
from lanfax.client._drafts import AsyncDraftMixin  # issue #11
from lanfax.client._extensions import AsyncExtensionsMixin
from lanfax.client._handles import AsyncPortHandle, merge_logging, open_mode
from lanfax.client._outbound import AsyncOutboundMixin
from lanfax.client._report import AsyncReportMixin
from lanfax.client._routing import AsyncRoutingMixin
from lanfax.client._submit import FileArg, RecipientCallback
from lanfax.client._users import AsyncUsersMixin  # issue #17
from lanfax.model.codes import AccessRight, AccessRightEx, JobType, PortOpenMode, QueueStatus
from lanfax.model.config import LoggingCategory, ServerConfig
from lanfax.model.devices import DeviceStatusInfo, PortInfo
from lanfax.model.errors import Unavailable
from lanfax.model.events import Event
from lanfax.model.jobs import Job, JobParams

T = TypeVar("T")


class AsyncClient(
    AsyncDraftMixin,
    AsyncCoverMixin,
    AsyncRoutingMixin,
    AsyncReportMixin,
    AsyncOutboundMixin,
    AsyncAccountMixin,
    AsyncContactsMixin,
    AsyncArchiveMixin,
    AsyncExtensionsMixin,
    AsyncUsersMixin,
):
    """The async twin of :class:`lanfax.client.Client`: same arguments, same methods (as
    coroutines; ``events()`` is an async iterator), same models and errors.

    ``ca_file`` (default ``LANFAX_CA_FILE``): a PEM file of CA certificates to trust for an
    ``https://`` server; without it httpx's default trust store is used. ``rate_limit_wait``:
    as for :class:`~lanfax.client.Client` (429 answers are waited out, Retry-After honoured)."""

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
        verify: ssl.SSLContext | bool = True
        if self.ca_file is not None:
            verify = ssl.create_default_context(cafile=self.ca_file)
        headers = {c.USER_HEADER: self.user, "Accept": "application/json"}
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            verify=verify,
            headers={**headers, **c.auth_header(token, auth, self.base_url)},
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _run(self, op: Op[T]) -> T:
        headers = dict(op.headers)
        if op.content_type:
            headers["Content-Type"] = op.content_type
        resp = await self._send(op, headers)
        attempt, waited = 0, 0.0
        while (delay := c.retry_delay(resp, attempt, waited, self.rate_limit_wait)) is not None:
            await asyncio.sleep(delay)  # the server said when to come back (Retry-After)
            attempt, waited = attempt + 1, waited + delay
            resp = await self._send(op, headers)
        if resp.status >= 300:
            err = c.error_from_response(resp, f"{op.method} {op.path}")
            raise op.on_error(err, resp) if op.on_error else err
        return op.decode(resp)

    async def _flow(self, flow: c.OpFlow[T]) -> T:
        """As :meth:`Client._flow`, awaiting each request."""
        item = c.step(flow, None)
        while not isinstance(item, c.Done):
            item = c.step(flow, await self._run(item))
        return item.value

    async def _send(self, op: Op[Any], headers: Mapping[str, str]) -> c.Response:
        try:
            r = await self._http.request(
                op.method, op.path, params=dict(op.query), content=op.body, headers=headers
            )
        except httpx.TransportError as exc:
            raise c.unreachable(self.base_url, exc, _reason(exc), self.ca_file) from None
        return c.Response(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content)

    # -- server -----------------------------------------------------------------------------
    async def health(self) -> dict[str, Any]:
        return await self._run(c.health())

    async def server_info(self) -> ServerInfo:
        return await self._run(c.server_info())

    async def access_check(self, *rights: str | AccessRight | AccessRightEx) -> bool:
        return await self._run(c.access(rights))

    # -- configuration ----------------------------------------------------------------------
    async def get_config(self) -> ServerConfig:
        return await self._run(c.get_config())

    async def set_config(self, **changes: Any) -> ServerConfig:
        return await self._run(c.set_config(changes))

    async def get_logging(self) -> list[LoggingCategory]:
        return await self._run(c.get_logging())

    async def set_logging(
        self, categories: Iterable[LoggingCategory] | Mapping[Any, Any] | None = None, **levels: Any
    ) -> list[LoggingCategory]:
        if isinstance(categories, Mapping) or categories is None:
            changes = dict(categories or {})
            changes.update(levels)
            categories = merge_logging(await self.get_logging(), changes)
        return await self._run(c.set_logging(categories))

    # -- ports ------------------------------------------------------------------------------
    async def ports(self) -> list[PortInfo]:
        return await self._run(c.ports())

    async def port(self, device_id: int) -> PortInfo:
        return await self._run(c.port(device_id))

    async def open_port(
        self, device_id: int, mode: str | PortOpenMode = "query"
    ) -> AsyncPortHandle:
        mode_name = open_mode(mode)
        data = await self._run(c.open_port(device_id, mode_name))

        async def closer(h: str) -> None:
            await self._run(c.close_handle(h))

        return AsyncPortHandle(
            str(data["handle"]),
            int(data.get("device_id", device_id)),
            PortOpenMode[mode_name.upper()],
            closer,
        )

    async def set_port(self, handle: AsyncPortHandle, **changes: Any) -> PortInfo:
        return await self._run(c.set_port(handle.device_id, handle.checked(), changes))

    async def device_status(self, device_id: int) -> DeviceStatusInfo:
        return await self._run(c.device_status(device_id))

    # -- jobs -------------------------------------------------------------------------------
    async def send(
        self,
        files: FileArg | Sequence[FileArg],
        to: str | JobParams | Sequence[str | JobParams],
        **params: Any,
    ) -> list[Job]:
        recipients = [to] if isinstance(to, str | JobParams) else list(to)
        files_read = await asyncio.to_thread(_submit.read_files, files)
        return (await self._run(_submit.submit(files_read, recipients, params))).jobs

    async def broadcast(
        self,
        files: FileArg | Sequence[FileArg],
        recipients: Sequence[JobParams],
        *,
        on_recipient: RecipientCallback | None = None,
        **params: Any,
    ) -> Broadcast:
        chosen = _submit.apply_recipient_callback(recipients, on_recipient)
        files_read = await asyncio.to_thread(_submit.read_files, files)
        return await self._run(_submit.submit(files_read, chosen, params))

    async def jobs(
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
        return await self._run(
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

    async def iter_jobs(self, *, page_size: int = 1000, **filters: Any) -> AsyncIterator[Job]:
        after = filters.pop("after", None)
        while True:
            page = await self.jobs(limit=page_size, after=after, **filters)
            for job in page.jobs:
                yield job
            if page.next is None or not page.jobs:
                return
            after = page.next

    async def job(self, job_id: int) -> Job:
        return await self._run(c.job(job_id))

    async def pause(self, job_id: int) -> Job:
        return await self._run(c.job_command(job_id, "pause"))

    async def resume(self, job_id: int) -> Job:
        return await self._run(c.job_command(job_id, "resume"))

    async def cancel(self, job_id: int) -> Job:
        return await self._run(c.job_command(job_id, "cancel"))

    async def restart(self, job_id: int) -> Job:
        return await self._run(c.job_command(job_id, "restart"))

    async def delete(self, job_id: int) -> None:
        await self._run(c.delete_job(job_id))

    async def page_data(self, job_id: int) -> tuple[bytes, int, int]:
        return await self._run(c.page_data(job_id))

    async def document(self, job_id: int) -> bytes:
        return await self._run(c.document(job_id))

    # -- events -----------------------------------------------------------------------------
    async def events(
        self, after: int | None = None, *, reconnect_for: float | None = 30.0
    ) -> AsyncIterator[Event]:
        """As :meth:`Client.events`: reconnects with Last-Event-ID, never drops or repeats."""
        async for event in self._event_stream(after, reconnect_for):
            if event is not None:
                yield event

    async def latest_event_seq(self) -> int:
        """As :meth:`Client.latest_event_seq`."""
        info = await self.server_info()
        if info.last_event_seq is not None:
            return info.last_event_seq
        return await self._flow(c.latest_probes())

    async def events_backlog(self, after: int = 0) -> list[Event]:
        return await self._run(c.events_backlog(after))

    async def _event_stream(
        self, after: int | None, reconnect_for: float | None
    ) -> AsyncIterator[Event | None]:
        """As the sync client's (without idle ticks): the core, ``_follow.event_flow``,
        decides; this does the I/O."""
        start = await self.latest_event_seq() if after is None else after
        flow = _follow.event_flow(start, time.monotonic, reconnect_for=reconnect_for)
        async with _EventSource(self) as source:
            reply: _follow.Reply | Job | None = None
            while True:
                action = flow.send(reply)
                if isinstance(action, _follow.Emit):
                    reply = None
                    yield action.event
                else:
                    reply = await source.perform(action)

    async def wait(
        self,
        job_ids: Iterable[int],
        timeout: float | None = None,
        *,
        on_change: Callable[[Job], None] | None = None,
    ) -> list[Job]:
        """As :meth:`Client.wait` (the same core: the same errors, the same WaitTimeout)."""
        flow = _follow.wait_flow(
            job_ids, await self.latest_event_seq(), time.monotonic, timeout, on_change
        )
        async with _EventSource(self) as source:
            item = c.step(flow, None)
            while not isinstance(item, c.Done):
                item = c.step(flow, await source.perform(item))
            return item.value


class _EventSource:
    """The async driver of ``_follow``'s flows: one event stream at a time, over httpx.

    A Read that times out leaves its chunk read pending (a task), so the stream is never
    cut in the middle of a chunk; the next Read waits on the same task."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.response: httpx.Response | None = None
        self.chunks: AsyncIterator[bytes] | None = None
        self.pending: asyncio.Task[bytes] | None = None

    async def __aenter__(self) -> _EventSource:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        pending, response = self.pending, self.response
        self.pending = self.response = self.chunks = None
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await pending  # its outcome no longer matters: the stream is being closed
        if response is not None:
            await response.aclose()

    def _broken(self, exc: BaseException) -> _follow.Broken:
        cl = self.client
        return _follow.Broken(c.unreachable(cl.base_url, exc, _reason(exc), cl.ca_file))

    async def perform(self, action: _follow.Action) -> _follow.Reply | Job | None:
        cl = self.client
        if isinstance(action, _follow.Read):
            if self.chunks is None:
                raise RuntimeError("Read with no stream open")
            if self.pending is None:
                self.pending = asyncio.ensure_future(anext(self.chunks))
            done, _ = await asyncio.wait({self.pending}, timeout=action.timeout)
            if not done:
                return _follow.Quiet()
            task, self.pending = self.pending, None
            try:
                return _follow.Data(task.result())
            except StopAsyncIteration:
                await self.close()
                return _follow.Broken(c.unavailable(cl.base_url, "end of stream"))
            except (httpx.TransportError, httpx.StreamError) as exc:
                await self.close()
                return self._broken(exc)
        if isinstance(action, _follow.Open):
            await self.close()
            request = cl._http.build_request(
                "GET",
                _sse.EVENTS_PATH,
                params=action.query,
                headers=action.headers,
                timeout=httpx.Timeout(min(cl.timeout, _follow.connect_bound(action)), read=None),
            )
            try:
                response = await cl._http.send(request, stream=True)
            except (httpx.TransportError, httpx.StreamError) as exc:
                return self._broken(exc)
            if response.status_code != 200:
                try:
                    body = await response.aread()
                except (httpx.TransportError, httpx.StreamError):
                    body = b""  # the status alone names the error
                finally:
                    await response.aclose()
                answer = c.Response(response.status_code, dict(response.headers), body)
                return _follow.Refused(answer)
            self.response, self.chunks = response, response.aiter_raw()
            return _follow.Opened()
        if isinstance(action, _follow.Sleep):
            await asyncio.sleep(action.seconds)
            return None
        if isinstance(action, _follow.GetJob):
            return await cl.job(action.job_id)
        raise TypeError(f"not an action: {action!r}")


def _reason(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, httpx.ConnectError) and "refused" in text.lower():
        return "connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return text or type(exc).__name__


__all__ = ["AsyncClient", "Unavailable"]
