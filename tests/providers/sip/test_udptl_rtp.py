"""UDPTL framing/redundancy and RTP/jitter buffer, sans-IO."""

from __future__ import annotations

import contextlib
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from lanfax.providers.sip.rtp import JitterBuffer, RtpError, RtpSender, parse_rtp
from lanfax.providers.sip.udptl import (
    UdptlError,
    UdptlPacket,
    UdptlReceiver,
    UdptlSender,
    decode,
    encode,
)


def test_udptl_known_bytes() -> None:
    pkt = UdptlPacket(0x0102, b"\x06\x00", (b"\xaa",))
    assert encode(pkt) == b"\x01\x02\x02\x06\x00\x00\x01\x01\xaa"
    long = UdptlPacket(5, bytes(300))
    data = encode(long)
    assert data[2:4] == b"\x81\x2c"  # PER two-octet length: 300
    assert decode(data) == long


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_udptl_any_bytes_decode_or_error(data: bytes) -> None:
    try:
        decode(data)
    except UdptlError as exc:
        assert exc.message


@settings(max_examples=100, deadline=None)
@given(
    seq=st.integers(0, 65535),
    primary=st.binary(min_size=1, max_size=200),
    secondary=st.lists(st.binary(min_size=1, max_size=200), max_size=4),
)
def test_udptl_roundtrip(seq: int, primary: bytes, secondary: list[bytes]) -> None:
    pkt = UdptlPacket(seq, primary, tuple(secondary))
    assert decode(encode(pkt)) == pkt


def _stream(n: int) -> list[bytes]:
    return [bytes([i & 0xFF]) * (1 + i % 7) for i in range(n)]


def test_redundancy_recovers_losses_and_drops_duplicates() -> None:
    tx = UdptlSender(redundancy=3, max_datagram=400)
    rx = UdptlReceiver()
    ifps = _stream(40)
    out: list[tuple[int, bytes]] = []
    for seq, ifp in enumerate(ifps, start=65530):  # wraps past 65535
        data = tx.frame(seq, ifp)
        if seq % 5 in (1, 2):  # 40% loss, but never more than 2 in a row
            continue
        out += rx.feed(data)
        out += rx.feed(data)  # a duplicate is late and dropped
    assert [ifp for _, ifp in out] == ifps[: len(out)]
    assert [s for s, _ in out] == [(65530 + i) & 0xFFFF for i in range(len(out))]
    assert rx.recovered > 0 and rx.lost == 0 and rx.late > 0


def test_datagram_limit_trims_redundancy() -> None:
    tx = UdptlSender(redundancy=3, max_datagram=60)
    for seq in range(5):
        data = tx.frame(seq, bytes(25))
        assert len(data) <= 60
    assert len(decode(data).secondary) == 1


@settings(max_examples=100, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(0, 3))
def test_random_loss_and_reorder_keep_order(rnd: random.Random, redundancy: int) -> None:
    tx = UdptlSender(redundancy=redundancy)
    rx = UdptlReceiver()
    datagrams = [tx.frame(seq, ifp) for seq, ifp in enumerate(_stream(60))]
    kept = [d for d in datagrams if rnd.random() > 0.1]
    for i in range(len(kept) - 1):
        if rnd.random() < 0.1:
            kept[i], kept[i + 1] = kept[i + 1], kept[i]
    got = [seq for d in kept for seq, _ in rx.feed(d)]
    assert got == sorted(set(got))  # each seq at most once, in order


def test_rtp_roundtrip_and_errors() -> None:
    s = RtpSender(0, ssrc=0x1234, seq=65535, timestamp=10)
    a = parse_rtp(s.packet(b"\xff" * 160))
    b = parse_rtp(s.packet(b"\x7f" * 160))
    assert (a.seq, b.seq, b.timestamp, a.marker, b.marker) == (65535, 0, 170, True, False)
    for bad in (b"", b"\x00" * 12, b"\x90" + b"\x00" * 11, b"\xa0" + b"\x00" * 11):
        try:
            parse_rtp(bad)
        except RtpError as exc:
            assert exc.message
        else:
            raise AssertionError(bad)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80))
def test_rtp_any_bytes(data: bytes) -> None:
    with contextlib.suppress(RtpError):
        parse_rtp(data)


def test_jitter_buffer_reorders_and_plays_losses_as_holes() -> None:
    jb = JitterBuffer(depth=3)
    for seq in (10, 12, 11, 14, 13, 16):  # 15 lost
        jb.push(seq, bytes([seq]))
    played = [jb.pop() for _ in range(7)]
    assert played[:6] == [bytes([10]), bytes([11]), bytes([12]), bytes([13]), bytes([14]), None]
    jb.push(11, b"late")
    assert jb.late == 1 and jb.missing >= 1


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=120),
        st.builds(
            lambda seq, p, s, tail: encode(UdptlPacket(seq, p, tuple(s))) + tail,
            st.integers(0, 65535),
            st.binary(min_size=0, max_size=140),
            st.lists(st.binary(max_size=140), max_size=4),
            st.binary(max_size=3),
        ),
    )
)
def test_udptl_fast_decode_agrees_with_the_reader(data: bytes) -> None:
    """decode() reads the usual datagram without its reader: same packet, same refusals."""
    from lanfax.providers.sip.udptl import _decode

    try:
        want: UdptlPacket | str = _decode(data)
    except UdptlError:
        want = "error"
    try:
        got: UdptlPacket | str = decode(data)
    except UdptlError:
        got = "error"
    assert got == want


def test_rtp_stamp_writes_the_same_packets_in_place() -> None:
    a = RtpSender(8, ssrc=0xCAFE, seq=65534, timestamp=4294967200)
    b = RtpSender(8, ssrc=0xCAFE, seq=65534, timestamp=4294967200)
    buf = bytearray(12 + 160)
    for i in range(3):
        payload = bytes([i]) * 160
        buf[12:] = payload
        b.stamp(buf, 160)
        assert bytes(buf) == a.packet(payload)
    assert (a.seq, a.timestamp) == (b.seq, b.timestamp)
