"""The IAX2 dial and ring cores (sans-IO) in virtual time: two real endpoints and their calls
on a simulated network with latency and losses, driven deadline by deadline, so a minute of
ringing takes no real second and every race is replayed the same way each run."""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from typing import TypeVar

import pytest

from lanfax.model.codes import ProviderStatus
from lanfax.providers.iax2.call import CallState, Iax2Call, Timers
from lanfax.providers.iax2.callsetup import (
    Connected,
    Dialer,
    Failed,
    IllegalAction,
    Note,
    Ring,
    RingEnded,
    Ringer,
    RingHeard,
    SetupAction,
)
from lanfax.providers.iax2.endpoint import Address, Endpoint
from lanfax.providers.iax2.events import (
    Answered,
    Busy,
    CallEvent,
    Congestion,
    HungUp,
    Incoming,
    Rejected,
)
from lanfax.providers.iax2.frames import (
    Cause,
    ControlCommand,
    FullFrame,
    IaxCommand,
    Ie,
    MiniFrame,
    decode,
)

A: Address = ("127.0.0.1", 5000)  # the caller (a Dialer)
B: Address = ("127.0.0.1", 4570)  # the callee (a Ringer)
Frame = FullFrame | MiniFrame
ActionT = TypeVar("ActionT", bound=SetupAction)


class Net:
    """Two endpoints, a Dialer on A and a Ringer on B, on a network that delays every
    datagram by ``latency`` and loses those ``drop`` picks. Time moves only in
    :meth:`run_until`, from one deadline (a datagram's arrival, an endpoint's timer, a
    core's timer) to the next, as the asyncio adapters would sleep."""

    def __init__(
        self,
        *,
        answer_timeout: float = 60.0,
        ring_interval: float = 6.0,
        latency: float = 0.005,
        timers: Timers | None = None,
    ) -> None:
        self.now = 1000.0
        self.start = self.now
        self.latency = latency
        self.answer_timeout = answer_timeout
        self.ring_interval = ring_interval
        self.ep = {
            A: Endpoint(rng=random.Random(1), timers=timers),
            B: Endpoint(rng=random.Random(2), timers=timers),
        }
        self.drop: Callable[[Address, Frame], bool] = lambda _to, _frame: False
        self.sent: list[tuple[float, Address, Frame]] = []
        self._flight: list[tuple[float, int, bytes, Address, Address]] = []
        self._seq = 0
        self.dialer: Dialer | None = None
        self.ringer: Ringer | None = None
        self.actions: dict[Address, list[tuple[float, SetupAction]]] = {A: [], B: []}
        #: Events after the answer (what the adapter would hand to the media).
        self.media: dict[Address, list[CallEvent]] = {A: [], B: []}

    # -- the two owners ----------------------------------------------------------------------

    def dial(self, number: str = "1000") -> Iax2Call:
        call = self.ep[A].new_call(B, self.now)
        self.dialer = Dialer(call, answer_timeout=self.answer_timeout, peer="pbx:4569")
        self.record(A, self.dialer.dial(self.now, number, calling_number="555"))
        return call

    @property
    def caller(self) -> Iax2Call:
        assert self.dialer is not None
        return self.dialer.call

    @property
    def callee(self) -> Iax2Call:
        assert self.ringer is not None
        return self.ringer.call

    def record(self, side: Address, actions: list[SetupAction]) -> None:
        self.actions[side] += [(self.now, a) for a in actions]
        self.flush()

    def _event(self, side: Address, call: Iax2Call, event: CallEvent) -> None:
        if side == A:
            assert self.dialer is not None and call is self.dialer.call
            if self.dialer.dialing:
                self.record(A, self.dialer.event(event, self.now))
            else:
                self.media[A].append(event)
        elif isinstance(event, Incoming):
            self.ringer = Ringer(call, ring_interval=self.ring_interval)
            self.record(B, self.ringer.start(self.now))
        elif self.ringer is not None and self.ringer.ringing:
            self.record(B, self.ringer.event(event, self.now))
        else:
            self.media[B].append(event)

    def answer(self) -> None:
        assert self.ringer is not None
        self.record(B, self.ringer.answer(self.now))

    def abort(self) -> None:
        assert self.dialer is not None
        self.record(A, self.dialer.abort(self.now))

    # -- the network and the clock -----------------------------------------------------------

    def flush(self) -> None:
        for here, ep in self.ep.items():
            ep.flush(self.now)
            for data, to in ep.take_datagrams():
                frame = decode(data)
                assert isinstance(frame, FullFrame | MiniFrame)
                self.sent.append((self.now, to, frame))
                if self.drop(to, frame):
                    continue
                self._seq += 1
                heapq.heappush(self._flight, (self.now + self.latency, self._seq, data, here, to))

    def _next(self) -> float | None:
        times = [self._flight[0][0]] if self._flight else []
        times += [t for ep in self.ep.values() if (t := ep.next_deadline()) is not None]
        for core in (self.dialer, self.ringer):
            if core is not None and (t := core.next_deadline()) is not None:
                times.append(t)
        return min(times) if times else None

    def run_until(self, until: float) -> None:
        for _ in range(100_000):
            nxt = self._next()
            if nxt is None or nxt > until:
                self.now = max(self.now, until)
                return
            self.now = max(self.now, nxt)
            while self._flight and self._flight[0][0] <= self.now:
                _at, _n, data, src, dst = heapq.heappop(self._flight)
                for call, event in self.ep[dst].datagram_received(data, src, self.now):
                    self._event(dst, call, event)
            for side, ep in self.ep.items():
                for call, event in ep.poll(self.now):
                    self._event(side, call, event)
            if self.dialer is not None:
                self.record(A, self.dialer.poll(self.now))
            if self.ringer is not None:
                self.record(B, self.ringer.poll(self.now))
            self.flush()
        raise AssertionError("the simulation does not settle")

    def run(self, seconds: float) -> None:
        self.run_until(self.now + seconds)

    # -- what happened ------------------------------------------------------------------------

    def at(self, side: Address, kind: type[ActionT]) -> list[tuple[float, ActionT]]:
        """(time since the start, action) of the actions of one kind on one side."""
        return [(round(t - self.start, 3), a) for t, a in self.actions[side] if isinstance(a, kind)]

    def frames(self, to: Address, command: IaxCommand) -> list[tuple[float, FullFrame]]:
        return [
            (round(t - self.start, 3), f)
            for t, to_, f in self.sent
            if to_ == to and isinstance(f, FullFrame) and f.is_command(command)
        ]


