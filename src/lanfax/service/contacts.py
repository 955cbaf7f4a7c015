"""The address book of the running service (docs/contacts.md): who may see and change what,
input checks, vCard import and export, and the look-up a submission makes for ``@name``.

Rules, in one place:

* a personal contact or list is its owner's alone: anyone else is told it does not exist;
* shared ones are read by callers who may submit faxes (``job_submit``) and changed by
  administrators (``manage_config``);
* a name is unique (ignoring case) among the contacts and lists of one scope;
* a shared list holds shared contacts or bare numbers; a personal list may also hold the
  owner's own contacts;
* ``@name`` at submission looks in the caller's personal contacts and lists first, then in
  the shared ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lanfax.model.codes import AccessRight, AccessRightEx
from lanfax.model.contacts import (
    CONTACT_FIELDS,
    MAX_FIELD,
    SCOPES,
    Contact,
    ContactList,
    MemberSpec,
    check_contact_name,
    name_key,
)
from lanfax.model.errors import InvalidInput, NotFound
from lanfax.service.context import ServiceContext
from lanfax.service.rights import Caller
from lanfax.service.vcard import parse_vcards, to_vcards
from lanfax.store.api import ContactStore

__all__ = ["ContactBook"]

_SHARED = ""
_MAX_MEMBERS = 10_000


def _fields(data: Mapping[str, Any], *, partial: bool, extra: frozenset[str]) -> dict[str, str]:
    """Check a contact's fields (``name`` + CONTACT_FIELDS); InvalidInput naming the field."""
    if not isinstance(data, Mapping):
        raise InvalidInput("a contact must be a JSON object", hint='e.g. {"name": "Alice"}')
    known = {"name", *CONTACT_FIELDS}
    unknown = sorted(set(data) - known - extra)
    if unknown:
        raise InvalidInput(
            f"unknown contact field(s): {', '.join(unknown)}",
            hint=f"known: name, {', '.join(CONTACT_FIELDS)}",
        )
    out: dict[str, str] = {}
    if "name" in data or not partial:
        out["name"] = check_contact_name(data.get("name"))
    for key in CONTACT_FIELDS:
        if key not in data:
            continue
        value = data[key]
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise InvalidInput(f"{key} must be text", hint=f'e.g. {{"{key}": "..."}}')
        if len(value) > MAX_FIELD:
            raise InvalidInput(f"{key} is longer than {MAX_FIELD} characters", hint="shorten it")
        out[key] = value if key == "notes" else value.strip()
    number = out.get("fax_number", "")
    if len(number) > 64 or any(not ch.isprintable() for ch in number):
        raise InvalidInput(
            "fax_number is not a fax number",
            hint="at most 64 printable characters, e.g. +49 30 1234",
        )
    return out


