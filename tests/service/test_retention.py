"""Retention (issue #14, item 12): events, audit entries and activity rows older than their
settings are pruned; newer ones stay; an event cursor is never reused after a prune."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.inproc import chosen_store_url, run, toml_settings

from lanfax.model.archive import ActivityRecord
from lanfax.model.clock import ManualClock
from lanfax.model.codes import NO_JOB, EventId
from lanfax.model.events import NewEvent
from lanfax.service.core import FaxService
from lanfax.service.retention import RetentionSettings, cutoffs
from lanfax.service.security import Security
from lanfax.store import open_store
from lanfax.store.audit import AuditQuery

TOML = "[server]\nkeep_events_days = 30\nkeep_audit_days = 60\nkeep_activity_days = 0\n"


def test_cutoffs() -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    got = cutoffs(now, RetentionSettings(events_days=30, audit_days=0, activity_days=365))
    assert got == {"events": now - timedelta(days=30), "activity": now - timedelta(days=365)}


def test_old_rows_are_pruned_new_ones_kept(tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))

    async def body() -> None:
        # The store stamps events with the same (manual) clock as the service.
        # (#17) SQLite, or the store LANFAX_TEST_STORE names
        url = chosen_store_url(tmp_path) or f"sqlite:///{tmp_path}/lanfax.db"
        store = open_store(url, clock=clock)
        svc = FaxService(toml_settings(tmp_path, TOML), clock=clock, store=store)
        await svc.start()
        try:
            ctx = svc.ctx
            security = Security(svc)
            archive = store.archive

            async def write(tag: str) -> None:
                await ctx.emit([NewEvent(EventId.RINGING, 1, NO_JOB, {"tag": tag})])
                await security.record(None, f"test.{tag}", detail={"tag": tag})
                await ctx.run(
                    archive.log_call,
                    ActivityRecord(0, clock.now(), "incoming", 1, number=tag),
                )

            await write("old")
            clock.advance(timedelta(days=45))
            await write("new")
            assert svc.retention is not None
            done = await svc.retention.prune_once()
            assert done["events"] >= 1 and done["audit"] == 0 and "activity" not in done
            events = await svc.events_after(0, 10_000)
            tags = [e.detail.get("tag") for e in events if e.event_id is EventId.RINGING]
            assert tags == ["new"]
            # Pruned cursors are not reused: a new event gets a higher seq than any before.
            top = max(e.seq for e in events)
            (again,) = await ctx.emit([NewEvent(EventId.RINGING, 1, NO_JOB, {"tag": "later"})])
            assert again.seq > top
            clock.advance(timedelta(days=30))  # the old audit entry is now 75 days old
            done = await svc.retention.prune_once()
            assert done["audit"] >= 1
            audit = await security.audit(AuditQuery(action="test."))
            assert [a.detail["tag"] for a in audit] == ["new"]
            rows = list(await ctx.run(lambda: list(archive.activity())))
            assert sorted(r.number for r in rows) == ["new", "old"]  # kept forever (0)
        finally:
            await svc.stop()

    run(body())
