"""The IAX2 frame codec: known layouts from the captured iaxmodem exchange, round trips and
fuzzing (any bytes give a frame or a FrameError, never another exception)."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lanfax.model.errors import InvalidInput
from lanfax.providers.iax2.frames import (
    ControlCommand,
    FrameError,
    FrameType,
    FullFrame,
    IaxCommand,
    Ie,
    Ies,
    MediaFormat,
    MetaFrame,
    MiniFrame,
    decode,
    encode,
    frame_name,
    increments_sequence,
)


def test_new_frame_layout_matches_the_capture() -> None:
    """NEW as iaxmodem sent it: VERSION=2, CALLING_NUMBER, FORMAT=0x40, CAPABILITY, ..."""
    ies = Ies.build(
        (Ie.VERSION, 2),
        (Ie.CALLING_NUMBER, "1000"),
        (Ie.CALLING_NAME, "Modem A"),
        (Ie.FORMAT, int(MediaFormat.SLINEAR)),
        (Ie.CAPABILITY, 0x4C),
        (Ie.USERNAME, "modemA"),
        (Ie.CALLED_NUMBER, "2000"),
        (Ie.DNID, "2000"),
    )
    frame = FullFrame(30194, 0, 3, 0, 0, FrameType.IAX, IaxCommand.NEW, ies=ies)
    raw = encode(frame)
    assert raw[:12] == struct.pack("!HHIBBBB", 0x8000 | 30194, 0, 3, 0, 0, 6, 1)
    # VERSION IE: type 0x0b, length 2, value 2
    assert raw[12:16] == b"\x0b\x02\x00\x02"
    assert b"\x09\x04\x00\x00\x00\x40" in raw  # FORMAT = slinear
    assert b"\x01\x042000" in raw  # CALLED_NUMBER
    back = decode(raw)
    assert back == frame
    assert isinstance(back, FullFrame)
    assert back.ies.text(Ie.CALLED_NUMBER) == "2000"
    assert back.ies.number(Ie.FORMAT) == 0x40
    assert back.ies.number(Ie.VERSION) == 2
    assert back.is_command(IaxCommand.NEW)
    assert str(back).startswith("IAX/NEW 30194->0")


def test_retransmit_bit_and_voice_subclass() -> None:
    frame = FullFrame(
        5,
        7,
        1000,
        3,
        4,
        FrameType.VOICE,
        MediaFormat.SLINEAR,
        retransmitted=True,
        data=b"\x00\x01" * 160,
    )
    raw = encode(frame)
    assert raw[2] & 0x80  # R bit
    assert raw[11] == 0x40
    assert decode(raw) == frame


def test_large_subclass_uses_the_c_bit() -> None:
    frame = FullFrame(5, 7, 0, 0, 0, FrameType.VOICE, 1 << 10)  # iLBC
    raw = encode(frame)
    assert raw[11] == 0x80 | 10
    assert decode(raw) == frame
    with pytest.raises(FrameError, match="power of two"):
        FullFrame(5, 7, 0, 0, 0, FrameType.VOICE, 0x300)


def test_mini_frame_layout() -> None:
    data = bytes(range(256)) + bytes(64)
    frame = MiniFrame(30194, 0xABCD, data)
    raw = encode(frame)
    assert raw[:4] == b"\x75\xf2\xab\xcd"
    assert decode(raw) == frame


def test_meta_frame_is_recognised() -> None:
    assert decode(b"\x00\x00\x01\x02") == MetaFrame(b"\x01\x02")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "too short"),
        (b"\x80", "too short"),
        (b"\x80\x01\x00\x00\x00", "12 header bytes"),
        (b"\x00\x05\x00", "4 header bytes"),
        (b"\x80\x00" + bytes(10), "source call number 0"),
        (encode(FullFrame(1, 2, 0, 0, 0, 6, 1))[:12] + b"\x01\x05ab", "claims 5 bytes"),
        (encode(FullFrame(1, 2, 0, 0, 0, 6, 1))[:12] + b"\x01", "truncated"),
    ],
)
def test_malformed_datagrams_give_clear_errors(raw: bytes, message: str) -> None:
    with pytest.raises(FrameError, match=message) as info:
        decode(raw)
    assert isinstance(info.value, InvalidInput)
    assert info.value.hint


def test_integer_ie_with_a_bad_length_is_a_frame_error() -> None:
    ies = Ies(((Ie.FORMAT, b"\x00\x00\x40"),))
    with pytest.raises(FrameError, match="3 bytes"):
        ies.number(Ie.FORMAT)
    assert ies.number(Ie.CAUSECODE, 16) == 16
    assert ies.text(Ie.CAUSE, "none") == "none"


def test_building_invalid_frames_is_refused() -> None:
    with pytest.raises(FrameError, match="source call"):
        FullFrame(0, 0, 0, 0, 0, 6, 1)
    with pytest.raises(FrameError, match="destination"):
        FullFrame(1, 0x8000, 0, 0, 0, 6, 1)
    with pytest.raises(FrameError, match="timestamp"):
        FullFrame(1, 1, 1 << 32, 0, 0, 6, 1)
    with pytest.raises(FrameError, match="oseqno"):
        FullFrame(1, 1, 0, 256, 0, 6, 1)
    with pytest.raises(FrameError, match="raw data"):
        FullFrame(1, 1, 0, 0, 0, FrameType.IAX, 1, data=b"x")
    with pytest.raises(FrameError, match="only IAX"):
        FullFrame(1, 1, 0, 0, 0, FrameType.VOICE, 4, ies=Ies.build((Ie.CAUSE, "x")))
    with pytest.raises(FrameError, match="255"):
        Ies.build((Ie.CALLING_NAME, "x" * 256)).encode()
    with pytest.raises(FrameError, match="16 bits"):
        MiniFrame(1, 0x10000)


def test_names_and_sequence_rules() -> None:
    assert frame_name(FrameType.CONTROL, ControlCommand.ANSWER) == "CONTROL/ANSWER"
    assert frame_name(FrameType.IAX, 0x7F) == "IAX/0x7f"
    assert frame_name(0x42, 1) == "TYPE0x42/0x1"
    assert not increments_sequence(FrameType.IAX, IaxCommand.ACK)
    assert not increments_sequence(FrameType.IAX, IaxCommand.VNAK)
    assert increments_sequence(FrameType.IAX, IaxCommand.PING)
    assert increments_sequence(FrameType.VOICE, 0x40)


# -- properties ------------------------------------------------------------------------

call_numbers = st.integers(1, 0x7FFF)
ie_items = st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=255)), max_size=8).map(
    lambda pairs: Ies(tuple(pairs))
)
subclasses = st.one_of(st.integers(0, 0x7F), st.integers(0, 127).map(lambda n: 1 << n))


@st.composite
def full_frames(draw: st.DrawFn) -> FullFrame:
    ftype = draw(st.integers(0, 255))
    iax = ftype == FrameType.IAX
    return FullFrame(
        source_call=draw(call_numbers),
        dest_call=draw(st.integers(0, 0x7FFF)),
        timestamp=draw(st.integers(0, 0xFFFFFFFF)),
        oseqno=draw(st.integers(0, 255)),
        iseqno=draw(st.integers(0, 255)),
        frame_type=ftype,
        subclass=draw(subclasses),
        retransmitted=draw(st.booleans()),
        data=b"" if iax else draw(st.binary(max_size=400)),
        ies=draw(ie_items) if iax else Ies(),
    )


@given(full_frames())
def test_full_frames_round_trip(frame: FullFrame) -> None:
    assert decode(encode(frame)) == frame


@given(
    st.builds(
        FullFrame,
        call_numbers,
        st.integers(0, 0x7FFF),
        st.integers(0, 2**32 - 1),
        st.integers(0, 255),
        st.integers(0, 255),
        st.just(int(FrameType.IAX)),
        st.integers(0, 0x7F),
        st.booleans(),
        st.just(b""),
        ie_items,
    )
)
def test_iax_frames_round_trip(frame: FullFrame) -> None:
    assert decode(encode(frame)) == frame


@given(call_numbers, st.integers(0, 0xFFFF), st.binary(max_size=400))
def test_mini_frames_round_trip(call: int, ts: int, data: bytes) -> None:
    frame = MiniFrame(call, ts, data)
    assert decode(encode(frame)) == frame


@settings(max_examples=500)
@given(st.binary(max_size=80))
def test_any_bytes_decode_or_raise_frame_error(raw: bytes) -> None:
    try:
        frame = decode(raw)
    except FrameError as exc:
        assert exc.message
        return
    # What decodes re-encodes to something that decodes to the same frame.
    assert decode(encode(frame)) == frame


@settings(max_examples=300)
@given(full_frames(), st.data())
def test_corrupted_frames_never_crash(frame: FullFrame, data: st.DataObject) -> None:
    raw = bytearray(encode(frame))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    with contextlib.suppress(FrameError):
        decode(bytes(raw[:cut]))
