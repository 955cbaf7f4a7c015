"""The audit trail of the running service: entries stamped on the service's clock, written to
the store's audit table (:mod:`lanfax.store.audit`) and to the ``lanfax.audit`` log, with
refused requests aggregated (:mod:`lanfax.service.refusals`, issue #14).

:class:`lanfax.service.security.Security` owns one (``Security.trail``) and keeps its
``record``/``audit``/``flush_refusals``/``stop`` methods for their many callers; an entry
committed with a change is made and logged here directly (``security.trail.entry``,
``security.trail.log_entry``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lanfax.model.audit import AuditEntry
from lanfax.model.errors import FaxError
from lanfax.service.refusals import RefusalWindows, Window, aggregated
from lanfax.service.rights import Caller

if TYPE_CHECKING:
    from lanfax.model.audit import AuditQuery
    from lanfax.service.core import FaxService

__all__ = ["AuditTrail"]

log = logging.getLogger("lanfax.init")

#: Longest real-time sleep of the refusal flusher, so that a clock's jump is noticed.
_FLUSH_POLL = 1.0


class AuditTrail:
    """Writes audit entries; ``service`` provides the store, the clock and worker threads
    (it may be started after this object is made)."""

    def __init__(self, service: FaxService) -> None:
        self._service = service
        #: Refused requests per (address, user, status), aggregated (service/refusals.py).
        self._refusals = RefusalWindows()
        self._flusher: asyncio.Task[None] | None = None

    def entry(
        self,
        caller: Caller | None,
        action: str,
        target: str = "",
        *,
        outcome: str = "ok",
        detail: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        """An audit entry stamped now: who, what, from where (nothing is written). Every
        store keeps the audit trail (#17), so an entry can be committed in the same
        transaction as the change it describes (``Store.add_jobs(audit=...)``); its log
        line is then :meth:`log_entry`'s, once the commit succeeded."""
        return AuditEntry(
            at=self._service.clock.now(),
            user_name=caller.user if caller else "(service)",
            address=caller.address if caller else "",
            action=action,
            target=target,
            outcome=outcome,
            detail=dict(detail or {}),
        )

    def log_entry(self, entry: AuditEntry) -> None:
        """The log line of an entry (every entry has one, wherever it is stored)."""
        # An entry without a target (a submission) reads "submit ok by ...", not "submit  ok".
        logging.getLogger("lanfax.audit").info(
            "%s %s %s by %s from %s" if entry.target else "%s%s %s by %s from %s",
            entry.action,
            entry.target,
            entry.outcome,
            entry.user_name,
            entry.address,
        )

    async def record(
        self,
        caller: Caller | None,
        action: str,
        target: str = "",
        *,
        outcome: str = "ok",
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Append to the audit trail (and the log): who, what, when, from where.

        Refused requests (401, 403, 429) are aggregated per address, user and status: the
        first of a minute is written, the others are counted and the count is written with
        the next one after the minute (``detail["repeated"]``), or by itself when the minute
        ends or the service stops, so a flood of bad tokens costs a row (and an fsync) a
        minute, not one per request, and no count is lost (issue #14; service/refusals.py).
        Requests no route took (``detail["unrouted"]``: a POST to an unknown path) are
        aggregated the same way (:func:`~lanfax.service.refusals.aggregated`)."""
        status = (detail or {}).get("status")
        if aggregated(detail or {}):
            address = caller.address if caller else ""
            key = (address, caller.user if caller else "", int(status or 0))
            last = (caller, action, target, outcome, dict(detail or {}))
            repeated = self._refusals.refused(key, self._service.clock.monotonic(), last)
            if repeated is None:
                return
            if repeated:
                detail = {**(detail or {}), "repeated": repeated}
            self._start_flusher()
        entry = self.entry(caller, action, target, outcome=outcome, detail=detail)
        self.log_entry(entry)
        await self._service.ctx.run(self._service.ctx.store.audit.add, entry)

    # -- the last burst's count (issue #14: lost when no refusal came after it) ------------

    def _start_flusher(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(
                self._flush_loop(), name="lanfax-refusal-flush"
            )

    async def _flush_loop(self) -> None:
        """While windows are open: write the count of each one that ended with refusals
        after its first (a row of its own, ``detail["repeated"]``)."""
        while (deadline := self._refusals.next_deadline()) is not None:
            now = self._service.clock.monotonic()
            await asyncio.sleep(min(max(deadline - now, 0.0), _FLUSH_POLL))
            await self._write_counts(self._refusals.ended(self._service.clock.monotonic()))

    async def flush_refusals(self) -> int:
        """Write the counts of the refusals not yet in the audit trail (all open windows);
        returns how many rows were written."""
        return await self._write_counts(self._refusals.drain())

    async def _write_counts(self, windows: list[Window]) -> int:
        written = 0
        for w in windows:
            caller, action, target, outcome, detail = w.last
            entry = self.entry(
                caller, action, target, outcome=outcome, detail={**detail, "repeated": w.repeated}
            )
            self.log_entry(entry)
            try:
                await self._service.ctx.run(self._service.ctx.store.audit.add, entry)
            except FaxError as exc:
                log.error("the count of %d refused request(s) was not audited: %s", w.repeated, exc)
                continue
            written += 1
        return written

    async def stop(self) -> None:
        """Write what the open windows counted (at the service's stop)."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        await self.flush_refusals()

    async def query(self, query: AuditQuery) -> list[AuditEntry]:
        return await self._service.ctx.run(self._service.ctx.store.audit.query, query)
