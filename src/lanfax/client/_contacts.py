"""The address book (docs/contacts.md) for :class:`Client` and :class:`AsyncClient`: the Ops,
and one mixin per client that runs them.

=======================================  ===============================================
HTTP                                     client
=======================================  ===============================================
GET /contacts                            ``contacts(scope=, prefix=) -> list[Contact]``
POST /contacts                           ``add_contact(name, fax_number, ...) -> Contact``
GET/PATCH/DELETE /contacts/{id}          ``contact(id)``, ``update_contact``, ``remove_contact``
POST /contacts/import                    ``import_vcards(data, scope=) -> VCardImport``
GET /contacts/export                     ``export_vcards(scope=, version=) -> str``
GET /contact-lists                       ``contact_lists(scope=, prefix=) -> list[ContactList]``
POST /contact-lists                      ``add_contact_list(name, members, ...)``
GET/PATCH/DELETE /contact-lists/{id}     ``contact_list``, ``update_contact_list``, ``remove_...``
=======================================  ===============================================

``scope`` is ``"personal"``, ``"shared"`` or (for listing) ``"all"``. To send to a contact or
a list, give ``"@name"`` as the recipient number: the server resolves it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from lanfax.client._core import API, Op, Response, json_body
from lanfax.model.contacts import Contact, ContactList
from lanfax.model.wire import from_wire

T = TypeVar("T")
_PAGE = 1000


@dataclass(frozen=True, slots=True)
class VCardImport:
    """What an import did: contacts added, contacts updated (same name), all of them."""

    imported: int
    updated: int
    contacts: list[Contact]


def _contact(r: Response) -> Contact:
    return from_wire(Contact, r.json())


def _list(r: Response) -> ContactList:
    return from_wire(ContactList, r.json())


def _none(r: Response) -> None:
    return None


def _query(scope: str, prefix: str, limit: int, offset: int) -> dict[str, str]:
    q = {"scope": scope, "limit": str(limit), "offset": str(offset)}
    if prefix:
        q["q"] = prefix
    return q


def contacts_page(scope: str, prefix: str, limit: int, offset: int) -> Op[list[Contact]]:
    return Op(
        "GET",
        f"{API}/contacts",
        lambda r: [from_wire(Contact, c) for c in r.json()["contacts"]],
        query=_query(scope, prefix, limit, offset),
    )


def add_contact(fields: Mapping[str, Any]) -> Op[Contact]:
    body, ctype = json_body(dict(fields))
    return Op("POST", f"{API}/contacts", _contact, body=body, content_type=ctype)


def contact(contact_id: int) -> Op[Contact]:
    return Op("GET", f"{API}/contacts/{int(contact_id)}", _contact)


def update_contact(contact_id: int, changes: Mapping[str, Any]) -> Op[Contact]:
    body, ctype = json_body(dict(changes))
    return Op("PATCH", f"{API}/contacts/{int(contact_id)}", _contact, body=body, content_type=ctype)


def remove_contact(contact_id: int) -> Op[None]:
    return Op("DELETE", f"{API}/contacts/{int(contact_id)}", _none)


def _imported(r: Response) -> VCardImport:
    data = r.json()
    return VCardImport(
        int(data["imported"]),
        int(data["updated"]),
        [from_wire(Contact, c) for c in data["contacts"]],
    )


def import_vcards(data: bytes, scope: str) -> Op[VCardImport]:
    return Op(
        "POST",
        f"{API}/contacts/import",
        _imported,
        query={"scope": scope},
        body=data,
        content_type="text/vcard; charset=utf-8",
    )


def export_vcards(scope: str, version: str, prefix: str) -> Op[str]:
    query = {"scope": scope, "version": version}
    if prefix:
        query["q"] = prefix
    return Op("GET", f"{API}/contacts/export", lambda r: r.body.decode("utf-8"), query=query)


def lists_page(scope: str, prefix: str, limit: int, offset: int) -> Op[list[ContactList]]:
    return Op(
        "GET",
        f"{API}/contact-lists",
        lambda r: [from_wire(ContactList, c) for c in r.json()["lists"]],
        query=_query(scope, prefix, limit, offset),
    )


def add_list(fields: Mapping[str, Any]) -> Op[ContactList]:
    body, ctype = json_body(dict(fields))
    return Op("POST", f"{API}/contact-lists", _list, body=body, content_type=ctype)


def contact_list(list_id: int) -> Op[ContactList]:
    return Op("GET", f"{API}/contact-lists/{int(list_id)}", _list)


def update_list(list_id: int, changes: Mapping[str, Any]) -> Op[ContactList]:
    body, ctype = json_body(dict(changes))
    return Op("PATCH", f"{API}/contact-lists/{int(list_id)}", _list, body=body, content_type=ctype)


def remove_list(list_id: int) -> Op[None]:
    return Op("DELETE", f"{API}/contact-lists/{int(list_id)}", _none)


def _members(members: Iterable[str | Mapping[str, Any]]) -> list[Any]:
    return [m if isinstance(m, str) else dict(m) for m in members]


class ContactsMixin:
    """The address book calls of the blocking :class:`~lanfax.client.Client`."""

    def _run(self, op: Op[T]) -> T:  # pragma: no cover - provided by the client
        raise NotImplementedError

    def contacts(self, *, scope: str = "all", prefix: str = "") -> list[Contact]:
        """Every contact you may see (yours, then shared), by name; ``prefix`` matches the
        start of the name, company, e-mail address or fax number."""
        out: list[Contact] = []
        while True:
            page = self._run(contacts_page(scope, prefix, _PAGE, len(out)))
            out += page
            if len(page) < _PAGE:
                return out

    def contact(self, contact_id: int) -> Contact:
        return self._run(contact(contact_id))

    def add_contact(
        self, name: str, fax_number: str = "", *, scope: str = "personal", **fields: str
    ) -> Contact:
        """Add a contact; ``fields`` are the other Contact fields (company, email, ...)."""
        return self._run(
            add_contact({"scope": scope, "name": name, "fax_number": fax_number, **fields})
        )

    def update_contact(self, contact_id: int, **changes: str) -> Contact:
        return self._run(update_contact(contact_id, changes))

    def remove_contact(self, contact_id: int) -> None:
        self._run(remove_contact(contact_id))

    def import_vcards(self, data: bytes, *, scope: str = "personal") -> VCardImport:
        """Import a vCard 3.0/4.0 file; a card whose name is already a contact updates it."""
        return self._run(import_vcards(data, scope))

    def export_vcards(self, *, scope: str = "all", version: str = "4.0", prefix: str = "") -> str:
        return self._run(export_vcards(scope, version, prefix))

    def contact_lists(self, *, scope: str = "all", prefix: str = "") -> list[ContactList]:
        out: list[ContactList] = []
        while True:
            page = self._run(lists_page(scope, prefix, _PAGE, len(out)))
            out += page
            if len(page) < _PAGE:
                return out

    def contact_list(self, list_id: int) -> ContactList:
        return self._run(contact_list(list_id))

    def add_contact_list(
        self,
        name: str,
        members: Iterable[str | Mapping[str, Any]] = (),
        *,
        scope: str = "personal",
        notes: str = "",
    ) -> ContactList:
        """Add a distribution list: ``members`` are contact names, ``{"contact_id": N}`` or
        ``{"fax_number": "...", "name": "..."}``."""
        fields = {"scope": scope, "name": name, "notes": notes, "members": _members(members)}
        return self._run(add_list(fields))

    def update_contact_list(
        self,
        list_id: int,
        *,
        name: str | None = None,
        notes: str | None = None,
        members: Iterable[str | Mapping[str, Any]] | None = None,
    ) -> ContactList:
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = name
        if notes is not None:
            changes["notes"] = notes
        if members is not None:
            changes["members"] = _members(members)
        return self._run(update_list(list_id, changes))

    def remove_contact_list(self, list_id: int) -> None:
        self._run(remove_list(list_id))


class AsyncContactsMixin:
    """The address book calls of :class:`~lanfax.client.AsyncClient`."""

    async def _run(self, op: Op[T]) -> T:  # pragma: no cover - provided by the client
        raise NotImplementedError

    async def contacts(self, *, scope: str = "all", prefix: str = "") -> list[Contact]:
        out: list[Contact] = []
        while True:
            page = await self._run(contacts_page(scope, prefix, _PAGE, len(out)))
            out += page
            if len(page) < _PAGE:
                return out

    async def contact(self, contact_id: int) -> Contact:
        return await self._run(contact(contact_id))

    async def add_contact(
        self, name: str, fax_number: str = "", *, scope: str = "personal", **fields: str
    ) -> Contact:
        return await self._run(
            add_contact({"scope": scope, "name": name, "fax_number": fax_number, **fields})
        )

    async def update_contact(self, contact_id: int, **changes: str) -> Contact:
        return await self._run(update_contact(contact_id, changes))

    async def remove_contact(self, contact_id: int) -> None:
        await self._run(remove_contact(contact_id))

    async def import_vcards(self, data: bytes, *, scope: str = "personal") -> VCardImport:
        return await self._run(import_vcards(data, scope))

    async def export_vcards(
        self, *, scope: str = "all", version: str = "4.0", prefix: str = ""
    ) -> str:
        return await self._run(export_vcards(scope, version, prefix))

    async def contact_lists(self, *, scope: str = "all", prefix: str = "") -> list[ContactList]:
        out: list[ContactList] = []
        while True:
            page = await self._run(lists_page(scope, prefix, _PAGE, len(out)))
            out += page
            if len(page) < _PAGE:
                return out

    async def contact_list(self, list_id: int) -> ContactList:
        return await self._run(contact_list(list_id))

    async def add_contact_list(
        self,
        name: str,
        members: Iterable[str | Mapping[str, Any]] = (),
        *,
        scope: str = "personal",
        notes: str = "",
    ) -> ContactList:
        fields = {"scope": scope, "name": name, "notes": notes, "members": _members(members)}
        return await self._run(add_list(fields))

    async def update_contact_list(
        self,
        list_id: int,
        *,
        name: str | None = None,
        notes: str | None = None,
        members: Iterable[str | Mapping[str, Any]] | None = None,
    ) -> ContactList:
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = name
        if notes is not None:
            changes["notes"] = notes
        if members is not None:
            changes["members"] = _members(members)
        return await self._run(update_list(list_id, changes))

    async def remove_contact_list(self, list_id: int) -> None:
        await self._run(remove_list(list_id))
