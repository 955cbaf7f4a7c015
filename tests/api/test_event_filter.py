"""The own-jobs filter of the event stream (api/events.py) on a real in-process service: a job
deleted since its event is "not yours" for good; a job whose owner cannot be read (the store
failed) is not shown either, but logged and asked about again at its next event."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.support.inproc import run, running_service, submit

from lanfax.api.events import _OwnFilter
from lanfax.model.codes import AccessRight, AccessRightEx, EventId
from lanfax.model.events import Event
from lanfax.service.rights import Caller, Role

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _caller(user: str) -> Caller:
    return Caller(user, Role.USER, AccessRight(0), AccessRightEx(0), all_jobs=False)


def _event(job_id: int, seq: int = 1) -> Event:
    return Event(seq, T0, EventId.JOB_QUEUED, job_id=job_id)


def test_a_deleted_job_is_not_shown_and_that_is_remembered(tmp_path: Path, fax_tiff: Path) -> None:
    async def go() -> None:
        async with running_service(tmp_path) as svc:
            [job] = await submit(svc, fax_tiff, "201")
            own = _OwnFilter(svc, _caller("anonymous"))
            assert await own.visible(_event(job.job_id))
            other = _OwnFilter(svc, _caller("bob"))
            assert not await other.visible(_event(job.job_id))
            gone = _OwnFilter(svc, _caller("anonymous"))
            assert not await gone.visible(_event(job.job_id + 1000))  # no such job
            assert gone._owner == {job.job_id + 1000: False}

    run(go())


def test_an_unreadable_owner_is_logged_not_remembered(
    tmp_path: Path, fax_tiff: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def go() -> None:
        async with running_service(tmp_path) as svc:
            [job] = await submit(svc, fax_tiff, "201")
            done = job.job_id + 1000  # a job the service does not hold in memory (finished)
            own = _OwnFilter(svc, _caller("anonymous"))
            store = svc.ctx.store
            store.close()  # reading an owner now fails: "the store is not open" (StoreError)
            try:
                with caplog.at_level(logging.WARNING, logger="lanfax.unknown"):
                    assert not await own.visible(_event(done, seq=7))
                assert own._owner == {}  # not remembered: asked again at the next event
            finally:
                store.open()
            assert not await own.visible(_event(done, seq=8))
            assert own._owner == {done: False}  # this time the store said: no such job

    run(go())
    [record] = [r for r in caplog.records if "could not be read" in r.getMessage()]
    assert "event 7" in record.getMessage() and record.exc_info is not None
