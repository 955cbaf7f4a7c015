"""vCard 3.0 (RFC 2426) and 4.0 (RFC 6350) in and out of the address book, with ``vobject``.

Import reads every ``VCARD`` of a file: the name from FN (else N, else ORG), the fax number
from the first TEL whose TYPE includes ``fax`` (a ``tel:`` URI or text), the office and home
phones from TELs typed ``work``/``home`` (not fax), ORG as company and department, TITLE,
the first ADR (``work`` preferred; its extended part is the office location), the first
EMAIL and NOTE. Anything else in a card is ignored. Export writes the same properties back,
as vCard 3.0 or 4.0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from lanfax.model.contacts import MAX_FIELD, Contact
from lanfax.model.errors import InvalidInput

VERSIONS = ("3.0", "4.0")
#: The largest vCard file accepted for import.
MAX_VCARD_BYTES = 4 * 1024 * 1024
#: The most cards one import may hold.
MAX_CARDS = 10_000


def _types(prop: Any) -> set[str]:
    out: set[str] = set()
    for value in prop.params.get("TYPE", []):
        out.update(v.strip().lower() for v in str(value).split(",") if v.strip())
    return out


def _text(value: Any) -> str:
    if isinstance(value, list):
        value = " ".join(str(v) for v in value if v)
    return str(value or "").strip()


def _number(value: Any) -> str:
    text = str(value or "").strip()
    if text.lower().startswith("tel:"):
        text = text[4:].split(";", 1)[0]  # RFC 3966: parameters after ';'
    return text


def _first(card: Any, name: str) -> Any:
    items = card.contents.get(name, [])
    return items[0] if items else None


def _card_fields(card: Any, index: int) -> dict[str, str]:
    fields: dict[str, str] = {}
    fn = _first(card, "fn")
    name = _text(fn.value) if fn is not None else ""
    n = _first(card, "n")
    if not name and n is not None:
        name = " ".join(p for p in (_text(n.value.given), _text(n.value.family)) if p)
    org = _first(card, "org")
    org_parts = [str(p) for p in (org.value if org is not None else []) if str(p).strip()]
    if not name and org_parts:
        name = org_parts[0]
    if not name.strip():
        raise InvalidInput(
            f"vCard {index + 1} has no name (FN, N or ORG)",
            hint="every card needs FN (the formatted name)",
        )
    fields["name"] = name
    if org_parts:
        fields["company"] = org_parts[0].strip()
        if len(org_parts) > 1:
            fields["department"] = org_parts[1].strip()
    for tel in card.contents.get("tel", []):
        types = _types(tel)
        number = _number(tel.value)
        if not number:
            continue
        if "fax" in types:
            fields.setdefault("fax_number", number)
        elif "home" in types:
            fields.setdefault("home_phone", number)
        elif "work" in types or "voice" in types or not types:
            fields.setdefault("office_phone", number)
    title = _first(card, "title")
    if title is not None:
        fields["title"] = _text(title.value)
    adrs = card.contents.get("adr", [])
    adr = next((a for a in adrs if "work" in _types(a)), adrs[0] if adrs else None)
    if adr is not None:
        a = adr.value
        fields["street_address"] = _text(a.street)
        fields["city"] = _text(a.city)
        fields["state"] = _text(a.region)
        fields["zip"] = _text(a.code)
        fields["country"] = _text(a.country)
        fields["office_location"] = _text(a.extended)
    email = _first(card, "email")
    if email is not None:
        fields["email"] = _text(email.value).strip()
    note = _first(card, "note")
    if note is not None:
        fields["notes"] = str(note.value or "")
    for key, value in fields.items():
        if len(value) > MAX_FIELD:
            raise InvalidInput(
                f"vCard {index + 1} ({name}): {key} is longer than {MAX_FIELD} characters",
                hint="shorten it",
            )
    return {k: v for k, v in fields.items() if v}


def parse_vcards(data: bytes) -> list[dict[str, str]]:
    """The contacts of a vCard file (3.0 or 4.0, one card or many), as field dicts.

    Raises InvalidInput naming the card or line for a file that is not vCard, a card
    without a name, or too many cards."""
    import vobject  # the server's dependency; imported here, import is slowish

    if len(data) > MAX_VCARD_BYTES:
        raise InvalidInput(
            f"the vCard file is larger than {MAX_VCARD_BYTES // 2**20} MB",
            hint="import it in parts",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(
            "the vCard file is not UTF-8", hint="save it as UTF-8 (vCard 4.0 requires it)"
        ) from None
    out: list[dict[str, str]] = []
    try:
        for component in vobject.readComponents(text, validate=False, ignoreUnreadable=False):
            if component.name.upper() != "VCARD":
                raise InvalidInput(
                    f"the file holds a {component.name}, not vCards",
                    hint="export the address book as vCard (.vcf)",
                )
            version = _first(component, "version")
            if version is not None and str(version.value).strip() not in (*VERSIONS, "2.1"):
                raise InvalidInput(
                    f"vCard {len(out) + 1} has version {version.value!r}",
                    hint="lanfax reads vCard 3.0 and 4.0",
                )
            out.append(_card_fields(component, len(out)))
            if len(out) > MAX_CARDS:
                raise InvalidInput(
                    f"more than {MAX_CARDS} vCards in one file", hint="import it in parts"
                )
    except InvalidInput:
        raise
    except Exception as exc:  # vobject's ParseError and friends: the file is not vCard
        raise InvalidInput(
            f"the file is not a valid vCard: {exc}",
            hint="give a .vcf file (vCard 3.0 or 4.0)",
        ) from None
    if not out:
        raise InvalidInput("the file holds no vCard", hint="give a .vcf file with BEGIN:VCARD")
    return out


def _add(card: Any, name: str, value: Any, types: Sequence[str] = ()) -> None:
    prop = card.add(name)
    prop.value = value
    if types:
        prop.params["TYPE"] = list(types)


def to_vcards(contacts: Iterable[Contact], version: str = "4.0") -> str:
    """The contacts as one vCard file (CRLF lines, UTF-8 text)."""
    import vobject

    if version not in VERSIONS:
        raise InvalidInput(f"vCard version {version!r} is not supported", hint="use 3.0 or 4.0")
    four = version == "4.0"
    parts: list[str] = []
    for c in contacts:
        card = vobject.vCard()
        _add(card, "version", version)
        _add(card, "fn", c.name)
        if not four:  # N is required in 3.0 (optional in 4.0)
            _add(card, "n", vobject.vcard.Name(given=c.name))
        if c.company or c.department:
            _add(card, "org", [c.company, c.department] if c.department else [c.company])
        if c.title:
            _add(card, "title", c.title)
        if c.fax_number:
            _add(card, "tel", c.fax_number, ["fax", "work"] if four else ["FAX", "WORK"])
        if c.office_phone:
            _add(card, "tel", c.office_phone, ["voice", "work"] if four else ["VOICE", "WORK"])
        if c.home_phone:
            _add(card, "tel", c.home_phone, ["voice", "home"] if four else ["VOICE", "HOME"])
        if any((c.street_address, c.city, c.state, c.zip, c.country, c.office_location)):
            address = vobject.vcard.Address(
                street=c.street_address,
                city=c.city,
                region=c.state,
                code=c.zip,
                country=c.country,
                extended=c.office_location,
            )
            _add(card, "adr", address, ["work"] if four else ["WORK"])
        if c.email:
            _add(card, "email", c.email, [] if four else ["INTERNET"])
        if c.notes:
            _add(card, "note", c.notes)
        parts.append(card.serialize())
    return "".join(parts)
