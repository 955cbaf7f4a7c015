"""The SIP call cores in virtual time: two user agents made of CallCore, InviteClient and the
transaction layer, on a simulated wire (tests/providers/sip/callsim.py). Glare, session
refresh and expiry, digest authentication, CANCEL races and the answer deadline, each to the
millisecond, with no socket and no real second."""

from __future__ import annotations

import hashlib

import pytest
from tests.providers.sip.callsim import LATENCY, Agent, Net

from lanfax.providers.common import CutReason
from lanfax.providers.sip.actions import CallStateError
from lanfax.providers.sip.auth import _auth_params
from lanfax.providers.sip.callcore import ACK_WAIT, GLARE_RETRIES, HANGUP_GRACE
from lanfax.providers.sip.invite import CANCEL_WAIT, FINAL_WAIT, cancel_for
from lanfax.providers.sip.message import Request, Response, response_to

A = ("10.0.0.1", 5060)
B = ("10.0.0.2", 5060)


def pair(**b_kw: object) -> tuple[Net, Agent, Agent]:
    net = Net()
    a = Agent(net, "a", A, outgoing=True)
    b = Agent(net, "b", B, outgoing=False)
    for k, v in b_kw.items():
        setattr(b, k, v)
    return net, a, b


def up(net: Net, a: Agent, b: Agent, at: float = 1.0) -> None:
    """A dials, B picks up at ``at``; both sides' media run."""
    a.dial()
    net.run(at)
    b.pick_up()
    net.run(at + 3 * LATENCY)
    assert a.outcome is not None and a.outcome.response is not None
    assert a.outcome.response.status == 200
    assert a.media and b.media


def t38_invites(agent: Agent) -> list[Request]:
    return [r for r in agent.sent("INVITE") if b"m=image" in r.body]


# -- a call, and its end ------------------------------------------------------------------------


def test_a_call_rings_comes_up_and_ends_with_bye() -> None:
    net, a, b = pair()
    up(net, a, b)
    assert [r.status for r in a.ringing] == [180]
    assert a.media[0].kind == b.media[0].kind == "audio"
    assert b.core is not None and b.core.acked
    a.hang_up()
    net.run(2.0)
    assert a.ended is not None and a.ended.cut is None  # T.30 completed, we hung up
    assert b.ended is not None and b.ended.cut is CutReason.REMOTE_BYE
    assert [r.status for r in b.received if isinstance(r, Response)] == []  # B sent nothing
    assert any(isinstance(m, Response) and m.cseq[1] == "BYE" for m in a.received)


def test_after_t30_the_caller_hangs_up_at_once() -> None:
    net, a, b = pair()
    up(net, a, b)
    assert a.core is not None and b.core is not None
    b.act(b.core.progress("ended", 1, net.now))  # the callee's phase E first...
    a.act(a.core.progress("ended", 1, net.now))  # ...the caller's after its DCN
    net.run(net.now + 1)
    assert a.ended is not None and a.ended.cut is None
    assert b.ended is not None and b.ended.cut is CutReason.REMOTE_BYE
    assert len(a.sent("BYE")) == 1 and b.sent("BYE") == []


def test_after_t30_the_callee_waits_for_the_callers_bye_then_hangs_up() -> None:
    net, a, b = pair()
    up(net, a, b)
    assert b.core is not None
    done = net.now
    b.act(b.core.progress("ended", 1, net.now))  # the caller never finishes
    net.run(done + HANGUP_GRACE - 0.01)
    assert b.ended is None
    net.run(done + HANGUP_GRACE + 1)
    assert b.ended is not None and b.ended.cut is None  # T.30 completed: no cut
    assert a.ended is not None and a.ended.cut is CutReason.REMOTE_BYE


def test_their_call_rings_every_interval_until_answered_or_cancelled() -> None:
    net, a, b = pair()
    a.dial()
    net.run(13.0)
    b.pick_up()
    net.run(30.0)
    # The INVITE arrives at 0.02: rings then, and every 6 s (ring_interval) until answered.
    assert b.rings == [(LATENCY, 1), (LATENCY + 6, 2), (LATENCY + 12, 3)]
    net2, c, d = pair()
    c.dial()
    net2.run(7.0)
    assert c.client is not None
    c.act(c.client.stop(CutReason.ABORT, net2.now))
    net2.run(30.0)
    assert [n for _, n in d.rings] == [1, 2]  # the CANCEL at 7 s ended the ringing
    assert d.ended is not None and d.ended.cut is CutReason.CANCELLED


