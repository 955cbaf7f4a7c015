"""Receipts claimed before they are mailed (issue #18), raced on a real PostgreSQL.

Four "nodes" (separate stores on one database, each with its own connections, as four
processes would have) go through the same 60 pending receipts at once, each claiming every
one it sees: every receipt is claimed by exactly one of them (the claim is one conditional
UPDATE). The contract itself (claim, lease, fenced settle) is in test_parts_contract.py, on
every store.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from lanfax.model.clock import ManualClock
from lanfax.model.receipts import Receipt
from lanfax.store import open_store

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
pytestmark = pytest.mark.sql_only


def _pending(i: int) -> Receipt:
    return Receipt(
        receipt_id=0,
        kind="final",
        job_id=i,
        created_at=T0,
        user_name="ann",
        delivery="email",
        address="ann@example.com",
        state="pending",
    )


def test_concurrent_mailers_on_postgresql_claim_each_receipt_once(pg_cluster) -> None:  # type: ignore[no-untyped-def]
    url = pg_cluster.url(pg_cluster.create_database())
    clock = ManualClock(T0)
    stores = [open_store(url, clock=clock) for _ in range(4)]
    try:
        ids = [stores[0].receipts.add(_pending(i), f"final:{i}")[0].receipt_id for i in range(60)]
        won: Counter[int] = Counter()
        lock = threading.Lock()
        errors: list[BaseException] = []
        start = threading.Barrier(4)

        def node(n: int) -> None:
            db = stores[n].receipts
            try:
                start.wait(30)
                for r in db.pending():
                    got = db.claim(r.receipt_id, T0, T0 + timedelta(minutes=5))
                    if got is not None:
                        assert got.tries == 1
                        with lock:
                            won[got.receipt_id] += 1
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=node, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        assert sorted(won) == sorted(ids) and set(won.values()) == {1}
        # Nothing is claimable again before the claims end.
        assert all(stores[1].receipts.claim(i, T0, T0) is None for i in ids)
    finally:
        for s in stores:
            s.close()
