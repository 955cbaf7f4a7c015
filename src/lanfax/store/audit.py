"""The audit table over a :class:`~lanfax.store.sql.SqlStore` (blocking; call in a thread).

Entries are appended, never changed; a query is newest first, paginated by ``before`` (an
audit id), filtered by user, action prefix and time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from lanfax.store import codec
from lanfax.store.schema import audit as t_audit
from lanfax.store.sql import SqlStore

MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    user_name: str
    address: str
    action: str
    target: str = ""
    outcome: str = "ok"
    detail: Mapping[str, Any] = field(default_factory=dict)
    audit_id: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "audit_id": self.audit_id,
            "at": self.at.isoformat(),
            "user": self.user_name,
            "address": self.address,
            "action": self.action,
            "target": self.target,
            "outcome": self.outcome,
            "detail": dict(self.detail),
        }


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

    def add(self, entry: AuditEntry) -> int:
        row = {
            "at": codec.to_micros(entry.at, "at"),
            "user_name": entry.user_name,
            "address": entry.address,
            "action": entry.action,
            "target": entry.target,
            "outcome": entry.outcome,
            "detail": codec.dump_json(dict(entry.detail), "audit detail"),
        }
        with self._store._write("audit add") as conn:
            result = conn.execute(t_audit.insert().values(**row).returning(t_audit.c.audit_id))
            return int(result.scalar_one())

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
