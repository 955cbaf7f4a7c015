"""FaxDocument, FaxRecipients, FaxRecipient and FaxSender: composing and submitting a fax."""

from __future__ import annotations

import os
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lanfax.client.faxcomex._common import (
    FAX_COVERPAGE_TYPE_ENUM,
    FAX_PRIORITY_TYPE_ENUM,
    FAX_RECEIPT_TYPE_ENUM,
    FAX_SCHEDULE_TYPE_ENUM,
    Collection,
    com_object,
    not_supported,
    one_based,
)
from lanfax.model.codes import DeliveryReportType, Priority, ScheduleAction
from lanfax.model.errors import InvalidInput
from lanfax.model.jobs import CoverPageInfo, JobParams

if TYPE_CHECKING:
    from lanfax.client.faxcomex._server import FaxServer

__all__ = ["FaxDocument", "FaxRecipient", "FaxRecipients", "FaxSender"]


@com_object
class FaxRecipient:
    """One recipient: ``FaxNumber`` and ``Name`` (a number may be ``@name``: a contact or
    distribution list of the server's address book, resolved when the fax is submitted)."""

    def __init__(self, FaxNumber: str = "", Name: str = "") -> None:
        self.FaxNumber = FaxNumber
        self.Name = Name

    def __repr__(self) -> str:
        return f"<FaxRecipient {self.FaxNumber!r} {self.Name!r}>"


@com_object
class FaxRecipients(Collection[FaxRecipient]):
    """FaxDocument.Recipients: ``Add(FaxNumber, RecipientName)``, ``Remove(i)``, ``Item(i)``."""

    _what = "Recipients"

    def __init__(self) -> None:
        super().__init__([])

    def Add(self, bstrFaxNumber: str, bstrRecipientName: str = "") -> FaxRecipient:
        if not isinstance(bstrFaxNumber, str) or not bstrFaxNumber.strip():
            raise InvalidInput("Recipients.Add needs a fax number", hint='Add("12225550100")')
        recipient = FaxRecipient(bstrFaxNumber.strip(), bstrRecipientName or "")
        self._items.append(recipient)
        return recipient

    def Remove(self, lIndex: int) -> None:
        del self._items[one_based(lIndex, len(self._items), self._what)]


@com_object
class FaxSender:
    """The sender's details (cover page fields and TSID). ``LoadDefaultSender`` fills them
    from the environment (``LANFAX_SENDER_NAME``, ``LANFAX_SENDER_FAX``, ...)."""

    def __init__(self) -> None:
        self.BillingCode = ""
        self.City = ""
        self.Company = ""
        self.Country = ""
        self.Department = ""
        self.Email = ""
        self.FaxNumber = ""
        self.HomePhone = ""
        self.Name = ""
        self.OfficeLocation = ""
        self.OfficePhone = ""
        self.State = ""
        self.StreetAddress = ""
        self.Title = ""
        self.TSID = ""
        self.ZipCode = ""

    def LoadDefaultSender(self) -> None:
        """What winfax's FaxCompleteJobParams fills in: the user's profile."""
        from lanfax.client.winfax import FaxCompleteJobParams

        jp, cp = FaxCompleteJobParams()
        self.Name = cp.SdrName
        self.FaxNumber = cp.SdrFaxNumber
        self.Company = cp.SdrCompany
        self.Department = cp.SdrDepartment
        self.OfficePhone = cp.SdrOfficePhone
        self.TSID = jp.Tsid
        self.Email = os.environ.get("LANFAX_SENDER_EMAIL", self.Email)

    def SaveDefaultSender(self) -> None:
        raise not_supported(
            "FaxSender.SaveDefaultSender",
            "the default sender comes from the environment (LANFAX_SENDER_NAME, ...)",
        )


