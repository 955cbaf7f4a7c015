"""FaxServer and the configuration objects hanging off it, the server events, FaxAccount."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from lanfax.client.faxcomex._common import (
    FAX_ACCESS_RIGHTS_ENUM,
    FAX_DEVICE_RECEIVE_MODE_ENUM,
    FAX_JOB_STATUS_ENUM,
    FAX_LOG_LEVEL_ENUM,
    FAX_PROVIDER_STATUS_ENUM,
    FAX_SERVER_EVENTS_TYPE_ENUM,
    Collection,
    com_object,
    extended_status,
    job_status,
    not_supported,
)
from lanfax.client.faxcomex._jobs import (
    ClientOf,
    FaxFolders,
    FaxIncomingArchive,
    FaxIncomingQueue,
    FaxOutgoingArchive,
    FaxOutgoingQueue,
)
from lanfax.model.codes import DeviceStatus, EventId, JobType, LogCategory, LogLevel, PortFlags
from lanfax.model.errors import FaxError, InvalidInput, NotFound, Unavailable

__all__ = ["FaxAccount", "FaxServer"]

_S = FAX_SERVER_EVENTS_TYPE_ENUM


# -- activity, logging, security, receipts --------------------------------------------------


@com_object
class FaxActivity:
    """How many faxes the server is handling now (counted from the queue)."""

    def __init__(self, client_of: ClientOf) -> None:
        self._client_of = client_of
        self.Refresh()

    def Refresh(self) -> None:
        from lanfax.client.faxcomex._jobs import _UNFINISHED

        jobs = list(self._client_of("Refresh").iter_jobs(status=_UNFINISHED))
        active = FAX_JOB_STATUS_ENUM.fjsINPROGRESS
        self.IncomingMessages = sum(
            1 for j in jobs if j.job_type is JobType.RECEIVE and job_status(j.queue_status) & active
        )
        self.RoutingMessages = sum(
            1 for j in jobs if job_status(j.queue_status) & FAX_JOB_STATUS_ENUM.fjsROUTING
        )
        self.OutgoingMessages = sum(
            1 for j in jobs if j.job_type is JobType.SEND and job_status(j.queue_status) & active
        )
        self.QueuedMessages = sum(
            1
            for j in jobs
            if j.job_type is JobType.SEND and not job_status(j.queue_status) & active
        )


_LEVEL_ATTR = {
    LogCategory.INIT: "InitEventsLevel",
    LogCategory.INBOUND: "InboundEventsLevel",
    LogCategory.OUTBOUND: "OutboundEventsLevel",
    LogCategory.UNKNOWN: "GeneralEventsLevel",
}


@com_object
class FaxEventLogging:
    """The four logging categories' levels (FaxGet/SetLoggingCategories)."""

    def __init__(self, client_of: ClientOf) -> None:
        self._client_of = client_of
        self.Refresh()

    def Refresh(self) -> None:
        for cat in self._client_of("Refresh").get_logging():
            setattr(self, _LEVEL_ATTR[cat.category], FAX_LOG_LEVEL_ENUM(int(cat.level)))

    def Save(self) -> None:
        changes = {
            cat.name.lower(): LogLevel(int(getattr(self, attr)))
            for cat, attr in _LEVEL_ATTR.items()
        }
        self._client_of("Save").set_logging(changes)


@com_object
class FaxActivityLogging:
    """lanfax always keeps the activity log (``GET /api/v1/activity.csv``)."""

    def __init__(self) -> None:
        self.LogIncoming = True
        self.LogOutgoing = True

    @property
    def DatabasePath(self) -> str:
        raise not_supported("FaxActivityLogging.DatabasePath", "the log is in the store")

    def Refresh(self) -> None:
        self.LogIncoming = self.LogOutgoing = True

    def Save(self) -> None:
        if not (self.LogIncoming and self.LogOutgoing):
            raise not_supported("turning the activity log off", "lanfax always keeps it")


