"""Group commit (#19): concurrent add_jobs calls share one commit, each returns only once its
rows are committed, and one bad submission in a group fails alone."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.support.stores import on_commit

from lanfax.model.codes import EventId, JobType, QueueStatus
from lanfax.model.errors import InvalidInput, StoreError
from lanfax.model.events import Event, NewEvent
from lanfax.model.jobs import Job
from lanfax.store import JobQuery, Store, open_store
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


def _wait_for(predicate: object, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.005)


def _one_group_behind_a_writer(
    store: SqlStore, submit: Callable[[int], None], n: int, while_held: Callable[[], None]
) -> None:
    """Hold the write lock as another writer would: submission 0 leads and waits for it;
    submissions 1..n-1 queue behind it and must all go into the next single commit.
    ``while_held`` checks what may (not) have happened before the lock is let go."""
    store._write_lock.acquire()
    threads = [threading.Thread(target=submit, args=(k,)) for k in range(n)]
    try:
        threads[0].start()
        _wait_for(lambda: store._group_busy)
        for t in threads[1:]:
            t.start()
        _wait_for(lambda: len(store._group_waiting) == n - 1)
        while_held()
    finally:
        store._write_lock.release()
    for t in threads:
        t.join(60)


@pytest.mark.sql_only
def test_waiting_submissions_share_one_commit_and_a_bad_one_fails_alone(
    store: SqlStore,
) -> None:
    commits: list[int] = []
    on_commit(store, lambda: commits.append(1))
    results: dict[int, list[Job] | BaseException] = {}

    def submit(k: int) -> None:
        events = [NewEvent(EventId.JOB_QUEUED, job_id=0)]
        if k == 3:  # an event for a job that is not in the submission: refused
            events = events * 2
        try:
            results[k] = store.add_jobs([make_job(k, broadcast_id=f"g{k}")], events)
        except BaseException as exc:
            results[k] = exc

    # Hold the write lock as another writer would: the first submission leads and waits for
    # it; the others queue behind it and must all go into the next single commit.
    def nothing_answered() -> None:
        assert not results, "nothing may return before its commit"

    _one_group_behind_a_writer(store, submit, 8, nothing_answered)
    assert isinstance(results[3], InvalidInput)
    good = {k: v for k, v in results.items() if k != 3}
    assert all(isinstance(v, list) and len(v) == 1 for v in good.values()), results
    ids = sorted(v[0].job_id for v in good.values() if isinstance(v, list))
    assert len(set(ids)) == 7
    assert len(commits) == 2  # the leader's own, then the seven waiting together
    # The store's own counts say the same: 2 commits held the 8 calls.
    assert (store.group_commits, store.group_submissions) == (2, 8)
    stored = store.list_jobs(JobQuery(limit=100))
    assert sorted(j.job_id for j in stored) == ids
    assert "g3" not in {j.broadcast_id for j in stored}
    queued = store.events_after(0)
    assert sorted(e.job_id for e in queued if e.event_id is EventId.JOB_QUEUED) == ids


def test_many_threads_lose_nothing_and_reopen_with_everything(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    returned: list[int] = []
    lock = threading.Lock()

    def worker(w: int) -> None:
        with_store = stores[w % 2]
        for i in range(25):
            job = Job(
                0,
                JobType.SEND,
                QueueStatus.PENDING,
                make_job(0).submitted_at,
                recipient_number=f"{w}-{i}",
            )
            got = with_store.add_jobs([job, job], [NewEvent(EventId.JOB_QUEUED, job_id=0)])
            with lock:
                returned.extend(j.job_id for j in got)

    stores = [open_store(url), open_store(url)]
    try:
        threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        for s in stores:
            s.close()
    assert len(returned) == len(set(returned)) == 8 * 25 * 2
    with open_store(url) as again:
        ids = [j.job_id for j in again.list_jobs(JobQuery(limit=1000))]
    assert sorted(ids) == sorted(returned)


@pytest.mark.parametrize("size", [1, 3])
def test_a_single_submission_is_still_one_transaction(store: SqlStore, size: int) -> None:
    with pytest.raises(InvalidInput):
        store.add_jobs(
            [make_job(i) for i in range(size)], [NewEvent(EventId.JOB_QUEUED, job_id=0)] * 5
        )
    assert store.list_jobs(JobQuery(limit=10)) == []
    assert len(store.add_jobs([make_job(i) for i in range(size)])) == size


def test_a_submission_the_database_refuses_fails_alone_with_a_store_error(
    tmp_path: Path,
) -> None:
    """A database-level refusal (a trigger here; in life a full disk or a constraint) of one
    submission in a group: it alone gets the store's error, the rest commit together, and
    nothing of the refused one is stored (its savepoint is rolled back)."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    with open_store(url) as store:
        assert isinstance(store, SqlStore)
        with store._write("trigger") as conn:
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON events"
                " WHEN NEW.job_id IN (SELECT job_id FROM jobs WHERE recipient_number = 'bad')"
                " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
        results: dict[int, list[Job] | BaseException] = {}

        def submit(k: int) -> None:
            number = "bad" if k == 2 else f"+4930{k:04d}"
            try:
                results[k] = store.add_jobs(
                    [make_job(k, recipient_number=number, broadcast_id=f"r{k}")],
                    [NewEvent(EventId.JOB_QUEUED, job_id=0)],
                )
            except BaseException as exc:
                results[k] = exc

        _one_group_behind_a_writer(store, submit, 6, lambda: None)
        assert isinstance(results[2], StoreError)
        assert "refused by the test" in str(results[2])
        good = sorted(v[0].job_id for k, v in results.items() if isinstance(v, list))
        assert len(good) == 5
        assert (store.group_commits, store.group_submissions) == (2, 6)
        stored = store.list_jobs(JobQuery(limit=100))
        assert sorted(j.job_id for j in stored) == good
        assert "bad" not in {j.recipient_number for j in stored}
        assert sorted(e.job_id for e in store.events_after(0)) == good


