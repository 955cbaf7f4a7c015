"""Several submissions given together (#19 wave 7, ``Store.add_jobs_and_events_many``: the
intake's one committer): each one's jobs and events, in order, or its own error; in a SQL
store's group commit they share one commit (behind another writer: its commit, then one for
all of them, this thread promoted to lead it), and a bad one fails alone."""

from __future__ import annotations

import threading

import pytest
from tests.store.test_group_commit import _wait_for, make_job
from tests.support.stores import on_commit

from lanfax.model.codes import EventId
from lanfax.model.errors import InvalidInput
from lanfax.model.events import NewEvent
from lanfax.model.jobs import Job
from lanfax.store import JobQuery, Store
from lanfax.store.sql import SqlStore


def _items(ks: range, bad: int = -1) -> list[tuple[list[Job], list[NewEvent], list[object]]]:
    items = []
    for k in ks:
        events = [NewEvent(EventId.JOB_QUEUED, job_id=0, detail={"k": k})]
        if k == bad:  # an event for a job that is not in the submission: refused
            events = events * 2
        items.append(([make_job(k, broadcast_id=f"m{k}")], events, []))
    return items


def test_each_submission_gets_its_own_jobs_and_a_bad_one_fails_alone(store: Store) -> None:
    done = store.add_jobs_and_events_many(_items(range(5), bad=2))  # type: ignore[arg-type]
    assert isinstance(done[2], InvalidInput), done[2]
    stored = store.events_after(0)
    for k in (0, 1, 3, 4):
        result = done[k]
        assert not isinstance(result, Exception), result
        (job,), events = result
        assert job.broadcast_id == f"m{k}" and job.job_id > 0
        # Each event with its own submission's job (as stored; and as handed back, where the
        # store hands them back: they may begin with earlier submissions' of the commit).
        assert [e.job_id for e in stored if e.detail.get("k") == k] == [job.job_id]
        assert [e.job_id for e in events if e.detail.get("k") == k] in ([], [job.job_id])
    assert not [e for e in stored if e.detail.get("k") == 2]
    listed = store.list_jobs(JobQuery(limit=100))
    assert sorted(j.broadcast_id for j in listed) == ["m0", "m1", "m3", "m4"]


@pytest.mark.sql_only
def test_given_together_behind_a_writer_they_share_the_next_commit(store: SqlStore) -> None:
    commits: list[int] = []
    on_commit(store, lambda: commits.append(1))
    results: dict[str, object] = {}

    def one() -> None:
        results["one"] = store.add_jobs([make_job(99, broadcast_id="m99")])

    def many() -> None:
        results["many"] = store.add_jobs_and_events_many(_items(range(4)))  # type: ignore[arg-type]

    store._write_lock.acquire()  # as another writer holds it
    first, second = threading.Thread(target=one), threading.Thread(target=many)
    try:
        first.start()
        _wait_for(lambda: store._group_busy)  # the lone submission leads, waiting for the lock
        second.start()
        _wait_for(lambda: len(store._group_waiting) == 4)
        assert commits == []
    finally:
        store._write_lock.release()
    first.join(60)
    second.join(60)
    assert not first.is_alive() and not second.is_alive()
    many_done = results["many"]
    assert isinstance(many_done, list) and len(many_done) == 4
    assert all(not isinstance(r, Exception) for r in many_done), many_done
    # The lone one's commit, then one for the four (promoted: this thread led it).
    assert len(commits) == 2
    assert (store.group_commits, store.group_submissions) == (2, 5)
    assert store._group_busy is False and store._group_waiting == []
    assert len(store.list_jobs(JobQuery(limit=100))) == 5