@com_object
class FaxLoggingOptions:
    def __init__(self, client_of: ClientOf) -> None:
        self._client_of = client_of

    @property
    def EventLogging(self) -> FaxEventLogging:
        return FaxEventLogging(self._client_of)

    @property
    def ActivityLogging(self) -> FaxActivityLogging:
        return FaxActivityLogging()


@com_object
class FaxSecurity:
    """The caller's rights. lanfax has users and rights rather than a security descriptor:
    manage them with ``lanfax user`` (docs/security.md)."""

    def __init__(self, client_of: ClientOf) -> None:
        self._client_of = client_of

    @property
    def GrantedRights(self) -> FAX_ACCESS_RIGHTS_ENUM:
        from lanfax.client._core import API, Op

        me = self._client_of("GrantedRights")._run(Op("GET", f"{API}/whoami", lambda r: r.json()))
        out = FAX_ACCESS_RIGHTS_ENUM(0)
        for name in me.get("rights", []):
            member = FAX_ACCESS_RIGHTS_ENUM.__members__.get("far" + str(name).upper())
            if member is not None:
                out |= member
        return out

    @property
    def Descriptor(self) -> Any:
        raise not_supported("FaxSecurity.Descriptor", "rights are per user: lanfax user grant")

    @property
    def InformationType(self) -> int:
        raise not_supported("FaxSecurity.InformationType", "there is no security descriptor")

    def Refresh(self) -> None:
        return None

    def Save(self) -> None:
        return None


@com_object
class FaxReceiptOptions:
    """Receipts are configured in the server's TOML (``[receipts]``, docs/receipts.md)."""

    def __init__(self, client_of: ClientOf) -> None:
        self._client_of = client_of

    def __getattr__(self, name: str) -> Any:
        if name in (
            "AllowedReceipts",
            "AuthenticationType",
            "SMTPServer",
            "SMTPPort",
            "SMTPSender",
            "SMTPUser",
            "SMTPPassword",
            "UseForInboundRouting",
        ):
            raise not_supported(f"FaxReceiptOptions.{name}", "set [receipts] in the server's TOML")
        raise AttributeError(name)

    def Refresh(self) -> None:
        return None

    def Save(self) -> None:
        raise not_supported("FaxReceiptOptions.Save", "set [receipts] in the server's TOML")


# -- devices and providers ---------------------------------------------------------------------


