"""The ``lanfax`` verbs that talk to a server, one function each (``verb_<name>(args)``).

Each returns the exit status. Failures are FaxError subclasses, printed by ``main``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from lanfax.cli import _output as out
from lanfax.cli._accounts import verb_account as verb_account
from lanfax.cli._contacts import verb_contacts as verb_contacts
from lanfax.cli._cover import verb_cover as verb_cover
from lanfax.cli._drafts import verb_draft as verb_draft  # issue #11
from lanfax.cli._drafts import verb_drafts as verb_drafts  # issue #11
from lanfax.cli._extensions import verb_extensions as verb_extensions
from lanfax.cli._outbound import verb_outbound as verb_outbound
from lanfax.cli._report import verb_receipts as verb_receipts
from lanfax.cli._report import verb_report as verb_report
from lanfax.cli._routing import verb_routing as verb_routing
from lanfax.cli._security import verb_audit as verb_audit
from lanfax.cli._security import verb_token as verb_token
from lanfax.cli._security import verb_user as verb_user
from lanfax.cli._security import verb_whoami as verb_whoami
from lanfax.cli._send import parse_at as parse_at
from lanfax.cli._send import verb_send as verb_send
from lanfax.client import Client
from lanfax.model.codes import QueueStatus
from lanfax.model.errors import AccessDenied, FaxError, InvalidInput
from lanfax.model.jobs import Job

#: Queue states a job can still leave by itself (what `lanfax jobs` shows without --all).
ACTIVE_STATES = [s for s in QueueStatus if not s.is_final]


class JobsFailed(FaxError):
    """``send --wait``: at least one job ended failed (or out of retries)."""

    exit_code = 10
    code = "jobs-failed"


class JobsCanceled(FaxError):
    """``send --wait``: no job failed, but at least one was canceled."""

    exit_code = 11
    code = "jobs-canceled"


def _client(args: argparse.Namespace) -> Client:
    return Client(
        args.server,
        user=args.user,
        token=getattr(args, "token", None),
        ca_file=getattr(args, "ca_file", None),
    )


def outcome(jobs: list[Job]) -> int:
    """The exit status of ``send --wait`` for the final ``jobs``."""
    failed = [j for j in jobs if j.queue_status != QueueStatus.COMPLETED]
    if not failed:
        return 0
    summary = "; ".join(out.job_line(j) for j in failed)
    if any(j.queue_status != QueueStatus.CANCELED for j in failed):
        raise JobsFailed(
            f"{len(failed)} of {len(jobs)} job(s) did not complete: {summary}",
            hint="see `lanfax job show ID`; `lanfax job restart ID` tries again",
        )
    raise JobsCanceled(
        f"{len(failed)} of {len(jobs)} job(s) were canceled: {summary}",
        hint="someone canceled them; send again if they are still wanted",
    )


def verb_jobs(args: argparse.Namespace) -> int:
    if args.limit < 0:
        raise InvalidInput(f"--limit {args.limit} is negative", hint="use 0 for all, or N > 0")
    status: Any = args.status or (None if args.all else ACTIVE_STATES)
    with _client(args) as client:
        filters: dict[str, Any] = {"status": status, "user": args.user_filter}
        more = None
        if args.limit == 0:
            jobs = list(client.iter_jobs(after=args.after, **filters))
        else:
            page = client.jobs(limit=min(args.limit, 1000), after=args.after, **filters)
            jobs, more = page.jobs, page.next
            while more is not None and len(jobs) < args.limit:
                page = client.jobs(limit=min(args.limit - len(jobs), 1000), after=more, **filters)
                jobs += page.jobs
                more = page.next if page.jobs else None
    if args.json:
        out.print_json({"jobs": jobs, "next": more})
        return 0
    if not jobs:
        print("no jobs" if args.all or args.status else "no active jobs (--all shows finished)")
        return 0
    out.jobs_table(jobs)
    if more is not None:
        print(f"... more after job {more}: lanfax jobs --after {more}", file=sys.stderr)
    return 0


def verb_job(args: argparse.Namespace) -> int:
    with _client(args) as client:
        if args.action == "delete":
            client.delete(args.job_id)
            if args.json:
                out.print_json({"deleted": args.job_id})
            else:
                print(f"deleted job {args.job_id}")
            return 0
        job: Job = getattr(client, "job" if args.action == "show" else args.action)(args.job_id)
    if args.json:
        out.print_json(job)
    elif args.action == "show":
        out.fields(job)
    else:
        print(out.job_line(job))
    return 0


def verb_ports(args: argparse.Namespace) -> int:
    with _client(args) as client:
        ports = client.ports()
    if args.json:
        out.print_json(ports)
    else:
        out.ports_table(ports)
    return 0


def verb_port(args: argparse.Namespace) -> int:
    with _client(args) as client:
        if args.action == "show":
            obj: Any = (
                client.device_status(args.device_id) if args.status else client.port(args.device_id)
            )
        else:
            value: Any = args.value
            if args.key in ("rings", "priority"):
                if not value.strip().lstrip("-").isdigit():
                    raise InvalidInput(
                        f"{args.key}: {value!r} is not a whole number", hint="use digits, e.g. 2"
                    )
                value = int(value)
            elif args.key == "flags":
                value = [v for v in value.replace("+", ",").split(",") if v]
            with client.open_port(args.device_id, "modify") as handle:
                obj = client.set_port(handle, **{args.key: value})
    if args.json:
        out.print_json(obj)
    else:
        out.fields(obj)
    return 0


def verb_config(args: argparse.Namespace) -> int:
    with _client(args) as client:
        if args.action == "show":
            config = client.get_config()
        else:
            config = client.set_config(**{args.key: args.value})
    if args.json:
        out.print_json(config)
    else:
        out.config_lines(config)
    return 0


def verb_logging(args: argparse.Namespace) -> int:
    with _client(args) as client:
        if args.action == "show":
            cats = client.get_logging()
        else:
            cats = client.set_logging({args.category: args.level})
    if args.json:
        out.print_json(cats)
    else:
        out.logging_lines(cats)
    return 0


def verb_events(args: argparse.Namespace) -> int:
    if args.count is not None and args.count < 1:
        raise InvalidInput(f"--count {args.count}", hint="give a count of 1 or more")
    seen = 0
    with _client(args) as client:
        for event in client.events(after=args.after, reconnect_for=None):
            if args.json:
                out.print_json(out.event_wire(event), compact=True)
            else:
                print(out.event_line(event), flush=True)
            seen += 1
            if args.count is not None and seen >= args.count:
                break
    return 0


def verb_pagedata(args: argparse.Namespace) -> int:
    with _client(args) as client:
        data, width, height = client.page_data(args.job_id)
    try:
        with open(args.output, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        raise InvalidInput(
            f"cannot write {args.output}: {exc.strerror or exc}",
            hint="choose a file in a folder you may write to",
        ) from None
    if args.json:
        out.print_json({"file": args.output, "width": width, "height": height, "size": len(data)})
    else:
        print(f"wrote {args.output}: first page of job {args.job_id}, {width}x{height} pixels")
    return 0


def verb_access(args: argparse.Namespace) -> int:
    with _client(args) as client:
        allowed = client.access_check(*args.rights)
    rights = ",".join(args.rights)
    if args.json:
        out.print_json({"allowed": allowed, "rights": args.rights})
        return 0 if allowed else AccessDenied.exit_code
    if not allowed:
        raise AccessDenied(
            f"user {client.user!r} does not hold {rights}",
            hint="ask the fax administrator for these rights",
        )
    print(f"allowed: {rights}")
    return 0
