"""SDP parsing and offer/answer for G.711 and T.38."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lanfax.providers.sip.message import SipParseError
from lanfax.providers.sip.sdp import (
    NotAcceptable,
    Offerer,
    T38Params,
    answer,
    audio_offer,
    negotiated_from_answer,
    parse_sdp,
    t38_offer,
)

ASTERISK_T38 = b"""v=0
o=- 1 2 IN IP4 192.0.2.5
s=session
c=IN IP4 192.0.2.5
t=0 0
m=image 4000 udptl t38
a=T38FaxVersion:1
a=T38MaxBitRate:9600
a=T38FaxRateManagement:transferredTCF
a=T38FaxMaxBuffer:1800
a=T38FaxMaxDatagram:72
a=T38FaxUdpEC:t38UDPFEC
a=T38FaxFillBitRemoval
"""


def test_t38_offer_answer_takes_the_lower_values() -> None:
    ours = Offerer("127.0.0.1", 42)
    ans, media = answer(
        parse_sdp(ASTERISK_T38),
        ours,
        rtp_port=5000,
        udptl_port=5002,
        codecs=("ulaw", "alaw"),
        t38=T38Params(),
    )
    assert media.kind == "t38" and (media.address, media.port) == ("192.0.2.5", 4000)
    assert media.t38 is not None
    assert media.t38.version == 0 and media.t38.max_bit_rate == 9600
    # FEC offered: answered with redundancy (we do not do FEC).
    assert media.t38.error_correction == "t38UDPRedundancy"
    assert not media.t38.fill_bit_removal
    text = ans.serialize().decode()
    assert "m=image 5002 udptl t38" in text and "a=T38MaxBitRate:9600" in text
    # The offerer reads the answer back to the same agreement.
    back = negotiated_from_answer(parse_sdp(ASTERISK_T38), parse_sdp(ans.serialize()))
    assert back.kind == "t38" and back.port == 5002 and back.t38 == media.t38


def test_audio_offer_answer_picks_the_first_common_codec() -> None:
    them = Offerer("10.0.0.2", 7)
    offer = audio_offer(them, 6000, ("alaw", "ulaw"))
    ans, media = answer(
        parse_sdp(offer.serialize()),
        Offerer("127.0.0.1", 1),
        rtp_port=5000,
        udptl_port=5002,
        codecs=("ulaw", "alaw"),
        t38=None,
    )
    assert (media.kind, media.codec, media.payload_type, media.port) == ("audio", "alaw", 8, 6000)
    assert negotiated_from_answer(offer, ans).codec == "alaw"


def test_t38_refused_when_we_do_not_take_it_and_reoffer_versions() -> None:
    offer = parse_sdp(ASTERISK_T38)
    with pytest.raises(NotAcceptable) as info:
        answer(offer, Offerer("h", 1), rtp_port=1, udptl_port=2, codecs=("ulaw",), t38=None)
    assert "no acceptable media" in info.value.message and info.value.hint
    ours = Offerer("127.0.0.1", 9)
    first = audio_offer(ours, 5000, ("ulaw",))
    ours = ours.sent(first)
    second = t38_offer(ours, 5002, T38Params())
    assert (first.session_id, first.version) == (9, 0)
    assert (second.session_id, second.version) == (9, 1)  # RFC 3264 §8: o= version bumps


def test_multiple_streams_reject_all_but_one() -> None:
    offer = parse_sdp(
        b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\n"
        b"m=video 7000 RTP/AVP 96\r\nm=audio 7002 RTP/AVP 0 101\r\nm=image 7004 udptl t38\r\n"
    )
    ans, media = answer(
        offer, Offerer("127.0.0.1", 1), rtp_port=1, udptl_port=2, codecs=("ulaw",), t38=T38Params()
    )
    assert media.kind == "audio" and media.port == 7002
    assert [m.port for m in ans.media] == [0, 1, 0]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_give_sdp_or_a_parse_error(data: bytes) -> None:
    try:
        sdp = parse_sdp(data)
    except SipParseError as exc:
        assert exc.message
        return
    try:
        answer(sdp, Offerer("h", 1), rtp_port=1, udptl_port=2, codecs=("ulaw",), t38=T38Params())
    except SipParseError as exc:  # NotAcceptable is one
        assert exc.message


@settings(max_examples=100, deadline=None)
@given(
    version=st.integers(0, 3),
    rate=st.sampled_from([2400, 4800, 9600, 14400, 33600]),
    datagram=st.integers(32, 1400),
    ec=st.sampled_from(["none", "t38UDPRedundancy", "t38UDPFEC"]),
)
def test_t38_attributes_roundtrip_and_never_upgrade(
    version: int, rate: int, datagram: int, ec: str
) -> None:
    params = T38Params(version, rate, max_datagram=datagram, error_correction=ec)
    offer = t38_offer(Offerer("10.0.0.1", 3), 4000, params)
    parsed = parse_sdp(offer.serialize())
    assert T38Params.from_attributes(list(parsed.media[0].attributes)) == params
    _, media = answer(
        parsed, Offerer("h", 1), rtp_port=1, udptl_port=2, codecs=("ulaw",), t38=T38Params()
    )
    assert media.t38 is not None
    assert media.t38.version <= version and media.t38.max_bit_rate <= rate
    order = ["none", "t38UDPRedundancy", "t38UDPFEC"]
    assert order.index(media.t38.error_correction) <= order.index(ec)
