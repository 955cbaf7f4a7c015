"""Server-sent events: an incremental parser and a cursor that delivers each event once."""

from __future__ import annotations

import json
from collections.abc import Mapping

from lanfax.client._core import API
from lanfax.model.events import Event
from lanfax.model.jobs import Job
from lanfax.model.wire import from_wire

# -- server-sent events -------------------------------------------------------------------------


class SSEParser:
    """Incremental ``text/event-stream`` parser (WHATWG HTML, "server-sent events").

    :meth:`feed` takes bytes as they arrive and returns the complete events in them. ``id``,
    ``event``, ``data`` and ``retry`` are honoured; comments (keep-alives) are dropped.
    """

    def __init__(self) -> None:
        self._buf = b""
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self.retry_ms: int | None = None

    def feed(self, chunk: bytes) -> list[tuple[str | None, str, str]]:
        """``(id, event name, data)`` for each event completed by ``chunk``."""
        self._buf += chunk
        out: list[tuple[str | None, str, str]] = []
        while True:
            idx = self._buf.find(b"\n")
            if idx < 0:
                break
            raw, self._buf = self._buf[:idx], self._buf[idx + 1 :]
            line = raw.rstrip(b"\r").decode("utf-8", "replace")
            if not line:
                if self._data:
                    out.append((self._id, self._event or "message", "\n".join(self._data)))
                self._data, self._event = [], ""
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                self._data.append(value)
            elif name == "event":
                self._event = value
            elif name == "id" and "\0" not in value:
                self._id = value
            elif name == "retry" and value.isdigit():
                self.retry_ms = int(value)
        return out


class EventCursor:
    """Turns raw SSE messages into Events, exactly once each, and remembers where it is.

    ``last`` is the highest ``seq`` delivered; anything at or below it is a repeat after a
    reconnect and is dropped, so a reconnecting stream never repeats an event.
    """

    def __init__(self, after: int | None) -> None:
        self.last = after
        self.parser = SSEParser()

    def reset(self) -> None:
        self.parser = SSEParser()

    def feed(self, chunk: bytes) -> list[Event]:
        events: list[Event] = []
        for _id, _name, data in self.parser.feed(chunk):
            try:
                payload = json.loads(data)
            except ValueError:
                continue  # not an event of ours (a future message kind); nothing to deliver
            if not isinstance(payload, Mapping) or "seq" not in payload:
                continue
            event = from_wire(Event, payload)
            if self.last is not None and event.seq <= self.last:
                continue
            self.last = event.seq
            events.append(event)
        return events

    def query(self) -> dict[str, str]:
        return {} if self.last is None else {"after": str(self.last)}

    def headers(self) -> dict[str, str]:
        h = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.last is not None:
            h["Last-Event-ID"] = str(self.last)
        return h

    @property
    def retry_delay(self) -> float:
        ms = self.parser.retry_ms
        return 0.2 if ms is None else max(0.05, min(ms / 1000.0, 5.0))


EVENTS_PATH = f"{API}/events"


def job_is_final(job: Job) -> bool:
    return job.queue_status.is_final
