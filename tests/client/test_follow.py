"""The clients' event-stream and wait core (``lanfax.client._follow``), driven by hand.

No socket and no sleep: a flow yields what it wants done, the test answers, and time is a
virtual clock that moves when the flow sleeps or reads. Both clients run these same flows
(tests/client/test_events.py, test_sync.py and test_async.py run them over a real server).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from lanfax.client import _follow as f
from lanfax.client._base import Response
from lanfax.client._handles import WaitTimeout
from lanfax.model.codes import EventId, JobType, QueueStatus
from lanfax.model.errors import AccessDenied, FaxError, NotFound, Unavailable
from lanfax.model.events import Event
from lanfax.model.jobs import Job
from lanfax.model.wire import to_wire

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sse(*seqs: int, job_id: int = 7, retry: int | None = None) -> bytes:
    out = b"" if retry is None else f"retry: {retry}\n\n".encode()
    for seq in seqs:
        ev = Event(seq, T0, EventId.JOB_QUEUED, job_id=job_id)
        out += f"id: {seq}\nevent: job_queued\ndata: {json.dumps(to_wire(ev))}\n\n".encode()
    return out


def down(reason: str = "connection refused") -> f.Broken:
    return f.Broken(Unavailable(f"cannot reach the server: {reason}", url="x"))


def job(job_id: int, status: QueueStatus = QueueStatus.PENDING) -> Job:
    return Job(job_id, JobType.SEND, status, T0)


@dataclass
class Script:
    """Answers a flow's actions from a list of replies, recording what it asked for."""

    clock: Clock
    replies: list[Any]
    asked: list[f.Action] = field(default_factory=list)
    emitted: list[Event | None] = field(default_factory=list)

    def perform(self, action: f.Action) -> Any:
        self.asked.append(action)
        if isinstance(action, f.Emit):
            self.emitted.append(action.event)
            return None
        if isinstance(action, f.Sleep):
            self.clock.now += action.seconds
            return None
        if not self.replies:
            raise AssertionError(f"no reply scripted for {action!r}")
        reply = self.replies.pop(0)
        if callable(reply):
            reply = reply(action)
        if isinstance(action, f.Read) and isinstance(reply, f.Quiet):
            assert action.timeout is not None
            self.clock.now += action.timeout
        return reply


def drive(flow: f.Flow[Any], script: Script, steps: int = 10_000) -> Any:
    reply: Any = None
    for _ in range(steps):
        try:
            action = flow.send(reply)
        except StopIteration as stop:
            return stop.value
        reply = script.perform(action)
    raise AssertionError("the flow did not end")


def opens(script: Script) -> list[f.Open]:
    return [a for a in script.asked if isinstance(a, f.Open)]


# -- the event stream ---------------------------------------------------------------------------


def test_a_first_connection_that_fails_raises_at_once() -> None:
    clock = Clock()
    script = Script(clock, [down()])
    with pytest.raises(Unavailable, match="connection refused"):
        drive(f.event_flow(0, clock, reconnect_for=None), script)
    assert len(opens(script)) == 1 and not any(isinstance(a, f.Sleep) for a in script.asked)


def test_a_refusal_ends_the_stream_even_after_it_was_connected() -> None:
    clock = Clock()
    problem = json.dumps({"type": "urn:lanfax:error:access-denied", "detail": "no"}).encode()
    refused = f.Refused(Response(403, {"content-type": "application/problem+json"}, problem))
    script = Script(clock, [f.Opened(), f.Data(sse(1, 2)), down("reset"), refused])
    with pytest.raises(AccessDenied, match="no"):
        drive(f.event_flow(0, clock, reconnect_for=None), script)
    assert [e.seq for e in script.emitted if e is not None] == [1, 2]


def test_reconnects_with_last_event_id_and_never_repeats() -> None:
    clock = Clock()
    script = Script(
        clock,
        [
            f.Opened(),
            f.Data(sse(4, 5, retry=1000)),
            f.Data(sse(6)[:10]),  # half an event: the rest never comes
            down("server restarted"),
            down(),  # still restarting
            f.Opened(),
            f.Data(sse(5, 6, 7, retry=1000)),  # the server sends again what it is not sure was seen
            down("gone for good"),
            *[down()] * 40,
        ],
    )
    with pytest.raises(Unavailable, match="connection refused"):
        drive(f.event_flow(3, clock, reconnect_for=30.0), script)
    assert [e.seq for e in script.emitted if e is not None] == [4, 5, 6, 7]
    first, second, third, *_ = opens(script)
    assert first.query == {"after": "3"} and first.headers["Last-Event-ID"] == "3"
    assert second.headers["Last-Event-ID"] == "5" and third.headers["Last-Event-ID"] == "5"
    assert opens(script)[-1].headers["Last-Event-ID"] == "7"
    # the server's retry (1 s) between attempts; gave up once down for more than 30 s
    sleeps = [a.seconds for a in script.asked if isinstance(a, f.Sleep)]
    assert set(sleeps) == {1.0} and 30 < sum(sleeps) - 2 <= 32
    assert script.replies, "it gave up early"


