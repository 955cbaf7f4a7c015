"""The device-provider API: the FaxDev* functions of ``faxdev.h`` as a Python interface.

A provider drives one or more devices (lines). The service loads it through the
``lanfax.providers`` entry-point group, configures it from the ``[[devices]]`` tables of the
TOML config, and drives devices only through the methods below. Every job on a device is
bracketed by :meth:`FaxProvider.start_job` / :meth:`FaxProvider.end_job`.

==========================  ==================================================
Windows                     lanfax
==========================  ==================================================
FaxDevInitialize            :meth:`FaxProvider.initialize`
FaxDevVirtualDeviceCreation :meth:`FaxProvider.virtual_devices`
FaxDevStartJob              :meth:`FaxProvider.start_job`
FaxDevSend (+FaxSendCallback) :meth:`FaxProvider.send` (``on_call_in_progress``)
FaxDevReceive               :meth:`FaxProvider.receive`
FaxDevReportStatus          :meth:`FaxProvider.report_status`
FaxDevAbortOperation        :meth:`FaxProvider.abort`
FaxDevEndJob                :meth:`FaxProvider.end_job`
FaxDevShutdown              :meth:`FaxProvider.shutdown`
==========================  ==================================================

Everything here is asyncio: the service runs on one event loop, and a provider that needs
threads (spandsp is CPU-bound in fast mode) hands work to them itself.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from lanfax.model.codes import PortFlags, ProviderStatus

#: The entry-point group through which providers are found.
ENTRY_POINT_GROUP = "lanfax.providers"


@dataclass(frozen=True, slots=True)
class ProviderDevice:
    """A device a provider offers (FaxDevVirtualDeviceCreation's answer, one per line).

    ``local_id`` is stable across restarts (it keys the port's saved settings); the service
    assigns the permanent numeric DeviceId.
    """

    local_id: str
    name: str
    number: str = ""
    flags: PortFlags = PortFlags.SEND | PortFlags.RECEIVE
    #: Free-form capabilities (e.g. {"t38": True, "max_rate": 14400}).
    capabilities: Mapping[str, Any] = field(default_factory=dict)
    #: The port's Rings (rings before the service answers) until an administrator sets it;
    #: None: the service's default (2). A modem's ``rings`` setting arrives here.
    rings: int | None = None


@dataclass(frozen=True, slots=True)
class SendOptions:
    """How to run the T.30 session of one send (lanfax's additions to FAX_SEND)."""

    ecm: bool = True
    #: Subset of {"v17", "v29", "v27ter"}; empty means all.
    modems: frozenset[str] = frozenset()
    #: Subset of {"mh", "mr", "mmr"}; empty means all.
    compressions: frozenset[str] = frozenset()
    #: The text of the branding header line (spandsp draws it), or None for no header.
    page_header: str | None = None
    #: The T.30 trace: a Python logging level for the fax engine's own log of the call
    #: (frames such as DIS, DCS, MCF), or None for none, sent to the logger ``trace_logger``
    #: (the call's logging category). The service asks for it when the category is at "max".
    trace_level: int | None = None
    trace_logger: str = "lanfax.outbound"
    #: Sending: the page of ``FaxSend.file_name`` to send first (1-based). The service sets
    #: it on a retry to the page after the last one the far end confirmed, so no page
    #: reaches the receiver twice; a provider passes it to its T.30 session
    #: (``session_options`` does) and reports pages in the document's numbering.
    first_page: int = 1


@dataclass(frozen=True, slots=True)
class FaxSend:
    """FAX_SEND: what to send, and to whom."""

    file_name: Path
    receiver_number: str
    caller_name: str = ""
    caller_number: str = ""  # our TSID
    receiver_name: str = ""
    branding: bool = False
    call_handle: str = ""
    options: SendOptions = field(default_factory=SendOptions)


@dataclass(frozen=True, slots=True)
class FaxReceive:
    """FAX_RECEIVE: where to store the received fax, and when to cut the call short.

    ``max_pages``: once that many pages are stored and the far end says more follow (MPS or
    EOM, not EOP), the provider hangs up at once; the pages stored so far stay in
    ``file_name`` and the result is DISCONNECTED, ``string_id`` starting "more than N
    pages". None or 0: no limit.

    ``screen``: called with the far end's TSID as soon as T.30 phase B gives it (after the
    answer; again if a later phase B brings another TSID). It returns why the call is
    refused, or None to go on; a reason makes the provider hang up at once and report
    CALL_BLACKLISTED with the reason in ``string_id``. It may run on the provider's media
    thread: it must be quick and touch nothing but its own data (a pure function).
    """

    file_name: Path
    receiver_name: str = ""
    receiver_number: str = ""  # our CSID
    options: SendOptions = field(default_factory=SendOptions)
    max_pages: int | None = None
    screen: Callable[[str], str | None] | None = None


@dataclass(frozen=True, slots=True)
class FaxDevStatus:
    """FAX_DEV_STATUS: a device's state during and after a job."""

    status_id: ProviderStatus
    string_id: str = ""
    page_count: int = 0
    csi: str = ""
    caller_id: str = ""
    routing_info: str = ""
    error_code: int = 0
    #: lanfax addition: pages done so far, in the document's numbering: confirmed by the far
    #: end (MCF) when sending, stored when receiving. The service records each one as it
    #: happens, so a retry or a restart resumes after it.
    pages_done: int = 0
    #: Receiving: the far end said the last stored page was the last one (EOP).
    last_page: bool = False


@dataclass(frozen=True, slots=True)
class CallResult:
    """How a send or receive ended.

    ``status.status_id`` is the final FS_* code (COMPLETED on success). ``pages`` counts pages
    the far end confirmed during this call (send: from ``SendOptions.first_page`` on) or that
    were stored in FAX_RECEIVE.file_name (receive); a call dropped mid-fax still reports the
    pages it got. The T.30 fields describe what was
    negotiated, for the job record and ``lanfax job show``.
    """

    status: FaxDevStatus
    pages: int = 0
    remote_ident: str = ""
    bit_rate: int = 0
    ecm: bool = False
    compression: str = ""
    modem: str = ""
    t30_code: int = 0
    t30_text: str = ""
    duration: float = 0.0
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status.status_id == ProviderStatus.COMPLETED


@dataclass(frozen=True, slots=True)
class IncomingCall:
    """A call offered to a device (the LINE_CALLSTATE_OFFERING of TAPI)."""

    call_id: str
    caller_id: str = ""
    called_number: str = ""
    #: Rings so far, counting this one.
    ring_count: int = 1
    #: The caller's name when the line tells it (a modem's ``NAME=``), else "".
    caller_name: str = ""


class JobHandle(Protocol):
    """What :meth:`FaxProvider.start_job` returns; opaque to the service."""

    @property
    def local_id(self) -> str: ...


class ServiceCallbacks(Protocol):
    """What the service gives a provider at :meth:`FaxProvider.initialize`.

    Callbacks are plain functions that may be called from the event loop only; a provider
    working in a thread must hop back with ``loop.call_soon_threadsafe``.
    """

    def ring(self, local_id: str, call: IncomingCall) -> None:
        """A call is ringing on ``local_id`` (once per ring). The service answers with
        :meth:`FaxProvider.start_job` + :meth:`FaxProvider.receive` after the port's Rings,
        if receiving is enabled; otherwise it lets it ring."""

    def call_ended(self, local_id: str, call_id: str) -> None:
        """A ringing call went away before it was answered."""

    def status(self, local_id: str, status: FaxDevStatus) -> None:
        """Progress during a job (dialing, transmitting page n, receiving...)."""

    async def progress_recorded(self, local_id: str) -> None:
        """Return once the service has committed the pages the far end confirmed so far on
        ``local_id``'s send (as reported by :meth:`status`), or has failed to (the call's
        outcome carries them then). A provider whose media is simulated faster than real
        time awaits it after each confirmed page before the call goes on: on a real line a
        page takes seconds and the record is made long before the next one, and a call run in
        a few milliseconds must not outrun it (a service killed just after would resend pages
        the far end already has). Real-time providers need not call it."""

    def log(self, local_id: str, level: int, message: str) -> None:
        """A provider log line (maps onto the device's logging category)."""


OnCallInProgress = Callable[[], None]


class FaxProvider(abc.ABC):
    """Base class of every device provider (FaxDev* as methods)."""

    #: FaxRegisterServiceProvider's fields.
    name: ClassVar[str]
    friendly_name: ClassVar[str]

    @abc.abstractmethod
    async def initialize(self, config: Mapping[str, Any], callbacks: ServiceCallbacks) -> None:
        """FaxDevInitialize: validate ``config`` (raise ConfigError with a hint when it is
        wrong), set up, and keep ``callbacks``."""

    @abc.abstractmethod
    def virtual_devices(self) -> list[ProviderDevice]:
        """FaxDevVirtualDeviceCreation: the devices this provider offers."""

    @abc.abstractmethod
    async def start_job(self, local_id: str) -> JobHandle:
        """FaxDevStartJob: open a job on a device (raise ProviderError if it is in use)."""

    @abc.abstractmethod
    async def send(
        self, handle: JobHandle, fax: FaxSend, on_call_in_progress: OnCallInProgress
    ) -> CallResult:
        """FaxDevSend: dial ``fax.receiver_number``, send ``fax.file_name``, hang up.

        Calls ``on_call_in_progress`` once the far end answered (FaxSendCallback). Returns
        how the call ended; line failures (busy, no answer...) are results, not exceptions.
        """

    @abc.abstractmethod
    async def receive(self, handle: JobHandle, fax: FaxReceive) -> CallResult:
        """FaxDevReceive: answer the ringing call and store the fax in ``fax.file_name``."""

    @abc.abstractmethod
    def report_status(self, handle: JobHandle) -> FaxDevStatus:
        """FaxDevReportStatus: the job's current status."""

    @abc.abstractmethod
    async def abort(self, handle: JobHandle) -> None:
        """FaxDevAbortOperation: end the call in progress; send/receive then return
        USER_ABORT (or the pages already done, for a receive)."""

    @abc.abstractmethod
    async def end_job(self, handle: JobHandle) -> None:
        """FaxDevEndJob: release the job and its line."""

    @abc.abstractmethod
    async def shutdown(self) -> None:
        """FaxDevShutdown: the service is stopping; end calls and release everything."""

    # -- extension configuration (issue #13) -------------------------------------------

    async def ext_config_changed(  # noqa: B027 - an optional hook, empty by default
        self, device_id: int, guid: str, data: Mapping[str, Any]
    ) -> None:
        """FaxExtConfigChange: an administrator replaced the extension data ``guid`` of
        device ``device_id`` (0: not tied to a device) with ``data`` (FaxExtSetData through
        ``PUT /api/v1/extension-data/{guid}``). Called on the service's event loop while
        the provider runs, so a change takes effect without a restart; ignore GUIDs that
        are not yours. The default does nothing."""