def test_add_jobs_and_events_hands_back_the_events_as_stored(store: Store) -> None:
    """#19: the event bus publishes these without reading them back, so they must be exactly
    what a read returns, in cursor order with consecutive cursors; PostgreSQL, where another
    node may take cursors in between, hands back none (the bus reads)."""
    store.add_jobs([make_job(0)], [NewEvent(EventId.JOB_QUEUED, job_id=0)])  # an earlier one
    before = store.last_event_seq()
    queued = [NewEvent(EventId.JOB_QUEUED, job_id=0, detail={"n": i}) for i in range(3)]
    added, stored = store.add_jobs_and_events([make_job(i) for i in range(3)], queued)
    assert len(added) == 3
    if isinstance(store, SqlStore) and not store._is_sqlite:
        assert stored == []
        return
    assert stored == store.events_after(before)
    assert [e.seq for e in stored] == [before + 1, before + 2, before + 3]
    assert [e.job_id for e in stored] == [j.job_id for j in added]


class Sync:
    """A ``sync`` for add_jobs_and_events (#19: the fsync of spool/docs) that logs its calls
    and can fail; equal for one name, as ``Spool.sync_docs`` is for one spool."""

    def __init__(self, name: str, log: list[str], fail: bool = False) -> None:
        self.name, self.log, self.fail = name, log, fail

    def __call__(self) -> None:
        self.log.append(f"sync {self.name}")
        if self.fail:
            raise OSError(5, "fsync failed")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sync) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)


@pytest.mark.sql_only
@pytest.mark.parametrize("fail", [False, True], ids=["synced", "sync-fails"])
def test_a_group_syncs_once_before_its_commit_and_a_failed_sync_commits_nothing(
    store: SqlStore, fail: bool
) -> None:
    """Seven submissions wait behind a writer (the first, leading) and go into one commit:
    their equal ``sync`` is called once, before that commit (another spool's once too).
    When it fails, every submission of that group fails with its error (the one whose own
    sync was fine too) and nothing of it is committed."""
    log: list[str] = []
    on_commit(store, lambda: log.append("commit"))
    results: dict[int, list[Job] | BaseException] = {}

    def submit(k: int) -> None:
        # A new object each time, equal to the others of its name: called once per group.
        sync = Sync("lead", log) if k == 0 else Sync("other", log) if k == 6 else None
        sync = sync or Sync("docs", log, fail)
        try:
            added, _ = store.add_jobs_and_events(
                [make_job(k)], [NewEvent(EventId.JOB_QUEUED, job_id=0)], sync=sync
            )
            results[k] = added
        except BaseException as exc:
            results[k] = exc

    def only_the_leaders_sync() -> None:
        assert log == ["sync lead"] and not results  # the leader's own; nothing answered

    _one_group_behind_a_writer(store, submit, 8, only_the_leaders_sync)
    assert log[:2] == ["sync lead", "commit"]  # the leader alone, then the seven
    assert isinstance(results[0], list)
    if not fail:
        assert sorted(log[2:4]) == ["sync docs", "sync other"] and log[4:] == ["commit"]
        assert all(isinstance(v, list) for v in results.values()), results
        assert len(store.list_jobs(JobQuery(limit=100))) == 8
    else:
        assert "commit" not in log[2:] and log.count("sync docs") == 1
        assert all(isinstance(results[k], OSError) for k in range(1, 8)), results
        assert [j.job_id for j in store.list_jobs(JobQuery(limit=100))] == [results[0][0].job_id]


