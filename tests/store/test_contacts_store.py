"""The address book tables on SQLite and PostgreSQL (issue #13): one name space per owner for
contacts and lists, prefix search, list members following their contacts, all-or-nothing
imports."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
import sqlalchemy as sa

from lanfax.model.contacts import Contact, ContactList
from lanfax.model.errors import Conflict, InvalidInput
from lanfax.store import open_store
from lanfax.store.contacts import MemberSpec, SqlContacts, _pg_fold
from lanfax.store.sql import SqlStore


def _names(items: list[Contact] | list[ContactList]) -> list[str]:
    return [i.name for i in items]


def test_contacts_and_lists_share_one_name_space_per_owner(store: SqlStore) -> None:
    book = store.contacts
    (alice,), _ = book.add_contacts("u1", [{"name": "Alice", "fax_number": "101"}])
    with pytest.raises(Conflict):
        book.add_contacts("u1", [{"name": " ALICE "}])
    with pytest.raises(Conflict):
        book.add_list("u1", "alice", "", [], ["u1", ""])
    # Another owner, and the shared book, may use it.
    book.add_contacts("u2", [{"name": "Alice"}])
    book.add_contacts("", [{"name": "Alice", "fax_number": "200"}])
    # Renaming into a taken name is refused too; renaming to itself is fine.
    (bob,), _ = book.add_contacts("u1", [{"name": "Bob"}])
    with pytest.raises(Conflict):
        book.update_contact(bob.contact_id, {"name": "alice"})
    assert book.update_contact(alice.contact_id, {"name": "Alice"}).name == "Alice"


def test_prefix_search_is_exact_on_every_backend(store: SqlStore) -> None:
    book = store.contacts
    book.add_contacts(
        "u1",
        [
            {"name": "Élodie Brun", "fax_number": "+33 1 4444", "company": "Zeta"},
            {"name": "elo_underscore", "fax_number": "555"},
            {"name": "Alice", "company": "Élan SA", "email": "a@x.example"},
            {"name": "100% Fax", "fax_number": "+49 30 1"},
        ],
    )
    owners = ["u1"]
    assert _names(book.list_contacts(owners, prefix="élo")) == ["Élodie Brun"]
    assert _names(book.list_contacts(owners, prefix="ELO_")) == ["elo_underscore"]
    assert _names(book.list_contacts(owners, prefix="100%")) == ["100% Fax"]
    assert _names(book.list_contacts(owners, prefix="%")) == []
    assert _names(book.list_contacts(owners, prefix="+33")) == ["Élodie Brun"]
    assert _names(book.list_contacts(owners, prefix="a@")) == ["Alice"]
    assert _names(book.list_contacts(owners, prefix="zeta")) == ["Élodie Brun"]
    assert len(book.list_contacts(owners)) == 4
    assert _names(book.list_contacts(owners, limit=1, offset=1)) == [
        _names(book.list_contacts(owners))[1]
    ]


def _unicode_book(store: SqlStore) -> None:
    store.contacts.add_contacts(
        "u1",
        [
            {"name": "Anne", "company": "école Sainte-Anne", "email": "anne@x.example"},
            {"name": "Boris", "company": "ЯНДЕКС", "email": "boris@x.example"},
            {"name": "Chloé", "company": "Zeta", "email": "Ödön.Chloé@x.example"},
            {"name": "Dora", "company": "ÉCOLE DU NORD", "email": "dora@x.example"},
            {"name": "Eva", "company": "Ecole sans accent", "email": "eva@x.example"},
            # Stored decomposed (NFD: "E" + U+0301), as some systems write text.
            {"name": "Fanny", "company": _nfd("Équipe Fanny"), "email": _nfd("Ésope@x.example")},
        ],
    )


def _nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("ÉCOLE", ["Anne", "Dora"]),
        ("école", ["Anne", "Dora"]),
        ("ÉcOlE du", ["Dora"]),
        ("ecole", ["Eva"]),  # lowered, not stripped of accents: "e" is not "é"
        ("яндекс", ["Boris"]),
        ("ЯнД", ["Boris"]),
        ("ÖDÖN.", ["Chloé"]),
        ("ödön.chloé@", ["Chloé"]),
        ("chloÉ", ["Chloé"]),  # the name key, as before
        # One Unicode form: composed prefixes find decomposed text, and the other way round.
        ("équipe", ["Fanny"]),
        ("ÉQUIPE F", ["Fanny"]),
        (_nfd("ÉQUIPE"), ["Fanny"]),
        ("ésope@", ["Fanny"]),
        (_nfd("école"), ["Anne", "Dora"]),
        (_nfd("ÖDÖN."), ["Chloé"]),
        ("equipe", []),  # still not stripped of accents
    ],
)
def test_search_ignores_case_in_every_script_on_every_backend(
    store: SqlStore, prefix: str, expected: list[str]
) -> None:
    # SQLite's lower() and PostgreSQL's under the C locale (the tests') fold ASCII only.
    _unicode_book(store)
    assert _names(store.contacts.list_contacts(["u1"], prefix=prefix)) == expected


def test_postgresql_without_a_unicode_lower_filters_the_same_rows_and_pages(
    pg_cluster: Any,
) -> None:
    """A PostgreSQL without ICU whose database's character type is C has no lower() that
    folds every script: the store filters the rows itself, with the same answers and pages
    as the ICU path (forced here: the test cluster has ICU)."""
    with open_store(pg_cluster.url(pg_cluster.create_database())) as store:
        assert isinstance(store, SqlStore)
        _unicode_book(store)
        book = store.contacts
        assert isinstance(book, SqlContacts)
        queries = [("ÉCOLE", 100, 0), ("école", 1, 0), ("école", 1, 1), ("école", 5, 2)]
        queries += [("яндекс", 10, 0), ("ÖDÖN", 10, 0), ("", 2, 1), ("zz", 10, 0)]
        queries += [("équipe", 10, 0), (_nfd("ÉCOLE"), 1, 1), ("ÉSOPE", 10, 0)]
        with_icu = [_names(book.list_contacts(["u1"], prefix=p, limit=n, offset=o))
                    for p, n, o in queries]  # fmt: skip
        assert book._pg_lowering is not None  # the ICU path was taken
        book._pg_lowering, book._pg_probed = None, True
        without = [_names(book.list_contacts(["u1"], prefix=p, limit=n, offset=o))
                   for p, n, o in queries]  # fmt: skip
    assert without == with_icu
    assert with_icu[:4] == [["Anne", "Dora"], ["Anne"], ["Dora"], []]


def test_postgresql_with_plain_lower_still_matches_either_unicode_form(pg_cluster: Any) -> None:
    """A PostgreSQL without ICU whose character type is a real locale lowers with plain
    ``lower()``, wrapped in ``normalize`` as the ICU path is (forced here, on the test
    cluster's C locale, whose lower() folds ASCII only: decomposed first, an accented Latin
    capital still lowers through its ASCII base letter, and is composed again after)."""
    with open_store(pg_cluster.url(pg_cluster.create_database())) as store:
        assert isinstance(store, SqlStore)
        _unicode_book(store)
        book = store.contacts
        assert isinstance(book, SqlContacts)
        book._pg_lowering, book._pg_probed = _pg_fold(sa.func.lower), True
        for prefix, expected in [
            ("équipe", ["Fanny"]),
            ("ÉQUIPE F", ["Fanny"]),
            (_nfd("école"), ["Anne", "Dora"]),
            ("ÉCOLE", ["Anne", "Dora"]),
            ("ésope@", ["Fanny"]),
            ("equipe", []),
        ]:
            assert _names(book.list_contacts(["u1"], prefix=prefix)) == expected, prefix


def test_members_follow_their_contacts(store: SqlStore) -> None:
    book = store.contacts
    (shared,), _ = book.add_contacts("", [{"name": "Desk", "fax_number": "200"}])
    (mine,), _ = book.add_contacts("u1", [{"name": "Mine", "fax_number": "101"}])
    members = [
        MemberSpec(contact_id=mine.contact_id),
        MemberSpec(name="Bare", fax_number="300"),
        MemberSpec(contact_id=shared.contact_id),
    ]
    lst = book.add_list("u1", "team", "n", members, ["u1", ""])
    assert [(m.name, m.fax_number) for m in lst.members] == [
        ("Mine", "101"),
        ("Bare", "300"),
        ("Desk", "200"),
    ]
    # A shared list may not hold a personal contact; nothing is stored then.
    with pytest.raises(InvalidInput):
        book.add_list("", "leak", "", [MemberSpec(contact_id=mine.contact_id)], [""])
    assert _names(book.list_lists([""])) == []
    book.update_contact(mine.contact_id, {"fax_number": "102"})
    assert book.get_list(lst.list_id).members[0].fax_number == "102"  # type: ignore[union-attr]
    assert book.delete_contact(mine.contact_id)
    got = book.get_list(lst.list_id)
    assert got is not None and [m.name for m in got.members] == ["Bare", "Desk"]
    found = book.find_names(["u1", ""], ["team", "desk", "nobody"])
    assert [type(i).__name__ for i in found["team"]] == ["ContactList"]
    assert [i.owner for i in found["desk"]] == [""] and found["nobody"] == []
    assert book.delete_list(lst.list_id) and book.get_list(lst.list_id) is None


def test_an_import_is_all_or_nothing_and_updates_by_name(store: SqlStore) -> None:
    book = store.contacts
    book.add_list("u1", "Taken", "", [], ["u1", ""])
    with pytest.raises(Conflict):
        book.add_contacts("u1", [{"name": "New"}, {"name": "taken"}], replace=True)
    assert book.list_contacts(["u1"]) == []
    added, updated = book.add_contacts("u1", [{"name": "A", "city": "X"}], replace=True)
    again, updated = book.add_contacts(
        "u1", [{"name": "a", "city": "Y"}, {"name": "B"}], replace=True
    )
    assert updated == 1 and again[0].contact_id == added[0].contact_id
    assert again[0].city == "Y" and again[0].name == "a"


@pytest.mark.parametrize("url", ["file", "memory"])
def test_sqlite_searches_from_many_threads_while_contacts_are_added(
    url: str, tmp_path: Any
) -> None:
    """SQLite's Unicode lower is registered once per connection (a pooled file database's
    several connections, an in-memory database's one shared connection), never while another
    statement of that connection runs."""
    from concurrent.futures import ThreadPoolExecutor

    target = f"sqlite:///{tmp_path / 'c.db'}" if url == "file" else "sqlite://"
    with open_store(target) as store:
        assert isinstance(store, SqlStore)
        _unicode_book(store)
        book = store.contacts

        def search(i: int) -> list[str]:
            if i % 5 == 0:
                book.add_contacts("u1", [{"name": f"Zed {i}", "company": f"ÉTUDE {i}"}])
            return _names(book.list_contacts(["u1"], prefix="écol"))

        with ThreadPoolExecutor(8) as pool:
            found = list(pool.map(search, range(80)))
        assert found == [["Anne", "Dora"]] * 80
        assert len(book.list_contacts(["u1"], prefix="étude", limit=1000)) == 16
