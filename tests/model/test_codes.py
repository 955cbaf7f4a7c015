"""Codes are defined once, with the Windows SDK values the winfax layer hands out."""

from __future__ import annotations

from lanfax.model import (
    PROVIDER_OUTCOME,
    AccessRight,
    DeviceStatus,
    EventId,
    FailureClass,
    JobType,
    ProviderStatus,
    QueueStatus,
)
from lanfax.model.errors import ERRORS_BY_CODE, FaxError, NotFound


def test_windows_values() -> None:
    # Values from winfax.h / faxdev.h.
    assert EventId.JOB_QUEUED == 0x16 and EventId.FAXSVC_STARTED == 0x1B
    assert DeviceStatus.ANSWERED == 0x20800000 and DeviceStatus.RINGING == 0x20020000
    assert QueueStatus.RETRIES_EXCEEDED == 0x40 and QueueStatus.PAUSED == 0x8
    assert JobType.FAIL_RECEIVE == 4
    assert AccessRight.JOB_MANAGE == 0x40
    assert ProviderStatus.USER_ABORT == 0x20200000


def test_every_final_provider_status_has_one_outcome() -> None:
    in_call = {
        ProviderStatus.INITIALIZING,
        ProviderStatus.DIALING,
        ProviderStatus.TRANSMITTING,
        ProviderStatus.RECEIVING,
        ProviderStatus.ANSWERED,
    }
    assert set(PROVIDER_OUTCOME) == set(ProviderStatus) - in_call
    assert PROVIDER_OUTCOME[ProviderStatus.COMPLETED][2] is None
    assert PROVIDER_OUTCOME[ProviderStatus.BUSY][2] is FailureClass.BUSY


def test_permanent_failures_are_not_retried() -> None:
    assert FailureClass.BAD_ADDRESS.permanent and FailureClass.NOT_FAX.permanent
    assert not FailureClass.BUSY.permanent and not FailureClass.DISCONNECTED.permanent


def test_problem_documents_name_their_class() -> None:
    err = NotFound("job 7 does not exist", hint="list jobs with `lanfax jobs`")
    problem = err.to_problem()
    assert problem["status"] == 404 and problem["hint"]
    code = problem["type"].rsplit(":", 1)[1]
    assert ERRORS_BY_CODE[code] is NotFound
    assert all(issubclass(c, FaxError) for c in ERRORS_BY_CODE.values())