# -- ringing and answering -------------------------------------------------------------------


def test_the_line_rings_every_ring_interval_until_answered() -> None:
    net = Net(ring_interval=6.0)
    net.dial()
    net.run(13.0)
    # Ring 1 as the NEW arrives (one network delay), then every 6 s of virtual time.
    assert net.at(B, Ring) == [(0.005, Ring(1)), (6.005, Ring(2)), (12.005, Ring(3))]
    assert [a for _t, a in net.actions[A]] == [
        Note(f"call {net.caller.local_call} accepted by pbx:4569, format SLINEAR"),
        RingHeard(),
    ]
    assert net.ringer is not None and net.ringer.answerable
    net.answer()
    net.run(1.0)
    assert net.at(B, Connected) == [(13.0, Connected())]
    assert net.at(A, Connected) == [(13.005, Connected())]
    assert net.caller.state is CallState.UP and net.callee.state is CallState.UP
    assert net.dialer is not None and net.dialer.next_deadline() is None
    assert net.ringer.next_deadline() is None
    net.run(60.0)  # the answer timeout is past: nothing fires, no more rings
    assert len(net.at(B, Ring)) == 3 and net.at(A, Failed) == []


def test_no_answer_within_the_answer_timeout_hangs_up_with_cause_19() -> None:
    net = Net(answer_timeout=27.0, ring_interval=6.0)
    net.dial()
    net.run(26.9)
    assert [a.count for _t, a in net.at(B, Ring)] == [1, 2, 3, 4, 5]
    assert net.at(A, Failed) == []
    net.run(1.0)
    assert net.at(A, Failed) == [(27.0, Failed(ProviderStatus.NO_ANSWER, "no answer in 27 s"))]
    [(t, hangup)] = net.frames(B, IaxCommand.HANGUP)
    assert t == 27.0 and hangup.ies.number(Ie.CAUSECODE) == Cause.NO_ANSWER
    # The callee hears the caller leave, one network delay later, and stops ringing.
    assert net.at(B, RingEnded) == [(27.005, RingEnded("the caller hung up"))]
    assert net.ringer is not None and not net.ringer.answerable
    with pytest.raises(IllegalAction, match="answer"):
        net.answer()
    net.run(60.0)
    assert len(net.at(B, Ring)) == 5
    assert net.caller.state is CallState.CLOSED and net.callee.state is CallState.CLOSED


