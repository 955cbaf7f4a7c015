"""Fax accounts and personal inboxes (docs/accounts.md), for :class:`Client` and
:class:`AsyncClient` (FaxAccountSet, FaxAccount, FaxAccountIncomingQueue / Archive,
IFaxIncomingMessage2::ReAssign).

=============================================  ==============================================
HTTP                                           client
=============================================  ==============================================
GET /accounts                                  ``accounts() -> list[Account]``
POST /accounts                                 ``add_account(name)``
GET /accounts/{name}                           ``account(name="me")``
DELETE /accounts/{name}                        ``remove_account(name)``
GET /accounts/{name}/incoming                  ``account_incoming(name="me") -> list[Job]``
GET /accounts/{name}/archive                   ``account_archive(name="me") -> ArchivePage``
POST /accounts/reassign                        ``reassign_fax(job_id, to)``
GET /archive/{direction}/{id}/document         ``archived_fax(archive_id) -> bytes`` (an alias)
=============================================  ==============================================

``name`` is a user name, ``"me"`` (the default: your own account) or :data:`SERVER_INBOX`
(``"~server"``: the received faxes nobody owns).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from lanfax.client._archive import ArchivePage as ArchivePage  # one class for every archive
from lanfax.client._archive import archive_page, archived_document
from lanfax.client._core import API, Op, Response, json_body, quote
from lanfax.model.jobs import Job
from lanfax.model.wire import from_wire

T = TypeVar("T")
SERVER_INBOX = "~server"


@dataclass(frozen=True, slots=True)
class Account:
    """FaxAccount: ``created_by`` is ``"auto"`` (first connection) or an administrator."""

    name: str
    created_at: str = ""
    created_by: str = ""


def _account(d: dict[str, str]) -> Account:
    return Account(str(d["name"]), str(d.get("created_at", "")), str(d.get("created_by", "")))


def _path(name: str) -> str:
    return f"{API}/accounts/{quote(name or 'me')}"


def _jobs(r: Response) -> list[Job]:
    return [from_wire(Job, j) for j in r.json()["jobs"]]


def accounts() -> Op[list[Account]]:
    return Op("GET", f"{API}/accounts", lambda r: [_account(a) for a in r.json()["accounts"]])


def account(name: str = "me") -> Op[Account]:
    return Op("GET", _path(name), lambda r: _account(r.json()))


def add_account(name: str) -> Op[Account]:
    body, ctype = json_body({"name": name})
    return Op(
        "POST", f"{API}/accounts", lambda r: _account(r.json()), body=body, content_type=ctype
    )


def remove_account(name: str) -> Op[None]:
    return Op("DELETE", _path(name), lambda r: None)


def account_incoming(name: str = "me", limit: int = 100) -> Op[list[Job]]:
    return Op("GET", _path(name) + "/incoming", _jobs, query={"limit": str(limit)})


def account_archive(name: str = "me", limit: int = 50, cursor: str = "") -> Op[ArchivePage]:
    query = {"limit": str(limit)}
    if cursor:
        query["cursor"] = cursor
    return Op("GET", _path(name) + "/archive", archive_page, query=query)


def reassign_fax(job_id: int, to: str) -> Op[Job]:
    body, ctype = json_body({"job_id": int(job_id), "to": to})
    return Op(
        "POST",
        f"{API}/accounts/reassign",
        lambda r: from_wire(Job, r.json()),
        body=body,
        content_type=ctype,
    )


class AccountMixin:
    """The account calls of the blocking :class:`~lanfax.client.Client`."""

    def _run(self, op: Op[T]) -> T:  # pragma: no cover - provided by the client
        raise NotImplementedError

    def accounts(self) -> list[Account]:
        """Every fax account (query_config)."""
        return self._run(accounts())

    def account(self, name: str = "me") -> Account:
        """One account: your own by default (anyone's needs query_config)."""
        return self._run(account(name))

    def add_account(self, name: str) -> Account:
        """Create an account (manage_config), e.g. when accounts are not created on the
        first connection (server setting auto_create_account_on_connect off)."""
        return self._run(add_account(name))

    def remove_account(self, name: str) -> None:
        self._run(remove_account(name))

    def account_incoming(self, name: str = "me", *, limit: int = 100) -> list[Job]:
        """The account's incoming queue: received faxes still being routed."""
        return self._run(account_incoming(name, limit))

    def account_archive(
        self, name: str = "me", *, limit: int = 50, cursor: str = ""
    ) -> ArchivePage:
        """The account's received faxes (its personal inbox), newest first."""
        return self._run(account_archive(name, limit, cursor))

    def reassign_fax(self, job_id: int, to: str) -> Job:
        """Give received fax ``job_id`` to account ``to`` ("" : back to the server inbox);
        needs manage_receive_folder (and manage_in_archive for someone else's fax)."""
        return self._run(reassign_fax(job_id, to))

    def archived_fax(
        self, archive_id: int, *, direction: str = "incoming", format: str = "tiff"
    ) -> bytes:
        """An archived fax's document (TIFF or PDF); yours, or with the archive right. The
        older name of ``archived_document(direction, archive_id, fmt=format)``."""
        return self._run(archived_document(direction, archive_id, format))


class AsyncAccountMixin:
    """The account calls of :class:`~lanfax.client.AsyncClient`."""

    async def _run(self, op: Op[T]) -> T:  # pragma: no cover - provided by the client
        raise NotImplementedError

    async def accounts(self) -> list[Account]:
        return await self._run(accounts())

    async def account(self, name: str = "me") -> Account:
        return await self._run(account(name))

    async def add_account(self, name: str) -> Account:
        return await self._run(add_account(name))

    async def remove_account(self, name: str) -> None:
        await self._run(remove_account(name))

    async def account_incoming(self, name: str = "me", *, limit: int = 100) -> list[Job]:
        return await self._run(account_incoming(name, limit))

    async def account_archive(
        self, name: str = "me", *, limit: int = 50, cursor: str = ""
    ) -> ArchivePage:
        return await self._run(account_archive(name, limit, cursor))

    async def reassign_fax(self, job_id: int, to: str) -> Job:
        return await self._run(reassign_fax(job_id, to))

    async def archived_fax(
        self, archive_id: int, *, direction: str = "incoming", format: str = "tiff"
    ) -> bytes:
        """As :meth:`AccountMixin.archived_fax`: ``archived_document`` by its older name."""
        return await self._run(archived_document(direction, archive_id, format))
