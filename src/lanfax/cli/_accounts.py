"""``lanfax account ...``: fax accounts and personal inboxes (docs/accounts.md).

::

    lanfax account show [NAME]             your account (or NAME's: query_config)
    lanfax account list                    every account (query_config)
    lanfax account add NAME                create one (manage_config)
    lanfax account remove NAME
    lanfax account inbox [NAME]            received faxes (your own by default; ~server:
                                           the server inbox)
    lanfax account queue [NAME]            received faxes still being routed
    lanfax account reassign JOB TO         give a received fax to account TO ('' : server)

Only argparse is imported at module level: this is on the start-up path of every command.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_parsers(sub: Any, common: list[argparse.ArgumentParser]) -> None:
    """Register ``lanfax account`` on the verbs' subparsers."""
    p = sub.add_parser(
        "account",
        parents=common,
        help="fax accounts and personal inboxes",
        description="Fax accounts and the received faxes they own (see docs/accounts.md).",
    )
    asub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = asub.add_parser("show", parents=common, help="your account, or NAME's")
    q.add_argument("name", nargs="?", default="me", metavar="NAME")
    asub.add_parser("list", parents=common, help="every account")
    q = asub.add_parser("add", parents=common, help="create an account")
    q.add_argument("name", metavar="NAME")
    q = asub.add_parser("remove", parents=common, help="remove an account")
    q.add_argument("name", metavar="NAME")
    q = asub.add_parser("inbox", parents=common, help="received faxes, newest first")
    q.add_argument("name", nargs="?", default="me", metavar="NAME", help="~server: unowned")
    q.add_argument("--limit", type=int, default=50, metavar="N")
    q = asub.add_parser("queue", parents=common, help="received faxes still being routed")
    q.add_argument("name", nargs="?", default="me", metavar="NAME")
    q = asub.add_parser("reassign", parents=common, help="give a received fax to an account")
    q.add_argument("job_id", type=int, metavar="JOB")
    q.add_argument("to", metavar="TO", help="account name, or '' for the server inbox")


def verb_account(args: argparse.Namespace) -> int:
    from lanfax.cli import _output as out
    from lanfax.cli._verbs import _client

    with _client(args) as client:
        action = args.action
        result: Any
        if action == "show":
            result = client.account(args.name)
        elif action == "list":
            result = client.accounts()
            if not args.json:
                out.table(
                    ["ACCOUNT", "CREATED", "BY"],
                    [[a.name, a.created_at[:16], a.created_by] for a in result],
                )
                return 0
        elif action == "add":
            result = client.add_account(args.name)
        elif action == "remove":
            client.remove_account(args.name)
            if not args.json:
                print(f"removed account {args.name}")
            return 0
        elif action == "inbox":
            page = client.account_archive(args.name, limit=args.limit)
            if args.json:
                out.print_json(page)
                return 0
            out.table(
                ["JOB", "RECEIVED", "FROM", "PAGES", "OWNER"],
                [
                    [
                        e.job_id,
                        out.when(e.completed_at),
                        e.remote_ident or e.number or "-",
                        e.pages,
                        e.user_name or "(server)",
                    ]
                    for e in page.entries
                ],
            )
            return 0
        elif action == "queue":
            jobs = client.account_incoming(args.name)
            if args.json:
                out.print_json(jobs)
                return 0
            out.table(
                ["JOB", "STATE", "FROM", "PAGES"],
                [[j.job_id, out.job_state(j), j.remote_ident or "-", j.page_count] for j in jobs],
            )
            return 0
        else:  # reassign
            job = client.reassign_fax(args.job_id, args.to)
            if args.json:
                out.print_json(job)
            else:
                print(f"received fax {job.job_id} now belongs to {job.user_name or 'the server'}")
            return 0
        if args.json:
            out.print_json(result)
        else:
            print(
                f"account {result.name} (created {result.created_at[:16]} by {result.created_by})"
            )
    return 0
