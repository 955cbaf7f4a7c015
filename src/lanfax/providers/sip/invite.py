"""Our outgoing INVITE as a sans-IO state machine: digest authentication (RFC 3261 §22.2,
at most :data:`ATTEMPTS` INVITEs), the answer deadline, and CANCEL with its races (§9.1).

:class:`InviteClient` starts with :meth:`~InviteClient.start`, takes the responses of the
transaction layer (:meth:`~InviteClient.response_received`), an abort or shutdown
(:meth:`~InviteClient.stop`) and the time, and returns actions: :class:`.callcore.SendRequest`
for each INVITE and the CANCEL, :class:`Ringing` for a 180/183, and one :class:`Done` with the
outcome. It arms its own timers (:meth:`~InviteClient.next_deadline`,
:meth:`~InviteClient.poll`):

* the answer deadline (``answer_timeout`` from the first INVITE, across the authentication
  retries): at it, CANCEL;
* after a CANCEL, up to :data:`CANCEL_WAIT` for the CANCEL's own answer, then up to
  :data:`FINAL_WAIT` for the INVITE's final response; none: ``Done(None)``.

A 2xx that crosses our CANCEL is the call: we take it (§9.1 leaves the UAC to ACK and BYE
or keep it; a fax is better sent). Any other final response after a CANCEL is the outcome,
unless we cancelled because of our own abort or a shutdown, which is ``Done(None)``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from lanfax.model.errors import ProviderError
from lanfax.providers.common import CutReason
from lanfax.providers.sip.actions import CallSettings, CallStateError, SendRequest
from lanfax.providers.sip.auth import DigestError, authorization, parse_challenge
from lanfax.providers.sip.dialog import ALLOW, new_request
from lanfax.providers.sip.message import NameAddr, Request, Response

__all__ = [
    "ATTEMPTS",
    "CANCEL_WAIT",
    "FINAL_WAIT",
    "Credentials",
    "Done",
    "InviteAction",
    "InviteClient",
    "Ringing",
    "cancel_for",
    "credentials_header",
]

#: INVITEs at most: the first, and the retries with credentials after a 401/407.
ATTEMPTS = 3
#: How long we wait for the answer to our CANCEL before we wait for the INVITE's final.
CANCEL_WAIT = 5.0
#: How long the INVITE's final response may take after the CANCEL was answered.
FINAL_WAIT = 10.0


@dataclass(frozen=True, slots=True)
class Credentials:
    user: str
    password: str


@dataclass(frozen=True, slots=True)
class Ringing:
    """The far end rings (a 180 or 183)."""

    response: Response


@dataclass(frozen=True, slots=True)
class Done:
    """The INVITE's outcome: its final response (a 2xx: the call is up), or None when it
    was cancelled by an abort or a shutdown, or when nothing came after the CANCEL."""

    response: Response | None


InviteAction = SendRequest | Ringing | Done


class _State(enum.Enum):
    CALLING = "calling"  # our INVITE is out, no final response yet
    CANCELLING = "cancelling"  # the CANCEL is out, waiting for its answer
    AWAITING_FINAL = "awaiting_final"  # the CANCEL was answered, waiting for the INVITE's
    DONE = "done"


def credentials_header(
    challenge: Response, credentials: Credentials, method: str, uri: str, cnonce: str
) -> tuple[str, str]:
    """The Authorization (401) or Proxy-Authorization (407) answering ``challenge``."""
    proxy = challenge.status == 407
    header = challenge.get("Proxy-Authenticate" if proxy else "WWW-Authenticate")
    if header is None:
        raise ProviderError(f"{challenge.status} without a challenge", hint="a registrar bug")
    try:
        ch = parse_challenge(header)
    except DigestError as exc:
        raise ProviderError(exc.message, hint=exc.hint) from None
    value = authorization(
        ch,
        user=credentials.user,
        password=credentials.password,
        method=method,
        uri=uri,
        cnonce=cnonce,
    )
    return ("Proxy-Authorization" if proxy else "Authorization", value)


def cancel_for(invite: Request) -> Request:
    """§9.1: CANCEL with the INVITE's Via branch, Call-ID, From, To and CSeq number."""
    h: list[tuple[str, str]] = [("Via", invite.get_all("Via")[0])]
    h += [("Route", r) for r in invite.get_all("Route", split=False)]
    h += [
        ("Max-Forwards", "70"),
        ("From", invite["From"]),
        ("To", invite["To"]),
        ("Call-ID", invite.call_id),
        ("CSeq", f"{invite.cseq[0]} CANCEL"),
    ]
    return Request(tuple(h), b"", "CANCEL", invite.uri)


