"""``FaxServer``: the COM twin of the client API (IFaxServer, ``faxcom.dll``), in Python.

Properties read and write the server's configuration on every access (no caching, so two
programs see each other's changes); methods are those of IFaxServer. Errors are FaxError
subclasses, as everywhere in lanfax.
"""

from __future__ import annotations

from typing import Any

from lanfax.client._sync import Client
from lanfax.client.winfax import _server_url
from lanfax.model.codes import JobCommand, PortFlags, PortOpenMode, ScheduleAction
from lanfax.model.config import parse_hhmm
from lanfax.model.errors import InvalidInput
from lanfax.model.jobs import CoverPageInfo, Job, JobParams


def _config_property(setting: str, doc: str) -> property:
    def get(self: FaxServer) -> Any:
        return getattr(self._client().get_config(), setting)

    def set_(self: FaxServer, value: Any) -> None:
        self._client().set_config(**{setting: value})

    return property(get, set_, doc=doc)


def _time_property(setting: str, index: int, doc: str) -> property:
    def get(self: FaxServer) -> int:
        return parse_hhmm(getattr(self._client().get_config(), setting))[index]

    def set_(self: FaxServer, value: int) -> None:
        hm = list(parse_hhmm(getattr(self._client().get_config(), setting)))
        hm[index] = int(value)
        self._client().set_config(**{setting: f"{hm[0]:02d}:{hm[1]:02d}"})

    return property(get, set_, doc=doc)


class FaxServer:
    """IFaxServer: ``Connect(name)``, then properties and methods; ``Disconnect()``."""

    def __init__(self) -> None:
        self._conn: Client | None = None

    def Connect(self, servername: str | None = None) -> None:
        """Connect to ``servername`` (host, ``\\\\host``, URL, or None for LANFAX_SERVER)."""
        self.Disconnect()
        client = Client(_server_url(servername))
        client.health()
        self._conn = client

    def Disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _client(self) -> Client:
        if self._conn is None:
            raise InvalidInput("the FaxServer is not connected", hint="call Connect() first")
        return self._conn

    ArchiveDirectory = _config_property("archive_directory", "Where sent faxes are archived.")
    ArchiveOutboundFaxes = _config_property("archive_outgoing_faxes", "Archive sent faxes.")
    Branding = _config_property("branding", "Header line on every sent page.")
    DirtyDays = _config_property("dirty_days", "Days an unsent job stays queued.")
    PauseServerQueue = _config_property("pause_server_queue", "No job is dispatched.")
    Retries = _config_property("retries", "Extra attempts after a failed call.")
    RetryDelay = _config_property("retry_delay", "Minutes between attempts.")
    ServerCoverpage = _config_property("server_cp", "Only server cover pages may be used.")
    ServerMapiProfile = _config_property("inbound_profile", "Identity for mailing faxes.")
    UseDeviceTsid = _config_property("use_device_tsid", "Send the device's TSID.")
    DiscountRateStartHour = _time_property("start_cheap_time", 0, "Discount period start hour.")
    DiscountRateStartMinute = _time_property("start_cheap_time", 1, "... and minute.")
    DiscountRateEndHour = _time_property("stop_cheap_time", 0, "Discount period end hour.")
    DiscountRateEndMinute = _time_property("stop_cheap_time", 1, "... and minute.")

    def CreateDocument(self, FileName: str) -> FaxDocument:
        """A document to fill in and ``Send()``."""
        return FaxDocument(self, FileName)

    def GetJobs(self) -> list[FaxJob]:
        return [FaxJob(self, j) for j in self._client().iter_jobs()]

    def GetPorts(self) -> list[FaxPort]:
        return [FaxPort(self, p.device_id) for p in self._client().ports()]


