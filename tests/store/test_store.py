"""The store's contract, on SQLite and on PostgreSQL (see conftest.py)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import typing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lanfax.model.clock import ManualClock
from lanfax.model.codes import NO_JOB, EventId, JobType, QueueStatus
from lanfax.model.errors import Conflict, InvalidInput, NotFound, StoreError
from lanfax.model.events import NewEvent
from lanfax.model.jobs import Job
from lanfax.model.transitions import JobPatch, Trigger
from lanfax.store import JobChange, JobQuery, Store, open_store
from lanfax.store.api import (
    ArchiveStore,
    AuditEntry,
    AuditStore,
    ContactStore,
    IppStore,
    ReceiptStore,
)
from lanfax.store.audit import AuditQuery
from lanfax.store.sql import SqlStore

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def make_job(i: int = 0, **kw: object) -> Job:
    base: dict[str, object] = {
        "job_id": 0,
        "job_type": JobType.SEND,
        "queue_status": QueueStatus.PENDING,
        "submitted_at": T0 + timedelta(seconds=i),
        "recipient_number": f"+4930{i:04d}",
    }
    base.update(kw)
    return Job(**base)  # type: ignore[arg-type]


# -- add / get / list ------------------------------------------------------------------------


def test_add_assigns_increasing_ids_and_get_reads_back(store: SqlStore) -> None:
    given = [make_job(i, user_name=f"u{i}") for i in range(3)]
    added = store.add_jobs(given)
    ids = [j.job_id for j in added]
    assert ids == sorted(ids) and len(set(ids)) == 3 and ids[0] >= 1
    for g, a in zip(given, added, strict=True):
        assert a == g.replace(job_id=a.job_id)
        assert store.get_job(a.job_id) == a
    assert store.get_job(max(ids) + 1000) is None


def test_add_events_job_id_zero_means_the_job_at_the_same_index(store: SqlStore) -> None:
    added = store.add_jobs(
        [make_job(1), make_job(2)],
        [
            NewEvent(EventId.JOB_QUEUED, job_id=0),
            NewEvent(EventId.JOB_QUEUED, job_id=0),
            NewEvent(EventId.CONFIG_CHANGED),
        ],
    )
    evs = store.events_after(0)
    assert [e.job_id for e in evs] == [added[0].job_id, added[1].job_id, NO_JOB]


def test_add_event_with_job_id_zero_past_the_jobs_is_refused_and_nothing_added(
    store: SqlStore,
) -> None:
    with pytest.raises(InvalidInput):
        store.add_jobs([make_job(1)], [NewEvent(EventId.JOB_QUEUED, job_id=0)] * 2)
    assert store.count_jobs(JobQuery()) == 0 and store.last_event_seq() == 0


def test_add_jobs_commits_audit_entries_in_the_same_transaction(store: SqlStore) -> None:
    audit = store.audit
    entry = AuditEntry(T0, "ann", "127.0.0.1", "submit", detail={"status": 201})
    queued = [NewEvent(EventId.JOB_QUEUED, job_id=0)]
    store.add_jobs([make_job(1)], queued, [entry])
    (got,) = audit.query(AuditQuery())
    assert (got.at, got.user_name, got.action, got.detail) == (T0, "ann", "submit", {"status": 201})
    # all or nothing: a refused batch leaves no audit entry behind, and vice versa
    with pytest.raises(InvalidInput):
        store.add_jobs([make_job(2)], queued * 2, [entry])
    with pytest.raises(InvalidInput):
        store.add_jobs([make_job(3)], queued, [dataclasses.replace(entry, detail={"x": {1, 2}})])
    assert len(audit.query(AuditQuery())) == 1 and store.count_jobs(JobQuery()) == 1


@pytest.fixture
def populated(store: SqlStore) -> tuple[SqlStore, list[Job]]:
    statuses = [QueueStatus.PENDING, QueueStatus.COMPLETED, QueueStatus.FAILED, QueueStatus.PAUSED]
    jobs = [
        make_job(
            i,
            queue_status=statuses[i % 4],
            job_type=JobType.RECEIVE if i % 5 == 0 else JobType.SEND,
            user_name=f"user{i % 3}",
            broadcast_id=f"b{i // 6}",
        )
        for i in range(25)
    ]
    return store, store.add_jobs(jobs)


def test_keyset_pages_ascending_and_descending(populated: tuple[SqlStore, list[Job]]) -> None:
    store, jobs = populated
    ids = [j.job_id for j in jobs]
    seen: list[int] = []
    after: int | None = None
    while True:
        page = store.list_jobs(JobQuery(limit=7, after_id=after))
        if not page:
            break
        seen += [j.job_id for j in page]
        after = page[-1].job_id
    assert seen == sorted(ids)
    seen = []
    before: int | None = None
    first = True
    while True:
        q = JobQuery(limit=7, descending=True) if first else JobQuery(limit=7, before_id=before)
        first = False
        page = store.list_jobs(q)
        if not page:
            break
        seen += [j.job_id for j in page]
        before = page[-1].job_id
    assert seen == sorted(ids, reverse=True)


@pytest.mark.parametrize(
    "query",
    [
        JobQuery(statuses=frozenset({QueueStatus.PENDING, QueueStatus.PAUSED})),
        JobQuery(job_types=frozenset({JobType.RECEIVE})),
        JobQuery(user_name="user1"),
        JobQuery(broadcast_id="b2"),
        JobQuery(user_name="user2", statuses=frozenset({QueueStatus.COMPLETED})),
        JobQuery(statuses=frozenset()),
        JobQuery(user_name="nobody"),
    ],
)
def test_filters_match_what_was_added(
    populated: tuple[SqlStore, list[Job]], query: JobQuery
) -> None:
    store, jobs = populated

    def wanted(j: Job) -> bool:
        return (
            (query.statuses is None or j.queue_status in query.statuses)
            and (query.job_types is None or j.job_type in query.job_types)
            and (query.user_name is None or j.user_name == query.user_name)
            and (query.broadcast_id is None or j.broadcast_id == query.broadcast_id)
        )

    expected = [j for j in jobs if wanted(j)]
    assert store.list_jobs(query) == expected
    assert store.count_jobs(query) == len(expected)
    # Paging with a filter never leaks a job that does not match.
    if len(expected) > 2:
        mid = expected[1].job_id
        after = store.list_jobs(dataclasses.replace(query, after_id=mid))
        assert after == expected[2:]


def test_unfinished_jobs_are_the_non_final_ones_oldest_first(
    populated: tuple[SqlStore, list[Job]],
) -> None:
    store, jobs = populated
    assert store.unfinished_jobs() == [j for j in jobs if not j.queue_status.is_final]


@pytest.mark.parametrize(
    "query", [JobQuery(limit=0), JobQuery(limit=10**6), JobQuery(after_id=1, before_id=5)]
)
def test_bad_queries_are_refused(store: SqlStore, query: JobQuery) -> None:
    with pytest.raises(InvalidInput) as info:
        store.list_jobs(query)
    assert info.value.hint


# -- update ----------------------------------------------------------------------------------


def test_update_applies_changes_and_events(store: SqlStore, clock: ManualClock) -> None:
    (job,) = store.add_jobs([make_job(1)])
    clock.advance(60)
    started = clock.now()
    changed, evs = store.update_jobs(
        [
            JobChange(
                job.job_id,
                Trigger.DISPATCH,
                JobPatch(device_id=3, started_at=started),
                expect=frozenset({QueueStatus.PENDING}),
                events=[NewEvent(EventId.DIALING, device_id=3, job_id=0, detail={"n": 1})],
            )
        ]
    )
    want = job.replace(queue_status=QueueStatus.IN_PROGRESS, device_id=3, started_at=started)
    assert changed == [want] and store.get_job(job.job_id) == want
    assert [(e.event_id, e.job_id, e.device_id, e.detail) for e in evs] == [
        (EventId.DIALING, job.job_id, 3, {"n": 1})
    ]
    assert evs[0].timestamp == started
    assert store.events_after(0) == evs


def test_conflict_names_the_job_and_applies_nothing_of_the_batch(store: SqlStore) -> None:
    a, b = store.add_jobs([make_job(1), make_job(2, queue_status=QueueStatus.COMPLETED)])
    seq = store.last_event_seq()
    with pytest.raises(Conflict) as info:
        store.update_jobs(
            [
                JobChange(
                    a.job_id,
                    Trigger.NO_LINE,
                    JobPatch(status_text="x"),
                    events=[NewEvent(EventId.JOB_CHANGED)],
                ),
                JobChange(
                    b.job_id,
                    Trigger.DISPATCH,
                    expect=frozenset({QueueStatus.PENDING, QueueStatus.RETRYING}),
                ),
            ]
        )
    assert str(b.job_id) in info.value.message and "completed" in info.value.message
    assert info.value.hint
    assert store.get_job(a.job_id) == a and store.get_job(b.job_id) == b
    assert store.last_event_seq() == seq


def test_a_trigger_the_table_forbids_is_a_conflict_at_the_store(store: SqlStore) -> None:
    """The transitions table is checked against the job as committed, in the transaction:
    no ``expect`` needed, and nothing of the batch is applied."""
    a, b = store.add_jobs([make_job(1), make_job(2, queue_status=QueueStatus.CANCELED)])
    seq = store.last_event_seq()
    with pytest.raises(Conflict) as info:
        store.update_jobs(
            [
                JobChange(a.job_id, Trigger.PAUSE, events=[NewEvent(EventId.JOB_CHANGED)]),
                JobChange(b.job_id, Trigger.RESTART, JobPatch(status_text="restarted")),
            ]
        )
    assert str(b.job_id) in info.value.message and "canceled" in info.value.message
    assert "restart" in info.value.message and info.value.hint
    assert store.get_job(a.job_id) == a and store.get_job(b.job_id) == b
    assert store.last_event_seq() == seq
    # Within a batch each change sees the one before it: PAUSE then RESUME is legal, a second
    # PAUSE after the first is not.
    changed, _ = store.update_jobs(
        [JobChange(a.job_id, Trigger.PAUSE), JobChange(a.job_id, Trigger.RESUME)]
    )
    assert [j.queue_status for j in changed] == [QueueStatus.PAUSED, QueueStatus.PENDING]
    with pytest.raises(Conflict):
        store.update_jobs([JobChange(a.job_id, Trigger.PAUSE)] * 2)
    assert store.get_job(a.job_id) == changed[-1]


def test_update_of_a_missing_job_applies_nothing(store: SqlStore) -> None:
    (a,) = store.add_jobs([make_job(1)])
    with pytest.raises(NotFound):
        store.update_jobs(
            [
                JobChange(a.job_id, Trigger.NO_LINE, JobPatch(attempts=1)),
                JobChange(a.job_id + 99, Trigger.NO_LINE, JobPatch(attempts=1)),
            ]
        )
    assert store.get_job(a.job_id) == a


@pytest.mark.parametrize(
    "changes",
    [
        {"no_such_field": 1},
        {"job_id": 12345},
        {"started_at": datetime(2026, 1, 1, 12, 0)},  # naive
        {"extra": {"k": {1, 2}}},  # a set is not JSON
        {"extra": {"k": (1, 2)}},  # a tuple would come back as a list
        {"status_text": "a\x00b"},
        {"attempts": 2**40},
    ],
)
def test_bad_changes_are_refused_and_nothing_applied(
    store: SqlStore, changes: dict[str, object]
) -> None:
    (a,) = store.add_jobs([make_job(1)])
    with pytest.raises(InvalidInput) as info:
        # A field name from outside (JobPatch.of) is checked as the old mapping was; the
        # values are checked by the store before anything is written.
        store.update_jobs(
            [
                JobChange(a.job_id, Trigger.NO_LINE, JobPatch(status_text="first")),
                JobChange(a.job_id, Trigger.NO_LINE, JobPatch.of(changes)),
            ]
        )
    assert info.value.hint
    assert store.get_job(a.job_id) == a


def test_changes_to_one_job_apply_in_order(store: SqlStore) -> None:
    (a,) = store.add_jobs([make_job(1)])
    changed, _ = store.update_jobs(
        [
            JobChange(a.job_id, Trigger.DISPATCH),
            JobChange(a.job_id, Trigger.DELIVER, expect=frozenset({QueueStatus.IN_PROGRESS})),
        ]
    )
    assert [j.queue_status for j in changed] == [QueueStatus.IN_PROGRESS, QueueStatus.COMPLETED]


# -- delete ----------------------------------------------------------------------------------


def test_delete_and_ids_never_reused(store: SqlStore) -> None:
    jobs = store.add_jobs([make_job(i) for i in range(4)])
    top = jobs[-1].job_id
    n = store.delete_jobs([jobs[1].job_id, top, top + 500], [NewEvent(EventId.DELETED, job_id=top)])
    assert n == 2
    assert store.get_job(top) is None and store.get_job(jobs[1].job_id) is None
    assert store.events_after(0)[-1].event_id is EventId.DELETED
    (new,) = store.add_jobs([make_job(9)])
    assert new.job_id > top


# -- events ----------------------------------------------------------------------------------


def test_event_cursor_is_monotonic_and_survives_pruning(
    store: SqlStore, clock: ManualClock
) -> None:
    first = store.append_events([NewEvent(EventId.IDLE, device_id=1)] * 3)
    clock.advance(3600)
    second = store.append_events([NewEvent(EventId.RINGING, device_id=2, detail={"a": [1]})])
    seqs = [e.seq for e in first + second]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    assert store.last_event_seq() == seqs[-1]
    assert store.events_after(seqs[0]) == first[1:] + second
    assert store.events_after(seqs[0], limit=1) == first[1:2]
    assert store.events_after(seqs[-1]) == []
    assert store.prune_events(T0 + timedelta(minutes=30)) == 3
    assert store.events_after(0) == second
    assert store.prune_events(clock.now() + timedelta(seconds=1)) == 1
    assert store.events_after(0) == []
    # Everything pruned: the cursor still remembers, and is never reused.
    assert store.last_event_seq() == seqs[-1]
    (again,) = store.append_events([NewEvent(EventId.IDLE)])
    assert again.seq > seqs[-1]


def test_events_after_limit_is_checked(store: SqlStore) -> None:
    with pytest.raises(InvalidInput):
        store.events_after(0, limit=0)


# -- settings --------------------------------------------------------------------------------


def test_settings_namespaces_replace_and_list(store: SqlStore) -> None:
    assert store.get_settings("config") == {}
    store.put_settings("config", {"retries": 3, "nested": {"x": [1, 2.5, None, True]}})
    store.put_settings("port:1", {"rings": 2})
    store.put_settings("port:10", {"rings": 4})
    evs = store.put_settings("config", {"retries": 5}, [NewEvent(EventId.CONFIG_CHANGED)])
    assert store.get_settings("config") == {"retries": 5}  # replaced, not merged
    assert store.get_settings("port:1") == {"rings": 2}
    assert [e.event_id for e in evs] == [EventId.CONFIG_CHANGED]
    assert store.list_namespaces("port:") == ["port:1", "port:10"]
    assert store.list_namespaces("") == ["config", "port:1", "port:10"]
    assert store.list_namespaces("zzz") == []


@pytest.mark.parametrize("values", [{"k": float("nan")}, {"k": object()}, {1: "int key"}])
def test_settings_that_are_not_json_are_refused(
    store: SqlStore, values: dict[object, object]
) -> None:
    store.put_settings("config", {"keep": True})
    with pytest.raises(InvalidInput):
        store.put_settings("config", values)  # type: ignore[arg-type]
    assert store.get_settings("config") == {"keep": True}


# -- life cycle ------------------------------------------------------------------------------


def test_reopen_keeps_everything(store_url: str, clock: ManualClock) -> None:
    with open_store(store_url, clock=clock) as s:
        jobs = s.add_jobs([make_job(i) for i in range(3)], [NewEvent(EventId.JOB_QUEUED)])
        s.put_settings("config", {"a": 1})
        seq = s.last_event_seq()
    with pytest.raises(StoreError):
        s.get_job(1)  # closed
    with open_store(store_url, clock=clock) as s2:
        assert s2.list_jobs(JobQuery()) == jobs
        assert s2.get_settings("config") == {"a": 1}
        assert s2.last_event_seq() == seq
        s2.open()  # idempotent


@pytest.mark.sql_only
def test_schema_of_migrations_matches_the_tables(store: SqlStore) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from lanfax.store.schema import metadata

    engine = store._require()
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_concurrent_writers_from_threads(store: SqlStore) -> None:
    ids: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(10):
                got = store.add_jobs([make_job(i, user_name=f"t{t}")] * 2)
                with lock:
                    ids.extend(j.job_id for j in got)
                store.list_jobs(JobQuery(user_name=f"t{t}"))
        except BaseException as exc:  # reported below; a thread cannot raise into the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not errors
    assert len(ids) == len(set(ids)) == 120
    assert store.count_jobs(JobQuery()) == 120


@pytest.mark.parametrize("url", ["mysql://x/y", "not a url", "oracle+cx://a"])
def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput) as info:
        open_store(url)
    assert "sqlite:///" in (info.value.hint or "")


def test_missing_directory_is_a_clear_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as info:
        open_store(f"sqlite:///{tmp_path / 'nope' / 'lanfax.db'}")
    assert "does not exist" in info.value.message and info.value.hint


def test_in_memory_sqlite_works_across_threads() -> None:
    with open_store("sqlite://") as s:
        out: list[list[Job]] = []
        th = threading.Thread(target=lambda: out.append(s.add_jobs([make_job(1)])))
        th.start()
        th.join(timeout=60)
        assert s.list_jobs(JobQuery()) == out[0]


def test_importing_the_store_package_is_light() -> None:
    code = (
        "import sys, lanfax.store; "
        "print(sorted(m for m in ('sqlalchemy', 'alembic') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_sql_store_implements_the_store_protocol(store: SqlStore) -> None:
    # The assignment is the check (mypy --strict verifies it structurally); at run time,
    # every protocol method must exist and be callable.
    as_store: Store = store
    parts = {}
    for name, member in ((n, m) for n, m in vars(Store).items() if not n.startswith("_")):
        if isinstance(member, property):  # a part of the store (#17), checked below
            parts[name] = typing.get_type_hints(member.fget)["return"]
            continue
        assert callable(getattr(as_store, name)), name
    # The archive, receipts and audit are parts of the store, each with a protocol of its own.
    assert parts == {
        "archive": ArchiveStore,
        "receipts": ReceiptStore,
        "audit": AuditStore,
        "ipp": IppStore,  # (#17 memstore) printed jobs and drafts, the address book
        "contacts": ContactStore,
    }
    archive: ArchiveStore = store.archive
    receipts: ReceiptStore = store.receipts
    audit: AuditStore = store.audit
    ipp: IppStore = store.ipp
    contacts: ContactStore = store.contacts
    for part, protocol in (
        (archive, ArchiveStore),
        (receipts, ReceiptStore),
        (audit, AuditStore),
        (ipp, IppStore),
        (contacts, ContactStore),
    ):
        methods = [n for n in vars(protocol) if not n.startswith("_")]
        assert methods, protocol
        for name in methods:
            assert callable(getattr(part, name)), (protocol.__name__, name)
    assert store.archive is archive  # one per store, not one per use
