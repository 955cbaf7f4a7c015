"""FaxServer.Folders: the two queues and the two archives."""

from __future__ import annotations

from lanfax.client.faxcomex._archives import FaxIncomingArchive, FaxOutgoingArchive
from lanfax.client.faxcomex._common import com_object
from lanfax.client.faxcomex._jobs import ClientOf, FaxIncomingQueue, FaxOutgoingQueue

__all__ = ["FaxFolders"]


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
