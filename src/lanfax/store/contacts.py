"""The address book tables over a :class:`~lanfax.store.sql.SqlStore` (``store.contacts``, the
:class:`~lanfax.store.api.ContactStore` of the SQL store; blocking: call it in a thread).
Every change is one transaction; a name already used by a contact or a list of the same owner
is a :class:`~lanfax.model.errors.Conflict`, checked inside that transaction.
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

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
from lanfax.store import codec
from lanfax.store.schema import contact_list_members as t_members
from lanfax.store.schema import contact_lists as t_lists
from lanfax.store.schema import contacts as t_contacts

if TYPE_CHECKING:
    from lanfax.store.sql import SqlStore

__all__ = ["MAX_PAGE", "MemberSpec", "SqlContacts", "prefix_matcher"]

MAX_PAGE = 1000


def contact_from_row(row: Mapping[Any, Any]) -> Contact:
    """A contacts row (as every store encodes it, through store.codec) as a Contact."""
    return Contact(
        contact_id=int(row["contact_id"]),
        scope=scope_of(row["owner"]),
        owner=row["owner"],
        name=row["name"],
        **{f: row[f] for f in CONTACT_FIELDS},
        created_at=codec.from_micros(row["created_at"]),
        updated_at=codec.from_micros(row["updated_at"]),
    )


def list_from_row(row: Mapping[Any, Any], members: Sequence[ListMember]) -> ContactList:
    """A contact_lists row (as every store encodes it) and its members as a ContactList."""
    return ContactList(
        list_id=int(row["list_id"]),
        scope=scope_of(row["owner"]),
        owner=row["owner"],
        name=row["name"],
        members=tuple(members),
        notes=row["notes"],
        created_at=codec.from_micros(row["created_at"]),
        updated_at=codec.from_micros(row["updated_at"]),
    )


def _prefix(col: Any, prefix: str) -> Any:
    # substr = prefix rather than LIKE or a range: exact for any text (no wildcard to
    # escape) and the same on every backend whatever its collation.
    return sa.func.substr(col, 1, len(prefix)) == prefix


def search_fold(text: str) -> str:
    """The form a company or e-mail address is searched in: lowered as ``str.lower`` does
    (every script), in one Unicode normal form, so that text stored decomposed (NFD: "E" and a
    combining acute accent) is found by a composed prefix ("É", NFC) and the other way
    round. Decomposed first so that lowering sees base letters and marks apart, composed
    after (NFC: what PostgreSQL's ``normalize`` gives as well); accents are kept ("e" is
    not "é")."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).lower())


def _py_lower(text: str | None) -> str | None:
    return None if text is None else search_fold(text)


