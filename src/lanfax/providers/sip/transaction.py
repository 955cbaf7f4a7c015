"""SIP transactions (RFC 3261 §17, with RFC 6026's Accepted state), as a sans-IO state
machine, over UDP and over reliable (stream) transports.

The :class:`TransactionLayer` takes parsed messages and the current time and returns
events: messages to send (:class:`Send`), requests and responses for the transaction user
(:class:`RequestIn`, :class:`ResponseIn`), ACKs of our 2xx (:class:`AckIn`) and timeouts
(:class:`Timeout`). It retransmits on the timers of §17 (A, B, D, E, F, G, H, I, J, K; L and M
from RFC 6026), absorbs retransmissions, and answers non-2xx final responses to INVITE with
the ACK of §17.1.1.3 itself. The caller feeds it ``now`` (a monotonic clock) and calls
:meth:`TransactionLayer.poll` at :meth:`TransactionLayer.next_deadline`.

Over a reliable transport (TCP) the same machine runs with §17's reliable-transport rules,
per transaction: no request retransmission (Timers A and E are not used; B and F still
bound the wait), no Timer G for a non-2xx final response, and Timers D, I, J and K are zero.
A server transaction's responses go back to the request's source, which for a stream is
the connection it came on (§18.2.2); the adapter keys connections by remote address. The
2xx to an INVITE is still repeated until the ACK (§13.3.1.4): it is end to end, and a
proxy may carry it on over UDP. A transaction is reliable when its request's top Via says a
stream transport, unless the caller says otherwise. :meth:`TransactionLayer.connection_lost`
fails the client transactions that were waiting on a connection that closed (§8.1.3.1 treats
a transport failure as a 503).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from lanfax.providers.sip.message import HeaderBuilder, Request, Response, SipMessage

__all__ = [
    "T1",
    "T2",
    "T4",
    "AckIn",
    "RequestIn",
    "ResponseIn",
    "Send",
    "Timeout",
    "TransactionLayer",
    "TransportFailed",
    "TxEvent",
]

Address = tuple[str, int]

#: §17.1.1.1: RTT estimate, maximum retransmit interval, maximum message lifetime.
T1 = 0.5
T2 = 4.0
T4 = 5.0


@dataclass(frozen=True, slots=True)
class Send:
    message: SipMessage
    dest: Address


@dataclass(frozen=True, slots=True)
class RequestIn:
    """A new request (not a retransmission) for the transaction user."""

    request: Request
    source: Address


@dataclass(frozen=True, slots=True)
class ResponseIn:
    """A response to one of our requests (every provisional, the final, and 2xx repeats)."""

    request: Request
    response: Response


@dataclass(frozen=True, slots=True)
class AckIn:
    """The ACK of a 2xx we sent to an INVITE (it ends the server transaction)."""

    request: Request  # the INVITE
    ack: Request


@dataclass(frozen=True, slots=True)
class Timeout:
    """No final response (client, Timer B/F), or no ACK for our final response (Timer H/L)."""

    request: Request
    client: bool


@dataclass(frozen=True, slots=True)
class TransportFailed:
    """A client transaction whose connection closed before its final response (§8.1.3.1)."""

    request: Request
    reason: str


TxEvent = Send | RequestIn | ResponseIn | AckIn | Timeout | TransportFailed

#: Via transports that are streams (RFC 3261 §18, RFC 4168 for SCTP, RFC 7118 for WS).
RELIABLE_TRANSPORTS = frozenset({"TCP", "TLS", "SCTP", "TLS-SCTP", "WS", "WSS"})


class State(enum.Enum):
    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    ACCEPTED = "accepted"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


@dataclass
class _Tx:
    request: Request
    dest: Address
    client: bool
    state: State
    interval: float = T1
    retransmit_at: float | None = None
    end_at: float | None = None
    last: SipMessage | None = None  # what we retransmit
    ack: Request | None = None
    reliable: bool = False


@dataclass
class TransactionLayer:
    #: Treat every transaction as reliable, whatever its Via says.
    reliable: bool = False
    _client: dict[tuple[str, str], _Tx] = field(default_factory=dict)
    _server: dict[tuple[str, str], _Tx] = field(default_factory=dict)

    # -- client side ----------------------------------------------------------------------

    def _is_reliable(self, request: Request, reliable: bool | None) -> bool:
        if reliable is not None:
            return reliable
        return self.reliable or request.top_via.transport in RELIABLE_TRANSPORTS

    def send_request(
        self, request: Request, dest: Address, now: float, *, reliable: bool | None = None
    ) -> list[TxEvent]:
        """Start a client transaction (not for ACK, which has none: send it directly).
        ``reliable`` defaults to what the request's top Via says."""
        key = (request.top_via.branch, request.method)
        if not key[0] or key in self._client:
            raise ValueError(f"request needs a fresh Via branch, got {key[0]!r}")
        invite = request.method == "INVITE"
        tx = _Tx(request, dest, True, State.CALLING if invite else State.TRYING)
        tx.last = request
        tx.reliable = self._is_reliable(request, reliable)
        if not tx.reliable:
            tx.retransmit_at = now + T1  # Timer A / E
        tx.end_at = now + 64 * T1  # Timer B / F
        self._client[key] = tx
        return [Send(request, dest)]

    def _on_response(self, response: Response, now: float) -> list[TxEvent]:
        via = response.top_via
        _, method = response.cseq
        tx = self._client.get((via.branch, method))
        if tx is None or tx.state is State.TERMINATED:
            return []  # a stray response: §18.1.2 says discard it
        code = response.status
        out: list[TxEvent] = []
        if tx.request.method == "INVITE":
            if tx.state in (State.CALLING, State.PROCEEDING):
                if code < 200:
                    tx.state = State.PROCEEDING
                    tx.retransmit_at = None  # Timer A stops on a provisional
                    tx.end_at = None  # ...and Timer B: the TU decides how long it rings
                    out.append(ResponseIn(tx.request, response))
                elif code < 300:
                    # RFC 6026: Accepted, 2xx retransmissions go to the TU (it re-ACKs).
                    tx.state = State.ACCEPTED
                    tx.retransmit_at = None
                    tx.end_at = now + 64 * T1  # Timer M
                    out.append(ResponseIn(tx.request, response))
                else:
                    tx.state = State.COMPLETED
                    tx.retransmit_at = None
                    tx.ack = _ack_for_failure(tx.request, response)
                    tx.end_at = now + (0 if tx.reliable else 32.0)  # Timer D
                    out += [Send(tx.ack, tx.dest), ResponseIn(tx.request, response)]
            elif tx.state is State.ACCEPTED and 200 <= code < 300:
                out.append(ResponseIn(tx.request, response))
            elif tx.state is State.COMPLETED and code >= 300 and tx.ack is not None:
                out.append(Send(tx.ack, tx.dest))  # the ACK was lost: repeat it
            return out
        if tx.state in (State.TRYING, State.PROCEEDING):
            if code < 200:
                tx.state = State.PROCEEDING
                out.append(ResponseIn(tx.request, response))
            else:
                tx.state = State.COMPLETED
                tx.retransmit_at = None
                tx.end_at = now + (0 if tx.reliable else T4)  # Timer K
                out.append(ResponseIn(tx.request, response))
        return out

    # -- server side ----------------------------------------------------------------------

    def _on_request(
        self, request: Request, source: Address, now: float, reliable: bool | None
    ) -> list[TxEvent]:
        branch = request.top_via.branch
        if request.method == "ACK":
            tx = self._server.get((branch, "INVITE"))
            if tx is not None and tx.state is State.COMPLETED:
                # ACK of our non-2xx: Confirmed, then Timer I.
                tx.state = State.CONFIRMED
                tx.retransmit_at = None
                tx.end_at = now + (0 if tx.reliable else T4)  # Timer I
                return []
            if tx is not None and tx.state is State.CONFIRMED:
                return []
            # ACK of a 2xx: its own branch; match the INVITE by Call-ID and CSeq number.
            number, _ = request.cseq
            for stx in self._server.values():
                if (
                    stx.request.method == "INVITE"
                    and stx.state is State.ACCEPTED
                    and stx.request.call_id == request.call_id
                    and stx.request.cseq[0] == number
                ):
                    stx.state = State.TERMINATED
                    return [AckIn(stx.request, request)]
            return []  # a repeated ACK of a 2xx, or a stray one
        key = (branch, request.method)
        tx = self._server.get(key)
        if tx is not None:
            # A retransmitted request: repeat our last response, if any (§17.2.1, §17.2.2).
            if tx.last is not None and tx.state in (
                State.PROCEEDING,
                State.TRYING,
                State.COMPLETED,
            ):
                return [Send(tx.last, tx.dest)]
            return []
        invite = request.method == "INVITE"
        is_reliable = self._is_reliable(request, reliable)
        # §18.2.2: over a stream the response goes back on the request's connection, which
        # the adapter knows by the source address; over UDP to the Via's (r)port.
        dest = source if is_reliable else request.top_via.response_address(source)
        tx = _Tx(request, dest, False, State.PROCEEDING if invite else State.TRYING)
        tx.reliable = is_reliable
        self._server[key] = tx
        out: list[TxEvent] = [RequestIn(request, source)]
        if invite:
            # §17.2.1: answer 100 at once so the caller stops retransmitting.
            trying = _trying(request)
            tx.last = trying
            out.insert(0, Send(trying, dest))
        return out

    def send_response(self, response: Response, now: float) -> list[TxEvent]:
        """Send a response within the server transaction of the request it answers."""
        via = response.top_via
        _, method = response.cseq
        tx = self._server.get((via.branch, method))
        if tx is None:
            raise ValueError(f"no server transaction for {method} branch {via.branch!r}")
        if tx.state not in (State.TRYING, State.PROCEEDING, State.ACCEPTED):
            return []
        tx.last = response
        code = response.status
        if code >= 200:
            if method == "INVITE":
                accepted = code < 300
                tx.state = State.ACCEPTED if accepted else State.COMPLETED
                tx.interval = T1
                # Timer G (non-2xx, unreliable only) or the TU's 2xx retransmission
                # (§13.3.1.4: on any transport, as the 2xx is end to end), both from T1.
                tx.retransmit_at = now + T1 if accepted or not tx.reliable else None
                tx.end_at = now + 64 * T1  # Timer H / L
            else:
                tx.state = State.COMPLETED
                tx.end_at = now + (0 if tx.reliable else 64 * T1)  # Timer J
        elif method != "INVITE":
            tx.state = State.PROCEEDING
        return [Send(response, tx.dest)]

    def server_invite(self, branch: str) -> Request | None:
        """The INVITE of a still-pending server transaction (to match a CANCEL, §9.2)."""
        tx = self._server.get((branch, "INVITE"))
        if tx is None or tx.state is not State.PROCEEDING:
            return None
        return tx.request

    # -- input and timers -----------------------------------------------------------------

    def receive(
        self, message: SipMessage, source: Address, now: float, *, reliable: bool | None = None
    ) -> list[TxEvent]:
        """A message from the network. ``reliable`` says whether it came on a stream
        (default: what a request's top Via says); responses match their transaction."""
        if isinstance(message, Response):
            return self._on_response(message, now)
        return self._on_request(message, source, now, reliable)

    def connection_lost(self, dest: Address, reason: str) -> list[TxEvent]:
        """The stream to ``dest`` closed: every reliable client transaction still waiting
        for its final response there fails (the TU sees a 503, §8.1.3.1). Server
        transactions stay: their responses go on a new connection (§18.2.2)."""
        out: list[TxEvent] = []
        for key, tx in list(self._client.items()):
            if (
                tx.reliable
                and tx.dest == dest
                and tx.state in (State.CALLING, State.TRYING, State.PROCEEDING)
            ):
                out.append(TransportFailed(tx.request, reason))
                del self._client[key]
        return out

    def next_deadline(self) -> float | None:
        times = [
            t
            for tx in (*self._client.values(), *self._server.values())
            for t in (tx.retransmit_at, tx.end_at)
            if t is not None
        ]
        return min(times) if times else None

    def poll(self, now: float) -> list[TxEvent]:
        out: list[TxEvent] = []
        for table in (self._client, self._server):
            for key, tx in list(table.items()):
                if tx.state is State.TERMINATED:
                    del table[key]
                    continue
                if tx.end_at is not None and now >= tx.end_at:
                    if tx.client and tx.state in (State.CALLING, State.TRYING, State.PROCEEDING):
                        out.append(Timeout(tx.request, True))
                    elif not tx.client and tx.state in (State.COMPLETED, State.ACCEPTED):
                        out.append(Timeout(tx.request, False))
                    del table[key]
                    continue
                if tx.retransmit_at is not None and now >= tx.retransmit_at and tx.last:
                    out.append(Send(tx.last, tx.dest))
                    if tx.client and tx.state is State.PROCEEDING:
                        tx.interval = T2  # Timer E after a provisional: every T2
                    else:
                        tx.interval = min(tx.interval * 2, T2)
                    tx.retransmit_at = now + tx.interval
        return out

    def __len__(self) -> int:
        return len(self._client) + len(self._server)


def _trying(request: Request) -> Response:
    h = HeaderBuilder()
    for via in request.get_all("Via"):
        h.add("Via", via)
    for name in ("From", "To", "Call-ID", "CSeq"):
        h.add(name, request[name])
    return Response(h.build(), b"", 100, "Trying")


def _ack_for_failure(invite: Request, response: Response) -> Request:
    """§17.1.1.3: the ACK of a non-2xx final response, in the INVITE's transaction."""
    h = HeaderBuilder()
    h.add("Via", invite.get_all("Via")[0])
    for route in invite.get_all("Route", split=False):
        h.add("Route", route)
    h.add("Max-Forwards", "70")
    h.add("From", invite["From"])
    h.add("To", response["To"])
    h.add("Call-ID", invite.call_id)
    h.add("CSeq", f"{invite.cseq[0]} ACK")
    return Request(h.build(), b"", "ACK", invite.uri)
