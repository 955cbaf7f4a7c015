"""FaxServer: the connection, the objects hanging off it, registration, and the server
events (IFaxServerNotify handlers on a background thread)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from lanfax.client.faxcomex._account import FaxAccount, FaxAccountSet
from lanfax.client.faxcomex._common import (
    FAX_SERVER_EVENTS_TYPE_ENUM,
    com_object,
    extended_status,
    job_status,
)
from lanfax.client.faxcomex._config import (
    FaxActivity,
    FaxDevice,
    FaxDeviceProvider,
    FaxDeviceProviders,
    FaxDevices,
    FaxInboundRouting,
    FaxLoggingOptions,
    FaxReceiptOptions,
    FaxSecurity,
    _data,
)
from lanfax.client.faxcomex._folders import FaxFolders
from lanfax.client.faxcomex._outbound import FaxOutboundRouting
from lanfax.model.codes import DeviceStatus, EventId, JobType
from lanfax.model.errors import FaxError, InvalidInput, NotFound, Unavailable

__all__ = ["FaxJobStatus", "FaxServer"]

_S = FAX_SERVER_EVENTS_TYPE_ENUM

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
        return FaxOutboundRouting(self._connected)

    @property
    def CurrentAccount(self) -> FaxAccount:
        from lanfax.client._core import API, Op

        me = self._connected("CurrentAccount")._run(Op("GET", f"{API}/whoami", lambda r: r.json()))
        return FaxAccount(self._connected, str(me["user"]))

    @property
    def FaxAccountSet(self) -> FaxAccountSet:
        self._connected("FaxAccountSet")
        return FaxAccountSet(self._connected)

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
