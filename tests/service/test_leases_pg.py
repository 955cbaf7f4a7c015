"""Several nodes' services on one real PostgreSQL share one queue through leases (issue #18).

Each test runs real services (in this process, each its own store connections, listener
thread, heartbeat, test-provider lines) on a fresh database of a private PostgreSQL cluster,
and one shared data directory (the spool), with one injected clock, so that a lease expires
when the test moves the clock, not when the machine is slow:

* two nodes' dispatchers take jobs from one queue and never dial one job twice; a job
  submitted on a node without a sending line is dialled by a node that has one;
* a dead node's call (its lease expired) is taken over by a live node and settled as
  start-up recovery settles a crash (the confirmed pages kept, the retry resumes after
  them), counted in ``lanfax_lease_takeovers_total``; a fenced outcome write of the node
  that lost the job is refused and its call aborted;
* start-up recovery leaves other nodes' calls alone and settles the node's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.support.faxes import make_fax_tiff
from tests.support.inproc import (
    TEST_PROVIDER,
    provider_of,
    run,
    submit,
    toml_settings,
    wait_status,
)
from tests.support.pg import PgServer, pg_unavailable

from lanfax.model.clock import ManualClock
from lanfax.model.codes import FINAL_QUEUE_STATES, EventId, JobType, QueueStatus
from lanfax.model.errors import Conflict
from lanfax.model.events import NewEvent
from lanfax.model.jobs import Job
from lanfax.model.transitions import JobPatch, Trigger
from lanfax.service.core import FaxService
from lanfax.service.metrics import parse_families
from lanfax.store import JobChange, open_store
from lanfax.store.leases import DISPATCHABLE, LeaseLost, SqlLeases
from lanfax.store.sql import SqlStore

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
#: No heartbeat during a test (renewals and takeovers are driven by the test), so leases
#: last an hour of the injected clock.
BEAT = 1200
LEASE = timedelta(seconds=3 * BEAT)
FINAL = tuple(FINAL_QUEUE_STATES)
_db_names = itertools.count(1)


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    why = pg_unavailable()
    if why is not None:
        pytest.skip(f"PostgreSQL not available: {why}")
    server = PgServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def db_url(pg: PgServer) -> str:
    """A fresh database of the cluster (each test its own queue)."""
    import psycopg

    name = f"lease{next(_db_names)}"
    with psycopg.connect(
        host="127.0.0.1", port=pg.port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return pg.url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fax_tiff(tmp_path_factory.mktemp("doc"), pages=2)


def _toml(
    db: str, node: str, lines: str = "", duration: str = "[0.01, 0.05]", beat: int = BEAT
) -> str:
    lines = lines or '[{number = "200"}, {number = "201"}]'
    return (
        f'[server]\ndatabase = "{db}"\n'
        f'[node]\nname = "{node}"\nheartbeat_s = {beat}\nlease_s = {3 * beat}\n'
        f'[[providers]]\ntype = "{TEST_PROVIDER}"\nlines = {lines}\nduration = {duration}\n'
    )


@contextlib.asynccontextmanager
async def _node(tmp_path: Path, toml: str, clock: ManualClock | None) -> AsyncIterator[FaxService]:
    svc = FaxService(toml_settings(tmp_path, toml), clock=clock, tz=UTC)
    await svc.start()
    try:
        yield svc
    finally:
        await svc.stop()


def _open(db: str) -> SqlStore:
    store = open_store(db)
    assert isinstance(store, SqlStore)
    store.open()
    return store


async def _all_final(svc: FaxService, ids: list[int], timeout: float = 90.0) -> list[Job]:
    async def done() -> list[Job]:
        while True:
            jobs = await svc.ctx.run(svc.ctx.leases.store.jobs, ids)
            if len(jobs) == len(ids) and all(j.queue_status in FINAL for j in jobs):
                return jobs
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(done(), timeout)


def _takeovers(svc: FaxService) -> float:
    body, _type = svc.metrics.render()
    return sum(
        v for name, _l, v in parse_families(body.decode()) if name == "lanfax_lease_takeovers_total"
    )


def test_two_nodes_share_one_queue_and_never_dial_a_job_twice(
    tmp_path: Path, db_url: str, doc: Path
) -> None:
    clock = ManualClock(T0)

    async def body() -> None:
        async with (
            _node(tmp_path, _toml(db_url, "a"), clock) as a,
            _node(tmp_path, _toml(db_url, "b"), clock) as b,
        ):
            ids: list[int] = []
            for i in range(40):  # submitted alternately to the two nodes
                svc = (a, b)[i % 2]
                (job,) = await submit(svc, doc, f"5550{i:03d}")
                ids.append(job.job_id)
            jobs = await _all_final(a, ids)
            assert {j.queue_status for j in jobs} == {QueueStatus.COMPLETED}
            assert all(j.attempts == 1 and j.pages_done == 2 for j in jobs)
            dialled = Counter(c["number"] for svc in (a, b) for c in provider_of(svc).calls)
            assert sorted(dialled) == [f"5550{i:03d}" for i in range(40)]
            assert set(dialled.values()) == {1}, dialled  # every job dialled exactly once
            # Both nodes dialled (each plans over the whole queue; the claim decides).
            assert provider_of(a).calls and provider_of(b).calls
            # Leases were given back with the outcomes.
            owners = await a.ctx.leases.owners(ids)
            assert owners == {}

    run(body(), timeout=180)


def test_a_job_submitted_on_a_node_without_a_sending_line_is_dialled_by_another(
    tmp_path: Path, db_url: str, doc: Path
) -> None:
    """Node a only receives; what is submitted to it is dialled by b, which heard of the
    job through the database (NOTIFY), not through a restart."""
    clock = ManualClock(T0)
    receive_only = '[{number = "300", flags = ["receive"]}]'

    async def body() -> None:
        async with (
            _node(tmp_path, _toml(db_url, "b"), clock) as b,
            _node(tmp_path, _toml(db_url, "a", receive_only), clock) as a,
        ):
            assert a.dispatcher.others_alive  # b was there when a started
            jobs = [(await submit(a, doc, f"555{i:04d}"))[0] for i in range(6)]
            done = await _all_final(a, [j.job_id for j in jobs], timeout=60)
            assert {j.queue_status for j in done} == {QueueStatus.COMPLETED}
            # a has no line for them, but b has: a never marked them "no line".
            events = await a.ctx.run(a.ctx.store.events_after, 0, 1000)
            assert EventId.LINE_UNAVAILABLE not in {e.event_id for e in events}
            assert provider_of(a).calls == []
            assert sorted(c["number"] for c in provider_of(b).calls) == [
                f"555{i:04d}" for i in range(6)
            ]
            # a's copy of the queue follows (from b's events): nothing stays unfinished in it.

            async def in_step() -> None:
                while any(j.job_id in a.ctx.unfinished for j in jobs):
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(in_step(), 30)

    run(body(), timeout=120)


def _dispatch(job: Job) -> JobChange:
    return JobChange(
        job.job_id,
        Trigger.DISPATCH,
        JobPatch(started_at=T0, device_id=1),
        events=(NewEvent(EventId.DIALING, 1, job.job_id, {}),),
    )


def test_a_dead_nodes_call_is_taken_over_after_its_lease_and_resumed_after_its_pages(
    tmp_path: Path, db_url: str
) -> None:
    """Node "dead" claimed a 4-page job and the far end confirmed 2 pages, then the node
    died. Node b, starting, leaves the call alone (the lease runs); once the lease expired,
    b's heartbeat takes the job over: RETRYING with its 2 pages kept, one attempt counted,
    the takeover counted; the retry sends pages 3 and 4 only."""
    clock = ManualClock(T0)
    four = make_fax_tiff(tmp_path / "four", pages=4)

    async def body() -> None:
        async with _node(tmp_path, _toml(db_url, "b"), clock) as b:
            await b.set_config({"pause_server_queue": True})
            (job,) = await submit(b, four, "5551234")
        # The other node, as its process left it: on the call, 2 pages confirmed.
        store = _open(db_url)
        try:
            leases = SqlLeases(store)
            ((_j, lease),) = leases.claim("dead", clock.now(), LEASE, change=_dispatch)
            leases.update_fenced(
                [(lease, JobChange(job.job_id, Trigger.PROGRESS, JobPatch(pages_done=2)))]
            )
        finally:
            store.close()
        async with _node(tmp_path, _toml(db_url, "b"), clock) as b:
            # Start-up recovery: not b's call, and its owner's lease runs: left alone.
            held = await b.get_job(job.job_id)
            assert held.queue_status is QueueStatus.IN_PROGRESS and held.pages_done == 2
            await b._lease_beat()
            assert (await b.get_job(job.job_id)).queue_status is QueueStatus.IN_PROGRESS
            assert _takeovers(b) == 0
            clock.advance(LEASE.total_seconds() + 1)
            await b._lease_beat()
            after = await b.get_job(job.job_id)
            assert after.queue_status is QueueStatus.RETRYING, after
            assert (after.pages_done, after.attempts) == (2, 1)
            # Settled as start-up recovery settles a crash; the event says whose call it was.
            assert after.status_text.startswith("the service stopped during the call")
            events = await b.ctx.run(b.ctx.store.events_after, 0, 1000)
            (settled,) = [
                e for e in events if e.job_id == job.job_id and e.event_id is EventId.DISCONNECTED
            ]
            assert "'dead' stopped during the call" in str(settled.detail["reason"])
            assert _takeovers(b) == 1
            assert await b.ctx.leases.owners([job.job_id]) == {}
            await b.set_config({"pause_server_queue": False})
            clock.advance(3600)
            b.wake()
            done = await wait_status(b, job.job_id, *FINAL, timeout=60)
            assert done.queue_status is QueueStatus.COMPLETED, done
            assert (done.pages_done, done.attempts) == (4, 2)
            assert done.extra["last_call"]["first_page"] == 3
            assert [c["number"] for c in provider_of(b).calls] == ["5551234"]

    run(body(), timeout=180)


def test_a_node_that_lost_its_lease_writes_no_outcome_and_aborts_its_call(
    tmp_path: Path, db_url: str, doc: Path
) -> None:
    """Node a is on a long call when its lease runs out (it stalled: no renewal); node b
    takes the job over and settles it. a's fenced writes are refused from then on: its
    outcome is not written, and its next renewal finds the lease gone and aborts the call."""
    clock = ManualClock(T0)

    async def body() -> None:
        async with (
            _node(tmp_path, _toml(db_url, "a"), clock) as a,
            _node(
                tmp_path, _toml(db_url, "b", '[{number = "300", flags = ["receive"]}]'), clock
            ) as b,
        ):
            (job,) = await submit(a, doc, "900960000")  # a call of 60 s
            await wait_status(a, job.job_id, QueueStatus.IN_PROGRESS, timeout=30)

            async def on_call() -> None:  # the claim has returned its lease to the dispatcher
                while job.job_id not in a.dispatcher._leases:
                    await asyncio.sleep(0.01)

            await asyncio.wait_for(on_call(), 30)
            lease = a.dispatcher._leases[job.job_id]
            assert (lease.node, lease.epoch) == ("a", 1)
            clock.advance(LEASE.total_seconds() + 1)
            await b._lease_beat()  # a did not renew: b takes the call over
            settled = await b.get_job(job.job_id)
            assert settled.queue_status is QueueStatus.RETRYING and settled.attempts == 1
            assert _takeovers(b) == 1
            # An outcome a would write now is refused, and nothing changes.
            outcome = JobChange(
                job.job_id,
                Trigger.DELIVER,
                JobPatch(completed_at=clock.now(), attempts=1, pages_done=2),
                events=(NewEvent(EventId.COMPLETED, 1, job.job_id, {}),),
            )
            with pytest.raises(LeaseLost, match=r"lease on job .* was lost"):
                await a.ctx.leases.write(lease, outcome)
            assert isinstance(LeaseLost("x"), Conflict)
            # a's renewal finds the lease gone: the call is aborted, no outcome written.
            await a._lease_beat()

            async def call_over() -> None:
                while a.dispatcher.is_running(job.job_id):
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(call_over(), 30)
            assert [c["status"] for c in provider_of(a).calls] == ["user_abort"]
            still = await b.ctx.run(b.ctx.store.get_job, job.job_id)
            assert still is not None
            assert still.queue_status is QueueStatus.RETRYING and still.attempts == 1
            assert still.status_text == settled.status_text
            # a's copy of the job is what b wrote, not the call it lost.
            assert a.ctx.unfinished[job.job_id] == still

    run(body(), timeout=180)


def test_start_up_recovery_settles_its_own_calls_and_leaves_other_nodes_calls(
    tmp_path: Path, db_url: str, doc: Path
) -> None:
    clock = ManualClock(T0)

    async def body() -> None:
        async with _node(tmp_path, _toml(db_url, "b"), clock) as b:
            await b.set_config({"pause_server_queue": True})
            mine, others = [(await submit(b, doc, n))[0] for n in ("5550001", "5550002")]
        store = _open(db_url)
        try:
            leases = SqlLeases(store)
            # b's earlier process died on a call of its own; node "c" is on a call now.
            leases.claim("b", clock.now(), LEASE, job_ids=[mine.job_id], change=_dispatch)
            leases.claim("c", clock.now(), LEASE, job_ids=[others.job_id], change=_dispatch)
        finally:
            store.close()
        async with _node(tmp_path, _toml(db_url, "b"), clock) as b:
            own = await b.get_job(mine.job_id)
            assert own.queue_status is QueueStatus.RETRYING and own.attempts == 1
            theirs = await b.get_job(others.job_id)
            assert theirs.queue_status is QueueStatus.IN_PROGRESS and theirs.attempts == 0
            assert await b.ctx.leases.owners([mine.job_id, others.job_id]) == {others.job_id: "c"}
            assert _takeovers(b) == 0  # recovery of its own jobs is not a takeover
            # b does not dial c's job, whatever its own copy of the queue says.
            await b.set_config({"pause_server_queue": False})
            b.wake()
            await asyncio.sleep(0.5)
            assert provider_of(b).calls == []
            claimed = await b.ctx.leases.claim(job_ids=[others.job_id], statuses=DISPATCHABLE)
            assert claimed == []

    run(body(), timeout=120)


def test_a_cancel_committed_elsewhere_reaches_the_node_on_the_call_without_its_message(
    tmp_path: Path, db_url: str, doc: Path
) -> None:
    """Another node committed the cancel of a's call and died before its notification to
    the owner (lanfax.store.notify.ABORTS) went out: a hears the cancel's event all the same
    (every commit with events notifies), finds its call CANCELING, aborts it and writes
    CANCELED, fenced on its lease."""
    clock = ManualClock(T0)

    async def body() -> None:
        async with _node(tmp_path, _toml(db_url, "a"), clock) as a:
            (job,) = await submit(a, doc, "900960000")  # a call of 60 s
            await wait_status(a, job.job_id, QueueStatus.IN_PROGRESS, timeout=30)
            store = _open(db_url)
            try:  # what the other node's cancel commits (control.JobControl.cancel)
                store.update_jobs(
                    [
                        JobChange(
                            job.job_id,
                            Trigger.ABORT,
                            events=(NewEvent(EventId.ABORTING, 1, job.job_id, {}),),
                        )
                    ]
                )
            finally:
                store.close()
            done = await wait_status(a, job.job_id, *FINAL, timeout=30)
            assert done.queue_status is QueueStatus.CANCELED, done
            assert [c["status"] for c in provider_of(a).calls] == ["user_abort"]
            assert await a.ctx.leases.owners([job.job_id]) == {}

    run(body(), timeout=120)


def test_a_receive_on_a_line_of_a_dead_node_is_settled_by_a_live_node(
    tmp_path: Path, db_url: str
) -> None:
    """A receive holds no lease (its line answered it); its device names its node. Once that
    node is not alive (number 5: unknown here, as good as dead), a live node's heartbeat
    settles the receive as start-up recovery would (no pages on disk: a failed receive),
    and counts it as a takeover."""
    clock = ManualClock(T0)

    async def body() -> None:
        async with _node(tmp_path, _toml(db_url, "b"), clock) as b:
            store = _open(db_url)
            try:
                (rx,) = store.add_jobs(
                    [
                        Job(
                            0,
                            JobType.RECEIVE,
                            QueueStatus.IN_PROGRESS,
                            clock.now(),
                            device_id=5 * 65536 + 1,
                        )
                    ],
                    [NewEvent(EventId.ANSWERED, 5 * 65536 + 1, 0, {})],
                )
            finally:
                store.close()

            async def heard() -> None:  # b's copy of the queue has it (NOTIFY, then a read)
                while rx.job_id not in b.ctx.unfinished:
                    await asyncio.sleep(0.02)

            await asyncio.wait_for(heard(), 30)
            await b._lease_beat()
            done = await b.get_job(rx.job_id)
            assert done.job_type is JobType.FAIL_RECEIVE, done
            assert done.queue_status in FINAL
            assert _takeovers(b) == 1
            await b._lease_beat()  # settled once
            assert _takeovers(b) == 1

    run(body(), timeout=120)


def test_the_heartbeat_renews_a_long_calls_lease_so_no_live_node_takes_it(
    tmp_path: Path, db_url: str, doc: Path
) -> None:
    """Real time, real heartbeats (1 s, leases of 3 s): a call of 7 s outlives its first
    lease several times over; a's heartbeat renews it, so b's heartbeats (which look for
    expired leases every second) never take it, and the call ends COMPLETED, once."""
    receive_only = '[{number = "300", flags = ["receive"]}]'

    async def body() -> None:
        async with (
            _node(tmp_path, _toml(db_url, "a", beat=1), None) as a,
            _node(tmp_path, _toml(db_url, "b", receive_only, beat=1), None) as b,
        ):
            (job,) = await submit(a, doc, "90097000")  # a call of 7 s
            done = await wait_status(a, job.job_id, *FINAL, timeout=60)
            assert done.queue_status is QueueStatus.COMPLETED and done.attempts == 1, done
            assert [c["status"] for c in provider_of(a).calls] == ["completed"]
            assert _takeovers(b) == 0 and _takeovers(a) == 0

    run(body(), timeout=120)
