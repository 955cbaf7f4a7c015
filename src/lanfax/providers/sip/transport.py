"""The asyncio adapter of the SIP core: the transaction layer's timers on the loop's clock,
futures for the transaction user, and one UDP socket (:class:`SipEndpoint`); the TCP
endpoint (:class:`~.tcp.TcpEndpoint`) shares everything but the sockets.

Everything protocol-shaped happens in :class:`~.transaction.TransactionLayer`; this module
only moves messages, arms one timer at the layer's next deadline, and turns the layer's
events into callbacks and future results.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from lanfax.providers.sip.message import (
    HeaderBuilder,
    Request,
    Response,
    SipMessage,
    SipParseError,
    parse_message,
)
from lanfax.providers.sip.transaction import (
    AckIn,
    RequestIn,
    ResponseIn,
    Send,
    Timeout,
    TransactionLayer,
    TransportFailed,
    TxEvent,
)

__all__ = ["Address", "ClientRequest", "EndpointBase", "SipEndpoint"]

Address = tuple[str, int]
_log = logging.getLogger("lanfax.providers.sip")


@dataclass
class ClientRequest:
    """A request in flight: its provisional responses go to ``on_provisional``; ``final``
    resolves with the final response (a synthesised 408 on Timer B/F, RFC 3261 §8.1.3.1).
    Repeated 2xx to an INVITE go to ``on_2xx`` (the caller re-sends its ACK)."""

    request: Request
    final: asyncio.Future[Response]
    on_provisional: Callable[[Response], None] | None = None
    on_2xx: Callable[[Response], None] | None = None
    responses: list[Response] = field(default_factory=list)


class EndpointBase:
    """What a SIP endpoint does whatever its sockets. ``on_request(request, source)`` gets
    new requests; ``on_ack(invite, ack)`` the ACKs of our 2xx; ``on_no_ack(invite)`` a 2xx
    never ACKed. Subclasses open and close sockets, deliver parsed messages to
    :meth:`_received` and implement :meth:`send_direct`."""

    #: The Via transport token, and the URI parameter that asks for this transport.
    transport_name = "UDP"
    uri_params = ""

    def __init__(
        self,
        on_request: Callable[[Request, Address], None],
        on_ack: Callable[[Request, Request], None],
        on_no_ack: Callable[[Request], None],
    ) -> None:
        self._on_request = on_request
        self._on_ack = on_ack
        self._on_no_ack = on_no_ack
        self.layer = TransactionLayer()
        self._loop = asyncio.get_running_loop()
        self._open = False
        self._timer: asyncio.TimerHandle | None = None
        self._pending: dict[tuple[str, str], ClientRequest] = {}
        self.local: Address = ("127.0.0.1", 0)
        self.malformed = 0

    async def open(self, host: str, port: int) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def send_direct(self, message: SipMessage, dest: Address) -> None:  # pragma: no cover
        """Send outside any transaction (the ACK of a 2xx, §13.2.2.4)."""
        raise NotImplementedError

    def close(self) -> None:
        self._open = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for pending in self._pending.values():
            if not pending.final.done():
                pending.final.cancel()
        self._pending.clear()

    def _received(self, data: bytes, source: Address, *, reliable: bool | None = None) -> None:
        try:
            message = parse_message(data)
        except SipParseError as exc:
            self.malformed += 1
            _log.debug("dropped a malformed SIP message from %s: %s", source, exc.message)
            return
        self._handle(self.layer.receive(message, source, self._loop.time(), reliable=reliable))

    # -- the transaction user's side ------------------------------------------------------

    def request(
        self,
        request: Request,
        dest: Address,
        *,
        on_provisional: Callable[[Response], None] | None = None,
        on_2xx: Callable[[Response], None] | None = None,
    ) -> ClientRequest:
        pending = ClientRequest(request, self._loop.create_future(), on_provisional, on_2xx)
        self._pending[(request.top_via.branch, request.method)] = pending
        self._handle(self.layer.send_request(request, dest, self._loop.time()))
        return pending

    def respond(self, response: Response) -> None:
        self._handle(self.layer.send_response(response, self._loop.time()))

    # -- events ---------------------------------------------------------------------------

    def _handle(self, events: list[TxEvent]) -> None:
        for ev in events:
            if isinstance(ev, Send):
                self.send_direct(ev.message, ev.dest)
            elif isinstance(ev, RequestIn):
                self._on_request(ev.request, ev.source)
            elif isinstance(ev, ResponseIn):
                self._response(ev.request, ev.response)
            elif isinstance(ev, AckIn):
                self._on_ack(ev.request, ev.ack)
            elif isinstance(ev, Timeout):
                if ev.client:
                    self._fail(ev.request, 408, "Request Timeout (no response)")
                elif ev.request.method == "INVITE":
                    self._on_no_ack(ev.request)
            elif isinstance(ev, TransportFailed):
                # §8.1.3.1: a transport failure is a 503 for the transaction user.
                self._fail(ev.request, 503, f"Service Unavailable ({ev.reason})")
        self._arm()

    def _response(self, request: Request, response: Response) -> None:
        key = (request.top_via.branch, request.method)
        pending = self._pending.get(key)
        if pending is None:
            return
        if response.status < 200:
            if pending.on_provisional is not None:
                pending.on_provisional(response)
            return
        if pending.final.done():
            if 200 <= response.status < 300 and pending.on_2xx is not None:
                pending.on_2xx(response)
            return
        pending.responses.append(response)
        pending.final.set_result(response)
        if request.method != "INVITE" or response.status >= 300:
            self._pending.pop(key, None)
        else:
            # Keep it for 2xx repeats until Timer M (64*T1) would have ended it.
            self._loop.call_later(32.0, self._pending.pop, key, None)

    def _fail(self, request: Request, status: int, reason: str) -> None:
        """Resolve a request with a response of our own making (408 on Timer B/F, §8.1.3.1;
        503 when its connection closed)."""
        pending = self._pending.pop((request.top_via.branch, request.method), None)
        if pending is None or pending.final.done():
            return
        h = HeaderBuilder()
        for name in ("Via", "From", "To", "Call-ID", "CSeq"):
            h.add(name, request[name])
        pending.final.set_result(Response(h.build(), b"", status, reason))

    def _arm(self) -> None:
        deadline = self.layer.next_deadline()
        if self._timer is not None:
            if deadline is not None and abs(self._timer.when() - deadline) < 1e-6:
                return
            self._timer.cancel()
            self._timer = None
        if deadline is not None and self._open:
            self._timer = self._loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._handle(self.layer.poll(self._loop.time()))


class SipEndpoint(EndpointBase, asyncio.DatagramProtocol):
    """One SIP UDP endpoint (see :class:`EndpointBase` for the callbacks)."""

    def __init__(
        self,
        on_request: Callable[[Request, Address], None],
        on_ack: Callable[[Request, Request], None],
        on_no_ack: Callable[[Request], None],
    ) -> None:
        super().__init__(on_request, on_ack, on_no_ack)
        self._transport: asyncio.DatagramTransport | None = None

    async def open(self, host: str, port: int) -> None:
        transport, _ = await self._loop.create_datagram_endpoint(
            lambda: self, local_addr=(host, port)
        )
        self._transport = transport
        self._open = True
        sock = transport.get_extra_info("sockname")
        self.local = (sock[0], sock[1])

    def close(self) -> None:
        super().close()
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def send_direct(self, message: SipMessage, dest: Address) -> None:
        if self._transport is not None:
            self._transport.sendto(message.serialize(), dest)

    # -- DatagramProtocol -----------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        source = (str(addr[0]), int(str(addr[1])))
        if data.strip(b"\r\n") == b"":
            return  # keep-alive (RFC 5626 CRLF)
        self._received(data, source, reliable=False)

    def error_received(self, exc: Exception) -> None:
        _log.debug("SIP socket error: %s", exc)
