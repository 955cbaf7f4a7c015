"""SIP dialogs (RFC 3261 §12), requests built within them, and the pure decisions of a fax
call's signalling: re-INVITE glare (§14.1), session timers (RFC 4028), response-code mapping.

A :class:`Dialog` holds the dialog state (Call-ID, tags, CSeq numbers, remote target and
route set) and builds in-dialog requests; :func:`new_request` builds out-of-dialog ones
(REGISTER, the first INVITE). Identifiers come from an injected :class:`Ids` so tests are
deterministic.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field

from lanfax.model.codes import ProviderStatus
from lanfax.providers.sip.message import HeaderBuilder, NameAddr, Request, Response, Uri

__all__ = [
    "Dialog",
    "Ids",
    "glare_retry_delay",
    "new_request",
    "session_refresh",
    "status_for_response",
]

USER_AGENT = "lanfax"
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE"


class Ids:
    """Random branch, tag and Call-ID values (seedable for tests)."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed) if seed is not None else None

    def _hex(self, n: int) -> str:
        if self._rng is not None:
            return "".join(self._rng.choice("0123456789abcdef") for _ in range(n))
        return secrets.token_hex(n // 2)

    def branch(self) -> str:
        return "z9hG4bK" + self._hex(16)  # §8.1.1.7: the magic cookie

    def tag(self) -> str:
        return self._hex(10)

    def call_id(self, host: str) -> str:
        return f"{self._hex(20)}@{host}"

    def uniform(self, low: float, high: float) -> float:
        rng = self._rng or random.SystemRandom()
        return rng.uniform(low, high)


def new_request(
    method: str,
    uri: str,
    *,
    from_: NameAddr,
    to: NameAddr,
    call_id: str,
    cseq: int,
    via_host: str,
    via_port: int,
    transport: str,
    branch: str,
    contact: str | None = None,
    route: tuple[str, ...] = (),
    extra: tuple[tuple[str, str], ...] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> Request:
    h = HeaderBuilder()
    h.add("Via", f"SIP/2.0/{transport} {via_host}:{via_port};branch={branch};rport")
    for r in route:
        h.add("Route", r)
    h.add("Max-Forwards", 70)
    h.add("From", str(from_))
    h.add("To", str(to))
    h.add("Call-ID", call_id)
    h.add("CSeq", f"{cseq} {method}")
    if contact is not None:
        h.add("Contact", contact)
    h.add("User-Agent", USER_AGENT)
    for k, v in extra:
        h.add(k, v)
    if body:
        h.add("Content-Type", content_type or "application/sdp")
    return Request(h.build(), body, method, uri)


@dataclass
class Dialog:
    """One dialog, from either side (§12.1.1 UAS, §12.1.2 UAC)."""

    call_id: str
    local: NameAddr  # with our tag
    remote: NameAddr  # with theirs
    local_seq: int
    remote_seq: int | None
    remote_target: str
    route_set: tuple[str, ...] = ()
    #: Whether we created the dialog by sending the INVITE (for glare timers, §14.1).
    caller: bool = True
    confirmed: bool = False
    _acks: dict[int, Request] = field(default_factory=dict)

    @property
    def local_tag(self) -> str:
        return self.local.tag or ""

    @property
    def remote_tag(self) -> str:
        return self.remote.tag or ""

    @classmethod
    def as_uac(cls, invite: Request, response: Response) -> Dialog:
        """The dialog a 2xx (or 1xx with a To tag) to our INVITE creates (§12.1.2)."""
        contact = response.get_all("Contact")
        target = NameAddr.parse(contact[0]).uri if contact else Uri.parse(invite.uri)
        # The route set is the Record-Route of the response, reversed.
        routes = tuple(reversed(response.get_all("Record-Route")))
        return cls(
            invite.call_id,
            invite.from_,
            response.to,
            invite.cseq[0],
            None,
            str(target),
            routes,
            caller=True,
        )

    @classmethod
    def as_uas(cls, invite: Request, local_tag: str) -> Dialog:
        contact = invite.get_all("Contact")
        target = NameAddr.parse(contact[0]).uri if contact else invite.from_.uri
        return cls(
            invite.call_id,
            invite.to.with_tag(local_tag),
            invite.from_,
            0,
            invite.cseq[0],
            str(target),
            tuple(invite.get_all("Record-Route")),
            caller=False,
        )

    def matches(self, msg: Request | Response) -> bool:
        if msg.call_id != self.call_id:
            return False
        if isinstance(msg, Request):
            return msg.to.tag == self.local_tag and msg.from_.tag == self.remote_tag
        return msg.from_.tag == self.local_tag

    def next_seq(self) -> int:
        self.local_seq += 1
        return self.local_seq

    def accept_remote_seq(self, request: Request) -> bool:
        """§12.2.2: a lower CSeq than the last one is out of order (answer 500)."""
        number = request.cseq[0]
        if request.method in ("ACK", "CANCEL"):
            return True
        if self.remote_seq is not None and number <= self.remote_seq:
            return False
        self.remote_seq = number
        return True

    def request(
        self,
        method: str,
        *,
        via_host: str,
        via_port: int,
        transport: str,
        branch: str,
        contact: str | None = None,
        cseq: int | None = None,
        extra: tuple[tuple[str, str], ...] = (),
        body: bytes = b"",
    ) -> Request:
        """An in-dialog request (§12.2.1.1; loose routing only, as every proxy today)."""
        number = cseq if cseq is not None else self.next_seq()
        return new_request(
            method,
            self.remote_target,
            from_=self.local,
            to=self.remote,
            call_id=self.call_id,
            cseq=number,
            via_host=via_host,
            via_port=via_port,
            transport=transport,
            branch=branch,
            contact=contact,
            route=self.route_set,
            extra=extra,
            body=body,
        )

    def next_hop(self, default: tuple[str, int]) -> tuple[str, int]:
        """Where an in-dialog request goes: the first route, else the remote target."""
        uri = (
            NameAddr.parse(self.route_set[0]).uri
            if self.route_set
            else Uri.parse(self.remote_target)
        )
        if not uri.host or uri.host.startswith("["):
            return default
        return uri.host, uri.port or 5060


def glare_retry_delay(ids: Ids, *, owner: bool) -> float:
    """§14.1: after a 491, the Call-ID owner waits 2.1-4 s, the other side 0-2 s, so the
    two retries do not collide again."""
    return ids.uniform(2.1, 4.0) if owner else ids.uniform(0.0, 2.0)


def session_refresh(expires: int, refresher_is_us: bool) -> float:
    """RFC 4028 §10: the refresher sends its refresh at half the interval; the other side
    gives up (BYE) when no refresh came a little before the interval ends."""
    if refresher_is_us:
        return expires / 2
    return expires - min(32.0, expires / 3)


#: How a final failure response maps onto the device status (and so onto the retry).
_RESPONSE_STATUS = {
    486: ProviderStatus.BUSY,  # Busy Here
    600: ProviderStatus.BUSY,  # Busy Everywhere
    404: ProviderStatus.BAD_ADDRESS,  # Not Found
    604: ProviderStatus.BAD_ADDRESS,  # Does Not Exist Anywhere
    484: ProviderStatus.BAD_ADDRESS,  # Address Incomplete
    410: ProviderStatus.BAD_ADDRESS,  # Gone
    416: ProviderStatus.BAD_ADDRESS,  # Unsupported URI Scheme
    480: ProviderStatus.NO_ANSWER,  # Temporarily Unavailable
    408: ProviderStatus.NO_ANSWER,  # Request Timeout
    487: ProviderStatus.NO_ANSWER,  # Request Terminated (our CANCEL after ringing)
    603: ProviderStatus.BUSY,  # Decline: the far end refused; retry later like busy
    403: ProviderStatus.CALL_BLACKLISTED,  # Forbidden: the trunk refuses this number
    503: ProviderStatus.LINE_UNAVAILABLE,  # Service Unavailable (trunk down)
    502: ProviderStatus.LINE_UNAVAILABLE,
    500: ProviderStatus.LINE_UNAVAILABLE,
    504: ProviderStatus.LINE_UNAVAILABLE,
    488: ProviderStatus.FATAL_ERROR,  # no common media at all (not even G.711)
    606: ProviderStatus.FATAL_ERROR,
}


def status_for_response(code: int) -> ProviderStatus:
    """The FS_* status of a failed INVITE, by final response code."""
    status = _RESPONSE_STATUS.get(code)
    if status is not None:
        return status
    if 400 <= code < 500:
        return ProviderStatus.BAD_ADDRESS if code in (401, 407) else ProviderStatus.FATAL_ERROR
    return ProviderStatus.LINE_UNAVAILABLE
