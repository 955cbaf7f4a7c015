"""The ``ipp_jobs`` and ``drafts`` tables over a :class:`~lanfax.store.sql.SqlStore`
(``store.ipp``, the :class:`~lanfax.store.api.IppStore` of the SQL store).

``SqlIpp(store)`` shares the store's engine, write lock and error mapping; every method is
one transaction and blocking (call it in a worker thread).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lanfax.model.drafts import Draft, IppJob
from lanfax.store import codec
from lanfax.store.schema import drafts as t_drafts
from lanfax.store.schema import ipp_jobs as t_ipp

if TYPE_CHECKING:
    from lanfax.store.sql import SqlStore

MAX_PAGE = 1000
_JOB_TIMES = ("created_at", "completed_at")
_DRAFT_TIMES = ("created_at", "expires_at")


def _to_row(obj: Any, times: tuple[str, ...], skip: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(obj):
        if f.name == skip:
            continue
        value = getattr(obj, f.name)
        if f.name in times:
            value = None if value is None else codec.to_micros(value, f.name)
        elif f.name == "attributes":
            value = codec.dump_json(value, "ipp job attributes")
        out[f.name] = value
    return out


def _ipp_job(row: Mapping[Any, Any]) -> IppJob:
    values = dict(row)
    for key in _JOB_TIMES:
        if values[key] is not None:
            values[key] = codec.from_micros(values[key])
    values["attributes"] = codec.load_json(values["attributes"])
    return IppJob(**values)


def _draft(row: Mapping[Any, Any]) -> Draft:
    values = dict(row)
    for key in _DRAFT_TIMES:
        values[key] = codec.from_micros(values[key])
    return Draft(**values)


class SqlIpp:
    """Printed jobs and drafts in the store's database."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    # -- ipp jobs ----------------------------------------------------------------------------

    def add_job(self, job: IppJob) -> IppJob:
        """Insert ``job`` (its id is assigned here)."""
        c = t_ipp.c
        with self._store._write("ipp job add") as conn:
            new_id = conn.execute(
                t_ipp.insert()
                .values(**_to_row(job, _JOB_TIMES, "ipp_job_id"))
                .returning(c.ipp_job_id)
            ).scalar_one()
            row = conn.execute(sa.select(t_ipp).where(c.ipp_job_id == new_id)).mappings().one()
        return _ipp_job(row)

    def get_job(self, ipp_job_id: int) -> IppJob | None:
        if not 0 < ipp_job_id < 2**63:
            return None
        with self._store._read("ipp job get") as conn:
            row = (
                conn.execute(sa.select(t_ipp).where(t_ipp.c.ipp_job_id == ipp_job_id))
                .mappings()
                .first()
            )
        return None if row is None else _ipp_job(row)

    def update_job(self, ipp_job_id: int, **changes: Any) -> None:
        values = dict(changes)
        for key in _JOB_TIMES:
            if key in values and values[key] is not None:
                values[key] = codec.to_micros(values[key], key)
        if "attributes" in values:
            values["attributes"] = codec.dump_json(values["attributes"], "ipp job attributes")
        with self._store._write("ipp job update") as conn:
            conn.execute(t_ipp.update().where(t_ipp.c.ipp_job_id == ipp_job_id).values(**values))

    def list_jobs(
        self,
        user_name: str | None,
        *,
        limit: int = 100,
        states: tuple[str, ...] | None = None,
    ) -> list[IppJob]:
        """Printed jobs of ``user_name`` (None: everyone's), newest first."""
        c = t_ipp.c
        stmt = sa.select(t_ipp)
        if user_name is not None:
            stmt = stmt.where(c.user_name == user_name)
        if states is not None:
            stmt = stmt.where(c.state.in_(states))
        stmt = stmt.order_by(c.ipp_job_id.desc()).limit(max(1, min(limit, MAX_PAGE)))
        with self._store._read("ipp jobs list") as conn:
            return [_ipp_job(r) for r in conn.execute(stmt).mappings().all()]

    # -- drafts ------------------------------------------------------------------------------

    def add_draft(self, draft: Draft, ipp_job_id: int | None = None) -> Draft:
        """Insert ``draft``; with ``ipp_job_id`` the printed job becomes a ``draft`` job in
        the same transaction."""
        c = t_drafts.c
        with self._store._write("draft add") as conn:
            new_id = conn.execute(
                t_drafts.insert()
                .values(**_to_row(draft, _DRAFT_TIMES, "draft_id"))
                .returning(c.draft_id)
            ).scalar_one()
            if ipp_job_id is not None:
                conn.execute(
                    t_ipp.update()
                    .where(t_ipp.c.ipp_job_id == ipp_job_id)
                    .values(
                        state="draft",
                        draft_id=new_id,
                        completed_at=codec.to_micros(draft.created_at, "created_at"),
                        state_message="kept as a draft: no fax number was given",
                    )
                )
            row = conn.execute(sa.select(t_drafts).where(c.draft_id == new_id)).mappings().one()
        return _draft(row)

    def get_draft(self, draft_id: int) -> Draft | None:
        if not 0 < draft_id < 2**63:
            return None
        with self._store._read("draft get") as conn:
            row = (
                conn.execute(sa.select(t_drafts).where(t_drafts.c.draft_id == draft_id))
                .mappings()
                .first()
            )
        return None if row is None else _draft(row)

    def list_drafts(self, user_name: str | None, *, limit: int = 100) -> list[Draft]:
        """Drafts of ``user_name`` (None: everyone's), newest first."""
        c = t_drafts.c
        stmt = sa.select(t_drafts)
        if user_name is not None:
            stmt = stmt.where(c.user_name == user_name)
        stmt = stmt.order_by(c.draft_id.desc()).limit(max(1, min(limit, MAX_PAGE)))
        with self._store._read("drafts list") as conn:
            return [_draft(r) for r in conn.execute(stmt).mappings().all()]

    def delete_draft(self, draft_id: int) -> bool:
        with self._store._write("draft delete") as conn:
            n = conn.execute(t_drafts.delete().where(t_drafts.c.draft_id == draft_id)).rowcount
        return bool(n)

    def expired_drafts(self, now: datetime, limit: int = 500) -> list[Draft]:
        c = t_drafts.c
        stmt = (
            sa.select(t_drafts)
            .where(c.expires_at <= codec.to_micros(now, "now"))
            .order_by(c.expires_at)
            .limit(limit)
        )
        with self._store._read("drafts expired") as conn:
            return [_draft(r) for r in conn.execute(stmt).mappings().all()]
