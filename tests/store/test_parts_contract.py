"""The contract of the store's parts (#17): archive and activity log, receipts, audit trail,
printed jobs and drafts, on every backend (SQLite, PostgreSQL and memory; see conftest.py).

The same assertions run against each backend, so that the in-memory store keeps the SQL
store's semantics (ids, orderings, filters, keyset pages, idempotence, errors) and the SQL
store keeps the protocols' documented ones.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lanfax.model.archive import ActivityRecord, ArchiveEntry, ArchiveQuery
from lanfax.model.audit import AuditEntry, AuditQuery
from lanfax.model.codes import DeliveryReportType, EventId, JobType, QueueStatus
from lanfax.model.drafts import Draft, IppJob
from lanfax.model.errors import InvalidInput, NotFound
from lanfax.model.events import NewEvent
from lanfax.model.jobs import Job
from lanfax.model.receipts import Receipt
from lanfax.store.api import Store

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _t(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _job(i: int, **kw: object) -> Job:
    base: dict[str, object] = {
        "job_id": 0,
        "job_type": JobType.SEND,
        "queue_status": QueueStatus.COMPLETED,
        "submitted_at": _t(i),
        "completed_at": _t(i + 1),
        "recipient_number": f"555{i:04d}",
    }
    base.update(kw)
    return Job(**base)  # type: ignore[arg-type]


def _entry(job_id: int, minutes: float, direction: str = "outgoing", **kw: object) -> ArchiveEntry:
    base: dict[str, object] = {
        "archive_id": 0,
        "direction": direction,
        "job_id": job_id,
        "completed_at": _t(minutes),
        "archived_at": _t(minutes + 1),
        "size": 100 * job_id,
    }
    base.update(kw)
    return ArchiveEntry(**base)  # type: ignore[arg-type]


# -- archive ---------------------------------------------------------------------------------


def test_archive_add_is_idempotent_per_job_and_direction(store: Store) -> None:
    a = store.archive.add(_entry(1, 0, number="+4930111", caller_id="x"))
    b = store.archive.add(_entry(2, 1))
    assert 1 <= a.archive_id < b.archive_id
    assert a == _entry(1, 0, number="+4930111", caller_id="x", archive_id=a.archive_id)
    again = store.archive.add(_entry(1, 5, number="other"))
    assert again == a  # the entry that was there, unchanged
    assert store.archive.add(_entry(1, 5, direction="incoming")).archive_id > b.archive_id
    assert store.archive.get(a.archive_id) == a and store.archive.get(10**6) is None
    assert store.archive.find("outgoing", 1) == a and store.archive.find("outgoing", 9) is None
    with pytest.raises(InvalidInput):
        store.archive.add(_entry(3, 0, direction="sideways"))
    with pytest.raises(InvalidInput):
        store.archive.add(_entry(3, 0, completed_at=datetime(2026, 1, 1)))  # naive
    assert store.archive.totals("outgoing") == (2, 300)
    assert store.archive.totals("incoming") == (1, 100)


def test_archive_search_pages_newest_first_with_filters(store: Store) -> None:
    # Two entries share a completed_at: the archive_id breaks the tie, on every backend.
    specs = [
        (1, 0, "+4930100", "ACME", "ann"),
        (2, 10, "+4930200", "ACME 2", "bob"),
        (3, 10, "+4989300", "Zeta", ""),
        (4, 20, "+4930101", "acme", "ann"),
        (5, 30, "+3314000", "", ""),
    ]
    added = [
        store.archive.add(_entry(j, m, number=n, remote_ident=i, user_name=u))
        for j, m, n, i, u in specs
    ]
    newest = sorted(added, key=lambda e: (e.completed_at, e.archive_id), reverse=True)
    seen: list[int] = []
    cursor = ""
    while True:
        page, cursor_next = store.archive.search(ArchiveQuery("outgoing", limit=2, cursor=cursor))
        seen += [e.job_id for e in page]
        if cursor_next is None:
            break
        cursor = cursor_next
    assert seen == [e.job_id for e in newest] == [5, 4, 3, 2, 1]

    def jobs(**kw: object) -> list[int]:
        page, _ = store.archive.search(ArchiveQuery("outgoing", **kw))  # type: ignore[arg-type]
        return [e.job_id for e in page]

    assert jobs(number="+4930") == [4, 2, 1]
    assert jobs(number="+4930", limit=2) == [4, 2]
    assert jobs(ident="ACME") == [2, 1]  # a prefix, case and all
    assert jobs(user="ann") == [4, 1]
    assert jobs(unassigned=True) == [5, 3]
    assert jobs(since=_t(10), until=_t(30)) == [4, 3, 2]
    assert jobs(number="+49%") == [] and jobs(ident="_") == []
    _, last = store.archive.search(ArchiveQuery("outgoing", limit=5))
    assert last is None
    for bad in (
        ArchiveQuery("outgoing", limit=0),
        ArchiveQuery("outgoing", limit=1001),
        ArchiveQuery("outgoing", cursor="yesterday"),
        ArchiveQuery("both"),
    ):
        with pytest.raises(InvalidInput):
            store.archive.search(bad)


def test_archive_retention_views_and_delete(store: Store) -> None:
    a, b, c = (store.archive.add(_entry(j, m)) for j, m in ((1, 30), (2, 10), (3, 20)))
    store.archive.add(_entry(4, 0, direction="incoming"))
    assert [e.job_id for e in store.archive.oldest("outgoing", 10)] == [2, 3, 1]
    assert [e.job_id for e in store.archive.oldest("outgoing", 1)] == [2]
    assert [e.job_id for e in store.archive.oldest("outgoing", 10, _t(30))] == [2, 3]
    assert store.archive.delete([b.archive_id, c.archive_id, 10**6]) == 2
    assert store.archive.delete([]) == 0
    assert store.archive.get(b.archive_id) is None and store.archive.get(a.archive_id) == a
    assert store.archive.totals("outgoing") == (1, 100)


def test_unarchived_jobs_are_final_jobs_of_the_direction_without_an_entry(store: Store) -> None:
    jobs = store.add_jobs(
        [
            _job(1),
            _job(2),
            _job(3, queue_status=QueueStatus.PENDING, completed_at=None),
            _job(4, job_type=JobType.RECEIVE),
            _job(5, completed_at=_t(-100)),
            _job(6, queue_status=QueueStatus.FAILED),
        ]
    )
    ids = [j.job_id for j in jobs]
    store.archive.add(_entry(ids[1], 0))
    got = store.archive.unarchived("outgoing", T0)
    assert got == [jobs[0], jobs[5]]
    assert store.archive.unarchived("outgoing", T0, limit=1) == [jobs[0]]
    assert store.archive.unarchived("incoming", T0) == [jobs[3]]


def test_reassign_moves_the_job_and_its_incoming_entry_in_one_transaction(store: Store) -> None:
    (job,) = store.add_jobs([_job(1, job_type=JobType.RECEIVE)])
    entry = store.archive.add(_entry(job.job_id, 0, direction="incoming"))
    seq = store.last_event_seq()
    moved = store.archive.reassign(
        job.job_id, "ann", [NewEvent(EventId.JOB_CHANGED, job_id=0, detail={"to": "ann"})]
    )
    assert moved == job.replace(user_name="ann") == store.get_job(job.job_id)
    assert store.archive.get(entry.archive_id).user_name == "ann"  # type: ignore[union-attr]
    (ev,) = store.events_after(seq)
    assert (ev.event_id, ev.job_id, ev.detail) == (EventId.JOB_CHANGED, job.job_id, {"to": "ann"})
    with pytest.raises(NotFound):
        store.archive.reassign(job.job_id + 99, "bob", [NewEvent(EventId.JOB_CHANGED)])
    assert store.last_event_seq() == ev.seq


def test_activity_log_reads_in_batches_oldest_first_and_prunes(store: Store) -> None:
    for i in range(5):
        store.archive.log_call(
            ActivityRecord(0, _t(i), "incoming" if i % 2 else "outgoing", job_id=i, pages=i)
        )
    with pytest.raises(InvalidInput):
        store.archive.log_call(ActivityRecord(0, _t(9), "nowhere", job_id=9))
    every = list(store.archive.activity(batch=2))
    assert [r.job_id for r in every] == [0, 1, 2, 3, 4]
    ids = [r.activity_id for r in every]
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert every[1] == ActivityRecord(ids[1], _t(1), "incoming", job_id=1, pages=1)
    assert [r.job_id for r in store.archive.activity(_t(1), _t(4), batch=2)] == [1, 2, 3]
    assert store.archive.prune_activity(_t(2)) == 2
    assert [r.job_id for r in store.archive.activity()] == [2, 3, 4]


# -- receipts --------------------------------------------------------------------------------


def _receipt(job_id: int, **kw: object) -> Receipt:
    base: dict[str, object] = {
        "receipt_id": 0,
        "kind": "final",
        "job_id": job_id,
        "created_at": _t(job_id),
        "user_name": "ann",
        "facts": {"pages": [1, 2], "ok": True},
    }
    base.update(kw)
    return Receipt(**base)  # type: ignore[arg-type]


def test_receipts_are_idempotent_by_key_and_listed_newest_first(store: Store) -> None:
    r1, new1 = store.receipts.add(_receipt(1, state="pending"), "final:1")
    r2, _ = store.receipts.add(_receipt(2, user_name="bob"), "final:2")
    r3, _ = store.receipts.add(_receipt(3, state="pending", delivery="email"), "final:3")
    assert new1 and r1.receipt_id < r2.receipt_id < r3.receipt_id
    assert r1 == _receipt(1, state="pending", receipt_id=r1.receipt_id)
    again, new = store.receipts.add(_receipt(1, subject="different"), "final:1")
    assert (again, new) == (r1, False)
    assert store.receipts.get(r2.receipt_id) == r2 and store.receipts.get(10**6) is None
    assert store.receipts.keys(["final:1", "final:9", "final:3"]) == {"final:1", "final:3"}
    assert store.receipts.keys([]) == set()
    assert [r.job_id for r in store.receipts.pending()] == [1, 3]
    assert [r.job_id for r in store.receipts.list_for(None)] == [3, 2, 1]
    assert [r.job_id for r in store.receipts.list_for("ann")] == [3, 1]
    assert [r.job_id for r in store.receipts.list_for(None, before=r3.receipt_id)] == [2, 1]
    assert [r.job_id for r in store.receipts.list_for(None, limit=0)] == [3]  # clamped
    sent = _t(60)
    store.receipts.update(r1.receipt_id, state="sent", sent_at=sent, tries=1, last_error="")
    got = store.receipts.get(r1.receipt_id)
    assert got == r1.__class__(**{**_fields(r1), "state": "sent", "sent_at": sent, "tries": 1})
    assert [r.job_id for r in store.receipts.pending()] == [3]
    store.receipts.update(10**6, state="sent")  # no such receipt: nothing changes
    # facts come back as an equal copy, never the stored object itself
    first = store.receipts.get(r2.receipt_id)
    assert first is not None
    first.facts["pages"].append(3)
    second = store.receipts.get(r2.receipt_id)
    assert second is not None and second.facts == {"pages": [1, 2], "ok": True}


def test_a_receipt_is_claimed_by_one_mailer_and_settled_only_under_its_claim(
    store: Store,
) -> None:
    """#18: several nodes mail from one table: a claim takes a due pending receipt for one try
    (tries + 1, next_try_at = the claim's end); a second claim before that end gets nothing;
    the outcome is written only under the claim that is current."""
    due, _ = store.receipts.add(_receipt(1, state="pending", delivery="email"), "final:1")
    later, _ = store.receipts.add(
        _receipt(2, state="pending", delivery="email", next_try_at=_t(100)), "final:2"
    )
    done, _ = store.receipts.add(_receipt(3, state="sent"), "final:3")
    now = _t(10)
    got = store.receipts.claim(due.receipt_id, now, now + timedelta(minutes=5))
    assert got is not None and got.tries == due.tries + 1
    assert got.next_try_at == now + timedelta(minutes=5) and got.state == "pending"
    assert store.receipts.claim(due.receipt_id, now, now + timedelta(minutes=5)) is None
    assert store.receipts.claim(later.receipt_id, now, now + timedelta(minutes=5)) is None
    assert store.receipts.claim(done.receipt_id, now, now + timedelta(minutes=5)) is None
    assert store.receipts.claim(10**6, now, now + timedelta(minutes=5)) is None
    # The claim ran out (the node died mailing): another node claims it, a new try.
    after = now + timedelta(minutes=6)
    again = store.receipts.claim(due.receipt_id, after, after + timedelta(minutes=5))
    assert again is not None and again.tries == got.tries + 1
    # The first claimer comes back: its outcome is refused; the current one's is written.
    assert not store.receipts.settle(due.receipt_id, got.tries, state="sent", sent_at=after)
    assert store.receipts.get(due.receipt_id) == again
    assert store.receipts.settle(
        due.receipt_id, again.tries, state="sent", sent_at=after, next_try_at=None
    )
    final = store.receipts.get(due.receipt_id)
    assert final is not None and (final.state, final.sent_at, final.next_try_at) == (
        "sent",
        after,
        None,
    )
    assert not store.receipts.settle(due.receipt_id, again.tries, state="failed")  # not pending


def _fields(r: Receipt) -> dict[str, object]:
    return {name: getattr(r, name) for name in r.__dataclass_fields__}


def test_owed_jobs_are_final_sends_that_asked_for_a_receipt_and_have_none(store: Store) -> None:
    inbox = DeliveryReportType.INBOX
    jobs = store.add_jobs(
        [
            _job(1, delivery_report_type=inbox),
            _job(2, delivery_report_type=inbox),  # has its final receipt
            _job(3, delivery_report_type=inbox, broadcast_id="b1"),  # its broadcast's summary
            _job(4),  # asked for none
            _job(5, delivery_report_type=inbox, job_type=JobType.RECEIVE),
            _job(6, delivery_report_type=inbox, queue_status=QueueStatus.RETRYING),
            _job(7, delivery_report_type=inbox, completed_at=_t(-50)),
            _job(8, delivery_report_type=inbox, queue_status=QueueStatus.FAILED),
        ]
    )
    store.receipts.add(_receipt(jobs[1].job_id), "final:2")
    store.receipts.add(_receipt(0, kind="summary", broadcast_id="b1"), "summary:b1")
    store.receipts.add(_receipt(jobs[0].job_id, kind="attempt"), "attempt:1:1")
    assert store.receipts.owed_jobs(T0) == [jobs[0], jobs[7]]
    assert store.receipts.owed_jobs(T0, limit=1) == [jobs[0]]


# -- audit -----------------------------------------------------------------------------------


def test_audit_query_filters_newest_first_and_prunes(store: Store) -> None:
    specs = [
        ("ann", "user.add"),
        ("bob", "user.remove"),
        ("ann", "token.create"),
        ("ann", "user%weird"),
        ("bob", "userX"),
    ]
    ids = [
        store.audit.add(AuditEntry(_t(i), u, "127.0.0.1", a, target=f"t{i}", detail={"i": i}))
        for i, (u, a) in enumerate(specs)
    ]
    assert ids == sorted(ids) and len(set(ids)) == 5

    def actions(**kw: object) -> list[str]:
        return [e.action for e in store.audit.query(AuditQuery(**kw))]  # type: ignore[arg-type]

    assert actions() == [a for _, a in reversed(specs)]
    assert actions(user_name="ann") == ["user%weird", "token.create", "user.add"]
    assert actions(action="user.") == ["user.remove", "user.add"]  # literal: "." "_" "%"
    assert actions(action="user%") == ["user%weird"]
    assert actions(action="user_") == []
    assert actions(before=ids[2]) == ["user.remove", "user.add"]
    assert actions(since=_t(3)) == ["userX", "user%weird"]
    assert actions(limit=2) == ["userX", "user%weird"] and len(actions(limit=0)) == 1
    (first,) = store.audit.query(AuditQuery(before=ids[1]))
    assert first == AuditEntry(
        _t(0), "ann", "127.0.0.1", "user.add", "t0", "ok", {"i": 0}, audit_id=ids[0]
    )
    assert store.audit.prune(_t(2)) == 2
    assert actions() == ["userX", "user%weird", "token.create"]
    # ids are never reused
    assert store.audit.add(AuditEntry(_t(9), "c", "", "x")) > ids[-1]


# -- printed jobs and drafts -----------------------------------------------------------------


def test_ipp_jobs_and_drafts(store: Store) -> None:
    ipp = store.ipp
    j1 = ipp.add_job(IppJob(0, "ann", "letter", _t(0), "incoming", attributes={"to": ["1"]}))
    j2 = ipp.add_job(IppJob(0, "bob", "memo", _t(1), "faxing", broadcast_id="b"))
    j3 = ipp.add_job(IppJob(0, "ann", "note", _t(2), "incoming"))
    assert 1 <= j1.ipp_job_id < j2.ipp_job_id < j3.ipp_job_id
    assert ipp.get_job(j1.ipp_job_id) == j1 and j1.attributes == {"to": ["1"]}
    for missing in (0, -1, 2**63, 10**6):
        assert ipp.get_job(missing) is None and ipp.get_draft(missing) is None
    assert [j.job_name for j in ipp.list_jobs(None)] == ["note", "memo", "letter"]
    assert [j.job_name for j in ipp.list_jobs("ann", limit=1)] == ["note"]
    assert [j.job_name for j in ipp.list_jobs(None, states=("faxing",))] == ["memo"]
    ipp.update_job(j3.ipp_job_id, state="canceled", completed_at=_t(5), attributes={"a": 1})
    got = ipp.get_job(j3.ipp_job_id)
    assert got is not None and (got.state, got.completed_at, got.attributes) == (
        "canceled",
        _t(5),
        {"a": 1},
    )
    pdf = "application/pdf"
    d1 = ipp.add_draft(Draft(0, "ann", "letter.pdf", pdf, 10, _t(0), _t(60)), j1.ipp_job_id)
    d2 = ipp.add_draft(Draft(0, "bob", "b.pdf", "application/pdf", 20, _t(1), _t(30)))
    d3 = ipp.add_draft(Draft(0, "ann", "c.pdf", "application/pdf", 30, _t(2), _t(40)))
    assert d1.draft_id < d2.draft_id < d3.draft_id and d2.ipp_job_id is None
    assert ipp.get_draft(d1.draft_id) == d1
    became = ipp.get_job(j1.ipp_job_id)
    assert became is not None
    assert (became.state, became.draft_id, became.completed_at) == ("draft", d1.draft_id, _t(0))
    assert became.state_message
    assert [d.draft_id for d in ipp.list_drafts(None)] == [d3.draft_id, d2.draft_id, d1.draft_id]
    assert [d.draft_id for d in ipp.list_drafts("ann")] == [d3.draft_id, d1.draft_id]
    assert [d.draft_id for d in ipp.expired_drafts(_t(30))] == [d2.draft_id]
    assert [d.draft_id for d in ipp.expired_drafts(_t(40))] == [d2.draft_id, d3.draft_id]
    assert [d.draft_id for d in ipp.expired_drafts(_t(60), limit=2)] == [d2.draft_id, d3.draft_id]
    assert ipp.delete_draft(d2.draft_id) and not ipp.delete_draft(d2.draft_id)
    assert [d.draft_id for d in ipp.expired_drafts(_t(90))] == [d3.draft_id, d1.draft_id]
