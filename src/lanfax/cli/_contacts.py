"""``lanfax contacts list|add|import|export|remove|show``: the address book (docs/contacts.md).

Only argparse is imported at module level: this is on the start-up path of every command.
Send to a contact or a list with ``lanfax send FILE --to @name``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

#: ``lanfax contacts add`` options and the Contact field each sets.
_FIELD_OPTIONS = {
    "company": "company",
    "department": "department",
    "title": "title",
    "email": "email",
    "street": "street_address",
    "city": "city",
    "state": "state",
    "zip": "zip",
    "country": "country",
    "office": "office_location",
    "office_phone": "office_phone",
    "home_phone": "home_phone",
    "notes": "notes",
}


def add_parsers(sub: Any, common: list[argparse.ArgumentParser]) -> None:
    """Register ``lanfax contacts`` on the verbs' subparsers."""
    p = sub.add_parser(
        "contacts",
        parents=common,
        help="the address book: contacts and distribution lists",
        description="Your contacts and distribution lists, and the shared ones. "
        "Send to one with: lanfax send FILE --to @NAME",
    )
    csub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    scope_help = "personal (yours), shared, or all"
    q = csub.add_parser("list", parents=common, help="contacts and lists you may use")
    q.add_argument(
        "prefix",
        nargs="?",
        default="",
        help="only names (or company, e-mail, number) starting with this",
    )
    q.add_argument("--scope", choices=("personal", "shared", "all"), default="all", help=scope_help)
    q = csub.add_parser("show", parents=common, help="one contact or list, every field")
    q.add_argument("name", metavar="NAME")
    q.add_argument("--scope", choices=("personal", "shared"), help="which one of NAME")
    q = csub.add_parser(
        "add",
        parents=common,
        help="add a contact (--fax) or a distribution list (--members)",
    )
    q.add_argument("name", metavar="NAME")
    what = q.add_mutually_exclusive_group(required=True)
    what.add_argument("--fax", metavar="NUMBER", help="the contact's fax number")
    what.add_argument(
        "--members",
        metavar="M[,M...]",
        help="a list: contact names and/or fax numbers, comma separated",
    )
    q.add_argument("--shared", action="store_true", help="shared (administrators)")
    for option in _FIELD_OPTIONS:
        q.add_argument("--" + option.replace("_", "-"), dest=option, metavar="TEXT")
    q = csub.add_parser("remove", parents=common, help="remove a contact or a list")
    q.add_argument("name", metavar="NAME")
    q.add_argument("--shared", action="store_true", help="the shared one of that name")
    q = csub.add_parser("import", parents=common, help="import a vCard file (3.0 or 4.0)")
    q.add_argument("file", type=Path, metavar="FILE.vcf")
    q.add_argument("--shared", action="store_true", help="into the shared address book")
    q = csub.add_parser("export", parents=common, help="write contacts as a vCard file")
    q.add_argument("-o", "--output", type=Path, metavar="FILE.vcf", help="default: stdout")
    q.add_argument("--scope", choices=("personal", "shared", "all"), default="all", help=scope_help)
    q.add_argument("--version", dest="vcard_version", choices=("3.0", "4.0"), default="4.0")


def _client(args: argparse.Namespace) -> Any:
    from lanfax.cli._verbs import _client as client

    return client(args)


def _find(client: Any, name: str, scope: str) -> Any:
    """The contact or list called ``name`` in ``scope`` (NotFound naming it otherwise)."""
    from lanfax.model.contacts import name_key
    from lanfax.model.errors import NotFound

    key = name_key(name.removeprefix("@"))
    for item in client.contacts(scope=scope, prefix=name.removeprefix("@")):
        if name_key(item.name) == key:
            return item
    for item in client.contact_lists(scope=scope, prefix=name.removeprefix("@")):
        if name_key(item.name) == key:
            return item
    raise NotFound(f"no {scope} contact or list is named {name!r}", hint="lanfax contacts list")


