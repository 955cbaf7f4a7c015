"""The audit table over a :class:`~lanfax.store.sql.SqlStore` (blocking; call in a thread).

Entries are appended, never changed; a query is newest first, paginated by ``before`` (an
audit id), filtered by user, action prefix and time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from lanfax.store import codec
from lanfax.store.api import AuditEntry
from lanfax.store.schema import audit as t_audit
from lanfax.store.sql import SqlStore

__all__ = ["MAX_PAGE", "AuditEntry", "AuditQuery", "SqlAudit"]

MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class AuditQuery:
    limit: int = 100
    before: int | None = None
    user_name: str | None = None
    action: str | None = None  # a prefix: "user." matches user.add, user.remove, ...
    since: datetime | None = None


class SqlAudit:
    def __init__(self, store: SqlStore) -> None:
        self._store = store

    def prune(self, before: datetime) -> int:
        """Delete the entries written before ``before`` (the retention, issue #14)."""
        with self._store._write("audit prune") as conn:
            result = conn.execute(
                t_audit.delete().where(t_audit.c.at < codec.to_micros(before, "before"))
            )
        return int(result.rowcount or 0)

    def add(self, entry: AuditEntry) -> int:
        with self._store._write("audit add") as conn:
            (audit_id,) = self._store._insert_audit(conn, [entry])
            return audit_id

    def query(self, q: AuditQuery) -> list[AuditEntry]:
        stmt = sa.select(t_audit)
        if q.before is not None:
            stmt = stmt.where(t_audit.c.audit_id < q.before)
        if q.user_name:
            stmt = stmt.where(t_audit.c.user_name == q.user_name)
        if q.action:
            escaped = q.action.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            stmt = stmt.where(t_audit.c.action.like(escaped + "%", escape="\\"))
        if q.since is not None:
            stmt = stmt.where(t_audit.c.at >= codec.to_micros(q.since, "since"))
        stmt = stmt.order_by(t_audit.c.audit_id.desc()).limit(max(1, min(q.limit, MAX_PAGE)))
        with self._store._read("audit query") as conn:
            rows = conn.execute(stmt).mappings().all()
        return [
            AuditEntry(
                at=codec.from_micros(r["at"]),
                user_name=r["user_name"],
                address=r["address"],
                action=r["action"],
                target=r["target"],
                outcome=r["outcome"],
                detail=codec.load_json(r["detail"]),
                audit_id=int(r["audit_id"]),
            )
            for r in rows
        ]
