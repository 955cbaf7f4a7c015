"""Two SIP user agents made of the sans-IO cores, on a simulated network in virtual time.

Each :class:`Agent` is what the asyncio adapters are, without the loop: a real
:class:`~lanfax.providers.sip.transaction.TransactionLayer`, a real
:class:`~lanfax.providers.sip.callcore.CallCore` (and, calling, a real
:class:`~lanfax.providers.sip.invite.InviteClient`), the real SDP offer/answer. Messages go
through ``serialize()`` and ``parse_message()`` and arrive ``latency`` seconds later, or
never when the test drops them. :meth:`Net.run` advances the clock from one event (a
delivery, a transaction timer, a call timer) to the next: no sockets, no real seconds.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from lanfax.providers.common import CutReason
from lanfax.providers.sip.actions import (
    Action,
    CallSettings,
    Ended,
    Note,
    Respond,
    Ring,
    SendAck,
    SendRequest,
    UseMedia,
)
from lanfax.providers.sip.callcore import CallCore
from lanfax.providers.sip.dialog import Ids
from lanfax.providers.sip.invite import Credentials, Done, InviteAction, InviteClient, Ringing
from lanfax.providers.sip.message import (
    HeaderBuilder,
    NameAddr,
    Request,
    Response,
    SipMessage,
    Uri,
    parse_message,
    response_to,
)
from lanfax.providers.sip.sdp import (
    Media,
    Offerer,
    SessionDescription,
    T38Params,
    answer,
    negotiated_from_answer,
    parse_sdp,
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

Address = tuple[str, int]
LATENCY = 0.02


@dataclass
class Agent:
    """One user agent: a name, an address, its transaction layer and its call."""

    net: Net
    name: str
    addr: Address
    outgoing: bool
    offers_t38: bool = False
    takes_t38: bool = True
    session_expires: int = 1800
    seed: int = 1
    #: Calling: whether we refresh the session (RFC 4028), as our INVITE then says.
    refresher: bool = True
    layer: TransactionLayer = field(default_factory=TransactionLayer)
    core: CallCore | None = None
    client: InviteClient | None = None
    outcome: Done | None = None
    media: list[Media] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ended: Ended | None = None
    ringing: list[Response] = field(default_factory=list)
    #: (time, count) of each ring of their call here.
    rings: list[tuple[float, int]] = field(default_factory=list)
    received: list[SipMessage] = field(default_factory=list)
    #: Requests answered by hand (the far end plays a script) instead of by the core.
    script: Callable[[Request], Response | None] | None = None
    offer: SessionDescription | None = None
    #: Via branches of the requests the cores sent (a test's own requests are not fed back).
    mine: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.net.agents.append(self)

    def settings(self, peer: Address) -> CallSettings:
        host, port = self.addr
        return CallSettings(
            via_host=host,
            via_port=port,
            transport="UDP",
            contact=f"<sip:{self.name}@{host}:{port}>",
            next_hop=peer,
            sdp_address=host,
            codecs=("ulaw",),
            t38=T38Params() if self.takes_t38 else None,
            offers_t38=self.offers_t38,
            ids=Ids(seed=self.seed),
        )

    def make_core(self, peer: Address, call_id: str) -> CallCore:
        core = CallCore(
            self.settings(peer),
            outgoing=self.outgoing,
            call_id=call_id,
            offerer=Offerer(self.addr[0], 1000 + self.seed),
            session_expires=self.session_expires,
        )
        core.ports = (self.addr[1] + 1000, self.addr[1] + 2000)
        if self.outgoing:
            core.refresher_is_us = self.refresher
        self.core = core
        return core

    @property
    def now(self) -> float:
        return self.net.now

    # -- actions of the cores -------------------------------------------------------------

    def act(self, actions: Sequence[Action | InviteAction]) -> None:
        for a in actions:
            if isinstance(a, SendRequest):
                self.mine.add(a.request.top_via.branch)
                self.tx(self.layer.send_request(a.request, a.dest, self.now))
            elif isinstance(a, SendAck):
                self.net.send(a.ack, self.addr, a.dest)
            elif isinstance(a, Respond):
                self.tx(self.layer.send_response(a.response, self.now))
            elif isinstance(a, UseMedia):
                self.media.append(a.media)
            elif isinstance(a, Ended):
                self.ended = a
            elif isinstance(a, Note):
                self.notes.append(a.message)
            elif isinstance(a, Ring):
                self.rings.append((self.now, a.count))
            elif isinstance(a, Ringing):
                self.ringing.append(a.response)
            elif isinstance(a, Done):
                self.outcome = a
                self._dialled(a.response)

    def tx(self, events: list[TxEvent]) -> None:
        for ev in events:
            if isinstance(ev, Send):
                self.net.send(ev.message, self.addr, ev.dest)
            elif isinstance(ev, RequestIn):
                self.received.append(ev.request)
                self._request(ev.request)
            elif isinstance(ev, ResponseIn):
                self.received.append(ev.response)
                self._response(ev.request, ev.response)
            elif isinstance(ev, AckIn):
                self.received.append(ev.ack)
                if self.core is not None:
                    self.act(self.core.ack_received(self.now))
            elif isinstance(ev, Timeout) and ev.client:
                self._response(ev.request, _synth(ev.request, 408, "Request Timeout"))
            elif isinstance(ev, TransportFailed):
                self._response(ev.request, _synth(ev.request, 503, "Service Unavailable"))

    def _response(self, request: Request, response: Response) -> None:
        if request.top_via.branch not in self.mine:
            return
        if self.client is not None and (
            request.method == "CANCEL" or (not self.client.done and request is self.client.invite)
        ):
            self.act(self.client.response_received(request, response, self.now))
        elif self.core is not None and response.status >= 200:
            self.act(self.core.response_received(request, response, self.now))

    def _request(self, request: Request) -> None:
        if self.script is not None:
            reply = self.script(request)
            if reply is not None:
                self.tx(self.layer.send_response(reply, self.now))
                return
        if request.method == "INVITE" and request.to.tag is None:
            core = self.make_core(self.net.peer_of(self).addr, request.call_id)
            core.offered(request, f"tag-{self.name}")
            assert core.dialog is not None
            ring = response_to(request, 180, "Ringing", to_tag=core.dialog.local_tag)
            self.tx(self.layer.send_response(ring, self.now))
            self.act(core.ring(self.now))
        elif request.method == "CANCEL":
            if self.core is None or not self.core.ringing:
                self.tx(self.layer.send_response(response_to(request, 481, "No"), self.now))
            else:
                self.act(self.core.cancel_received(request))
        elif self.core is not None:
            self.act(self.core.request_received(request, self.now))

    # -- a call --------------------------------------------------------------------------

    def dial(self, *, answer_timeout: float = 60.0) -> None:
        """Send the INVITE (G.711 offer) to the peer, as SipProvider.send does."""
        peer = self.net.peer_of(self)
        core = self.make_core(peer.addr, f"call-{self.name}@{self.addr[0]}")
        self.offer = core.our_media_line("audio")
        target = f"sip:{peer.name}@{peer.addr[0]}:{peer.addr[1]}"
        self.client = InviteClient(
            core.settings,
            call_id=core.call_id,
            target=target,
            from_=NameAddr(Uri("sip", self.name, self.addr[0])).with_tag(f"tag-{self.name}"),
            to=NameAddr(Uri.parse(target)),
            headers=core.timer_headers(),
            body=self.offer.serialize(),
            credentials=Credentials(self.name, "secret"),
            answer_timeout=answer_timeout,
        )
        self.act(self.client.start(self.now))

    def _dialled(self, response: Response | None) -> None:
        if response is None or not 200 <= response.status < 300:
            return
        core, client = self.core, self.client
        assert core is not None and client is not None and client.invite is not None
        assert self.offer is not None
        core.offerer = core.offerer.sent(self.offer)
        self.act(core.accepted(client.invite, response))
        if core.ended:
            return  # stopped meanwhile: accepted() sent the BYE
        agreed = negotiated_from_answer(self.offer, parse_sdp(response.body))
        self.act(core.media_started(agreed, self.now))

    def pick_up(self, *, start_media: bool = True) -> None:
        """Answer the ringing call with our SDP, as SipProvider.receive does."""
        core = self.core
        assert core is not None and core.invite is not None
        rtp, udptl = core.ports
        sdp, agreed = answer(
            parse_sdp(core.invite.body),
            core.offerer,
            rtp_port=rtp,
            udptl_port=udptl,
            codecs=("ulaw",),
            t38=T38Params() if self.takes_t38 else None,
        )
        core.offerer = core.offerer.sent(sdp)
        self.act([core.answer_ok(sdp.serialize())])
        if start_media:
            self.act(core.media_started(agreed, self.now))

    def hang_up(self, cut: CutReason | None = None) -> None:
        assert self.core is not None
        self.act(self.core.hang_up(cut))

    def deadlines(self) -> list[float]:
        out = [self.layer.next_deadline()]
        if self.core is not None:
            out.append(self.core.next_deadline())
        if self.client is not None:
            out.append(self.client.next_deadline())
        return [t for t in out if t is not None]

    def poll(self) -> None:
        self.tx(self.layer.poll(self.now))
        if self.client is not None:
            self.act(self.client.poll(self.now))
        if self.core is not None:
            self.act(self.core.poll(self.now))

    def sent(self, method: str) -> list[Request]:
        """The requests of ``method`` the peer received from us (its transaction layer saw
        them as new)."""
        return [
            m
            for m in self.net.peer_of(self).received
            if isinstance(m, Request) and m.method == method
        ]


def _synth(request: Request, status: int, reason: str) -> Response:
    h = HeaderBuilder()
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        h.add(name, request[name])
    return Response(h.build(), b"", status, reason)


@dataclass
class Net:
    """Two agents and the wire between them, on a virtual clock."""

    now: float = 0.0
    latency: float = LATENCY
    agents: list[Agent] = field(default_factory=list)
    #: Messages the wire loses: ``drop(message, dest)`` True.
    drop: Callable[[SipMessage, Address], bool] | None = None
    _queue: list[tuple[float, int, bytes, Address, Address]] = field(default_factory=list)
    _seq: itertools.count[int] = field(default_factory=itertools.count)

    def peer_of(self, agent: Agent) -> Agent:
        return next(a for a in self.agents if a is not agent)

    def send(self, message: SipMessage, src: Address, dest: Address) -> None:
        if self.drop is not None and self.drop(message, dest):
            return
        item = (self.now + self.latency, next(self._seq), message.serialize(), src, dest)
        heapq.heappush(self._queue, item)

    def run(self, until: float) -> None:
        """Advance to ``until``, handling every delivery and timer on the way in order."""
        while True:
            times = [t for a in self.agents for t in a.deadlines()]
            if self._queue:
                times.append(self._queue[0][0])
            if not times or min(times) > until:
                break
            self.now = max(self.now, min(times))
            while self._queue and self._queue[0][0] <= self.now:
                _, _, data, src, dest = heapq.heappop(self._queue)
                to = next(a for a in self.agents if a.addr == dest)
                to.tx(to.layer.receive(parse_message(data), src, self.now))
            for a in self.agents:
                a.poll()
        self.now = max(self.now, until)