@com_object
class FaxDevice:
    """One device (port). Setters take effect on ``Save`` (FaxSetPort through a modify
    handle)."""

    def __init__(self, client_of: ClientOf, port: Any) -> None:
        self._client_of = client_of
        self._load(port)

    def _load(self, port: Any) -> None:
        self._port = port
        self.Id = port.device_id
        self.DeviceName = port.device_name
        self.ProviderUniqueName = port.provider
        self.CSID = port.csid
        self.TSID = port.tsid
        self.RingsBeforeAnswer = port.rings
        self.SendEnabled = bool(port.flags & PortFlags.SEND)
        self.ReceiveMode = (
            FAX_DEVICE_RECEIVE_MODE_ENUM.fdrmAUTO_ANSWER
            if port.flags & PortFlags.RECEIVE
            else FAX_DEVICE_RECEIVE_MODE_ENUM.fdrmNO_ANSWER
        )
        self.Description = ""

    def _status(self) -> DeviceStatus:
        return self._client_of("device status").device_status(self.Id).status

    @property
    def PoweredOff(self) -> bool:
        return self._status() is DeviceStatus.OFFLINE

    @property
    def SendingNow(self) -> bool:
        return self._status() in (DeviceStatus.DIALING, DeviceStatus.SENDING)

    @property
    def ReceivingNow(self) -> bool:
        return self._status() in (DeviceStatus.RECEIVING, DeviceStatus.ANSWERED)

    @property
    def RingingNow(self) -> bool:
        return self._status() is DeviceStatus.RINGING

    @property
    def UsedRoutingMethods(self) -> tuple[str, ...]:
        methods = self._client_of("UsedRoutingMethods").device_routing_methods(self.Id)
        return tuple(m.guid for m in methods if m.enabled)

    def UseRoutingMethod(self, bstrMethodGUID: str, bUse: bool) -> None:
        self._client_of("UseRoutingMethod").enable_routing_method(
            self.Id, bstrMethodGUID, bool(bUse)
        )

    def GetExtensionProperty(self, bstrGUID: str) -> dict[str, Any]:
        """FaxExtGetData for this device (a JSON object; lanfax has no binary blobs)."""
        return self._client_of("GetExtensionProperty").extension_data(bstrGUID, device_id=self.Id)

    def SetExtensionProperty(self, bstrGUID: str, vProperty: Mapping[str, Any]) -> None:
        """FaxExtSetData for this device; the running extensions are told at once."""
        self._client_of("SetExtensionProperty").set_extension_data(
            bstrGUID, _data(vProperty), device_id=self.Id
        )

    def AnswerCall(self) -> None:
        raise not_supported("FaxDevice.AnswerCall", "lanfax answers after RingsBeforeAnswer")

    def Refresh(self) -> None:
        self._load(self._client_of("Refresh").port(self.Id))

    def Save(self) -> None:
        if self.ReceiveMode == FAX_DEVICE_RECEIVE_MODE_ENUM.fdrmMANUAL_ANSWER:
            raise not_supported("fdrmMANUAL_ANSWER", "lanfax answers by itself or not at all")
        flags = PortFlags(0)
        if self.SendEnabled:
            flags |= PortFlags.SEND
        if self.ReceiveMode == FAX_DEVICE_RECEIVE_MODE_ENUM.fdrmAUTO_ANSWER:
            flags |= PortFlags.RECEIVE
        flags |= self._port.flags & ~(PortFlags.SEND | PortFlags.RECEIVE)
        client = self._client_of("Save")
        with client.open_port(self.Id, "modify") as handle:
            port = client.set_port(
                handle,
                device_name=self.DeviceName,
                csid=self.CSID,
                tsid=self.TSID,
                rings=int(self.RingsBeforeAnswer),
                flags=flags,
            )
        self._load(port)


