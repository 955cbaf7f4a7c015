"""``lanfax user``, ``lanfax token``, ``lanfax audit`` and ``lanfax whoami`` (docs/security.md).

They speak the API's users, tokens and audit routes through the sync client's ``_run`` (an
:class:`~lanfax.client._core.Op` per call), so they add nothing to the client's surface. Only
argparse is imported at module level: the parser is on the start-up path of every ``lanfax``
command, and the client is imported when a verb here runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lanfax.client._core import Op


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


def _quote(text: str) -> str:
    from lanfax.client._core import quote

    return quote(text)


def _op(method: str, path: str, body: Any = None, query: dict[str, str] | None = None) -> Op[Any]:
    from lanfax.client._core import API, Op

    data = json.dumps(body).encode() if body is not None else None
    return Op(
        method,
        API + path,
        lambda r: json.loads(r.body) if r.body else None,
        query=query or {},
        body=data,
        content_type="application/json" if data is not None else None,
    )


def _call(args: argparse.Namespace, op: Op[Any]) -> Any:
    from lanfax.cli._verbs import _client

    with _client(args) as client:
        return client._run(op)


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


def _user_line(u: dict[str, Any]) -> str:
    extra = [f"+{r}" for r in u["granted"]] + [f"-{r}" for r in u["revoked"]]
    pw = "password" if u["has_password"] else "tokens only"
    return f"{u['name']:<16} {u['role']:<14} {pw:<12} {' '.join(extra)}".rstrip()


def verb_user(args: argparse.Namespace) -> int:
    a = args.action
    if a == "list":
        users = _call(args, _op("GET", "/users"))
        return _print(args, users, [_user_line(u) for u in users])
    if a == "add":
        body: dict[str, Any] = {"name": args.name, "role": args.role}
        if args.password:
            body["password"] = _new_password()
        u = _call(args, _op("POST", "/users", body))
        return _print(args, u, [f"added {_user_line(u)}"])
    if a == "remove":
        _call(args, _op("DELETE", f"/users/{_quote(args.name)}"))
        return _print(args, None, [f"removed {args.name}"])
    if a in ("grant", "revoke"):
        u = _call(args, _op("PATCH", f"/users/{_quote(args.name)}", {a: args.rights}))
        return _print(args, u, [_user_line(u), "rights: " + ", ".join(u["rights"])])
    u = _call(args, _op("PATCH", f"/users/{_quote(args.name)}", {"password": _new_password()}))
    return _print(args, u, [f"password of {args.name} set"])


def verb_token(args: argparse.Namespace) -> int:
    a = args.action
    if a == "create":
        body: dict[str, Any] = {"label": args.label}
        if args.for_user:
            body["user"] = args.for_user
        if args.days:
            body["days"] = args.days
        t = _call(args, _op("POST", "/tokens", body))
        return _print(
            args,
            t,
            [t["token"], f"# token {t['token_id']} of {t['user']}: shown once; use LANFAX_TOKEN"],
        )
    if a == "list":
        tokens = _call(args, _op("GET", "/tokens", query={"all": "true"} if args.all else {}))
        lines = [
            f"{t['token_id']}  {t['user']:<16} {t['created_at']}  "
            f"{t['expires_at'] or 'no expiry':<25} {t['label']}"
            for t in tokens
        ]
        return _print(args, tokens, lines)
    _call(args, _op("DELETE", f"/tokens/{_quote(args.token_id)}"))
    return _print(args, None, [f"revoked {args.token_id}"])


def verb_audit(args: argparse.Namespace) -> int:
    query = {"limit": str(args.limit)}
    for key, value in (("user", args.user_filter), ("action", args.action), ("since", args.since)):
        if value:
            query[key] = value
    page = _call(args, _op("GET", "/audit", query=query))
    lines = [
        f"{e['at']}  {e['user']:<16} {e['address']:<15} {e['outcome']:<7} {e['action']} "
        f"{e['target']}".rstrip()
        for e in page["entries"]
    ]
    return _print(args, page, lines)


def verb_whoami(args: argparse.Namespace) -> int:
    who = _call(args, _op("GET", "/whoami"))
    return _print(
        args, who, [f"{who['user']} ({who['role']}, via {who['via']})", ", ".join(who["rights"])]
    )
