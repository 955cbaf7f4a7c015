"""The address book: contacts and distribution lists (docs/contacts.md).

A contact or a list is *personal* (``owner`` is its user) or *shared* (``owner`` is ``""``,
readable by everyone who may submit faxes, changed by administrators). Within one scope a
name is unique across contacts and lists, compared case-insensitively, because
``lanfax send --to @name`` names either.

The contact fields are the recipient fields of the Windows cover page (FAX_COVERPAGE_INFO /
FaxRecipient), plus e-mail and notes, so a contact can fill a cover page.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from lanfax.model.errors import InvalidInput

__all__ = [
    "CONTACT_FIELDS",
    "MAX_FIELD",
    "MAX_NAME",
    "SCOPES",
    "Contact",
    "ContactList",
    "ListMember",
    "check_contact_name",
    "name_key",
    "scope_of",
]

#: The two scopes, as the API spells them.
SCOPES = ("personal", "shared")
MAX_NAME = 128
MAX_FIELD = 1024
#: Every text field of a contact but ``name``, in the order vCards and tables show them.
CONTACT_FIELDS = (
    "fax_number",
    "company",
    "department",
    "title",
    "street_address",
    "city",
    "state",
    "zip",
    "country",
    "office_location",
    "office_phone",
    "home_phone",
    "email",
    "notes",
)


def name_key(name: str) -> str:
    """The form names are compared and searched in: NFKC, case-folded, blanks collapsed."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def check_contact_name(name: object, field: str = "name") -> str:
    """A contact's or list's name, trimmed; InvalidInput naming ``field`` otherwise."""
    if not isinstance(name, str):
        raise InvalidInput(f"{field} must be text", hint='e.g. "Alice Martin"')
    clean = " ".join(name.split())
    if not clean:
        raise InvalidInput(f"{field} is empty", hint="give the contact or list a name")
    if len(clean) > MAX_NAME:
        raise InvalidInput(f"{field} is longer than {MAX_NAME} characters", hint="shorten it")
    if clean.startswith("@"):
        raise InvalidInput(
            f"{field} {clean!r} starts with '@'",
            hint="'@' only marks a name on the command line (--to @alice); leave it out",
        )
    if any(unicodedata.category(ch).startswith("C") for ch in clean):
        raise InvalidInput(f"{field} contains control characters", hint="use printable text")
    return clean


def scope_of(owner: str) -> str:
    return "shared" if owner == "" else "personal"


@dataclass(frozen=True, slots=True)
class Contact:
    """One entry of the address book."""

    contact_id: int
    scope: str
    owner: str
    name: str
    fax_number: str = ""
    company: str = ""
    department: str = ""
    title: str = ""
    street_address: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    country: str = ""
    office_location: str = ""
    office_phone: str = ""
    home_phone: str = ""
    email: str = ""
    notes: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ListMember:
    """A member of a distribution list: a contact (``contact_id`` > 0; name and number are
    the contact's current ones) or a bare number (``contact_id`` 0)."""

    contact_id: int = 0
    name: str = ""
    fax_number: str = ""


@dataclass(frozen=True, slots=True)
class ContactList:
    """A distribution list: sending to it sends to every member (one broadcast)."""

    list_id: int
    scope: str
    owner: str
    name: str
    members: tuple[ListMember, ...] = ()
    notes: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None


# -- store input (#17: moved here from lanfax.store.contacts, which re-exports it) --
__all__ += ["MemberSpec"]


@dataclass(frozen=True, slots=True)
class MemberSpec:
    """A list member to store: a contact by id, or a bare number with an optional name."""

    contact_id: int = 0
    name: str = ""
    fax_number: str = ""