def test_illegal_actions_raise() -> None:
    net, a, b = pair()
    up(net, a, b)
    assert a.core is not None and b.core is not None and a.client is not None
    with pytest.raises(CallStateError):
        a.client.start(net.now)  # the INVITE went long ago
    with pytest.raises(CallStateError):
        b.core.cancel_received(b.core.invite)  # type: ignore[arg-type]  # answered: 481
    with pytest.raises(CallStateError):
        b.core.answer_ok(b"")  # answered twice
    with pytest.raises(CallStateError):
        a.core.stop(CutReason.ABORT)  # an answered call ends with a BYE
    a.hang_up()
    with pytest.raises(CallStateError):
        a.hang_up()  # twice


# -- T.38 switch and glare (RFC 3261 §14) ----------------------------------------------------


def test_glare_both_sides_get_491_and_the_non_owner_retries_first() -> None:
    """Both ends offer T.38 at once: A right after its ACK, B as soon as the ACK arrives
    (§14.1). Each answers the other 491; B (not the Call-ID owner) retries within 0-2 s,
    A would wait 2.1-4 s and finds the call on T.38 already."""
    net, a, b = pair()
    a.offers_t38 = b.offers_t38 = True
    up(net, a, b)
    net.run(10.0)
    assert a.core is not None and b.core is not None
    assert a.core.glare == 1 and b.core.glare == 1
    assert len(t38_invites(a)) == 1  # its first offer only: the retry found T.38 up
    first, retry = t38_invites(b)
    assert retry.cseq[0] > first.cseq[0]
    assert a.media[-1].kind == b.media[-1].kind == "t38"
    assert a.core.media_kind == b.core.media_kind == "t38"
    assert not a.core.t38_refused and not b.core.t38_refused
    assert a.ended is None and b.ended is None


def test_glare_gives_up_after_the_retries() -> None:
    """A far end that answers every re-INVITE 491: GLARE_RETRIES retries, then G.711."""
    net, a, b = pair()
    a.offers_t38 = True

    def always_491(request: Request) -> Response | None:
        if request.method == "INVITE" and request.to.tag is not None:
            return response_to(request, 491, "Request Pending")
        return None

    b.script = always_491
    up(net, a, b)
    net.run(60.0)
    assert a.core is not None
    assert len(t38_invites(a)) == GLARE_RETRIES + 1
    assert a.core.glare == GLARE_RETRIES + 1
    assert a.core.media_kind == "audio" and not a.core.t38_refused
    times = [m for m in b.received if isinstance(m, Request) and m.method == "INVITE"]
    assert len(times) == GLARE_RETRIES + 2  # the initial INVITE, and the offers


def test_a_refused_t38_offer_stays_on_g711() -> None:
    net, a, b = pair(takes_t38=False)
    a.offers_t38 = True
    up(net, a, b)
    net.run(5.0)
    assert a.core is not None
    assert a.core.t38_refused and a.core.media_kind == "audio"
    assert a.notes == ["far end refused T.38 (488): staying on G.711"]
    assert b.notes and b.notes[0].startswith("488 to a re-INVITE")


def test_the_answering_side_waits_for_the_ack_before_its_t38_offer() -> None:
    net, a, b = pair(offers_t38=True)
    a.dial()
    net.run(1.0)
    # The ACK of B's 200 OK is lost, every time: no re-INVITE before it (§14.1), and none
    # at all once ACK_WAIT has passed.
    net.drop = lambda m, dest: isinstance(m, Request) and m.method == "ACK"
    b.pick_up()
    net.run(ACK_WAIT + 5)
    assert t38_invites(b) == []
    assert b.core is not None and b.core.next_deadline() is not None  # the session timer


def test_no_t38_switch_once_a_page_went_through_on_audio() -> None:
    net, a, b = pair(offers_t38=True)
    a.dial()
    net.run(1.0)
    b.pick_up()
    assert b.core is not None
    b.act(b.core.progress("page", 1, net.now))  # before the ACK arrives
    net.run(5.0)
    assert t38_invites(b) == []


def test_a_malformed_sdp_in_a_reinvite_is_answered_400() -> None:
    net, a, b = pair()
    up(net, a, b)
    assert a.core is not None
    bad = a.core.in_dialog("INVITE", b"v=0\r\nthis is not sdp\r\n")
    a.tx(a.layer.send_request(bad, B, net.now))
    net.run(net.now + 1)
    answers = [m for m in a.received if isinstance(m, Response) and m.cseq[0] == bad.cseq[0]]
    assert [m.status for m in answers if m.status >= 200] == [400]
    assert b.ended is None


# -- RFC 4028 session timers ---------------------------------------------------------------------


