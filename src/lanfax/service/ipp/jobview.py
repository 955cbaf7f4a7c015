"""The job attributes a desktop sees for a printed job (RFC 8011 section 5.3, PWG 5100.15
``destination-statuses``): pure functions of the job row, its broadcast's lanfax jobs and the
times."""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Sequence
from datetime import datetime

from lanfax.model.drafts import IPP_CANCELED, IPP_DRAFT, IPP_INCOMING, IppJob
from lanfax.model.jobs import Job
from lanfax.service.ipp import printer
from lanfax.service.ipp.codec import Attribute, Group, GroupTag, Tag, Value, attr, collection
from lanfax.service.ipp.model import FINAL_JOB_STATES, JobState, Progress, transmission_status


def stored_progress(job: IppJob) -> Progress:
    """The state of a printed job that is not (or not yet) a broadcast."""
    if job.state == IPP_INCOMING:
        return Progress(JobState.PENDING_HELD, ("job-incoming",), "waiting for the document", 0)
    if job.state == IPP_DRAFT:
        message = job.state_message or "kept as a draft"
        return Progress(JobState.COMPLETED, ("job-completed-successfully",), message, 0)
    if job.state == IPP_CANCELED:
        message = job.state_message or "canceled"
        return Progress(JobState.CANCELED, ("job-canceled-by-user",), message, 0)
    return Progress(JobState.ABORTED, ("aborted-by-system",), job.state_message or "aborted", 0)


def job_group(
    job: IppJob,
    progress: Progress,
    jobs: Sequence[Job],
    *,
    base: str,
    up: datetime,
    now: datetime,
    requested: Sequence[str] | None,
) -> Group:
    """The job attributes group of ``job`` (``requested`` narrows it). ``base`` is the printer
    URI, ``up`` when the printer started (time-at-* count seconds from it)."""

    def rel(t: datetime | None) -> Value:
        if t is None:
            return Value(Tag.NO_VALUE)
        return Value(Tag.INTEGER, max(1, int((t - up).total_seconds()) + 1))

    started = min((j.started_at for j in jobs if j.started_at), default=None)
    ended: datetime | None = None
    if progress.state in FINAL_JOB_STATES:
        ended = job.completed_at or max(
            (j.completed_at for j in jobs if j.completed_at), default=None
        )
    dests = [
        collection(
            attr("destination-uri", Tag.URI, f"tel:{j.recipient_number}"),
            attr("images-completed", Tag.INTEGER, j.pages_done),
            attr("transmission-status", Tag.ENUM, transmission_status(j)),
        )
        for j in jobs
    ]
    attrs: list[Attribute] = [
        attr("job-id", Tag.INTEGER, job.ipp_job_id),
        attr("job-uri", Tag.URI, f"{base}/{job.ipp_job_id}"),
        attr("job-printer-uri", Tag.URI, base),
        attr("job-name", Tag.NAME, job.job_name or "print job"),
        attr("job-originating-user-name", Tag.NAME, job.user_name),
        attr("job-state", Tag.ENUM, int(progress.state)),
        attr("job-state-reasons", Tag.KEYWORD, *progress.reasons),
        attr("job-state-message", Tag.TEXT, progress.message[:255]),
        attr(
            "job-printer-up-time",
            Tag.INTEGER,
            max(1, int((now - up).total_seconds()) + 1),
        ),
        Attribute("time-at-creation", (rel(job.created_at),)),
        Attribute("time-at-processing", (rel(started),)),
        Attribute("time-at-completed", (rel(ended),)),
        attr("date-time-at-creation", Tag.DATE_TIME, job.created_at),
        attr("job-impressions-completed", Tag.INTEGER, progress.pages_done),
        attr("job-media-sheets-completed", Tag.INTEGER, progress.pages_done),
        attr("number-of-documents", Tag.INTEGER, 0 if job.state == IPP_INCOMING else 1),
        attr(
            "job-uuid",
            Tag.URI,
            f"urn:uuid:{uuidlib.uuid5(uuidlib.NAMESPACE_URL, f'{base}/{job.ipp_job_id}')}",
        ),
    ]
    if dests:
        attrs.append(Attribute("destination-statuses", tuple(dests)))
    if job.broadcast_id:
        attrs.append(attr("lanfax-broadcast-id", Tag.KEYWORD, job.broadcast_id))
    if job.draft_id is not None:
        attrs.append(attr("lanfax-draft-id", Tag.INTEGER, job.draft_id))
    return Group(GroupTag.JOB, tuple(printer.select(attrs, requested)))
