"""The event stream: resumes across a server restart without dropping or repeating."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from tests.support.server import TEST_PROVIDER_TOML, LanfaxServer, start_lanfax_server

from lanfax.client import AsyncClient, Client, Unavailable, WaitTimeout
from lanfax.model import Event, EventId
from lanfax.model.errors import FaxError, Unauthenticated


def _all_stored(client: Client) -> list[Event]:
    out: list[Event] = []
    while True:
        batch = client.events_backlog(out[-1].seq if out else 0)
        if not batch:
            return out
        out += batch


def test_events_survive_a_server_restart(tmp_path: Path, doc: Path) -> None:
    with start_lanfax_server(tmp_path, TEST_PROVIDER_TOML) as server:
        main = Client(server.url, timeout=10)
        main.set_config(pause_server_queue=True)  # queued jobs make a known, small set of events
        got: list[Event] = []
        first_seen = threading.Event()
        failure: list[BaseException] = []

        def follow() -> None:
            try:
                with Client(server.url, timeout=10) as c:
                    for ev in c.events(after=0, reconnect_for=60):
                        got.append(ev)
                        if ev.job_id == first_job:
                            first_seen.set()
                        queued = {e.job_id for e in got if e.event_id == EventId.JOB_QUEUED}
                        if len(queued) == 3:  # a, then b and c after the restart
                            return
            except BaseException as exc:  # reported by the test below
                failure.append(exc)
                first_seen.set()

        [a] = main.send(doc, to="301")
        first_job = a.job_id
        t = threading.Thread(target=follow, daemon=True)
        t.start()
        assert first_seen.wait(30), "the follower never saw the first job"
        server.restart()  # SIGKILL and start again on the same port
        [b] = main.send(doc, to="302")
        [c] = main.send(doc, to="303")
        t.join(60)
        assert not t.is_alive() and not failure, failure
        seqs = [e.seq for e in got]
        assert seqs == sorted(set(seqs)), "an event was repeated or out of order"
        stored = _all_stored(main)
        assert got == [e for e in stored if e.seq <= seqs[-1]], "an event was dropped"
        queued = {e.job_id for e in got if e.event_id == EventId.JOB_QUEUED}
        assert queued == {a.job_id, b.job_id, c.job_id}
        main.close()


def test_events_from_now_skips_the_past(tmp_path: Path, doc: Path) -> None:
    with start_lanfax_server(tmp_path, TEST_PROVIDER_TOML) as server, Client(server.url) as c:
        c.set_config(pause_server_queue=True)
        old = c.send(doc, to="311")[0]
        latest = c.latest_event_seq()
        assert latest == _all_stored(c)[-1].seq
        stream = c.events()  # from now on
        new = c.send(doc, to="312")[0]
        first = next(stream)
        assert first.seq > latest and first.job_id == new.job_id != old.job_id


def test_both_clients_end_streams_and_waits_alike(
    server: LanfaxServer, paused: Client, doc: Path, unused_port: int
) -> None:
    """One core under both clients: the same error for a refused stream and for no server,
    and the same WaitTimeout (jobs read, every id, the pending ones)."""

    def sync_first(url: str, **kw: Any) -> BaseException:
        with Client(url, timeout=10, **kw) as c:
            try:
                next(c.events(after=0))
            except BaseException as exc:
                return exc
        raise AssertionError("the stream did not end")

    def async_first(url: str, **kw: Any) -> BaseException:
        async def run() -> BaseException:
            async with AsyncClient(url, timeout=10, **kw) as c:
                try:
                    await anext(aiter(c.events(after=0)))
                except BaseException as exc:
                    return exc
            raise AssertionError("the stream did not end")

        return asyncio.run(run())

    nowhere = f"http://127.0.0.1:{unused_port}"
    for first in (sync_first, async_first):
        assert isinstance(first(nowhere), Unavailable)

    [job] = paused.send(doc, to="321")  # the queue is paused: it stays pending
    for first in (sync_first, async_first):
        # a refusal (401) ends the stream at once: no retry, the server's own error
        assert isinstance(first(server.url, token="lfx_nope_nope"), Unauthenticated)
        assert isinstance(first(server.url, auth=("nobody", "wrong-password")), FaxError)

    with pytest.raises(WaitTimeout) as sync_timeout:
        paused.wait([job.job_id, job.job_id], timeout=1.0)

    async def async_wait() -> WaitTimeout:
        async with AsyncClient(server.url, user="tester", timeout=10) as c:
            with pytest.raises(WaitTimeout) as info:
                await c.wait([job.job_id], timeout=1.0)
        return info.value

    a = asyncio.run(async_wait())
    s = sync_timeout.value
    assert (s.job_ids, s.pending) == (a.job_ids, a.pending) == ([job.job_id], [job.job_id])
    assert [j.job_id for j in s.jobs] == [j.job_id for j in a.jobs] == [job.job_id]
    assert s.message == a.message and s.exit_code == a.exit_code == 12
    paused.cancel(job.job_id)
