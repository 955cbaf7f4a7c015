"""One SIP fax call's signalling as a sans-IO state machine: the dialog once it exists, the
T.38 switch by re-INVITE with its 491 glare retries, RFC 4028 session refresh and expiry,
the far end's in-dialog requests, a CANCEL before we answered, and the hang-up.

:class:`CallCore` takes events (a request or response from the transaction layer, the ACK
of our 2xx, progress of the fax session, "hang up") with the current time and returns
:data:`~.actions.Action` values for the adapter (:mod:`.call`) to carry out: start a client
transaction, answer within a server transaction, send an ACK, switch the media, end the
call, write a line to the device's log. It arms its own timers; the adapter calls
:meth:`CallCore.poll` at :meth:`CallCore.next_deadline`. It never sleeps and never touches a
socket, so the tests drive glare, refresh and expiry in virtual time.

An action that makes no sense in the call's state (hang up twice, answer a CANCEL after the
200 OK, a response to a request the core never sent) raises :class:`CallStateError`, as h11
does: the adapter checks the state it needs (:attr:`CallCore.ended`,
:attr:`CallCore.ringing`) and a mistake shows instead of being ignored.

The outgoing INVITE (digest authentication, the answer deadline, CANCEL) is the other core,
:mod:`.invite`.
"""

from __future__ import annotations

import enum
from dataclasses import replace

from lanfax.providers.common import CutReason
from lanfax.providers.sip.actions import (
    Action,
    Address,
    CallSettings,
    CallStateError,
    Ended,
    Note,
    Respond,
    Ring,
    SendAck,
    SendRequest,
    UseMedia,
)
from lanfax.providers.sip.dialog import ALLOW, Dialog, glare_retry_delay, session_refresh
from lanfax.providers.sip.message import Request, Response, SipParseError, response_to
from lanfax.providers.sip.sdp import (
    Media,
    NotAcceptable,
    Offerer,
    SessionDescription,
    T38Params,
    answer,
    audio_media,
    negotiated_from_answer,
    parse_sdp,
    t38_media,
)

__all__ = ["ACK_WAIT", "GLARE_RETRIES", "HANGUP_GRACE", "PENDING_RETRY", "CallCore"]

#: A T.38 re-INVITE that meets glare (491) is retried this many times.
GLARE_RETRIES = 3
#: §14.1: the answering side sends no re-INVITE before the ACK of its 200 OK; it waits this
#: long for it (64*T1, as long as the 200 OK is retransmitted) and then gives the switch up.
ACK_WAIT = 32.0
#: After its own phase E the callee waits this long for the caller's BYE before hanging up.
HANGUP_GRACE = 4.0
#: Our own re-INVITE (a refresh) is still pending: look again this much later.
PENDING_RETRY = 0.2


class _Switch(enum.Enum):
    """Where our own T.38 switch stands."""

    OFF = "off"  # not ours to offer, or over
    WAIT_ACK = "wait_ack"  # §14.1: the ACK of our 200 OK first
    DUE = "due"  # try at _switch_at
    IN_FLIGHT = "in_flight"  # our re-INVITE is out


