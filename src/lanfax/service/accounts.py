"""Fax accounts and personal inboxes (FaxAccount, FaxAccountIncomingQueue / Archive).

* **An account per user.** It is created on the user's first connection when the server
  setting ``auto_create_account_on_connect`` (AutoCreateAccountOnConnect) is on, the
  default; otherwise an administrator creates it. Accounts are kept in the settings
  namespaces ``account:<name>`` (a few small records, like the users beside them in
  ``user:<name>``; no table, no migration).
* **The owner of a received fax is its job's ``user_name``** - the field that names the
  submitter of a sent fax - and the archive entry's ``user_name``, copied when the fax is
  archived. So the own-jobs rule that already lets a user see its own sent jobs lets it see
  its own received faxes, and the indexes on ``user_name`` serve both inboxes. The owner is
  set by the routing method "Route to a user" (:mod:`lanfax.routing.builtin.owner`); a fax
  nobody owns (``user_name`` empty) stays in the **server inbox**.
* **Reassigning** a received fax (IFaxIncomingMessage2::ReAssign) needs the right
  ``manage_receive_folder`` (far2MANAGE_RECEIVE_FOLDER) for the caller's own and unassigned
  faxes, and ``manage_in_archive`` as well for a fax owned by someone else. The job and its
  archive entry change in one transaction, with a JOB_CHANGED event.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from lanfax.model.codes import NO_JOB, EventId, JobType, QueueStatus
from lanfax.model.errors import Conflict, InvalidInput, NotFound
from lanfax.model.events import NewEvent
from lanfax.model.jobs import Job, JobQuery
from lanfax.service.context import ServiceContext
from lanfax.service.security import check_user_name

log = logging.getLogger("lanfax.init")

PREFIX = "account:"
#: The received jobs of an incoming queue (receiving, being routed, or routing failed).
INCOMING_TYPES = frozenset({JobType.RECEIVE, JobType.ROUTING})
RECEIVED = frozenset({JobType.RECEIVE, JobType.ROUTING, JobType.FAIL_RECEIVE})


@dataclass(frozen=True, slots=True)
class Account:
    """FaxAccount: a user's account. ``created_by`` is ``"auto"`` (first connection) or the
    administrator who made it."""

    name: str
    created_at: str
    created_by: str

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name, "created_at": self.created_at, "created_by": self.created_by}


def _account(rec: dict[str, Any]) -> Account | None:
    """The account a settings record holds (None: an empty record, a removed account)."""
    if not rec.get("name"):
        return None
    return Account(str(rec["name"]), str(rec.get("created_at", "")), str(rec.get("created_by", "")))


class Accounts:
    """The accounts of the running service (a copy of the store's, this process writes;
    with several nodes, :meth:`reload` takes over what another node wrote)."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self._accounts: dict[str, Account] = {}
        # #18: reloads one at a time, so a later notification's read lands after an earlier's.
        self._reloading = asyncio.Lock()

    async def load(self) -> None:
        """Read every account from the store, replacing what was cached (an account removed
        meanwhile, by another node say, is gone from here too)."""
        names = await self.ctx.run(self.ctx.store.list_namespaces, PREFIX)
        accounts: dict[str, Account] = {}
        for ns in names:
            account = _account(await self.ctx.get_settings(ns))
            if account is not None:
                accounts[account.name] = account
        self._accounts = accounts

    async def reload(self, namespace: str | None) -> None:
        """#18: another node changed settings ``namespace`` (None: any may have changed).
        An ``account:<name>`` namespace is read again alone; None reads every account."""
        async with self._reloading:
            if namespace is None:
                await self.load()
                return
            if not namespace.startswith(PREFIX):
                return
            name = namespace[len(PREFIX) :]
            account = _account(await self.ctx.get_settings(namespace))
            if account is None or account.name != name:
                self._accounts.pop(name, None)
            else:
                self._accounts[name] = account

    # -- accounts -----------------------------------------------------------------------------

    def all(self) -> list[Account]:
        return sorted(self._accounts.values(), key=lambda a: a.name)

    def exists(self, name: str) -> bool:
        return name in self._accounts

    def get(self, name: str) -> Account:
        account = self._accounts.get(name)
        if account is None:
            hint = (
                "it is created when the user first connects"
                if self.ctx.config.auto_create_account_on_connect
                else "an administrator creates it: lanfax account add NAME"
            )
            raise NotFound(f"there is no fax account {name!r}", hint=hint)
        return account

    async def on_connect(self, user: str) -> None:
        """A user connected: create its account if the server setting says so. Cheap when
        the account exists (every request calls this)."""
        if user in self._accounts or not self.ctx.config.auto_create_account_on_connect:
            return
        try:
            check_user_name(user)
        except InvalidInput:
            return  # a caller name no account can have (authentication off, odd header)
        await self.create(user, by="auto")

    async def create(self, name: str, *, by: str) -> Account:
        check_user_name(name)
        if name in self._accounts:
            if by == "auto":
                return self._accounts[name]
            raise Conflict(f"the fax account {name!r} exists already", hint="nothing to do")
        account = Account(name, self.ctx.clock.now().isoformat(), by)
        event = NewEvent(EventId.CONFIG_CHANGED, 0, NO_JOB, {"account_added": name, "by": by})
        await self.ctx.put_settings(PREFIX + name, account.to_wire(), [event])
        self._accounts[name] = account
        log.info("fax account %s created (%s)", name, by)
        return account

    async def remove(self, name: str) -> None:
        """Remove the account. Its faxes keep their owner's name: they are in its inbox again
        if the account is created anew, and administrators still see them."""
        self.get(name)
        event = NewEvent(EventId.CONFIG_CHANGED, 0, NO_JOB, {"account_removed": name})
        await self.ctx.put_settings(PREFIX + name, {}, [event])
        self._accounts.pop(name, None)

    # -- inboxes ------------------------------------------------------------------------------

    async def incoming(
        self, owner: str, *, limit: int = 100, after: int | None = None
    ) -> list[Job]:
        """FaxAccountIncomingQueue: the owner's received faxes not finished yet (being
        received, routed, or waiting after a failed route); ``owner`` "" is the server's."""
        query = JobQuery(
            limit=limit,
            after_id=after,
            job_types=INCOMING_TYPES,
            statuses=frozenset({QueueStatus.IN_PROGRESS, QueueStatus.ROUTING}),
            user_name=owner,
        )
        return await self.ctx.run(self.ctx.store.list_jobs, query)

    async def reassign(self, job_id: int, to: str, *, by: str) -> Job:
        """Give received fax ``job_id`` to account ``to`` ("" : back to the server inbox).
        The caller's rights are checked by the route (see the module docstring)."""
        job = await self.ctx.get_job(job_id)
        if job is None:
            raise NotFound(f"there is no job {job_id}", hint="list the received faxes")
        if job.job_type not in RECEIVED:
            raise InvalidInput(
                f"job_id: job {job_id} is not a received fax",
                hint="only received faxes have an owner; a sent fax belongs to its sender",
                field="job_id",
            )
        if to:
            if not isinstance(to, str):
                raise InvalidInput("to: a user name is text", field="to")
            if to not in self._accounts:
                raise InvalidInput(
                    f"to: there is no fax account {to!r}",
                    hint="reassign to an existing account (lanfax account list)",
                    field="to",
                )
        detail = {"owner": to, "previous_owner": job.user_name, "by": by}
        event = NewEvent(EventId.JOB_CHANGED, job.device_id or 0, job_id, detail)
        updated = await self.ctx.run(self.ctx.store.archive.reassign, job_id, to, [event])
        if job_id in self.ctx.unfinished:
            self.ctx.unfinished[job_id] = updated
        await self.ctx.bus.pump()
        log.info("received fax %d reassigned from %r to %r by %s", job_id, job.user_name, to, by)
        return updated
