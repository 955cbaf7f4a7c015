"""What the dispatcher writes about a send, decided without I/O (split out of
``service/dispatcher.py``): the page header, the job's changes with their event, what the line
is handed (:func:`fax_send`) and, above all, what a call's end means for its job
(:func:`call_outcome`): delivered, retried, failed, canceled; with the pages the far end
confirmed. The dispatcher does the writes; these functions only decide, from the job, the
provider's result and "now".
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from lanfax.engine.options import MAX_HEADER
from lanfax.model.codes import (
    PROVIDER_OUTCOME,
    DeviceStatus,
    EventId,
    FailureClass,
    ProviderStatus,
    QueueStatus,
)
from lanfax.model.config import ServerConfig
from lanfax.model.events import NewEvent
from lanfax.model.jobs import Job
from lanfax.model.transitions import JobPatch, Trigger, target
from lanfax.providers.api import CallResult, FaxDevStatus, FaxSend, SendOptions
from lanfax.service import dialing, scheduler
from lanfax.service.dialing import DialingRules
from lanfax.service.trace import OUTBOUND, trace_level
from lanfax.store.api import JobChange

__all__ = [
    "Outcome",
    "branding_header",
    "call_outcome",
    "call_result",
    "fax_send",
    "resume_after",
    "scheduler_change",
]


def branding_header(job: Job, tsid: str) -> str:
    """The header line drawn on every sent page when Branding is on.

    spandsp draws the date, the time, our TSID and the page number beside this text itself, so
    the text says who sends to whom. It must fit the engine's limit (T.30's 50 characters of
    printable ASCII), whatever names a user typed: accents are dropped, anything else that is
    not printable ASCII becomes "?", and the text is cut to the limit rather than failing the
    send.
    """
    sender = job.sender_name or job.sender_company or tsid
    recipient = job.recipient_name or job.recipient_number
    text = f"FROM: {sender}  TO: {recipient}"
    letters = (c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    printable = "".join(c if 0x20 <= ord(c) < 0x7F else "?" for c in letters)
    return printable[:MAX_HEADER].rstrip()


def scheduler_change(
    job: Job,
    trigger: Trigger,
    patch: JobPatch,
    event_id: EventId,
    detail: dict[str, object],
    *,
    device_id: int = 0,
    expect: frozenset[QueueStatus] | None = None,
) -> JobChange:
    """A JobChange for ``job`` with one event. The transitions table says which states
    ``trigger`` may fire in; ``expect`` narrows that to the states the caller saw."""
    return JobChange(
        job.job_id,
        trigger,
        patch,
        expect=expect,
        events=(NewEvent(event_id, device_id or (job.device_id or 0), job.job_id, detail),),
    )


#: Marks a result whose document is gone from the spool (no call was made).
_GONE = "lanfax_document_gone"


def call_result(status: ProviderStatus, text: str, *, gone: bool = False) -> CallResult:
    """A result of a call that was never made (or ended by the dispatcher itself); ``gone``:
    the document is not in the spool."""
    return CallResult(FaxDevStatus(status, string_id=text), extra={_GONE: True} if gone else {})


def resume_after(job: Job) -> int:
    """The pages of ``job`` the far end already confirmed, as far as a retry is concerned
    (at least one page is always left to send)."""
    return min(job.pages_done, max(job.page_count - 1, 0))


def fax_send(
    job: Job,
    document: Path,
    tsid: str,
    config: ServerConfig,
    rules: DialingRules,
) -> FaxSend:
    """What the line is handed for ``job``: ``document`` (the spool's file, or the cover and
    body joined for this call), the number as dialled, the header when Branding is on, and
    the page a retry starts at (after the last page the far end confirmed)."""
    header = branding_header(job, tsid) if config.branding else None
    return FaxSend(
        file_name=document,
        receiver_number=dialing.dial_string(job.recipient_number, rules),
        caller_name=job.sender_name,
        caller_number=tsid,
        receiver_name=job.recipient_name,
        branding=config.branding,
        call_handle=job.call_handle,
        options=SendOptions(
            page_header=header,
            trace_level=trace_level(OUTBOUND),
            first_page=resume_after(job) + 1,
        ),
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a call's end means for its job: the change to commit (with its event), the
    provider status it was read as, the pages confirmed, and whether the document was gone."""

    change: JobChange
    status_id: ProviderStatus
    pages: int
    gone: bool


