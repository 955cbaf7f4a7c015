"""The audit trail's vocabulary: an entry (who, what, when, from where) and a query.

(#17: moved here from ``lanfax.store``, which re-exports them, so that the HTTP API and the
service speak of the audit trail without importing the store.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: The largest page an audit query returns.
MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit trail: who, what, when, from where."""

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
    """A page of the audit trail, newest first: entries with an id below ``before``."""

    limit: int = 100
    before: int | None = None
    user_name: str | None = None
    action: str | None = None  # a prefix: "user." matches user.add, user.remove, ...
    since: datetime | None = None