class FaxDocument:
    """IFaxDocument: recipient, sender, cover page and schedule fields, then ``Send()``."""

    def __init__(self, server: FaxServer, file_name: str) -> None:
        self._server = server
        self.FileName = file_name
        self.FaxNumber = ""
        self.RecipientName = ""
        self.RecipientCompany = ""
        self.SenderName = ""
        self.SenderCompany = ""
        self.SenderDepartment = ""
        self.SenderFax = ""
        self.Tsid = ""
        self.BillingCode = ""
        self.DisplayName = ""
        self.CoverpageName = ""
        self.CoverpageSubject = ""
        self.CoverpageNote = ""
        self.SendCoverpage = False
        self.ServerCoverpage = False
        self.DiscountSend = False
        self.EmailAddress = ""

    def Send(self) -> int:
        """Queue the fax; returns its job id."""
        if not self.FaxNumber.strip():
            raise InvalidInput("FaxDocument.FaxNumber is empty", hint="set the fax number")
        params = JobParams(
            recipient_number=self.FaxNumber.strip(),
            recipient_name=self.RecipientName,
            tsid=self.Tsid,
            sender_name=self.SenderName,
            sender_company=self.SenderCompany,
            sender_dept=self.SenderDepartment,
            billing_code=self.BillingCode,
            document_name=self.DisplayName,
            delivery_report_address=self.EmailAddress,
            schedule_action=(
                ScheduleAction.DISCOUNT_PERIOD if self.DiscountSend else ScheduleAction.NOW
            ),
        )
        cover = None
        if self.SendCoverpage:
            cover = CoverPageInfo(
                cover_page_name=self.CoverpageName,
                use_server_cover_page=self.ServerCoverpage,
                rec_name=self.RecipientName,
                rec_fax_number=self.FaxNumber,
                rec_company=self.RecipientCompany,
                sdr_name=self.SenderName,
                sdr_company=self.SenderCompany,
                sdr_fax_number=self.SenderFax,
                subject=self.CoverpageSubject,
                note=self.CoverpageNote,
            )
        jobs = self._server._client().send(self.FileName, to=params, cover_page=cover)
        return jobs[0].job_id


class FaxJob:
    """IFaxJob: a snapshot of one job (``Refresh()`` re-reads it) and ``SetStatus``."""

    def __init__(self, server: FaxServer, job: Job) -> None:
        self._server = server
        self._load(job)

    def _load(self, job: Job) -> None:
        self.JobId = job.job_id
        self.Type = int(job.job_type)
        self.UserName = job.user_name
        self.QueueStatus = job.queue_status.name.lower()
        self.DeviceStatus = job.device_status.name.lower()
        self.PageCount = job.page_count
        self.Size = job.size
        self.FaxNumber = job.recipient_number
        self.RecipientName = job.recipient_name
        self.Tsid = job.tsid
        self.SenderName = job.sender_name
        self.DisplayName = job.document_name
        self.BillingCode = job.billing_code

    def Refresh(self) -> None:
        self._load(self._server._client().job(self.JobId))

    def SetStatus(self, Command: int) -> None:
        """JC_PAUSE, JC_RESUME, JC_RESTART or JC_DELETE (cancel)."""
        client = self._server._client()
        actions = {
            JobCommand.PAUSE: client.pause,
            JobCommand.RESUME: client.resume,
            JobCommand.RESTART: client.restart,
            JobCommand.DELETE: client.cancel,
        }
        try:
            action = actions[JobCommand(int(Command))]
        except (KeyError, ValueError):
            raise InvalidInput(f"unknown job command {Command}", hint="JC_PAUSE..") from None
        self._load(action(self.JobId))


class FaxPort:
    """IFaxPort: one device; writable properties go through a modify handle each time."""

    def __init__(self, server: FaxServer, device_id: int) -> None:
        self._server = server
        self.DeviceId = device_id

    def _info(self) -> Any:
        return self._server._client().port(self.DeviceId)

    def _set(self, **changes: Any) -> None:
        client = self._server._client()
        with client.open_port(self.DeviceId, PortOpenMode.MODIFY) as handle:
            client.set_port(handle, **changes)

    @property
    def Name(self) -> str:
        return str(self._info().device_name)

    @property
    def Rings(self) -> int:
        return int(self._info().rings)

    @Rings.setter
    def Rings(self, value: int) -> None:
        self._set(rings=int(value))

    @property
    def Priority(self) -> int:
        return int(self._info().priority)

    @Priority.setter
    def Priority(self, value: int) -> None:
        self._set(priority=int(value))

    @property
    def Tsid(self) -> str:
        return str(self._info().tsid)

    @Tsid.setter
    def Tsid(self, value: str) -> None:
        self._set(tsid=value)

    @property
    def Csid(self) -> str:
        return str(self._info().csid)

    @Csid.setter
    def Csid(self, value: str) -> None:
        self._set(csid=value)

    @property
    def Send(self) -> bool:
        return PortFlags.SEND in self._info().flags

    @property
    def Receive(self) -> bool:
        return PortFlags.RECEIVE in self._info().flags
