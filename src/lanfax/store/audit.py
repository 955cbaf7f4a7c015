"""The audit table over a :class:`~lanfax.store.sql.SqlStore` (``store.audit``, the
:class:`~lanfax.store.api.AuditStore` of the SQL store; blocking: call it in a thread).

Entries are appended, never changed; a query is newest first, paginated by ``before`` (an
audit id), filtered by user, action prefix and time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

# The entry and query types live in the model (#17); imported from here by older code.
from lanfax.model.audit import MAX_PAGE, AuditEntry, AuditQuery
from lanfax.store import codec
from lanfax.store.schema import audit as t_audit

if TYPE_CHECKING:
    from lanfax.store.sql import SqlStore

__all__ = ["MAX_PAGE", "AuditEntry", "AuditQuery", "SqlAudit"]


def entry_from_row(r: Mapping[Any, Any]) -> AuditEntry:
    """An audit row (as every store encodes it, through store.codec) as an AuditEntry."""
    return AuditEntry(
        at=codec.from_micros(r["at"]),
        user_name=r["user_name"],
        address=r["address"],
        action=r["action"],
        target=r["target"],
        outcome=r["outcome"],
        detail=codec.load_json(r["detail"]),
        audit_id=int(r["audit_id"]),
    )


class SqlAudit:
    """The SQL :class:`~lanfax.store.api.AuditStore` (``SqlStore.audit``)."""

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
        return [entry_from_row(r) for r in rows]
