"""An intake worker process (#19, ``[server] intake_workers``): see :mod:`lanfax.api.intake`.

Started by ``lanfax serve`` as ``python -m lanfax.api.intake_worker CONFIG`` (CONFIG: JSON
naming the inherited descriptors and the limits). It accepts connections on the API's
listening socket, inherited from the main process, and serves exactly one kind of request: a
small multipart ``POST /api/v1/jobs`` (:func:`~lanfax.api.intake_wire.takes`, decided on the
request's head before the HTTP parser sees it). For that one it reads the body, splits it in
one pass, and when it is the plain shape (one ``params`` part, one ``file`` part that is a
fax-ready TIFF) writes and checks the document (:func:`lanfax.service.intake.
stage_checked`) and sends main the result; otherwise it relays the raw body. Main answers;
the worker writes the answer. Any other request makes the worker hand the connection itself
to main, with what it read of that request.

It dies with main (``PR_SET_PDEATHSIG``, and the request pair's end), ignores SIGINT (Ctrl-C
reaches the whole process group: main decides when its workers stop) and stops on SIGTERM as
uvicorn does: no new connections, requests in progress finished (main still answers them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from starlette.datastructures import UploadFile
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from lanfax.api.intake_wire import (
    MAX_HEAD,
    PING,
    Prepared,
    frame,
    part_label,
    read_frame,
    send_connection,
    takes,
)
from lanfax.api.simpleform import SIMPLE_MAX, simple_form
from lanfax.service.forkguard import die_with_parent
from lanfax.service.intake import stage_checked, staged_fields

log = logging.getLogger("lanfax.intake")

#: The ASGI scope's keys main's app is given (not the worker's state or extensions).
HEAD_KEYS = (
    "type",
    "asgi",
    "http_version",
    "server",
    "client",
    "scheme",
    "method",
    "root_path",
    "path",
    "raw_path",
    "query_string",
    "headers",
)
#: Headers that carry credentials (a token, the console's session cookie, a trusted user).
_CREDENTIALS = (b"authorization", b"cookie", b"x-lanfax-user")
#: The parts a submission may have (as api/jobs.py allows them), for the one-pass reader.
_MAX_FILES, _MAX_FIELDS = 100, 10


class Worker:
    """One worker's state: the pairs to main, the requests waiting for main's answers."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.tmp = Path(config["tmp"])
        self.max_body = min(SIMPLE_MAX, int(config["max_upload_bytes"]))
        self.max_json = int(config["max_json_bytes"])
        self.max_pages = int(config["max_pages"])
        #: Whether requests must carry credentials (``[security] authentication``).
        self.authentication = bool(config.get("authentication", True))
        self.listen = socket.socket(fileno=int(config["listen_fd"]))
        self.handoff = socket.socket(fileno=int(config["handoff_fd"]))
        self.handoff.settimeout(10.0)
        self._pair = socket.socket(fileno=int(config["pair_fd"]))
        self._pending: dict[int, asyncio.Future[tuple[int, list[Any], bytes]]] = {}
        self._next = 0
        self._writer: asyncio.StreamWriter | None = None
        self.server: uvicorn.Server | None = None
        #: Stop accepting and serving (set once the server runs).
        self.stop: Callable[[], None] = lambda: None

    async def connect(self) -> asyncio.Task[None]:
        reader, self._writer = await asyncio.open_unix_connection(sock=self._pair)
        return asyncio.create_task(self._answers(reader))

    async def _answers(self, reader: asyncio.StreamReader) -> None:
        """Main's answers, to the requests waiting for them. At the pair's end main is gone
        (a stopping main closes it only after its workers ended): the worker ends at once,
        so that its clients get a connection error, as from a killed main, never a 500 that
        would say the request failed when it may have been committed (uvicorn answers 500
        for a request whose app raised, in the moment before the kernel's SIGKILL for the
        parent's death arrives)."""
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, OSError):
            while True:
                rid, status, headers, body = await read_frame(reader)
                if rid == PING:  # main's heartbeat: this loop is alive
                    if self._writer is not None and not self._writer.is_closing():
                        self._writer.write(frame((PING, "pong", {}, None)))
                    continue
                waiting = self._pending.pop(rid, None)
                if waiting is not None and not waiting.done():
                    waiting.set_result((status, headers, body))
        if self._pending:
            log.info("the main process is gone: %d request(s) left unanswered", len(self._pending))
            os._exit(0)  # its next start empties spool/tmp of what was staged here
        self.stop()

    async def ask(self, kind: str, head: dict[str, Any], payload: object) -> Any:
        if self._writer is None or self._writer.is_closing():
            raise ConnectionError("the main process is gone")
        rid = self._next
        self._next += 1
        waiting = asyncio.get_running_loop().create_future()
        self._pending[rid] = waiting
        self._writer.write(frame((rid, kind, head, payload)))
        return await waiting

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The worker's ASGI app: every request it parses goes to main, prepared or raw."""
        if scope["type"] != "http":
            return
        began = time.monotonic()
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        head = {key: scope[key] for key in HEAD_KEYS if key in scope}
        read = time.monotonic()
        prepared = await self._prepare(scope, bytes(body))
        if prepared is not None:
            prepared = prepared._replace(stamps=(began, read, time.monotonic()))
        try:
            if prepared is not None:
                answer = await self.ask("prepared", head, prepared)
            else:
                answer = await self.ask("relay", head, bytes(body))
        except ConnectionError:
            # Main is gone: nothing will take the file (its next start empties spool/tmp
            # anyway). Any other end of this request (cancelled) leaves the file to main,
            # which may be renaming it now, and removes it after any answer but 201.
            if prepared is not None:
                Path(prepared.staged[0]).unlink(missing_ok=True)
            raise
        status, headers, out = answer
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": out})

    async def _prepare(self, scope: Scope, body: bytes) -> Prepared | None:
        """The submission read and its document staged and checked, or None: main
        reads this body itself (any other shape, and every error, is main's to answer)."""
        if scope["method"] != "POST" or scope["path"] != "/api/v1/jobs":
            return None
        ctype = ""
        credentials = not self.authentication
        for name, value in scope["headers"]:
            if name == b"content-type":
                ctype = value.decode("latin-1")
            elif name in _CREDENTIALS:
                credentials = True
        if not credentials:
            return None  # refused by main as it comes: no file work for a request without any
        form = simple_form(
            body,
            ctype,
            max_fields=_MAX_FIELDS,
            max_files=_MAX_FILES,
            max_field_size=self.max_json,
        )
        if form is None:
            return None
        items = form.multi_items()
        params = [v for k, v in items if k == "params"]
        files = [v for k, v in items if k == "file"]
        if len(items) != 2 or len(params) != 1 or len(files) != 1:
            return None
        (text,), (upload,) = params, files
        if not isinstance(text, str) or not isinstance(upload, UploadFile):
            return None
        data = upload.file.read()
        if not data:
            return None  # main names the empty part
        # On the loop: the write and the one-pass check (main renames the file and makes
        # the whole group's files durable with one syncfs before their commit, #19 wave 8);
        # a trip to a thread of our own cost the worker more CPU than this (#19, measured).
        try:
            ready = stage_checked(self.tmp, data, self.max_pages)
        except OSError as exc:
            # A full disk, a spool that went away: main stages it itself and answers as it
            # does (507 with the figures, ...), never a bare 500 from here.
            log.info("an upload is passed to the main process as it came: %s", exc)
            return None
        if ready is None:
            return None
        return Prepared(text, part_label(0, upload.filename), staged_fields(ready))


class IntakeProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol (httptools) that looks at each request's head first, at a
    request boundary: a submission it takes goes on to the parser as usual; any other
    request hands the connection to main (:func:`~lanfax.api.intake_wire.send_connection`)."""

    worker: Worker  # set once per process, before the server starts

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head = bytearray()
        self._sniffing = True
        self._in_message = False

    def data_received(self, data: bytes) -> None:
        if not self._sniffing:
            super().data_received(data)
            return
        self._unset_keepalive_if_required()
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            if len(self._head) > MAX_HEAD:
                self._hand_off()
            return
        if not takes(bytes(self._head[:end]), self.worker.max_body):
            self._hand_off()
            return
        self._sniffing = False
        taken = bytes(self._head)
        self._head.clear()
        super().data_received(taken)

    def on_message_begin(self) -> None:
        self._in_message = True
        super().on_message_begin()

    def on_message_complete(self) -> None:
        self._in_message = False
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The next request is looked at again only at a clean boundary: nothing of it fed
        # to the parser yet (a client that pipelines keeps being served here, by relay).
        idle = self.cycle is None or self.cycle.response_complete
        if idle and not self._in_message and not self.pipeline:
            self._sniffing = not self.transport.is_closing()

    def _hand_off(self) -> None:
        data = bytes(self._head)
        self._head.clear()
        self._sniffing = False
        try:
            send_connection(self.worker.handoff, self.transport.get_extra_info("socket"), data)
        except OSError as exc:
            log.warning("could not hand a connection to the main process: %s", exc)
        self.transport.abort()  # main holds the connection now (or nobody: the client sees it)


async def _serve(config: dict[str, Any]) -> None:
    worker = Worker(config)
    IntakeProtocol.worker = worker
    uv = uvicorn.Config(
        worker.app,
        http=IntakeProtocol,
        interface="asgi3",
        # The raw client address goes to main, whose own uvicorn app reads proxy headers.
        proxy_headers=False,
        lifespan="off",
        access_log=False,
        log_level=config.get("log_level", "warning"),
        timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(uv)
    worker.server = server
    answers = await worker.connect()
    loop = asyncio.get_running_loop()
    uv.load()

    def accept_one() -> None:
        # One connection per wake-up, not asyncio's batch of up to ``backlog``: the workers
        # share the socket, and a batch would give one worker every connection that arrived
        # together (8 clients starting at once: often 7 and 1, measured). Level-triggered:
        # the rest wakes this worker and the others again.
        try:
            conn, _addr = worker.listen.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        except OSError as exc:  # EMFILE and the like: the others (or main) may do better
            log.warning("accept: %s", exc)
            return
        conn.setblocking(False)
        protocol = IntakeProtocol(
            config=uv, server_state=server.server_state, app_state=server.lifespan.state
        )
        task = loop.create_task(loop.connect_accepted_socket(lambda: protocol, conn))
        accepting.add(task)
        task.add_done_callback(accepting.discard)

    def stop() -> None:
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(worker.listen.fileno())
        server.should_exit = True

    accepting: set[asyncio.Task[Any]] = set()
    worker.listen.setblocking(False)
    loop.add_reader(worker.listen.fileno(), accept_one)
    worker.stop = stop
    loop.add_signal_handler(signal.SIGTERM, stop)
    try:
        await server._serve(sockets=[])  # our own accepts and signals, not uvicorn's
    finally:
        stop()
        answers.cancel()


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
    config = json.loads(argv[0])
    logging.basicConfig(
        level=getattr(logging, str(config.get("log_level", "warning")).upper(), logging.WARNING),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(_serve(config))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
