"""FaxOut over an in-process service with a manual clock and the test provider: drafts and
their expiry, per-job retries from number-of-retries/retry-interval, and the IPP job state
of a broadcast that fails."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.support.faxes import make_fax_tiff
from tests.support.inproc import run, running_service
from tests.support.ipp import request, tel

from lanfax.model.clock import ManualClock
from lanfax.model.codes import QueueStatus
from lanfax.service.core import FaxService
from lanfax.service.drafts import Drafts
from lanfax.service.ipp.codec import GroupTag, Message, Status, Tag, attr
from lanfax.service.ipp.faxout import Endpoint, FaxOut
from lanfax.service.ipp.model import Op
from lanfax.service.rights import ROLE_RIGHTS, Caller, Role
from lanfax.store.api import JobQuery

WHERE = Endpoint((("ipp://127.0.0.1:631/ipp/faxout", "none"),))
URI = WHERE.primary


def _caller(name: str = "alice", role: Role = Role.USER) -> Caller:
    basic, ext = ROLE_RIGHTS[role]
    return Caller(name, role, basic, ext, "127.0.0.1", "password")


def _job(msg: Message, name: str) -> object:
    group = msg.group(GroupTag.JOB)
    assert group is not None, msg
    a = group.get(name)
    assert a is not None
    return a.values[0].value


def test_draft_expires_after_draft_days(tmp_path: Path) -> None:
    clock = ManualClock()
    tiff = make_fax_tiff(tmp_path / "doc").read_bytes()

    async def go() -> None:
        async with running_service(tmp_path, clock=clock) as svc:
            await svc.set_config({"draft_days": 2})
            printer, drafts = FaxOut(svc), Drafts(svc)
            alice, bob = _caller("alice"), _caller("bob")
            msg = await printer.handle(
                request(Op.PRINT_JOB, URI, [attr("job-name", Tag.NAME, "scan")], data=tiff),
                alice,
                WHERE,
            )
            assert msg.code == Status.OK
            (draft,) = await drafts.list_for(alice)
            assert draft.expires_at - draft.created_at == timedelta(days=2)
            assert await drafts.list_for(bob) == []  # another user's draft is not shown
            path = svc.spool.resolve(draft.document_path)
            assert path.read_bytes() == tiff
            clock.advance(timedelta(days=1, hours=23))
            assert len(await drafts.list_for(alice)) == 1
            clock.advance(timedelta(hours=1))
            # Printing a new draft drops the expired one, before anyone lists them.
            again = await printer.handle(
                request(Op.PRINT_JOB, URI, [attr("job-name", Tag.NAME, "scan 2")], data=tiff),
                bob,
                WHERE,
            )
            assert again.code == Status.OK
            assert not path.exists()
            assert await drafts.list_for(alice) == []
            assert [d.document_name for d in await drafts.list_for(bob)] == ["scan 2"]
            # The printed job stays, completed (its document became the draft).
            job_id = _job(msg, "job-id")
            attrs = await printer.handle(
                request(Op.GET_JOB_ATTRIBUTES, URI, [attr("job-id", Tag.INTEGER, job_id)]),
                alice,
                WHERE,
            )
            assert _job(attrs, "job-state") == 9

    run(go())


def test_retries_and_failure_state(tmp_path: Path) -> None:
    clock = ManualClock()
    tiff = make_fax_tiff(tmp_path / "doc").read_bytes()

    async def go() -> None:
        async with running_service(tmp_path, clock=clock) as svc:
            printer = FaxOut(svc)
            alice = _caller("alice")
            # 9001: always busy. One retry, after 61 s (rounded up to 2 minutes).
            msg = await printer.handle(
                request(
                    Op.PRINT_JOB,
                    URI,
                    job=[
                        tel("9001555"),
                        attr("number-of-retries", Tag.INTEGER, 1),
                        attr("retry-interval", Tag.INTEGER, 61),
                    ],
                    data=tiff,
                ),
                alice,
                WHERE,
            )
            assert msg.code == Status.OK, msg
            job_id = _job(msg, "job-id")
            (job,) = await svc.list_jobs(JobQuery(limit=10))
            await _until(svc, job.job_id, QueueStatus.RETRYING)
            retried = await svc.get_job(job.job_id)
            assert retried.next_attempt_at == clock.now() + timedelta(minutes=2)
            assert "will retry in 2 min" in retried.status_text
            state = await _state(printer, alice, job_id)
            assert state == 5  # processing: a call was made, another is due
            clock.advance(timedelta(minutes=2))
            svc.wake()
            await _until(svc, job.job_id, QueueStatus.RETRIES_EXCEEDED)
            assert (await svc.get_job(job.job_id)).attempts == 2
            assert await _state(printer, alice, job_id) == 8  # aborted

    run(go(), timeout=60)


async def _until(svc: FaxService, job_id: int, status: QueueStatus) -> None:
    from tests.support.inproc import wait_status

    await wait_status(svc, job_id, status, timeout=30)


async def _state(printer: FaxOut, caller: Caller, job_id: object) -> object:
    msg = await printer.handle(
        request(Op.GET_JOB_ATTRIBUTES, URI, [attr("job-id", Tag.INTEGER, job_id)]),  # type: ignore[arg-type]
        caller,
        WHERE,
    )
    return _job(msg, "job-state")
