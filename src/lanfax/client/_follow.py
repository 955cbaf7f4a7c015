"""The event stream and ``wait()`` as one I/O-free core, driven by both clients.

httpx's auth flows are the model: a flow is a generator that *yields* what it needs done
(:class:`Open` the stream, :class:`Read` from it, :class:`Sleep`, :class:`GetJob`) and is
*sent* what came of it (:class:`Opened`, :class:`Refused`, :class:`Broken`, :class:`Data`,
:class:`Quiet`, a Job). :class:`Emit` hands an event (or None: "connected", "nothing for a
while") to whoever follows the stream. The sync client runs a flow over its own sockets, the
async one over httpx; every decision is taken here, once:

- **Which errors end a stream.** A connection that fails or breaks is retried, after the
  server's ``retry`` delay (WHATWG HTML, server-sent events: "reconnection time"), as long as
  the stream was connected once and has not been down longer than ``reconnect_for``; a
  connection that fails the first time raises at once (a wrong URL should not hang). An
  answer other than 200 (401, 403, ...) ends the stream with the error it stands for: the
  server is there and said no.
- **Nothing dropped or repeated.** The :class:`~lanfax.client._sse.EventCursor` sends
  ``Last-Event-ID`` on every reconnect and drops anything at or below the last seq delivered.
- **What ``wait()`` does.** Subscribe first, then read the jobs (nothing slips between the
  two); re-read a job when an event names it, and every :data:`SAFETY_POLL` seconds all
  unfinished ones; raise :class:`~lanfax.client._handles.WaitTimeout` with the latest snapshot
  of every job read when the deadline passes.

Time comes from the ``clock`` a flow is given (``time.monotonic`` in the clients, a virtual
clock in the tests), so the tests run a flow by hand, with no socket and no sleep.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from lanfax.client._base import Response, error_from_response
from lanfax.client._handles import WaitTimeout
from lanfax.client._sse import EventCursor
from lanfax.model.errors import FaxError
from lanfax.model.jobs import Job

if TYPE_CHECKING:
    from lanfax.model.events import Event

R = TypeVar("R")

#: Every this many seconds ``wait()`` re-reads every unfinished job, events or not (a missed
#: event, or a server that restarted without storing one, cannot stall a wait).
SAFETY_POLL = 2.0
#: How long ``wait()`` reads the stream at a time before it looks at the clock again.
WAIT_TICK = 0.5
#: The longest a driver waits for the stream's connection and answer head (a request's own
#: timeout when shorter): a reconnect must not hang on a half-dead server.
CONNECT_TIMEOUT = 10.0

# -- what a flow asks for -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Open:
    """Open ``GET /events`` with this query and these headers (closing any stream open).
    Answer :class:`Opened`, :class:`Refused` or :class:`Broken`."""

    query: dict[str, str]
    headers: dict[str, str]
    #: At most this long to connect and see the answer's status (None: the driver's own
    #: :data:`CONNECT_TIMEOUT`): a wait bounds it by its deadline.
    timeout: float | None = None


def connect_bound(action: Open) -> float:
    """How long a driver may take to open ``action``'s stream."""
    if action.timeout is None:
        return CONNECT_TIMEOUT
    # Never 0: a socket timeout of 0 means non-blocking, not "give up at once".
    return max(0.01, min(CONNECT_TIMEOUT, action.timeout))


