"""SIP transactions over an unreliable transport (RFC 3261 §17, with RFC 6026's Accepted
state), as a sans-IO state machine.

The :class:`TransactionLayer` takes parsed messages and the current time and returns
events: messages to send (:class:`Send`), requests and responses for the transaction user
(:class:`RequestIn`, :class:`ResponseIn`), ACKs of our 2xx (:class:`AckIn`) and timeouts
(:class:`Timeout`). It retransmits on the timers of §17 (A, B, D, E, F, G, H, I, J, K; L and M
from RFC 6026), absorbs retransmissions, and answers non-2xx final responses to INVITE with
the ACK of §17.1.1.3 itself. The caller feeds it ``now`` (a monotonic clock) and calls
:meth:`TransactionLayer.poll` at :meth:`TransactionLayer.next_deadline`.

Over TCP the same machine runs with the retransmission timers unused (``reliable=True``).
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


TxEvent = Send | RequestIn | ResponseIn | AckIn | Timeout


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


@dataclass
class TransactionLayer:
    reliable: bool = False
    _client: dict[tuple[str, str], _Tx] = field(default_factory=dict)
    _server: dict[tuple[str, str], _Tx] = field(default_factory=dict)

    # -- client side ----------------------------------------------------------------------

    def send_request(self, request: Request, dest: Address, now: float) -> list[TxEvent]:
        """Start a client transaction (not for ACK, which has none: send it directly)."""
        key = (request.top_via.branch, request.method)
        if not key[0] or key in self._client:
            raise ValueError(f"request needs a fresh Via branch, got {key[0]!r}")
        invite = request.method == "INVITE"
        tx = _Tx(request, dest, True, State.CALLING if invite else State.TRYING)
        tx.last = request
        if not self.reliable:
            tx.retransmit_at = now + T1
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
                    tx.end_at = now + (0 if self.reliable else 32.0)  # Timer D
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
                tx.end_at = now + (0 if self.reliable else T4)  # Timer K
                out.append(ResponseIn(tx.request, response))
        return out

    # -- server side ----------------------------------------------------------------------

    def _on_request(self, request: Request, source: Address, now: float) -> list[TxEvent]:
        branch = request.top_via.branch
        if request.method == "ACK":
            tx = self._server.get((branch, "INVITE"))
            if tx is not None and tx.state is State.COMPLETED:
                # ACK of our non-2xx: Confirmed, then Timer I.
                tx.state = State.CONFIRMED
                tx.retransmit_at = None
                tx.end_at = now + (0 if self.reliable else T4)
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
        dest = request.top_via.response_address(source)
        tx = _Tx(request, dest, False, State.PROCEEDING if invite else State.TRYING)
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
                tx.state = State.ACCEPTED if code < 300 else State.COMPLETED
                tx.interval = T1
                # Timer G (non-2xx) or the TU's 2xx retransmission (§13.3.1.4), both from T1.
                tx.retransmit_at = None if self.reliable else now + T1
                tx.end_at = now + 64 * T1  # Timer H / L
            else:
                tx.state = State.COMPLETED
                tx.end_at = now + (0 if self.reliable else 64 * T1)  # Timer J
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

    def receive(self, message: SipMessage, source: Address, now: float) -> list[TxEvent]:
        if isinstance(message, Response):
            return self._on_response(message, now)
        return self._on_request(message, source, now)

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
