"""SIP message parsing/serialising, digest auth: examples and properties (hypothesis)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lanfax.model.errors import InvalidInput
from lanfax.providers.sip.auth import (
    Challenge,
    DigestError,
    authorization,
    digest_response,
    parse_challenge,
)
from lanfax.providers.sip.message import (
    NameAddr,
    Request,
    Response,
    SipParseError,
    Uri,
    Via,
    _split_commas_by_characters,
    parse_message,
    response_to,
    split_commas,
)

INVITE = (
    b"INVITE sip:201@127.0.0.1:5070 SIP/2.0\r\n"
    b"v: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKabc;rport,"
    b" SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx\r\n"
    b"Max-Forwards: 70\r\n"
    b'f: "Front Desk" <sip:200@example.org>;tag=1234\r\n'
    b"t: <sip:201@example.org>\r\n"
    b"i: abc@host\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"m: <sip:200@127.0.0.1:5080>\r\n"
    b"Subject: a folded\r\n  header\r\n"
    b"c: application/sdp\r\n"
    b"l: 4\r\n"
    b"\r\n"
    b"v=0\r\nextra"
)


def test_parse_request_compact_forms_and_folding() -> None:
    msg = parse_message(INVITE)
    assert isinstance(msg, Request)
    assert msg.method == "INVITE" and msg.uri == "sip:201@127.0.0.1:5070"
    assert msg.call_id == "abc@host"
    assert msg.cseq == (1, "INVITE")
    assert msg.from_.display == "Front Desk" and msg.from_.tag == "1234"
    assert msg.to.tag is None
    assert [v.branch for v in msg.vias] == ["z9hG4bKabc", "z9hG4bKx"]
    assert msg.get("subject") == "a folded header"
    assert msg.body == b"v=0\r"  # Content-Length cuts the body
    assert msg.get("Content-Type") == "application/sdp"


def test_serialise_roundtrip_and_response() -> None:
    msg = parse_message(INVITE)
    assert isinstance(msg, Request)
    again = parse_message(msg.serialize())
    assert again == msg
    resp = response_to(msg, 180, "Ringing", to_tag="xyz")
    parsed = parse_message(resp.serialize())
    assert isinstance(parsed, Response)
    assert parsed.status == 180 and parsed.to.tag == "xyz"
    assert len(parsed.vias) == 2 and parsed.cseq == (1, "INVITE")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "no empty line"),
        (b"INVITE sip:a@b SIP/2.0\r\n\r\n", "missing Via"),
        (INVITE.replace(b"CSeq: 1 INVITE", b"CSeq: 1 BYE"), "differs"),
        (INVITE.replace(b"l: 4", b"l: 400"), "Content-Length 400"),
        (INVITE.replace(b"INVITE sip:201", b"INVITE http:201"), "not a SIP URI"),
        (INVITE.replace(b"Max-Forwards: 70", b"Max Forwards: 70"), "bad header line"),
        (b"\xff\xfe\r\n\r\n", "not UTF-8"),
    ],
)
def test_parse_errors_are_clear(data: bytes, fragment: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    assert fragment in info.value.message
    assert info.value.hint


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_give_a_message_or_a_parse_error(data: bytes) -> None:
    try:
        msg = parse_message(data)
    except SipParseError as exc:
        assert isinstance(exc, InvalidInput) and exc.message
    else:
        assert isinstance(msg, Request | Response)


_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    user=_token,
    host=_token,
    port=st.integers(1, 65535),
    tag=_token,
    body=st.binary(max_size=200),
    headers=st.lists(st.tuples(st.sampled_from(["X-A", "Subject", "Supported"]), _token)),
)
def test_built_messages_roundtrip(
    user: str, host: str, port: int, tag: str, body: bytes, headers: list[tuple[str, str]]
) -> None:
    base = (
        ("Via", f"SIP/2.0/UDP {host}:{port};branch=z9hG4bK{tag}"),
        ("From", f"<sip:{user}@{host}>;tag={tag}"),
        ("To", f"<sip:{user}@{host}:{port}>"),
        ("Call-ID", f"{tag}@{host}"),
        ("CSeq", "7 OPTIONS"),
        *headers,
    )
    req = Request(base, body, "OPTIONS", f"sip:{user}@{host}:{port}")
    parsed = parse_message(req.serialize())
    assert parsed == req
    # A truncated datagram is an error, never a silently shorter body.
    if body:
        with pytest.raises(SipParseError):
            parse_message(req.serialize()[:-1])


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_header_value_parsers_never_crash(text: str) -> None:
    for parse in (Uri.parse, NameAddr.parse, Via.parse):
        with contextlib.suppress(SipParseError):
            parse(text)
    assert all("," not in p or '"' in p or "<" in p for p in split_commas(text))


def test_uris_and_addresses() -> None:
    u = Uri.parse("sip:+15550100@[::1]:5061;transport=udp")
    assert u.host == "[::1]" and u.port == 5061 and u.param("transport") == "udp"
    a = NameAddr.parse("sip:bob@example.org;tag=9")  # addr-spec: the tag is the header's
    assert a.tag == "9" and a.uri.params == ()
    assert str(NameAddr.parse('"A \\"B\\"" <sip:x@y>')) == '"A \\"B\\"" <sip:x@y>'
    via = Via.parse("SIP/2.0/UDP 10.1.1.1:5070;branch=z9hG4bK1;rport")
    assert via.response_address(("192.0.2.1", 4000)) == ("192.0.2.1", 4000)
    assert Via.parse("SIP/2.0/UDP h;received=1.2.3.4").response_address(("9.9.9.9", 1)) == (
        "1.2.3.4",
        5060,
    )


def test_digest_rfc2617_example() -> None:
    # RFC 2617 §3.5: the response for Mufasa / "Circle Of Life".
    ch = parse_challenge(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    got = digest_response(
        ch,
        user="Mufasa",
        password="Circle Of Life",
        method="GET",
        uri="/dir/index.html",
        cnonce="0a4f113b",
        nc=1,
    )
    assert got == "6629fae49393a05397450978507c4ef1"
    header = authorization(
        ch, user="Mufasa", password="x", method="REGISTER", uri="sip:h", cnonce="c"
    )
    assert 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in header and "nc=00000001" in header


def test_digest_without_qop_and_errors() -> None:
    ch = Challenge("r", "n")
    # RFC 2069 form: MD5(HA1:nonce:HA2).
    import hashlib

    ha1 = hashlib.md5(b"u:r:p").hexdigest()
    ha2 = hashlib.md5(b"REGISTER:sip:x").hexdigest()
    want = hashlib.md5(f"{ha1}:n:{ha2}".encode()).hexdigest()
    assert (
        digest_response(ch, user="u", password="p", method="REGISTER", uri="sip:x", cnonce="", nc=1)
        == want
    )
    for bad in ('Basic realm="x"', 'Digest realm="x"', 'Digest realm="x", nonce="y", algorithm=X'):
        with pytest.raises(DigestError):
            parse_challenge(bad)


@settings(max_examples=300)
@given(st.text(alphabet=st.sampled_from(list('ab ,;"<>\\=\t')), max_size=40))
def test_split_commas_shortcut_splits_as_the_character_loop(value: str) -> None:
    """#19: values without a comma skip the loop; same answer either way."""
    assert split_commas(value) == _split_commas_by_characters(value)


def test_a_parsed_via_is_kept_and_a_malformed_one_raises_every_time() -> None:
    """#19: Via.parse keeps the last values it parsed (a Via is immutable): the same text
    gives the same Via; a malformed one is not kept and raises each time."""
    text = "SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKkept;rport"
    first = Via.parse(text)
    assert Via.parse(text) is first
    assert (first.transport, first.host, first.port, first.branch) == (
        "UDP",
        "127.0.0.1",
        5080,
        "z9hG4bKkept",
    )
    for _ in range(2):
        with pytest.raises(SipParseError, match="bad port"):
            Via.parse("SIP/2.0/UDP 127.0.0.1:99999;branch=z9hG4bKbad")
