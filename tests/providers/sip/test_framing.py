"""The TCP stream framer (RFC 3261 §18.3), without sockets: hypothesis chunks valid streams
every which way and feeds it garbage."""

from __future__ import annotations

import contextlib
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lanfax.providers.sip.dialog import new_request
from lanfax.providers.sip.framing import FramingError, StreamFramer
from lanfax.providers.sip.message import NameAddr, SipParseError, parse_message, response_to


def message(i: int, body: bytes, response: bool) -> bytes:
    req = new_request(
        "INVITE" if i % 2 else "OPTIONS",
        "sip:201@lanfax.test;transport=tcp",
        from_=NameAddr.parse(f"<sip:200@lanfax.test>;tag=t{i}"),
        to=NameAddr.parse("<sip:201@lanfax.test>"),
        call_id=f"c{i}@h",
        cseq=i + 1,
        via_host="127.0.0.1",
        via_port=5080,
        transport="TCP",
        branch=f"z9hG4bK{i}",
        body=body,
    )
    if response:
        return response_to(req, 200, "OK", to_tag="x", body=body).serialize()
    return req.serialize()


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def frames_of(chunks: list[bytes], **kw: int) -> tuple[list[bytes], bool]:
    """Frames in order and whether the stream broke; only FramingError may escape feed."""
    framer = StreamFramer(**kw)
    out: list[bytes] = []
    for chunk in chunks:
        try:
            out += framer.feed(chunk)
        except FramingError as exc:
            assert exc.message and exc.hint  # a clear error, with a hint
            assert framer.failed
            out += exc.frames  # whole messages before the bad bytes are still delivered
            with pytest.raises(FramingError):
                framer.feed(b"OPTIONS sip:x SIP/2.0\r\n")  # stays broken
            return out, True
    return out, False


messages = st.lists(
    st.tuples(st.binary(max_size=300), st.booleans(), st.sampled_from([b"", b"\r\n", b"\r\n\r\n"])),
    min_size=1,
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(messages, st.lists(st.integers(min_value=0, max_value=10_000), max_size=30))
def test_any_chunking_of_a_valid_stream_gives_the_same_messages(
    items: list[tuple[bytes, bool, bytes]], cuts: list[int]
) -> None:
    wire = [message(i, body, resp) for i, (body, resp, _) in enumerate(items)]
    stream = b"".join(ka + w for w, (_, _, ka) in zip(wire, items, strict=True))
    whole, broke = frames_of([stream])
    assert not broke and whole == wire
    pieces, broke = frames_of(chunked(stream, cuts))
    assert not broke and pieces == wire
    # Byte by byte too, and every frame parses back to what was built.
    single, _ = frames_of([stream[i : i + 1] for i in range(len(stream))])
    assert single == wire
    for frame, (body, _, _) in zip(pieces, items, strict=True):
        assert parse_message(frame).body == body


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=400)
    | st.lists(
        st.sampled_from(
            [
                b"INVITE sip:a@b SIP/2.0\r\n",
                b"SIP/2.0 200 OK\r\n",
                b"Content-Length: 5\r\n",
                b"l: 0\r\n",
                b"Content-Length: 99999\r\n",
                b"Content-Length: x\r\n",
                b"Via: SIP/2.0/TCP h\r\n",
                b"\r\n",
                b"\n",
                b"hello",
                b"GET / HTTP/1.1\r\n",
            ]
        ),
        max_size=12,
    ).map(b"".join),
    st.lists(st.integers(min_value=0, max_value=1000), max_size=10),
)
def test_garbage_gives_frames_or_a_framing_error_whatever_the_chunking(
    data: bytes, cuts: list[int]
) -> None:
    limits = {"max_header": 120, "max_body": 64}
    whole = frames_of([data], **limits)
    assert frames_of(chunked(data, cuts), **limits) == whole
    for frame in whole[0]:
        # A frame may be one bad message in a stream that is still in step.
        with contextlib.suppress(SipParseError):
            parse_message(frame)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"INVITE sip:a@b SIP/2.0\r\nVia: x\r\n\r\n", "without Content-Length"),
        (b"SIP/2.0 200 OK\r\nContent-Length: 1\r\nl: 2\r\n\r\n", "conflicting"),
        (b"SIP/2.0 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"),
        (b"SIP/2.0 200 OK\r\nContent-Length: 70000\r\n\r\n", "larger than"),
        (b"GET / HTTP/1.1\r\n", "not a SIP start line"),
        (b"OPTIONS sip:a SIP/2.0\r\n" + b"X-Pad: " + b"a" * 20000, "longer than"),
        (b"\x16\x03\x01" + b"\x00" * 20000, "no line end"),
    ],
)
def test_framing_errors_are_clear(data: bytes, fragment: str) -> None:
    with pytest.raises(FramingError) as info:
        StreamFramer().feed(data)
    assert fragment in info.value.message


def test_keepalives_are_skipped_and_a_partial_message_is_held() -> None:
    framer = StreamFramer()
    one = message(0, b"v=0\r\n", False)
    assert framer.feed(b"\r\n\r\n" + one[:10]) == []
    assert framer.keepalives == 2 and framer.pending == 10
    assert framer.feed(one[10:] + b"\r\n") == [one]
    assert framer.pending == 0
    # A bare-LF message (a sloppy peer) is framed as parse_message would read it.
    lf = b"SIP/2.0 200 OK\nContent-Length: 2\n\nokSIP"
    assert StreamFramer().feed(lf) == [lf[:-3]]


def test_a_message_before_bad_bytes_is_delivered_however_the_stream_was_read() -> None:
    """A whole message followed by garbage in the same read: the message is delivered (on the
    error) as it is when the garbage comes in a later read (found by hypothesis)."""
    data = b"INVITE sip:a@b SIP/2.0\r\nl: 0\r\n\r\nhello\n"
    whole = frames_of([data])
    assert whole == frames_of([data[:34], data[34:]])
    assert whole == ([b"INVITE sip:a@b SIP/2.0\r\nl: 0\r\n\r\n"], True)