@com_object
class FaxDocument:
    """A fax to compose and submit: set ``Body`` (a file), add ``Recipients``, then
    ``ConnectedSubmit(server)`` or ``Submit(server_name)``; both return the job ids (one per
    recipient, as strings)."""

    def __init__(self) -> None:
        self.Body = ""
        self.Bodies: list[str] = []
        self.DocumentName = ""
        self.Subject = ""
        self.Note = ""
        self.CoverPage = ""
        self.CoverPageType = FAX_COVERPAGE_TYPE_ENUM.fcptNONE
        self.Priority = FAX_PRIORITY_TYPE_ENUM.fptNORMAL
        self.ScheduleType = FAX_SCHEDULE_TYPE_ENUM.fstNOW
        self.ScheduleTime: datetime | None = None
        self.ReceiptType = FAX_RECEIPT_TYPE_ENUM.frtNONE
        self.ReceiptAddress = ""
        self.AttachFaxToReceipt = False
        self.GroupBroadcastReceipts = False
        self.CallHandle = 0
        self.TapiConnection: Any = None
        self._recipients = FaxRecipients()
        self._sender = FaxSender()

    @property
    def Recipients(self) -> FaxRecipients:
        return self._recipients

    @property
    def Sender(self) -> FaxSender:
        return self._sender

    # -- submission --------------------------------------------------------------------------

    def _files(self) -> list[str]:
        files = [str(f) for f in (self.Bodies or []) if f] or ([self.Body] if self.Body else [])
        if not files:
            raise InvalidInput("the document has no Body", hint='set Body = "c:\\docs\\a.pdf"')
        return files

    def _params(self) -> dict[str, Any]:
        if self.CallHandle or self.TapiConnection is not None:
            raise not_supported(
                "FaxDocument.CallHandle/TapiConnection", "lanfax places its own calls"
            )
        if self.AttachFaxToReceipt:
            raise not_supported(
                "FaxDocument.AttachFaxToReceipt",
                "an e-mailed receipt cannot carry the fax; set it to False",
            )
        s = self._sender
        params: dict[str, Any] = {
            "sender_name": s.Name,
            "sender_company": s.Company,
            "sender_dept": s.Department,
            "billing_code": s.BillingCode,
            "tsid": s.TSID,
            "document_name": self.DocumentName,
            "priority": Priority(int(FAX_PRIORITY_TYPE_ENUM(self.Priority))),
        }
        schedule = FAX_SCHEDULE_TYPE_ENUM(self.ScheduleType)
        params["schedule_action"] = ScheduleAction(int(schedule))
        if schedule is FAX_SCHEDULE_TYPE_ENUM.fstSPECIFIC_TIME:
            if not isinstance(self.ScheduleTime, datetime):
                raise InvalidInput(
                    "ScheduleType fstSPECIFIC_TIME needs ScheduleTime",
                    hint="set ScheduleTime to a datetime",
                )
            params["schedule_time"] = self.ScheduleTime
        receipt = FAX_RECEIPT_TYPE_ENUM(self.ReceiptType)
        if receipt & FAX_RECEIPT_TYPE_ENUM.frtMAIL:
            params["delivery_report_type"] = DeliveryReportType.EMAIL
            params["delivery_report_address"] = self.ReceiptAddress
        elif receipt & FAX_RECEIPT_TYPE_ENUM.frtMSGBOX:
            params["delivery_report_type"] = DeliveryReportType.INBOX
        if self.GroupBroadcastReceipts:
            params["receipt_summary"] = True
        cover_type = FAX_COVERPAGE_TYPE_ENUM(self.CoverPageType)
        if cover_type is not FAX_COVERPAGE_TYPE_ENUM.fcptNONE:
            name = os.path.splitext(os.path.basename(self.CoverPage or ""))[0]
            params["cover_page"] = CoverPageInfo(
                cover_page_name=name,
                use_server_cover_page=cover_type is FAX_COVERPAGE_TYPE_ENUM.fcptSERVER,
                sdr_name=s.Name,
                sdr_fax_number=s.FaxNumber,
                sdr_company=s.Company,
                sdr_address=", ".join(
                    p for p in (s.StreetAddress, s.City, s.State, s.ZipCode, s.Country) if p
                ),
                sdr_title=s.Title,
                sdr_department=s.Department,
                sdr_office_location=s.OfficeLocation,
                sdr_home_phone=s.HomePhone,
                sdr_office_phone=s.OfficePhone,
                note=self.Note,
                subject=self.Subject,
            )
        return params

    def ConnectedSubmit(self, pFaxServer: FaxServer) -> tuple[str, ...]:
        """Submit through a connected FaxServer; the job id of each recipient."""
        if not self._recipients.Count:
            raise InvalidInput("the document has no recipient", hint='Recipients.Add("101")')
        client = pFaxServer._connected("FaxDocument.ConnectedSubmit")
        params = self._params()
        recipients = [JobParams(r.FaxNumber, recipient_name=r.Name) for r in self._recipients]
        result = client.broadcast(self._files(), recipients, **params)
        return tuple(str(job.job_id) for job in result.jobs)

    def Submit(self, bstrFaxServerName: str = "") -> tuple[str, ...]:
        """Connect to ``bstrFaxServerName`` ("" for the default), submit, disconnect."""
        from lanfax.client.faxcomex._server import FaxServer

        server = FaxServer()
        server.Connect(bstrFaxServerName)
        try:
            return self.ConnectedSubmit(server)
        finally:
            server.Disconnect()
