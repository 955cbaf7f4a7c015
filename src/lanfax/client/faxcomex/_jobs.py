"""The queues and their jobs: FaxOutgoingQueue (FaxOutgoingJob) and FaxIncomingQueue
(FaxIncomingJob). A job id is a string, as in Windows (lanfax's job id in decimal).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from lanfax.client.faxcomex._common import (
    FAX_JOB_OPERATIONS_ENUM,
    FAX_JOB_STATUS_ENUM,
    FAX_JOB_TYPE_ENUM,
    FAX_PRIORITY_TYPE_ENUM,
    FAX_RECEIPT_TYPE_ENUM,
    Collection,
    com_object,
    extended_status,
    job_status,
    not_supported,
)
from lanfax.client.faxcomex._document import FaxRecipient, FaxSender
from lanfax.model.codes import DeliveryReportType, JobType, QueueStatus
from lanfax.model.errors import InvalidInput
from lanfax.model.jobs import Job
from lanfax.model.transitions import Trigger, sources

if TYPE_CHECKING:
    from lanfax.client import Client

__all__ = [
    "FaxIncomingJob",
    "FaxIncomingJobs",
    "FaxIncomingQueue",
    "FaxOutgoingJob",
    "FaxOutgoingJobs",
    "FaxOutgoingQueue",
]

ClientOf = Callable[[str], "Client"]
V = TypeVar("V")
J = TypeVar("J")
JS = TypeVar("JS")
_UNFINISHED = [
    s
    for s in QueueStatus
    if s
    not in (
        QueueStatus.COMPLETED,
        QueueStatus.CANCELED,
        QueueStatus.FAILED,
        QueueStatus.RETRIES_EXCEEDED,
    )
]
_O = FAX_JOB_OPERATIONS_ENUM


def _job_id(bstrJobId: Any) -> int:
    try:
        return int(str(bstrJobId).strip(), 0 if str(bstrJobId).strip().startswith("0x") else 10)
    except ValueError:
        raise InvalidInput(f"{bstrJobId!r} is not a job id", hint='e.g. "12"') from None


def _write(path: str, data: bytes) -> None:
    try:
        with open(os.fspath(path), "wb") as f:
            f.write(data)
    except OSError as exc:
        raise InvalidInput(
            f"cannot write {path}: {exc.strerror or exc}", hint="give a path you may write"
        ) from None


def _operations(job: Job) -> FAX_JOB_OPERATIONS_ENUM:
    # The states each action is allowed from are the service's own (its transitions table),
    # not a copy that could drift from what the server accepts.
    ops = _O.fjoVIEW
    s = job.queue_status
    if s in sources(Trigger.PAUSE):
        ops |= _O.fjoPAUSE
    if s in sources(Trigger.RESUME):
        ops |= _O.fjoRESUME
    if s in sources(Trigger.RESTART):
        ops |= _O.fjoRESTART
    if s not in (QueueStatus.CANCELING, QueueStatus.DELETING):
        ops |= _O.fjoDELETE
    return ops | _O.fjoRECIPIENT_INFO | _O.fjoSENDER_INFO


class _JobBase:
    """What outgoing and incoming jobs share: a snapshot of the job, Refresh, CopyTiff."""

    def __init__(self, client_of: ClientOf, job: Job) -> None:
        self._client_of = client_of
        self._job = job

    def _c(self, member: str) -> Client:
        return self._client_of(member)

    @property
    def Id(self) -> str:
        return str(self._job.job_id)

    @property
    def Status(self) -> FAX_JOB_STATUS_ENUM:
        return job_status(self._job.queue_status)

    @property
    def ExtendedStatusCode(self) -> int:
        return int(extended_status(self._job.device_status))

    @property
    def ExtendedStatus(self) -> str:
        return self._job.status_text

    @property
    def AvailableOperations(self) -> FAX_JOB_OPERATIONS_ENUM:
        return _operations(self._job)

    @property
    def CurrentPage(self) -> int:
        return self._job.pages_done

    @property
    def DeviceId(self) -> int:
        return self._job.device_id or 0

    @property
    def Size(self) -> int:
        return self._job.size

    @property
    def CallerId(self) -> str:
        return self._job.caller_id

    @property
    def TransmissionStart(self) -> datetime | None:
        return self._job.started_at

    @property
    def TransmissionEnd(self) -> datetime | None:
        return self._job.completed_at

    def Refresh(self) -> None:
        self._job = self._c("Refresh").job(self._job.job_id)

    def Cancel(self) -> None:
        self._job = self._c("Cancel").cancel(self._job.job_id)

    def CopyTiff(self, bstrTiffPath: str) -> None:
        """Write the job's fax (TIFF) to ``bstrTiffPath``."""
        _write(bstrTiffPath, self._c("CopyTiff").document(self._job.job_id))