def test_every_store_calls_sync_before_it_commits(store: Store) -> None:
    seen: list[int] = []

    def sync() -> None:
        seen.append(len(store.list_jobs(JobQuery(limit=10))))  # nothing committed yet

    store.add_jobs_and_events([make_job(1)], [NewEvent(EventId.JOB_QUEUED, job_id=0)], sync=sync)
    assert seen == [0]
    assert len(store.list_jobs(JobQuery(limit=10))) == 1


@pytest.mark.sql_only
def test_each_member_of_a_group_hands_back_the_groups_events_up_to_its_own(
    store: SqlStore,
) -> None:
    """#19: whichever member reaches the event bus first can publish the group's events in
    cursor order without a read; one refused in the middle is not among them."""
    results: dict[int, tuple[list[Job], list[Event]] | BaseException] = {}

    def submit(k: int) -> None:
        events = [NewEvent(EventId.JOB_QUEUED, job_id=0, detail={"k": k})]
        if k == 3:  # an event for a job that is not in the submission: refused
            events = events * 2
        try:
            results[k] = store.add_jobs_and_events([make_job(k)], events)
        except BaseException as exc:
            results[k] = exc

    _one_group_behind_a_writer(store, submit, 8, lambda: None)
    assert isinstance(results[3], InvalidInput)
    firsts = set()
    for k, got in results.items():
        if k == 3:
            continue
        assert not isinstance(got, BaseException), got
        (job,), stored = got
        if not store._is_sqlite:  # PostgreSQL: another node may take cursors in between
            assert stored == []
            continue
        assert stored[-1].job_id == job.job_id and stored[-1].detail == {"k": k}
        assert [e.seq for e in stored] == list(range(stored[0].seq, stored[-1].seq + 1))
        assert stored == store.events_after(stored[0].seq - 1)[: len(stored)]
        firsts.add(stored[0].seq)
    assert len(firsts) == (2 if store._is_sqlite else 0)  # the leader's, the six's group
    assert 3 not in {e.detail.get("k") for e in store.events_after(0)}


@pytest.mark.parametrize("bad", [False, True], ids=["all-good", "one-bad"])
def test_a_group_writes_without_savepoints_until_one_submission_fails(
    tmp_path: Path, bad: bool
) -> None:
    """#19, SQLite: a group commit inserts every submission's rows without a savepoint of
    its own; only when one fails is the group begun again, each submission in its own
    savepoint, so that the bad one fails alone and the others are committed all the same.
    (Watched on the driver's statement trace: what SQLite was really asked to run.)"""
    import sqlalchemy as sa

    store = open_store(f"sqlite:///{tmp_path / 'g.db'}")
    assert isinstance(store, SqlStore)

    ran: list[str] = []

    def watch(dbapi_conn: object, _record: object) -> None:
        dbapi_conn.set_trace_callback(lambda sql: ran.append(sql.split()[0].upper()))  # type: ignore[attr-defined]

    sa.event.listen(store._require(), "connect", watch)
    with store._write_lock:
        store._drop_group_connection()
        store._require().pool.dispose()
    results: dict[int, list[Job] | BaseException] = {}

    def submit(k: int) -> None:
        events = [NewEvent(EventId.JOB_QUEUED, job_id=0)]
        if bad and k == 3:  # an event for a job that is not in the submission: refused
            events = events * 2
        try:
            results[k] = store.add_jobs([make_job(k, broadcast_id=f"s{k}")], events)
        except BaseException as exc:
            results[k] = exc

    def nothing_yet() -> None:
        ran.clear()  # the leader's own commit waits for the lock: the group's start

    try:
        _one_group_behind_a_writer(store, submit, 8, nothing_yet)
        seen = list(ran)  # before the read below adds its own BEGIN and ROLLBACK
        stored = {j.broadcast_id for j in store.list_jobs(JobQuery(limit=100))}
    finally:
        store.close()
    group = seen[seen.index("COMMIT") + 1 :]  # after the leader's commit alone: the seven
    assert group[0] == "BEGIN" and group[-1] == "COMMIT"
    if not bad:
        assert "SAVEPOINT" not in group and "ROLLBACK" not in group
        assert all(isinstance(v, list) for v in results.values()), results
    else:
        assert group.count("ROLLBACK") == 2 and group.count("BEGIN") == 2  # begun again
        assert group.count("SAVEPOINT") == 7  # then one savepoint per submission
        assert isinstance(results[3], InvalidInput)
    assert stored == {f"s{k}" for k in range(8) if not (bad and k == 3)}