def test_the_refresher_refreshes_at_half_the_interval() -> None:
    net, a, b = pair(session_expires=90)
    a.session_expires = 90
    up(net, a, b)
    assert a.core is not None and b.core is not None
    assert a.core.refresher_is_us and not b.core.refresher_is_us
    net.run(400.0)
    # One refresh every 45 s (plus the round trip each time): 8 by 400 s; nobody expired.
    assert a.core.refreshes == 8
    assert a.ended is None and b.ended is None
    refreshes = [r for r in a.sent("INVITE") if r.to.tag is not None]
    assert len(refreshes) == 8
    assert refreshes[0].get("Session-Expires") == "90;refresher=uac"


def test_no_refresh_from_the_refresher_ends_the_call_with_a_bye() -> None:
    net, a, b = pair(session_expires=90)
    a.session_expires = 90
    up(net, a, b)
    started = net.now
    # A's refreshes never arrive: B gives up a little before the interval ends
    # (90 - min(32, 90/3) = 60 s after the last refresh, the ACK here).
    net.drop = lambda m, dest: (
        isinstance(m, Request) and m.method == "INVITE" and m.to.tag is not None
    )
    net.run(started + 59.0)
    assert b.ended is None
    net.run(started + 61.0)
    assert b.ended is not None and b.ended.cut is CutReason.SESSION_EXPIRED
    assert b.notes == ["no session refresh (RFC 4028): hanging up"]
    assert a.ended is not None and a.ended.cut is CutReason.REMOTE_BYE
    net.run(200.0)  # A's lost refresh times out later: the call is over, nothing more
    assert a.core is not None and a.core.cut is CutReason.REMOTE_BYE


def test_we_ask_the_far_end_to_refresh_and_it_does() -> None:
    net, a, b = pair()
    a.session_expires, a.refresher = 90, False
    up(net, a, b)
    assert a.core is not None and b.core is not None
    assert not a.core.refresher_is_us and b.core.refresher_is_us
    net.run(400.0)
    assert b.core.refreshes == 8 and a.ended is None and b.ended is None


def test_an_update_refreshes_too_and_a_refresh_that_times_out_hangs_up() -> None:
    """B refreshes for A, but its re-INVITEs are lost: an UPDATE at 30 s keeps A (not the
    refresher) alive past the 60 s it would have allowed; B's lost refresh of 45 s times
    out (Timer B, 32 s) and B hangs up."""
    net, a, b = pair()
    a.session_expires, a.refresher = 90, False
    up(net, a, b)
    assert b.core is not None
    started = net.now
    net.drop = lambda m, dest: (
        isinstance(m, Request) and m.method == "INVITE" and m.to.tag is not None
    )
    net.run(30.0)
    update = b.core.in_dialog("UPDATE")
    b.tx(b.layer.send_request(update, A, net.now))
    net.run(started + 70.0)
    assert a.ended is None  # 60 s after the ACK had passed: the UPDATE counted
    net.run(1.0 + 45.0 + 32.0 + 1.0)  # the media started at 1 s, its refresh at 46 s
    assert b.ended is not None and b.ended.cut is CutReason.SESSION_EXPIRED
    assert b.notes == ["session refresh failed: hanging up"]
    assert a.ended is not None and a.ended.cut is CutReason.REMOTE_BYE


@pytest.mark.parametrize("status", [408, 481])
def test_a_refresh_answered_408_or_481_hangs_up(status: int) -> None:
    net, a, b = pair(session_expires=90)
    a.session_expires = 90
    up(net, a, b)

    def gone(request: Request) -> Response | None:
        if request.method == "INVITE" and request.to.tag is not None:
            return response_to(request, status, "Gone")
        return None

    b.script = gone
    net.run(50.0)
    assert a.ended is not None and a.ended.cut is CutReason.SESSION_EXPIRED
    assert a.notes == ["session refresh failed: hanging up"]
    assert b.ended is not None and b.ended.cut is CutReason.REMOTE_BYE


# -- digest authentication -----------------------------------------------------------------------


