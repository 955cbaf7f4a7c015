"""Delivery receipts (DeliveryReportType e-mail / inbox), as the client API sees them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: What a receipt reports: a job's final state, one failed attempt with retries left, or
#: the end of a whole broadcast (one summary instead of one receipt per recipient); or a
#: notice of the e-mail to fax gateway: a mail accepted (N jobs) or refused (why).
RECEIPT_KINDS = ("final", "attempt", "summary", "smtp_accepted", "smtp_refused")
#: Where it goes: mailed to DeliveryReportAddress, or kept in the submitter's inbox.
RECEIPT_DELIVERIES = ("email", "inbox")
#: pending (to be mailed, maybe after a retry), sent, failed (gave up), stored (inbox).
RECEIPT_STATES = ("pending", "sent", "failed", "stored")


@dataclass(frozen=True, slots=True)
class Receipt:
    """One receipt. ``facts`` holds what it says as data (per job: number, result, pages,
    duration, remote ident, rate, ECM, attempts, retries left; a summary: ``jobs``, a list
    of those); ``subject`` and ``body`` are the text a person reads."""

    receipt_id: int
    kind: str
    job_id: int
    created_at: datetime
    broadcast_id: str = ""
    user_name: str = ""
    delivery: str = "inbox"
    address: str = ""
    state: str = "stored"
    sent_at: datetime | None = None
    tries: int = 0
    next_try_at: datetime | None = None
    last_error: str = ""
    subject: str = ""
    body: str = ""
    facts: dict[str, Any] = field(default_factory=dict)


#: The largest page of receipts one listing returns (#17: from lanfax.store.receipts).
MAX_PAGE = 1000
