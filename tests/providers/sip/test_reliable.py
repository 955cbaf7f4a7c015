"""The transaction layer's reliable-transport rules (RFC 3261 §17 over TCP) and the TCP
settings, without sockets: timers by an explicit "now"."""

from __future__ import annotations

import pytest

from lanfax.model.errors import ConfigError
from lanfax.providers.sip.config import parse_config
from lanfax.providers.sip.dialog import Ids, new_request
from lanfax.providers.sip.message import NameAddr, Request, Response, response_to
from lanfax.providers.sip.transaction import (
    T1,
    AckIn,
    RequestIn,
    ResponseIn,
    Send,
    Timeout,
    TransactionLayer,
    TransportFailed,
    TxEvent,
)

PROXY = ("127.0.0.1", 5060)
CONN = ("127.0.0.1", 40123)  # the remote end of an accepted connection
ids = Ids(seed=7)


def request(method: str = "INVITE", transport: str = "TCP", cseq: int = 1) -> Request:
    return new_request(
        method,
        "sip:201@lanfax.test;transport=tcp",
        from_=NameAddr.parse("<sip:200@lanfax.test>;tag=a1"),
        to=NameAddr.parse("<sip:201@lanfax.test>"),
        call_id="c1@h",
        cseq=cseq,
        via_host="127.0.0.1",
        via_port=5080,
        transport=transport,
        branch=ids.branch(),
        contact="<sip:200@127.0.0.1:5080;transport=tcp>",
    )


def sends(events: list[TxEvent]) -> list[tuple[Request | Response, tuple[str, int]]]:
    return [(e.message, e.dest) for e in events if isinstance(e, Send)]


def test_tcp_client_invite_no_timer_a_but_timer_b() -> None:
    tl = TransactionLayer()
    req = request()
    assert sends(tl.send_request(req, PROXY, 0.0)) == [(req, PROXY)]
    # Timer A is not used: the only deadline is Timer B, and nothing is resent before it.
    assert tl.next_deadline() == 64 * T1
    assert tl.poll(63 * T1) == []
    events = tl.poll(64 * T1)
    assert [type(e) for e in events] == [Timeout] and len(tl) == 0


def test_tcp_client_non_invite_no_timer_e_and_timer_k_zero() -> None:
    tl = TransactionLayer()
    req = request("REGISTER")
    tl.send_request(req, PROXY, 0.0)
    assert tl.next_deadline() == 64 * T1  # Timer F only
    assert tl.poll(10.0) == []
    events = tl.receive(response_to(req, 200, "OK", to_tag="r"), PROXY, 11.0)
    assert [type(e) for e in events] == [ResponseIn]
    assert tl.next_deadline() == 11.0  # Timer K = 0
    assert tl.poll(11.0) == [] and len(tl) == 0


def test_tcp_client_invite_failure_is_acked_once_and_timer_d_zero() -> None:
    tl = TransactionLayer()
    req = request()
    tl.send_request(req, PROXY, 0.0)
    events = tl.receive(response_to(req, 486, "Busy Here", to_tag="r"), PROXY, 1.0)
    acks = sends(events)
    assert len(acks) == 1 and acks[0][0].method == "ACK" and acks[0][1] == PROXY  # type: ignore[union-attr]
    assert tl.next_deadline() == 1.0
    tl.poll(1.0)
    assert len(tl) == 0


def test_udp_still_retransmits_and_the_caller_can_override() -> None:
    tl = TransactionLayer()
    tl.send_request(request(transport="UDP"), PROXY, 0.0)
    assert tl.next_deadline() == T1  # Timer A
    tl2 = TransactionLayer()
    tl2.send_request(request(transport="UDP"), PROXY, 0.0, reliable=True)
    assert tl2.next_deadline() == 64 * T1
    assert TransactionLayer(reliable=True).send_request(request(transport="UDP"), PROXY, 0.0)


