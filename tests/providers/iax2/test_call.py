"""The sans-IO call state machine and endpoint: two endpoints wired together in memory, a
fake peer built from raw frames, and a clock that moves only when told to."""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Callable

import pytest

from lanfax.providers.iax2.call import CallState, Iax2Call, Timers
from lanfax.providers.iax2.endpoint import Address, Endpoint
from lanfax.providers.iax2.events import (
    Accepted,
    Answered,
    Audio,
    Busy,
    CallEvent,
    Closed,
    HungUp,
    Incoming,
    LagMeasured,
    LinkLost,
    Rejected,
    Ringing,
)
from lanfax.providers.iax2.frames import (
    AuthMethod,
    Cause,
    ControlCommand,
    FrameType,
    FullFrame,
    IaxCommand,
    Ie,
    Ies,
    MediaFormat,
    MiniFrame,
    decode,
    encode,
)

A: Address = ("127.0.0.1", 5000)
B: Address = ("127.0.0.1", 4570)


class Wire:
    """Two endpoints and a clock; ``drop`` decides which datagrams the network loses."""

    def __init__(self, a: Endpoint, b: Endpoint) -> None:
        self.ends = {A: a, B: b}
        self.now = 100.0
        self.events: dict[Address, list[CallEvent]] = {A: [], B: []}
        self.log: list[tuple[Address, object]] = []
        self.drop: Callable[[Address, object], bool] = lambda _to, _frame: False

    def pump(self, rounds: int = 20) -> None:
        for _ in range(rounds):
            moved = False
            for here, ep in self.ends.items():
                ep.flush(self.now)
                there = B if here == A else A
                for data, to in ep.take_datagrams():
                    assert to == there
                    frame = decode(data)
                    self.log.append((to, frame))
                    if self.drop(to, frame):
                        continue
                    moved = True
                    for _call, ev in self.ends[to].datagram_received(data, here, self.now):
                        self.events[to].append(ev)
            if not moved:
                return

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for here, ep in self.ends.items():
            for _call, ev in ep.poll(self.now):
                self.events[here].append(ev)
        self.pump()

    def kinds(self, side: Address) -> list[str]:
        return [type(e).__name__ for e in self.events[side]]


def pair(**kw: object) -> Wire:
    return Wire(Endpoint(rng=random.Random(1), **kw), Endpoint(rng=random.Random(2), **kw))  # type: ignore[arg-type]


def connect(w: Wire) -> tuple[Iax2Call, Iax2Call]:
    call = w.ends[A].new_call(B, w.now)
    call.dial(w.now, "1000", calling_number="555", calling_name="lanfax")
    w.pump()
    incoming = [e for e in w.events[B] if isinstance(e, Incoming)]
    assert incoming == [Incoming("1000", "555", "lanfax", "", MediaFormat.SLINEAR)]
    callee = w.ends[B].calls[0]
    callee.accept(w.now)
    w.pump()
    assert w.kinds(A)[:2] == ["Accepted", "Ringing"]
    callee.answer(w.now)
    w.pump()
    assert isinstance(w.events[A][-1], Answered)
    assert call.state is CallState.UP and callee.state is CallState.UP
    return call, callee


def test_call_set_up_voice_and_hangup() -> None:
    w = pair()
    caller, callee = connect(w)
    # Every sequenced frame was acknowledged.
    assert caller.unacknowledged == 0 and callee.unacknowledged == 0
    for k in range(5):
        caller.send_voice(w.now, bytes([k]) * 320, 160)
        callee.send_voice(w.now, bytes([9]) * 320, 160)
        w.advance(0.02)
    got = [e for e in w.events[B] if isinstance(e, Audio)]
    assert [e.payload[0] for e in got] == [0, 1, 2, 3, 4]
    assert [e.timestamp - got[0].timestamp for e in got] == [0, 20, 40, 60, 80]
    # The first voice frame is a full one (it sets the format), then mini frames.
    voice = [
        f
        for to, f in w.log
        if (to == B and not isinstance(f, FullFrame))
        or (isinstance(f, FullFrame) and f.frame_type == FrameType.VOICE and to == B)
    ]
    assert isinstance(voice[0], FullFrame) and all(isinstance(f, MiniFrame) for f in voice[1:])
    caller.hangup(w.now, Cause.NORMAL_CLEARING)
    w.pump()
    hung = [e for e in w.events[B] if isinstance(e, HungUp)]
    assert hung == [HungUp("Normal Clearing", 16)]
    assert "Closed" in w.kinds(A) and "Closed" in w.kinds(B)
    assert caller.state is CallState.CLOSED and callee.state is CallState.CLOSED
    # After the linger time both endpoints forget the call.
    w.advance(11)
    assert w.ends[A].calls == [] and w.ends[B].calls == []


