"""Every status code, event id, flag and right of the fax service, defined once.

The numeric values are those of the Windows SDK headers (``winfax.h``, ``faxdev.h`` and the
extended API), so that the ``lanfax.winfax`` compatibility layer can hand them out unchanged.
Everything else in lanfax refers to these enums by name.
"""

from __future__ import annotations

import enum


class JobType(enum.IntEnum):
    """JT_*: what a queue entry is."""

    UNKNOWN = 0
    SEND = 1
    RECEIVE = 2
    ROUTING = 3
    FAIL_RECEIVE = 4


class QueueStatus(enum.IntEnum):
    """JS_*: where a job stands in the queue (the extended API's values beyond 0x40)."""

    PENDING = 0x0000
    IN_PROGRESS = 0x0001
    DELETING = 0x0002
    FAILED = 0x0004
    PAUSED = 0x0008
    NO_LINE = 0x0010
    RETRYING = 0x0020
    RETRIES_EXCEEDED = 0x0040
    COMPLETED = 0x0080
    CANCELED = 0x0100
    CANCELING = 0x0200
    ROUTING = 0x0400

    @property
    def is_final(self) -> bool:
        """A final job never runs again unless restarted (failed, exceeded) by a person."""
        return self in FINAL_QUEUE_STATES


FINAL_QUEUE_STATES = frozenset(
    {
        QueueStatus.FAILED,
        QueueStatus.RETRIES_EXCEEDED,
        QueueStatus.COMPLETED,
        QueueStatus.CANCELED,
    }
)


class DeviceStatus(enum.IntEnum):
    """FPS_*: the state of a fax device (port), also the ``Status`` of an active job."""

    NONE = 0
    DIALING = 0x20000001
    SENDING = 0x20000002
    RECEIVING = 0x20000004
    COMPLETED = 0x20000008
    HANDLED = 0x20000010
    UNAVAILABLE = 0x20000020
    BUSY = 0x20000040
    NO_ANSWER = 0x20000080
    BAD_ADDRESS = 0x20000100
    NO_DIAL_TONE = 0x20000200
    DISCONNECTED = 0x20000400
    FATAL_ERROR = 0x20000800
    NOT_FAX_CALL = 0x20001000
    CALL_DELAYED = 0x20002000
    CALL_BLACKLISTED = 0x20004000
    INITIALIZING = 0x20008000
    OFFLINE = 0x20010000
    RINGING = 0x20020000
    AVAILABLE = 0x20100000
    ABORTING = 0x20200000
    ROUTING = 0x20400000
    ANSWERED = 0x20800000


class ProviderStatus(enum.IntEnum):
    """FS_*: what a device provider reports through FaxDevReportStatus (``faxdev.h``)."""

    INITIALIZING = 0x20000000
    DIALING = 0x20000001
    TRANSMITTING = 0x20000002
    RECEIVING = 0x20000004
    COMPLETED = 0x20000008
    HANDLED = 0x20000010
    LINE_UNAVAILABLE = 0x20000020
    BUSY = 0x20000040
    NO_ANSWER = 0x20000080
    BAD_ADDRESS = 0x20000100
    NO_DIAL_TONE = 0x20000200
    DISCONNECTED = 0x20000400
    FATAL_ERROR = 0x20000800
    NOT_FAX_CALL = 0x20001000
    CALL_DELAYED = 0x20002000
    CALL_BLACKLISTED = 0x20004000
    USER_ABORT = 0x20200000
    ANSWERED = 0x20800000


class EventId(enum.IntEnum):
    """FEI_*: the events every client can subscribe to."""

    DIALING = 0x01
    SENDING = 0x02
    RECEIVING = 0x03
    COMPLETED = 0x04
    BUSY = 0x05
    NO_ANSWER = 0x06
    BAD_ADDRESS = 0x07
    NO_DIAL_TONE = 0x08
    DISCONNECTED = 0x09
    FATAL_ERROR = 0x0A
    NOT_FAX_CALL = 0x0B
    CALL_DELAYED = 0x0C
    CALL_BLACKLISTED = 0x0D
    RINGING = 0x0E
    ABORTING = 0x0F
    ROUTING = 0x10
    MODEM_POWERED_ON = 0x11
    MODEM_POWERED_OFF = 0x12
    IDLE = 0x13
    FAXSVC_ENDED = 0x14
    ANSWERED = 0x15
    JOB_QUEUED = 0x16
    DELETED = 0x17
    INITIALIZING = 0x18
    LINE_UNAVAILABLE = 0x19
    HANDLED = 0x1A
    FAXSVC_STARTED = 0x1B
    # lanfax additions, numbered above FEI_NEVENTS so they never collide with Windows values.
    JOB_CHANGED = 0x100
    CONFIG_CHANGED = 0x101
    PORT_CHANGED = 0x102


#: FaxJobId in a FAX_EVENT when no job is involved.
NO_JOB = 0xFFFFFFFF


class ScheduleAction(enum.IntEnum):
    """JSA_*: when to send."""

    NOW = 0
    SPECIFIC_TIME = 1
    DISCOUNT_PERIOD = 2


class DeliveryReportType(enum.IntEnum):
    """DRT_*: the receipt a sender wants."""

    NONE = 0
    EMAIL = 1
    INBOX = 2


class Priority(enum.IntEnum):
    """The extended API's per-job priority (FAX_PRIORITY_TYPE_ENUM)."""

    LOW = 0
    NORMAL = 1
    HIGH = 2


class JobCommand(enum.IntEnum):
    """JC_*: what FaxSetJob may do (restart is a lanfax distinction; Windows aliases it)."""

    UNKNOWN = 0
    DELETE = 1
    PAUSE = 2
    RESUME = 3
    RESTART = 4