class CallCore:
    """One call, incoming or outgoing, from its dialog to its end (see the module doc)."""

    def __init__(
        self,
        settings: CallSettings,
        *,
        outgoing: bool,
        call_id: str,
        offerer: Offerer,
        session_expires: int,
    ) -> None:
        self.settings = settings
        self.outgoing = outgoing
        self.call_id = call_id
        self.offerer = offerer
        self.session_expires = session_expires
        #: RFC 4028: who refreshes; the caller unless the far end's Session-Expires says.
        self.refresher_is_us = outgoing
        self.dialog: Dialog | None = None
        self.invite: Request | None = None  # the initial INVITE (ours, or theirs)
        self.ports: tuple[int, int] = (0, 0)  # RTP, UDPTL
        self.answered = False
        self.ended = False
        self.acked = False
        self.cut: CutReason | None = None
        self.t38_refused = False
        self.glare = 0
        self.refreshes = 0
        # What the media is doing (fed by media_started, progress, and our own UseMedia).
        self.media_kind = "none"
        self.remote: Media | None = None
        self.pages = 0
        self.session_done = False  # phase E reported (the media said "ended")
        self._grace_at: float | None = None  # answering: BYE if the caller has not by then
        self._rings = 0
        self._ring_at: float | None = None
        # Our re-INVITE in flight (a T.38 offer or a refresh), and what it offered.
        self._pending: Request | None = None
        self._pending_offer: SessionDescription | None = None
        self._pending_is_switch = False
        self._switch = _Switch.OFF
        self._switch_at: float | None = None
        self._switch_tries = 0
        self._timer_running = False
        self._refresh_at: float | None = None  # we are the refresher
        self._expire_at: float | None = None  # they are
        self._byes: set[str] = set()  # branches of our BYE

    # -- state -----------------------------------------------------------------------------

    @property
    def ringing(self) -> bool:
        """An incoming call not answered yet (a CANCEL may still end it)."""
        return not self.outgoing and not self.answered and not self.ended

    @property
    def reinvite_pending(self) -> bool:
        return self._pending is not None

    def timer_headers(self) -> tuple[tuple[str, str], ...]:
        """RFC 4028 §7 headers for our INVITE or 2xx: the interval and who refreshes."""
        refresher = "uac" if self.refresher_is_us == self.outgoing else "uas"
        return (
            ("Supported", "timer"),
            ("Session-Expires", f"{self.session_expires};refresher={refresher}"),
        )

    def our_media_line(self, kind: str) -> SessionDescription:
        """Our SDP for ``kind`` ("t38" or audio), in the session's o= version sequence."""
        s = self.settings
        rtp, udptl = self.ports
        if kind == "t38":
            m = t38_media(s.sdp_address, udptl, s.t38 or T38Params())
        else:
            codec = self.remote.codec if self.remote is not None else None
            m = audio_media(s.sdp_address, rtp, (codec,) if codec else s.codecs)
        return self.offerer.make(m)

    def in_dialog(self, method: str, body: bytes = b"", *, cseq: int | None = None) -> Request:
        """A request of ours in the dialog (an INVITE carries the RFC 4028 headers)."""
        if self.dialog is None:
            raise CallStateError(f"{method} outside a dialog")
        s = self.settings
        extra = self.timer_headers() if method == "INVITE" else ()
        return self.dialog.request(
            method,
            via_host=s.via_host,
            via_port=s.via_port,
            transport=s.transport,
            branch=s.ids.branch(),
            contact=None if method == "ACK" else s.contact,
            cseq=cseq,
            extra=extra,
            body=body,
        )

    def _dest(self) -> Address:
        assert self.dialog is not None
        return self.dialog.next_hop(self.settings.next_hop)

    def ack_for(self, response: Response) -> SendAck:
        """The ACK of a 2xx to one of our INVITEs (§13.2.2.4: the INVITE's CSeq number)."""
        return SendAck(self.in_dialog("ACK", cseq=response.cseq[0]), self._dest())

    # -- the call comes up -----------------------------------------------------------------

    def accepted(self, invite: Request, response: Response) -> list[Action]:
        """Our INVITE got its 2xx: the dialog exists (§12.1.2); ACK it and take the far
        end's Session-Expires (RFC 4028 §7.2: the refresher it names). Stopped meanwhile
        (the 2xx crossed the CANCEL of an abort): the call exists at the far end, so ACK
        it and send BYE at once (§15)."""
        if not self.outgoing or self.answered:
            raise CallStateError("a 2xx to an INVITE we are not waiting on")
        self.invite = invite
        self.dialog = Dialog.as_uac(invite, response)
        self.answered = True
        value = response.get("Session-Expires")
        if value:
            self.session_expires = int(value.split(";")[0].strip() or self.session_expires)
            self.refresher_is_us = "refresher=uas" not in value
        out: list[Action] = [self.ack_for(response)]
        if self.ended:
            bye = self.in_dialog("BYE")
            self._byes.add(bye.top_via.branch)
            out.append(SendRequest(bye, self._dest()))
        return out

    def offered(self, invite: Request, local_tag: str) -> None:
        """Their INVITE is for us: the dialog as the UAS (§12.1.1), and their timer."""
        if self.outgoing or self.dialog is not None:
            raise CallStateError("an incoming INVITE on a call that has one")
        self.invite = invite
        self.dialog = Dialog.as_uas(invite, local_tag)
        se = invite.get("Session-Expires")
        if se:
            self.session_expires = max(int(se.split(";")[0].strip() or 0), 4)
            self.refresher_is_us = "refresher=uas" in se

    def ring(self, now: float) -> list[Action]:
        """The call rings (we sent 180): the first ring, the next every ring_interval
        until we answer or the call ends."""
        if not self.ringing or self.invite is None or self._rings:
            raise CallStateError("ringing a call that is not offered, or rings already")
        self._rings = 1
        self._ring_at = now + self.settings.ring_interval
        return [Ring(1)]

    def answer_ok(self, body: bytes) -> Respond:
        """Our 200 OK to their INVITE (we require the timer: RFC 4028 §9)."""
        if not self.ringing or self.invite is None or self.dialog is None:
            raise CallStateError("answering a call that is not ringing")
        self.answered = True
        self._ring_at = None
        extra = [
            ("Contact", self.settings.contact),
            *self.timer_headers(),
            ("Require", "timer"),
            ("Content-Type", "application/sdp"),
        ]
        return Respond(
            response_to(
                self.invite, 200, "OK", to_tag=self.dialog.local_tag, extra=extra, body=body
            )
        )

    def media_started(self, media: Media, now: float) -> list[Action]:
        """The negotiated media is running: start the session timer, and (on audio, when
        it is ours to offer) the T.38 switch, after the ACK of our 200 OK if we answered."""
        if not self.answered or self.ended:
            raise CallStateError("media on a call that is not up")
        out: list[Action] = [UseMedia(media)]
        self._use(media)
        self._timer_running = True
        wait = session_refresh(self.session_expires, self.refresher_is_us)
        if self.refresher_is_us:
            self._refresh_at = now + wait
        else:
            self._expire_at = now + wait
        if media.kind == "audio" and self.settings.offers_t38:
            # The answering fax sends CED: our "fax detected" moment; switch before T.30
            # gets going. (A caller does this only under the media-swapped retry recipe.)
            if self.outgoing or self.acked:
                self._switch, self._switch_at = _Switch.DUE, now
            else:
                self._switch, self._switch_at = _Switch.WAIT_ACK, now + ACK_WAIT
        return out

    def _use(self, media: Media) -> None:
        # As FaxMedia.set_remote: T.38 once switched stays (a fax does not survive going
        # back to audio), the far address follows the latest answer.
        self.remote = media
        self.media_kind = "t38" if self.media_kind == "t38" else media.kind

    # -- events from the far end -----------------------------------------------------------

    def ack_received(self, now: float) -> list[Action]:
        """The ACK of our 2xx to their INVITE: a re-INVITE of ours may go now (§14.1)."""
        self.acked = True
        self._refreshed(now)
        if self._switch is _Switch.WAIT_ACK:
            self._switch, self._switch_at = _Switch.DUE, now
            return self._try_switch(now)
        return []

    def progress(self, kind: str, pages: int, now: float) -> list[Action]:
        """The fax session's progress ("negotiated", "page", "ended"). When T.30 has ended
        the caller hangs up at once; the answering side leaves the caller HANGUP_GRACE to
        send its BYE after the DCN, and hangs up itself if none came."""
        if kind == "page":
            self.pages = max(self.pages, pages)
        elif kind == "ended" and not self.session_done:
            self.session_done = True
            if self.ended or not self.answered:
                return []
            if self.outgoing:
                return self.hang_up(None)
            self._grace_at = now + HANGUP_GRACE
        return []

    def request_received(self, request: Request, now: float) -> list[Action]:
        """An in-dialog request of the far end (matched to this call by the adapter)."""
        if self.dialog is None:
            raise CallStateError("an in-dialog request before the dialog exists")
        if not self.dialog.accept_remote_seq(request):
            return [Respond(response_to(request, 500, "Server Internal Error (CSeq order)"))]
        if request.method == "BYE":
            return [Respond(response_to(request, 200, "OK")), *self._end(CutReason.REMOTE_BYE)]
        if request.method == "INVITE":
            return self._reinvite_in(request, now)
        if request.method in ("UPDATE", "OPTIONS"):
            self._refreshed(now)
            return [Respond(response_to(request, 200, "OK", extra=self.timer_headers()))]
        return [Respond(response_to(request, 405, "Method Not Allowed", extra=[("Allow", ALLOW)]))]

    def _reinvite_in(self, request: Request, now: float) -> list[Action]:
        self._refreshed(now)
        if self._pending is not None:
            # §14.2: glare. Both sides answer 491 and retry after their §14.1 delays.
            return [Respond(response_to(request, 491, "Request Pending"))]
        if self.media_kind == "none":
            return [
                Respond(
                    response_to(request, 500, "Server Internal Error", extra=[("Retry-After", "1")])
                )
            ]
        if not request.body:
            # An offer-less re-INVITE (a refresh): we offer our current SDP in the 200.
            ours = self.offerer.sdp or self.our_media_line(self.media_kind)
            return [self._ok(request, ours.serialize())]
        try:
            offer = parse_sdp(request.body)
            t38 = self.settings.t38
            if self.pages > 0 and self.media_kind == "audio":
                t38 = None  # a page already went through on audio: switching restarts T.30
            rtp, udptl = self.ports
            ans, agreed = answer(
                offer,
                self.offerer,
                rtp_port=rtp,
                udptl_port=udptl,
                codecs=self.settings.codecs,
                t38=t38,
            )
        except NotAcceptable as exc:
            return [
                Note(f"488 to a re-INVITE: {exc.message}"),
                Respond(response_to(request, 488, "Not Acceptable Here")),
            ]
        except SipParseError as exc:
            return [
                Note(f"400 to a re-INVITE: {exc.message}"),
                Respond(response_to(request, 400, "Bad SDP")),
            ]
        if (
            self.media_kind == agreed.kind
            and self.offerer.sdp is not None
            and _same_media(self.offerer.sdp, ans)
        ):
            # Nothing changed (a refresh, or "T.38 invite stutter"): same o= version, §8.
            ans = self.offerer.sdp
        self.offerer = self.offerer.sent(ans)
        out: list[Action] = [self._ok(request, ans.serialize()), UseMedia(agreed)]
        self._use(agreed)
        return out

    def _ok(self, request: Request, body: bytes) -> Respond:
        extra = [("Contact", self.settings.contact), *self.timer_headers()]
        extra.append(("Content-Type", "application/sdp"))
        tag = self.dialog.local_tag if self.dialog else None
        return Respond(response_to(request, 200, "OK", to_tag=tag, extra=extra, body=body))

    def cancel_received(self, cancel: Request) -> list[Action]:
        """§9.2: their CANCEL while we ring: 200 to it, 487 to the INVITE, the call ends."""
        if not self.ringing or self.invite is None:
            raise CallStateError("CANCEL of a call that is not ringing (answer 481)")
        tag = self.dialog.local_tag if self.dialog else self.settings.ids.tag()
        return [
            Respond(response_to(cancel, 200, "OK")),
            Respond(response_to(self.invite, 487, "Request Terminated", to_tag=tag)),
            *self._end(CutReason.CANCELLED),
        ]

    def response_received(self, request: Request, response: Response, now: float) -> list[Action]:
        """The final response (or a repeated 2xx) to a request we sent in this dialog."""
        if request.method == "BYE" and request.top_via.branch in self._byes:
            return []  # the BYE's answer says nothing more: the call is over either way
        if request.method != "INVITE":
            raise CallStateError(f"a response to a {request.method} the call did not send")
        if request is not self._pending:
            if 200 <= response.status < 300:
                return [self.ack_for(response)]  # a repeated 2xx: its ACK was lost
            raise CallStateError("a response to a re-INVITE that is not pending")
        offer = self._pending_offer
        switch = self._pending_is_switch
        self._pending, self._pending_offer, self._pending_is_switch = None, None, False
        out: list[Action] = []
        if 200 <= response.status < 300:
            out.append(self.ack_for(response))
        if switch:
            assert offer is not None
            out += self._switch_answered(offer, response, now)
        else:
            out += self._refresh_answered(response, now)
        return out

    # -- our T.38 switch -----------------------------------------------------------------

    def _try_switch(self, now: float) -> list[Action]:
        """One attempt of the T.38 switch (at most GLARE_RETRIES + 1 of them)."""
        if self._switch_tries > GLARE_RETRIES:
            self._switch = _Switch.OFF
            return []
        self._switch_tries += 1
        if self.ended or self.media_kind != "audio" or self.pages > 0 or self.session_done:
            # Over, already T.38, or too late: a page went through on audio, keep it so.
            self._switch = _Switch.OFF
            return []
        if self._pending is not None:
            self._switch, self._switch_at = _Switch.DUE, now + PENDING_RETRY
            return []
        offer = self.our_media_line("t38")
        self._switch, self._switch_at = _Switch.IN_FLIGHT, None
        return [self._reinvite(offer, switch=True)]

    def _reinvite(self, offer: SessionDescription, *, switch: bool) -> SendRequest:
        request = self.in_dialog("INVITE", offer.serialize())
        self._pending, self._pending_offer, self._pending_is_switch = request, offer, switch
        return SendRequest(request, self._dest())

    def _switch_answered(
        self, offer: SessionDescription, response: Response, now: float
    ) -> list[Action]:
        self._switch = _Switch.OFF
        if 200 <= response.status < 300:
            try:
                agreed = negotiated_from_answer(offer, parse_sdp(response.body))
            except NotAcceptable:
                self.t38_refused = True
                return []
            self.offerer = self.offerer.sent(offer)
            if agreed.kind == "t38":
                self._use(agreed)
                return [UseMedia(agreed)]
            self.t38_refused = True
            return []
        if response.status == 491:
            self.glare += 1
            if self._switch_tries > GLARE_RETRIES:
                return []
            delay = glare_retry_delay(self.settings.ids, owner=self.outgoing)
            self._switch, self._switch_at = _Switch.DUE, now + delay
            return []
        self.t38_refused = True
        return [Note(f"far end refused T.38 ({response.status}): staying on G.711")]

    # -- RFC 4028 ------------------------------------------------------------------------

    def _refreshed(self, now: float) -> None:
        """A refresh from the far end (a re-INVITE, UPDATE, OPTIONS or the ACK): when they
        refresh, their interval starts again."""
        if self._expire_at is not None:
            self._expire_at = now + session_refresh(self.session_expires, False)

    def _refresh(self, now: float) -> list[Action]:
        self._refresh_at = None
        if self._pending is not None:
            # Our T.38 offer is out: it refreshes as well; look again an interval later.
            self._refresh_at = now + session_refresh(self.session_expires, True)
            return []
        offer = self.offerer.sdp or self.our_media_line(self.media_kind)
        return [self._reinvite(offer, switch=False)]

    def _refresh_answered(self, response: Response, now: float) -> list[Action]:
        if 200 <= response.status < 300:
            self.refreshes += 1
        elif response.status in (408, 481):
            # RFC 4028 §10: the session is gone (no answer, or no such dialog).
            if self.ended:
                return []
            return [
                Note("session refresh failed: hanging up"),
                *self.hang_up(CutReason.SESSION_EXPIRED),
            ]
        if not self.ended:
            self._refresh_at = now + session_refresh(self.session_expires, True)
        return []

    # -- ending ----------------------------------------------------------------------------

    def _end(self, cut: CutReason | None) -> list[Action]:
        if self.cut is None:
            self.cut = cut
        if self.ended:
            return []
        self.ended = True
        self._switch, self._switch_at = _Switch.OFF, None
        self._refresh_at = self._expire_at = self._grace_at = self._ring_at = None
        return [Ended(self.cut)]

    def hang_up(self, cut: CutReason | None) -> list[Action]:
        """We end the call (``cut`` None: T.30 completed): BYE once the dialog exists."""
        if self.ended:
            raise CallStateError("the call has already ended")
        out = self._end(cut)
        if self.dialog is not None and self.answered:
            bye = self.in_dialog("BYE")
            self._byes.add(bye.top_via.branch)
            out.append(SendRequest(bye, self._dest()))
        return out

    def stop(self, cut: CutReason | None) -> list[Action]:
        """The call ends without signalling of ours (an abort or a shutdown before the
        answer: the INVITE's CANCEL is the :mod:`.invite` core's business)."""
        if self.answered:
            raise CallStateError("an answered call ends with hang_up (BYE)")
        return self._end(cut)

    # -- timers ----------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        times = [
            t
            for t in (
                self._switch_at if self._switch in (_Switch.DUE, _Switch.WAIT_ACK) else None,
                self._refresh_at,
                self._expire_at,
                self._grace_at,
                self._ring_at,
            )
            if t is not None
        ]
        return min(times) if times else None

    def poll(self, now: float) -> list[Action]:
        out: list[Action] = []
        if self.ended:
            return out
        if self._switch_at is not None and now >= self._switch_at:
            if self._switch is _Switch.WAIT_ACK:
                self._switch, self._switch_at = _Switch.OFF, None  # never ACKed: no switch
            elif self._switch is _Switch.DUE:
                self._switch_at = None
                out += self._try_switch(now)
        if self._refresh_at is not None and now >= self._refresh_at:
            out += self._refresh(now)
        if self._ring_at is not None and now >= self._ring_at:
            self._rings += 1
            self._ring_at = now + self.settings.ring_interval
            out.append(Ring(self._rings))
        if self._grace_at is not None and now >= self._grace_at:
            return [*out, *self.hang_up(None)]  # T.30 is over; the caller did not hang up
        if self._expire_at is not None and now >= self._expire_at:
            out.append(Note("no session refresh (RFC 4028): hanging up"))
            out += self.hang_up(CutReason.SESSION_EXPIRED)
        return out


def _same_media(a: SessionDescription, b: SessionDescription) -> bool:
    return [replace(m) for m in a.media] == [replace(m) for m in b.media]
