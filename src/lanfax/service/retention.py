"""Retention (issue #14, item 12): events, the audit trail and the activity log are pruned by
age, so that a busy or attacked server does not grow its database without bound.

:func:`cutoffs` is the decision (a pure function of "now" and the settings);
:class:`Retention` runs it at start and then every :data:`PERIOD` seconds, in the store's
threads. A setting of 0 days keeps that table forever. Pruned events keep their cursors
reserved (an event's ``seq`` is never reused), so a client resuming after a pruned event
simply continues with the next one that is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from lanfax.model.errors import FaxError
from lanfax.service.context import ServiceContext

log = logging.getLogger("lanfax.init")

#: Seconds between two prunings.
PERIOD = 6 * 3600.0


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    """Days each table keeps its rows (0: forever)."""

    events_days: int = 90
    audit_days: int = 365
    activity_days: int = 365


def cutoffs(now: datetime, s: RetentionSettings) -> dict[str, datetime]:
    """What to prune: table -> rows stamped before this time are deleted."""
    out: dict[str, datetime] = {}
    for table, days in (
        ("events", s.events_days),
        ("audit", s.audit_days),
        ("activity", s.activity_days),
    ):
        if days > 0:
            out[table] = now - timedelta(days=days)
    return out


class Retention:
    def __init__(self, ctx: ServiceContext, settings: RetentionSettings) -> None:
        self.ctx = ctx
        self.settings = settings
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="lanfax-retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def prune_once(self) -> dict[str, int]:
        """Prune every table now; returns the rows deleted per table."""
        ctx = self.ctx
        done: dict[str, int] = {}
        for table, before in cutoffs(ctx.clock.now(), self.settings).items():
            try:
                done[table] = await ctx.run(self._prune, table, before)
            except FaxError as exc:  # tried again at the next period
                log.warning("pruning the %s older than %s failed: %s", table, before, exc)
        if any(done.values()):
            log.info("retention: deleted %s", ", ".join(f"{n} {t}" for t, n in done.items()))
        return done

    def _prune(self, table: str, before: datetime) -> int:
        store = self.ctx.store
        if table == "events":
            return store.prune_events(before)
        if table == "audit":
            return store.audit.prune(before)
        return store.archive.prune_activity(before)

    async def _loop(self) -> None:
        while True:
            await self.prune_once()
            await asyncio.sleep(PERIOD)
