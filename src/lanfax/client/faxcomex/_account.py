"""FaxAccount and its folders (``/api/v1/accounts``, docs/accounts.md), and FaxAccountSet.

An account's incoming folders are its personal inbox: the received faxes the server routed to
that user. Its outgoing folders are its own jobs and sent faxes.
"""

from __future__ import annotations

from typing import Any

from lanfax.client.faxcomex._archives import (
    FaxIncomingMessage,
    FaxIncomingMessageIterator,
    FaxOutgoingArchive,
    FaxOutgoingMessage,
    FaxOutgoingMessageIterator,
)
from lanfax.client.faxcomex._common import Collection, com_object, not_supported
from lanfax.client.faxcomex._jobs import (
    _UNFINISHED,
    ClientOf,
    FaxIncomingJob,
    FaxIncomingJobs,
    FaxOutgoingJob,
    FaxOutgoingJobs,
    _job_id,
)
from lanfax.model.codes import JobType
from lanfax.model.errors import InvalidInput

__all__ = [
    "FaxAccount",
    "FaxAccountFolders",
    "FaxAccountIncomingArchive",
    "FaxAccountIncomingQueue",
    "FaxAccountOutgoingArchive",
    "FaxAccountOutgoingQueue",
    "FaxAccountSet",
    "FaxAccounts",
]


@com_object
class FaxAccountIncomingQueue:
    """The account's received faxes still being routed."""

    def __init__(self, client_of: ClientOf, name: str) -> None:
        self._client_of = client_of
        self._name = name

    def GetJobs(self) -> FaxIncomingJobs:
        jobs = self._client_of("GetJobs").account_incoming(self._name, limit=1000)
        return FaxIncomingJobs([FaxIncomingJob(self._client_of, j) for j in jobs])

    def GetJob(self, bstrJobId: str) -> FaxIncomingJob:
        wanted = _job_id(bstrJobId)
        for job in self.GetJobs():
            if job.Id == str(wanted):
                return job
        raise InvalidInput(
            f"job {bstrJobId} is not in {self._name}'s incoming queue", hint="see GetJobs()"
        )


class _AccountIterator(FaxIncomingMessageIterator):
    def __init__(self, client_of: ClientOf, prefetch: int, name: str) -> None:
        self._name = name
        super().__init__(client_of, prefetch)

    def _page(self, limit: int, cursor: str) -> Any:
        return self._client_of("GetMessages").account_archive(
            self._name, limit=limit, cursor=cursor
        )


@com_object
class FaxAccountIncomingArchive:
    """The account's received faxes (its personal inbox), newest first."""

    def __init__(self, client_of: ClientOf, name: str) -> None:
        self._client_of = client_of
        self._name = name

    def GetMessages(self, lPrefetchSize: int = 100) -> FaxIncomingMessageIterator:
        return _AccountIterator(self._client_of, lPrefetchSize, self._name)

    def GetMessage(self, bstrMessageId: str) -> FaxIncomingMessage:
        entry = self._client_of("GetMessage").archived("incoming", _job_id(bstrMessageId))
        return FaxIncomingMessage(self._client_of, entry)

    def Refresh(self) -> None:
        return None


@com_object
class FaxAccountOutgoingQueue:
    """The account's own unfinished send jobs."""

    def __init__(self, client_of: ClientOf, name: str) -> None:
        self._client_of = client_of
        self._name = name

    def GetJobs(self) -> FaxOutgoingJobs:
        client = self._client_of("GetJobs")
        jobs = client.iter_jobs(status=_UNFINISHED, type="send", user=self._name)
        return FaxOutgoingJobs([FaxOutgoingJob(self._client_of, j) for j in jobs])

    def GetJob(self, bstrJobId: str) -> FaxOutgoingJob:
        job = self._client_of("GetJob").job(_job_id(bstrJobId))
        if job.job_type is not JobType.SEND or job.user_name != self._name:
            raise InvalidInput(
                f"job {bstrJobId} is not in {self._name}'s outgoing queue", hint="see GetJobs()"
            )
        return FaxOutgoingJob(self._client_of, job)


@com_object
class FaxAccountOutgoingArchive:
    """The account's sent faxes, newest first."""

    def __init__(self, client_of: ClientOf, name: str) -> None:
        self._archive = FaxOutgoingArchive(client_of, name)

    def GetMessages(self, lPrefetchSize: int = 100) -> FaxOutgoingMessageIterator:
        return self._archive.GetMessages(lPrefetchSize)

    def GetMessage(self, bstrMessageId: str) -> FaxOutgoingMessage:
        return self._archive.GetMessage(bstrMessageId)

    def Refresh(self) -> None:
        return None


@com_object
class FaxAccountFolders:
    def __init__(self, client_of: ClientOf, name: str) -> None:
        self._client_of = client_of
        self._name = name

    @property
    def IncomingQueue(self) -> FaxAccountIncomingQueue:
        return FaxAccountIncomingQueue(self._client_of, self._name)

    @property
    def IncomingArchive(self) -> FaxAccountIncomingArchive:
        return FaxAccountIncomingArchive(self._client_of, self._name)

    @property
    def OutgoingQueue(self) -> FaxAccountOutgoingQueue:
        return FaxAccountOutgoingQueue(self._client_of, self._name)

    @property
    def OutgoingArchive(self) -> FaxAccountOutgoingArchive:
        return FaxAccountOutgoingArchive(self._client_of, self._name)


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


@com_object
class FaxAccounts(Collection[FaxAccount]):
    _what = "the accounts"


@com_object
class FaxAccountSet:
    """FaxServer.FaxAccountSet: the server's accounts (administrators change them)."""

    def __init__(self, client_of: ClientOf) -> None:
        self._client_of = client_of

    def GetAccounts(self) -> FaxAccounts:
        accounts = self._client_of("GetAccounts").accounts()
        return FaxAccounts([FaxAccount(self._client_of, a.name) for a in accounts])

    def GetAccount(self, bstrAccountName: str) -> FaxAccount:
        account = self._client_of("GetAccount").account(bstrAccountName)
        return FaxAccount(self._client_of, account.name)

    def AddAccount(self, bstrAccountName: str) -> FaxAccount:
        account = self._client_of("AddAccount").add_account(bstrAccountName)
        return FaxAccount(self._client_of, account.name)

    def RemoveAccount(self, bstrAccountName: str) -> None:
        self._client_of("RemoveAccount").remove_account(bstrAccountName)
