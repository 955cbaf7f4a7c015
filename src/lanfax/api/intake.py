"""Submissions taken in more than one process (#19): ``[server] intake_workers = N``.

One process's GIL bounds how many submissions per second one ``lanfax serve`` takes (~1 ms
of GIL-held time per job, 2026-12). With ``intake_workers = N`` (default 0: one process, as
always), ``lanfax serve`` starts N **intake workers** (:mod:`lanfax.api.intake_worker`) that
inherit the API's listening socket; the main process stops accepting on it, so every
connection reaches a worker first. What each does:

* **A worker** serves small multipart ``POST /api/v1/jobs`` requests: HTTP, the body split in
  one pass, and for the plain shape (one ``params`` part, one fax-ready TIFF ``file`` part) the
  document written into the spool's ``tmp`` and checked in one libtiff pass
  (:func:`lanfax.service.intake.stage_checked`): that is the part of a submission that needs
  no store. Any other request hands the whole connection (the socket, ``SCM_RIGHTS``, and the
  bytes read of that request) to main, between requests; main serves it as if it had
  accepted it: GETs, the event stream, websockets, the console, downloads, large or chunked
  uploads, exactly as without workers.
* **Main** runs its own app, with every middleware (audit, refusals, limits, stop) and the
  same route, on each request a worker sends (:meth:`Intake._run`; a prepared submission
  through the app's lean path, :mod:`lanfax.api.intake_lean`: the same wrappers,
  middlewares, route and handlers without the framework's routing): for a prepared one it
  authenticates the caller, checks rights and params, renames the staged file into
  ``spool/docs`` (vouched: not scanned again; made durable with its group by one
  ``syncfs``), group-commits the jobs
  (with the other prepared ones waiting: :mod:`lanfax.service.intake_commit`) and answers
  201 once they are durable; a relayed one (a shape the worker does not take,
  bad input) it reads as it always does, so every error is the same problem+json. The
  worker writes main's answer: **a worker never answers a submission itself**, so nothing is
  acknowledged that is not committed, and a token revoked on main is refused at once.

Failures: a worker that dies takes its connections with it (their clients get an error, not
a hang: only the worker held them); main finishes what it was committing for it (durable, its
answer dropped), removes its staged files (:func:`lanfax.service.intake.sweep`) and starts a
new one (after 0.1 s, doubling while it dies within 2 s of its start; after 3 such deaths in a
row that slot is left down and, with no worker left, main takes the socket back and serves
alone). A worker that hangs (stopped, stuck) takes no new connection (the socket is
shared) and is found by a heartbeat: main pings each worker every third of ``hang_s``
(``[server] intake_hang_s``, 30 s) and kills one that has not answered for that long (its
clients get an error instead of waiting for their time-out); it is replaced as above. Main
killed: the workers die with it. SIGINT/SIGTERM: the workers stop accepting at once, finish
what they have (main still commits and answers it), then main stops. TLS: not with intake
workers (a TLS session cannot be handed between processes): refused at start.
A submission without any credentials is relayed as it came (main refuses it, no file is
written); one with a wrong token costs its worker the write and the check.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.registry import Collector

from lanfax.api.intake_lean import LeanSubmit
from lanfax.api.intake_metrics import IntakeCollector
from lanfax.api.intake_wire import (
    HOPS,
    PING,
    SCOPE_KEY,
    TRACE_KEY,
    HandoffReader,
    Prepared,
    frame,
    read_frame,
)
from lanfax.service.intake import sweep

log = logging.getLogger("lanfax.init")

#: A worker that ends within this many seconds of its start counts as a quick death.
QUICK = 2.0
#: Quick deaths in a row after which a slot is left down.
GIVE_UP = 3
#: Seconds a starting worker has to answer its first ping (``hang_s`` after that).
STARTING_GRACE = 60.0


@dataclass
class _Slot:
    index: int
    proc: asyncio.subprocess.Process | None = None
    started: float = 0.0
    quick_deaths: int = 0
    writer: asyncio.StreamWriter | None = None
    handoff: HandoffReader | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    down: bool = False
    #: When the worker last answered a ping (or started); its heartbeat task.
    answered: float = 0.0
    beat: asyncio.Task[None] | None = None


class Intake:
    """Main's side of the intake workers: starts and restarts them, adopts the connections
    they hand over and answers the requests they send, through the server's own app.

    ``run`` runs a blocking call in the service's thread pool (``ServiceContext.run``)."""

    def __init__(
        self,
        count: int,
        listen: socket.socket,
        *,
        tmp: Path,
        max_upload_bytes: int,
        max_json_bytes: int,
        max_pages: int,
        run: Callable[..., Awaitable[Any]],
        authentication: bool = True,
        log_level: str = "warning",
        hang_s: float = 30.0,
    ) -> None:
        self.count = count
        #: A worker that has not answered main's ping for this long is killed (0: never).
        self.hang_s = hang_s
        self.listen = listen
        self.tmp = tmp
        self.run = run
        self._config = {
            "tmp": str(tmp),
            "max_upload_bytes": max_upload_bytes,
            "max_json_bytes": max_json_bytes,
            "max_pages": max_pages,
            "authentication": authentication,
            "log_level": log_level,
        }
        self._slots = [_Slot(i + 1) for i in range(count)]
        self._stopping = False
        self._server: Any = None  # the uvicorn.Server whose app and state main serves with
        self._handed: Any = None
        #: The lean path for prepared submissions (#19 wave 7), built at the first one;
        #: False: this app cannot have one (every request through the whole app).
        self._lean: LeanSubmit | bool | None = None
        self._watchers: set[asyncio.Task[None]] = set()
        self._starting: asyncio.Future[None] | None = None
        self._adopting: set[asyncio.Task[None]] = set()
        #: Whether main took the listening socket back (every worker slot is down).
        self.alone = False
        #: Requests workers sent prepared and raw, connections they handed over, workers
        #: that ended and were replaced (counted here; in /metrics, and printed at the stop).
        self.prepared = self.relayed = self.handed = self.restarts = 0
        #: Prepared submissions main answered through its lean path (the rest: its app).
        self.lean = 0
        #: Workers killed because they stopped answering (``hang_s``); pings they answered.
        self.hung = self.pongs = 0
        #: Seconds spent in each hop (by HOPS) by the prepared submissions answered 201, and
        #: how many those were: a run's mean per hop is the difference of two readings.
        self.hop_sums = [0.0] * len(HOPS)
        self.hopped = 0

    # -- start, supervise, stop -----------------------------------------------------------------

    def attach(self, server: Any) -> None:
        """The ``uvicorn.Server`` main serves with (its config loaded): requests from
        workers run through its app, handed connections through its HTTP protocol."""
        self._server = server
        base = server.config.http_protocol_class

        class Handed(base):  # type: ignore[misc, valid-type]
            """A connection a worker handed over, with the bytes it had read of it."""

            def __init__(self, *args: Any, initial: bytes, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self._initial = initial

            def connection_made(self, transport: Any) -> None:
                super().connection_made(transport)
                if self._initial:  # before any later byte: nothing can come in between
                    self.data_received(self._initial)

        self._handed = Handed

    def _protocol(self, initial: bytes | None = None) -> Any:
        server = self._server
        cls = server.config.http_protocol_class if initial is None else self._handed
        extra = {} if initial is None else {"initial": initial}
        return cls(
            config=server.config,
            server_state=server.server_state,
            app_state=server.lifespan.state,
            **extra,
        )

    async def start(self) -> None:
        """Start every worker (each accepts at once)."""
        for slot in self._slots:
            if self._stopping:
                return
            try:
                await self._spawn(slot)
            except OSError as exc:
                await self._cannot_start(slot, exc)

    async def _cannot_start(self, slot: _Slot, exc: OSError) -> None:
        log.error("intake worker %d could not start: %s", slot.index, exc)
        slot.down = True
        if all(s.down for s in self._slots):
            await self._serve_alone()

    def start_when_serving(self) -> None:
        """Start the workers once the attached server serves (its app and state ready for
        what they send and hand over; until then connections wait in the socket's queue)."""

        async def when_serving() -> None:
            server = self._server
            while not server.started:
                if server.should_exit or self._stopping:
                    return
                await asyncio.sleep(0.01)
            await self.start()

        self._starting = asyncio.ensure_future(when_serving())

    async def _spawn(self, slot: _Slot) -> None:
        loop = asyncio.get_running_loop()
        pair, pair_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        handoff, handoff_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        config = dict(
            self._config,
            listen_fd=self.listen.fileno(),
            pair_fd=pair_child.fileno(),
            handoff_fd=handoff_child.fileno(),
        )
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-P",  # not the working directory first on sys.path: a ./lanfax there is not us
                "-m",
                "lanfax.api.intake_worker",
                json.dumps(config),
                pass_fds=(self.listen.fileno(), pair_child.fileno(), handoff_child.fileno()),
                stdin=asyncio.subprocess.DEVNULL,
            )
        except BaseException:
            for s in (pair, handoff):
                s.close()
            raise
        finally:
            pair_child.close()
            handoff_child.close()
        slot.proc, slot.started = proc, loop.time()
        slot.answered = 0.0  # not yet: a worker starting gets STARTING_GRACE to answer first
        reader, slot.writer = await asyncio.open_unix_connection(sock=pair)
        handoff.setblocking(False)
        slot.handoff = HandoffReader(handoff)
        loop.add_reader(handoff.fileno(), self._on_handoff, slot)
        self._keep(slot.tasks, self._requests(slot, reader))
        self._keep(self._watchers, self._watch(slot, proc))
        if self.hang_s > 0:
            slot.beat = asyncio.ensure_future(self._heartbeat(slot, proc))
        print(f"lanfax: intake worker {slot.index} started (pid {proc.pid})", flush=True)

    async def _heartbeat(self, slot: _Slot, proc: asyncio.subprocess.Process) -> None:
        """Ping the worker every third of ``hang_s``; one whose event loop has not answered
        for ``hang_s`` (stopped, stuck in a call that never returns) is killed: its clients
        get an error instead of waiting for their time-out, and ``_watch`` replaces it."""
        loop = asyncio.get_running_loop()
        while proc.returncode is None and not self._stopping:
            await asyncio.sleep(self.hang_s / 3)
            writer = slot.writer
            if writer is None or writer.is_closing() or slot.proc is not proc:
                return
            if slot.answered:
                silent, limit = loop.time() - slot.answered, self.hang_s
            else:  # still starting (imports take seconds on a loaded machine)
                silent, limit = loop.time() - slot.started, max(self.hang_s, STARTING_GRACE)
            if silent > limit:
                self.hung += 1
                log.warning(
                    "intake worker %d (pid %d) has not answered for %.0f s: killed, another"
                    " is started ([server] intake_hang_s)",
                    slot.index,
                    proc.pid,
                    silent,
                )
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                return
            writer.write(frame((PING, "ping", {}, None)))

    @staticmethod
    def _keep(tasks: set[asyncio.Task[None]], coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _watch(self, slot: _Slot, proc: asyncio.subprocess.Process) -> None:
        """Wait for the worker's end; clean up after it and, unless stopping, replace it."""
        code = await proc.wait()
        loop = asyncio.get_running_loop()
        self._close_slot(slot)
        # Its staged files go once what main was doing for it is done (a commit under way
        # stays committed): beside the restart, which does not wait for that.
        self._keep(self._watchers, self._sweep_after(list(slot.tasks), proc.pid))
        if self._stopping:
            return
        quick = loop.time() - slot.started < QUICK
        slot.quick_deaths = slot.quick_deaths + 1 if quick else 0
        log.warning(
            "intake worker %d (pid %d) ended (%s): %s",
            slot.index,
            proc.pid,
            f"signal {-code}" if code < 0 else f"status {code}",
            "left down" if slot.quick_deaths >= GIVE_UP else "starting another",
        )
        if slot.quick_deaths >= GIVE_UP:
            slot.down = True
            if all(s.down for s in self._slots):
                await self._serve_alone()
            return
        await asyncio.sleep(0.1 * 2 ** max(0, slot.quick_deaths - 1) if quick else 0.0)
        if not self._stopping:
            self.restarts += 1
            try:
                await self._spawn(slot)
            except OSError as exc:
                await self._cannot_start(slot, exc)

    async def _sweep_after(self, tasks: list[asyncio.Task[None]], pid: int) -> None:
        """Remove what dead worker ``pid`` staged, once main's work for it is done (or after
        a minute: a request that never ends, such as a relayed event stream, keeps nothing
        of its staged)."""
        if tasks:
            await asyncio.wait(tasks, timeout=60.0)
        with contextlib.suppress(OSError):
            await self.run(sweep, self.tmp, pid)

    async def _serve_alone(self) -> None:
        """Every worker slot is down: main accepts on the socket itself (as with 0)."""
        if self.alone or self._stopping:
            return
        log.error("no intake worker can run: the main process takes every request itself")
        loop = asyncio.get_running_loop()
        listener = await loop.create_server(self._protocol, sock=self.listen, backlog=1024)
        self._server.servers.append(listener)
        self.alone = True

    def _close_slot(self, slot: _Slot) -> None:
        if slot.beat is not None:
            slot.beat.cancel()
            slot.beat = None
        if slot.handoff is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(slot.handoff.pair.fileno())
            slot.handoff.close()
            slot.handoff = None
        if slot.writer is not None:
            slot.writer.close()
            slot.writer = None

    def begin_stop(self) -> None:
        """Tell every worker to stop (SIGTERM: no new connections, requests in progress
        finished). Safe from a signal handler."""
        self._stopping = True
        for slot in self._slots:
            proc = slot.proc
            if proc is not None and proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop the workers and wait for them (killed after ``timeout``), answering what
        they still send meanwhile; then what main was doing for them ends."""
        self._stopping = True
        if self._starting is not None:
            with contextlib.suppress(Exception):
                await self._starting  # returns at once, or after the worker it is starting
        self.begin_stop()
        procs = [s.proc for s in self._slots if s.proc is not None]
        waits = [asyncio.ensure_future(p.wait()) for p in procs]
        if waits:
            _done, late = await asyncio.wait(waits, timeout=timeout)
            for p in procs:
                if p.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        p.kill()
            if late:
                await asyncio.wait(late)
        if self._watchers:
            # Bounded: a relayed request that never ends (a pipelined event stream) must
            # not hold the stop; what is left then is cancelled (its worker is gone).
            await asyncio.wait(list(self._watchers), timeout=timeout)
        for slot in self._slots:
            self._close_slot(slot)
            for task in list(slot.tasks):
                task.cancel()
        for task in list(self._watchers):
            task.cancel()
        if self._adopting:
            await asyncio.wait(list(self._adopting))
        print(
            f"lanfax: intake workers: {self.prepared} submission(s) prepared, {self.relayed}"
            f" request(s) relayed, {self.handed} connection(s) handed to the main process",
            flush=True,
        )

    def pids(self) -> list[int]:
        return [s.proc.pid for s in self._slots if s.proc is not None and s.proc.returncode is None]

    def collector(self) -> Collector:
        """The intake's figures for ``/metrics`` (register it with the service's registry)."""
        return IntakeCollector(self)

    # -- connections handed over --------------------------------------------------------------

    def _on_handoff(self, slot: _Slot) -> None:
        reader = slot.handoff
        if reader is None:
            return
        try:
            handed = reader.read()
        except (EOFError, OSError):
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(reader.pair.fileno())
            return
        self.handed += len(handed)
        for conn, data in handed:
            self._keep(self._adopting, self._adopt(conn, data))

    async def _adopt(self, conn: socket.socket, data: bytes) -> None:
        conn.setblocking(False)
        protocol = self._protocol(data)
        try:
            await asyncio.get_running_loop().connect_accepted_socket(lambda: protocol, conn)
        except OSError as exc:
            conn.close()
            log.info("a connection handed over by an intake worker was lost: %s", exc)

    # -- requests sent by workers -------------------------------------------------------------

    async def _requests(self, slot: _Slot, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, OSError):
            while True:
                rid, kind, head, payload = await read_frame(reader)
                if kind == "pong":
                    slot.answered = asyncio.get_running_loop().time()
                    self.pongs += 1
                    continue
                got = time.monotonic()
                self._keep(slot.tasks, self._answer(slot, rid, kind, head, payload, got))

    async def _answer(
        self,
        slot: _Slot,
        rid: int,
        kind: str,
        head: dict[str, Any],
        payload: Any,
        got: float = 0.0,
    ) -> None:
        prepared = payload if kind == "prepared" and isinstance(payload, Prepared) else None
        body = payload if isinstance(payload, bytes) else b""
        trace: list[float] | None = None
        if prepared is not None:
            self.prepared += 1
            if len(prepared.stamps) == 3:  # the worker's: head, body, staged; then main's
                trace = [*prepared.stamps, got]
        else:
            self.relayed += 1
        status, headers, out = await self._run(head, body, prepared, trace)
        if trace is not None and status == 201 and len(trace) == 7:
            trace.append(time.monotonic())
            for i, (a, b) in enumerate(itertools.pairwise(trace)):
                self.hop_sums[i] += b - a
            self.hopped += 1
        if prepared is not None and status != 201:
            # Not taken (refused, a bad request, the service stopping): nothing refers to it.
            with contextlib.suppress(OSError):
                await self.run(functools.partial(Path(prepared.staged[0]).unlink, missing_ok=True))
        writer = slot.writer
        if writer is not None and not writer.is_closing():
            writer.write(frame((rid, status, headers, out)))

    def _lean_path(self, scope: dict[str, Any]) -> LeanSubmit | None:
        if self._lean is None:
            self._lean = LeanSubmit.build(self._server.config.loaded_app) or False
            if not self._lean:
                log.info("intake: prepared submissions go through the whole app")
        lean = self._lean
        return lean if isinstance(lean, LeanSubmit) and lean.takes(scope) else None

    async def _run(
        self,
        head: dict[str, Any],
        body: bytes,
        prepared: Prepared | None,
        trace: list[float] | None = None,
    ) -> tuple[int, list[Any], bytes]:
        """One request through the server's app (uvicorn's loaded app: its proxy-header
        middleware, then every middleware of ours), answered in full; a prepared submission
        through the same app's lean path (:mod:`lanfax.api.intake_lean`: the same wrappers,
        middlewares, route and exception handlers, without the framework's routing)."""
        scope: dict[str, Any] = dict(head)
        scope["state"] = dict(self._server.lifespan.state)
        app = self._server.config.loaded_app
        if prepared is not None:
            scope[SCOPE_KEY] = prepared
            if trace is not None:
                scope[TRACE_KEY] = trace
            lean = self._lean_path(scope)
            if lean is not None:
                self.lean += 1
                app = lean
        return await respond(app, scope, body)


async def respond(app: Any, scope: dict[str, Any], body: bytes) -> tuple[int, list[Any], bytes]:
    """One request (``scope``, its whole ``body``) through ASGI ``app``, answered in full as
    ``(status, headers, body)``; an exception no handler took: 500, as uvicorn answers it."""
    given = False
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def receive() -> dict[str, Any]:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        await never  # the client's disconnect is the worker's to see, not ours
        return {"type": "http.disconnect"}

    status, headers, chunks = 500, [], []

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status, headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    try:
        await app(scope, receive, send)
    except Exception:
        log.exception("Exception in ASGI application (a request from an intake worker)")
        return 500, [(b"content-type", b"text/plain; charset=utf-8")], b"Internal Server Error"
    finally:
        never.cancel()
    return status, headers, b"".join(chunks)