class InviteClient:
    """One outgoing INVITE, from the first request to its outcome (see the module doc)."""

    def __init__(
        self,
        settings: CallSettings,
        *,
        call_id: str,
        target: str,
        from_: NameAddr,
        to: NameAddr,
        headers: tuple[tuple[str, str], ...],
        body: bytes,
        credentials: Credentials,
        answer_timeout: float,
    ) -> None:
        self.settings = settings
        self.call_id = call_id
        self.target = target
        self.from_ = from_
        self.to = to
        self.headers = headers
        self.body = body
        self.credentials = credentials
        self.answer_timeout = answer_timeout
        self.state: _State | None = None
        #: The INVITE now in flight (the last one sent).
        self.invite: Request | None = None
        self.attempts = 0
        self.outcome: Done | None = None
        self._cseq = 0
        self._cut: CutReason | None = None
        self._cancel: Request | None = None
        self._deadline: float | None = None  # the answer deadline
        self._wait_until: float | None = None  # CANCEL_WAIT, then FINAL_WAIT

    @property
    def done(self) -> bool:
        return self.state is _State.DONE

    def _send(self, challenge: Response | None) -> SendRequest:
        self._cseq += 1
        self.attempts += 1
        s = self.settings
        extra = [*self.headers, ("Allow", ALLOW)]
        if challenge is not None:
            extra.append(
                credentials_header(challenge, self.credentials, "INVITE", self.target, s.ids.tag())
            )
        self.invite = new_request(
            "INVITE",
            self.target,
            from_=self.from_,
            to=self.to,
            call_id=self.call_id,
            cseq=self._cseq,
            via_host=s.via_host,
            via_port=s.via_port,
            transport=s.transport,
            branch=s.ids.branch(),
            contact=s.contact,
            extra=tuple(extra),
            body=self.body,
        )
        return SendRequest(self.invite, s.next_hop)

    def start(self, now: float) -> list[InviteAction]:
        if self.state is not None:
            raise CallStateError("the INVITE was already sent")
        self.state = _State.CALLING
        self._deadline = now + self.answer_timeout
        out: list[InviteAction] = [self._send(None)]
        if self._cut is not None:
            out += self._cancel_now(now)  # stopped before we dialled: cancel at once
        return out

    def stop(self, cut: CutReason | None, now: float) -> list[InviteAction]:
        """Our side gives up (an abort, a shutdown): CANCEL the INVITE."""
        if self._cut is None:
            self._cut = cut
        if self.state is _State.CALLING:
            return self._cancel_now(now)
        return []  # not sent yet (start cancels), already cancelling, or done

    def _cancel_now(self, now: float) -> list[InviteAction]:
        assert self.invite is not None
        self.state = _State.CANCELLING
        self._deadline = None
        self._wait_until = now + CANCEL_WAIT
        self._cancel = cancel_for(self.invite)
        return [SendRequest(self._cancel, self.settings.next_hop)]

    def _finish(self, response: Response | None) -> list[InviteAction]:
        self.state = _State.DONE
        self._deadline = self._wait_until = None
        self.outcome = Done(response)
        return [self.outcome]

    def response_received(
        self, request: Request, response: Response, now: float
    ) -> list[InviteAction]:
        """A response to one of our INVITEs or to the CANCEL (late ones are dropped)."""
        if self.state is None:
            raise CallStateError("a response before the INVITE was sent")
        if self.state is _State.DONE:
            return []
        if request.method == "CANCEL":
            if (
                request is self._cancel
                and self.state is _State.CANCELLING
                and response.status >= 200
            ):
                self.state = _State.AWAITING_FINAL
                self._wait_until = now + FINAL_WAIT
            return []
        if request is not self.invite:
            return []  # an earlier attempt's late answer: that transaction is over
        if response.status < 200:
            if response.status in (180, 183):
                return [Ringing(response)]
            return []
        if self.state is not _State.CALLING:
            if 200 <= response.status < 300:
                return self._finish(response)  # answered as we cancelled: take the call
            own = self._cut in (CutReason.ABORT, CutReason.SHUTDOWN)
            return self._finish(None if own else response)
        if response.status in (401, 407) and self.attempts < ATTEMPTS:
            return [self._send(response)]
        return self._finish(response)

    def next_deadline(self) -> float | None:
        if self.state is _State.CALLING:
            return self._deadline
        if self.state in (_State.CANCELLING, _State.AWAITING_FINAL):
            return self._wait_until
        return None

    def poll(self, now: float) -> list[InviteAction]:
        deadline = self.next_deadline()
        if deadline is None or now < deadline:
            return []
        if self.state is _State.CALLING:
            return self._cancel_now(now)  # the answer timeout passed
        if self.state is _State.CANCELLING:
            # No answer to our CANCEL in time: give the INVITE its FINAL_WAIT all the same.
            self.state = _State.AWAITING_FINAL
            self._wait_until = now + FINAL_WAIT
            return []
        return self._finish(None)
