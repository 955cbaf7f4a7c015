"""Event routes: server-sent events (with Last-Event-ID), a JSON backlog, a WebSocket."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, WebSocket, WebSocketDisconnect
from starlette.responses import Response, StreamingResponse

from lanfax.api.encode import event_to_wire, json_response
from lanfax.api.security import Caller, requires
from lanfax.model.codes import NO_JOB, AccessRightEx, JobType
from lanfax.model.errors import FaxError, InvalidInput, NotFound
from lanfax.model.events import Event
from lanfax.service.core import FaxService

log = logging.getLogger("lanfax.unknown")

#: A comment line this often keeps proxies and idle-timeouts from closing a quiet stream.
KEEPALIVE_SECONDS = 15.0


def _cursor(after: int | None, last_event_id: str | None) -> int:
    """Last-Event-ID wins over ?after (it is what a reconnecting browser sends)."""
    if last_event_id is not None and last_event_id.strip():
        if not last_event_id.strip().isdigit():
            raise InvalidInput(
                f"Last-Event-ID {last_event_id!r} is not an event cursor",
                hint="send the id of the last event received",
            )
        return int(last_event_id)
    if after is not None and after < 0:
        raise InvalidInput("after must not be negative", hint="use 0 for everything")
    return after or 0


#: What a device event (ringing, a call refused by the block list) says about someone
#: else's call: hidden from a caller who may not see every job (issue #14, item 14).
_PRIVATE_DETAIL = frozenset(
    {"caller_id", "caller_name", "number", "tsid", "remote_ident", "reason"}
)
#: Jobs whose owner one stream remembers (issue #14: the map grew without bound).
_OWNERS_KEPT = 4096


def _device_event(ev: Event) -> bool:
    """An event of the server or a device, not of a job (job id 0 or FEI's NO_JOB)."""
    return ev.job_id in (0, NO_JOB)


class _OwnFilter:
    """The own-jobs rule for events: a caller without query_jobs sees the server's and the
    devices' events (job id 0, without the numbers and names of other people's calls) and
    the events of its own jobs, nothing of other users' jobs."""

    def __init__(self, service: FaxService, caller: Caller) -> None:
        self._service = service
        self._caller = caller
        self._owner: dict[int, bool] = {}

    async def visible(self, ev: Event) -> bool:
        # The server's events (no job, no device: a configuration change) are everyone's. A
        # device's events (ringing, a refused call, idle) are not shown to a caller limited to
        # its own jobs: they are about other people's calls (issue #14); should they ever be,
        # shown() strips what names them.
        if self._caller.all_jobs or not ev.job_id:
            return True
        if ev.job_id == NO_JOB:
            return not ev.device_id
        known = self._owner.get(ev.job_id)
        if known is None:
            try:
                job = await self._service.get_job(ev.job_id)
            except NotFound:  # deleted since: it was not worth showing then either
                known, final = False, True
            except FaxError:
                # The owner could not be read (the store failed): not shown, and not
                # remembered, so that the job's next event asks again.
                log.warning(
                    "event %d not sent to %s: the owner of job %d could not be read",
                    ev.seq,
                    self._caller.user,
                    ev.job_id,
                    exc_info=True,
                )
                return False
            else:
                known = job.user_name == self._caller.user
                # A received fax gets its owner when its routing ends, or by a reassignment
                # (#13): "not yours" is final only for a sent fax.
                final = known or job.job_type is JobType.SEND
            if final:
                if len(self._owner) >= _OWNERS_KEPT:
                    # Forget the oldest half (insertion order): a job id seen again is looked up.
                    for job_id in list(self._owner)[: _OWNERS_KEPT // 2]:
                        del self._owner[job_id]
                self._owner[ev.job_id] = known
        return known

    async def shown(self, ev: Event) -> Event | None:
        """``ev`` as this caller may see it, or None."""
        if not await self.visible(ev):
            return None
        if self._caller.all_jobs or not _device_event(ev):
            return ev
        if not (_PRIVATE_DETAIL & ev.detail.keys()):
            return ev
        detail = {k: v for k, v in ev.detail.items() if k not in _PRIVATE_DETAIL}
        return dataclasses.replace(ev, detail=detail)


async def _sse(service: FaxService, after: int, own: _OwnFilter) -> AsyncIterator[bytes]:
    yield b"retry: 1000\n\n"
    events = service.subscribe(after)
    pending: asyncio.Task[Event] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(events))
            done, _ = await asyncio.wait({pending}, timeout=KEEPALIVE_SECONDS)
            if not done:
                yield b": keep-alive\n\n"
                continue
            try:
                ev = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            seen = await own.shown(ev)
            if seen is None:
                continue
            data = json.dumps(event_to_wire(seen), separators=(",", ":"))
            name = ev.event_id.name.lower()
            yield f"id: {ev.seq}\nevent: {name}\ndata: {data}\n\n".encode()
    finally:
        # The client went away (or the server is stopping): stop waiting for the next event.
        # Its cancellation, or the subscription's end, is expected; anything else is logged.
        if pending is not None and not pending.done():
            pending.cancel()
            try:
                await pending
            except (asyncio.CancelledError, StopAsyncIteration):
                pass
            except Exception:
                log.warning("event stream after %d: the subscription failed", after, exc_info=True)
        try:
            await events.aclose()
        except Exception:
            log.warning(
                "event stream after %d: its subscription did not close", after, exc_info=True
            )


def install_event_routes(r: APIRouter, service: FaxService) -> None:
    @r.get(
        "/events",
        summary="Server-sent events (Last-Event-ID / ?after); ?follow=false for a JSON backlog",
    )
    async def events(
        caller: Annotated[Caller, Depends(requires(AccessRightEx.QUERY_JOBS, own_jobs=True))],
        after: int | None = Query(None),
        follow: bool = Query(True),
        limit: int = Query(1000, ge=1, le=10000),
        last_event_id: str | None = Header(None),
    ) -> Response:
        cursor = _cursor(after, last_event_id)
        own = _OwnFilter(service, caller)
        if not follow:
            backlog = await service.events_after(cursor, limit)
            shown = [await own.shown(ev) for ev in backlog]
            return json_response([event_to_wire(ev) for ev in shown if ev is not None])
        return StreamingResponse(
            _sse(service, cursor, own),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @r.websocket("/events/ws")
    async def events_ws(
        websocket: WebSocket,
        caller: Annotated[Caller, Depends(requires(AccessRightEx.QUERY_JOBS, own_jobs=True))],
        after: int = 0,
    ) -> None:
        await websocket.accept()
        own = _OwnFilter(service, caller)
        try:
            async for ev in service.subscribe(max(after, 0)):
                seen = await own.shown(ev)
                if seen is None:
                    continue
                await websocket.send_text(json.dumps(event_to_wire(seen), separators=(",", ":")))
        except WebSocketDisconnect:
            return