def test_reconnect_for_none_never_gives_up_once_connected() -> None:
    clock = Clock()
    script = Script(clock, [f.Opened(), down(), *[down()] * 500, f.Opened(), f.Data(sse(1))])
    flow = f.event_flow(0, clock, reconnect_for=None)
    reply: Any = None
    while not any(e is not None for e in script.emitted):
        reply = script.perform(flow.send(reply))
    assert clock.now - 1000.0 >= 500 * 0.2  # the default retry delay, 0.2 s a time
    flow.close()


def test_idle_reads_emit_none_and_connects_say_so() -> None:
    clock = Clock()
    flow = f.event_flow(0, clock, idle=0.5)
    first = flow.send(None)
    assert isinstance(first, f.Open) and first.query == {"after": "0"}
    assert flow.send(f.Opened()) == f.Emit(None, connected=True)
    assert flow.send(None) == f.Read(0.5)
    assert flow.send(f.Quiet()) == f.Emit(None)
    assert flow.send(None) == f.Read(0.5)
    emit = flow.send(f.Data(sse(1)))
    assert isinstance(emit, f.Emit) and emit.event is not None and emit.event.seq == 1
    assert not emit.connected
    assert flow.send(None) == f.Read(0.5)
    with pytest.raises(TypeError):
        flow.send(f.Opened())  # a Read answered as if it were an Open: a driver's bug


# -- wait -----------------------------------------------------------------------------------------


def changing(
    states: dict[int, list[QueueStatus]],
) -> Callable[[f.Action], Job]:
    """A GetJob answer: each job's next state from its list (the last one sticks)."""

    def answer(action: f.Action) -> Job:
        assert isinstance(action, f.GetJob)
        seq = states[action.job_id]
        return job(action.job_id, seq.pop(0) if len(seq) > 1 else seq[0])

    return answer


def replies_for_wait(
    answer: Callable[[f.Action], Any], stream: Iterator[Any]
) -> Callable[[f.Action], Any]:
    def reply(action: f.Action) -> Any:
        return answer(action) if isinstance(action, f.GetJob) else next(stream)

    return reply


def test_wait_subscribes_first_then_reads_and_follows_events() -> None:
    clock = Clock()
    P, R, C = QueueStatus.PENDING, QueueStatus.IN_PROGRESS, QueueStatus.COMPLETED
    answer = changing({7: [P, R, C], 8: [C]})
    stream = iter([f.Opened(), f.Data(sse(11, job_id=99)), f.Data(sse(12)), f.Data(sse(13))])
    script = Script(clock, [replies_for_wait(answer, stream)] * 100)
    seen: list[tuple[int, QueueStatus]] = []
    result = drive(
        f.wait_flow([7, 8, 7], 10, clock, 60, lambda j: seen.append((j.job_id, j.queue_status))),
        script,
    )
    assert [(j.job_id, j.queue_status) for j in result] == [(7, C), (8, C)]
    kinds = [type(a).__name__ for a in script.asked]
    assert kinds[:3] == ["Open", "GetJob", "GetJob"]  # subscribed before the first read
    gets = [a.job_id for a in script.asked if isinstance(a, f.GetJob)]
    assert gets == [7, 8, 7, 7]  # job 99's event read nothing; job 8 was final at once
    assert seen == [(7, P), (8, C), (7, R), (7, C)]  # each new snapshot once
    assert opens(script)[0].headers["Last-Event-ID"] == "10"


def test_wait_polls_every_two_seconds_without_events() -> None:
    clock = Clock()
    answer = changing({5: [QueueStatus.PENDING] * 4 + [QueueStatus.FAILED]})
    stream = iter([f.Opened(), *[f.Quiet()] * 100])
    script = Script(clock, [replies_for_wait(answer, stream)] * 200)
    [end] = drive(f.wait_flow([5], 0, clock, None), script)
    assert end.queue_status is QueueStatus.FAILED
    reads = [a.timeout for a in script.asked if isinstance(a, f.Read)]
    assert reads and all(t is not None and 0 < t <= 0.5 for t in reads)
    assert 7.9 <= clock.now - 1000.0 <= 8.1  # four polls, two seconds apart


