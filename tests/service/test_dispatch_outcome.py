"""What a call's end means for its job, decided without I/O (``service/dispatch_outcome.py``,
split out of the dispatcher): the rules the dispatcher's end-to-end tests exercise through
real calls, here one by one with the job, the provider's result and "now" given."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from lanfax.model.codes import EventId, FailureClass, JobType, ProviderStatus, QueueStatus
from lanfax.model.config import ServerConfig
from lanfax.model.jobs import Job
from lanfax.model.transitions import UNSET, Trigger
from lanfax.providers.api import CallResult, FaxDevStatus
from lanfax.service.dialing import DialingRules
from lanfax.service.dispatch_outcome import (
    Outcome,
    call_outcome,
    call_result,
    fax_send,
    resume_after,
)

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
CFG = ServerConfig()


def _job(**kw: object) -> Job:
    base: dict[str, object] = {
        "job_id": 7,
        "job_type": JobType.SEND,
        "queue_status": QueueStatus.IN_PROGRESS,
        "submitted_at": T0,
        "recipient_number": "+49301111",
        "page_count": 3,
        "attempts": 1,
    }
    base.update(kw)
    return Job(**base)  # type: ignore[arg-type]


def _end(
    job: Job,
    result: CallResult,
    *,
    progress: int = 0,
    cancel: bool = False,
    stopping: bool = False,
) -> Outcome:
    return call_outcome(
        job,
        result,
        progress=progress,
        cancel_requested=cancel,
        stopping=stopping,
        config=CFG,
        now=T0,
        device_id=2,
    )


def _result(status: ProviderStatus, pages: int = 0, **kw: object) -> CallResult:
    return CallResult(FaxDevStatus(status, string_id=status.name.lower()), pages=pages, **kw)  # type: ignore[arg-type]


def test_a_completed_call_delivers_the_job_with_its_event() -> None:
    out = _end(_job(), _result(ProviderStatus.COMPLETED, 3, bit_rate=14400, ecm=True))
    assert out.status_id is ProviderStatus.COMPLETED and out.pages == 3 and not out.gone
    assert out.change.trigger is Trigger.DELIVER
    (event,) = out.change.events
    assert event.device_id == 2 and event.job_id == 7
    assert event.detail == {"queue_status": "completed", "pages": 3}
    assert out.change.patch.bit_rate == 14400 and out.change.patch.ecm is True


def test_a_drop_after_the_last_confirmed_page_is_a_delivery_not_a_retry() -> None:
    # The provider reported page 3 confirmed (progress), then the call failed (a lost DCN).
    out = _end(_job(), _result(ProviderStatus.NO_ANSWER, 1), progress=3)
    assert out.status_id is ProviderStatus.COMPLETED and out.pages == 3
    assert out.change.trigger is Trigger.DELIVER


def test_a_failed_call_is_retried_after_the_pages_confirmed_so_far() -> None:
    job = _job(pages_done=1)
    out = _end(job, _result(ProviderStatus.NO_ANSWER, 1))
    assert out.pages == 2  # one before this call, one during it
    assert out.change.trigger is Trigger.RETRY
    text, extra = out.change.patch.status_text, out.change.patch.extra
    assert isinstance(text, str) and text.endswith("(no_answer)")
    assert isinstance(extra, dict) and extra["last_call"]["first_page"] == 2


def test_a_cancel_during_the_call_cancels_and_keeps_the_pages() -> None:
    out = _end(_job(), _result(ProviderStatus.USER_ABORT, 1), cancel=True)
    assert out.change.trigger is Trigger.CALL_CANCELED
    assert out.change.patch.pages_done == 1
    # A cancel asked too late (the fax went through) does not undo the delivery.
    late = _end(_job(), _result(ProviderStatus.COMPLETED, 3), cancel=True)
    assert late.change.trigger is Trigger.DELIVER


def test_an_abort_by_the_stopping_service_is_tried_again_later() -> None:
    out = _end(_job(), _result(ProviderStatus.USER_ABORT), stopping=True)
    assert out.change.trigger is Trigger.RETRY
    assert out.change.events[0].event_id is EventId.DISCONNECTED
    assert out.change.patch.last_failure is FailureClass.DISCONNECTED


def test_a_document_gone_from_the_spool_fails_at_once() -> None:
    out = _end(_job(attempts=1), call_result(ProviderStatus.FATAL_ERROR, "gone", gone=True))
    assert out.gone and out.change.trigger is Trigger.FAIL
    assert out.change.patch.next_attempt_at is None and out.change.patch.attempts == 1
    assert out.change.patch.status_text == "failed: gone"
    # Unless a person canceled it meanwhile: then it is a cancel, not worth a warning.
    canceled = _end(_job(), call_result(ProviderStatus.FATAL_ERROR, "gone", gone=True), cancel=True)
    assert not canceled.gone and canceled.change.trigger is Trigger.CALL_CANCELED


def test_the_providers_details_are_kept_as_json_on_the_job() -> None:
    extra = {"recipe": "default", "when": T0, "ratio": float("nan"), "ok": (1, 2)}
    out = _end(_job(extra={"kept": 1}), _result(ProviderStatus.COMPLETED, 3, extra=extra))
    patch_extra = out.change.patch.extra
    assert patch_extra is not UNSET and patch_extra["kept"] == 1
    call = patch_extra["last_call"]
    assert call["recipe"] == "default" and call["when"] == str(T0)
    assert call["ratio"] == "nan" and call["ok"] == [1, 2]


def test_what_the_line_is_handed() -> None:
    job = _job(pages_done=2, sender_name="Zoë", recipient_name="Ana", recipient_number="0301")
    fax = fax_send(job, Path("/spool/doc.tif"), "+49 30 999", CFG, DialingRules())
    assert fax.options.first_page == resume_after(job) + 1 == 3
    assert fax.receiver_number == "0301" and fax.caller_number == "+49 30 999"
    assert fax.options.page_header == ("FROM: Zoe  TO: Ana" if CFG.branding else None)
    # Every page confirmed before: a retry still sends the last one.
    assert resume_after(_job(pages_done=3)) == 2
