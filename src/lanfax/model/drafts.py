"""Drafts and printed jobs: what the IPP FaxOut printer keeps (issue #11).

A :class:`Draft` is a document printed to the fax printer without a fax number (a desktop
that prints to an ordinary IPP printer cannot ask for one). It belongs to the user who
printed it, waits until ``expires_at`` (the ``draft_days`` setting) and is sent later with
``lanfax draft send ID --to NUMBER`` (``POST /api/v1/drafts/{id}/send``).

An :class:`IppJob` is one job printed to ``/ipp/faxout``: the job-id a desktop's print queue
shows, and what became of it (a broadcast, a draft, or nothing: canceled or aborted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Draft:
    draft_id: int
    user_name: str
    document_name: str
    document_format: str
    size: int
    created_at: datetime
    expires_at: datetime
    #: The IPP job that made it (None when made otherwise).
    ipp_job_id: int | None = None
    #: Spool-relative path of the document as printed (the server's business, not on the wire).
    document_path: str = field(default="", repr=False)


#: ``IppJob.state`` values (the IPP job-state of a ``faxing`` job follows its broadcast).
IPP_INCOMING = "incoming"
IPP_FAXING = "faxing"
IPP_DRAFT = "draft"
IPP_CANCELED = "canceled"
IPP_ABORTED = "aborted"


@dataclass(frozen=True, slots=True)
class IppJob:
    ipp_job_id: int
    user_name: str
    job_name: str
    created_at: datetime
    state: str
    state_message: str = ""
    broadcast_id: str = ""
    draft_id: int | None = None
    completed_at: datetime | None = None
    #: What Create-Job asked (destinations, cover sheet, retries), kept for Send-Document.
    attributes: dict[str, Any] = field(default_factory=dict)
