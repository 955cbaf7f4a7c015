"""Transactions and dialogs driven without sockets: timers by an explicit "now"."""

from __future__ import annotations

from lanfax.model.codes import ProviderStatus
from lanfax.providers.sip.dialog import (
    Dialog,
    Ids,
    glare_retry_delay,
    new_request,
    session_refresh,
    status_for_response,
)
from lanfax.providers.sip.message import NameAddr, Request, Response, parse_message, response_to
from lanfax.providers.sip.transaction import (
    T1,
    T2,
    AckIn,
    RequestIn,
    ResponseIn,
    Send,
    Timeout,
    TransactionLayer,
)

PEER = ("127.0.0.1", 5070)
ids = Ids(seed=1)


def invite(method: str = "INVITE", cseq: int = 1, branch: str | None = None) -> Request:
    return new_request(
        method,
        "sip:201@127.0.0.1:5070",
        from_=NameAddr.parse("<sip:200@h>;tag=a1"),
        to=NameAddr.parse("<sip:201@h>"),
        call_id="c1@h",
        cseq=cseq,
        via_host="127.0.0.1",
        via_port=5080,
        transport="UDP",
        branch=branch or ids.branch(),
        contact="<sip:200@127.0.0.1:5080>",
    )


def wire(msg: Request | Response) -> Request | Response:
    return parse_message(msg.serialize())


def sends(events: list[object]) -> list[Request | Response]:
    return [e.message for e in events if isinstance(e, Send)]


def test_client_invite_retransmits_until_provisional_then_acks_failure() -> None:
    tl = TransactionLayer()
    req = invite()
    assert sends(tl.send_request(req, PEER, 0.0)) == [req]
    # Timer A: T1, 2T1, 4T1...
    times = []
    now = 0.0
    while len(times) < 3:
        now = tl.next_deadline() or 0.0
        if sends(tl.poll(now)):
            times.append(now)
    assert times == [T1, 3 * T1, 7 * T1]
    ev = tl.receive(wire(response_to(req, 180, "Ringing", to_tag="b2")), PEER, now)
    assert [type(e) for e in ev] == [ResponseIn]
    assert tl.poll(now + 60) == []  # no Timer B once it rings: the TU decides
    busy = wire(response_to(req, 486, "Busy Here", to_tag="b2"))
    ev = tl.receive(busy, PEER, now + 61)
    ack = sends(ev)[0]
    assert isinstance(ack, Request) and ack.method == "ACK"
    assert ack.top_via.branch == req.top_via.branch and ack.to.tag == "b2"
    assert [e.response.status for e in ev if isinstance(e, ResponseIn)] == [486]
    # A repeated 486 gets the same ACK again and is not passed up.
    assert sends(tl.receive(busy, PEER, now + 62)) == [ack]


def test_client_invite_timer_b() -> None:
    tl = TransactionLayer()
    req = invite()
    tl.send_request(req, PEER, 0.0)
    events = []
    now = 0.0
    while (deadline := tl.next_deadline()) is not None:
        now = deadline
        events += tl.poll(now)
    assert any(isinstance(e, Timeout) and e.client for e in events)
    assert now == 64 * T1
    assert len(tl) == 0


def test_non_invite_retransmit_caps_at_t2() -> None:
    tl = TransactionLayer()
    req = invite("OPTIONS")
    tl.send_request(req, PEER, 0.0)
    gaps = []
    last = 0.0
    for _ in range(8):
        now = tl.next_deadline() or 0.0
        if sends(tl.poll(now)):
            gaps.append(now - last)
            last = now
    assert max(gaps) == T2
    tl.receive(wire(response_to(req, 200, "OK", to_tag="t")), PEER, last)
    assert tl.next_deadline() is not None  # Timer K absorbs late repeats
    assert all(not isinstance(e, Send) for e in tl.poll(last + 0.1))