def test_voice_timestamp_wrap_sends_a_full_frame() -> None:
    w = pair()
    caller, _ = connect(w)
    caller._voice_ts = 0xFFFF - 19  # just before the low 16 bits wrap
    caller._voice_full_ts = 0x0
    w.log.clear()
    for _ in range(3):
        caller.send_voice(w.now, b"\x00" * 320, 160)
    w.pump()
    sent = [
        f
        for to, f in w.log
        if to == B
        and (isinstance(f, MiniFrame) or (isinstance(f, FullFrame) and f.frame_type == 2))
    ]
    assert isinstance(sent[0], MiniFrame)
    assert isinstance(sent[1], FullFrame) and sent[1].timestamp == 0x10000 + 0
    assert isinstance(sent[2], MiniFrame) and sent[2].timestamp == 20
    audio = [e for e in w.events[B] if isinstance(e, Audio)]
    assert audio[-1].timestamp == 0x10000 + 20


def test_lost_frames_are_retransmitted_with_backoff_and_the_link_given_up() -> None:
    w = pair()
    w.drop = lambda to, f: to == B  # B never hears anything
    call = w.ends[A].new_call(B, w.now)
    call.dial(w.now, "1000")
    w.pump()
    times = []
    for _ in range(80):
        before = len(w.log)
        w.advance(0.25)
        if len(w.log) > before:
            times.append(w.now)
        if "LinkLost" in w.kinds(A):
            break
    news = [f for _to, f in w.log if isinstance(f, FullFrame) and f.is_command(IaxCommand.NEW)]
    assert len(news) == 6
    assert not news[0].retransmitted and all(f.retransmitted for f in news[1:])
    gaps = [round(b - a, 2) for a, b in itertools.pairwise(times)]
    assert gaps == sorted(gaps)  # waits grow (0.5, 1, 2, 4 ...)
    assert w.kinds(A)[-2:] == ["LinkLost", "Closed"]


def test_one_lost_answer_is_recovered() -> None:
    w = pair()
    dropped: list[object] = []

    def drop_first_answer(to: Address, f: object) -> bool:
        if isinstance(f, FullFrame) and f.is_control(ControlCommand.ANSWER) and not dropped:
            dropped.append(f)
            return True
        return False

    w.drop = drop_first_answer
    call = w.ends[A].new_call(B, w.now)
    call.dial(w.now, "1000")
    w.pump()
    callee = w.ends[B].calls[0]
    callee.accept(w.now)
    callee.answer(w.now)
    w.pump()
    assert "Answered" not in w.kinds(A)
    w.advance(0.3)
    assert "Answered" in w.kinds(A)
    assert callee.stats["retransmitted"] >= 1 and callee.unacknowledged == 0


def test_ping_and_lagrq_are_answered() -> None:
    w = pair(timers=Timers(ping_interval=1.0, lagrq_interval=1.5))
    connect(w)
    w.advance(1.0)
    w.advance(0.6)
    assert any(isinstance(e, LagMeasured) for e in w.events[A])
    cmds = [f.subclass for _to, f in w.log if isinstance(f, FullFrame) and f.is_iax]
    for c in (IaxCommand.PING, IaxCommand.PONG, IaxCommand.LAGRQ, IaxCommand.LAGRP):
        assert c in cmds


def test_format_choice_from_capability() -> None:
    w = Wire(
        Endpoint(formats=(MediaFormat.ALAW, MediaFormat.ULAW), rng=random.Random(1)),
        Endpoint(formats=(MediaFormat.ULAW,), rng=random.Random(2)),
    )
    call = w.ends[A].new_call(B, w.now)
    call.dial(w.now, "1000")
    w.pump()
    assert next(e for e in w.events[B] if isinstance(e, Incoming)).media_format == MediaFormat.ULAW
    w.ends[B].calls[0].accept(w.now)
    w.pump()
    assert Accepted(MediaFormat.ULAW) in w.events[A]
    assert call.media_format == MediaFormat.ULAW


