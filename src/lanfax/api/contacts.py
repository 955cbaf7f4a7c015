"""The address book over HTTP: ``/contacts`` and ``/contact-lists`` (docs/contacts.md).

Every route needs a logged-in caller; the service decides the rest (a personal entry is its
owner's alone, shared ones are read with ``job_submit`` and changed with ``manage_config``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from lanfax.api.encode import json_body, json_response
from lanfax.api.security import Caller, authenticated
from lanfax.model.errors import InvalidInput, TooLarge
from lanfax.service.core import FaxService
from lanfax.service.vcard import MAX_VCARD_BYTES, VERSIONS

_ANYONE = authenticated()

_CONTACT_EXAMPLE = {
    "scope": "personal",
    "name": "Alice Martin",
    "fax_number": "+49 30 1234",
    "company": "Acme",
    "email": "alice@example.com",
}
_LIST_EXAMPLE = {
    "scope": "shared",
    "name": "sales",
    "members": ["Alice Martin", {"fax_number": "101"}],
}


def _body(example: Any, description: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": {"type": "object"}, "example": example}},
        }
    }


async def _object(request: Request, hint: str) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object", hint=hint)
    return body


def _page(items: list[Any], key: str, limit: int, offset: int) -> dict[str, Any]:
    return {key: items, "next": offset + len(items) if len(items) == limit else None}


def install_contact_routes(r: APIRouter, service: FaxService) -> None:
    """``/contacts`` and ``/contact-lists``."""

    def book() -> Any:
        return service.contacts

    # -- contacts -------------------------------------------------------------------------

    @r.get("/contacts", summary="List contacts (own and shared), optionally by prefix")
    async def list_contacts(
        caller: Annotated[Caller, Depends(_ANYONE)],
        scope: str = Query("all", description="personal, shared or all"),
        q: str = Query("", description="prefix of the name, company, e-mail or fax number"),
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0),
    ) -> Response:
        items = await book().list_contacts(caller, scope, q, limit, offset)
        return json_response(_page(items, "contacts", limit, offset))

    @r.post(
        "/contacts",
        summary="Add a contact (shared ones need manage_config)",
        status_code=201,
        openapi_extra=_body(_CONTACT_EXAMPLE, "the contact"),
    )
    async def add_contact(
        request: Request, caller: Annotated[Caller, Depends(_ANYONE)]
    ) -> Response:
        body = await _object(request, 'e.g. {"name": "Alice", "fax_number": "+49 30 1234"}')
        return json_response(await book().add_contact(caller, body), status=201)

    @r.post(
        "/contacts/import",
        summary="Import a vCard file (3.0 or 4.0); a name already present is updated",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"text/vcard": {"schema": {"type": "string"}}},
            }
        },
    )
    async def import_contacts(
        request: Request,
        caller: Annotated[Caller, Depends(_ANYONE)],
        scope: str = Query("personal", description="personal or shared"),
    ) -> Response:
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_VCARD_BYTES:
            raise TooLarge(
                f"the vCard file is larger than {MAX_VCARD_BYTES // 2**20} MB",
                hint="import it in parts",
            )
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > MAX_VCARD_BYTES:
                raise TooLarge(
                    f"the vCard file is larger than {MAX_VCARD_BYTES // 2**20} MB",
                    hint="import it in parts",
                )
        contacts, updated = await book().import_vcards(caller, bytes(data), scope)
        return json_response(
            {"imported": len(contacts) - updated, "updated": updated, "contacts": contacts}
        )

    @r.get("/contacts/export", summary="The contacts as a vCard file")
    async def export_contacts(
        caller: Annotated[Caller, Depends(_ANYONE)],
        scope: str = Query("all", description="personal, shared or all"),
        version: str = Query("4.0", description="3.0 or 4.0"),
        q: str = Query("", description="only contacts matching this prefix"),
    ) -> Response:
        if version not in VERSIONS:
            raise InvalidInput(f"vCard version {version!r} is not supported", hint="use 3.0 or 4.0")
        text = await book().export_vcards(caller, scope, version, q)
        return Response(
            text.encode("utf-8"),
            media_type="text/vcard; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="contacts.vcf"'},
        )

    @r.get("/contacts/{contact_id}", summary="One contact")
    async def get_contact(contact_id: int, caller: Annotated[Caller, Depends(_ANYONE)]) -> Response:
        return json_response(await book().get_contact(caller, contact_id))

    @r.patch(
        "/contacts/{contact_id}",
        summary="Change a contact's fields",
        openapi_extra=_body({"fax_number": "+49 30 9999"}, "fields to change"),
    )
    async def change_contact(
        contact_id: int, request: Request, caller: Annotated[Caller, Depends(_ANYONE)]
    ) -> Response:
        body = await _object(request, 'e.g. {"fax_number": "+49 30 9999"}')
        return json_response(await book().update_contact(caller, contact_id, body))

    @r.delete("/contacts/{contact_id}", summary="Remove a contact", status_code=204)
    async def remove_contact(
        contact_id: int, caller: Annotated[Caller, Depends(_ANYONE)]
    ) -> Response:
        await book().remove_contact(caller, contact_id)
        return Response(status_code=204)

    # -- distribution lists ---------------------------------------------------------------

    @r.get("/contact-lists", summary="List distribution lists (own and shared)")
    async def list_lists(
        caller: Annotated[Caller, Depends(_ANYONE)],
        scope: str = Query("all", description="personal, shared or all"),
        q: str = Query("", description="prefix of the name"),
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0),
    ) -> Response:
        items = await book().list_lists(caller, scope, q, limit, offset)
        return json_response(_page(items, "lists", limit, offset))

    @r.post(
        "/contact-lists",
        summary="Add a distribution list (shared ones need manage_config)",
        status_code=201,
        openapi_extra=_body(_LIST_EXAMPLE, "the list"),
    )
    async def add_list(request: Request, caller: Annotated[Caller, Depends(_ANYONE)]) -> Response:
        body = await _object(request, 'e.g. {"name": "sales", "members": ["alice"]}')
        return json_response(await book().add_list(caller, body), status=201)

    @r.get("/contact-lists/{list_id}", summary="One distribution list with its members")
    async def get_list(list_id: int, caller: Annotated[Caller, Depends(_ANYONE)]) -> Response:
        return json_response(await book().get_list(caller, list_id))

    @r.patch(
        "/contact-lists/{list_id}",
        summary="Rename a list, change its notes or replace its members",
        openapi_extra=_body({"members": ["alice", "bob"]}, "changes"),
    )
    async def change_list(
        list_id: int, request: Request, caller: Annotated[Caller, Depends(_ANYONE)]
    ) -> Response:
        body = await _object(request, 'e.g. {"members": ["alice"]}')
        return json_response(await book().update_list(caller, list_id, body))

    @r.delete("/contact-lists/{list_id}", summary="Remove a list", status_code=204)
    async def remove_list(list_id: int, caller: Annotated[Caller, Depends(_ANYONE)]) -> Response:
        await book().remove_list(caller, list_id)
        return Response(status_code=204)
