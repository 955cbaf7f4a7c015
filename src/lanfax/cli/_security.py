"""``lanfax user``, ``lanfax token``, ``lanfax audit`` and ``lanfax whoami`` (docs/security.md).

They call the client's users, tokens and audit methods (``lanfax.client._users``); ``--json``
prints each answer's ``to_wire()``, the JSON the server sent. Only argparse is imported at
module level: the parser is on the start-up path of every ``lanfax`` command, and the client
is imported when a verb here runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lanfax.client import Client
    from lanfax.client._users import User


def add_parsers(sub: Any, common: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("user", help="manage users (administrators)")
    usub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    usub.add_parser("list", parents=common, help="every user, its role and rights")
    q = usub.add_parser("add", parents=common, help="add a user")
    q.add_argument("name")
    q.add_argument("--role", default="user", choices=("user", "operator", "administrator"))
    q.add_argument(
        "--password",
        action="store_true",
        help="ask for a password (or read LANFAX_NEW_PASSWORD); without it: tokens only",
    )
    q = usub.add_parser("remove", parents=common, help="remove a user and its tokens")
    q.add_argument("name")
    for action, text in (("grant", "give rights or a role"), ("revoke", "take rights away")):
        q = usub.add_parser(action, parents=common, help=text)
        q.add_argument("name")
        q.add_argument("rights", nargs="+", metavar="RIGHT", help="e.g. manage_jobs, operator")
    q = usub.add_parser("passwd", parents=common, help="set a user's password")
    q.add_argument("name")

    p = sub.add_parser("token", help="API tokens")
    tsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = tsub.add_parser("create", parents=common, help="create a token (printed once)")
    q.add_argument("--label", default="", help="what it is for, e.g. 'scanner'")
    q.add_argument("--for", dest="for_user", metavar="USER", help="another user's (admins)")
    q.add_argument("--days", type=int, help="expire after N days")
    q = tsub.add_parser("list", parents=common, help="your tokens (never their secret)")
    q.add_argument("--all", action="store_true", help="every user's (admins)")
    q = tsub.add_parser("revoke", parents=common, help="revoke a token")
    q.add_argument("token_id", metavar="ID")

    p = sub.add_parser("audit", parents=common, help="the audit trail (administrators)")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--user-filter", dest="user_filter", metavar="NAME")
    p.add_argument("--action", metavar="PREFIX", help="e.g. submit, job_, add_user")
    p.add_argument("--since", metavar="ISO8601")

    sub.add_parser("whoami", parents=common, help="who the server thinks you are")


def _client(args: argparse.Namespace) -> Client:
    from lanfax.cli._verbs import _client

    return _client(args)


def _print(args: argparse.Namespace, value: Any, lines: list[str]) -> int:
    if args.json:
        print(json.dumps(value, indent=2))
    else:
        for line in lines:
            print(line)
    return 0


def _new_password() -> str:
    import getpass

    from lanfax.model.errors import InvalidInput

    env = os.environ.get("LANFAX_NEW_PASSWORD")
    if env:
        return env
    if not sys.stdin.isatty():
        raise InvalidInput("no terminal to ask for a password", hint="set LANFAX_NEW_PASSWORD")
    first = getpass.getpass("new password: ")
    if first != getpass.getpass("again: "):
        raise InvalidInput("the two passwords differ", hint="type the same one twice")
    return first


def _user_line(u: User) -> str:
    extra = [f"+{r}" for r in u.granted] + [f"-{r}" for r in u.revoked]
    pw = "password" if u.has_password else "tokens only"
    return f"{u.name:<16} {u.role:<14} {pw:<12} {' '.join(extra)}".rstrip()


def verb_user(args: argparse.Namespace) -> int:
    a = args.action
    with _client(args) as client:
        if a == "list":
            users = client.users()
            return _print(args, [u.to_wire() for u in users], [_user_line(u) for u in users])
        if a == "add":
            password = _new_password() if args.password else None
            u = client.add_user(args.name, role=args.role, password=password)
            return _print(args, u.to_wire(), [f"added {_user_line(u)}"])
        if a == "remove":
            client.remove_user(args.name)
            return _print(args, None, [f"removed {args.name}"])
        if a in ("grant", "revoke"):
            change = client.grant_rights if a == "grant" else client.revoke_rights
            u = change(args.name, args.rights)
            return _print(args, u.to_wire(), [_user_line(u), "rights: " + ", ".join(u.rights)])
        u = client.set_password(args.name, _new_password())
        return _print(args, u.to_wire(), [f"password of {args.name} set"])


def verb_token(args: argparse.Namespace) -> int:
    a = args.action
    with _client(args) as client:
        if a == "create":
            t = client.create_token(label=args.label, user=args.for_user, days=args.days)
            return _print(
                args,
                t.to_wire(),
                [t.token, f"# token {t.token_id} of {t.user}: shown once; use LANFAX_TOKEN"],
            )
        if a == "list":
            tokens = client.tokens(all=args.all)
            lines = [
                f"{t.token_id}  {t.user:<16} {t.created_at}  "
                f"{t.expires_at or 'no expiry':<25} {t.label}"
                for t in tokens
            ]
            return _print(args, [t.to_wire() for t in tokens], lines)
        client.revoke_token(args.token_id)
        return _print(args, None, [f"revoked {args.token_id}"])


def verb_audit(args: argparse.Namespace) -> int:
    with _client(args) as client:
        page = client.audit(
            limit=args.limit, user=args.user_filter, action=args.action, since=args.since
        )
    lines = [
        f"{e.at.isoformat()}  {e.user_name:<16} {e.address:<15} {e.outcome:<7} {e.action} "
        f"{e.target}".rstrip()
        for e in page.entries
    ]
    return _print(args, page.to_wire(), lines)


def verb_whoami(args: argparse.Namespace) -> int:
    with _client(args) as client:
        who = client.whoami()
    return _print(
        args, who.to_wire(), [f"{who.user} ({who.role}, via {who.via})", ", ".join(who.rights)]
    )