class PortFlags(enum.IntFlag):
    """FPF_*: what a port is allowed to do."""

    NONE = 0
    RECEIVE = 0x1
    SEND = 0x2
    VIRTUAL = 0x4


class PortOpenMode(enum.IntEnum):
    """PORT_OPEN_*: a query handle reads, a modify handle (one at a time) may also write."""

    QUERY = 1
    MODIFY = 2


class AccessRight(enum.IntFlag):
    """FAX_* access rights of the Windows 2000 client API."""

    NONE = 0
    JOB_SUBMIT = 0x0001
    JOB_QUERY = 0x0002
    CONFIG_QUERY = 0x0004
    CONFIG_SET = 0x0008
    PORT_QUERY = 0x0010
    PORT_SET = 0x0020
    JOB_MANAGE = 0x0040


class AccessRightEx(enum.IntFlag):
    """far*: the eleven refined rights of the extended API."""

    NONE = 0
    SUBMIT_LOW = 0x0001
    SUBMIT_NORMAL = 0x0002
    SUBMIT_HIGH = 0x0004
    QUERY_JOBS = 0x0008
    MANAGE_JOBS = 0x0010
    QUERY_CONFIG = 0x0020
    MANAGE_CONFIG = 0x0040
    QUERY_IN_ARCHIVE = 0x0080
    MANAGE_IN_ARCHIVE = 0x0100
    QUERY_OUT_ARCHIVE = 0x0200
    MANAGE_OUT_ARCHIVE = 0x0400
    #: far2MANAGE_RECEIVE_FOLDER (Vista's FAX_ACCESS_RIGHTS_ENUM_2, where it is 0x200): see
    #: the unassigned received faxes (the server inbox) and reassign received faxes to
    #: another user (IFaxIncomingMessage2::ReAssign). Here the next free bit (#13).
    MANAGE_RECEIVE_FOLDER = 0x0800


class LogCategory(enum.IntEnum):
    """FAXLOG_CATEGORY_*."""

    INIT = 1
    OUTBOUND = 2
    INBOUND = 3
    UNKNOWN = 4


class LogLevel(enum.IntEnum):
    """FAXLOG_LEVEL_*."""

    NONE = 0
    MIN = 1
    MED = 2
    MAX = 3


class FailureClass(enum.Enum):
    """Why a call did not deliver a fax, as the scheduler needs it.

    The retry policy depends only on this: transient failures are retried after RetryDelay
    until Retries is used up; permanent ones fail the job at once.
    """

    BUSY = "busy"
    NO_ANSWER = "no_answer"
    BAD_ADDRESS = "bad_address"
    NO_DIAL_TONE = "no_dial_tone"
    DISCONNECTED = "disconnected"
    FATAL = "fatal"
    NOT_FAX = "not_fax"
    LINE_UNAVAILABLE = "line_unavailable"
    ABORTED = "aborted"

    @property
    def permanent(self) -> bool:
        return self in _PERMANENT


_PERMANENT = frozenset({FailureClass.BAD_ADDRESS, FailureClass.NOT_FAX, FailureClass.ABORTED})


#: One mapping from a provider's final status to the device status, event and retry class.
PROVIDER_OUTCOME: dict[ProviderStatus, tuple[DeviceStatus, EventId, FailureClass | None]] = {
    ProviderStatus.COMPLETED: (DeviceStatus.COMPLETED, EventId.COMPLETED, None),
    ProviderStatus.HANDLED: (DeviceStatus.HANDLED, EventId.HANDLED, None),
    ProviderStatus.BUSY: (DeviceStatus.BUSY, EventId.BUSY, FailureClass.BUSY),
    ProviderStatus.NO_ANSWER: (DeviceStatus.NO_ANSWER, EventId.NO_ANSWER, FailureClass.NO_ANSWER),
    ProviderStatus.BAD_ADDRESS: (
        DeviceStatus.BAD_ADDRESS,
        EventId.BAD_ADDRESS,
        FailureClass.BAD_ADDRESS,
    ),
    ProviderStatus.NO_DIAL_TONE: (
        DeviceStatus.NO_DIAL_TONE,
        EventId.NO_DIAL_TONE,
        FailureClass.NO_DIAL_TONE,
    ),
    ProviderStatus.DISCONNECTED: (
        DeviceStatus.DISCONNECTED,
        EventId.DISCONNECTED,
        FailureClass.DISCONNECTED,
    ),
    ProviderStatus.FATAL_ERROR: (DeviceStatus.FATAL_ERROR, EventId.FATAL_ERROR, FailureClass.FATAL),
    ProviderStatus.NOT_FAX_CALL: (
        DeviceStatus.NOT_FAX_CALL,
        EventId.NOT_FAX_CALL,
        FailureClass.NOT_FAX,
    ),
    ProviderStatus.LINE_UNAVAILABLE: (
        DeviceStatus.UNAVAILABLE,
        EventId.LINE_UNAVAILABLE,
        FailureClass.LINE_UNAVAILABLE,
    ),
    ProviderStatus.CALL_DELAYED: (
        DeviceStatus.CALL_DELAYED,
        EventId.CALL_DELAYED,
        FailureClass.LINE_UNAVAILABLE,
    ),
    ProviderStatus.CALL_BLACKLISTED: (
        DeviceStatus.CALL_BLACKLISTED,
        EventId.CALL_BLACKLISTED,
        FailureClass.BAD_ADDRESS,
    ),
    ProviderStatus.USER_ABORT: (DeviceStatus.ABORTING, EventId.ABORTING, FailureClass.ABORTED),
}
