"""What the main process and its intake workers say to each other (#19, ``intake_workers``).

Two socket pairs per worker, made by the main process before it starts the worker:

* the **request pair** (``SOCK_STREAM``): frames of a 4-byte big-endian length and a pickle.
  The worker sends ``(id, kind, head, payload)``: ``kind`` is ``"prepared"`` (``payload`` a
  :class:`Prepared`: the submission's params, its document staged and checked by the
  worker) or ``"relay"`` (``payload`` the raw body: main's own handler reads it). ``head`` is
  the request's ASGI scope without its body (method, path, headers, client, ...). Main
  answers ``(id, status, headers, body)`` once its app has answered: for a submission, once
  its jobs are durable. Pickle is safe here: both ends are this program, over a private pair.
* the **hand-off pair** (``SOCK_SEQPACKET``): a connection the worker does not serve (any
  request but a small multipart ``POST /api/v1/jobs``) is handed to main between requests: one
  message of 8 bytes (how many bytes follow) carrying the socket (``SCM_RIGHTS``), then those
  bytes (what the worker had read of the next request) in messages of at most
  :data:`CHUNK` bytes. Main serves the connection from there as if it had accepted it.

:func:`takes` is the worker's choice, made on a request's head only (request line and
headers), before anything of it reaches the HTTP parser.
"""

from __future__ import annotations

import array
import asyncio
import pickle
import socket
import struct
from typing import Any, NamedTuple

from lanfax.service.intake import StagedFields

#: The API's submission path, the only one a worker serves.
SUBMIT_PATH = b"/api/v1/jobs"
#: The scope key under which main's app finds a worker's :class:`Prepared` submission.
SCOPE_KEY = "lanfax.intake"
#: The largest head a worker reads before it decides (then it hands the connection on).
MAX_HEAD = 16 * 1024
#: Bytes per hand-off message after the first.
CHUNK = 64 * 1024
#: The largest request frame (a relayed body is at most the worker's body limit, 1 MB).
MAX_FRAME = 8 * 1024 * 1024
#: The id of main's heartbeat frames ``(PING, "ping", {}, None)``; the worker answers each at
#: once with ``(PING, "pong", {}, None)`` (#19 wave 7: a worker that stops answering is
#: killed and replaced, ``[server] intake_hang_s``).
PING = -1

#: The hops of a prepared submission, each timed (#19 wave 7; ``/metrics``
#: ``lanfax_intake_hop_seconds``): the worker reading the body, staging the document (write,
#: check), the frame to main (until main's loop reads it), main's route (login, params,
#: audit, up to the committer), the wait for a trip to the pool, the trip (renames, the group's
#: syncfs, its commit), and back on main's loop until the answer is written to the worker.
HOPS = ("read", "stage", "to_main", "route", "trip_wait", "trip", "answer")
#: The scope key of a prepared submission's stamps in main (a list the route, the
#: committer and the intake append to).
TRACE_KEY = "lanfax.intake.trace"

_LENGTH = struct.Struct(">I")
_HANDOFF = struct.Struct(">Q")


class Prepared(NamedTuple):
    """A submission a worker has read and checked: ``params`` (the ``params`` part's text),
    ``label`` (how errors name the file part), and ``staged``: the fax-ready TIFF at its
    staged path (written and scanned in one pass by the worker; main renames
    it into ``spool/docs``), as :func:`lanfax.service.intake.staged_fields` (a tuple, not the
    dataclass: cheaper to pass)."""

    params: str
    label: str
    staged: StagedFields
    #: When the worker had the request's head, its whole body, and the document staged
    #: (``time.monotonic()``: one clock for every process of the machine), for
    #: :data:`HOPS`.
    stamps: tuple[float, ...] = ()


def part_label(index: int, filename: str | None) -> str:
    """How errors name an uploaded file: its position, and its name made printable and
    short (a name is the client's text: it may hold anything, and is never a path here)."""
    name = filename or ""
    if not name.isprintable():
        name = "".join(ch if ch.isprintable() else "?" for ch in name)
    if len(name) > 60:
        name = name[:57] + "..."
    return f"file part {index + 1} ({name})" if name else f"file part {index + 1}"


def takes(head: bytes, max_body: int) -> bool:
    """Whether a worker serves this request itself: ``POST /api/v1/jobs`` (any query), a
    multipart body with a Content-Length of at most ``max_body``, without ``Expect`` or
    ``Transfer-Encoding``. ``head`` is the request line and headers without the blank line.
    Anything else (or anything unclear) is main's: the worker hands the connection over."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or parts[0] != b"POST" or parts[2] != b"HTTP/1.1":
        return False
    if parts[1].split(b"?", 1)[0] != SUBMIT_PATH:
        return False
    length = -1
    multipart = False
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            return False
        name = name.strip().lower()
        value = value.strip()
        if name == b"content-length":
            if length >= 0 or not value.isdigit():
                return False  # twice, or not a number: main's parser answers that
            length = int(value)
        elif name in (b"transfer-encoding", b"expect", b"upgrade"):
            return False
        elif name == b"content-type":
            multipart = value.lower().startswith(b"multipart/form-data")
    return multipart and 0 < length <= max_body


def frame(message: object) -> bytes:
    """One request-pair frame."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


async def read_frame(reader: asyncio.StreamReader) -> Any:
    """The next frame's message; ``asyncio.IncompleteReadError`` at the pair's end."""
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    if length > MAX_FRAME:
        raise ValueError(f"an intake frame of {length} bytes")
    return pickle.loads(await reader.readexactly(length))


def send_connection(pair: socket.socket, conn: socket.socket, data: bytes) -> None:
    """Hand ``conn`` (and ``data``, what was read of it) to main over the hand-off ``pair``
    (blocking; the caller closes its own ``conn`` after)."""
    fds = array.array("i", [conn.fileno()])
    pair.sendmsg(
        [_HANDOFF.pack(len(data))], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds.tobytes())]
    )
    for start in range(0, len(data), CHUNK):
        pair.send(data[start : start + CHUNK])


class HandoffReader:
    """Main's end of a hand-off pair (non-blocking): :meth:`read` returns each connection
    completely handed over since the last call, as ``(socket, bytes read)``."""

    def __init__(self, pair: socket.socket) -> None:
        self.pair = pair
        self._conn: socket.socket | None = None
        self._want = 0
        self._data = bytearray()

    def read(self) -> list[tuple[socket.socket, bytes]]:
        """Raises EOFError when the worker's end is closed."""
        done: list[tuple[socket.socket, bytes]] = []
        while True:
            try:
                msg, fds, _flags, _addr = socket.recv_fds(self.pair, CHUNK + 64, 1)
            except (BlockingIOError, InterruptedError):
                return done
            if not msg and not fds:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
                raise EOFError
            if fds:
                if self._conn is not None:  # a torn hand-off (cannot happen): drop it
                    self._conn.close()
                self._conn = socket.socket(fileno=fds[0])
                (self._want,) = _HANDOFF.unpack(msg[: _HANDOFF.size])
                self._data = bytearray()
            elif self._conn is not None:
                self._data += msg
            if self._conn is not None and len(self._data) >= self._want:
                done.append((self._conn, bytes(self._data)))
                self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.pair.close()
