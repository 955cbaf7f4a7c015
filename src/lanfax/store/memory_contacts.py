"""The address book of the in-memory store (``MemoryStore.contacts``): the
:class:`~lanfax.store.api.ContactStore` protocol with the SQL store's semantics (one name
space per owner for contacts and lists, checked inside the writing transaction; prefix search;
list members that follow their contacts; all-or-nothing imports).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lanfax.model.contacts import (
    CONTACT_FIELDS,
    Contact,
    ContactList,
    ListMember,
    MemberSpec,
    name_key,
    scope_of,
)
from lanfax.model.errors import Conflict, InvalidInput, NotFound
from lanfax.store.contacts import MAX_PAGE, contact_from_row, list_from_row, prefix_matcher

if TYPE_CHECKING:
    from lanfax.store.memory import MemoryStore, Row, _Tx

__all__ = ["MemoryContacts"]


def _page(rows: list[Row], key: str, limit: int, offset: int) -> list[Row]:
    """By name key, then owner descending (a personal entry before the shared one), then id;
    then the page."""
    rows.sort(key=lambda r: r[key])
    rows.sort(key=lambda r: r["owner"], reverse=True)
    rows.sort(key=lambda r: r["name_key"])
    start = max(0, offset)
    return rows[start : start + max(1, min(limit, MAX_PAGE))]


class MemoryContacts:
    """Contacts and distribution lists in memory."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._contacts: dict[int, Row] = store.table("contacts")
        self._lists: dict[int, Row] = store.table("contact_lists")
        #: list_id -> its members in order, each {"contact_id": int | None, "name", "fax_number"}.
        self._members: dict[int, tuple[Row, ...]] = store.table("contact_list_members")

    # -- names --------------------------------------------------------------------------

    def _check_free(self, owner: str, name: str, *, contact_id: int = 0, list_id: int = 0) -> None:
        key = name_key(name)
        c = any(
            r["owner"] == owner and r["name_key"] == key and r["contact_id"] != contact_id
            for r in self._contacts.values()
        )
        lst = any(
            r["owner"] == owner and r["name_key"] == key and r["list_id"] != list_id
            for r in self._lists.values()
        )
        if c or lst:
            what = "contact" if c else "distribution list"
            raise Conflict(
                f"a {scope_of(owner)} {what} named {name!r} already exists",
                hint="names are unique (ignoring case) among the contacts and lists of a scope; "
                "choose another name or change the existing entry",
                name=name,
            )

    # -- contacts -----------------------------------------------------------------------

    def add_contacts(
        self, owner: str, entries: Sequence[Mapping[str, str]], *, replace: bool = False
    ) -> tuple[list[Contact], int]:
        now = self._store.now_micros()
        out_ids: list[int] = []
        updated = 0
        with self._store.write() as tx:
            for entry in entries:
                values = {f: str(entry.get(f, "")) for f in CONTACT_FIELDS}
                name = str(entry["name"])
                key = name_key(name)
                existing = None
                if replace:
                    existing = next(
                        (
                            r
                            for r in self._contacts.values()
                            if r["owner"] == owner and r["name_key"] == key
                        ),
                        None,
                    )
                if existing is not None:
                    row = {**existing, "name": name, "updated_at": now, **values}
                    tx.put(self._contacts, existing["contact_id"], row)
                    out_ids.append(existing["contact_id"])
                    updated += 1
                    continue
                self._check_free(owner, name)
                contact_id = self._store.new_id(tx, "contacts")
                row = {
                    "contact_id": contact_id,
                    "owner": owner,
                    "name": name,
                    "name_key": key,
                    **values,
                    "created_at": now,
                    "updated_at": now,
                }
                tx.put(self._contacts, contact_id, row)
                out_ids.append(contact_id)
            return [contact_from_row(self._contacts[i]) for i in out_ids], updated

    def get_contact(self, contact_id: int) -> Contact | None:
        with self._store.read():
            row = self._contacts.get(contact_id)
        return None if row is None else contact_from_row(row)

    def get_contacts(self, contact_ids: Iterable[int]) -> dict[int, Contact]:
        ids = sorted(set(contact_ids))
        with self._store.read():
            return {i: contact_from_row(self._contacts[i]) for i in ids if i in self._contacts}

    def update_contact(self, contact_id: int, changes: Mapping[str, str]) -> Contact:
        values: dict[str, Any] = {f: str(v) for f, v in changes.items() if f in CONTACT_FIELDS}
        with self._store.write() as tx:
            row = self._contacts.get(contact_id)
            if row is None:
                raise NotFound(f"contact {contact_id} does not exist", hint="list the contacts")
            if "name" in changes:
                name = str(changes["name"])
                self._check_free(row["owner"], name, contact_id=contact_id)
                values["name"] = name
                values["name_key"] = name_key(name)
            values["updated_at"] = self._store.now_micros()
            new = {**row, **values}
            tx.put(self._contacts, contact_id, new)
        return contact_from_row(new)

    def delete_contact(self, contact_id: int) -> bool:
        """Remove a contact (and its place in every list); False if there was none."""
        with self._store.write() as tx:
            for list_id, members in list(self._members.items()):
                kept = tuple(m for m in members if m["contact_id"] != contact_id)
                if len(kept) != len(members):
                    tx.put(self._members, list_id, kept)
            return tx.delete(self._contacts, contact_id)

    def list_contacts(
        self,
        owners: Iterable[str],
        *,
        prefix: str = "",
        limit: int = 100,
        offset: int = 0,
    ) -> list[Contact]:
        wanted = set(owners)
        match = prefix_matcher(prefix)
        with self._store.read():
            rows = [r for r in self._contacts.values() if r["owner"] in wanted and match(r)]
        return [contact_from_row(r) for r in _page(rows, "contact_id", limit, offset)]

    def find_names(
        self, owners: Sequence[str], keys: Iterable[str]
    ) -> dict[str, list[Contact | ContactList]]:
        wanted = sorted(set(keys))
        found: dict[str, list[Contact | ContactList]] = {k: [] for k in wanted}
        if not wanted:
            return found
        allowed, keyset = set(owners), set(wanted)
        with self._store.read():
            crows = [
                self._contacts[i]
                for i in sorted(self._contacts)
                if self._contacts[i]["owner"] in allowed and self._contacts[i]["name_key"] in keyset
            ]
            lists = [
                self._list_from(self._lists[i])
                for i in sorted(self._lists)
                if self._lists[i]["owner"] in allowed and self._lists[i]["name_key"] in keyset
            ]
        rank = {o: i for i, o in enumerate(owners)}
        entries: list[tuple[int, int, Contact | ContactList]] = [
            (rank[r["owner"]], 0, contact_from_row(r)) for r in crows
        ]
        entries += [(rank[lst.owner], 1, lst) for lst in lists]
        for _owner, _kind, item in sorted(entries, key=lambda e: (e[0], e[1])):
            found[name_key(item.name)].append(item)
        return found

    # -- lists --------------------------------------------------------------------------

    def _list_from(self, row: Row) -> ContactList:
        members = []
        for m in self._members.get(row["list_id"], ()):
            if m["contact_id"] is not None:
                c = self._contacts.get(m["contact_id"])
                members.append(
                    ListMember(
                        m["contact_id"],
                        "" if c is None else c["name"],
                        "" if c is None else c["fax_number"],
                    )
                )
            else:
                members.append(ListMember(0, m["name"], m["fax_number"]))
        return list_from_row(row, members)

    def _put_members(
        self,
        tx: _Tx,
        list_id: int,
        members: Sequence[MemberSpec],
        allowed_owners: Sequence[str],
    ) -> None:
        ids = sorted({m.contact_id for m in members if m.contact_id})
        bad = [
            i
            for i in ids
            if i not in self._contacts or self._contacts[i]["owner"] not in allowed_owners
        ]
        if bad:
            raise InvalidInput(
                f"members: contact {bad[0]} does not exist or may not be in this list",
                hint="a shared list holds shared contacts; a personal list your own "
                "contacts and shared ones",
            )
        rows = tuple(
            {
                "contact_id": m.contact_id or None,
                "name": "" if m.contact_id else m.name,
                "fax_number": "" if m.contact_id else m.fax_number,
            }
            for m in members
        )
        tx.put(self._members, list_id, rows)

    def add_list(
        self,
        owner: str,
        name: str,
        notes: str,
        members: Sequence[MemberSpec],
        allowed_owners: Sequence[str],
    ) -> ContactList:
        now = self._store.now_micros()
        with self._store.write() as tx:
            self._check_free(owner, name)
            list_id = self._store.new_id(tx, "contact_lists")
            row = {
                "list_id": list_id,
                "owner": owner,
                "name": name,
                "name_key": name_key(name),
                "notes": notes,
                "created_at": now,
                "updated_at": now,
            }
            tx.put(self._lists, list_id, row)
            self._put_members(tx, list_id, members, allowed_owners)
            return self._list_from(row)

    def get_list(self, list_id: int) -> ContactList | None:
        with self._store.read():
            row = self._lists.get(list_id)
            return None if row is None else self._list_from(row)

    def update_list(
        self,
        list_id: int,
        *,
        name: str | None,
        notes: str | None,
        members: Sequence[MemberSpec] | None,
        allowed_owners: Sequence[str],
    ) -> ContactList:
        with self._store.write() as tx:
            row = self._lists.get(list_id)
            if row is None:
                raise NotFound(f"list {list_id} does not exist", hint="list the lists")
            values: dict[str, Any] = {"updated_at": self._store.now_micros()}
            if name is not None:
                self._check_free(row["owner"], name, list_id=list_id)
                values.update(name=name, name_key=name_key(name))
            if notes is not None:
                values["notes"] = notes
            new = {**row, **values}
            tx.put(self._lists, list_id, new)
            if members is not None:
                self._put_members(tx, list_id, members, allowed_owners)
            return self._list_from(new)

    def delete_list(self, list_id: int) -> bool:
        with self._store.write() as tx:
            tx.delete(self._members, list_id)
            return tx.delete(self._lists, list_id)

    def list_lists(
        self, owners: Iterable[str], *, prefix: str = "", limit: int = 100, offset: int = 0
    ) -> list[ContactList]:
        wanted = set(owners)
        key = name_key(prefix) if prefix else ""
        with self._store.read():
            rows = [
                r
                for r in self._lists.values()
                if r["owner"] in wanted and r["name_key"].startswith(key)
            ]
            return [self._list_from(r) for r in _page(rows, "list_id", limit, offset)]
