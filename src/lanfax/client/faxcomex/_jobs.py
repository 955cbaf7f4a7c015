"""The folders: queues with their jobs, archives with their messages.

FaxFolders -> FaxOutgoingQueue (FaxOutgoingJob), FaxIncomingQueue (FaxIncomingJob),
FaxOutgoingArchive (FaxOutgoingMessage), FaxIncomingArchive (FaxIncomingMessage). A job id or
message id is a string, as in Windows (lanfax's job id / archive id in decimal).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

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
from lanfax.model.archive import ArchiveEntry
from lanfax.model.codes import DeliveryReportType, JobType, QueueStatus
from lanfax.model.errors import InvalidInput
from lanfax.model.jobs import Job

if TYPE_CHECKING:
    from lanfax.client import Client

__all__ = [
    "FaxFolders",
    "FaxIncomingArchive",
    "FaxIncomingJob",
    "FaxIncomingJobs",
    "FaxIncomingMessage",
    "FaxIncomingMessageIterator",
    "FaxIncomingQueue",
    "FaxOutgoingArchive",
    "FaxOutgoingJob",
    "FaxOutgoingJobs",
    "FaxOutgoingMessage",
    "FaxOutgoingMessageIterator",
    "FaxOutgoingQueue",
]

ClientOf = Callable[[str], "Client"]
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
    ops = _O.fjoVIEW
    s = job.queue_status
    if s in (QueueStatus.PENDING, QueueStatus.RETRYING, QueueStatus.NO_LINE):
        ops |= _O.fjoPAUSE
    if s is QueueStatus.PAUSED:
        ops |= _O.fjoRESUME
    if s in (QueueStatus.FAILED, QueueStatus.RETRIES_EXCEEDED):
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


@com_object
class FaxOutgoingQueue(_ConfigBase):
    """The outgoing queue: its jobs and its settings (Save writes changed settings)."""

    def GetJobs(self) -> FaxOutgoingJobs:
        client = self._client_of("GetJobs")
        jobs = _unfinished(client, "send")
        return FaxOutgoingJobs([FaxOutgoingJob(self._client_of, j) for j in jobs])

    def GetJob(self, bstrJobId: str) -> FaxOutgoingJob:
        job = self._client_of("GetJob").job(_job_id(bstrJobId))
        if job.job_type is not JobType.SEND:
            raise InvalidInput(f"job {bstrJobId} is not an outgoing job", hint="IncomingQueue")
        return FaxOutgoingJob(self._client_of, job)

    @property
    def Paused(self) -> bool:
        return bool(self._get("pause_server_queue"))

    @Paused.setter
    def Paused(self, value: bool) -> None:
        self._set("pause_server_queue", bool(value))

    @property
    def Blocked(self) -> bool:
        return False

    @Blocked.setter
    def Blocked(self, value: bool) -> None:
        if value:
            raise not_supported("FaxOutgoingQueue.Blocked", "lanfax pauses the queue (Paused)")

    @property
    def Retries(self) -> int:
        return int(self._get("retries"))

    @Retries.setter
    def Retries(self, value: int) -> None:
        self._set("retries", int(value))

    @property
    def RetryDelay(self) -> int:
        return int(self._get("retry_delay"))

    @RetryDelay.setter
    def RetryDelay(self, value: int) -> None:
        self._set("retry_delay", int(value))

    @property
    def AgeLimit(self) -> int:
        return int(self._get("dirty_days"))

    @AgeLimit.setter
    def AgeLimit(self, value: int) -> None:
        self._set("dirty_days", int(value))

    @property
    def Branding(self) -> bool:
        return bool(self._get("branding"))

    @Branding.setter
    def Branding(self, value: bool) -> None:
        self._set("branding", bool(value))

    @property
    def UseDeviceTSID(self) -> bool:
        return bool(self._get("use_device_tsid"))

    @UseDeviceTSID.setter
    def UseDeviceTSID(self, value: bool) -> None:
        self._set("use_device_tsid", bool(value))

    @property
    def AllowPersonalCoverPages(self) -> bool:
        return not self._get("server_cp")

    @AllowPersonalCoverPages.setter
    def AllowPersonalCoverPages(self, value: bool) -> None:
        self._set("server_cp", not value)

    @property
    def DiscountRateStart(self) -> datetime:
        return _hhmm(str(self._get("start_cheap_time")))

    @DiscountRateStart.setter
    def DiscountRateStart(self, value: datetime) -> None:
        self._set("start_cheap_time", f"{value.hour:02d}:{value.minute:02d}")

    @property
    def DiscountRateEnd(self) -> datetime:
        return _hhmm(str(self._get("stop_cheap_time")))

    @DiscountRateEnd.setter
    def DiscountRateEnd(self, value: datetime) -> None:
        self._set("stop_cheap_time", f"{value.hour:02d}:{value.minute:02d}")


@com_object
class FaxIncomingQueue:
    """The incoming queue: faxes being received or routed."""

    def __init__(self, client_of: ClientOf) -> None:
        self._client_of = client_of

    def GetJobs(self) -> FaxIncomingJobs:
        client = self._client_of("GetJobs")
        jobs = _unfinished(client, "receive,routing")
        return FaxIncomingJobs([FaxIncomingJob(self._client_of, j) for j in jobs])

    def GetJob(self, bstrJobId: str) -> FaxIncomingJob:
        job = self._client_of("GetJob").job(_job_id(bstrJobId))
        if job.job_type not in (JobType.RECEIVE, JobType.ROUTING):
            raise InvalidInput(f"job {bstrJobId} is not an incoming job", hint="OutgoingQueue")
        return FaxIncomingJob(self._client_of, job)

    @property
    def Blocked(self) -> bool:
        return False

    @Blocked.setter
    def Blocked(self, value: bool) -> None:
        if value:
            raise not_supported(
                "FaxIncomingQueue.Blocked", "take the receive flag off the devices instead"
            )

    def Refresh(self) -> None:
        return None

    def Save(self) -> None:
        return None


# -- archives ---------------------------------------------------------------------------------


class _MessageBase:
    def __init__(self, client_of: ClientOf, entry: ArchiveEntry) -> None:
        self._client_of = client_of
        self._e = entry

    @property
    def Id(self) -> str:
        return str(self._e.archive_id)

    @property
    def Pages(self) -> int:
        return self._e.pages

    @property
    def Size(self) -> int:
        return self._e.size

    @property
    def DeviceName(self) -> str:
        return str(self._e.device_id)

    @property
    def TransmissionEnd(self) -> datetime:
        return self._e.completed_at

    @property
    def TransmissionStart(self) -> datetime:
        return self._e.completed_at - timedelta(seconds=self._e.duration)

    def CopyTiff(self, bstrTiffPath: str) -> None:
        data = self._client_of("CopyTiff").archived_document(self._e.direction, self._e.archive_id)
        _write(bstrTiffPath, data)

    def Delete(self) -> None:
        self._client_of("Delete").delete_archived(self._e.direction, self._e.archive_id)


@com_object
class FaxOutgoingMessage(_MessageBase):
    """A sent fax in the outgoing archive."""

    @property
    def SubmissionId(self) -> str:
        return str(self._e.job_id)

    @property
    def DocumentName(self) -> str:
        return self._e.document_name

    @property
    def Recipient(self) -> FaxRecipient:
        return FaxRecipient(self._e.number, self._e.recipient_name)

    @property
    def Sender(self) -> FaxSender:
        s = FaxSender()
        s.Name, s.TSID = self._e.sender_name, self._e.local_ident
        return s

    @property
    def TSID(self) -> str:
        return self._e.local_ident

    @property
    def CSID(self) -> str:
        return self._e.remote_ident

    @property
    def SubmissionTime(self) -> datetime | None:
        return self._e.submitted_at

    @property
    def OriginalScheduledTime(self) -> datetime | None:
        return self._e.submitted_at

    @property
    def Priority(self) -> FAX_PRIORITY_TYPE_ENUM:
        raise not_supported("FaxOutgoingMessage.Priority", "the archive keeps no priority")

    @property
    def Retries(self) -> int:
        raise not_supported("FaxOutgoingMessage.Retries", "see the activity log instead")

    @property
    def Subject(self) -> str:
        return ""

    @property
    def Result(self) -> str:
        """lanfax addition: completed, failed, retries_exceeded or canceled."""
        return self._e.result


@com_object
class FaxIncomingMessage(_MessageBase):
    """A received fax in the incoming archive."""

    @property
    def CallerId(self) -> str:
        return self._e.caller_id

    @property
    def TSID(self) -> str:
        return self._e.remote_ident

    @property
    def CSID(self) -> str:
        return self._e.local_ident

    @property
    def RoutingInformation(self) -> str:
        return self._e.number

    @property
    def Subject(self) -> str:
        return ""


class _Iterator:
    """GetMessages' iterator: MoveFirst, MoveNext, AtEOF, Message, PrefetchSize."""

    _direction = ""

    def __init__(self, client_of: ClientOf, prefetch: int, user: str = "") -> None:
        self._client_of = client_of
        self._user = user
        self.PrefetchSize = prefetch
        self._entries: list[ArchiveEntry] = []
        self._next: str | None = None
        self._pos = 0
        self.MoveFirst()

    def _fetch(self, cursor: str) -> None:
        page = self._client_of("GetMessages").archive(
            self._direction,
            limit=max(1, min(int(self.PrefetchSize), 1000)),
            cursor=cursor,
            user=self._user,
        )
        self._entries += page.entries
        self._next = page.next

    def MoveFirst(self) -> None:
        self._entries, self._next, self._pos = [], None, 0
        self._fetch("")

    def MoveNext(self) -> None:
        self._pos += 1
        if self._pos >= len(self._entries) and self._next:
            self._fetch(self._next)

    @property
    def AtEOF(self) -> bool:
        return self._pos >= len(self._entries)

    @property
    def Message(self) -> Any:  # pragma: no cover - each iterator has its own
        raise NotImplementedError

    def _current(self) -> ArchiveEntry:
        if self.AtEOF:
            raise InvalidInput("the iterator is past the last message", hint="check AtEOF")
        return self._entries[self._pos]

    def __iter__(self) -> Iterator[Any]:
        self.MoveFirst()
        while not self.AtEOF:
            yield self.Message
            self.MoveNext()


