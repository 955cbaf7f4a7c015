"""The RFC 8010 codec: exact bytes for known messages, round trips of any message
(Hypothesis), and random or mangled bytes never raise anything but IppParseError."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lanfax.service.ipp.codec import (
    Attribute,
    Group,
    GroupTag,
    IppParseError,
    Limits,
    Message,
    Status,
    Tag,
    Value,
    attr,
    collection,
    decode,
    encode,
)

# -- known bytes ----------------------------------------------------------------------------------


def test_get_printer_attributes_bytes() -> None:
    msg = Message(
        (1, 1),
        0x000B,
        1,
        (
            Group(
                GroupTag.OPERATION,
                (
                    attr("attributes-charset", Tag.CHARSET, "utf-8"),
                    attr("attributes-natural-language", Tag.LANGUAGE, "en"),
                    attr("requested-attributes", Tag.KEYWORD, "a", "bc"),
                ),
            ),
        ),
    )
    raw = encode(msg)
    assert raw == (
        b"\x01\x01\x00\x0b\x00\x00\x00\x01\x01"
        b"\x47\x00\x12attributes-charset\x00\x05utf-8"
        b"\x48\x00\x1battributes-natural-language\x00\x02en"
        b"\x44\x00\x14requested-attributes\x00\x01a"
        b"\x44\x00\x00\x00\x02bc"  # an additional value: empty name (1setOf)
        b"\x03"
    )
    assert decode(raw) == msg


def test_collection_bytes_and_document_data() -> None:
    dest = collection(
        attr("destination-uri", Tag.URI, "tel:101"), attr("pre-dial-string", Tag.TEXT, "9")
    )
    msg = Message(
        (2, 0),
        0x0002,
        7,
        (Group(GroupTag.JOB, (Attribute("destination-uris", (dest,)),)),),
        b"%PDF-1.4 data",
    )
    raw = encode(msg)
    assert raw == (
        b"\x02\x00\x00\x02\x00\x00\x00\x07\x02"
        b"\x34\x00\x10destination-uris\x00\x00"
        b"\x4a\x00\x00\x00\x0fdestination-uri"
        b"\x45\x00\x00\x00\x07tel:101"
        b"\x4a\x00\x00\x00\x0fpre-dial-string"
        b"\x41\x00\x00\x00\x019"
        b"\x37\x00\x00\x00\x00"
        b"\x03%PDF-1.4 data"
    )
    back = decode(raw)
    assert back == msg and back.data == b"%PDF-1.4 data"


def test_out_of_band_and_typed_values() -> None:
    when = datetime(2026, 12, 4, 16, 30, 5, 300_000, tzinfo=timezone(timedelta(hours=-5)))
    msg = Message(
        (2, 0),
        0,
        3,
        (
            Group(
                GroupTag.PRINTER,
                (
                    Attribute("printer-location", (Value(Tag.NO_VALUE),)),
                    Attribute("x", (Value(Tag.UNKNOWN),)),
                    attr("printer-current-time", Tag.DATE_TIME, when),
                    attr("printer-resolution-default", Tag.RESOLUTION, (204, 196, 3)),
                    attr("retry-interval-supported", Tag.RANGE, (60, 86400)),
                    attr("printer-info", Tag.TEXT_LANG, ("Fax ünd so", "de")),
                    attr("printer-is-accepting-jobs", Tag.BOOLEAN, True),
                    attr("printer-state", Tag.ENUM, 3),
                    attr("blob", Tag.OCTET_STRING, b"\x00\xff"),
                ),
            ),
        ),
    )
    assert decode(encode(msg)) == msg


# -- refusals ----------------------------------------------------------------------------------

HEADER = b"\x02\x00\x00\x0b\x00\x00\x00\x2a"


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"\x02\x00", Status.BAD_REQUEST, "shorter than an IPP header"),
        (HEADER, Status.BAD_REQUEST, "no end-of-attributes"),
        (HEADER + b"\x47\x00\x01a\x00\x05utf", Status.BAD_REQUEST, "before any attribute group"),
        (HEADER + b"\x01\x47\x00\x01a\xff\xffutf", Status.BAD_REQUEST, "ends in the middle"),
        (HEADER + b"\x01\x21\x00\x01n\x00\x02\x00\x01\x03", Status.BAD_REQUEST, "not 4"),
        (HEADER + b"\x01\x22\x00\x01b\x00\x01\x07\x03", Status.BAD_REQUEST, "boolean"),
        (HEADER + b"\x01\x44\x00\x00\x00\x01a\x03", Status.BAD_REQUEST, "before any attribute"),
        (HEADER + b"\x01\x41\x00\x01t\x00\x02\xff\xfe\x03", Status.BAD_REQUEST, "UTF-8"),
        (HEADER + b"\x01\x37\x00\x00\x00\x00\x03", Status.BAD_REQUEST, "outside of a collection"),
        (HEADER + b"\x01\x34\x00\x01c\x00\x00\x03", Status.BAD_REQUEST, "not closed"),
        (
            HEADER + b"\x01\x34\x00\x01c\x00\x00\x21\x00\x00\x00\x04\x00\x00\x00\x01",
            Status.BAD_REQUEST,
            "before any member name",
        ),
        (HEADER + b"\x00\x03", Status.BAD_REQUEST, "reserved"),
        (HEADER + b"\x01\x7f\x00\x01e\x00\x00\x03", Status.BAD_REQUEST, "extension"),
        (
            HEADER + b"\x01\x31\x00\x01d\x00\x0b" + b"\x07\xea\x0d\x01\x00\x00\x00\x00+\x00\x00",
            Status.BAD_REQUEST,
            "not a real date",
        ),
    ],
)
def test_malformed(body: bytes, status: Status, words: str) -> None:
    with pytest.raises(IppParseError) as info:
        decode(body)
    assert info.value.status == status
    assert words in info.value.message
    if len(body) >= 8:
        assert info.value.request_id == 0x2A


def test_limits() -> None:
    many = Message(
        (2, 0),
        0xB,
        1,
        (Group(GroupTag.OPERATION, (attr("x", Tag.INTEGER, *range(100)),)),),
    )
    with pytest.raises(IppParseError) as info:
        decode(encode(many), Limits(max_values=50))
    assert info.value.status == Status.REQUEST_ENTITY_TOO_LARGE
    big = Message((2, 0), 0xB, 1, (Group(GroupTag.OPERATION, (attr("t", Tag.TEXT, "x" * 60000),)),))
    with pytest.raises(IppParseError) as info:
        decode(encode(big), Limits(max_attribute_bytes=1000))
    assert info.value.status == Status.REQUEST_ENTITY_TOO_LARGE
    # A claimed length beyond the limit in a short body is also "too large", not a read.
    with pytest.raises(IppParseError) as info:
        decode(HEADER + b"\x01\x41\x00\x01t\xff\xff", Limits(max_attribute_bytes=1000))
    assert info.value.status == Status.REQUEST_ENTITY_TOO_LARGE
    deep: Value = collection(attr("leaf", Tag.INTEGER, 1))
    for _ in range(12):
        deep = collection(Attribute("inner", (deep,)))
    nested = Message((2, 0), 0xB, 1, (Group(GroupTag.JOB, (Attribute("c", (deep,)),)),))
    with pytest.raises(IppParseError) as info:
        decode(encode(nested))
    assert info.value.status == Status.REQUEST_ENTITY_TOO_LARGE and "nested" in info.value.message


# -- properties ----------------------------------------------------------------------------------

_names = st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=20)
_ascii = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
_int32 = st.integers(-(2**31), 2**31 - 1)
_dates = st.builds(
    lambda d, deci, off: d.replace(microsecond=deci * 100_000, tzinfo=timezone(off)),
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1)),
    st.integers(0, 9),
    st.sampled_from([timedelta(0), timedelta(hours=2), timedelta(hours=-5, minutes=-30)]),
)
_scalar = st.one_of(
    st.builds(Value, st.just(Tag.INTEGER), _int32),
    st.builds(Value, st.just(Tag.ENUM), _int32),
    st.builds(Value, st.just(Tag.BOOLEAN), st.booleans()),
    st.builds(Value, st.sampled_from([Tag.TEXT, Tag.NAME]), st.text(max_size=40)),
    st.builds(Value, st.sampled_from([Tag.KEYWORD, Tag.URI, Tag.MIME_TYPE, Tag.CHARSET]), _ascii),
    st.builds(Value, st.just(Tag.OCTET_STRING), st.binary(max_size=40)),
    st.builds(Value, st.just(Tag.DATE_TIME), _dates),
    st.builds(Value, st.just(Tag.RESOLUTION), st.tuples(_int32, _int32, st.integers(-128, 127))),
    st.builds(Value, st.just(Tag.RANGE), st.tuples(_int32, _int32)),
    st.builds(
        Value,
        st.sampled_from([Tag.TEXT_LANG, Tag.NAME_LANG]),
        st.tuples(st.text(max_size=20), _ascii),
    ),
    st.builds(Value, st.sampled_from([Tag.NO_VALUE, Tag.UNKNOWN, Tag.UNSUPPORTED])),
)
_values = st.recursive(
    _scalar,
    lambda inner: st.builds(
        lambda members: Value(Tag.BEGIN_COLLECTION, tuple(members)),
        st.lists(
            st.builds(Attribute, _names, st.lists(inner, min_size=1, max_size=3).map(tuple)),
            max_size=3,
        ),
    ),
    max_leaves=12,
)
_attrs = st.builds(Attribute, _names, st.lists(_values, min_size=1, max_size=3).map(tuple))
_groups = st.builds(
    Group,
    st.sampled_from([g for g in GroupTag if g != GroupTag.END]),
    st.lists(_attrs, max_size=4).map(tuple),
)
_messages = st.builds(
    Message,
    st.tuples(st.integers(0, 255), st.integers(0, 255)),
    st.integers(0, 0xFFFF),
    st.integers(0, 2**31 - 1),
    st.lists(_groups, max_size=3).map(tuple),
    st.binary(max_size=50),
)


@settings(max_examples=300, deadline=None)
@given(_messages)
def test_round_trip(msg: Message) -> None:
    # A group with no attribute followed by one of the same tag is still two groups; an
    # attribute of a group is only ever merged with the previous one when names repeat,
    # which the encoder writes as two named attributes, so equality holds as it is.
    assert decode(encode(msg)) == msg


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_parse_errors(data: bytes) -> None:
    try:
        decode(data, Limits(max_attribute_bytes=200, max_values=50, max_depth=3))
    except IppParseError as exc:
        assert exc.message and isinstance(exc.status, Status)


@settings(max_examples=500, deadline=None)
@given(_messages, st.data())
def test_mangled_messages_only_raise_parse_errors(msg: Message, data: st.DataObject) -> None:
    raw = bytearray(encode(msg))
    for _ in range(data.draw(st.integers(1, 4))):
        if not raw:
            break
        i = data.draw(st.integers(0, len(raw) - 1))
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if op == "flip":
            raw[i] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del raw[i:]
        else:
            raw[i:i] = data.draw(st.binary(min_size=1, max_size=4))
    with contextlib.suppress(IppParseError):
        decode(bytes(raw))


def test_utc_default_for_naive_datetimes() -> None:
    naive = Message(
        (2, 0), 0, 1, (Group(GroupTag.JOB, (attr("t", Tag.DATE_TIME, datetime(2026, 1, 1)),)),)
    )
    (value,) = decode(encode(naive)).groups[0].attributes[0].values
    assert value.value == datetime(2026, 1, 1, tzinfo=UTC)