@com_object
class FaxOutgoingJob(_JobBase):
    """A fax in the outgoing queue."""

    @property
    def SubmissionId(self) -> str:
        return self._job.broadcast_id

    @property
    def DocumentName(self) -> str:
        return self._job.document_name

    @property
    def Pages(self) -> int:
        return self._job.page_count

    @property
    def Priority(self) -> FAX_PRIORITY_TYPE_ENUM:
        return FAX_PRIORITY_TYPE_ENUM(int(self._job.priority))

    @property
    def Recipient(self) -> FaxRecipient:
        return FaxRecipient(self._job.recipient_number, self._job.recipient_name)

    @property
    def Sender(self) -> FaxSender:
        s = FaxSender()
        s.Name, s.Company = self._job.sender_name, self._job.sender_company
        s.Department, s.BillingCode = self._job.sender_dept, self._job.billing_code
        s.TSID = self._job.tsid
        return s

    @property
    def Subject(self) -> str:
        return self._job.cover_page.subject if self._job.cover_page else ""

    @property
    def SubmissionTime(self) -> datetime:
        return self._job.submitted_at

    @property
    def ScheduledTime(self) -> datetime | None:
        return self._job.next_attempt_at or self._job.schedule_time

    @property
    def OriginalScheduledTime(self) -> datetime | None:
        return self._job.schedule_time or self._job.submitted_at

    @property
    def TSID(self) -> str:
        return self._job.tsid

    @property
    def CSID(self) -> str:
        return self._job.remote_ident

    @property
    def Retries(self) -> int:
        return self._job.attempts

    @property
    def ReceiptType(self) -> FAX_RECEIPT_TYPE_ENUM:
        kind = self._job.delivery_report_type
        if kind is DeliveryReportType.EMAIL:
            return FAX_RECEIPT_TYPE_ENUM.frtMAIL
        if kind is DeliveryReportType.INBOX:
            return FAX_RECEIPT_TYPE_ENUM.frtMSGBOX
        return FAX_RECEIPT_TYPE_ENUM.frtNONE

    @property
    def GroupBroadcastReceipts(self) -> bool:
        return bool(self._job.extra.get("receipt_summary"))

    @property
    def ErrorCode(self) -> int:
        return 0 if self._job.last_failure is None else 1

    def Pause(self) -> None:
        self._job = self._c("Pause").pause(self._job.job_id)

    def Resume(self) -> None:
        self._job = self._c("Resume").resume(self._job.job_id)

    def Restart(self) -> None:
        self._job = self._c("Restart").restart(self._job.job_id)


@com_object
class FaxIncomingJob(_JobBase):
    """A fax being received or routed (the incoming queue)."""

    @property
    def JobType(self) -> FAX_JOB_TYPE_ENUM:
        if self._job.job_type is JobType.ROUTING:
            return FAX_JOB_TYPE_ENUM.fjtROUTING
        return FAX_JOB_TYPE_ENUM.fjtRECEIVE

    @property
    def TSID(self) -> str:
        return self._job.remote_ident

    @property
    def CSID(self) -> str:
        return self._job.tsid

    @property
    def RoutingInformation(self) -> str:
        return self._job.routing_string

    @property
    def RetriesLeft(self) -> int:
        return max(0, 10 - self._job.attempts) if self._job.job_type is JobType.ROUTING else 0


@com_object
class FaxOutgoingJobs(Collection[FaxOutgoingJob]):
    _what = "the outgoing jobs"


@com_object
class FaxIncomingJobs(Collection[FaxIncomingJob]):
    _what = "the incoming jobs"


def _unfinished(client: Client, types: str) -> list[Job]:
    return list(client.iter_jobs(status=_UNFINISHED, type=types))


class _ConfigBase:
    """Refresh/Save over the server configuration (FaxSetConfiguration underneath)."""

    def __init__(self, client_of: ClientOf) -> None:
        self._client_of = client_of
        self._changes: dict[str, Any] = {}
        self._config: Any = None

    def _cfg(self) -> Any:
        if self._config is None:
            self._config = self._client_of("Refresh").get_config()
        return self._config

    def _get(self, key: str) -> Any:
        return self._changes.get(key, getattr(self._cfg(), key))

    def _set(self, key: str, value: Any) -> None:
        self._changes[key] = value

    def Refresh(self) -> None:
        self._changes.clear()
        self._config = self._client_of("Refresh").get_config()

    def Save(self) -> None:
        if self._changes:
            self._config = self._client_of("Save").set_config(**self._changes)
        self._changes.clear()