def test_no_common_format_is_rejected() -> None:
    w = Wire(
        Endpoint(formats=(MediaFormat.ALAW,), rng=random.Random(1)),
        Endpoint(formats=(MediaFormat.SLINEAR,), rng=random.Random(2)),
    )
    call = w.ends[A].new_call(B, w.now)
    call.dial(w.now, "1000")
    w.pump()
    rejected = [e for e in w.events[A] if isinstance(e, Rejected)]
    assert rejected and rejected[0].cause_code == Cause.BEARER_NOT_AVAILABLE


def test_reject_busy_with_cause() -> None:
    w = pair()
    call = w.ends[A].new_call(B, w.now)
    call.dial(w.now, "1000")
    w.pump()
    w.ends[B].calls[0].reject(w.now, Cause.USER_BUSY)
    w.pump()
    assert [e for e in w.events[A] if isinstance(e, Rejected)] == [Rejected("User busy", 17)]
    assert call.state is CallState.CLOSED


# -- a fake peer, frame by frame ----------------------------------------------------------


class FakePeer:
    """Builds the peer's frames by hand (call number 77) and reads ours."""

    def __init__(self, ep: Endpoint, now: float) -> None:
        self.ep = ep
        self.now = now
        self.oseq = 0
        self.iseq = 0
        self.ours = 0

    def send(
        self,
        ftype: int,
        sub: int,
        ies: Ies | None = None,
        data: bytes = b"",
        ts: int = 10,
        oseq: int | None = None,
    ) -> list[CallEvent]:
        frame = FullFrame(
            77,
            self.ours,
            ts,
            self.oseq if oseq is None else oseq,
            self.iseq,
            ftype,
            sub,
            data=data,
            ies=ies or Ies(),
        )
        if oseq is None and not frame.is_command(IaxCommand.ACK):
            self.oseq += 1
        return [e for _c, e in self.ep.datagram_received(encode(frame), B, self.now)]

    def sent(self) -> list[FullFrame]:
        out = []
        for data, _to in self.ep.take_datagrams():
            f = decode(data)
            assert isinstance(f, FullFrame)
            self.ours = f.source_call
            if not f.is_command(IaxCommand.ACK):
                self.iseq = f.oseqno + 1
            out.append(f)
        return out


def dial_fake(secret: str = "", username: str = "lanfax") -> tuple[Iax2Call, FakePeer]:
    ep = Endpoint(username=username, secret=secret, rng=random.Random(3))
    call = ep.new_call(B, 0.0)
    call.dial(0.0, "1000")
    peer = FakePeer(ep, 0.0)
    [new] = peer.sent()
    assert new.is_command(IaxCommand.NEW) and new.ies.text(Ie.USERNAME) == username
    return call, peer


def test_md5_authentication() -> None:
    _call, peer = dial_fake(secret="s3cret")
    ies = Ies.build(
        (Ie.AUTHMETHODS, int(AuthMethod.MD5 | AuthMethod.PLAINTEXT)),
        (Ie.CHALLENGE, "12345"),
        (Ie.USERNAME, "lanfax"),
    )
    assert peer.send(FrameType.IAX, IaxCommand.AUTHREQ, ies) == []
    frames = peer.sent()
    [rep] = [f for f in frames if f.is_command(IaxCommand.AUTHREP)]
    assert rep.ies.text(Ie.MD5_RESULT) == hashlib.md5(b"12345s3cret").hexdigest()
    assert Ie.PASSWORD not in rep.ies
    # Accepted after authentication.
    assert peer.send(
        FrameType.IAX, IaxCommand.ACCEPT, Ies.build((Ie.FORMAT, int(MediaFormat.SLINEAR)))
    ) == [Accepted(0x40)]


def test_plaintext_authentication_then_reject_is_an_auth_failure() -> None:
    _call, peer = dial_fake(secret="pw")
    peer.send(
        FrameType.IAX,
        IaxCommand.AUTHREQ,
        Ies.build((Ie.AUTHMETHODS, int(AuthMethod.PLAINTEXT)), (Ie.CHALLENGE, "x")),
    )
    [rep] = [f for f in peer.sent() if f.is_command(IaxCommand.AUTHREP)]
    assert rep.ies.text(Ie.PASSWORD) == "pw"
    events = peer.send(FrameType.IAX, IaxCommand.REJECT, Ies.build((Ie.CAUSE, "Bad auth")))
    assert events[0] == Rejected("Bad auth", None, auth=True)