def test_server_invite_2xx_is_repeated_until_ack() -> None:
    tl = TransactionLayer()
    req = wire(invite())
    assert isinstance(req, Request)
    ev = tl.receive(req, ("127.0.0.1", 5080), 0.0)
    assert [type(e) for e in ev] == [Send, RequestIn]
    assert sends(ev)[0].status == 100  # type: ignore[union-attr]
    # A retransmitted INVITE is absorbed (the 100 repeated), not a new call.
    assert [type(e) for e in tl.receive(req, ("127.0.0.1", 5080), 0.1)] == [Send]
    ok = response_to(req, 200, "OK", to_tag="b2")
    tl.send_response(ok, 1.0)
    repeats = sends(tl.poll(1.0 + T1))
    assert repeats == [ok]
    ack = new_request(
        "ACK",
        req.uri,
        from_=req.from_,
        to=ok.to,
        call_id=req.call_id,
        cseq=1,
        via_host="127.0.0.1",
        via_port=5080,
        transport="UDP",
        branch=ids.branch(),
    )
    ev = tl.receive(wire(ack), ("127.0.0.1", 5080), 2.0)
    assert [type(e) for e in ev] == [AckIn]
    assert sends(tl.poll(10.0)) == []


def test_server_invite_without_ack_times_out() -> None:
    tl = TransactionLayer()
    req = wire(invite())
    assert isinstance(req, Request)
    tl.receive(req, PEER, 0.0)
    tl.send_response(response_to(req, 486, "Busy Here", to_tag="x"), 0.0)
    events = tl.poll(64 * T1)
    assert any(isinstance(e, Timeout) and not e.client for e in events)


def test_cancel_finds_pending_invite() -> None:
    tl = TransactionLayer()
    req = wire(invite(branch="z9hG4bKsame"))
    assert isinstance(req, Request)
    tl.receive(req, PEER, 0.0)
    assert tl.server_invite("z9hG4bKsame") == req
    tl.send_response(response_to(req, 487, "Request Terminated", to_tag="x"), 0.1)
    assert tl.server_invite("z9hG4bKsame") is None


def test_dialogs_from_both_sides_match_each_other() -> None:
    req = wire(invite())
    assert isinstance(req, Request)
    uas = Dialog.as_uas(req, "b2")
    ok = response_to(req, 200, "OK", to_tag="b2", extra=[("Contact", "<sip:201@127.0.0.1:5070>")])
    ok = ok.with_header("Record-Route", "<sip:127.0.0.1:5060;lr>")
    uac = Dialog.as_uac(req, wire(ok))  # type: ignore[arg-type]
    assert uac.remote_tag == "b2" and uas.remote_tag == "a1"
    assert uac.route_set == ("<sip:127.0.0.1:5060;lr>",)
    assert uac.next_hop(("x", 1)) == ("127.0.0.1", 5060)
    bye = uac.request("BYE", via_host="h", via_port=1, transport="UDP", branch=ids.branch())
    assert bye.cseq == (2, "BYE") and bye.get("Route") == "<sip:127.0.0.1:5060;lr>"
    parsed = wire(bye)
    assert isinstance(parsed, Request)
    assert uas.matches(parsed) and uas.accept_remote_seq(parsed)
    assert not uas.accept_remote_seq(parsed)  # the same CSeq again is out of order


def test_pure_decisions() -> None:
    seeded = Ids(seed=3)
    assert all(2.1 <= glare_retry_delay(seeded, owner=True) <= 4.0 for _ in range(20))
    assert all(0 <= glare_retry_delay(seeded, owner=False) <= 2.0 for _ in range(20))
    assert session_refresh(1800, True) == 900
    assert 1700 < session_refresh(1800, False) < 1800
    assert status_for_response(486) is ProviderStatus.BUSY
    assert status_for_response(404) is ProviderStatus.BAD_ADDRESS
    assert status_for_response(480) is ProviderStatus.NO_ANSWER
    assert status_for_response(503) is ProviderStatus.LINE_UNAVAILABLE