def _hhmm(text: str) -> datetime:
    hour, minute = (int(p) for p in text.split(":"))
    return datetime(1899, 12, 30, hour, minute)  # VB's date zero, time of day only


class _Setting(property, Generic[V]):
    """A queue setting as a read-write COM property over :class:`_ConfigBase`: ``get`` turns
    the server's value into the property's, ``put`` the property's into the server's
    (default: ``get``). Saved with the queue's Save."""

    def __init__(
        self, key: str, get: Callable[[Any], V], put: Callable[[V], Any] | None = None
    ) -> None:
        store = put or get

        def fget(queue: _ConfigBase) -> V:
            return get(queue._get(key))

        def fset(queue: _ConfigBase, value: V) -> None:
            queue._set(key, store(value))

        super().__init__(fget, fset)

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _Setting[V]: ...
    @overload
    def __get__(self, obj: _ConfigBase, owner: type | None = None) -> V: ...
    def __get__(self, obj: _ConfigBase | None, owner: type | None = None) -> V | _Setting[V]:
        return super().__get__(obj, owner)

    def __set__(self, obj: _ConfigBase, value: V) -> None:
        super().__set__(obj, value)


def _hhmm_text(value: datetime) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"


class _Queue(Generic[J, JS]):
    """GetJobs, GetJob and Blocked, as both queues have them: the unfinished jobs of the
    queue's ``_kinds``; one job by id (InvalidInput if it is of the other queue)."""

    _client_of: ClientOf
    _kinds: tuple[JobType, ...]
    _job_class: Callable[[ClientOf, Job], J]
    _jobs_class: Callable[[list[J]], JS]
    _what: str
    _other: str
    _not_blocked: str  # what to do instead of blocking the queue

    def GetJobs(self) -> JS:
        client = self._client_of("GetJobs")
        types = ",".join(k.name.lower() for k in self._kinds)
        return self._jobs_class(
            [self._job_class(self._client_of, j) for j in _unfinished(client, types)]
        )

    def GetJob(self, bstrJobId: str) -> J:
        job = self._client_of("GetJob").job(_job_id(bstrJobId))
        if job.job_type not in self._kinds:
            raise InvalidInput(f"job {bstrJobId} is not {self._what}", hint=self._other)
        return self._job_class(self._client_of, job)

    @property
    def Blocked(self) -> bool:
        return False

    @Blocked.setter
    def Blocked(self, value: bool) -> None:
        if value:
            raise not_supported(f"{type(self).__name__}.Blocked", self._not_blocked)


@com_object
class FaxOutgoingQueue(_ConfigBase, _Queue[FaxOutgoingJob, FaxOutgoingJobs]):
    """The outgoing queue: its jobs and its settings (Save writes changed settings)."""

    _kinds = (JobType.SEND,)
    _job_class = FaxOutgoingJob
    _jobs_class = FaxOutgoingJobs
    _what = "an outgoing job"
    _other = "IncomingQueue"
    _not_blocked = "lanfax pauses the queue (Paused)"

    Paused = _Setting("pause_server_queue", bool)
    Retries = _Setting("retries", int)
    RetryDelay = _Setting("retry_delay", int)
    AgeLimit = _Setting("dirty_days", int)
    Branding = _Setting("branding", bool)
    UseDeviceTSID = _Setting("use_device_tsid", bool)
    AllowPersonalCoverPages = _Setting("server_cp", lambda v: not v)
    DiscountRateStart = _Setting("start_cheap_time", lambda v: _hhmm(str(v)), _hhmm_text)
    DiscountRateEnd = _Setting("stop_cheap_time", lambda v: _hhmm(str(v)), _hhmm_text)


@com_object
class FaxIncomingQueue(_Queue[FaxIncomingJob, FaxIncomingJobs]):
    """The incoming queue: faxes being received or routed."""

    _kinds = (JobType.RECEIVE, JobType.ROUTING)
    _job_class = FaxIncomingJob
    _jobs_class = FaxIncomingJobs
    _what = "an incoming job"
    _other = "OutgoingQueue"
    _not_blocked = "take the receive flag off the devices instead"

    def __init__(self, client_of: ClientOf) -> None:
        self._client_of = client_of

    def Refresh(self) -> None:
        return None

    def Save(self) -> None:
        return None