def test_the_answer_and_the_answer_timeout_cross_on_the_wire() -> None:
    """At the very deadline the callee answers while the caller gives up: the ANSWER reaches
    a call already hanging up and is ignored; the callee's media hears the HANGUP."""
    net = Net(answer_timeout=30.0, ring_interval=7.0)
    net.dial()
    net.run_until(net.start + 30.0 - 1e-9)
    net.now = net.start + 30.0
    net.answer()  # ANSWER leaves B at 30.0 ...
    net.run(0.0)  # ... and A's timeout fires at 30.0, before it arrives
    net.run(1.0)
    assert net.at(A, Failed) == [(30.0, Failed(ProviderStatus.NO_ANSWER, "no answer in 30 s"))]
    assert net.at(A, Connected) == []
    assert net.at(B, Connected) == [(30.0, Connected())]
    assert net.at(B, RingEnded) == []  # answered: the hangup is the media's business
    assert HungUp("No answer", 19) in net.media[B]
    assert net.caller.state is CallState.CLOSED and net.callee.state is CallState.CLOSED


def test_the_caller_aborts_while_the_line_rings() -> None:
    net = Net(ring_interval=6.0)
    net.dial()
    net.run(8.0)
    net.abort()
    assert net.at(A, Failed) == [(8.0, Failed(ProviderStatus.USER_ABORT, "aborted while dialing"))]
    net.run(1.0)
    [(_t, hangup)] = net.frames(B, IaxCommand.HANGUP)
    assert hangup.ies.number(Ie.CAUSECODE) == Cause.NORMAL_CLEARING
    assert net.at(B, RingEnded) == [(8.005, RingEnded("the caller hung up"))]
    with pytest.raises(IllegalAction, match=r"abort\(\) while the outgoing call is ended"):
        net.abort()


def test_a_hangup_racing_the_answer_reaches_the_media() -> None:
    """The caller hangs up as the callee answers: the callee's answer is legal (its call is
    still accepted when it answers) and the HANGUP that crossed it goes to the media."""
    net = Net()
    net.dial()
    net.run(3.0)
    net.abort()  # HANGUP leaves A ...
    net.answer()  # ... while B answers, before it arrives
    net.run(1.0)
    assert net.at(B, Connected) and net.at(B, RingEnded) == []
    assert HungUp("Normal Clearing", 16) in net.media[B]
    assert net.at(A, Connected) == []  # the ANSWER met a call that was hanging up
    assert net.callee.state is CallState.CLOSED


def test_the_owner_stops_ringing_with_a_cause() -> None:
    net = Net()
    net.dial()
    net.run(1.0)
    assert net.ringer is not None
    net.record(B, net.ringer.stop(net.now, Cause.USER_BUSY))
    net.run(1.0)
    assert net.at(B, RingEnded) == [(1.0, RingEnded("not answered"))]
    [(_t, hangup)] = net.frames(A, IaxCommand.HANGUP)
    assert hangup.ies.number(Ie.CAUSECODE) == Cause.USER_BUSY
    [(_t, failed)] = net.at(A, Failed)
    assert failed == Failed(ProviderStatus.BUSY, "User busy (cause 17)")
    with pytest.raises(IllegalAction, match="stop"):
        net.ringer.stop(net.now)


