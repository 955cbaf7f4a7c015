"""``lanfax report JOB -o FILE.pdf`` (a send job's transmission report) and ``lanfax
receipts`` (your delivery receipts). Only argparse is imported at module level: this is on
the start-up path of every ``lanfax`` command."""

from __future__ import annotations

import argparse
from typing import Any


def add_parsers(sub: Any, common: list[argparse.ArgumentParser]) -> None:
    """Register ``lanfax report`` and ``lanfax receipts`` on the verbs' subparsers."""
    p = sub.add_parser(
        "report",
        parents=common,
        help="save a sent fax's transmission report as PDF",
        description="Save the one-page transmission report of a completed or failed send job.",
    )
    p.add_argument("job_id", type=int, metavar="JOB")
    p.add_argument("-o", "--output", required=True, metavar="FILE.pdf")
    p = sub.add_parser(
        "receipts",
        parents=common,
        help="list your delivery receipts",
        description="List delivery receipts (DeliveryReportType email or inbox), newest first.",
    )
    p.add_argument("--limit", type=int, default=50, metavar="N")
    p.add_argument("--before", type=int, metavar="ID", help="older than this receipt id")
    p.add_argument("--for", dest="for_user", metavar="USER", help="another user's (* for all)")
    p.add_argument("--show", type=int, metavar="ID", help="print one receipt's full text")


def _client(args: argparse.Namespace) -> Any:
    from lanfax.cli._verbs import _client as client

    return client(args)


def verb_report(args: argparse.Namespace) -> int:
    from lanfax.cli import _output as out
    from lanfax.model.errors import InvalidInput

    with _client(args) as client:
        data = client.report(args.job_id)
    try:
        with open(args.output, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        raise InvalidInput(
            f"cannot write {args.output}: {exc.strerror or exc}",
            hint="choose a file in a folder you may write to",
        ) from None
    if args.json:
        out.print_json({"file": args.output, "job_id": args.job_id, "size": len(data)})
    else:
        print(f"wrote {args.output}: transmission report of job {args.job_id}")
    return 0


def verb_receipts(args: argparse.Namespace) -> int:
    from lanfax.cli import _output as out
    from lanfax.model.errors import NotFound

    with _client(args) as client:
        items = client.receipts(limit=args.limit, before=args.before, user=args.for_user)
    if args.show is not None:
        found = [r for r in items if r.receipt_id == args.show]
        if not found:
            raise NotFound(
                f"receipt {args.show} is not among the {len(items)} listed",
                hint="see `lanfax receipts` for the ids (use --before to page back)",
            )
        items = found
        if not args.json:
            print(found[0].subject)
            print()
            print(found[0].body, end="")
            return 0
    if args.json:
        out.print_json(items)
        return 0
    out.table(
        ["ID", "JOB", "WHEN", "VIA", "STATE", "SUBJECT"],
        [
            [
                r.receipt_id,
                r.job_id,
                out.when(r.created_at),
                r.delivery if not r.address else f"{r.delivery}:{r.address}",
                r.state,
                r.subject,
            ]
            for r in items
        ],
    )
    return 0