def _pg_fold(lower: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """PostgreSQL's :func:`search_fold` of a column with the ``lower`` given (ICU's or the
    database's): ``normalize(lower(normalize(col, NFD)), NFC)``."""

    def fold(col: Any) -> Any:
        nfd = sa.func.normalize(col, sa.literal_column("NFD"), type_=sa.Text)
        return sa.func.normalize(lower(nfd), sa.literal_column("NFC"), type_=sa.Text)

    return fold


def _icu_lower(col: Any) -> Any:
    return sa.func.lower(col.collate("und-x-icu"))


def prefix_matcher(prefix: str) -> Callable[[Mapping[Any, Any]], bool]:
    """The contact search's rule as a test of one row (as every store encodes it): the name
    key, the company or the e-mail address (:func:`search_fold`: lowered, one normal form) or
    the fax number starts with ``prefix``. The memory store's search and the SQL stores'
    fallback."""
    key = name_key(prefix)
    lower = search_fold(prefix.strip())
    number = prefix.strip()

    def match(r: Mapping[Any, Any]) -> bool:
        return not prefix or bool(
            r["name_key"].startswith(key)
            or search_fold(r["company"] or "").startswith(lower)
            or search_fold(r["email"] or "").startswith(lower)
            or (r["fax_number"] or "").startswith(number)
        )

    return match


class SqlContacts:
    def __init__(self, store: SqlStore) -> None:
        self._store = store
        # PostgreSQL: how to lower text for the search, found on first use (see _lowering).
        self._pg_lowering: Callable[[Any], Any] | None = None
        self._pg_probed = False

    def _now(self) -> int:
        return codec.to_micros(self._store._clock.now(), "now")

    # -- names --------------------------------------------------------------------------

    @staticmethod
    def _check_free(
        conn: sa.Connection,
        owner: str,
        name: str,
        *,
        contact_id: int = 0,
        list_id: int = 0,
    ) -> None:
        key = name_key(name)
        c = conn.execute(
            sa.select(t_contacts.c.contact_id).where(
                t_contacts.c.owner == owner,
                t_contacts.c.name_key == key,
                t_contacts.c.contact_id != contact_id,
            )
        ).first()
        lst = conn.execute(
            sa.select(t_lists.c.list_id).where(
                t_lists.c.owner == owner,
                t_lists.c.name_key == key,
                t_lists.c.list_id != list_id,
            )
        ).first()
        if c is not None or lst is not None:
            what = "contact" if c is not None else "distribution list"
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
        """Insert ``entries`` (``name`` plus CONTACT_FIELDS) for ``owner`` in one transaction.

        With ``replace`` an entry whose name is already a contact of ``owner`` updates it
        (a vCard import run twice adds nothing); otherwise that is a Conflict. Returns the
        contacts as stored and how many of them were updates.
        """
        now = self._now()
        out_ids: list[int] = []
        updated = 0
        with self._store._write("add contacts") as conn:
            for entry in entries:
                values = {f: str(entry.get(f, "")) for f in CONTACT_FIELDS}
                name = str(entry["name"])
                key = name_key(name)
                existing = None
                if replace:
                    existing = conn.execute(
                        sa.select(t_contacts.c.contact_id).where(
                            t_contacts.c.owner == owner, t_contacts.c.name_key == key
                        )
                    ).scalar()
                if existing is not None:
                    conn.execute(
                        t_contacts.update()
                        .where(t_contacts.c.contact_id == existing)
                        .values(name=name, updated_at=now, **values)
                    )
                    out_ids.append(int(existing))
                    updated += 1
                    continue
                self._check_free(conn, owner, name)
                row = {
                    "owner": owner,
                    "name": name,
                    "name_key": key,
                    **values,
                    "created_at": now,
                    "updated_at": now,
                }
                new_id = conn.execute(
                    t_contacts.insert().values(row).returning(t_contacts.c.contact_id)
                ).scalar_one()
                out_ids.append(int(new_id))
            rows = {
                int(r["contact_id"]): r
                for r in conn.execute(
                    sa.select(t_contacts).where(t_contacts.c.contact_id.in_(out_ids))
                ).mappings()
            }
        return [contact_from_row(rows[i]) for i in out_ids], updated

    def get_contact(self, contact_id: int) -> Contact | None:
        stmt = sa.select(t_contacts).where(t_contacts.c.contact_id == contact_id)
        with self._store._read("get contact") as conn:
            row = conn.execute(stmt).mappings().first()
        return None if row is None else contact_from_row(row)

    def get_contacts(self, contact_ids: Iterable[int]) -> dict[int, Contact]:
        """The contacts of these ids that exist, by id."""
        ids = sorted(set(contact_ids))
        out: dict[int, Contact] = {}
        with self._store._read("get contacts") as conn:
            for i in range(0, len(ids), 500):
                stmt = sa.select(t_contacts).where(t_contacts.c.contact_id.in_(ids[i : i + 500]))
                for row in conn.execute(stmt).mappings():
                    out[int(row["contact_id"])] = contact_from_row(row)
        return out

    def update_contact(self, contact_id: int, changes: Mapping[str, str]) -> Contact:
        values: dict[str, Any] = {f: str(v) for f, v in changes.items() if f in CONTACT_FIELDS}
        with self._store._write("update contact") as conn:
            row = (
                conn.execute(sa.select(t_contacts).where(t_contacts.c.contact_id == contact_id))
                .mappings()
                .first()
            )
            if row is None:
                raise NotFound(f"contact {contact_id} does not exist", hint="list the contacts")
            if "name" in changes:
                name = str(changes["name"])
                self._check_free(conn, row["owner"], name, contact_id=contact_id)
                values["name"] = name
                values["name_key"] = name_key(name)
            values["updated_at"] = self._now()
            conn.execute(
                t_contacts.update().where(t_contacts.c.contact_id == contact_id).values(values)
            )
            new = (
                conn.execute(sa.select(t_contacts).where(t_contacts.c.contact_id == contact_id))
                .mappings()
                .one()
            )
        return contact_from_row(new)

    def delete_contact(self, contact_id: int) -> bool:
        """Remove a contact (and its place in every list); False if there was none."""
        with self._store._write("delete contact") as conn:
            # Explicitly, not only by the foreign key: an old SQLite connection may have
            # foreign keys off.
            conn.execute(t_members.delete().where(t_members.c.contact_id == contact_id))
            res = conn.execute(t_contacts.delete().where(t_contacts.c.contact_id == contact_id))
            return bool(res.rowcount)

    def list_contacts(
        self,
        owners: Iterable[str],
        *,
        prefix: str = "",
        limit: int = 100,
        offset: int = 0,
    ) -> list[Contact]:
        """Contacts of ``owners``, by name; ``prefix`` matches the start of the name, the
        company, the e-mail address or the fax number (ignoring case, for any script: "ÉCOLE"
        finds "école" on every backend, as the memory store does; and the Unicode form: a
        company stored decomposed is found by a composed prefix, :func:`search_fold`)."""
        c = t_contacts.c
        stmt = sa.select(t_contacts).where(c.owner.in_(sorted(set(owners))))
        stmt = stmt.order_by(c.name_key, c.owner.desc(), c.contact_id)
        limit, offset = max(1, min(limit, MAX_PAGE)), max(0, offset)
        with self._store._read("list contacts") as conn:
            lowering = self._lowering(conn) if prefix else None
            if prefix and lowering is None:
                # No Unicode-aware lower() in this database: filter here, in the database's
                # order, and page what passes.
                match = prefix_matcher(prefix)
                rows = (r for r in conn.execute(stmt).mappings() if match(r))
                return [contact_from_row(r) for r in itertools.islice(rows, offset, offset + limit)]
            if prefix and lowering is not None:
                lower = search_fold(prefix.strip())
                stmt = stmt.where(
                    sa.or_(
                        _prefix(c.name_key, name_key(prefix)),
                        _prefix(lowering(c.company), lower),
                        _prefix(lowering(c.email), lower),
                        _prefix(c.fax_number, prefix.strip()),
                    )
                )
            stmt = stmt.limit(limit).offset(offset)
            return [contact_from_row(r) for r in conn.execute(stmt).mappings()]

    def _lowering(self, conn: sa.Connection) -> Callable[[Any], Any] | None:
        """How this database folds a column as :func:`search_fold` does (lowered in every
        script, not only ASCII; one Unicode normal form), or None when it cannot (the caller
        then filters rows itself).

        SQLite's ``lower()`` folds ASCII only: each connection gets ``lanfax_lower``, a Python
        function (:func:`search_fold`, registered on its first search).
        PostgreSQL's ``lower()`` follows the collation, and under the C locale (the tests',
        and many servers') it folds ASCII only: ICU's root collation ("und-x-icu", in every
        PostgreSQL built with ICU) lowers every script; without it a database whose
        character type is a real locale lowers right with plain ``lower()``. Either is
        wrapped in ``normalize`` (PostgreSQL 13 and later, a UTF8 database); without it the
        rows are filtered here."""
        if conn.dialect.name == "sqlite":
            pooled = conn.connection
            if not pooled.info.get("lanfax_lower"):
                # Once per database connection (pooled.info lives as long as it does): SQLite
                # refuses to redefine a function while a statement of the connection runs.
                raw: Any = pooled.driver_connection
                raw.create_function("lanfax_lower", 1, _py_lower, deterministic=True)
                pooled.info["lanfax_lower"] = True
            return sa.func.lanfax_lower
        if not self._pg_probed:
            icu = conn.execute(
                sa.text(
                    "SELECT EXISTS (SELECT 1 FROM pg_collation"
                    " WHERE collname = 'und-x-icu' AND collprovider = 'i')"
                )
            ).scalar()
            ctype = conn.execute(
                sa.text("SELECT datctype FROM pg_database WHERE datname = current_database()")
            ).scalar()
            normalizes = conn.execute(
                sa.text(
                    "SELECT current_setting('server_version_num')::int >= 130000"
                    " AND pg_encoding_to_char(encoding) = 'UTF8'"
                    " FROM pg_database WHERE datname = current_database()"
                )
            ).scalar()
            if not normalizes:
                self._pg_lowering = None
            elif icu:
                self._pg_lowering = _pg_fold(_icu_lower)
            elif str(ctype).upper() not in ("C", "POSIX"):
                self._pg_lowering = _pg_fold(sa.func.lower)
            else:
                self._pg_lowering = None
            self._pg_probed = True
        return self._pg_lowering

    def find_names(
        self, owners: Sequence[str], keys: Iterable[str]
    ) -> dict[str, list[Contact | ContactList]]:
        """For each name key: the contacts and lists of ``owners`` with that name, in the
        order of ``owners`` (contacts before lists within an owner)."""
        wanted = sorted(set(keys))
        found: dict[str, list[Contact | ContactList]] = {k: [] for k in wanted}
        if not wanted:
            return found
        with self._store._read("find contacts") as conn:
            crows = (
                conn.execute(
                    sa.select(t_contacts).where(
                        t_contacts.c.owner.in_(list(owners)), t_contacts.c.name_key.in_(wanted)
                    )
                )
                .mappings()
                .all()
            )
            lrows = (
                conn.execute(
                    sa.select(t_lists).where(
                        t_lists.c.owner.in_(list(owners)), t_lists.c.name_key.in_(wanted)
                    )
                )
                .mappings()
                .all()
            )
            lists = {int(r["list_id"]): self._list_from(conn, r) for r in lrows}
        rank = {o: i for i, o in enumerate(owners)}
        entries: list[tuple[int, int, Contact | ContactList]] = [
            (rank[r["owner"]], 0, contact_from_row(r)) for r in crows
        ]
        entries += [(rank[lst.owner], 1, lst) for lst in lists.values()]
        for _owner, _kind, item in sorted(entries, key=lambda e: (e[0], e[1])):
            found[name_key(item.name)].append(item)
        return found

    # -- lists --------------------------------------------------------------------------

    def _list_from(self, conn: sa.Connection, row: Mapping[Any, Any]) -> ContactList:
        m, c = t_members.c, t_contacts.c
        stmt = (
            sa.select(
                m.contact_id,
                m.name,
                m.fax_number,
                c.name.label("cname"),
                c.fax_number.label("cnum"),
            )
            .select_from(t_members.outerjoin(t_contacts, m.contact_id == c.contact_id))
            .where(m.list_id == row["list_id"])
            .order_by(m.position)
        )
        members = []
        for r in conn.execute(stmt).mappings():
            if r["contact_id"] is not None:
                members.append(ListMember(int(r["contact_id"]), r["cname"] or "", r["cnum"] or ""))
            else:
                members.append(ListMember(0, r["name"], r["fax_number"]))
        return list_from_row(row, members)

    def _put_members(
        self,
        conn: sa.Connection,
        list_id: int,
        members: Sequence[MemberSpec],
        allowed_owners: Sequence[str],
    ) -> None:
        ids = sorted({m.contact_id for m in members if m.contact_id})
        if ids:
            rows = conn.execute(
                sa.select(t_contacts.c.contact_id, t_contacts.c.owner).where(
                    t_contacts.c.contact_id.in_(ids)
                )
            ).all()
            ok = {int(r[0]) for r in rows if r[1] in allowed_owners}
            bad = [i for i in ids if i not in ok]
            if bad:
                raise InvalidInput(
                    f"members: contact {bad[0]} does not exist or may not be in this list",
                    hint="a shared list holds shared contacts; a personal list your own "
                    "contacts and shared ones",
                )
        conn.execute(t_members.delete().where(t_members.c.list_id == list_id))
        if members:
            conn.execute(
                t_members.insert(),
                [
                    {
                        "list_id": list_id,
                        "position": i,
                        "contact_id": m.contact_id or None,
                        "name": "" if m.contact_id else m.name,
                        "fax_number": "" if m.contact_id else m.fax_number,
                    }
                    for i, m in enumerate(members)
                ],
            )

    def add_list(
        self,
        owner: str,
        name: str,
        notes: str,
        members: Sequence[MemberSpec],
        allowed_owners: Sequence[str],
    ) -> ContactList:
        now = self._now()
        with self._store._write("add list") as conn:
            self._check_free(conn, owner, name)
            row = {
                "owner": owner,
                "name": name,
                "name_key": name_key(name),
                "notes": notes,
                "created_at": now,
                "updated_at": now,
            }
            list_id = int(
                conn.execute(t_lists.insert().values(row).returning(t_lists.c.list_id)).scalar_one()
            )
            self._put_members(conn, list_id, members, allowed_owners)
            stored = conn.execute(sa.select(t_lists).where(t_lists.c.list_id == list_id))
            return self._list_from(conn, stored.mappings().one())

    def get_list(self, list_id: int) -> ContactList | None:
        with self._store._read("get list") as conn:
            row = (
                conn.execute(sa.select(t_lists).where(t_lists.c.list_id == list_id))
                .mappings()
                .first()
            )
            return None if row is None else self._list_from(conn, row)

    def update_list(
        self,
        list_id: int,
        *,
        name: str | None,
        notes: str | None,
        members: Sequence[MemberSpec] | None,
        allowed_owners: Sequence[str],
    ) -> ContactList:
        with self._store._write("update list") as conn:
            row = (
                conn.execute(sa.select(t_lists).where(t_lists.c.list_id == list_id))
                .mappings()
                .first()
            )
            if row is None:
                raise NotFound(f"list {list_id} does not exist", hint="list the lists")
            values: dict[str, Any] = {"updated_at": self._now()}
            if name is not None:
                self._check_free(conn, row["owner"], name, list_id=list_id)
                values.update(name=name, name_key=name_key(name))
            if notes is not None:
                values["notes"] = notes
            conn.execute(t_lists.update().where(t_lists.c.list_id == list_id).values(values))
            if members is not None:
                self._put_members(conn, list_id, members, allowed_owners)
            new = conn.execute(sa.select(t_lists).where(t_lists.c.list_id == list_id))
            return self._list_from(conn, new.mappings().one())

    def delete_list(self, list_id: int) -> bool:
        with self._store._write("delete list") as conn:
            conn.execute(t_members.delete().where(t_members.c.list_id == list_id))
            res = conn.execute(t_lists.delete().where(t_lists.c.list_id == list_id))
            return bool(res.rowcount)

    def list_lists(
        self, owners: Iterable[str], *, prefix: str = "", limit: int = 100, offset: int = 0
    ) -> list[ContactList]:
        c = t_lists.c
        stmt = sa.select(t_lists).where(c.owner.in_(sorted(set(owners))))
        if prefix:
            stmt = stmt.where(_prefix(c.name_key, name_key(prefix)))
        stmt = stmt.order_by(c.name_key, c.owner.desc(), c.list_id)
        stmt = stmt.limit(max(1, min(limit, MAX_PAGE))).offset(max(0, offset))
        with self._store._read("list lists") as conn:
            rows = conn.execute(stmt).mappings().all()
            return [self._list_from(conn, r) for r in rows]
