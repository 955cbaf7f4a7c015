"""``lanfax send``: the verb a script or a print hook runs once per fax, so its start-up counts.

The submission is built in its wire form (the ``params`` JSON of ``POST /api/v1/jobs``, see
docs/http-api.md) and posted over ``lanfax.client._http`` with ``_base`` and ``_multipart``:
no model dataclasses, enums or client core are imported for it (``dataclasses`` alone pulls in
``inspect`` and ``ast``). Only ``--wait`` loads the full client and the live display, after the
jobs are queued. ``--json`` prints the server's answer as it came.
"""

from __future__ import annotations

import argparse
import json
import sys

from lanfax.model.errors import InvalidInput

TYPE_CHECKING = False  # typing costs `lanfax send` ~1 ms to import; mypy reads these
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Any

#: Seconds one request may take (as ``Client``'s default ``timeout``).
TIMEOUT = 30.0


def parse_at(text: str, now: datetime | None = None) -> datetime:
    """``--at``: ISO 8601 (local time if it has no zone) or ``HH:MM`` (the next such local
    time: today if still ahead, else tomorrow). Returns an aware datetime."""
    from datetime import datetime, timedelta  # only for --at

    now = (now or datetime.now().astimezone()).astimezone()
    value = text.strip()
    if len(value) <= 5 and ":" in value:
        hh, _, mm = value.partition(":")
        if hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60 and len(mm) == 2:
            at = now.replace(hour=int(hh), minute=int(mm), second=0, microsecond=0)
            return at if at > now else at + timedelta(days=1)
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"--at {text!r} is not a time",
            hint="use HH:MM (e.g. 18:30) or ISO 8601 (e.g. 2026-11-21T18:30 or ...T17:30Z)",
        ) from None
    return at if at.tzinfo is not None else at.astimezone()


def _wire_time(at: datetime) -> str:
    """As ``lanfax.model.wire`` writes times: ISO 8601 in UTC with ``Z``."""
    from datetime import UTC

    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def recipients(args: argparse.Namespace) -> list[dict[str, str]]:
    """One ``{recipient_number, recipient_name}`` per ``--to``; ``--name`` once for all or
    once per ``--to``."""
    names = args.name or []
    if len(names) not in (0, 1, len(args.to)):
        raise InvalidInput(
            f"{len(names)} --name for {len(args.to)} --to",
            hint="give one --name for everyone, or one per --to in the same order",
        )
    out: list[dict[str, str]] = []
    for i, number in enumerate(args.to):
        if not number.strip():
            raise InvalidInput("an empty fax number", hint="give the recipient's fax number")
        entry = {"recipient_number": number.strip()}
        name = names[0] if len(names) == 1 else (names[i] if names else "")
        if name:
            entry["recipient_name"] = name
        out.append(entry)
    return out


def params(args: argparse.Namespace) -> dict[str, Any]:
    """The ``params`` JSON of the submission."""
    out: dict[str, Any] = {"recipients": recipients(args)}
    for key, value in (
        ("tsid", args.tsid),
        ("sender_name", args.sender),
        ("sender_company", args.company),
        ("billing_code", args.billing),
        ("document_name", args.document_name),
        ("priority", args.priority),
    ):
        if value is not None:
            out[key] = value
    if args.at:
        out["schedule_action"] = "specific_time"
        out["schedule_time"] = _wire_time(parse_at(args.at))
    elif args.discount:
        out["schedule_action"] = "discount_period"
    if args.cover or args.subject or args.note:
        out["cover_page"] = {
            "cover_page_name": args.cover or "",
            "subject": args.subject or "",
            "note": args.note or "",
        }
    return out


def submit(args: argparse.Namespace) -> dict[str, Any]:
    """POST the submission; the server's answer (``broadcast_id``, ``jobs``) as JSON."""
    from lanfax.client import _base
    from lanfax.client._http import Connection, request_patiently
    from lanfax.client._multipart import multipart, read_files

    body, ctype = multipart(params(args), read_files(args.files))
    url = _base.resolve_server(args.server)
    headers = {
        _base.USER_HEADER: _base.resolve_user(args.user),
        "Accept": "application/json",
        **_base.auth_header(args.token, None, url),
        "Content-Type": ctype,
    }
    conn = Connection(url, TIMEOUT, _base.resolve_ca_file(args.ca_file))
    try:
        resp = request_patiently(
            conn,
            "POST",
            f"{_base.API}/jobs",
            body,
            headers,
            _base.resolve_rate_limit_wait(None),
            on_wait=_say_wait,
        )
    finally:
        conn.close()
    if resp.status >= 300:
        raise _base.error_from_response(resp, f"POST {_base.API}/jobs")
    answer: dict[str, Any] = resp.json()
    return answer


def _say_wait(seconds: float) -> None:
    print(
        f"lanfax: the server asks to slow down; sending again in {seconds:g} s",
        file=sys.stderr,
        flush=True,
    )


def verb_send(args: argparse.Namespace) -> int:
    if args.timeout is not None and not args.wait:
        raise InvalidInput("--timeout needs --wait", hint="add --wait, or drop --timeout")
    answer = submit(args)
    # What the pages do not show as the documents asked (#15: a character no font has, an
    # HTML resource left out): the same for every job of the broadcast, said once.
    jobs = answer.get("jobs") or [{}]
    for warning in (jobs[0].get("extra") or {}).get("warnings", []):
        print(f"lanfax: warning: {warning}", file=sys.stderr)
    if not args.wait:
        if args.json:
            sys.stdout.write(json.dumps(answer, indent=2) + "\n")
        else:
            for job in answer["jobs"]:
                print(f"queued job {job['job_id']} to {job['recipient_number']}")
        return 0
    return _wait(args, answer)


def _wait(args: argparse.Namespace, answer: dict[str, Any]) -> int:
    """``--wait``: the live display until every job has ended (the full client from here)."""
    from lanfax.cli import _output as out
    from lanfax.cli._verbs import _client, outcome
    from lanfax.model.jobs import Job
    from lanfax.model.wire import from_wire

    jobs = [from_wire(Job, j) for j in answer["jobs"]]
    with _client(args) as client:
        progress = None if args.json else out.Progress(jobs)
        final = client.wait(
            [j.job_id for j in jobs],
            args.timeout,
            on_change=progress.update if progress else None,
        )
    if args.json:
        out.print_json(final)
    return outcome(final)