@dataclass(frozen=True, slots=True)
class Read:
    """Read from the open stream for at most ``timeout`` seconds (None: until something
    comes). Answer :class:`Data`, :class:`Quiet` or :class:`Broken` (the stream is closed)."""

    timeout: float | None


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait ``seconds``; answer None."""

    seconds: float


@dataclass(frozen=True, slots=True)
class GetJob:
    """Read job ``job_id`` (``GET /jobs/{id}``); answer the Job. Its errors are raised by
    the driver as they are (a job deleted meanwhile ends the wait with NotFound)."""

    job_id: int


@dataclass(frozen=True, slots=True)
class Emit:
    """Hand ``event`` to the stream's follower (None: connected, a reconnect failed, or
    quiet for a while; ``connected`` tells the first apart); answer None."""

    event: Event | None
    connected: bool = False


Action = Open | Read | Sleep | GetJob | Emit

# -- what a driver answers --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Opened:
    """The stream is open (200)."""


@dataclass(frozen=True, slots=True)
class Refused:
    """The server answered something other than 200; ``response`` holds its whole body."""

    response: Response


@dataclass(frozen=True, slots=True)
class Broken:
    """No connection, or it ended or broke; ``error`` is what to raise if the flow gives up
    (the driver's Unavailable, with its reason and TLS hint)."""

    error: FaxError


@dataclass(frozen=True, slots=True)
class Data:
    """Body bytes from the stream."""

    chunk: bytes


@dataclass(frozen=True, slots=True)
class Quiet:
    """Nothing came within the Read's timeout; the stream is still open."""


Reply = Opened | Refused | Broken | Data | Quiet
#: A flow: yields actions, is sent the driver's answers (None for Sleep and Emit, a Job for
#: GetJob), and returns ``R``.
Flow = Generator[Action, Reply | Job | None, R]


def event_flow(
    after: int,
    clock: Callable[[], float],
    *,
    idle: float | None = None,
    reconnect_for: float | None = 30.0,
) -> Flow[None]:
    """Follow the events after seq ``after``, forever (see the module docstring).

    Emits None once each time the stream is (re)connected, after every failed reconnect, and
    after ``idle`` seconds without an event; raises the error that ended the stream.
    """
    cursor = EventCursor(after)
    down_since: float | None = None
    connected_once = False
    while True:
        reply = yield Open(cursor.query(), cursor.headers())
        if isinstance(reply, Refused):
            raise error_from_response(reply.response, "GET /events")
        if isinstance(reply, Broken):
            now = clock()
            down_since = now if down_since is None else down_since
            if not connected_once or (
                reconnect_for is not None and now - down_since > reconnect_for
            ):
                raise reply.error
            yield Sleep(cursor.retry_delay)
            yield Emit(None)  # not connected yet: a follower may look at its own clock
            continue
        if not isinstance(reply, Opened):
            raise TypeError(f"Open was answered with {reply!r}")
        down_since = None
        connected_once = True
        cursor.reset()
        yield Emit(None, connected=True)  # the follower may now read the state it follows
        while True:
            reply = yield Read(idle)
            if isinstance(reply, Quiet):
                yield Emit(None)
            elif isinstance(reply, Data):
                for event in cursor.feed(reply.chunk):
                    yield Emit(event)
            elif isinstance(reply, Broken):
                down_since = clock()
                break
            else:
                raise TypeError(f"Read was answered with {reply!r}")
        # The server went away (a restart) or ended the stream: come back after its delay.
        yield Sleep(cursor.retry_delay)


def wait_flow(
    job_ids: Iterable[int],
    after: int,
    clock: Callable[[], float],
    timeout: float | None = None,
    on_change: Callable[[Job], None] | None = None,
) -> Flow[list[Job]]:
    """Until every job is final: their final snapshots, in the order given (duplicates
    dropped). ``after`` is the newest event seq before the wait (events from then on count).
    ``on_change`` sees every new snapshot. Raises WaitTimeout once ``timeout`` seconds passed,
    and whatever ends the event stream or a job read."""
    ids = list(dict.fromkeys(int(i) for i in job_ids))
    deadline = None if timeout is None else clock() + timeout
    latest: dict[int, Job] = {}

    def snapshots() -> list[Job]:
        return [latest[i] for i in ids if i in latest]

    def left() -> float | None:
        return None if deadline is None else deadline - clock()

    def read(job_id: int) -> Flow[None]:
        job = yield GetJob(job_id)
        if not isinstance(job, Job):
            raise TypeError(f"GetJob was answered with {job!r}")
        if on_change is not None and latest.get(job_id) != job:
            on_change(job)
        latest[job_id] = job

    stream = event_flow(after, clock, idle=WAIT_TICK, reconnect_for=None)
    reply: Reply | Job | None = None
    connected = False
    last_poll = 0.0
    try:
        while True:
            action = stream.send(reply)
            reply = None
            if not isinstance(action, Emit):
                remaining = left()
                if isinstance(action, Read):
                    # Look at the clock again by the deadline and by the next safety poll.
                    bounds = [WAIT_TICK, max(0.0, last_poll + SAFETY_POLL - clock())]
                    if remaining is not None:
                        bounds.append(max(0.0, remaining))
                    action = Read(min(bounds))
                elif isinstance(action, Sleep) and remaining is not None:
                    action = Sleep(max(0.0, min(action.seconds, remaining)))
                elif isinstance(action, Open) and remaining is not None:
                    # A server that accepts but does not answer (a restart half done) must
                    # not hold the wait past its deadline for a whole connect timeout.
                    bound = max(0.0, min(CONNECT_TIMEOUT, remaining))
                    action = Open(action.query, action.headers, bound)
                reply = yield action
                continue
            if action.connected and not connected:
                # Subscribed: now read the jobs; nothing can slip between the two.
                connected = True
                for job_id in ids:
                    yield from read(job_id)
                last_poll = clock()
            named = None if action.event is None else latest.get(action.event.job_id)
            if connected:
                if named is not None and not named.is_final:
                    yield from read(named.job_id)
                if clock() - last_poll >= SAFETY_POLL:
                    for job_id in [i for i in ids if not latest[i].is_final]:
                        yield from read(job_id)
                    last_poll = clock()
                if all(latest[i].is_final for i in ids):
                    return [latest[i] for i in ids]
            remaining = left()
            if remaining is not None and remaining <= 0:
                raise WaitTimeout(snapshots(), ids)
    finally:
        stream.close()
