"""The replies to a mail sent to fax: pure functions returning (subject, body).

The sender hears, by e-mail: once that its mail was accepted (how many faxes, to whom), and
later the delivery receipt of :mod:`lanfax.service.receipts`; or once that it was refused,
with what was wrong and what to do - and then nothing was queued at all.
"""

from __future__ import annotations

from collections.abc import Sequence

from lanfax.model.jobs import Job

ACCEPTED = "smtp_accepted"
REFUSED = "smtp_refused"


def _about(subject: str) -> str:
    return f' "{subject}"' if subject else ""


def _who(job: Job) -> str:
    if job.recipient_name:
        return f"{job.recipient_number} ({job.recipient_name})"
    return job.recipient_number


def accepted(subject: str, jobs: Sequence[Job]) -> tuple[str, str]:
    n = len(jobs)
    plural = "job" if n == 1 else "jobs"
    title = f"Fax accepted, {n} {plural}: {subject}" if subject else f"Fax accepted, {n} {plural}"
    pages = jobs[0].page_count if jobs else 0
    each = " each" if n > 1 else ""
    lines = [
        f"Your mail{_about(subject)} was accepted for faxing: {n} fax {plural} of "
        f"{pages} page{'s' if pages != 1 else ''}{each}.",
        "",
    ]
    lines += [f"  job {j.job_id}: to {_who(j)}" for j in jobs]
    if jobs and jobs[0].broadcast_id:
        lines += ["", f"Broadcast: {jobs[0].broadcast_id}"]
    done = "the fax has" if n == 1 else "the faxes have"
    lines += [
        "",
        f"You will get a delivery receipt by e-mail when {done} been sent (or could not be).",
    ]
    return title[:200], "\n".join(lines) + "\n"


def refused(subject: str, reason: str, hint: str | None) -> tuple[str, str]:
    title = f"Fax NOT sent: {subject}" if subject else "Fax NOT sent"
    lines = [
        f"Your mail{_about(subject)} was not faxed to anyone:",
        "",
        f"  {reason}",
    ]
    if hint:
        lines += ["", f"What to do: {hint}"]
    lines += ["", "Nothing was queued; correct the mail and send it again."]
    return title[:200], "\n".join(lines) + "\n"
