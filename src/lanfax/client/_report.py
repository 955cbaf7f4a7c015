"""Receipts and transmission reports (docs/http-api.md, "Receipts and reports"), for
:class:`Client` and :class:`AsyncClient`: the Ops, and one mixin per client that runs them.

===========================  ==================================================
HTTP                         client
===========================  ==================================================
GET /jobs/{id}/report        ``report(job_id) -> bytes`` (a one-page PDF)
GET /receipts                ``receipts(limit=, before=, user=) -> list[Receipt]``
===========================  ==================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from lanfax.client._core import API, Op, Response
from lanfax.model.wire import from_wire

if TYPE_CHECKING:  # imported when used: the client is on every `lanfax` command's start-up path
    from lanfax.model.receipts import Receipt

T = TypeVar("T")


def report(job_id: int) -> Op[bytes]:
    return Op("GET", f"{API}/jobs/{int(job_id)}/report", lambda r: r.body)


def _receipts(r: Response) -> list[Receipt]:
    from lanfax.model.receipts import Receipt

    return [from_wire(Receipt, item) for item in r.json()["receipts"]]


def receipts(
    limit: int = 100, before: int | None = None, user: str | None = None
) -> Op[list[Receipt]]:
    query = {"limit": str(int(limit))}
    if before is not None:
        query["before"] = str(int(before))
    if user is not None:
        query["user"] = user
    return Op("GET", f"{API}/receipts", _receipts, query=query)


class ReportMixin:
    """The receipt and report calls of the blocking :class:`~lanfax.client.Client`."""

    def _run(self, op: Op[T]) -> T:  # pragma: no cover - provided by the client
        raise NotImplementedError

    def report(self, job_id: int) -> bytes:
        """The transmission report of a completed or failed send job, as PDF bytes
        (Conflict while the job has not ended that way)."""
        return self._run(report(job_id))

    def receipts(
        self, *, limit: int = 100, before: int | None = None, user: str | None = None
    ) -> list[Receipt]:
        """Your delivery receipts, newest first (``before``: a receipt_id, for the next
        page; ``user``: another user's, or ``"*"`` for all, with the query_jobs right)."""
        return self._run(receipts(limit, before, user))


class AsyncReportMixin:
    """The receipt and report calls of :class:`~lanfax.client.AsyncClient`."""

    async def _run(self, op: Op[T]) -> T:  # pragma: no cover - provided by the client
        raise NotImplementedError

    async def report(self, job_id: int) -> bytes:
        return await self._run(report(job_id))

    async def receipts(
        self, *, limit: int = 100, before: int | None = None, user: str | None = None
    ) -> list[Receipt]:
        return await self._run(receipts(limit, before, user))