def test_wait_timeout_holds_every_job_read_and_names_the_pending() -> None:
    clock = Clock()
    P, C = QueueStatus.PENDING, QueueStatus.COMPLETED
    answer = changing({1: [C], 2: [P]})
    stream = iter([f.Opened(), *[f.Quiet()] * 100])
    script = Script(clock, [replies_for_wait(answer, stream)] * 200)
    with pytest.raises(WaitTimeout) as info:
        drive(f.wait_flow([1, 2], 0, clock, 3.3), script)
    err = info.value
    assert [(j.job_id, j.queue_status) for j in err.jobs] == [(1, C), (2, P)]
    assert err.job_ids == [1, 2] and err.pending == [2]
    assert err.exit_code == 12 and "1 job(s) still not finished: 2" in err.message
    assert clock.now - 1000.0 == pytest.approx(3.3)  # at the deadline, not a tick later


def test_wait_timeout_while_the_server_is_away() -> None:
    clock = Clock()
    answer = changing({4: [QueueStatus.PENDING]})
    stream = iter([f.Opened(), f.Quiet(), down(), *[down()] * 1000])
    script = Script(clock, [replies_for_wait(answer, stream)] * 2000)
    with pytest.raises(WaitTimeout) as info:
        drive(f.wait_flow([4], 0, clock, 10.0), script)
    assert info.value.pending == [4] and [j.job_id for j in info.value.jobs] == [4]
    assert clock.now - 1000.0 == pytest.approx(10.0)


def test_wait_bounds_a_reconnect_by_its_deadline() -> None:
    """A server that accepts but does not answer must not hold a wait a whole connect
    timeout past its deadline: each Open carries what is left of the wait."""
    clock = Clock()
    answer = changing({4: [QueueStatus.PENDING]})

    stream = iter([f.Quiet(), down()])  # connected, then the server goes away
    opened: list[f.Open] = []

    def reply(action: f.Action) -> Any:
        if isinstance(action, f.GetJob):
            return answer(action)
        if isinstance(action, f.Open):
            if not opened:
                opened.append(action)
                return f.Opened()
            clock.now += f.connect_bound(action)  # it accepts, never answers: the bound
            return down("timed out")
        return next(stream)

    script = Script(clock, [reply] * 200)
    with pytest.raises(WaitTimeout):
        drive(f.wait_flow([4], 0, clock, 4.0), script)
    first, *again = opens(script)
    assert first.timeout is not None and first.timeout == pytest.approx(4.0)
    assert again and all(o.timeout is not None and o.timeout <= 4.0 for o in again)
    assert clock.now - 1000.0 == pytest.approx(4.0, abs=0.02)  # not 4 s + 10 s
    # Without a deadline the driver's own connect timeout holds.
    assert f.connect_bound(f.Open({}, {})) == f.CONNECT_TIMEOUT
    assert f.connect_bound(f.Open({}, {}, 0.0)) > 0  # never "non-blocking"


def test_wait_raises_what_ends_the_stream() -> None:
    clock = Clock()
    with pytest.raises(Unavailable):
        drive(f.wait_flow([1], 0, clock, 5), Script(clock, [down()]))

    def gone(action: f.Action) -> Any:
        raise NotFound("no job 1")  # as a driver's job read raises it

    with pytest.raises(NotFound):
        drive(f.wait_flow([1], 0, clock, 5), Script(clock, [f.Opened(), gone]))


def test_wait_timeout_before_any_read_names_every_job() -> None:
    err = WaitTimeout([], [3, 4])
    assert err.pending == [3, 4] and err.jobs == [] and "2 job(s)" in err.message
    old = WaitTimeout([job(1), replace(job(2), queue_status=QueueStatus.COMPLETED)])
    assert old.job_ids == [1, 2] and old.pending == [1]
    assert isinstance(old, FaxError)


@pytest.mark.parametrize("newest", [0, 1, 2, 1023, 1024, 1025, 4096, 70_001])
def test_the_newest_cursor_in_a_few_probes(newest: int) -> None:
    """``latest_probes`` is a request flow (both clients drive it, ``_flow``): each probe is
    a backlog request for one event after a cursor."""
    from lanfax.client._core import Op, latest_probes, run_flow

    probes: list[int] = []

    def run(op: Op[Any]) -> bool:
        assert op.method == "GET" and op.path.endswith("/events")
        assert op.query["follow"] == "false" and op.query["limit"] == "1"
        probes.append(int(op.query["after"]))
        return newest > probes[-1]  # what the server's answer decodes to

    assert run_flow(latest_probes(), run) == newest
    assert len(probes) <= 2 * max(newest, 1024).bit_length() + 2  # O(log n)
    assert probes[0] == 0
