"""Fax accounts and personal inboxes (docs/accounts.md): FaxAccountSet, FaxAccount,
FaxAccountIncomingQueue, FaxAccountIncomingArchive, IFaxIncomingMessage2::ReAssign.

``{name}`` is an account name, ``me`` for the caller's own, or ``~server`` for the server
inbox (received faxes nobody owns; ``~`` is never in a user name). Rights:

* listing, creating and removing accounts: query_config / manage_config / manage_config;
* an account's incoming queue and archive: its owner, or query_jobs / query_in_archive for
  anyone's; the server inbox: query_jobs / query_in_archive, or manage_receive_folder;
* reassigning a received fax: manage_receive_folder for the caller's own and unassigned
  faxes, plus manage_in_archive for a fax someone else owns.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from lanfax.api.encode import json_body, json_response
from lanfax.api.security import Caller, authenticated, requires
from lanfax.model.archive import MAX_PAGE, ArchiveQuery
from lanfax.model.codes import AccessRightEx
from lanfax.model.errors import AccessDenied, InvalidInput
from lanfax.service.core import FaxService

SERVER_INBOX = "~server"

_QUERY_JOBS_OWN = requires(AccessRightEx.QUERY_JOBS, own_jobs=True)
_QUERY_ARCHIVE_OWN = requires(AccessRightEx.QUERY_IN_ARCHIVE, own_jobs=True)
_ANYONE = authenticated()


def _body(example: Any, description: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": {"type": "object"}, "example": example}},
        }
    }


def _owner(name: str, caller: Caller, right: AccessRightEx) -> str:
    """The owner whose faxes ``name`` means, after checking the caller may see them:
    ``""`` for the server inbox."""
    if name == "me":
        return caller.user
    if name == SERVER_INBOX:
        if not (caller.all_jobs or caller.holds(AccessRightEx.MANAGE_RECEIVE_FOLDER)):
            raise AccessDenied(
                "the server inbox needs the right manage_receive_folder",
                hint=f"or {right.name.lower() if right.name else right}; ask an administrator",
            )
        return ""
    if not caller.all_jobs and name != caller.user:
        raise AccessDenied(
            f"the inbox of {name!r} is not yours",
            hint=f"a user sees its own inbox; others need {(right.name or '').lower()}",
        )
    return name


def install_account_routes(r: APIRouter, service: FaxService) -> None:
    @r.get(
        "/accounts",
        summary="FaxAccountSet.GetAccounts: every fax account",
        dependencies=[Depends(requires(AccessRightEx.QUERY_CONFIG))],
    )
    async def accounts() -> Response:
        return json_response({"accounts": [a.to_wire() for a in service.accounts.all()]})

    @r.post(
        "/accounts",
        summary="FaxAccountSet.AddAccount",
        status_code=201,
        openapi_extra=_body({"name": "alice"}, "the account"),
    )
    async def account_add(
        request: Request,
        caller: Annotated[Caller, Depends(requires(AccessRightEx.MANAGE_CONFIG))],
    ) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            raise InvalidInput(
                "name: give the account's user name", hint='e.g. {"name": "alice"}', field="name"
            )
        account = await service.accounts.create(body["name"], by=caller.user)
        return json_response(account.to_wire(), 201)

    @r.post(
        "/accounts/reassign",
        summary="IFaxIncomingMessage2::ReAssign: give a received fax to another account",
        openapi_extra=_body({"job_id": 12, "to": "bob"}, '"to": "" gives it back to the server'),
    )
    async def account_reassign(
        request: Request,
        caller: Annotated[Caller, Depends(requires(AccessRightEx.MANAGE_RECEIVE_FOLDER))],
    ) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise InvalidInput("the body must be a JSON object", hint='{"job_id": 12, "to": "bob"}')
        job_id, to = body.get("job_id"), body.get("to", "")
        if isinstance(job_id, bool) or not isinstance(job_id, int):
            raise InvalidInput("job_id: give the received fax's job id", field="job_id")
        if not isinstance(to, str):
            raise InvalidInput('to: give an account name, or "" for the server', field="to")
        job = await service.get_job(job_id)
        if job.user_name not in ("", caller.user):
            caller.require(AccessRightEx.MANAGE_IN_ARCHIVE)  # someone else's fax
        return json_response(await service.accounts.reassign(job_id, to, by=caller.user))

    @r.get("/accounts/{name}", summary="FaxAccount: one account (yours, or query_config)")
    async def account(name: str, caller: Annotated[Caller, Depends(_ANYONE)]) -> Response:
        if name == "me":
            name = caller.user
        if name != caller.user:
            caller.require(AccessRightEx.QUERY_CONFIG)
        return json_response(service.accounts.get(name).to_wire())

    @r.delete(
        "/accounts/{name}",
        summary="FaxAccountSet.RemoveAccount (its faxes keep their owner)",
        status_code=204,
        dependencies=[Depends(requires(AccessRightEx.MANAGE_CONFIG))],
    )
    async def account_remove(name: str) -> Response:
        await service.accounts.remove(name)
        return Response(status_code=204)

    @r.get(
        "/accounts/{name}/incoming",
        summary="FaxAccountIncomingQueue: received faxes of the account not yet finished",
    )
    async def account_incoming(
        name: str,
        caller: Annotated[Caller, Depends(_QUERY_JOBS_OWN)],
        limit: int = Query(100, ge=1, le=1000),
        after: int | None = Query(None, description="job ids greater than this"),
    ) -> Response:
        owner = _owner(name, caller, AccessRightEx.QUERY_JOBS)
        jobs = await service.accounts.incoming(owner, limit=limit, after=after)
        nxt = jobs[-1].job_id if len(jobs) == limit else None
        return json_response({"jobs": jobs, "next": nxt})

    @r.get(
        "/accounts/{name}/archive",
        summary="FaxAccountIncomingArchive: the account's received faxes, newest first",
    )
    async def account_archive(
        name: str,
        caller: Annotated[Caller, Depends(_QUERY_ARCHIVE_OWN)],
        since: str | None = None,
        until: str | None = None,
        number: str = "",
        ident: str = "",
        limit: int = Query(50, ge=1, le=MAX_PAGE),
        cursor: str = "",
    ) -> Response:
        from lanfax.model.wire import datetime_from_wire

        owner = _owner(name, caller, AccessRightEx.QUERY_IN_ARCHIVE)
        q = ArchiveQuery(
            "incoming",
            datetime_from_wire(since, "since") if since else None,
            datetime_from_wire(until, "until") if until else None,
            number.strip(),
            ident.strip(),
            owner,
            limit,
            cursor,
            unassigned=not owner,
        )
        entries, nxt = await service.archiver.search(q)
        return json_response({"entries": entries, "next": nxt})
