"""The archives: FaxOutgoingArchive / FaxIncomingArchive, their message iterators, and
FaxOutgoingMessage / FaxIncomingMessage (a message id is the archive id, as a string)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from lanfax.client.faxcomex._common import FAX_PRIORITY_TYPE_ENUM, com_object, not_supported
from lanfax.client.faxcomex._document import FaxRecipient, FaxSender
from lanfax.client.faxcomex._jobs import ClientOf, _job_id, _write
from lanfax.model.archive import ArchiveEntry
from lanfax.model.errors import InvalidInput

__all__ = [
    "FaxIncomingArchive",
    "FaxIncomingMessage",
    "FaxIncomingMessageIterator",
    "FaxOutgoingArchive",
    "FaxOutgoingMessage",
    "FaxOutgoingMessageIterator",
]


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

    def _page(self, limit: int, cursor: str) -> Any:
        return self._client_of("GetMessages").archive(
            self._direction, limit=limit, cursor=cursor, user=self._user
        )

    def _fetch(self, cursor: str) -> None:
        page = self._page(max(1, min(int(self.PrefetchSize), 1000)), cursor)
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
