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

from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from lanfax.client._core import API, Op, OpFlow, Response, json_body
from lanfax.model.contacts import Contact, ContactList
from lanfax.model.wire import from_wire

T = TypeVar("T")
R = TypeVar("R", Contact, ContactList)
_PAGE = 1000


@dataclass(frozen=True, slots=True)
class VCardImport:
    """What an import did: contacts added, contacts updated (same name), all of them."""

    imported: int
    updated: int
    contacts: list[Contact]


def _none(r: Response) -> None:
    return None


@dataclass(frozen=True, slots=True)
class _Book(Generic[R]):
    """The Ops of one kind of address-book entry (contacts, or contact lists): the same
    five routes under ``path``; a listing's entries under ``key``."""

    path: str
    key: str
    cls: type[R]

    def _one(self, r: Response) -> R:
        return from_wire(self.cls, r.json())

    def page(self, scope: str, prefix: str, limit: int, offset: int) -> Op[list[R]]:
        query = {"scope": scope, "limit": str(limit), "offset": str(offset)}
        if prefix:
            query["q"] = prefix
        return Op(
            "GET",
            self.path,
            lambda r: [from_wire(self.cls, c) for c in r.json()[self.key]],
            query=query,
        )

    def every(self, scope: str, prefix: str) -> Generator[Op[list[R]], list[R], list[R]]:
        """Every entry, a page at a time (a flow both clients drive)."""
        out: list[R] = []
        while True:
            page = yield self.page(scope, prefix, _PAGE, len(out))
            out += page
            if len(page) < _PAGE:
                return out

    def add(self, fields: Mapping[str, Any]) -> Op[R]:
        body, ctype = json_body(dict(fields))
        return Op("POST", self.path, self._one, body=body, content_type=ctype)

    def get(self, entry_id: int) -> Op[R]:
        return Op("GET", f"{self.path}/{int(entry_id)}", self._one)

    def update(self, entry_id: int, changes: Mapping[str, Any]) -> Op[R]:
        body, ctype = json_body(dict(changes))
        return Op("PATCH", f"{self.path}/{int(entry_id)}", self._one, body=body, content_type=ctype)

    def remove(self, entry_id: int) -> Op[None]:
        return Op("DELETE", f"{self.path}/{int(entry_id)}", _none)


CONTACTS = _Book(f"{API}/contacts", "contacts", Contact)
LISTS = _Book(f"{API}/contact-lists", "lists", ContactList)


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


def _members(members: Iterable[str | Mapping[str, Any]]) -> list[Any]:
    return [m if isinstance(m, str) else dict(m) for m in members]


def add_contact(name: str, fax_number: str, scope: str, fields: Mapping[str, str]) -> Op[Contact]:
    return CONTACTS.add({"scope": scope, "name": name, "fax_number": fax_number, **fields})


def add_list(
    name: str, members: Iterable[str | Mapping[str, Any]], scope: str, notes: str
) -> Op[ContactList]:
    return LISTS.add({"scope": scope, "name": name, "notes": notes, "members": _members(members)})


def update_list(
    list_id: int,
    name: str | None,
    notes: str | None,
    members: Iterable[str | Mapping[str, Any]] | None,
) -> Op[ContactList]:
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = name
    if notes is not None:
        changes["notes"] = notes
    if members is not None:
        changes["members"] = _members(members)
    return LISTS.update(list_id, changes)