def check_digest(request: Request, header: str, password: str) -> None:
    """RFC 2617 §3.2.2, computed here independently of lanfax.providers.sip.auth."""
    p = _auth_params(request[header].partition(" ")[2])

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    ha1 = md5(f"{p['username']}:{p['realm']}:{password}")
    ha2 = md5(f"{request.method}:{p['uri']}")
    want = md5(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:auth:{ha2}")
    assert p["response"] == want
    assert p["uri"] == request.uri and p["nonce"] == "n-1" and p["realm"] == "lan"


@pytest.mark.parametrize(
    ("status", "challenge", "answer"),
    [
        (401, "WWW-Authenticate", "Authorization"),
        (407, "Proxy-Authenticate", "Proxy-Authorization"),
    ],
)
def test_invite_digest_authentication(status: int, challenge: str, answer: str) -> None:
    net, a, b = pair()
    seen: list[Request] = []

    def challenger(request: Request) -> Response | None:
        if request.method != "INVITE" or request.to.tag is not None:
            return None
        seen.append(request)
        if request.get(answer) is not None:
            check_digest(request, answer, "secret")
            return None  # let the call ring
        return response_to(
            request,
            status,
            "Unauthorized",
            to_tag="ch",
            extra=[(challenge, 'Digest realm="lan", nonce="n-1", qop="auth"')],
        )

    b.script = challenger
    up(net, a, b)
    assert [r.cseq[0] for r in seen] == [1, 2]
    assert seen[0].get(answer) is None and seen[1].get(answer) is not None
    assert a.client is not None and a.client.attempts == 2


def test_three_challenges_and_the_invite_fails_with_the_last() -> None:
    net, a, b = pair()

    def challenger(request: Request) -> Response | None:
        if request.method == "INVITE":
            return response_to(
                request,
                401,
                "Unauthorized",
                to_tag="ch",
                extra=[("WWW-Authenticate", 'Digest realm="lan", nonce="n-1"')],
            )
        return None

    b.script = challenger
    a.dial()
    net.run(5.0)
    assert a.outcome is not None and a.outcome.response is not None
    assert a.outcome.response.status == 401
    assert len(a.sent("INVITE")) == 3


# -- the answer deadline and CANCEL ------------------------------------------------------------


def test_no_answer_by_the_deadline_cancels_and_reports_487() -> None:
    net, a, b = pair()
    a.dial(answer_timeout=30.0)
    net.run(29.9)
    assert a.outcome is None and a.sent("CANCEL") == []
    net.run(31.0)
    assert len(a.sent("CANCEL")) == 1
    assert a.outcome is not None and a.outcome.response is not None
    assert a.outcome.response.status == 487  # the deadline: the far end's answer stands
    assert b.ended is not None and b.ended.cut is CutReason.CANCELLED


def test_the_deadline_counts_from_the_first_invite_across_a_challenge() -> None:
    net, a, b = pair()

    def once(request: Request) -> Response | None:
        if request.method == "INVITE" and request.get("Authorization") is None:
            return response_to(
                request,
                401,
                "Unauthorized",
                to_tag="ch",
                extra=[("WWW-Authenticate", 'Digest realm="lan", nonce="n-1", qop="auth"')],
            )
        return None

    b.script = once
    a.dial(answer_timeout=30.0)
    net.run(29.99)
    assert a.sent("CANCEL") == []
    net.run(30.0 + LATENCY)
    (cancel,) = a.sent("CANCEL")
    assert cancel.cseq == (2, "CANCEL")  # the authorized INVITE's


def test_our_abort_while_ringing_cancels_and_reports_nothing() -> None:
    net, a, b = pair()
    a.dial()
    net.run(5.0)
    assert a.client is not None
    a.act(a.client.stop(CutReason.ABORT, net.now))
    net.run(6.0)
    assert a.outcome is not None and a.outcome.response is None
    assert b.ended is not None and b.ended.cut is CutReason.CANCELLED


def test_a_200_that_crosses_our_cancel_is_the_call() -> None:
    """§9.1: B answers just before our deadline's CANCEL reaches it: B's 200 and our CANCEL
    cross. B answers the CANCEL 481 (no pending INVITE); we take the call and ACK it."""
    net, a, b = pair()
    a.dial(answer_timeout=30.0)
    net.run(30.0 - LATENCY / 2)
    b.pick_up()  # the 200 reaches A at 30.01, after A's CANCEL went at 30.0
    net.run(31.0)
    assert len(a.sent("CANCEL")) == 1
    cancel_answers = [m for m in a.received if isinstance(m, Response) and m.cseq[1] == "CANCEL"]
    assert [m.status for m in cancel_answers] == [481]
    assert a.outcome is not None and a.outcome.response is not None
    assert a.outcome.response.status == 200
    assert b.core is not None and b.core.acked and a.ended is None and b.ended is None


def test_a_200_that_crosses_the_cancel_of_our_abort_is_taken_and_ended_with_bye() -> None:
    net, a, b = pair()
    a.dial()
    net.run(5.0)
    assert a.core is not None and a.client is not None
    b.pick_up()  # B's 200 is on the wire when we abort
    a.act(a.core.stop(CutReason.ABORT))
    a.act(a.client.stop(CutReason.ABORT, net.now))
    net.run(6.0)
    assert a.outcome is not None and a.outcome.response is not None
    assert a.outcome.response.status == 200  # the call exists at B: taken...
    assert len(a.sent("ACK")) == 1 and len(a.sent("BYE")) == 1  # ...and ended
    assert a.core.cut is CutReason.ABORT and a.media == []
    assert b.ended is not None and b.ended.cut is CutReason.REMOTE_BYE


def test_nothing_after_the_cancel_gives_up_after_the_waits() -> None:
    net, a, _ = pair()
    a.dial(answer_timeout=30.0)
    net.run(1.0)
    net.drop = lambda m, dest: True  # the far end is gone
    net.run(30.0 + CANCEL_WAIT + FINAL_WAIT - 0.01)
    assert a.outcome is None
    net.run(30.0 + CANCEL_WAIT + FINAL_WAIT)
    assert a.outcome is not None and a.outcome.response is None


def test_a_cancel_after_the_answer_is_481_and_the_call_stays() -> None:
    net, a, b = pair()
    up(net, a, b)
    assert a.client is not None and a.client.invite is not None
    late = cancel_for(a.client.invite)
    a.tx(a.layer.send_request(late, B, net.now))
    net.run(net.now + 1)
    answers = [m for m in a.received if isinstance(m, Response) and m.cseq[1] == "CANCEL"]
    assert [m.status for m in answers] == [481]
    assert b.ended is None


# -- the far end's in-dialog requests ---------------------------------------------------------


def finals(agent: Agent, request: Request) -> list[Response]:
    """The final responses ``agent`` got to ``request`` (by CSeq)."""
    return [
        m
        for m in agent.received
        if isinstance(m, Response) and m.cseq == request.cseq and m.status >= 200
    ]


def test_a_repeated_t38_offer_gets_the_same_answer_and_one_switch() -> None:
    """ "T.38 invite stutter": the same offer twice in new re-INVITEs; the answer keeps its
    o= version (RFC 3264 §8: nothing changed) and the media switches once."""
    net, a, b = pair()
    up(net, a, b)
    assert a.core is not None and b.core is not None
    offer = a.core.our_media_line("t38").serialize()
    bodies = []
    for _ in range(2):
        again = a.core.in_dialog("INVITE", offer)
        a.tx(a.layer.send_request(again, B, net.now))
        net.run(net.now + 0.1)
        ok = finals(a, again)[0]
        a.act([a.core.ack_for(ok)])
        net.run(net.now + 1)
        assert ok.status == 200
        bodies.append(ok.body)
    assert bodies[0] == bodies[1] and b"m=image" in bodies[0]
    assert [m.kind for m in b.media] == ["audio", "t38", "t38"]
    assert b.core.media_kind == "t38"


def test_an_offerless_reinvite_gets_our_current_sdp() -> None:
    net, a, b = pair()
    up(net, a, b)
    assert a.core is not None and b.core is not None
    refresh = a.core.in_dialog("INVITE")
    a.tx(a.layer.send_request(refresh, B, net.now))
    net.run(net.now + 0.1)
    ok = finals(a, refresh)[0]
    assert ok.status == 200 and ok.body == b.core.offerer.sdp.serialize()  # type: ignore[union-attr]
    assert ok.get("Session-Expires") == "1800;refresher=uac"


def test_requests_out_of_order_or_unknown() -> None:
    net, a, b = pair()
    up(net, a, b)
    assert a.core is not None
    options = a.core.in_dialog("OPTIONS")
    info = a.core.in_dialog("INFO")
    stale = a.core.in_dialog("OPTIONS", cseq=1)  # lower than the last one: §12.2.2
    for request in (options, info, stale):
        a.tx(a.layer.send_request(request, B, net.now))
        net.run(net.now + 1)
    assert [m.status for m in finals(a, options)] == [200]
    (not_allowed,) = finals(a, info)
    assert not_allowed.status == 405 and "INVITE" in not_allowed["Allow"]
    assert [m.status for m in finals(a, stale) if m.cseq[1] == "OPTIONS"][-1] == 500
    assert b.ended is None


def test_a_reinvite_before_the_media_runs_is_500_retry_after() -> None:
    net, a, b = pair()
    a.dial()
    net.run(1.0)
    b.pick_up(start_media=False)  # the 200 is out; the media has not started yet
    net.run(1.1)
    assert a.core is not None and a.media
    early = a.core.in_dialog("INVITE", a.core.our_media_line("audio").serialize())
    a.tx(a.layer.send_request(early, B, net.now))
    net.run(2.0)
    (busy,) = finals(a, early)
    assert busy.status == 500 and busy["Retry-After"] == "1"
