"""The structures and constants of the Windows 2000 fax client API (``winfax.h``).

Structures are mutable dataclasses with the Windows field names (a caller fills them, as in
C). Constant values come from :mod:`lanfax.model.codes`, never from here. Windows error
numbers (``winerror.h``) are what :func:`lanfax.winfax.GetLastError` returns.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from lanfax.model import codes
from lanfax.model.codes import (
    DeliveryReportType,
    DeviceStatus,
    EventId,
    JobType,
    LogCategory,
    LogLevel,
    PortFlags,
    QueueStatus,
    ScheduleAction,
)

# -- constants (Windows names, lanfax values) -----------------------------------------------------
JT_UNKNOWN, JT_SEND, JT_RECEIVE, JT_ROUTING, JT_FAIL_RECEIVE = (int(v) for v in JobType)
JS_PENDING = int(QueueStatus.PENDING)
JS_INPROGRESS = int(QueueStatus.IN_PROGRESS)
JS_DELETING = int(QueueStatus.DELETING)
JS_FAILED = int(QueueStatus.FAILED)
JS_PAUSED = int(QueueStatus.PAUSED)
JS_NOLINE = int(QueueStatus.NO_LINE)
JS_RETRYING = int(QueueStatus.RETRYING)
JS_RETRIES_EXCEEDED = int(QueueStatus.RETRIES_EXCEEDED)
JSA_NOW, JSA_SPECIFIC_TIME, JSA_DISCOUNT_PERIOD = (int(v) for v in ScheduleAction)
DRT_NONE, DRT_EMAIL, DRT_INBOX = (int(v) for v in DeliveryReportType)
JC_UNKNOWN = int(codes.JobCommand.UNKNOWN)
JC_DELETE = int(codes.JobCommand.DELETE)
JC_PAUSE = int(codes.JobCommand.PAUSE)
JC_RESUME = int(codes.JobCommand.RESUME)
JC_RESTART = int(codes.JobCommand.RESTART)
FPF_RECEIVE, FPF_SEND, FPF_VIRTUAL = (int(PortFlags.RECEIVE), int(PortFlags.SEND), 4)
PORT_OPEN_QUERY = int(codes.PortOpenMode.QUERY)
PORT_OPEN_MODIFY = int(codes.PortOpenMode.MODIFY)
FAX_JOB_SUBMIT = int(codes.AccessRight.JOB_SUBMIT)
FAX_JOB_QUERY = int(codes.AccessRight.JOB_QUERY)
FAX_CONFIG_QUERY = int(codes.AccessRight.CONFIG_QUERY)
FAX_CONFIG_SET = int(codes.AccessRight.CONFIG_SET)
FAX_PORT_QUERY = int(codes.AccessRight.PORT_QUERY)
FAX_PORT_SET = int(codes.AccessRight.PORT_SET)
FAX_JOB_MANAGE = int(codes.AccessRight.JOB_MANAGE)
FAXLOG_CATEGORY_INIT, FAXLOG_CATEGORY_OUTBOUND, FAXLOG_CATEGORY_INBOUND = (1, 2, 3)
FAXLOG_CATEGORY_UNKNOWN = int(LogCategory.UNKNOWN)
FAXLOG_LEVEL_NONE, FAXLOG_LEVEL_MIN, FAXLOG_LEVEL_MED, FAXLOG_LEVEL_MAX = (int(v) for v in LogLevel)

# -- Windows error numbers (winerror.h / winfax.h) ------------------------------------------------
ERROR_SUCCESS = 0
ERROR_FILE_NOT_FOUND = 2
ERROR_ACCESS_DENIED = 5
ERROR_INVALID_HANDLE = 6
ERROR_GEN_FAILURE = 31
ERROR_NOT_SUPPORTED = 50
ERROR_INVALID_PARAMETER = 87
ERROR_NOT_FOUND = 1168
ERROR_TIMEOUT = 1460
ERROR_INVALID_OPERATION = 4317
RPC_S_SERVER_UNAVAILABLE = 1722
FAX_ERR_START = 7001
FAX_ERR_VERSION_MISMATCH = 7012


# -- structures -----------------------------------------------------------------------------------
@dataclass
class FAX_TIME:
    Hour: int = 0
    Minute: int = 0


@dataclass
class FAX_CONFIGURATION:
    Retries: int = 3
    RetryDelay: int = 10
    DirtyDays: int = 30
    Branding: bool = True
    UseDeviceTsid: bool = True
    ServerCp: bool = False
    PauseServerQueue: bool = False
    StartCheapTime: FAX_TIME = field(default_factory=lambda: FAX_TIME(20, 0))
    StopCheapTime: FAX_TIME = field(default_factory=lambda: FAX_TIME(7, 0))
    ArchiveOutgoingFaxes: bool = False
    ArchiveDirectory: str = ""
    InboundProfile: str = ""


@dataclass
class FAX_PORT_INFO:
    DeviceId: int = 0
    State: int = int(DeviceStatus.AVAILABLE)
    Flags: int = int(PortFlags.SEND | PortFlags.RECEIVE)
    Rings: int = 2
    Priority: int = 1
    DeviceName: str = ""
    Tsid: str = ""
    Csid: str = ""


@dataclass
class FAX_DEVICE_STATUS:
    CallerId: str = ""
    Csid: str = ""
    CurrentPage: int = 0
    DeviceId: int = 0
    DeviceName: str = ""
    DocumentName: str = ""
    JobType: int = 0
    PhoneNumber: str = ""
    RoutingString: str = ""
    SenderName: str = ""
    RecipientName: str = ""
    Size: int = 0
    StartTime: datetime | None = None
    Status: int = 0
    StatusString: str = ""
    SubmittedTime: datetime | None = None
    TotalPages: int = 0
    Tsid: str = ""
    UserName: str = ""


@dataclass
class FAX_JOB_ENTRY:
    JobId: int = 0
    UserName: str = ""
    JobType: int = 0
    QueueStatus: int = 0
    Status: int = 0
    Size: int = 0
    PageCount: int = 0
    RecipientNumber: str = ""
    RecipientName: str = ""
    Tsid: str = ""
    SenderName: str = ""
    SenderCompany: str = ""
    SenderDept: str = ""
    BillingCode: str = ""
    ScheduleAction: int = 0
    ScheduleTime: datetime | None = None
    DeliveryReportType: int = 0
    DeliveryReportAddress: str = ""
    DocumentName: str = ""


@dataclass
class FAX_JOB_PARAM:
    RecipientNumber: str = ""
    RecipientName: str = ""
    Tsid: str = ""
    SenderName: str = ""
    SenderCompany: str = ""
    SenderDept: str = ""
    BillingCode: str = ""
    ScheduleAction: int = JSA_NOW
    ScheduleTime: datetime | None = None
    DeliveryReportType: int = DRT_NONE
    DeliveryReportAddress: str = ""
    DocumentName: str = ""
    CallHandle: str = ""


@dataclass
class FAX_COVERPAGE_INFO:
    CoverPageName: str = ""
    UseServerCoverPage: bool = False
    RecName: str = ""
    RecFaxNumber: str = ""
    RecCompany: str = ""
    RecStreetAddress: str = ""
    RecCity: str = ""
    RecState: str = ""
    RecZip: str = ""
    RecCountry: str = ""
    RecTitle: str = ""
    RecDepartment: str = ""
    RecOfficeLocation: str = ""
    RecHomePhone: str = ""
    RecOfficePhone: str = ""
    SdrName: str = ""
    SdrFaxNumber: str = ""
    SdrCompany: str = ""
    SdrAddress: str = ""
    SdrTitle: str = ""
    SdrDepartment: str = ""
    SdrOfficeLocation: str = ""
    SdrHomePhone: str = ""
    SdrOfficePhone: str = ""
    Note: str = ""
    Subject: str = ""
    TimeSent: datetime | None = None
    PageCount: int = 0


@dataclass
class FAX_LOG_CATEGORY:
    Name: str = ""
    Category: int = 0
    Level: int = 0


@dataclass
class FAX_ROUTING_METHOD:
    DeviceId: int = 0
    Enabled: bool = False
    DeviceName: str = ""
    Guid: str = ""
    FriendlyName: str = ""
    FunctionName: str = ""
    ExtensionImageName: str = ""
    ExtensionFriendlyName: str = ""


@dataclass
class FAX_GLOBAL_ROUTING_INFO:
    Priority: int = 0
    Guid: str = ""
    FriendlyName: str = ""
    FunctionName: str = ""
    ExtensionImageName: str = ""
    ExtensionFriendlyName: str = ""


@dataclass
class FAX_EVENT:
    TimeStamp: datetime | None = None
    DeviceId: int = 0
    EventId: int = 0
    JobId: int = codes.NO_JOB


@dataclass
class FAX_PRINT_INFO:
    DocName: str = ""
    RecipientName: str = ""
    RecipientNumber: str = ""
    SenderName: str = ""
    SenderCompany: str = ""
    SenderDept: str = ""
    SenderBillingCode: str = ""
    DrProfileName: str = ""
    DrEmailAddress: str = ""
    OutputFileName: str = ""


@dataclass
class FAX_CONTEXT_INFO:
    hDC: Any = None  # a lanfax.winfax.FaxPrintJob here (there is no GDI device context)
    ServerName: str = ""


# -- conversions ----------------------------------------------------------------------------------
_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")
S = TypeVar("S")

#: Struct fields whose lanfax model name is not the plain snake_case of the Windows name.
_RENAMES = {"Status": "status", "State": "state"}
_JOB_RENAMES = {"Status": "device_status"}


def snake(name: str) -> str:
    """``RecipientNumber`` -> ``recipient_number``."""
    return _SNAKE.sub("_", name).lower()


def to_struct(cls: type[S], obj: Any, renames: dict[str, str] | None = None) -> S:
    """A Windows struct filled from a lanfax model object (enums become their numbers)."""
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        attr = (renames or {}).get(f.name) or _RENAMES.get(f.name) or snake(f.name)
        if hasattr(obj, attr):
            value = getattr(obj, attr)
            kwargs[f.name] = int(value) if isinstance(value, int) and f.type == "int" else value
    return cls(**kwargs)


def from_struct(struct: Any, renames: dict[str, str] | None = None) -> dict[str, Any]:
    """The lanfax (snake_case) fields of a Windows struct."""
    return {
        (renames or {}).get(f.name) or snake(f.name): getattr(struct, f.name)
        for f in dataclasses.fields(struct)
    }


def job_entry(job: Any) -> FAX_JOB_ENTRY:
    return to_struct(FAX_JOB_ENTRY, job, _JOB_RENAMES)


def event_struct(ev: Any) -> FAX_EVENT:
    return FAX_EVENT(ev.timestamp, ev.device_id, int(ev.event_id), ev.job_id)


#: FEI_* values a Windows client knows (lanfax's additions are numbered from 0x100).
WINDOWS_EVENTS = frozenset(int(e) for e in EventId if int(e) < 0x100)
