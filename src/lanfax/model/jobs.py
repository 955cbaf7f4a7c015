"""Jobs: what a sender submits (:class:`JobParams`, :class:`CoverPageInfo`) and what the
queue keeps (:class:`Job`, the FAX_JOB_ENTRY fields and the service's own bookkeeping)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lanfax.model.codes import (
    DeliveryReportType,
    DeviceStatus,
    FailureClass,
    JobType,
    Priority,
    QueueStatus,
    ScheduleAction,
)


@dataclass(frozen=True, slots=True)
class CoverPageInfo:
    """FAX_COVERPAGE_INFO: the fields a cover page template can show."""

    cover_page_name: str = ""
    use_server_cover_page: bool = False
    rec_name: str = ""
    rec_fax_number: str = ""
    rec_company: str = ""
    rec_street_address: str = ""
    rec_city: str = ""
    rec_state: str = ""
    rec_zip: str = ""
    rec_country: str = ""
    rec_title: str = ""
    rec_department: str = ""
    rec_office_location: str = ""
    rec_home_phone: str = ""
    rec_office_phone: str = ""
    sdr_name: str = ""
    sdr_fax_number: str = ""
    sdr_company: str = ""
    sdr_address: str = ""
    sdr_title: str = ""
    sdr_department: str = ""
    sdr_office_location: str = ""
    sdr_home_phone: str = ""
    sdr_office_phone: str = ""
    note: str = ""
    subject: str = ""
    time_sent: datetime | None = None
    page_count: int = 0


@dataclass(frozen=True, slots=True)
class JobParams:
    """FAX_JOB_PARAM: what a submission carries for one recipient."""

    recipient_number: str
    recipient_name: str = ""
    tsid: str = ""
    sender_name: str = ""
    sender_company: str = ""
    sender_dept: str = ""
    billing_code: str = ""
    schedule_action: ScheduleAction = ScheduleAction.NOW
    schedule_time: datetime | None = None
    delivery_report_type: DeliveryReportType = DeliveryReportType.NONE
    delivery_report_address: str = ""
    document_name: str = ""
    call_handle: str = ""
    priority: Priority = Priority.NORMAL


@dataclass(frozen=True, slots=True)
class Job:
    """One queue entry: every FAX_JOB_ENTRY field plus what the service tracks.

    Instances are immutable snapshots; the store hands out a new one after each change.
    """

    job_id: int
    job_type: JobType
    queue_status: QueueStatus
    submitted_at: datetime
    user_name: str = ""
    device_status: DeviceStatus = DeviceStatus.NONE
    size: int = 0
    page_count: int = 0
    recipient_number: str = ""
    recipient_name: str = ""
    tsid: str = ""
    sender_name: str = ""
    sender_company: str = ""
    sender_dept: str = ""
    billing_code: str = ""
    schedule_action: ScheduleAction = ScheduleAction.NOW
    schedule_time: datetime | None = None
    delivery_report_type: DeliveryReportType = DeliveryReportType.NONE
    delivery_report_address: str = ""
    document_name: str = ""
    call_handle: str = ""
    priority: Priority = Priority.NORMAL
    # -- the service's bookkeeping --
    broadcast_id: str = ""
    #: Spool-relative path of the TIFF Class F to send, or of the received fax.
    document_path: str = ""
    cover_page: CoverPageInfo | None = None
    #: Attempts made so far (a call that reached the line counts, even if the server died).
    attempts: int = 0
    #: Not before this time (retry delay, specific time, discount period), or None for now.
    next_attempt_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    device_id: int | None = None
    last_failure: FailureClass | None = None
    status_text: str = ""
    #: Pages the far end confirmed (send) or that were stored (receive).
    pages_done: int = 0
    remote_ident: str = ""
    caller_id: str = ""
    routing_string: str = ""
    bit_rate: int = 0
    ecm: bool = False
    compression: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def replace(self, **changes: Any) -> Job:
        return dataclasses.replace(self, **changes)

    @property
    def is_final(self) -> bool:
        return self.queue_status.is_final


# -- queries (#17: moved here from lanfax.store.api, which re-exports it) --


@dataclass(frozen=True, slots=True)
class JobQuery:
    """A page of the queue, newest-first or oldest-first, by keyset on job_id."""

    limit: int = 100
    #: Return jobs with job_id greater than this (ascending order) ...
    after_id: int | None = None
    #: ... or less than this (descending order). At most one of the two is set.
    before_id: int | None = None
    statuses: frozenset[QueueStatus] | None = None
    job_types: frozenset[JobType] | None = None
    user_name: str | None = None
    broadcast_id: str | None = None
    descending: bool = False
