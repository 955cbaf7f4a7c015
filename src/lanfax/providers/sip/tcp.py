"""SIP over TCP (RFC 3261 §18): the asyncio side of a stream endpoint.

:class:`TcpEndpoint` listens on ``local_address:sip_port`` (a registrar or proxy reaches our
Contact there) and opens connections on demand. Connections are kept by remote address:
one to the proxy, opened at the first request and reused for every later one (REGISTER,
INVITE, in-dialog requests routed through it, ACKs), and one per connection a peer opened
to us. A request's responses go back on the connection it came on (§18.2.2); if that one
has closed, to the Via's ``received``/sent-by address on a new connection. A closed
connection is simply reopened by the next message for that address; the client
transactions that were waiting on it fail at once with a 503 (§8.1.3.1) rather than at
Timer B/F. Framing is :class:`~.framing.StreamFramer`'s; a framing error closes the
connection. Media stays on UDP.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from lanfax.providers.sip.framing import FramingError, StreamFramer
from lanfax.providers.sip.message import Request, Response, SipMessage
from lanfax.providers.sip.transport import Address, EndpointBase

__all__ = ["CONNECT_TIMEOUT", "TcpEndpoint"]

_log = logging.getLogger("lanfax.providers.sip")

#: How long a connection attempt may take before the messages waiting for it fail.
CONNECT_TIMEOUT = 10.0


class _Connection(asyncio.Protocol):
    """One TCP connection: writes queue until it is up; bytes in go through the framer."""

    def __init__(self, endpoint: TcpEndpoint, peer: Address | None) -> None:
        self.endpoint = endpoint
        self.peer: Address | None = peer
        self.transport: asyncio.Transport | None = None
        self.framer = StreamFramer()
        self.queued: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        if self.transport is None:
            self.queued.append(data)
        else:
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.peer is None:  # accepted: known by the address it came from
            name = transport.get_extra_info("peername")
            self.peer = (str(name[0]), int(name[1]))
            self.endpoint.adopt(self)
        for data in self.queued:
            transport.write(data)
        self.queued.clear()

    def data_received(self, data: bytes) -> None:
        assert self.peer is not None
        try:
            frames = self.framer.feed(data)
        except FramingError as exc:
            self.endpoint.framing_errors += 1
            _log.warning("closing the SIP connection with %s: %s", self.peer, exc.message)
            for frame in exc.frames:  # the messages before the bad bytes are whole
                self.endpoint.frame_received(frame, self.peer)
            self.close()
            return
        for frame in frames:
            self.endpoint.frame_received(frame, self.peer)

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            reason = f"TCP connection to {_fmt(self.peer)} lost: {exc}"
        elif self.framer.pending:
            reason = f"TCP connection to {_fmt(self.peer)} closed mid-message"
        else:
            reason = f"TCP connection to {_fmt(self.peer)} closed"
        self.endpoint.lost(self, reason)


class TcpEndpoint(EndpointBase):
    """A SIP endpoint on TCP (see :class:`~.transport.EndpointBase` for the callbacks)."""

    transport_name = "TCP"
    uri_params = ";transport=tcp"

    def __init__(
        self,
        on_request: Callable[[Request, Address], None],
        on_ack: Callable[[Request, Request], None],
        on_no_ack: Callable[[Request], None],
    ) -> None:
        super().__init__(on_request, on_ack, on_no_ack)
        self._server: asyncio.Server | None = None
        self._conns: dict[Address, _Connection] = {}
        self._connecting: set[asyncio.Task[None]] = set()
        self.connections_opened = 0
        self.connections_accepted = 0
        self.framing_errors = 0

    async def open(self, host: str, port: int) -> None:
        self._server = await self._loop.create_server(lambda: _Connection(self, None), host, port)
        name = self._server.sockets[0].getsockname()
        self.local = (str(name[0]), int(name[1]))
        self._open = True

    def close(self) -> None:
        super().close()
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in self._connecting:
            task.cancel()
        for conn in list(self._conns.values()):
            conn.close()
        self._conns.clear()

    def connections(self) -> list[Address]:
        """Remote addresses of the connections open now (for tests and diagnostics)."""
        return [a for a, c in self._conns.items() if c.transport is not None and not c.closed]

    def send_direct(self, message: SipMessage, dest: Address) -> None:
        if not self._open:
            return
        conn = self._conns.get(dest)
        if conn is None and isinstance(message, Response):
            # §18.2.2: the request's connection is gone; a new one to received/sent-by.
            via = message.top_via
            fallback = (via.param("received") or via.host, via.port or 5060)
            conn = self._conns.get(fallback) or self._connect(fallback)
        elif conn is None:
            conn = self._connect(dest)
        conn.write(message.serialize())

    # -- connection bookkeeping (called by _Connection) -----------------------------------

    def _connect(self, dest: Address) -> _Connection:
        conn = _Connection(self, dest)
        self._conns[dest] = conn
        self.connections_opened += 1
        task = self._loop.create_task(self._dial(conn, dest), name=f"sip tcp {_fmt(dest)}")
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)
        return conn

    async def _dial(self, conn: _Connection, dest: Address) -> None:
        try:
            await asyncio.wait_for(
                self._loop.create_connection(lambda: conn, dest[0], dest[1]), CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError) as exc:
            if isinstance(exc, ConnectionRefusedError):
                detail = "connection refused"
            elif isinstance(exc, TimeoutError):
                detail = f"no answer in {CONNECT_TIMEOUT:g} s"
            else:
                detail = exc.strerror or str(exc)
            self.lost(conn, f"cannot connect to {_fmt(dest)} over TCP: {detail}")

    def adopt(self, conn: _Connection) -> None:
        assert conn.peer is not None
        self.connections_accepted += 1
        old = self._conns.get(conn.peer)
        if old is not None and old is not conn:
            old.close()
        self._conns[conn.peer] = conn

    def frame_received(self, frame: bytes, source: Address) -> None:
        if self._open:
            self._received(frame, source, reliable=True)

    def lost(self, conn: _Connection, reason: str) -> None:
        if conn.closed:
            return
        conn.closed = True
        conn.queued.clear()
        if conn.peer is None:
            return
        if self._conns.get(conn.peer) is conn:
            del self._conns[conn.peer]
        _log.debug("%s", reason)
        if self._open:
            self._handle(self.layer.connection_lost(conn.peer, reason))


def _fmt(address: Address | None) -> str:
    return f"{address[0]}:{address[1]}" if address else "?"
