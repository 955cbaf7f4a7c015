"""What is particular to the in-memory store (#17): its URLs, its life cycle, its
transactions, and the switch that runs the service's tests on it. The store contract itself
runs on it with every other backend (conftest.py's ``memory`` variant)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.support.faxes import make_fax_tiff
from tests.support.inproc import chosen_store_url, run, running_service, submit
from tests.support.server import TEST_PROVIDER_TOML, start_lanfax_server

from lanfax.client import Client
from lanfax.model.codes import EventId, JobType, QueueStatus
from lanfax.model.contacts import MemberSpec
from lanfax.model.errors import Conflict, InvalidInput, StoreError
from lanfax.model.events import NewEvent
from lanfax.model.jobs import Job, JobQuery
from lanfax.model.transitions import JobPatch, Trigger
from lanfax.store import JobChange, open_store
from lanfax.store.memory import (
    MemoryStore,
    forget_memory_store,
    forget_memory_stores,
    open_memory_store,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _job(i: int = 0, **kw: object) -> Job:
    base: dict[str, object] = {
        "job_id": 0,
        "job_type": JobType.SEND,
        "queue_status": QueueStatus.PENDING,
        "submitted_at": T0,
        "recipient_number": f"555{i}",
    }
    base.update(kw)
    return Job(**base)  # type: ignore[arg-type]


def test_memory_urls_open_private_or_named_stores() -> None:
    a, b = open_store("memory://"), open_store("memory:")
    assert isinstance(a, MemoryStore) and a is not b
    a.add_jobs([_job()])
    assert b.count_jobs(JobQuery()) == 0  # private: nothing shared
    try:
        named = open_store("memory://shared-test")
        (job,) = named.add_jobs([_job(1)])
        named.close()
        again = open_store("memory:///shared-test")  # the same name, however many slashes
        assert again is named and again.get_job(job.job_id) == job
        forget_memory_store("memory://shared-test")
        assert open_store("memory://shared-test").get_job(job.job_id) is None
    finally:
        forget_memory_stores()
    with pytest.raises(InvalidInput):
        open_memory_store("sqlite://")


def test_a_closed_store_refuses_calls_and_reopens_with_its_data() -> None:
    with open_memory_store() as store:
        (job,) = store.add_jobs([_job()])
    for call in (
        lambda: store.get_job(job.job_id),
        lambda: store.add_jobs([_job()]),
        lambda: store.archive.totals("incoming"),
        lambda: store.contacts.get_contact(1),
    ):
        with pytest.raises(StoreError) as info:
            call()
        assert "not open" in info.value.message and info.value.hint
    store.open()
    assert store.get_job(job.job_id) == job


def test_a_failure_inside_a_write_undoes_everything_it_did() -> None:
    # Each step below fails after the store already changed something in the same call.
    store = open_memory_store()
    a, b = store.add_jobs([_job(1), _job(2, queue_status=QueueStatus.COMPLETED)])
    seq = store.last_event_seq()
    with pytest.raises(Conflict):
        store.update_jobs(
            [
                JobChange(
                    a.job_id,
                    Trigger.DISPATCH,
                    JobPatch(attempts=3),
                    events=[NewEvent(EventId.JOB_CHANGED)],
                ),
                JobChange(b.job_id, Trigger.DISPATCH, JobPatch(attempts=1)),  # completed
            ]
        )
    assert store.get_job(a.job_id) == a and store.last_event_seq() == seq
    assert store.events_after(0) == []
    with pytest.raises(InvalidInput):  # the second event has no job at its index: all goes
        store.add_jobs([_job(3)], [NewEvent(EventId.JOB_QUEUED, job_id=0)] * 2)
    (c,) = store.add_jobs([_job(4)])
    assert c.job_id == b.job_id + 1  # the failed insert gave its id back, as AUTOINCREMENT
    book = store.contacts
    book.add_list("u1", "Taken", "", [], ["u1"])
    with pytest.raises(Conflict):
        book.add_contacts("u1", [{"name": "New"}, {"name": "taken"}])
    assert book.list_contacts(["u1"]) == []
    (mine,), _ = book.add_contacts("u1", [{"name": "Mine"}])
    with pytest.raises(InvalidInput):  # the rename happened before the bad member
        book.update_list(
            book.list_lists(["u1"])[0].list_id,
            name="Renamed",
            notes=None,
            members=[MemberSpec(contact_id=mine.contact_id + 50)],
            allowed_owners=["u1"],
        )
    assert [lst.name for lst in book.list_lists(["u1"])] == ["Taken"]


def test_rows_given_back_by_a_rollback_keep_the_pages_in_order() -> None:
    # Pages and event cursors bisect the keys: a rollback that re-inserts deleted rows must
    # leave them in id order, not at the end.
    store = open_memory_store()
    ids = [j.job_id for j in store.add_jobs([_job(i) for i in range(6)])]
    store.append_events([NewEvent(EventId.IDLE, device_id=i) for i in range(6)])
    with pytest.raises(InvalidInput):  # deletes first, then refuses the event: all undone
        store.delete_jobs(ids[1:5:2], [NewEvent(EventId.DELETED, job_id=0)])
    with pytest.raises(InvalidInput):
        store.prune_events(datetime(2099, 1, 1))  # naive: refused before anything goes
    assert [j.job_id for j in store.list_jobs(JobQuery())] == ids
    assert [j.job_id for j in store.list_jobs(JobQuery(descending=True))] == ids[::-1]
    assert [j.job_id for j in store.list_jobs(JobQuery(after_id=ids[2], limit=2))] == ids[3:5]
    assert [j.job_id for j in store.list_jobs(JobQuery(before_id=ids[2]))] == ids[1::-1]
    seqs = [e.seq for e in store.events_after(0)]
    assert seqs == sorted(seqs) and len(seqs) == 6
    assert [e.seq for e in store.events_after(seqs[1], limit=2)] == seqs[2:4]


def test_reads_never_hand_out_the_stored_objects() -> None:
    store = open_memory_store()
    store.put_settings("config", {"list": [1, 2]})
    store.get_settings("config")["list"].append(3)
    assert store.get_settings("config") == {"list": [1, 2]}
    (job,) = store.add_jobs([_job(extra={"k": [1]})])
    got = store.get_job(job.job_id)
    assert got is not None
    got.extra["k"].append(2)
    assert store.get_job(job.job_id) == job


def test_threads_share_one_store_without_losing_a_write() -> None:
    store = open_memory_store()
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(50):
                (job,) = store.add_jobs([_job(i, user_name=f"t{t}")])
                store.update_jobs([JobChange(job.job_id, Trigger.DISPATCH, JobPatch(attempts=1))])
        except BaseException as exc:  # reported below; a thread cannot raise into the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors
    jobs = store.list_jobs(JobQuery(limit=1000))
    assert len(jobs) == 200 and {(j.attempts, j.queue_status) for j in jobs} == {
        (1, QueueStatus.IN_PROGRESS)
    }
    assert [j.job_id for j in jobs] == list(range(1, 201))


# -- LANFAX_TEST_STORE: the service's tests on the memory store ------------------------------


def test_the_switch_names_a_store_per_test_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LANFAX_TEST_STORE", raising=False)
    assert chosen_store_url(tmp_path) is None
    monkeypatch.setenv("LANFAX_TEST_STORE", "sqlite")
    assert chosen_store_url(tmp_path) is None
    monkeypatch.setenv("LANFAX_TEST_STORE", "memory")
    assert chosen_store_url(tmp_path) == f"memory://{tmp_path}"
    monkeypatch.setenv("LANFAX_TEST_STORE", "mongo")
    with pytest.raises(ValueError, match="mongo"):
        chosen_store_url(tmp_path)


def test_a_service_on_the_memory_store_sends_and_finds_its_jobs_after_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANFAX_TEST_STORE", "memory")
    tiff = make_fax_tiff(tmp_path / "doc")

    async def main() -> None:
        async with running_service(tmp_path) as svc:
            assert isinstance(svc.ctx.store, MemoryStore)
            (job,) = await submit(svc, tiff, "5550100")
            assert (await svc.get_job(job.job_id)).recipient_number == "5550100"
        async with running_service(tmp_path) as svc:  # the same process, the same store
            assert (await svc.get_job(job.job_id)).job_id == job.job_id

    try:
        run(main(), timeout=120)
    finally:
        forget_memory_stores()


def test_lanfax_serve_on_a_memory_store_sends_and_forgets_at_restart(tmp_path: Path) -> None:
    """The whole server on ``database = "memory://"``: a fax goes out and is listed; a
    restart starts from nothing (the durability the URL promises, and no more)."""
    toml = '[server]\ndatabase = "memory://"\n' + TEST_PROVIDER_TOML
    doc = make_fax_tiff(tmp_path / "doc")
    with start_lanfax_server(tmp_path, toml) as server:
        with Client(server.url, user="tester", timeout=10) as client:
            client.set_config(pause_server_queue=False)
            (job,) = client.send(doc, to="5551234")
            (final,) = client.wait([job.job_id], timeout=60)
            assert final.queue_status is QueueStatus.COMPLETED
            assert [j.job_id for j in client.jobs().jobs] == [job.job_id]
        server.kill()
        server.start()
        with Client(server.url, user="tester", timeout=10) as client:
            assert client.jobs().jobs == []