@com_object
class FaxOutgoingMessageIterator(_Iterator):
    _direction = "outgoing"

    @property
    def Message(self) -> FaxOutgoingMessage:
        return FaxOutgoingMessage(self._client_of, self._current())


@com_object
class FaxIncomingMessageIterator(_Iterator):
    _direction = "incoming"

    @property
    def Message(self) -> FaxIncomingMessage:
        return FaxIncomingMessage(self._client_of, self._current())


class _Archive:
    """An archive's messages and its policy (Refresh/Save over /archive/config)."""

    _direction = ""

    def __init__(self, client_of: ClientOf, user: str = "") -> None:
        self._client_of = client_of
        self._user = user
        self._config: dict[str, Any] | None = None
        self._changes: dict[str, Any] = {}

    def _policy(self) -> dict[str, Any]:
        if self._config is None:
            self._config = self._client_of("Refresh").archive_config()
        changes = {k: v for k, v in self._changes.items() if k != "use_archive"}
        return {**dict(self._config[self._direction]), **changes}

    def Refresh(self) -> None:
        self._config, self._changes = None, {}

    def Save(self) -> None:
        changes = dict(self._changes)
        use = changes.pop("use_archive", None)
        if use is not None:  # the outgoing archive's switch is ArchiveOutgoingFaxes
            self._client_of("Save").set_config(archive_outgoing_faxes=bool(use))
            self._config = None
        if changes:
            self._config = self._client_of("Save").set_archive_config({self._direction: changes})
        self._changes = {}

    @property
    def UseArchive(self) -> bool:
        return bool(self._policy()["enabled"])

    @UseArchive.setter
    def UseArchive(self, value: bool) -> None:
        self._changes["enabled"] = bool(value)

    @property
    def AgeLimit(self) -> int:
        return int(self._policy()["max_age_days"])

    @AgeLimit.setter
    def AgeLimit(self, value: int) -> None:
        self._changes["max_age_days"] = int(value)

    @property
    def HighQuotaWaterMark(self) -> int:
        return int(self._policy()["high_watermark_mb"])

    @HighQuotaWaterMark.setter
    def HighQuotaWaterMark(self, value: int) -> None:
        self._changes["high_watermark_mb"] = int(value)

    @property
    def LowQuotaWaterMark(self) -> int:
        return int(self._policy()["low_watermark_mb"])

    @LowQuotaWaterMark.setter
    def LowQuotaWaterMark(self, value: int) -> None:
        self._changes["low_watermark_mb"] = int(value)

    @property
    def SizeQuotaWarning(self) -> bool:
        return int(self._policy()["high_watermark_mb"]) > 0

    @property
    def ArchiveFolder(self) -> str:
        if self._config is None:
            self._policy()
        assert self._config is not None
        return str(self._config.get("directory", ""))

    @property
    def SizeLow(self) -> int:
        raise not_supported("archive SizeLow/SizeHigh", "lanfax does not report the size")

    @property
    def SizeHigh(self) -> int:
        raise not_supported("archive SizeLow/SizeHigh", "lanfax does not report the size")