class ContactsMixin:
    """The address book calls of the blocking :class:`~lanfax.client.Client`."""

    def _run(self, op: Op[T]) -> T:  # pragma: no cover - provided by the client
        raise NotImplementedError

    def _flow(self, flow: OpFlow[T]) -> T:  # pragma: no cover - provided by the client
        raise NotImplementedError

    def contacts(self, *, scope: str = "all", prefix: str = "") -> list[Contact]:
        """Every contact you may see (yours, then shared), by name; ``prefix`` matches the
        start of the name, company, e-mail address or fax number."""
        return self._flow(CONTACTS.every(scope, prefix))

    def contact(self, contact_id: int) -> Contact:
        return self._run(CONTACTS.get(contact_id))

    def add_contact(
        self, name: str, fax_number: str = "", *, scope: str = "personal", **fields: str
    ) -> Contact:
        """Add a contact; ``fields`` are the other Contact fields (company, email, ...)."""
        return self._run(add_contact(name, fax_number, scope, fields))

    def update_contact(self, contact_id: int, **changes: str) -> Contact:
        return self._run(CONTACTS.update(contact_id, changes))

    def remove_contact(self, contact_id: int) -> None:
        self._run(CONTACTS.remove(contact_id))

    def import_vcards(self, data: bytes, *, scope: str = "personal") -> VCardImport:
        """Import a vCard 3.0/4.0 file; a card whose name is already a contact updates it."""
        return self._run(import_vcards(data, scope))

    def export_vcards(self, *, scope: str = "all", version: str = "4.0", prefix: str = "") -> str:
        return self._run(export_vcards(scope, version, prefix))

    def contact_lists(self, *, scope: str = "all", prefix: str = "") -> list[ContactList]:
        return self._flow(LISTS.every(scope, prefix))

    def contact_list(self, list_id: int) -> ContactList:
        return self._run(LISTS.get(list_id))

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
        return self._run(add_list(name, members, scope, notes))

    def update_contact_list(
        self,
        list_id: int,
        *,
        name: str | None = None,
        notes: str | None = None,
        members: Iterable[str | Mapping[str, Any]] | None = None,
    ) -> ContactList:
        return self._run(update_list(list_id, name, notes, members))

    def remove_contact_list(self, list_id: int) -> None:
        self._run(LISTS.remove(list_id))


class AsyncContactsMixin:
    """The address book calls of :class:`~lanfax.client.AsyncClient` (as ContactsMixin's)."""

    async def _run(self, op: Op[T]) -> T:  # pragma: no cover - provided by the client
        raise NotImplementedError

    async def _flow(self, flow: OpFlow[T]) -> T:  # pragma: no cover - provided by the client
        raise NotImplementedError

    async def contacts(self, *, scope: str = "all", prefix: str = "") -> list[Contact]:
        return await self._flow(CONTACTS.every(scope, prefix))

    async def contact(self, contact_id: int) -> Contact:
        return await self._run(CONTACTS.get(contact_id))

    async def add_contact(
        self, name: str, fax_number: str = "", *, scope: str = "personal", **fields: str
    ) -> Contact:
        return await self._run(add_contact(name, fax_number, scope, fields))

    async def update_contact(self, contact_id: int, **changes: str) -> Contact:
        return await self._run(CONTACTS.update(contact_id, changes))

    async def remove_contact(self, contact_id: int) -> None:
        await self._run(CONTACTS.remove(contact_id))

    async def import_vcards(self, data: bytes, *, scope: str = "personal") -> VCardImport:
        return await self._run(import_vcards(data, scope))

    async def export_vcards(
        self, *, scope: str = "all", version: str = "4.0", prefix: str = ""
    ) -> str:
        return await self._run(export_vcards(scope, version, prefix))

    async def contact_lists(self, *, scope: str = "all", prefix: str = "") -> list[ContactList]:
        return await self._flow(LISTS.every(scope, prefix))

    async def contact_list(self, list_id: int) -> ContactList:
        return await self._run(LISTS.get(list_id))

    async def add_contact_list(
        self,
        name: str,
        members: Iterable[str | Mapping[str, Any]] = (),
        *,
        scope: str = "personal",
        notes: str = "",
    ) -> ContactList:
        return await self._run(add_list(name, members, scope, notes))

    async def update_contact_list(
        self,
        list_id: int,
        *,
        name: str | None = None,
        notes: str | None = None,
        members: Iterable[str | Mapping[str, Any]] | None = None,
    ) -> ContactList:
        return await self._run(update_list(list_id, name, notes, members))

    async def remove_contact_list(self, list_id: int) -> None:
        await self._run(LISTS.remove(list_id))
