"""The receipts table over a :class:`~lanfax.store.sql.SqlStore`.

``SqlReceipts(store)`` shares the store's engine, its write lock and its error mapping; every
method is one transaction and blocking (call it in a worker thread). A receipt is idempotent
by its key: adding one whose key is already there returns the row that is there, so the
start-up catch-up and a late job notification can never owe the same receipt twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lanfax.model.codes import FINAL_QUEUE_STATES, DeliveryReportType, JobType
from lanfax.model.jobs import Job
from lanfax.model.receipts import MAX_PAGE, Receipt
from lanfax.store import codec
from lanfax.store.schema import jobs as t_jobs
from lanfax.store.schema import receipts as t_receipts

if TYPE_CHECKING:
    from lanfax.store.sql import SqlStore

__all__ = ["MAX_PAGE", "SqlReceipts"]

_TIMES = ("created_at", "sent_at", "next_try_at")


def _row(receipt: Receipt, key: str) -> dict[str, Any]:
    out: dict[str, Any] = {"receipt_key": key}
    for f in fields(receipt):
        if f.name == "receipt_id":
            continue
        value = getattr(receipt, f.name)
        if f.name in _TIMES:
            value = None if value is None else codec.to_micros(value, f.name)
        elif f.name == "facts":
            value = codec.dump_json(value, "receipt facts")
        out[f.name] = value
    return out


def _receipt(row: Mapping[Any, Any]) -> Receipt:
    values = {k: v for k, v in dict(row).items() if k != "receipt_key"}
    for key in _TIMES:
        if values[key] is not None:
            values[key] = codec.from_micros(values[key])
    values["facts"] = codec.load_json(values["facts"])
    return Receipt(**values)


class SqlReceipts:
    """Receipts in the store's database: the SQL :class:`~lanfax.store.api.ReceiptStore`
    (``SqlStore.receipts``)."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    def add(self, receipt: Receipt, key: str) -> tuple[Receipt, bool]:
        """Insert ``receipt`` under ``key`` unless a receipt with that key exists; returns
        the stored receipt and whether it is new."""
        c = t_receipts.c
        with self._store._write("receipt add") as conn:
            found = (
                conn.execute(sa.select(t_receipts).where(c.receipt_key == key)).mappings().first()
            )
            if found is not None:
                return _receipt(found), False
            new_id = conn.execute(
                t_receipts.insert().values(**_row(receipt, key)).returning(c.receipt_id)
            ).scalar_one()
            row = conn.execute(sa.select(t_receipts).where(c.receipt_id == new_id)).mappings().one()
        return _receipt(row), True

    def get(self, receipt_id: int) -> Receipt | None:
        c = t_receipts.c
        with self._store._read("receipt get") as conn:
            row = (
                conn.execute(sa.select(t_receipts).where(c.receipt_id == receipt_id))
                .mappings()
                .first()
            )
        return None if row is None else _receipt(row)

    def update(self, receipt_id: int, **changes: Any) -> None:
        """Change the delivery bookkeeping of one receipt (state, tries, times, error)."""
        values = dict(changes)
        for key in _TIMES:
            if key in values and values[key] is not None:
                values[key] = codec.to_micros(values[key], key)
        with self._store._write("receipt update") as conn:
            conn.execute(
                t_receipts.update().where(t_receipts.c.receipt_id == receipt_id).values(**values)
            )

    def pending(self) -> list[Receipt]:
        """Every receipt still to be mailed, oldest first."""
        c = t_receipts.c
        stmt = sa.select(t_receipts).where(c.state == "pending").order_by(c.receipt_id)
        with self._store._read("receipts pending") as conn:
            return [_receipt(r) for r in conn.execute(stmt).mappings().all()]

    # -- #18: several nodes mail from one table: a receipt is claimed before it is mailed ------

    def claim(self, receipt_id: int, now: datetime, until: datetime) -> Receipt | None:
        """Take a pending receipt that is due (``next_try_at`` empty or passed) for one try:
        its ``tries`` goes up by one (the claim's epoch) and ``next_try_at`` becomes ``until``
        (the lease: no other node takes it before). None when it is not pending, not due, or
        another node claimed it first (one UPDATE: two claimers never both win)."""
        c = t_receipts.c
        at = codec.to_micros(now, "now")
        with self._store._write("receipt claim") as conn:
            res = conn.execute(
                t_receipts.update()
                .where(
                    c.receipt_id == receipt_id,
                    c.state == "pending",
                    sa.or_(c.next_try_at.is_(None), c.next_try_at <= at),
                )
                .values(tries=c.tries + 1, next_try_at=codec.to_micros(until, "until"))
            )
            if res.rowcount != 1:
                return None
            row = conn.execute(sa.select(t_receipts).where(c.receipt_id == receipt_id))
            return _receipt(row.mappings().one())

    def settle(self, receipt_id: int, tries: int, **changes: Any) -> bool:
        """:meth:`update`, fenced: only while the receipt is still pending at ``tries`` (the
        claim this node made); False when another node claimed it since (its lease ran out)."""
        values = dict(changes)
        for key in _TIMES:
            if key in values and values[key] is not None:
                values[key] = codec.to_micros(values[key], key)
        c = t_receipts.c
        with self._store._write("receipt settle") as conn:
            res = conn.execute(
                t_receipts.update()
                .where(c.receipt_id == receipt_id, c.tries == tries, c.state == "pending")
                .values(**values)
            )
            return bool(res.rowcount == 1)

    def list_for(
        self, user_name: str | None, *, before: int | None = None, limit: int = 100
    ) -> list[Receipt]:
        """Receipts of ``user_name`` (None: everyone's), newest first, keyset by id."""
        c = t_receipts.c
        stmt = sa.select(t_receipts)
        if user_name is not None:
            stmt = stmt.where(c.user_name == user_name)
        if before is not None:
            stmt = stmt.where(c.receipt_id < before)
        stmt = stmt.order_by(c.receipt_id.desc()).limit(max(1, min(limit, MAX_PAGE)))
        with self._store._read("receipts list") as conn:
            return [_receipt(r) for r in conn.execute(stmt).mappings().all()]

    def keys(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` are already taken."""
        wanted = list(keys)
        if not wanted:
            return set()
        c = t_receipts.c
        with self._store._read("receipt keys") as conn:
            rows = conn.execute(sa.select(c.receipt_key).where(c.receipt_key.in_(wanted)))
            return {str(r[0]) for r in rows}

    def owed_jobs(self, since: datetime, limit: int = 500) -> list[Job]:
        """Final send jobs completed at or after ``since`` that asked for a receipt and have
        none yet (by job id): what a crash between a job's end and its receipt left."""
        j, r = t_jobs.c, t_receipts.c
        has = sa.exists().where(
            sa.or_(
                sa.and_(r.kind == "final", r.job_id == j.job_id),
                sa.and_(r.kind == "summary", r.broadcast_id == j.broadcast_id),
            )
        )
        stmt = (
            sa.select(t_jobs)
            .where(
                j.completed_at >= codec.to_micros(since, "since"),
                j.job_type == int(JobType.SEND),
                j.queue_status.in_([int(s) for s in FINAL_QUEUE_STATES]),
                j.delivery_report_type != int(DeliveryReportType.NONE),
                ~has,
            )
            .order_by(j.job_id)
            .limit(limit)
        )
        with self._store._read("receipts owed") as conn:
            return [codec.row_to_job(r) for r in conn.execute(stmt).mappings().all()]