@com_object
class FaxOutgoingArchive(_Archive):
    _direction = "outgoing"

    @property
    def UseArchive(self) -> bool:
        if "use_archive" in self._changes:
            return bool(self._changes["use_archive"])
        self._policy()
        assert self._config is not None
        return bool(self._config["archive_outgoing_faxes"])

    @UseArchive.setter
    def UseArchive(self, value: bool) -> None:
        self._changes["use_archive"] = bool(value)

    def GetMessages(self, lPrefetchSize: int = 100) -> FaxOutgoingMessageIterator:
        """Sent faxes, newest first."""
        return FaxOutgoingMessageIterator(self._client_of, lPrefetchSize, self._user)

    def GetMessage(self, bstrMessageId: str) -> FaxOutgoingMessage:
        entry = self._client_of("GetMessage").archived("outgoing", _job_id(bstrMessageId))
        return FaxOutgoingMessage(self._client_of, entry)


@com_object
class FaxIncomingArchive(_Archive):
    _direction = "incoming"

    def GetMessages(self, lPrefetchSize: int = 100) -> FaxIncomingMessageIterator:
        """Received faxes, newest first."""
        return FaxIncomingMessageIterator(self._client_of, lPrefetchSize, self._user)

    def GetMessage(self, bstrMessageId: str) -> FaxIncomingMessage:
        entry = self._client_of("GetMessage").archived("incoming", _job_id(bstrMessageId))
        return FaxIncomingMessage(self._client_of, entry)


@com_object
class FaxFolders:
    """FaxServer.Folders: the two queues and the two archives."""

    def __init__(self, client_of: ClientOf) -> None:
        self._client_of = client_of

    @property
    def OutgoingQueue(self) -> FaxOutgoingQueue:
        return FaxOutgoingQueue(self._client_of)

    @property
    def IncomingQueue(self) -> FaxIncomingQueue:
        return FaxIncomingQueue(self._client_of)

    @property
    def OutgoingArchive(self) -> FaxOutgoingArchive:
        return FaxOutgoingArchive(self._client_of)

    @property
    def IncomingArchive(self) -> FaxIncomingArchive:
        return FaxIncomingArchive(self._client_of)
