"""``lanfax drafts`` and ``lanfax draft send|show|get|remove``: documents printed to the fax
printer with no fax number (issue #11). Only argparse is imported at module level: this is on
the start-up path of every ``lanfax`` command."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parsers(sub: Any, common: list[argparse.ArgumentParser]) -> None:
    """Register ``lanfax drafts`` and ``lanfax draft`` on the verbs' subparsers."""
    p = sub.add_parser(
        "drafts",
        parents=common,
        help="documents printed to the fax printer with no fax number",
        description="Your drafts: documents printed to the fax printer without a fax "
        "number, waiting to be sent (lanfax draft send ID --to NUMBER).",
    )
    p.add_argument("--all", action="store_true", help="everyone's drafts (right query_jobs)")
    p = sub.add_parser(
        "draft",
        parents=common,
        help="send, show, save or remove a draft",
        description="One draft: send it as a fax, show it, save its document, or remove it.",
    )
    dsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = dsub.add_parser("send", parents=common, help="fax the draft (then it is gone)")
    q.add_argument("draft_id", type=int, metavar="ID")
    q.add_argument(
        "--to", action="append", required=True, metavar="NUMBER", help="repeat for a broadcast"
    )
    q.add_argument("--name", metavar="TEXT", help="recipient name")
    q.add_argument("--cover", metavar="NAME", help="cover page template")
    q.add_argument("--subject", metavar="TEXT", help="cover page subject")
    q.add_argument("--note", metavar="TEXT", help="cover page note")
    q = dsub.add_parser("show", parents=common, help="the draft's details")
    q.add_argument("draft_id", type=int, metavar="ID")
    q = dsub.add_parser("get", parents=common, help="save the draft's document")
    q.add_argument("draft_id", type=int, metavar="ID")
    q.add_argument("-o", "--output", required=True, type=Path, metavar="FILE")
    q = dsub.add_parser("remove", parents=common, help="remove the draft")
    q.add_argument("draft_id", type=int, metavar="ID")


def _client(args: argparse.Namespace) -> Any:
    from lanfax.cli._verbs import _client as client

    return client(args)


def verb_drafts(args: argparse.Namespace) -> int:
    from lanfax.cli import _output as out

    with _client(args) as client:
        items = client.drafts(all=args.all)
    if args.json:
        out.print_json(items)
        return 0
    out.table(
        ["ID", "USER", "NAME", "FORMAT", "SIZE", "PRINTED", "EXPIRES"],
        [
            [
                d.draft_id,
                d.user_name,
                d.document_name,
                d.document_format,
                d.size,
                out.when(d.created_at),
                out.when(d.expires_at),
            ]
            for d in items
        ],
    )
    return 0


def verb_draft(args: argparse.Namespace) -> int:
    from lanfax.cli import _output as out

    with _client(args) as client:
        if args.action == "send":
            params: dict[str, Any] = {}
            if args.cover or args.subject or args.note:
                from lanfax.model.jobs import CoverPageInfo

                params["cover_page"] = CoverPageInfo(
                    cover_page_name=args.cover or "",
                    subject=args.subject or "",
                    note=args.note or "",
                )
            to: list[Any] = list(args.to)
            if args.name:
                to = [{"recipient_number": n, "recipient_name": args.name} for n in args.to]
            result = client.send_draft(args.draft_id, to, **params)
            if args.json:
                out.print_json(result.jobs)
            else:
                for job in result.jobs:
                    print(f"queued job {job.job_id} to {job.recipient_number}")
            return 0
        if args.action == "show":
            draft = client.draft(args.draft_id)
            if args.json:
                out.print_json(draft)
            else:
                out.fields(draft)
            return 0
        if args.action == "get":
            data = client.draft_document(args.draft_id)
            args.output.write_bytes(data)
            if not args.json:
                print(f"saved draft {args.draft_id} to {args.output} ({len(data)} bytes)")
            return 0
        client.remove_draft(args.draft_id)
        if not args.json:
            print(f"removed draft {args.draft_id}")
        return 0