def verb_contacts(args: argparse.Namespace) -> int:
    from lanfax.cli import _output as out
    from lanfax.model.contacts import Contact
    from lanfax.model.errors import InvalidInput, NotFound

    with _client(args) as client:
        if args.action == "list":
            contacts = client.contacts(scope=args.scope, prefix=args.prefix)
            lists = client.contact_lists(scope=args.scope, prefix=args.prefix)
            if args.json:
                out.print_json({"contacts": contacts, "lists": lists})
                return 0
            rows = [["contact", c.scope, c.name, c.fax_number, c.company] for c in contacts]
            rows += [
                ["list", lst.scope, lst.name, f"{len(lst.members)} members", lst.notes]
                for lst in lists
            ]
            out.table(["KIND", "SCOPE", "NAME", "FAX NUMBER", "COMPANY"], rows)
            return 0
        if args.action == "show":
            scopes = [args.scope] if args.scope else ["personal", "shared"]
            found: Any = None
            for scope in scopes:
                try:
                    found = _find(client, args.name, scope)
                    break
                except NotFound:
                    if scope == scopes[-1]:
                        raise
            if args.json:
                out.print_json(found)
            elif isinstance(found, Contact):
                out.fields(found)
            else:
                import dataclasses

                out.fields(dataclasses.replace(found, members=()))
                for m in found.members:
                    kind = "contact" if m.contact_id else "number"
                    print(f"  {m.name or '-'}  {m.fax_number or '-'}  ({kind})")
            return 0
        scope = "shared" if getattr(args, "shared", False) else "personal"
        if args.action == "add":
            if args.members is not None:
                members: list[Any] = []
                for m in (m.strip() for m in args.members.split(",")):
                    if not m:
                        continue
                    digits = m.replace(" ", "").replace("-", "").lstrip("+")
                    members.append({"fax_number": m} if digits.isdigit() else m)
                made: Any = client.add_contact_list(args.name, members, scope=scope)
                what = f"list {made.name} ({len(made.members)} members)"
            else:
                extra = {
                    field: getattr(args, option)
                    for option, field in _FIELD_OPTIONS.items()
                    if getattr(args, option) is not None
                }
                made = client.add_contact(args.name, args.fax, scope=scope, **extra)
                what = f"contact {made.name} ({made.fax_number})"
            if args.json:
                out.print_json(made)
            else:
                print(f"added {scope} {what}")
            return 0
        if args.action == "remove":
            item = _find(client, args.name, scope)
            if isinstance(item, Contact):
                client.remove_contact(item.contact_id)
            else:
                client.remove_contact_list(item.list_id)
            print(
                f"removed {scope} {'contact' if isinstance(item, Contact) else 'list'} {item.name}"
            )
            return 0
        if args.action == "import":
            try:
                data = args.file.read_bytes()
            except OSError as exc:
                raise InvalidInput(
                    f"cannot read {args.file}: {exc.strerror or exc}", hint="give a .vcf file"
                ) from None
            result = client.import_vcards(data, scope=scope)
            if args.json:
                out.print_json(result)
            else:
                print(
                    f"imported {result.imported} new and updated {result.updated} "
                    f"{scope} contact(s) from {args.file}"
                )
            return 0
        if args.action == "export":
            text = client.export_vcards(scope=args.scope, version=args.vcard_version)
            if args.output is None:
                sys.stdout.write(text)
            else:
                try:
                    args.output.write_text(text, encoding="utf-8", newline="")
                except OSError as exc:
                    raise InvalidInput(
                        f"cannot write {args.output}: {exc.strerror or exc}",
                        hint="choose a file in a folder you may write to",
                    ) from None
                count = text.count("BEGIN:VCARD")
                print(f"wrote {count} contact(s) to {args.output} (vCard {args.vcard_version})")
            return 0
    raise InvalidInput(f"unknown action {args.action!r}", hint="lanfax contacts --help")