def test_ringing_ends_when_the_call_was_hung_up_underneath() -> None:
    """A shutdown hangs every call up directly: the ringing ends when the HANGUP is
    acknowledged, or at the next ring if it is not."""
    net = Net(ring_interval=2.0)
    net.dial()
    net.run(1.0)
    net.callee.hangup(net.now)
    net.flush()  # as the adapter flushes after every action
    net.run(1.5)
    assert net.at(B, Ring) == [(0.005, Ring(1))]
    assert net.at(B, RingEnded) == [(1.01, RingEnded("the call is over on the wire"))]

    net = Net(ring_interval=2.0)
    net.dial()
    net.run(1.0)
    net.drop = lambda _to, _f: True
    net.callee.hangup(net.now)
    net.flush()  # as the adapter flushes after every action
    net.run(1.5)
    assert net.at(B, Ring) == [(0.005, Ring(1))]
    assert net.at(B, RingEnded) == [(2.005, RingEnded("the call is hanging_up"))]


# -- losses and timeouts ------------------------------------------------------------------------


def test_a_peer_that_never_answers_the_new_is_line_unavailable() -> None:
    """NEW is retransmitted at 0.25, 0.75, 1.75, 3.75 and 7.75 s (the wait doubles up to
    4 s), and after the sixth transmission goes unanswered the link is declared lost."""
    net = Net()
    net.drop = lambda to, _f: to == B
    net.dial()
    net.run(30.0)
    news = net.frames(B, IaxCommand.NEW)
    assert [t for t, _f in news] == [0.0, 0.25, 0.75, 1.75, 3.75, 7.75]
    [(t, failed)] = net.at(A, Failed)
    assert t == 11.75 and failed.status is ProviderStatus.LINE_UNAVAILABLE
    assert "does not respond" in failed.text
    assert net.dialer is not None and net.dialer.next_deadline() is None


def test_abort_before_the_peer_answered_the_new_sends_nothing_more() -> None:
    net = Net()
    net.drop = lambda to, _f: to == B
    net.dial()
    net.run(0.5)
    net.abort()
    net.run(30.0)
    assert [t for t, _f in net.frames(B, IaxCommand.NEW)] == [0.0, 0.25]
    assert net.frames(B, IaxCommand.HANGUP) == []  # nobody to hang up on
    assert net.caller.state is CallState.CLOSED


def test_a_lost_accept_and_ringing_are_recovered_by_retransmission() -> None:
    net = Net(ring_interval=6.0)
    lost: list[FullFrame] = []

    def lose_the_first_two_to_a(to: Address, frame: Frame) -> bool:
        if not isinstance(frame, FullFrame) or frame.is_command(IaxCommand.ACK):
            return False
        if to == A and len(lost) < 2:
            lost.append(frame)
            return True
        return False

    net.drop = lose_the_first_two_to_a
    net.dial()
    net.run(1.0)
    assert lost[0].is_command(IaxCommand.ACCEPT) and lost[1].is_control(ControlCommand.RINGING)
    assert [a for _t, a in net.actions[A]] == [
        Note(f"call {net.caller.local_call} accepted by pbx:4569, format SLINEAR"),
        RingHeard(),
    ]
    # Both came with the first retransmission, 0.25 s after the NEW arrived.
    assert [round(t - net.start, 3) for t, _a in net.actions[A]] == [0.26, 0.26]
    assert net.at(B, Ring) == [(0.005, Ring(1))]
    net.answer()
    net.run(1.0)
    assert net.at(A, Connected)


def test_the_caller_vanishing_while_the_line_rings_ends_the_ringing() -> None:
    """The caller's host goes dark after the set-up: the callee's PING goes unanswered,
    and after its retransmissions the ringing ends (the caller is gone)."""
    net = Net(ring_interval=6.0, timers=Timers(ping_interval=2.0, lagrq_interval=100.0))
    net.dial()
    net.run(1.0)
    net.drop = lambda to, _f: True  # both directions, from 1 s on
    net.run(60.0)
    [(t, ended)] = net.at(B, RingEnded)
    assert ended == RingEnded("the caller is gone: IAX/PING was never acknowledged (6 tries)")
    # The first PING at 2.005 s, unacknowledged through 0.25 + 0.5 + 1 + 2 + 4 + 4 s.
    assert t == pytest.approx(2.005 + 11.75)
    [(_t, failed)] = net.at(A, Failed)
    assert failed.status is ProviderStatus.LINE_UNAVAILABLE
    assert [a.count for _t, a in net.at(B, Ring)] == [1, 2, 3]


# -- the dial core's outcomes, event by event --------------------------------------------------