def test_tcp_server_responses_go_back_on_the_connection_and_2xx_repeats_until_ack() -> None:
    tl = TransactionLayer()
    inv = request()
    events = tl.receive(inv, CONN, 0.0, reliable=True)
    # The 100 goes to the connection the INVITE came on, not to the Via's sent-by (§18.2.2).
    assert [d for _, d in sends(events)] == [CONN]
    assert [type(e) for e in events][-1] is RequestIn
    ok = response_to(inv, 200, "OK", to_tag="b1")
    assert sends(tl.send_response(ok, 1.0)) == [(ok, CONN)]
    # §13.3.1.4: the 2xx is end to end, so it is repeated even over TCP until the ACK.
    assert sends(tl.poll(1.0 + T1)) == [(ok, CONN)]
    ack = new_request(
        "ACK",
        "sip:201@127.0.0.1",
        from_=inv.from_,
        to=NameAddr.parse(str(ok.to)),
        call_id=inv.call_id,
        cseq=1,
        via_host="127.0.0.1",
        via_port=5080,
        transport="TCP",
        branch=ids.branch(),
    )
    assert [type(e) for e in tl.receive(ack, CONN, 2.0, reliable=True)] == [AckIn]


def test_tcp_server_non_2xx_no_timer_g_and_timers_i_j_zero() -> None:
    tl = TransactionLayer()
    inv = request()
    tl.receive(inv, CONN, 0.0, reliable=True)
    busy = response_to(inv, 486, "Busy Here", to_tag="b1")
    tl.send_response(busy, 1.0)
    assert tl.poll(1.0 + T1) == [] and tl.poll(10.0) == []  # no Timer G
    # §17.1.1.3: the ACK of a non-2xx is in the INVITE's transaction (same branch).
    ack = new_request(
        "ACK",
        inv.uri,
        from_=inv.from_,
        to=busy.to,
        call_id=inv.call_id,
        cseq=1,
        via_host="127.0.0.1",
        via_port=5080,
        transport="TCP",
        branch=inv.top_via.branch,
    )
    assert tl.receive(ack, CONN, 11.0, reliable=True) == []
    assert tl.next_deadline() == 11.0  # Timer I = 0
    tl.poll(11.0)
    assert len(tl) == 0
    # Non-INVITE: Timer J = 0.
    opt = request("OPTIONS", cseq=5)
    tl.receive(opt, CONN, 20.0, reliable=True)
    tl.send_response(response_to(opt, 200, "OK", to_tag="o"), 20.5)
    assert tl.next_deadline() == 20.5
    tl.poll(20.5)
    assert len(tl) == 0


def test_a_request_over_udp_is_unreliable_whatever_its_via_says() -> None:
    tl = TransactionLayer()
    inv = request()  # Via says TCP
    tl.receive(inv, CONN, 0.0, reliable=False)
    busy = response_to(inv, 486, "Busy Here", to_tag="b1")
    assert sends(tl.send_response(busy, 0.0)) == [(busy, ("127.0.0.1", 40123))]  # rport
    assert sends(tl.poll(T1)) == [(busy, CONN)]  # Timer G runs


def test_connection_lost_fails_only_what_waited_on_it() -> None:
    tl = TransactionLayer()
    ringing = request()
    tl.send_request(ringing, PROXY, 0.0)
    tl.receive(response_to(ringing, 180, "Ringing", to_tag="r"), PROXY, 0.1)
    other = request("OPTIONS")
    tl.send_request(other, ("127.0.0.1", 5999), 0.0)
    udp = request("OPTIONS", transport="UDP")
    tl.send_request(udp, PROXY, 0.0)
    answered = request(cseq=2)
    tl.send_request(answered, PROXY, 0.0)
    tl.receive(response_to(answered, 200, "OK", to_tag="r2"), PROXY, 0.2)
    events = tl.connection_lost(PROXY, "TCP connection to 127.0.0.1:5060 closed")
    assert events == [TransportFailed(ringing, "TCP connection to 127.0.0.1:5060 closed")]
    assert tl.connection_lost(PROXY, "again") == []


def test_tcp_settings() -> None:
    base = {"registrar": "pbx:5060", "user": "200"}
    cfg = parse_config({**base, "transport": "TCP"})
    assert cfg.transport == "tcp"
    assert cfg.target_uri("201") == "sip:201@pbx;transport=tcp"
    custom = parse_config(
        {**base, "transport": "tcp", "uri_template": "sip:{number}@trunk;transport=tcp?x=1"}
    )
    assert custom.target_uri("5") == "sip:5@trunk;transport=tcp?x=1"
    assert parse_config(base).target_uri("201") == "sip:201@pbx"
    for bad in ("tls", "sctp", 5, ""):
        with pytest.raises(ConfigError) as info:
            parse_config({**base, "transport": bad})
        assert "transport" in info.value.message and info.value.hint
