"""A named fault injector: a UDP relay on the media path that drops, delays (jitter) and
reorders packets.

A provider configured with ``media_address = M`` and ``sdp_address = R`` binds its media on
M but tells the far end to send to R; the relay listens on R at every port of the provider's
``media_ports`` range and forwards each datagram to the same port on M, after its
impairments. The randomness is seeded, so a run is repeatable.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field


@dataclass
class Impairments:
    loss: float = 0.0  # probability a datagram is dropped
    jitter: float = 0.0  # extra delay, uniform in [0, jitter] seconds (this reorders too)
    reorder: float = 0.0  # probability a datagram is held back by ``reorder_delay``
    reorder_delay: float = 0.045
    seed: int = 1


@dataclass
class RelayStats:
    forwarded: int = 0
    dropped: int = 0
    delayed: int = 0


class _Port(asyncio.DatagramProtocol):
    def __init__(self, relay: MediaRelay, dest: tuple[str, int]) -> None:
        self.relay = relay
        self.dest = dest
        self.transport: asyncio.DatagramTransport | None = None

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.relay.forward(self, data)


@dataclass
class MediaRelay:
    listen: str
    target: str
    ports: range
    impair: Impairments
    stats: RelayStats = field(default_factory=RelayStats)
    _socks: list[_Port] = field(default_factory=list)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._rng = random.Random(self.impair.seed)
        for port in self.ports:
            proto = _Port(self, (self.target, port))
            transport, _ = await loop.create_datagram_endpoint(
                lambda p=proto: p,  # type: ignore[misc]
                local_addr=(self.listen, port),
            )
            proto.transport = transport
            self._socks.append(proto)

    def forward(self, port: _Port, data: bytes) -> None:
        rng = self._rng
        if rng.random() < self.impair.loss:
            self.stats.dropped += 1
            return
        delay = rng.uniform(0, self.impair.jitter) if self.impair.jitter else 0.0
        if rng.random() < self.impair.reorder:
            delay += self.impair.reorder_delay
        self.stats.forwarded += 1
        if delay <= 0:
            self._send(port, data)
        else:
            self.stats.delayed += 1
            asyncio.get_running_loop().call_later(delay, self._send, port, data)

    @staticmethod
    def _send(port: _Port, data: bytes) -> None:
        if port.transport is not None:
            port.transport.sendto(data, port.dest)

    def close(self) -> None:
        for s in self._socks:
            if s.transport is not None:
                s.transport.close()
