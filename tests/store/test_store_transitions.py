"""The store applies the transitions table on the job as committed (both backends): whatever
trigger a writer fires, the job moves only along the table, and a refused change writes
nothing, neither the job nor its events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lanfax.model.codes import EventId, JobType, QueueStatus
from lanfax.model.errors import Conflict
from lanfax.model.events import NewEvent
from lanfax.model.jobs import Job
from lanfax.model.transitions import APPLIES_TO, TRANSITIONS, JobPatch, Trigger, advance
from lanfax.store import JobChange
from lanfax.store.sql import SqlStore

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from([JobType.SEND, JobType.RECEIVE, JobType.ROUTING]),
    start=st.sampled_from(QueueStatus),
    triggers=st.lists(st.sampled_from(Trigger), min_size=1, max_size=12),
)
def test_the_store_moves_a_job_only_along_the_table(
    store: SqlStore, kind: JobType, start: QueueStatus, triggers: list[Trigger]
) -> None:
    (job,) = store.add_jobs([Job(0, kind, start, T0, recipient_number="101", extra={"k": [1]})])
    for i, trigger in enumerate(triggers):
        seq = store.last_event_seq()
        change = JobChange(
            job.job_id,
            trigger,
            JobPatch(attempts=i, next_attempt_at=T0 + timedelta(minutes=i)),
            events=[NewEvent(EventId.JOB_CHANGED, job_id=0, detail={"i": i})],
        )
        if trigger not in TRANSITIONS[job.queue_status] or kind not in APPLIES_TO[trigger]:
            try:
                store.update_jobs([change])
            except Conflict as exc:
                assert str(job.job_id) in exc.message and trigger.value in exc.message
            else:
                raise AssertionError(f"{trigger} from {job.queue_status} was applied")
            assert store.get_job(job.job_id) == job
            assert store.last_event_seq() == seq
            continue
        (changed,), (event,) = store.update_jobs([change])
        assert changed == advance(job, trigger, change.patch) == store.get_job(job.job_id)
        assert changed.queue_status is TRANSITIONS[job.queue_status][trigger]
        assert (event.job_id, event.detail) == (job.job_id, {"i": i})
        job = changed
