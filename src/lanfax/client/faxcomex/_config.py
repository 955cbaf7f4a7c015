"""The configuration objects hanging off FaxServer: activity, logging, security, receipts,
devices and providers, inbound and outbound routing, and the caller's account."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lanfax.client.faxcomex._common import (
    FAX_ACCESS_RIGHTS_ENUM,
    FAX_DEVICE_RECEIVE_MODE_ENUM,
    FAX_JOB_STATUS_ENUM,
    FAX_LOG_LEVEL_ENUM,
    FAX_PROVIDER_STATUS_ENUM,
    Collection,
    com_object,
    job_status,
    not_supported,
)
from lanfax.client.faxcomex._jobs import ClientOf
from lanfax.model.codes import DeviceStatus, JobType, LogCategory, LogLevel, PortFlags
from lanfax.model.errors import InvalidInput, NotFound

__all__ = [
    "FaxActivity",
    "FaxActivityLogging",
    "FaxDevice",
    "FaxDeviceProvider",
    "FaxDeviceProviders",
    "FaxDevices",
    "FaxEventLogging",
    "FaxInboundRouting",
    "FaxInboundRoutingExtension",
    "FaxInboundRoutingExtensions",
    "FaxInboundRoutingMethod",
    "FaxInboundRoutingMethods",
    "FaxLoggingOptions",
    "FaxReceiptOptions",
    "FaxSecurity",
]


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