class ContactBook:
    """Contacts and distribution lists over the store (``lanfax.store.contacts``)."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def _t(self) -> ContactStore:
        return self.ctx.store.contacts

    # -- who sees what ------------------------------------------------------------------

    @staticmethod
    def _scope(value: object) -> str:
        if value is None or value == "":
            return "personal"
        if value not in SCOPES:
            raise InvalidInput(f"scope {value!r} is not valid", hint="use personal or shared")
        return str(value)

    @staticmethod
    def _owner(caller: Caller, scope: str, *, write: bool) -> str:
        if scope == "personal":
            return caller.user
        caller.require(AccessRightEx.MANAGE_CONFIG if write else AccessRight.JOB_SUBMIT)
        return _SHARED

    @staticmethod
    def owners(caller: Caller, scope: str | None) -> list[str]:
        """The owners whose entries ``caller`` lists: ``scope`` personal, shared or all."""
        if scope in (None, "", "all"):
            shared = [_SHARED] if caller.holds(AccessRight.JOB_SUBMIT) else []
            return [caller.user, *shared]
        if scope not in SCOPES:
            raise InvalidInput(f"scope {scope!r} is not valid", hint="use personal, shared or all")
        if scope == "shared":
            caller.require(AccessRight.JOB_SUBMIT)
            return [_SHARED]
        return [caller.user]

    @staticmethod
    def _may(caller: Caller, owner: str, *, write: bool, what: str) -> None:
        if owner != _SHARED:
            if owner != caller.user:  # someone else's personal entry: as if it did not exist
                raise NotFound(f"{what} does not exist", hint="list your contacts")
            return
        caller.require(AccessRightEx.MANAGE_CONFIG if write else AccessRight.JOB_SUBMIT)

    # -- contacts -----------------------------------------------------------------------

    async def list_contacts(
        self, caller: Caller, scope: str | None, prefix: str = "", limit: int = 100, offset: int = 0
    ) -> list[Contact]:
        owners = self.owners(caller, scope)
        return await self.ctx.run(
            self._t().list_contacts, owners, prefix=prefix, limit=limit, offset=offset
        )

    async def add_contact(self, caller: Caller, data: Mapping[str, Any]) -> Contact:
        fields = _fields(data, partial=False, extra=frozenset({"scope"}))
        owner = self._owner(caller, self._scope(data.get("scope")), write=True)
        added, _ = await self.ctx.run(self._t().add_contacts, owner, [fields])
        return added[0]

    async def get_contact(self, caller: Caller, contact_id: int) -> Contact:
        found = await self.ctx.run(self._t().get_contact, contact_id)
        if found is None:
            raise NotFound(f"contact {contact_id} does not exist", hint="list your contacts")
        self._may(caller, found.owner, write=False, what=f"contact {contact_id}")
        return found

    async def update_contact(
        self, caller: Caller, contact_id: int, data: Mapping[str, Any]
    ) -> Contact:
        fields = _fields(data, partial=True, extra=frozenset())
        if not fields:
            raise InvalidInput("nothing to change", hint='send fields to change, e.g. {"city": ""}')
        current = await self.get_contact(caller, contact_id)
        self._may(caller, current.owner, write=True, what=f"contact {contact_id}")
        return await self.ctx.run(self._t().update_contact, contact_id, fields)

    async def remove_contact(self, caller: Caller, contact_id: int) -> None:
        current = await self.get_contact(caller, contact_id)
        self._may(caller, current.owner, write=True, what=f"contact {contact_id}")
        await self.ctx.run(self._t().delete_contact, contact_id)

    async def import_vcards(
        self, caller: Caller, data: bytes, scope: str | None
    ) -> tuple[list[Contact], int]:
        """Add every card of a vCard file (one transaction; a card whose name is already a
        contact of the scope updates it). Returns the contacts and how many were updates."""
        owner = self._owner(caller, self._scope(scope), write=True)
        cards = await self.ctx.run(parse_vcards, data)
        clean: list[dict[str, str]] = []
        seen: dict[str, int] = {}
        for i, card in enumerate(cards):
            try:
                fields = _fields(card, partial=False, extra=frozenset())
            except InvalidInput as exc:
                raise InvalidInput(f"vCard {i + 1}: {exc.message}", hint=exc.hint) from None
            key = name_key(fields["name"])
            if key in seen:  # the same name twice in one file: the later card wins
                clean[seen[key]] = fields
                continue
            seen[key] = len(clean)
            clean.append(fields)
        return await self.ctx.run(self._t().add_contacts, owner, clean, replace=True)

    async def export_vcards(
        self, caller: Caller, scope: str | None, version: str, prefix: str = ""
    ) -> str:
        owners = self.owners(caller, scope)
        table = self._t()
        contacts: list[Contact] = []
        offset = 0
        while True:
            page = await self.ctx.run(
                table.list_contacts, owners, prefix=prefix, limit=1000, offset=offset
            )
            contacts += page
            if len(page) < 1000:
                break
            offset += len(page)
        return await self.ctx.run(to_vcards, contacts, version)

    # -- lists --------------------------------------------------------------------------

    async def _members(
        self, caller: Caller, owner: str, raw: object
    ) -> tuple[list[MemberSpec], list[str]]:
        """Parse ``members``: contact names, ``{"contact_id": N}``, ``{"name": "alice"}`` or
        ``{"fax_number": "...", "name": "..."}``. Returns them and the owners allowed."""
        allowed = [owner] if owner == _SHARED else [owner, _SHARED]
        if not isinstance(raw, list):
            raise InvalidInput(
                "members must be a list", hint='e.g. ["alice", {"fax_number": "+49 30 1"}]'
            )
        if len(raw) > _MAX_MEMBERS:
            raise InvalidInput(f"more than {_MAX_MEMBERS} members", hint="split the list")
        names: dict[int, str] = {}
        out: list[MemberSpec | None] = []
        for i, item in enumerate(raw):
            where = f"members[{i}]"
            if isinstance(item, str):
                names[i] = check_contact_name(item.removeprefix("@"), where)
                out.append(None)
                continue
            if not isinstance(item, Mapping):
                raise InvalidInput(f"{where} is not a name or an object", hint='e.g. "alice"')
            unknown = sorted(set(item) - {"contact_id", "name", "fax_number"})
            if unknown:
                raise InvalidInput(
                    f"{where}: unknown field(s) {', '.join(unknown)}",
                    hint="give contact_id, or name, or fax_number (and name)",
                )
            cid = item.get("contact_id")
            if cid is not None:
                if isinstance(cid, bool) or not isinstance(cid, int) or cid <= 0:
                    raise InvalidInput(f"{where}.contact_id is not a contact id", hint="e.g. 12")
                out.append(MemberSpec(contact_id=cid))
                continue
            number = item.get("fax_number")
            if number is None:
                names[i] = check_contact_name(item.get("name"), f"{where}.name")
                out.append(None)
                continue
            fields = _fields(
                {"name": item.get("name") or str(number), "fax_number": number},
                partial=False,
                extra=frozenset(),
            )
            if not fields.get("fax_number"):
                raise InvalidInput(f"{where}.fax_number is empty", hint="give a fax number")
            out.append(MemberSpec(name=fields["name"], fax_number=fields["fax_number"]))
        if names:
            found = await self.ctx.run(
                self._t().find_names, allowed, [name_key(n) for n in names.values()]
            )
            for i, name in names.items():
                contact = next(
                    (c for c in found.get(name_key(name), []) if isinstance(c, Contact)), None
                )
                if contact is None:
                    raise InvalidInput(
                        f"members[{i}]: no contact named {name!r} may be in this list",
                        hint="a shared list holds shared contacts; a personal list your own "
                        "contacts and shared ones; or give a fax_number",
                    )
                out[i] = MemberSpec(contact_id=contact.contact_id)
        return [m for m in out if m is not None], allowed

    @staticmethod
    def _list_fields(data: object, *, partial: bool) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise InvalidInput("a list must be a JSON object", hint='{"name": "sales", ...}')
        allowed = {"name", "notes", "members"} | (set() if partial else {"scope"})
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise InvalidInput(
                f"unknown list field(s): {', '.join(unknown)}",
                hint=f"known: {', '.join(sorted(allowed))}",
            )
        notes = data.get("notes", "" if not partial else None)
        if notes is not None and (not isinstance(notes, str) or len(notes) > MAX_FIELD):
            raise InvalidInput("notes must be text", hint=f"at most {MAX_FIELD} characters")
        out: dict[str, Any] = {"notes": notes}
        if "name" in data or not partial:
            out["name"] = check_contact_name(data.get("name"))
        return out

    async def list_lists(
        self, caller: Caller, scope: str | None, prefix: str = "", limit: int = 100, offset: int = 0
    ) -> list[ContactList]:
        owners = self.owners(caller, scope)
        return await self.ctx.run(
            self._t().list_lists, owners, prefix=prefix, limit=limit, offset=offset
        )

    async def add_list(self, caller: Caller, data: Mapping[str, Any]) -> ContactList:
        fields = self._list_fields(data, partial=False)
        owner = self._owner(caller, self._scope(data.get("scope")), write=True)
        members, allowed = await self._members(caller, owner, data.get("members", []))
        return await self.ctx.run(
            self._t().add_list, owner, fields["name"], fields["notes"], members, allowed
        )

    async def get_list(self, caller: Caller, list_id: int) -> ContactList:
        found = await self.ctx.run(self._t().get_list, list_id)
        if found is None:
            raise NotFound(f"list {list_id} does not exist", hint="list your distribution lists")
        self._may(caller, found.owner, write=False, what=f"list {list_id}")
        return found

    async def update_list(
        self, caller: Caller, list_id: int, data: Mapping[str, Any]
    ) -> ContactList:
        fields = self._list_fields(data, partial=True)
        current = await self.get_list(caller, list_id)
        self._may(caller, current.owner, write=True, what=f"list {list_id}")
        members: list[MemberSpec] | None = None
        allowed: list[str] = [current.owner]
        if "members" in data:
            members, allowed = await self._members(caller, current.owner, data["members"])
        return await self.ctx.run(
            lambda: self._t().update_list(
                list_id,
                name=fields.get("name"),
                notes=fields.get("notes"),
                members=members,
                allowed_owners=allowed,
            )
        )

    async def remove_list(self, caller: Caller, list_id: int) -> None:
        current = await self.get_list(caller, list_id)
        self._may(caller, current.owner, write=True, what=f"list {list_id}")
        await self.ctx.run(self._t().delete_list, list_id)

    # -- submission ---------------------------------------------------------------------

    async def directory(
        self, caller: Caller, names: Sequence[str]
    ) -> dict[str, list[dict[str, Any]]]:
        """What each ``@name`` (a name key) of a submission stands for: the recipients
        (``recipient_number``, ``recipient_name``, and ``cover``: the cover page fields of a
        contact) of the first contact or list found, the caller's own before the shared ones.
        Names found nowhere are left out (the submission reports them); a contact without a
        fax number, or an empty list, is an InvalidInput naming it."""
        owners = self.owners(caller, None)
        table = self._t()
        found = await self.ctx.run(table.find_names, owners, list(names))
        member_ids = [
            m.contact_id
            for items in found.values()
            if items and isinstance(items[0], ContactList)
            for m in items[0].members
            if m.contact_id
        ]
        people = await self.ctx.run(table.get_contacts, member_ids) if member_ids else {}
        out: dict[str, list[dict[str, Any]]] = {}
        for key, items in found.items():
            if not items:
                continue
            item = items[0]
            if isinstance(item, Contact):
                if not item.fax_number:
                    raise InvalidInput(
                        f"contact {item.name!r} has no fax number",
                        hint=f"add one: lanfax contacts add {item.name!r} --fax NUMBER",
                    )
                out[key] = [_recipient(item.fax_number, item.name, item)]
                continue
            members = list(item.members)
            if not members:
                raise InvalidInput(
                    f"distribution list {item.name!r} has no members",
                    hint="add members to it first",
                )
            lacking = [m.name for m in members if not m.fax_number]
            if lacking:
                raise InvalidInput(
                    f"distribution list {item.name!r}: {lacking[0]!r} has no fax number",
                    hint="give the contact a fax number, or take it off the list",
                )
            out[key] = [_recipient(m.fax_number, m.name, people.get(m.contact_id)) for m in members]
        return out


#: Contact field -> the cover page field (FAX_COVERPAGE_INFO's recipient part) it fills.
_COVER_FIELDS = {
    "company": "rec_company",
    "department": "rec_department",
    "title": "rec_title",
    "street_address": "rec_street_address",
    "city": "rec_city",
    "state": "rec_state",
    "zip": "rec_zip",
    "country": "rec_country",
    "office_location": "rec_office_location",
    "home_phone": "rec_home_phone",
    "office_phone": "rec_office_phone",
}


def _recipient(number: str, name: str, contact: Contact | None) -> dict[str, Any]:
    cover = (
        {rec: getattr(contact, f) for f, rec in _COVER_FIELDS.items() if getattr(contact, f)}
        if contact is not None
        else {}
    )
    return {"recipient_number": number, "recipient_name": name, "cover": cover}