def call_outcome(
    job: Job,
    result: CallResult,
    *,
    progress: int,
    cancel_requested: bool,
    stopping: bool,
    config: ServerConfig,
    now: datetime,
    device_id: int,
) -> Outcome:
    """The job's change once its call ended with ``result``.

    ``progress``: the pages the provider reported confirmed during the call (document
    numbering); ``cancel_requested``: a person asked to cancel the job during the call;
    ``stopping``: the service is stopping (a call it aborted is tried again later, not
    failed). A job whose last page was confirmed is COMPLETED whatever the end of the call
    looked like (a retry would send it twice)."""
    status_id = result.status.status_id
    device_status, event_id, failure = PROVIDER_OUTCOME.get(
        status_id, (DeviceStatus.FATAL_ERROR, EventId.FATAL_ERROR, FailureClass.FATAL)
    )
    # Pages of the document the far end confirmed: those before this call, those of this
    # call, and whatever the provider reported page by page (the larger wins).
    pages = max(resume_after(job) + result.pages, progress)
    pages = min(pages, job.page_count) if job.page_count else pages
    delivered = bool(job.page_count) and pages >= job.page_count
    if delivered and failure is not None:
        # The call failed after the last MCF (a lost DCN, a drop while hanging up): the
        # receiver has every page, so the fax is delivered; a retry would send it twice.
        device_status, event_id, failure = PROVIDER_OUTCOME[ProviderStatus.COMPLETED]
        result = replace(result, status=replace(result.status, status_id=ProviderStatus.COMPLETED))
        status_id = ProviderStatus.COMPLETED
    canceled = cancel_requested and not result.ok
    if stopping and failure is FailureClass.ABORTED and not canceled:
        # Aborted because the service is stopping, not by a person: try again later.
        device_status, event_id = DeviceStatus.DISCONNECTED, EventId.DISCONNECTED
        failure = FailureClass.DISCONNECTED
    trigger: Trigger
    patch: JobPatch
    gone = bool(result.extra.get(_GONE))
    if canceled:
        trigger = Trigger.CALL_CANCELED
        patch = JobPatch(completed_at=now, status_text="canceled during the call", pages_done=pages)
    elif gone:
        # The document is not in the spool: nothing can cure that, so fail at once.
        trigger = Trigger.FAIL
        patch = JobPatch(
            completed_at=now,
            next_attempt_at=None,
            attempts=job.attempts,
            last_failure=FailureClass.FATAL,
            status_text=f"failed: {result.status.string_id}",
        )
    else:
        t = scheduler.after_attempt(job, failure, config, now, pages_done=pages)
        trigger, patch = t.trigger, t.patch()
        if result.status.string_id and failure is not None:
            patch = patch.but(status_text=f"{t.status_text} ({result.status.string_id})")
    final = target(trigger)
    assert final is not None
    patch = patch.but(
        device_status=device_status,
        remote_ident=result.remote_ident or result.status.csi,
        bit_rate=result.bit_rate,
        ecm=result.ecm,
    )
    if result.compression:
        patch = patch.but(compression=result.compression)
    # What the provider says about the call itself (modem, T.30 result, and its own
    # details such as a SIP retry recipe), kept on the job for `lanfax job show`.
    call = {
        "first_page": resume_after(job) + 1,
        "modem": result.modem,
        "t30_code": result.t30_code,
        "t30_text": result.t30_text,
        "duration": round(result.duration, 3),
        **jsonable(result.extra),
    }
    patch = patch.but(extra={**job.extra, "last_call": call})
    detail = {"queue_status": final.name.lower(), "pages": pages}
    change = scheduler_change(job, trigger, patch, event_id, detail, device_id=device_id)
    return Outcome(change, status_id, pages, gone and not canceled)


def jsonable(value: Any) -> Any:
    """``value`` reduced to what the store keeps exactly (JSON scalars, lists, string-keyed
    dicts); anything else becomes its text, so a provider's detail never fails a job update."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)
