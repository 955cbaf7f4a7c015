"""The asyncio adapter of an :class:`~.endpoint.Endpoint`: one UDP socket and one timer.

Datagrams go into the endpoint with the loop's monotonic time; events come out to
``dispatch``; whatever the calls queued is sent at once by :meth:`Iax2Transport.flush`,
which also re-arms the single timer for the endpoint's next deadline (retransmissions,
PING, LAGRQ, forgetting closed calls).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from lanfax.model.errors import ProviderError
from lanfax.providers.iax2.call import Iax2Call
from lanfax.providers.iax2.endpoint import Address, Endpoint
from lanfax.providers.iax2.events import CallEvent

__all__ = ["Iax2Transport"]

_log = logging.getLogger("lanfax.providers.iax2")

Dispatch = Callable[[Iax2Call, CallEvent], None]


class Iax2Transport(asyncio.DatagramProtocol):
    def __init__(self, endpoint: Endpoint, dispatch: Dispatch) -> None:
        self.endpoint = endpoint
        self._dispatch = dispatch
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.DatagramTransport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    @classmethod
    async def open(cls, endpoint: Endpoint, bind: Address, dispatch: Dispatch) -> Iax2Transport:
        self = cls(endpoint, dispatch)
        try:
            await self._loop.create_datagram_endpoint(lambda: self, local_addr=bind)
        except OSError as exc:
            raise ProviderError(
                f"iax2 provider: cannot bind UDP {bind[0]}:{bind[1]}: {exc.strerror or exc}",
                hint="choose another bind port (or 0 for any free port)",
            ) from exc
        return self

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass DatagramTransport.
        self._transport = transport  # type: ignore[assignment]

    @property
    def address(self) -> Address:
        if self._transport is None:
            raise ProviderError("the iax2 socket is not open", hint="call initialize()")
        host, port = self._transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    @property
    def now(self) -> float:
        return self._loop.time()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        for call, event in self.endpoint.datagram_received(
            data, (str(addr[0]), int(addr[1])), self._loop.time()
        ):
            self._dispatch(call, event)
        self.flush()

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and the like: the retransmission timers notice a dead peer.
        _log.debug("iax2 socket error: %s", exc)

    def _on_timer(self) -> None:
        self._timer = None
        for call, event in self.endpoint.poll(self._loop.time()):
            self._dispatch(call, event)
        self.flush()

    def flush(self) -> None:
        """Send what the calls queued, and re-arm the timer for the next deadline."""
        ep = self.endpoint
        ep.flush(self._loop.time())
        transport = self._transport
        for data, addr in ep.take_datagrams():
            if transport is not None and not transport.is_closing():
                transport.sendto(data, addr)
        if self._closed:
            return
        deadline = ep.next_deadline()
        if deadline is None:
            return
        if self._timer is not None:
            if self._timer.when() <= deadline:
                return
            self._timer.cancel()
        self._timer = self._loop.call_at(deadline, self._on_timer)

    def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._transport is not None:
            self._transport.close()