def test_authentication_without_a_secret_is_a_clear_rejection() -> None:
    _call, peer = dial_fake(secret="")
    events = peer.send(
        FrameType.IAX,
        IaxCommand.AUTHREQ,
        Ies.build((Ie.AUTHMETHODS, int(AuthMethod.MD5)), (Ie.CHALLENGE, "1")),
    )
    assert len(events) == 1 and isinstance(events[0], Rejected) and events[0].auth
    assert "no secret" in events[0].cause


def test_calltoken_resends_new_with_the_token() -> None:
    _call, peer = dial_fake()
    peer.send(FrameType.IAX, IaxCommand.CALLTOKEN, Ies.build((Ie.CALLTOKEN, b"tok")))
    [new] = [f for f in peer.sent() if f.is_command(IaxCommand.NEW)]
    assert new.ies.get(Ie.CALLTOKEN) == b"tok" and new.oseqno == 0


def test_duplicates_are_acked_and_gaps_get_a_vnak() -> None:
    call, peer = dial_fake()
    peer.send(FrameType.IAX, IaxCommand.ACCEPT, Ies.build((Ie.FORMAT, 0x40)))
    peer.sent()
    # The same ACCEPT again (our ACK was lost): ACKed, no new event.
    assert peer.send(FrameType.IAX, IaxCommand.ACCEPT, Ies.build((Ie.FORMAT, 0x40)), oseq=0) == []
    [ack] = peer.sent()
    assert ack.is_command(IaxCommand.ACK) and call.stats["duplicates"] == 1
    # A frame from the future (seq 5 while 1 is expected): dropped, VNAK.
    assert peer.send(FrameType.CONTROL, ControlCommand.ANSWER, oseq=5) == []
    assert [f.subclass for f in peer.sent()] == [IaxCommand.VNAK]
    assert call.state is CallState.ACCEPTED
    assert peer.send(FrameType.CONTROL, ControlCommand.BUSY) == [Busy()]


def test_far_end_hangup_cause_and_closed_call_answers_inval() -> None:
    _call, peer = dial_fake()
    peer.send(FrameType.IAX, IaxCommand.ACCEPT, Ies.build((Ie.FORMAT, 0x40)))
    events = peer.send(
        FrameType.IAX, IaxCommand.HANGUP, Ies.build((Ie.CAUSE, "No answer"), (Ie.CAUSECODE, 19))
    )
    assert events == [HungUp("No answer", 19), Closed()]
    peer.sent()
    # A late PING for the closed call gets INVAL.
    peer.send(FrameType.IAX, IaxCommand.PING)
    assert [f.subclass for f in peer.sent()] == [IaxCommand.INVAL]


def test_unknown_call_gets_inval_and_garbage_is_counted() -> None:
    ep = Endpoint(rng=random.Random(4))
    frame = FullFrame(9, 1234, 5, 0, 0, FrameType.IAX, IaxCommand.PING)
    assert ep.datagram_received(encode(frame), B, 0.0) == []
    [(data, to)] = ep.take_datagrams()
    inval = decode(data)
    assert to == B and isinstance(inval, FullFrame) and inval.is_command(IaxCommand.INVAL)
    assert ep.datagram_received(b"\x80\x01", B, 0.0) == []
    assert ep.stats.malformed == 1 and "12 header bytes" in ep.stats.last_error
    # Mini frames for no call are dropped silently.
    assert ep.datagram_received(encode(MiniFrame(5, 1, b"xx")), B, 0.0) == []
    assert ep.take_datagrams() == []


def test_abort_while_dialing_closes_without_hangup() -> None:
    ep = Endpoint(rng=random.Random(5))
    call = ep.new_call(B, 0.0)
    call.dial(0.0, "1")
    ep.take_datagrams()
    call.hangup(0.1)
    assert call.state is CallState.CLOSED and ep.take_datagrams() == []
    with pytest.raises(Exception, match="dial"):
        call.dial(0.2, "2")


def test_unsupported_command_gets_unsupport() -> None:
    _call, peer = dial_fake()
    peer.send(FrameType.IAX, IaxCommand.ACCEPT, Ies.build((Ie.FORMAT, 0x40)))
    peer.sent()
    peer.send(FrameType.IAX, IaxCommand.DPREQ)
    frames = peer.sent()
    [unsup] = [f for f in frames if f.is_command(IaxCommand.UNSUPPORT)]
    assert unsup.ies.get(Ie.IAX_UNKNOWN) == bytes([IaxCommand.DPREQ])
    assert isinstance(LinkLost("x"), LinkLost) and Ringing() == Ringing()