def _data(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInput(
            "lanfax keeps extension data as a JSON object",
            hint='pass a dict, e.g. {"threshold": 3}',
        )
    return dict(value)


@com_object
class FaxDevices(Collection[FaxDevice]):
    _what = "the devices"

    def ItemById(self, lId: int) -> FaxDevice:
        for dev in self._items:
            if dev.Id == lId:
                return dev
        raise NotFound(f"there is no device {lId}", hint="see FaxServer.GetDevices()")


@com_object
class FaxDeviceProvider:
    def __init__(self, entry: Mapping[str, Any]) -> None:
        self.UniqueName = str(entry["name"])
        self.FriendlyName = str(entry.get("friendly_name", ""))
        self.ImageName = str(entry.get("image_name", ""))
        self.TapiProviderName = ""
        self.Debug = False
        self.MajorVersion = self.MinorVersion = self.MajorBuild = self.MinorBuild = 0
        self.DeviceIds = tuple(int(d) for d in entry.get("devices", []))
        failed = entry.get("state") == "failed"
        self.Status = (
            FAX_PROVIDER_STATUS_ENUM.fpsCANT_LOAD if failed else FAX_PROVIDER_STATUS_ENUM.fpsSUCCESS
        )
        self.InitErrorCode = 1 if failed else 0
        self.Error = str(entry.get("error", ""))  # lanfax addition: why it failed


@com_object
class FaxDeviceProviders(Collection[FaxDeviceProvider]):
    _what = "the device providers"


# -- routing ---------------------------------------------------------------------------------


@com_object
class FaxInboundRoutingMethod:
    def __init__(self, client_of: ClientOf, info: Any) -> None:
        self._client_of = client_of
        self.Name = info.friendly_name
        self.GUID = info.guid
        self.FunctionName = info.function_name
        self.ExtensionFriendlyName = info.extension_friendly_name
        self.ExtensionImageName = info.extension_image_name
        self.Priority = info.priority

    def Refresh(self) -> None:
        for info in self._client_of("Refresh").routing_methods():
            if info.guid == self.GUID:
                self.Priority = info.priority

    def Save(self) -> None:
        self._client_of("Save").set_routing_priority(self.GUID, int(self.Priority))


@com_object
class FaxInboundRoutingMethods(Collection[FaxInboundRoutingMethod]):
    _what = "the routing methods"


@com_object
class FaxInboundRoutingExtension:
    def __init__(self, entry: Mapping[str, Any]) -> None:
        self.UniqueName = str(entry["name"])
        self.FriendlyName = str(entry.get("friendly_name", ""))
        self.ImageName = str(entry.get("image_name", ""))
        self.Methods = tuple(str(g) for g in entry.get("methods", []))
        self.Debug = False
        self.MajorVersion = self.MinorVersion = self.MajorBuild = self.MinorBuild = 0
        failed = entry.get("state") == "failed"
        self.Status = (
            FAX_PROVIDER_STATUS_ENUM.fpsCANT_LOAD if failed else FAX_PROVIDER_STATUS_ENUM.fpsSUCCESS
        )
        self.InitErrorCode = 1 if failed else 0


@com_object
class FaxInboundRoutingExtensions(Collection[FaxInboundRoutingExtension]):
    _what = "the routing extensions"


@com_object
class FaxInboundRouting:
    def __init__(self, client_of: ClientOf) -> None:
        self._client_of = client_of

    def GetExtensions(self) -> FaxInboundRoutingExtensions:
        entries = self._client_of("GetExtensions").routing_extensions()
        return FaxInboundRoutingExtensions([FaxInboundRoutingExtension(e) for e in entries])

    def GetMethods(self) -> FaxInboundRoutingMethods:
        infos = self._client_of("GetMethods").routing_methods()
        return FaxInboundRoutingMethods(
            [FaxInboundRoutingMethod(self._client_of, i) for i in infos]
        )


@com_object
class FaxOutboundRouting:
    """Outgoing routing groups and rules: not in this lanfax yet."""

    def GetGroups(self) -> Any:
        raise not_supported(
            "FaxOutboundRouting.GetGroups", "outgoing routing groups are not in this server yet"
        )

    def GetRules(self) -> Any:
        raise not_supported(
            "FaxOutboundRouting.GetRules", "outgoing routing rules are not in this server yet"
        )


# -- account -----------------------------------------------------------------------------------


@com_object
class FaxAccountFolders:
    """The caller's own folders. Outgoing: the caller's own jobs and sent faxes. Incoming:
    personal inboxes are not in this lanfax yet."""

    def __init__(self, client_of: ClientOf, user: str) -> None:
        self._client_of = client_of
        self._user = user

    @property
    def OutgoingQueue(self) -> FaxOutgoingQueue:
        return FaxOutgoingQueue(self._client_of)  # the server shows a user its own jobs

    @property
    def OutgoingArchive(self) -> FaxOutgoingArchive:
        return FaxOutgoingArchive(self._client_of, self._user)

    @property
    def IncomingQueue(self) -> FaxIncomingQueue:
        raise not_supported("FaxAccountFolders.IncomingQueue", "personal inboxes are not here yet")

    @property
    def IncomingArchive(self) -> FaxIncomingArchive:
        raise not_supported(
            "FaxAccountFolders.IncomingArchive", "personal inboxes are not here yet"
        )


@com_object
class FaxAccount:
    def __init__(self, client_of: ClientOf, name: str) -> None:
        self._client_of = client_of
        self.AccountName = name

    @property
    def Folders(self) -> FaxAccountFolders:
        return FaxAccountFolders(self._client_of, self.AccountName)

    @property
    def RegisteredEvents(self) -> int:
        return 0

    def ListenToAccountEvents(self, EventTypes: int) -> None:
        raise not_supported(
            "FaxAccount.ListenToAccountEvents", "use FaxServer.ListenToServerEvents"
        )


# -- the server --------------------------------------------------------------------------------

#: IFaxServerNotify method -> the event types that enable it.
_EVENT_OF = {
    "OnOutgoingJobAdded": _S.fsetOUT_QUEUE,
    "OnOutgoingJobChanged": _S.fsetOUT_QUEUE,
    "OnOutgoingJobRemoved": _S.fsetOUT_QUEUE,
    "OnIncomingJobAdded": _S.fsetIN_QUEUE,
    "OnIncomingJobChanged": _S.fsetIN_QUEUE,
    "OnIncomingJobRemoved": _S.fsetIN_QUEUE,
    "OnGeneralServerConfigChanged": _S.fsetCONFIG,
    "OnDevicesConfigChange": _S.fsetCONFIG,
    "OnDeviceStatusChange": _S.fsetDEVICE_STATUS,
    "OnNewCall": _S.fsetINCOMING_CALL,
    "OnServerShutDown": _S.fsetFXSSVC_ENDED,
}


@com_object
class FaxJobStatus:
    """What OnOutgoingJobChanged / OnIncomingJobChanged pass: the job's state now."""

    def __init__(self, job: Any) -> None:
        self.Status = job_status(job.queue_status)
        self.ExtendedStatusCode = int(extended_status(job.device_status))
        self.ExtendedStatus = job.status_text
        self.CurrentPage = job.pages_done
        self.Pages = job.page_count
        self.DeviceId = job.device_id or 0
        self.Size = job.size
        self.CallerId = job.caller_id
        self.CSID = job.remote_ident
        self.TSID = job.tsid
        self.Retries = job.attempts
        self.TransmissionStart = job.started_at
        self.TransmissionEnd = job.completed_at
        self.JobType = job.job_type


@com_object
class FaxServer:
    """The fax server: ``Connect("")`` (LANFAX_SERVER or the default), then the folders,
    configuration objects, devices and events. Event handlers are attributes named after the
    IFaxServerNotify methods (``server.OnOutgoingJobAdded = fn``), or the methods of an object
    given to ``ConnectObject`` (like ``WScript.ConnectObject``); they are called on a
    background thread with the server as first argument."""

    def __init__(self) -> None:
        self._client: Any = None
        self._name = ""
        self._events = _S.fsetNONE
        self._listener: threading.Thread | None = None
        self._stop = threading.Event()
        self._sink: Any = None
        self._job_types: dict[int, JobType] = {}

    # -- connection ---------------------------------------------------------------------------

    def Connect(self, bstrServerName: str = "") -> None:
        from lanfax.client import Client
        from lanfax.client.winfax import _server_url

        self.Disconnect()
        client = Client(_server_url(bstrServerName or None))
        try:
            client.health()
        except FaxError:
            client.close()
            raise
        self._client, self._name = client, bstrServerName or ""

    def Disconnect(self) -> None:
        self.ListenToServerEvents(_S.fsetNONE)
        if self._client is not None:
            self._client.close()
            self._client = None

    def _connected(self, member: str) -> Any:
        if self._client is None:
            raise Unavailable(
                f"{member}: the FaxServer is not connected", hint='call Connect("") first'
            )
        return self._client

    @property
    def ServerName(self) -> str:
        return self._name

    def _version(self) -> list[int]:
        text = self._connected("version").server_info().version
        parts = [int(p) if p.isdigit() else 0 for p in str(text).split(".")[:3]]
        return parts + [0] * (3 - len(parts))

    @property
    def MajorVersion(self) -> int:
        return self._version()[0]

    @property
    def MinorVersion(self) -> int:
        return self._version()[1]

    @property
    def MajorBuild(self) -> int:
        return self._version()[2]

    @property
    def MinorBuild(self) -> int:
        return 0

    @property
    def Debug(self) -> bool:
        return False

    @property
    def APIVersion(self) -> int:
        return 0x00030000  # fsAPI_VERSION_3

    # -- the objects --------------------------------------------------------------------------

    @property
    def Folders(self) -> FaxFolders:
        self._connected("Folders")
        return FaxFolders(self._connected)

    @property
    def Activity(self) -> FaxActivity:
        return FaxActivity(self._connected)

    @property
    def LoggingOptions(self) -> FaxLoggingOptions:
        self._connected("LoggingOptions")
        return FaxLoggingOptions(self._connected)

    @property
    def Security(self) -> FaxSecurity:
        self._connected("Security")
        return FaxSecurity(self._connected)

    @property
    def ReceiptOptions(self) -> FaxReceiptOptions:
        self._connected("ReceiptOptions")
        return FaxReceiptOptions(self._connected)

    @property
    def InboundRouting(self) -> FaxInboundRouting:
        self._connected("InboundRouting")
        return FaxInboundRouting(self._connected)

    @property
    def OutboundRouting(self) -> FaxOutboundRouting:
        self._connected("OutboundRouting")
        return FaxOutboundRouting()

    @property
    def CurrentAccount(self) -> FaxAccount:
        from lanfax.client._core import API, Op

        me = self._connected("CurrentAccount")._run(Op("GET", f"{API}/whoami", lambda r: r.json()))
        return FaxAccount(self._connected, str(me["user"]))

    @property
    def FaxAccountSet(self) -> Any:
        raise not_supported("FaxServer.FaxAccountSet", "accounts are not in this server yet")

    def GetDevices(self) -> FaxDevices:
        ports = self._connected("GetDevices").ports()
        return FaxDevices([FaxDevice(self._connected, p) for p in ports])

    def GetDeviceProviders(self) -> FaxDeviceProviders:
        entries = self._connected("GetDeviceProviders").providers()
        return FaxDeviceProviders([FaxDeviceProvider(e) for e in entries])

    def GetExtensionProperty(self, bstrGUID: str) -> dict[str, Any]:
        """FaxExtGetData not tied to a device (a JSON object)."""
        data: dict[str, Any] = self._connected("GetExtensionProperty").extension_data(bstrGUID)
        return data

    def SetExtensionProperty(self, bstrGUID: str, vProperty: Mapping[str, Any]) -> None:
        """FaxExtSetData not tied to a device; the running extensions are told at once."""
        self._connected("SetExtensionProperty").set_extension_data(bstrGUID, _data(vProperty))

    # -- registration ---------------------------------------------------------------------------

    def RegisterDeviceProvider(
        self,
        bstrGUID: str,
        bstrFriendlyName: str,
        bstrImageName: str,
        TspName: str = "",
        lFSPIVersion: int = 0x00010000,
    ) -> None:
        """Register a provider installed on the server (``bstrImageName`` = module:Class);
        ``bstrGUID`` (braces dropped) is its unique name."""
        name = bstrGUID.strip().strip("{}")
        self._connected("RegisterDeviceProvider").register_provider(
            name, bstrImageName, friendly_name=bstrFriendlyName
        )

    def UnregisterDeviceProvider(self, bstrUniqueName: str) -> None:
        self._connected("UnregisterDeviceProvider").unregister_provider(
            bstrUniqueName.strip().strip("{}")
        )

    def RegisterInboundRoutingExtension(
        self,
        bstrExtensionName: str,
        bstrFriendlyName: str,
        bstrImageName: str,
        vMethods: Iterable[str],
    ) -> None:
        """``vMethods``: "Method name;Friendly name;Function name;GUID" strings."""
        guids = []
        for i, text in enumerate(vMethods):
            parts = [p.strip() for p in str(text).split(";")]
            if len(parts) != 4:
                raise InvalidInput(
                    f"vMethods[{i}] is not 'Name;Friendly name;Function;GUID'",
                    hint="one string per routing method, four parts separated by ';'",
                )
            guids.append(parts[3])
        self._connected("RegisterInboundRoutingExtension").register_routing_extension(
            bstrImageName, name=bstrExtensionName, friendly_name=bstrFriendlyName, methods=guids
        )

    def UnregisterInboundRoutingExtension(self, bstrExtensionUniqueName: str) -> None:
        self._connected("UnregisterInboundRoutingExtension").unregister_routing_extension(
            bstrExtensionUniqueName
        )

    # -- events ---------------------------------------------------------------------------------

    @property
    def RegisteredEvents(self) -> FAX_SERVER_EVENTS_TYPE_ENUM:
        return self._events

    def ConnectObject(self, sink: Any) -> None:
        """Deliver events to ``sink``'s methods (OnOutgoingJobAdded, ...)."""
        self._sink = sink

    def ListenToServerEvents(self, EventTypes: int) -> None:
        """Start (or, with fsetNONE, stop) delivering the chosen events. fsetACTIVITY,
        fsetQUEUE_STATE and the archive events are not delivered (docs/faxcomex.md)."""
        wanted = _S(int(EventTypes))
        self._stop.set()
        if self._listener is not None and self._listener is not threading.current_thread():
            self._listener.join(timeout=10)
        self._listener = None
        self._events = wanted
        if wanted == _S.fsetNONE:
            return
        client = self._connected("ListenToServerEvents")
        after = client.latest_event_seq()
        self._stop = threading.Event()
        stop = self._stop
        thread = threading.Thread(
            target=self._follow,
            args=(client.base_url, after, stop),
            name="faxcomex-events",
            daemon=True,
        )
        self._listener = thread
        thread.start()

    def _handler(self, name: str) -> Callable[..., Any] | None:
        fn = self.__dict__.get(name) or getattr(self._sink, name, None)
        return fn if callable(fn) and self._events & _EVENT_OF[name] else None

    def _follow(self, url: str, after: int, stop: threading.Event) -> None:
        from lanfax.client import Client

        with Client(url) as client:  # a connection of its own: the stream is long-lived
            stream = client._event_stream(after, 0.5, None)
            for event in stream:
                if stop.is_set():
                    return
                if event is None:
                    continue
                try:
                    self._dispatch(client, event)
                except Exception:  # a handler's error must not stop the events
                    import logging

                    logging.getLogger("lanfax.client").exception("faxcomex event handler")

    def _kind(self, client: Any, job_id: int) -> JobType | None:
        kind = self._job_types.get(job_id)
        if kind is None:
            try:
                kind = client.job(job_id).job_type
            except NotFound:
                return None
            self._job_types[job_id] = kind
        return kind

    def _dispatch(self, client: Any, event: Any) -> None:
        eid = event.event_id
        if eid is EventId.FAXSVC_ENDED:
            self._call("OnServerShutDown", self)
            return
        if eid is EventId.CONFIG_CHANGED:
            self._call("OnGeneralServerConfigChanged", self)
            return
        if eid is EventId.PORT_CHANGED:
            self._call("OnDevicesConfigChange", self)
            return
        if eid is EventId.RINGING:
            detail = event.detail or {}
            self._call(
                "OnNewCall",
                self,
                int(detail.get("call_id", 0) or 0),
                event.device_id,
                str(detail.get("caller_id", "")),
            )
        if event.device_id and eid is not EventId.RINGING:
            status = client.device_status(event.device_id)
            self._call(
                "OnDeviceStatusChange",
                self,
                event.device_id,
                status.status is DeviceStatus.OFFLINE,
                status.status in (DeviceStatus.DIALING, DeviceStatus.SENDING),
                status.status in (DeviceStatus.RECEIVING, DeviceStatus.ANSWERED),
                status.status is DeviceStatus.RINGING,
            )
        job_id = int(event.job_id)
        if job_id <= 0 or job_id == 0xFFFFFFFF:
            return
        kind = self._kind(client, job_id)
        if kind is None:
            return
        side = "Outgoing" if kind is JobType.SEND else "Incoming"
        if eid is EventId.JOB_QUEUED:
            self._call(f"On{side}JobAdded", self, str(job_id))
        elif eid is EventId.DELETED:
            self._call(f"On{side}JobRemoved", self, str(job_id))
        else:
            try:
                job = client.job(job_id)
            except NotFound:
                return
            self._call(f"On{side}JobChanged", self, str(job_id), FaxJobStatus(job))

    def _call(self, name: str, *args: Any) -> None:
        fn = self._handler(name)
        if fn is not None:
            fn(*args)
