"""A scripted SIP far end for signalling tests: one UDP socket, messages written by hand.

The test plays the far end's side of a dialog step by step (``send`` raw SIP text, ``next``
to wait for what the provider sends), so odd behaviour (glare, repeated re-INVITEs, a
refresher that never refreshes) is exact and repeatable. It has no media: the provider's
T.30 session never gets going, and each scenario ends with a BYE (or the provider's).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

from lanfax.providers.sip.message import Request, Response, SipMessage, parse_message

_n = itertools.count(1)

AUDIO_SDP = (
    "v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)
T38_SDP = (
    "v=0\r\no=peer 1 {version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=image {port} udptl t38\r\na=T38FaxVersion:0\r\na=T38MaxBitRate:14400\r\n"
    "a=T38FaxRateManagement:transferredTCF\r\na=T38FaxMaxBuffer:2000\r\n"
    "a=T38FaxMaxDatagram:400\r\na=T38FaxUdpEC:t38UDPRedundancy\r\n"
)


class _Proto(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[SipMessage] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.queue.put_nowait(parse_message(data))


class Peer:
    """The far end of one call to a provider at ``target`` (``host``, ``port``)."""

    def __init__(self) -> None:
        self.call_id = f"peer-{next(_n)}@127.0.0.1"
        self.tag = f"pt{next(_n)}"
        self.cseq = 0
        self.to_tag = ""
        self.target: tuple[str, int] = ("127.0.0.1", 0)
        self.seen: list[SipMessage] = []
        self._proto = _Proto()
        self._transport: asyncio.DatagramTransport | None = None
        self._media: asyncio.DatagramTransport | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: self._proto, local_addr=("127.0.0.1", 0)
        )
        # A media port that exists, so the provider's RTP/UDPTL has somewhere to go.
        self._media, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )

    @property
    def port(self) -> int:
        assert self._transport is not None
        return int(self._transport.get_extra_info("sockname")[1])

    @property
    def media_port(self) -> int:
        assert self._media is not None
        return int(self._media.get_extra_info("sockname")[1])

    def close(self) -> None:
        for t in (self._transport, self._media):
            if t is not None:
                t.close()

    def send(self, text: str) -> None:
        assert self._transport is not None
        self._transport.sendto(text.encode(), self.target)

    async def next(self, want: Callable[[SipMessage], bool], timeout: float = 15.0) -> SipMessage:
        """The next message from the provider that ``want`` accepts (others are kept in
        ``seen`` and skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                msg = await self._proto.queue.get()
                self.seen.append(msg)
                if want(msg):
                    return msg

    # -- requests -------------------------------------------------------------------------

    def request(
        self,
        method: str,
        *,
        branch: str | None = None,
        cseq: int | None = None,
        body: str = "",
        extra: str = "",
    ) -> str:
        """Write (and send) a request of this dialog; returns its text (to resend it)."""
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        branch = branch or f"z9hG4bKpeer{next(_n)}"
        to_tag = f";tag={self.to_tag}" if self.to_tag else ""
        ctype = "Content-Type: application/sdp\r\n" if body else ""
        text = (
            f"{method} sip:300@127.0.0.1:{self.target[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch={branch}\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:peer@127.0.0.1>;tag={self.tag}\r\n"
            f"To: <sip:300@127.0.0.1>{to_tag}\r\n"
            f"Call-ID: {self.call_id}\r\n"
            f"CSeq: {cseq} {method}\r\n"
            f"Contact: <sip:peer@127.0.0.1:{self.port}>\r\n"
            f"{extra}{ctype}Content-Length: {len(body)}\r\n\r\n{body}"
        )
        self.send(text)
        return text

    def ack(self, cseq: int) -> None:
        self.request("ACK", cseq=cseq)

    def answer(self, request: Request, status: int, reason: str, body: str = "") -> None:
        """A response to one of the provider's requests (Via, From, To, Call-ID, CSeq copied)."""
        ctype = "Content-Type: application/sdp\r\n" if body else ""
        vias = "".join(f"Via: {v}\r\n" for v in request.get_all("Via"))
        text = (
            f"SIP/2.0 {status} {reason}\r\n{vias}"
            f"From: {request['From']}\r\nTo: {request['To']}\r\n"
            f"Call-ID: {request.call_id}\r\nCSeq: {request['CSeq']}\r\n"
            f"Contact: <sip:peer@127.0.0.1:{self.port}>\r\n"
            f"{ctype}Content-Length: {len(body)}\r\n\r\n{body}"
        )
        self.send(text)

    async def call(self, extra: str = "") -> Response:
        """INVITE the provider with a G.711 offer, wait for its 200 and ACK it."""
        self.request("INVITE", body=AUDIO_SDP.format(port=self.media_port), extra=extra)
        ok = await self.next(lambda m: is_response(m, 200, "INVITE"))
        assert isinstance(ok, Response)
        self.to_tag = ok.to.tag or ""
        self.ack(1)
        return ok


def is_response(msg: SipMessage, status: int, method: str) -> bool:
    return isinstance(msg, Response) and msg.status == status and msg.cseq[1] == method


def is_request(msg: SipMessage, method: str) -> bool:
    return isinstance(msg, Request) and msg.method == method