def _accepted_dialer() -> tuple[Net, Dialer]:
    net = Net()
    net.dial()
    net.run(1.0)
    assert net.dialer is not None and net.caller.state is CallState.ACCEPTED
    return net, net.dialer


@pytest.mark.parametrize(
    ("event", "status", "text"),
    [
        (Busy(), ProviderStatus.BUSY, "busy"),
        (Congestion(), ProviderStatus.LINE_UNAVAILABLE, "congestion"),
    ],
)
def test_busy_and_congestion_hang_up_with_cause_17(
    event: CallEvent, status: ProviderStatus, text: str
) -> None:
    net, dialer = _accepted_dialer()
    assert dialer.event(event, net.now) == [Failed(status, text)]
    assert net.caller.state is CallState.HANGING_UP
    net.flush()
    [(_t, hangup)] = net.frames(B, IaxCommand.HANGUP)
    assert hangup.ies.number(Ie.CAUSECODE) == Cause.USER_BUSY
    assert dialer.event(Answered(), net.now) == []  # late: decided already
    assert dialer.poll(net.now + 3600) == []


def test_a_reject_is_classified_by_its_cause() -> None:
    net, dialer = _accepted_dialer()
    actions = dialer.event(Rejected("Unallocated", 1), net.now)
    assert actions == [Failed(ProviderStatus.BAD_ADDRESS, "Unallocated (cause 1)")]
    assert not dialer.dialing


def test_the_answer_timeout_runs_from_the_new_whatever_the_far_end_says() -> None:
    net = Net(answer_timeout=10.0, ring_interval=1.0)
    net.dial()
    net.run(9.99)
    assert net.dialer is not None and net.dialer.next_deadline() == net.start + 10.0
    assert net.dialer.poll(net.now) == []  # not due yet: nothing happens
    net.run(0.02)
    assert [t for t, _a in net.at(A, Failed)] == [10.0]


# -- illegal actions raise ------------------------------------------------------------------


def test_illegal_actions_raise() -> None:
    ep = Endpoint(rng=random.Random(5))
    call = ep.new_call(B, 0.0)
    dialer = Dialer(call, answer_timeout=5.0, peer="p")
    with pytest.raises(IllegalAction, match="abort"):
        dialer.abort(0.0)  # nothing dialed yet
    dialer.dial(0.0, "1")
    with pytest.raises(IllegalAction, match="dial"):
        dialer.dial(0.1, "2")
    with pytest.raises(IllegalAction, match="Ringer drives an incoming call"):
        Ringer(call, ring_interval=1.0)
    net = Net()
    net.dial()
    net.run(1.0)
    assert net.ringer is not None
    with pytest.raises(IllegalAction, match="Dialer drives an outgoing call"):
        Dialer(net.callee, answer_timeout=1.0, peer="p")
    with pytest.raises(IllegalAction, match="start"):
        net.ringer.start(net.now)  # started already
    with pytest.raises(IllegalAction, match="ring_interval"):
        Ringer(net.callee, ring_interval=0)
    net.answer()
    with pytest.raises(IllegalAction, match="answer"):
        net.answer()  # twice
    with pytest.raises(IllegalAction, match="stop"):
        net.ringer.stop(net.now)  # answered: the media hangs up, not the ring core


def test_the_call_itself_refuses_illegal_actions() -> None:
    """Iax2Call: accept and answer are for an incoming call that is still offered or
    accepted; hangup stays allowed at any time (both ends may hang up at once)."""
    ep = Endpoint(rng=random.Random(6))
    outgoing = ep.new_call(B, 0.0)
    with pytest.raises(IllegalAction, match=r"accept\(\) on an outgoing call that is dialing"):
        outgoing.accept(0.0)
    with pytest.raises(IllegalAction, match="answer"):
        outgoing.answer(0.0)
    net = Net()
    net.dial()
    net.run(1.0)
    callee = net.callee
    with pytest.raises(IllegalAction, match=r"accept\(\) on an incoming call that is accepted"):
        callee.accept(net.now)
    callee.hangup(net.now)
    callee.hangup(net.now)  # twice: a no-op
    with pytest.raises(IllegalAction, match=r"answer\(\) on an incoming call that is hanging_up"):
        callee.answer(net.now)
    assert len(net.ep[B].take_datagrams()) == 1  # one HANGUP
